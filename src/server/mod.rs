//! The hub process: its loop moves bytes between sockets and the pure [`hub::Hub`].

mod accept;
pub mod accounts;
pub mod console;
pub mod db;
pub mod guard;
pub mod hub;
pub mod index;
pub mod inline_name;
mod inputs;
pub mod limits;
pub mod memory;
mod metrics;
mod outgoing;
pub mod persist;
pub mod random;
mod reading;
mod refusal;
pub mod reports;
pub mod resume;
pub mod search;
pub mod store;
pub mod storeconn;
pub mod storelink;
mod storeloop;
pub mod storesync;
pub mod tickets;
pub mod warnings;
mod web;

use crate::net::conn::{Conn, Tally};
use crate::net::peraddr::PerAddress;
use crate::net::stdin::StdinLines;
use crate::net::timers::{min_timeout, Timers};
use crate::net::wire::Wire;
use crate::net::{conn_key, tokens};
use crate::output::{Event, Output};
use crate::trust::{Fingerprint, HubSigner, Identity, ResumeSecret};
use hub::{Action, ConnId, Hub, HubConfig, Request};
use log::{debug, info, warn};
use memory::{Spare, TrimClock};
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll};
use persist::sqlite::Sqlite;
use persist::{Backend, JobId};
use signal_hook_mio::v1_0::Signals;
use slab::Slab;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use store::disk::StoreDisk;
use storeconn::{StoreConn, StoreConnConfig};

/// Everything `peerhub server` is started with.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    /// Connections the kernel queues for accepting (capped at `somaxconn`).
    pub listen_backlog: u32,
    pub data: PathBuf,
    /// Where the hub's key and certificate are (`None`: in `data`).
    pub identity: Option<PathBuf>,
    /// Plaintext instead of TLS on every connection (`--insecure-plaintext`).
    pub insecure_plaintext: bool,
    pub json: bool,
    pub max_clients: usize,
    pub max_frame: usize,
    pub max_output: usize,
    /// Bytes queued toward all connections together (0: no limit).
    pub max_output_total: usize,
    /// Connections from one address (0: no limit).
    pub max_per_address: usize,
    pub hub: HubConfig,
    /// Per-file and per-user limits of the store.
    pub store: store::StoreLimits,
    /// A store transfer that moves nothing for this long is closed (an upload aborted).
    pub store_stall: Duration,
    /// The operator's web interface (`--web`), if any.
    pub web: Option<crate::web::WebListen>,
}

/// A hub connection: TLS over its socket, or the bare socket (`--insecure-plaintext`).
type HubConn = Conn<Wire<TcpStream>>;

/// A slot of the connection table: a hub connection, or a store connection it became.
enum Slot {
    Hub(HubConn),
    Store(Box<StoreConn<Wire<TcpStream>>>),
    /// A connection refused over TLS, kept for its handshake and 503 (`refusal.rs`).
    Refused(HubConn),
    /// Only while a connection changes kind.
    Moving,
}

/// Capacity of the action buffer kept from turn to turn.
const KEPT_ACTIONS: usize = 1024;
/// How long a connection the hub closed may take to receive its last bytes.
const DRAIN_GRACE: Duration = Duration::from_secs(2);
/// Reads per connection per wake-up before others get their turn.
const READS_PER_TURN: usize = 4;
/// The loop's shared read buffer.
const SCRATCH_BYTES: usize = 64 * 1024;
/// Largest frame, and largest read, of a connection that has not logged in: a hello,
/// a registration or a login fits with room to spare, so an anonymous connection
/// holding an unfinished frame holds a few KiB, not a full frame.
const PRE_LOGIN_FRAME: usize = 4 * 1024;
/// Actions (each at most a frame) held before they are queued, within one turn.
const APPLY_EVERY: usize = 256;
/// How long accepting pauses after the open-file limit was hit.
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);
/// The receive buffer all store uploads share (few syscalls, still cache-warm when hashed).
const STORE_BUF: usize = 1024 * 1024;
/// Bytes one store connection moves per loop turn, so chat and the console stay live.
const STORE_SLICE: usize = 4 * 1024 * 1024;
/// Entries of removed store versions deleted per loop turn (files and directories).
const REMOVALS_PER_TURN: usize = 256;

/// Run the hub until `shutdown` or a signal. Returns the exit code.
pub fn run(mut config: ServerConfig) -> io::Result<i32> {
    match crate::sys::raise_nofile_limit() {
        Ok(limit) => debug!("open-file limit {limit}"),
        Err(e) => warn!("could not raise the open-file limit: {e}"),
    }
    if config.data.exists() && !config.data.is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::NotADirectory,
            format!("--data {}: not a directory", config.data.display()),
        ));
    }
    std::fs::create_dir_all(&config.data)
        .map_err(|e| io::Error::new(e.kind(), format!("--data {}: {e}", config.data.display())))?;
    let identity_dir = config.identity.as_deref().unwrap_or(&config.data);
    let identity = Identity::load_or_create_hub(identity_dir)
        .map_err(|e| io::Error::other(format!("hub identity: {e}")))?;
    config.hub.fingerprint = Some(identity.fingerprint());
    config.hub.resume_secret = ResumeSecret::load_or_create(&config.data)
        .map_err(|e| io::Error::other(format!("resume secret: {e}")))?;
    let tls = if config.insecure_plaintext {
        warn!(
            "--insecure-plaintext: TLS is off; passwords, chat and files cross the network \
             in the clear, readable and changeable by anyone on the path"
        );
        None
    } else {
        let tls = crate::trust::hub_server_config(&identity)
            .map_err(|e| io::Error::other(format!("TLS: {e}")))?;
        Some(tls)
    };
    let signer = HubSigner::new(&identity).map_err(io::Error::other)?;
    let path = config.data.join("peerhub.db");
    let db = db::Db::open(&path).map_err(|e| io::Error::other(format!("database: {e}")))?;
    let mut backend = Sqlite::backend(db);
    let snapshot = backend
        .load()
        .map_err(|e| io::Error::other(format!("loading the database: {e}")))?;
    let mut disk = StoreDisk::open(&config.data)?;
    let live = snapshot.store.iter().map(|e| e.version.clone()).collect();
    let swept = disk.sweep(&live)?;
    if swept > 0 {
        info!("store: removing {swept} unfinished or replaced version(s), a slice per turn");
    }
    let store = hub::StoreSide {
        limits: config.store,
        free_space: Box::new(disk.space()),
    };
    let hub = Hub::new(
        Instant::now(),
        config.hub.clone(),
        snapshot,
        store,
        Box::new(random::OsRandom),
        Box::new(signer),
    );
    let mut server = Server::new(config, tls, hub, Box::new(backend), disk, &identity)?;
    server.run()
}

/// The first event: where the hub listens and the fingerprint of its key, on a line of
/// its own for a person.
fn listening(addr: SocketAddr, fingerprint: Option<Fingerprint>) -> Event {
    let event = Event::new("listening", format!("peerhub hub listening on {addr}"))
        .field("addr", addr.to_string());
    match fingerprint {
        Some(fingerprint) => Event {
            human: format!("{}\nhub key: {fingerprint}", event.human),
            ..event.field("fingerprint", fingerprint.to_string())
        },
        None => event,
    }
}

/// Seconds since the Unix epoch by the system clock (0 before it): the wall clock the
/// loop gives the hub each turn.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

struct Server {
    config: ServerConfig,
    /// What every accepted connection speaks: TLS with the hub's identity, or (`None`,
    /// `--insecure-plaintext`) plaintext.
    tls: Option<Arc<rustls::ServerConfig>>,
    poll: Poll,
    listener: TcpListener,
    conns: Slab<Slot>,
    hub: Hub,
    /// Where the hub's asks go (see [`persist`]).
    backend: Box<dyn Backend>,
    timers: Timers<(ConnId, u64)>,
    stdin: Option<StdinLines>,
    console_lines: u64,
    signals: Signals,
    output: Output,
    actions: Vec<Action>,
    /// Decoded requests of one read burst (kept to reuse its allocation).
    inbox: Vec<Request>,
    dirty: Vec<ConnId>,
    closing: Vec<(ConnId, String)>,
    /// Connections the hub closed, kept until their last bytes (a Bye) are written or a
    /// short deadline passes; nothing more is read from them.
    draining: Vec<(ConnId, Instant)>,
    ready: Vec<ConnId>,
    scratch: Vec<u8>,
    store_buf: Vec<u8>,
    store_config: StoreConnConfig,
    /// The store's directory: where store connections open and make versions, and
    /// where removed versions are deleted a slice per turn.
    disk: StoreDisk,
    /// When the store connections are next checked for stalls, if any is open.
    store_sweep: Option<Instant>,
    /// Heap bytes the write queues of every hub connection hold together.
    queued_total: Tally,
    per_address: PerAddress<ConnId>,
    trim: TrimClock,
    spare: Spare,
    /// Accepting waits until then after the open-file limit was hit.
    accept_paused: Option<Instant>,
    /// Refused TLS connections and the end of their grace (`refusal.rs`).
    refusing: Vec<(ConnId, Instant)>,
    exit: bool,
    /// The operator's web interface (`--web`).
    web: Option<crate::web::Web>,
    /// Busy turns' durations and the bytes moved, for `GET /metrics`.
    metrics: metrics::LoopMetrics,
}

impl Server {
    fn new(
        config: ServerConfig,
        tls: Option<Arc<rustls::ServerConfig>>,
        hub: Hub,
        backend: Box<dyn Backend>,
        disk: StoreDisk,
        identity: &Identity,
    ) -> io::Result<Server> {
        let poll = Poll::new()?;
        let mut listener = crate::sys::bind_tcp_listener(config.listen, config.listen_backlog)
            .map_err(|e| io::Error::new(e.kind(), format!("--listen {}: {e}", config.listen)))?;
        poll.registry()
            .register(&mut listener, tokens::LISTENER, Interest::READABLE)?;
        let stdin = match StdinLines::register(poll.registry(), tokens::STDIN) {
            Ok(s) => Some(s),
            Err(e) => {
                warn!("console unavailable: {e}");
                None
            }
        };
        let mut signals =
            Signals::new([signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM])?;
        poll.registry()
            .register(&mut signals, tokens::SIGNALS, Interest::READABLE)?;
        let mut output = Output::new(config.json);
        let addr = listener.local_addr()?;
        info!("listening on {addr}, data in {}", config.data.display());
        output.event(&listening(addr, config.hub.fingerprint));
        let mut web = match &config.web {
            Some(listen) => Some(crate::web::Web::open(
                listen,
                poll.registry(),
                crate::web::page::HUB,
                identity,
            )?),
            None => None,
        };
        if let Some(w) = &mut web {
            w.serve_metrics();
            if let Some(warning) = w.exposure_warning() {
                warn!("{warning}");
            }
            output.event(&w.announcement());
        }
        Ok(Server {
            web,
            metrics: metrics::LoopMetrics::new(),
            hub,
            backend,
            disk,
            store_config: StoreConnConfig {
                slice: STORE_SLICE,
                stall: config.store_stall.max(Duration::from_millis(100)),
                begin_timeout: config.hub.hello_timeout,
            },
            store_buf: vec![0; STORE_BUF],
            store_sweep: None,
            queued_total: Tally::default(),
            per_address: PerAddress::new(config.max_per_address),
            trim: TrimClock::new(Instant::now()),
            spare: Spare::open()?,
            accept_paused: None,
            refusing: Vec::new(),
            config,
            tls,
            poll,
            listener,
            conns: Slab::new(),
            timers: Timers::default(),
            stdin,
            console_lines: 0,
            signals,
            output,
            actions: Vec::new(),
            inbox: Vec::new(),
            dirty: Vec::new(),
            closing: Vec::new(),
            draining: Vec::new(),
            ready: Vec::new(),
            scratch: vec![0; SCRATCH_BYTES],
            exit: false,
        })
    }

    fn run(&mut self) -> io::Result<i32> {
        let mut events = Events::with_capacity(1024);
        loop {
            let timeout = self.poll_timeout(Instant::now());
            if !crate::net::poll_events(&mut self.poll, &mut events, timeout)? {
                continue;
            }
            let now = Instant::now();
            let busy = !events.is_empty() || !self.ready.is_empty();
            self.hub.begin_turn(now, unix_now());
            if self.accept_paused.is_some_and(|at| at <= now) {
                // The listener is edge-triggered: what waited in the backlog is taken now.
                self.accept_paused = None;
                self.accept(now);
            }
            for event in events.iter() {
                self.on_event(event, now);
            }
            let mut ready = std::mem::take(&mut self.ready);
            ready.sort_unstable();
            ready.dedup();
            for key in ready {
                self.read(key, now);
            }
            if self.stdin.as_ref().is_some_and(StdinLines::always_ready) {
                self.console(now);
            }
            for (conn, serial) in self.timers.expired(now) {
                self.hub.on_timer(conn, serial, now, &mut self.actions);
            }
            if self.store_sweep.is_some_and(|at| at <= now) {
                self.sweep_store(now);
            }
            self.web_turn(now);
            self.sweep_refused(now);
            // Answers a slower backend finished since the last turn.
            self.take_answers(now);
            self.hub.end_turn(now, &mut self.actions);
            // Closing one connection makes the hub tell the others: settle until quiet,
            // so nothing waits for the next wake-up.
            loop {
                self.apply_actions(now);
                self.flush_dirty();
                self.drain(now);
                self.reap();
                if self.actions.is_empty() {
                    break;
                }
            }
            self.disk.remove_slice(REMOVALS_PER_TURN);
            if self.trim.due(now) {
                crate::sys::give_back_memory();
            }
            if self.exit {
                self.close_store_conns();
                self.reap();
            }
            if busy {
                self.metrics.turns.record(now.elapsed());
            }
            if self.exit && self.conns.is_empty() {
                self.disk.remove_all();
                info!("bye");
                return Ok(0);
            }
        }
    }

    /// One readiness event: the listener, the console, a signal or a connection.
    fn on_event(&mut self, event: &mio::event::Event, now: Instant) {
        match event.token() {
            tokens::LISTENER => self.accept(now),
            tokens::STDIN => self.console(now),
            tokens::SIGNALS => self.signal(),
            token if self.web_owns(token) => self.web_event(token, now),
            token => {
                if let Some(key) = conn_key(token) {
                    if event.is_read_closed() || event.is_error() {
                        if let Some(Slot::Hub(conn)) = self.conns.get_mut(key) {
                            conn.expect_eof();
                        }
                    }
                    if event.is_readable() || event.is_read_closed() || event.is_error() {
                        self.read(key, now);
                    }
                    if event.is_writable() {
                        if matches!(self.conns.get(key), Some(Slot::Store(_))) {
                            self.store_turn(key, now);
                        } else {
                            self.dirty.push(key);
                        }
                    }
                }
            }
        }
    }

    /// How long the poll may sleep: until the nearest deadline of any kind, or not at
    /// all while work is ready.
    fn poll_timeout(&self, now: Instant) -> Option<Duration> {
        let mut timeout = self.timers.timeout(now);
        let busy = !self.ready.is_empty()
            || self.disk.removing()
            || self.stdin.as_ref().is_some_and(StdinLines::always_ready);
        if busy {
            timeout = min_timeout(timeout, Some(Duration::ZERO));
        }
        let drain_deadline = self
            .draining
            .iter()
            .map(|(_, at)| at.saturating_duration_since(now))
            .min();
        timeout = min_timeout(timeout, drain_deadline);
        let sweep = self.store_sweep.map(|at| at.saturating_duration_since(now));
        timeout = min_timeout(timeout, sweep);
        let wake = [
            self.accept_paused,
            self.trim.wake_at(),
            self.refused_deadline(),
            self.web_wake(now),
        ];
        for at in wake.into_iter().flatten() {
            timeout = min_timeout(timeout, Some(at.saturating_duration_since(now)));
        }
        let joins = self
            .hub
            .joins_due()
            .map(|at| at.saturating_duration_since(now));
        timeout = min_timeout(timeout, joins);
        timeout
    }

    fn apply_actions(&mut self, now: Instant) {
        while !self.actions.is_empty() {
            let mut batch = std::mem::take(&mut self.actions);
            for action in batch.drain(..) {
                self.apply(action, now);
            }
            // Reuse the batch's allocation when nothing new was queued meanwhile, unless
            // a burst (a login fanned out to everyone) made it big: that goes back.
            if self.actions.is_empty() && batch.capacity() <= KEPT_ACTIONS {
                self.actions = batch;
            }
            // Closing a connection makes the hub tell the others: loop until quiet.
            self.reap();
        }
    }

    fn apply(&mut self, action: Action, now: Instant) {
        match action {
            Action::Send(key, frame) => {
                self.queue(key, frame.len(), |conn| conn.queue_owned(frame));
            }
            Action::Share(key, frame) => {
                self.queue(key, frame.len(), |conn| conn.queue_shared(&frame));
            }
            Action::Close(key) => {
                if !self.draining.iter().any(|(k, _)| *k == key) {
                    self.draining.push((key, now + DRAIN_GRACE));
                }
            }
            Action::Arm(at, key, serial) => self.timers.arm(at, (key, serial)),
            Action::Result(result) => self.emit_result(&result),
            Action::Event(event) => self.emit_event(&event),
            Action::Exit => self.exit = true,
            Action::Upgrade(key) => self.upgrade(key),
            Action::Store(key, order) => self.store_order(key, *order),
            Action::RemoveVersion(version) => self.disk.remove_version(&version),
            Action::Persist(id, ask) => self.persist(id, *ask, now),
        }
    }

    /// Hand an ask to the backend; what its answers make the hub do is carried out
    /// at once, before the actions that followed the ask (a backend that answers at
    /// once keeps the order the hub had when it wrote to the database itself).
    fn persist(&mut self, id: JobId, ask: persist::Ask, now: Instant) {
        self.backend.submit(id, ask);
        self.take_answers(now);
    }

    /// Give the backend's finished answers to the hub and carry out what they produce.
    fn take_answers(&mut self, now: Instant) {
        while let Some((id, answer)) = self.backend.take_done() {
            let mut then = Vec::new();
            self.hub.on_answer(id, answer, now, &mut then);
            for action in then {
                self.apply(action, now);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listening_names_the_hub_key_on_a_line_of_its_own_and_as_a_field() {
        let addr: SocketAddr = "127.0.0.1:9999".parse().unwrap();
        let fingerprint: Fingerprint = format!("sha256:{}", "0f".repeat(32)).parse().unwrap();
        let event = listening(addr, Some(fingerprint));
        let want = format!("peerhub hub listening on {addr}\nhub key: {fingerprint}");
        assert_eq!(event.human, want);
        assert_eq!(event.fields["addr"], "127.0.0.1:9999");
        assert_eq!(event.fields["fingerprint"], fingerprint.to_string());
        let keyless = listening(addr, None);
        assert_eq!(keyless.human, "peerhub hub listening on 127.0.0.1:9999");
        assert!(!keyless.fields.contains_key("fingerprint"));
    }
}
