//! The peer's web interface (`--web`): the page's WebSocket commands run in the
//! session like typed lines, under ids of their own, and their results go back to
//! the page that sent them with that page's numbering; events go to every page and
//! to stdout.

use super::Client;
use crate::net::tokens;
use crate::output::{event_json, result_json, CommandResult, Event};
use crate::web::access::{Access, AccessToken};
use crate::web::{page, Web, WebInput};
use mio::Poll;
use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::time::Instant;

/// Session ids of page commands start here, far above any stdin line number.
const FIRST_WEB_ID: u64 = 1 << 48;
/// Token of the first web connection.
const FIRST_WEB_TOKEN: usize = 1 << 40;

/// Where `--web` serves, and the further `Host` names it accepts.
#[derive(Debug, Clone)]
pub struct WebListen {
    pub addr: SocketAddr,
    pub hosts: Vec<String>,
}

/// The interface and where each page command's result goes.
pub(super) struct PeerWeb {
    web: Web,
    /// Session id → (connection, the page's own id) of commands still running.
    routes: HashMap<u64, (usize, u64)>,
    next_id: u64,
}

impl PeerWeb {
    /// Bind and serve the peer's page; the URL comes with it.
    pub(super) fn open(listen: &WebListen, poll: &Poll) -> io::Result<PeerWeb> {
        if !listen.addr.ip().is_loopback() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "--web {}: the interface serves loopback addresses only for now \
                     (off loopback it must be HTTPS, which is not built yet)",
                    listen.addr
                ),
            ));
        }
        let std_listener = std::net::TcpListener::bind(listen.addr)
            .map_err(|e| io::Error::new(e.kind(), format!("--web {}: {e}", listen.addr)))?;
        std_listener.set_nonblocking(true)?;
        let bound = std_listener.local_addr()?;
        let mut random = [0u8; 16];
        rand_core::RngCore::try_fill_bytes(&mut rand_core::OsRng, &mut random)
            .map_err(|e| io::Error::other(format!("no random access token: {e}")))?;
        let access = Access {
            token: AccessToken::from_random(random),
            bound,
            https: false,
            hosts: listen.hosts.clone(),
        };
        let listener = mio::net::TcpListener::from_std(std_listener);
        let web = Web::new(
            listener,
            poll.registry(),
            tokens::WEB,
            FIRST_WEB_TOKEN,
            access,
            page::PEER,
        )?;
        Ok(PeerWeb {
            web,
            routes: HashMap::new(),
            next_id: FIRST_WEB_ID,
        })
    }

    /// The event that tells where the page is.
    pub(super) fn announcement(&self) -> Event {
        let url = self.web.url();
        Event::new("web", format!("web interface: {url}")).field("url", url)
    }
}

impl Client {
    /// Whether `token` belongs to the web interface.
    pub(super) fn web_owns(&self, token: mio::Token) -> bool {
        self.web.as_ref().is_some_and(|w| w.web.owns(token))
    }

    /// A readiness event of the web interface.
    pub(super) fn web_event(&mut self, token: mio::Token, now: Instant) {
        let mut inputs = Vec::new();
        if let Some(w) = self.web.as_mut() {
            w.web
                .on_event(self.poll.registry(), token, now, &mut inputs);
        }
        self.web_inputs(inputs, now);
    }

    /// What stopped at its budget, and heads past their deadline.
    pub(super) fn web_turn(&mut self, now: Instant) {
        let mut inputs = Vec::new();
        if let Some(w) = self.web.as_mut() {
            w.web.turn(self.poll.registry(), now, &mut inputs);
        }
        self.web_inputs(inputs, now);
    }

    /// Whether the web interface has work for the next pass at once.
    pub(super) fn web_busy(&self) -> bool {
        self.web.as_ref().is_some_and(|w| w.web.busy())
    }

    /// When the web interface must run next.
    pub(super) fn web_deadline(&self) -> Option<Instant> {
        self.web.as_ref().and_then(|w| w.web.next_deadline())
    }

    fn web_inputs(&mut self, inputs: Vec<WebInput>, now: Instant) {
        for input in inputs {
            let Some(w) = self.web.as_mut() else {
                return;
            };
            match input {
                WebInput::Command { conn, id, line } => {
                    let session_id = w.next_id;
                    w.next_id += 1;
                    w.routes.insert(session_id, (conn, id));
                    self.session
                        .on_line(session_id, &line, now, &mut self.actions);
                }
                WebInput::Gone { conn } => w.routes.retain(|_, (c, _)| *c != conn),
            }
        }
    }

    /// A command's result: to the page that sent it, else to stdout.
    pub(super) fn emit_result(&mut self, r: &CommandResult) {
        let Some(w) = self.web.as_mut() else {
            return self.output.result(r);
        };
        let Some((conn, page_id)) = w.routes.remove(&r.id) else {
            return self.output.result(r);
        };
        let mut json = result_json(r);
        json["id"] = page_id.into();
        let mut gone = Vec::new();
        w.web
            .send(self.poll.registry(), conn, &json.to_string(), &mut gone);
        self.forget(gone);
    }

    /// An event: to stdout and to every page.
    pub(super) fn emit_event(&mut self, e: &Event) {
        self.output.event(e);
        let Some(w) = self.web.as_mut() else {
            return;
        };
        let mut gone = Vec::new();
        w.web
            .broadcast(self.poll.registry(), &event_json(e).to_string(), &mut gone);
        self.forget(gone);
    }

    fn forget(&mut self, gone: Vec<WebInput>) {
        if let Some(w) = self.web.as_mut() {
            for input in gone {
                if let WebInput::Gone { conn } = input {
                    w.routes.retain(|_, (c, _)| *c != conn);
                }
            }
        }
    }
}
