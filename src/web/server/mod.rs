//! [`Web`]: the listener and connections of a web interface, moved by the loop that
//! owns it. A connection reads one request head (within its [`WebLimits`]), which
//! [`Access`] judges; then it is answered and closed, serves the peer's share
//! (`share_io.rs`), or becomes a WebSocket (`socket.rs`) whose text messages are
//! command lines ([`WebCommand`]s, each under an id of its own, which
//! this remembers with the page's own number for it) and to which results and events
//! go as JSON lines. A WebSocket that stops reading is dropped once its limit of
//! bytes wait for it; each connection reads at most
//! [`MESSAGES_PER_TURN`] messages per turn and comes back on the next.

mod answer;
mod listen;
mod metrics_io;
mod share_io;
mod socket;

pub use listen::{WebLimits, WebListen, HEAD_DEADLINE, MAX_MESSAGE, MAX_QUEUED, WEB_MAX_CONNS};
pub use metrics_io::{Delivered, MetricsWait};
pub use socket::socket_config;

use super::access::{Access, AccessToken, Pass};
use super::http::{self, Head, Parsed, MAX_HEAD};
use super::page::Page;
use super::response::Response;
use crate::net::tls::TlsStream;
use crate::net::tokens;
use crate::net::wire::Wire;
use crate::output::{event_json, result_json, CommandResult, Event};
use crate::trust::{Fingerprint, Identity};
use log::debug;
use mio::net::{TcpListener, TcpStream};
use mio::{Interest, Registry, Token};
use slab::Slab;
use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::sync::Arc;
use std::time::Instant;
use tungstenite::protocol::WebSocketContext;

/// Messages one WebSocket may have read per turn of the loop.
pub const MESSAGES_PER_TURN: usize = 32;

/// Ids of page commands start here, far above any console or stdin line number.
pub const FIRST_COMMAND_ID: u64 = 1 << 48;
/// Token of the first web connection.
const FIRST_TOKEN: usize = 1 << 40;

/// A command line a page sent, to run under `id` (a result with that id goes back to
/// the page, with the page's own number for it).
#[derive(Debug, PartialEq, Eq)]
pub struct WebCommand {
    pub id: u64,
    pub line: String,
}

enum State {
    /// Reading the request head.
    Head { buf: Vec<u8>, deadline: Instant },
    /// A `GET /metrics` waiting for the result of its `stats` (`metrics_io.rs`).
    Asked { deadline: Instant },
    /// Writing an answer, then closing.
    Answer { out: Vec<u8>, sent: usize },
    /// A WebSocket; `commands` counts the command lines it sent.
    Socket {
        ws: Box<WebSocketContext>,
        commands: u64,
    },
    /// Taking a `PUT /share/<name>` body (`share_io.rs`).
    Upload(Box<super::share::Upload>),
    /// Sending a file of the share (`share_io.rs`).
    Download(Box<share_io::Sending>),
}

/// What a request brings besides its head: the body bytes read with it, when,
/// which files the client publishes (for `GET /share`), and where a command it
/// needs run goes (`GET /metrics`).
struct Request<'a> {
    body: Vec<u8>,
    now: Instant,
    published: &'a dyn Fn(&str) -> bool,
    out: &'a mut Vec<WebCommand>,
}

/// Who waits for the result of a command run for the web interface.
#[derive(Debug, Clone, Copy)]
enum Route {
    /// A page's WebSocket, under the page's own number for the command.
    Page { conn: usize, number: u64 },
    /// A `GET /metrics` request.
    Metrics { conn: usize },
}

impl Route {
    fn conn(self) -> usize {
        match self {
            Route::Page { conn, .. } | Route::Metrics { conn } => conn,
        }
    }
}

struct WebConn {
    stream: Wire<TcpStream>,
    state: State,
}

/// A web interface's listener and connections.
pub struct Web {
    listener: TcpListener,
    listener_token: Token,
    /// Token of connection key 0; key `k` is `base + k`.
    base: usize,
    access: Access,
    page: Page,
    limits: WebLimits,
    /// TLS for every connection (HTTPS), or none (plain HTTP, loopback only).
    tls: Option<Arc<rustls::ServerConfig>>,
    /// The key of the certificate HTTPS shows (the process's own).
    fingerprint: Fingerprint,
    conns: Slab<WebConn>,
    /// Connections that stopped at their budget: run again next turn.
    ready: Vec<usize>,
    /// Command id → who waits for its result, of commands still running.
    routes: HashMap<u64, Route>,
    next_id: u64,
    /// The share dir the page may list, fill and take from (the peer's only).
    share: Option<super::share::Share>,
    /// Whether `GET /metrics` is served (the hub's only).
    metrics: bool,
}

impl Web {
    /// Serve `page` where `listen` says, its listener under `tokens::WEB`, with a fresh
    /// access token: over HTTPS with `identity`'s certificate off loopback (or when
    /// asked), else plain HTTP on loopback.
    pub fn open(
        listen: &WebListen,
        registry: &Registry,
        page: Page,
        identity: &Identity,
    ) -> io::Result<Web> {
        let bound = std::net::TcpListener::bind(listen.addr)
            .map_err(|e| io::Error::new(e.kind(), format!("--web {}: {e}", listen.addr)))?;
        bound.set_nonblocking(true)?;
        let tls = if listen.serves_https() {
            let config = crate::trust::web_server_config(identity)
                .map_err(|e| io::Error::other(format!("--web {}: TLS: {e}", listen.addr)))?;
            Some(config)
        } else {
            None
        };
        let mut random = [0u8; 16];
        rand_core::RngCore::try_fill_bytes(&mut rand_core::OsRng, &mut random)
            .map_err(|e| io::Error::other(format!("no random access token: {e}")))?;
        let access = Access {
            token: AccessToken::from_random(random),
            bound: bound.local_addr()?,
            https: tls.is_some(),
            hosts: listen.hosts.clone(),
        };
        let mut listener = TcpListener::from_std(bound);
        registry.register(&mut listener, tokens::WEB, Interest::READABLE)?;
        Ok(Web {
            listener,
            listener_token: tokens::WEB,
            base: FIRST_TOKEN,
            access,
            page,
            limits: listen.limits,
            tls,
            fingerprint: identity.fingerprint(),
            conns: Slab::new(),
            ready: Vec::new(),
            routes: HashMap::new(),
            next_id: FIRST_COMMAND_ID,
            share: None,
            metrics: false,
        })
    }

    /// Serve `share` at `/share` (the peer's page: list, upload, download).
    pub fn serve_share(&mut self, share: super::share::Share) {
        self.share = Some(share);
    }

    /// The event that tells where the page is; over HTTPS, with the key its
    /// certificate holds (a browser warns about a certificate no authority signed: the
    /// person compares this fingerprint with the one it shows).
    pub fn announcement(&self) -> Event {
        let url = self.url();
        if !self.access.https {
            return Event::new("web", format!("web interface: {url}")).field("url", url);
        }
        let key = self.fingerprint.to_string();
        let human = format!("web interface: {url} (its certificate's key: {key})");
        Event::new("web", human)
            .field("url", url)
            .field("fingerprint", key)
    }

    /// What to warn of at start, when the interface is reachable from a network.
    pub fn exposure_warning(&self) -> Option<String> {
        let addr = self.access.bound;
        (!addr.ip().is_loopback()).then(|| {
            format!(
                "--web {addr} is not a loopback address: the interface is reachable from \
                 the network (HTTPS with this process's own certificate, key {}); anyone \
                 with the printed URL's token can act as this process",
                self.fingerprint
            )
        })
    }

    /// A command's result: sent to the page whose command it ends, waited for by a
    /// `GET /metrics` (the loop renders it: [`Web::answer_metrics`]), or neither (it
    /// goes to stdout).
    pub fn result(&mut self, registry: &Registry, r: &CommandResult) -> Delivered {
        match self.routes.remove(&r.id) {
            None => Delivered::NotAPage,
            Some(Route::Metrics { conn }) => Delivered::Metrics(MetricsWait(conn)),
            Some(Route::Page { conn, number }) => {
                let mut json = result_json(r);
                json["id"] = number.into();
                self.send(registry, conn, &json.to_string());
                Delivered::ToPage
            }
        }
    }

    /// An event, to every page; but one that carries the `id` of a page's command
    /// (`progress`) goes to that page alone, under the page's own id.
    pub fn event(&mut self, registry: &Registry, e: &Event) {
        let mut json = event_json(e);
        let route = json["id"]
            .as_u64()
            .and_then(|id| self.routes.get(&id))
            .copied();
        if let Some(Route::Page { conn, number }) = route {
            json["id"] = number.into();
            self.send(registry, conn, &json.to_string());
            return;
        }
        let text = json.to_string();
        let sockets: Vec<usize> = self
            .conns
            .iter()
            .filter(|(_, c)| matches!(c.state, State::Socket { .. }))
            .map(|(k, _)| k)
            .collect();
        for conn in sockets {
            self.send(registry, conn, &text);
        }
    }

    /// The URL to print: the page, with its token.
    pub fn url(&self) -> String {
        self.access.url()
    }

    /// Whether `token` is this interface's.
    pub fn owns(&self, token: Token) -> bool {
        token == self.listener_token
            || (token.0 >= self.base && token.0 < self.base + self.limits.max_conns)
    }

    /// Whether some connection waits to run again.
    pub fn busy(&self) -> bool {
        !self.ready.is_empty()
    }

    /// The nearest head deadline.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.conns
            .iter()
            .filter_map(|(_, c)| match &c.state {
                State::Head { deadline, .. } | State::Asked { deadline } => Some(*deadline),
                State::Upload(up) => Some(up.stall_at),
                State::Download(down) => Some(down.stall_at),
                _ => None,
            })
            .min()
    }

    /// A readiness event for `token`.
    /// `published` tells `GET /share` which files this client publishes.
    pub fn on_event(
        &mut self,
        registry: &Registry,
        token: Token,
        now: Instant,
        published: &dyn Fn(&str) -> bool,
        out: &mut Vec<WebCommand>,
    ) {
        if token == self.listener_token {
            return self.accept(registry, now);
        }
        self.run(registry, token.0 - self.base, now, published, out);
    }

    /// Run what stopped at its budget, and close heads past their deadline.
    pub fn turn(
        &mut self,
        registry: &Registry,
        now: Instant,
        published: &dyn Fn(&str) -> bool,
        out: &mut Vec<WebCommand>,
    ) {
        for key in std::mem::take(&mut self.ready) {
            self.run(registry, key, now, published, out);
        }
        self.drop_stalled(registry, now);
        self.answer_late(registry, now);
    }

    fn accept(&mut self, registry: &Registry, now: Instant) {
        loop {
            let (mut stream, addr) = match self.listener.accept() {
                Ok(accepted) => accepted,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) => return debug!("web accept: {e}"),
            };
            if self.conns.len() >= self.limits.max_conns {
                debug!("web: {addr} refused, {} connections open", self.conns.len());
                continue;
            }
            let entry = self.conns.vacant_entry();
            let token = Token(self.base + entry.key());
            let interest = Interest::READABLE | Interest::WRITABLE;
            if registry.register(&mut stream, token, interest).is_err() {
                continue;
            }
            let stream = match &self.tls {
                None => Wire::Plain(stream),
                Some(config) => match TlsStream::server(config.clone(), stream) {
                    Ok(tls) => Wire::tls(tls),
                    Err(e) => {
                        debug!("web: {addr}: TLS: {e}");
                        continue;
                    }
                },
            };
            let deadline = now + self.limits.head_timeout;
            let buf = Vec::new();
            entry.insert(WebConn {
                stream,
                state: State::Head { buf, deadline },
            });
        }
    }

    fn run(
        &mut self,
        registry: &Registry,
        key: usize,
        now: Instant,
        published: &dyn Fn(&str) -> bool,
        out: &mut Vec<WebCommand>,
    ) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        match &mut conn.state {
            State::Head { .. } => self.read_head(registry, key, now, published, out),
            State::Answer { .. } => self.write_answer(registry, key),
            State::Asked { .. } => {}
            State::Socket { .. } => self.read_socket(registry, key, out),
            State::Upload(_) => self.read_upload(registry, key, now),
            State::Download(_) => self.write_download(registry, key, now),
        }
    }

    fn read_head(
        &mut self,
        registry: &Registry,
        key: usize,
        now: Instant,
        published: &dyn Fn(&str) -> bool,
        out: &mut Vec<WebCommand>,
    ) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        let State::Head { buf, .. } = &mut conn.state else {
            return;
        };
        let mut chunk = [0u8; 4096];
        loop {
            match conn.stream.read(&mut chunk) {
                Ok(0) => return self.close(registry, key),
                Ok(n) => {
                    buf.extend_from_slice(&chunk[..n]);
                    if buf.len() > MAX_HEAD {
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return self.close(registry, key),
            }
        }
        match http::parse(buf) {
            Parsed::Partial => {}
            Parsed::Bad(status, why) => self.answer(registry, key, Response::text(status, why)),
            Parsed::Done(head, len) => {
                let body = buf.split_off(len);
                self.decide(
                    registry,
                    key,
                    &head,
                    Request {
                        body,
                        now,
                        published,
                        out,
                    },
                )
            }
        }
    }

    /// A whole head: judge it, then answer it, open its WebSocket, or serve the share.
    fn decide(&mut self, registry: &Registry, key: usize, head: &Head, request: Request) {
        let pass = match self.access.check(head) {
            Ok(pass) => pass,
            Err(denied) => {
                return self.answer(registry, key, Response::text(denied.status, denied.why))
            }
        };
        if let Some(tail) = super::share::route(&head.path).filter(|_| self.share.is_some()) {
            return self.share_request(registry, key, head, tail, request);
        }
        if head.method != "GET" {
            return self.answer(
                registry,
                key,
                Response::text(405, "only GET is served here"),
            );
        }
        if head.path == "/ws" {
            return self.open_socket(registry, key, head);
        }
        if head.path == "/metrics" && self.metrics {
            return self.ask_metrics(key, request);
        }
        if pass == Pass::Query {
            // Keep the token in a cookie and take it out of the address bar.
            let to = if head.path == "/" {
                "/"
            } else {
                head.path.as_str()
            };
            let answer = Response::see_other(to).header("Set-Cookie", self.access.set_cookie());
            return self.answer(registry, key, answer);
        }
        let answer = match self.page.get(&head.path) {
            Some(asset) => Response::new(200, asset.content_type, asset.bytes),
            None => Response::text(404, "no such page"),
        };
        self.answer(registry, key, answer);
    }

    fn close(&mut self, registry: &Registry, key: usize) {
        if let Some(mut conn) = self.conns.try_remove(key) {
            let _ = conn.stream.flush();
            let _ = registry.deregister(&mut conn.stream);
            if let State::Upload(up) = conn.state {
                // Cut off before its end: nothing appears.
                up.abandon();
            }
        }
        self.ready.retain(|k| *k != key);
        // Results of its commands have nowhere to go.
        self.routes.retain(|_, route| route.conn() != key);
    }
}
