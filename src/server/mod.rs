//! The hub process: its loop moves bytes between sockets and the pure [`hub::Hub`].

pub mod accounts;
pub mod console;
pub mod db;
pub mod guard;
pub mod hub;
pub mod index;
pub mod limits;
pub mod memory;
pub mod name;
pub mod persist;
pub mod random;
pub mod reports;
pub mod search;
pub mod store;
pub mod storeconn;
pub mod storelink;
mod storeloop;
pub mod storesync;
pub mod tickets;
pub mod warnings;

use crate::net::conn::{Conn, FlushStatus, QueueFull, ReadStatus, Tally};
use crate::net::peraddr::PerAddress;
use crate::net::stdin::StdinLines;
use crate::net::timers::{min_timeout, Timers};
use crate::net::{conn_key, tokens};
use crate::output::{Event, Output};
use crate::proto::frame::FrameError;
use crate::proto::message::{ClientMsg, HubMsg};
use crate::proto::status::Status;
use hub::{Action, ConnId, Hub, HubConfig, Request};
use log::{debug, error, info, warn};
use memory::{Spare, TrimClock};
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use persist::sqlite::Sqlite;
use persist::{Backend, JobId};
use signal_hook_mio::v1_0::Signals;
use slab::Slab;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use store::disk::StoreDisk;
use storeconn::{StoreConn, StoreConnConfig};

/// Everything `peerhub server` is started with.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub data: PathBuf,
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
}

/// A slot of the connection table: a hub connection, or a store connection it became.
enum Slot {
    Hub(Conn),
    Store(Box<StoreConn<TcpStream>>),
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
pub fn run(config: ServerConfig) -> io::Result<i32> {
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
    let path = config.data.join("peerhub.db");
    let db = db::Db::open(&path).map_err(|e| io::Error::other(format!("database: {e}")))?;
    let mut backend = Sqlite::backend(db);
    let snapshot = backend
        .load()
        .map_err(|e| io::Error::other(format!("publish index: {e}")))?;
    let mut disk = StoreDisk::open(&config.data)?;
    let live = snapshot.store.iter().map(|e| e.version.clone()).collect();
    let swept = disk.sweep(&live)?;
    if swept > 0 {
        info!("store: removed {swept} unfinished or replaced version(s)");
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
    );
    let mut server = Server::new(config, hub, Box::new(backend), disk)?;
    server.run()
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
    exit: bool,
}

impl Server {
    fn new(
        config: ServerConfig,
        hub: Hub,
        backend: Box<dyn Backend>,
        disk: StoreDisk,
    ) -> io::Result<Server> {
        let poll = Poll::new()?;
        let mut listener = TcpListener::bind(config.listen)
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
        output.event(
            &Event::new("listening", format!("peerhub hub listening on {addr}"))
                .field("addr", addr.to_string()),
        );
        Ok(Server {
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
            config,
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
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            let now = Instant::now();
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
        let wake = [self.accept_paused, self.trim.wake_at()];
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

    fn accept(&mut self, now: Instant) {
        if self.accept_paused.is_some() {
            return;
        }
        loop {
            let (mut stream, addr) = match self.listener.accept() {
                Ok(pair) => pair,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if memory::out_of_descriptors(&e) => return self.out_of_descriptors(now),
                Err(e) => {
                    // The listener stays; try again on the next edge.
                    error!("accept failed: {e}");
                    return;
                }
            };
            let key = self.conns.vacant_key();
            let refusal = if self.hub.is_shutting_down() {
                Some("the hub is shutting down")
            } else if self
                .conns
                .len()
                .saturating_sub(self.hub.store_connections())
                >= self.config.max_clients
            {
                // Store connections have their own limit (`--max-store-conns`).
                Some("the hub is full")
            } else if !self.per_address.admit(key, addr.ip()) {
                Some("too many connections from your address")
            } else {
                None
            };
            if let Some(reason) = refusal {
                self.hub.warn(
                    "refused connection",
                    format_args!("refusing {addr}: {reason}"),
                );
                refuse(&mut stream, reason);
                continue;
            }
            // The hub's own address as this client reached it (see `Hub::on_connect`).
            let local = match stream.local_addr() {
                Ok(local) => local,
                Err(e) => {
                    warn!("local address of {addr}: {e}");
                    self.per_address.release(key);
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            if let Err(e) =
                self.poll
                    .registry()
                    .register(&mut stream, Token(key), Interest::READABLE)
            {
                warn!("register {addr}: {e}");
                self.per_address.release(key);
                continue;
            }
            let mut conn = Conn::new(stream, PRE_LOGIN_FRAME, self.config.max_output);
            conn.trust_short_reads();
            conn.count_in(&self.queued_total);
            self.conns.insert(Slot::Hub(conn));
            self.hub
                .on_connect(key, addr, local, now, &mut self.actions);
        }
    }

    /// The open-file limit was hit: with the spare descriptor let go, take one waiting
    /// connection, tell it 503 and close it; then pause accepting for a moment (the
    /// rest of the backlog is taken when the pause ends, each told the same while
    /// descriptors stay short).
    fn out_of_descriptors(&mut self, now: Instant) {
        self.hub.warn(
            "out of descriptors",
            format_args!("out of file descriptors: refusing new connections for a moment"),
        );
        if self.spare.release() {
            if let Ok((mut stream, addr)) = self.listener.accept() {
                self.hub.warn(
                    "refused connection",
                    format_args!("refusing {addr}: the hub is out of file descriptors"),
                );
                refuse(&mut stream, "the hub is out of file descriptors");
            }
            self.spare.restore();
        }
        self.accept_paused = Some(now + ACCEPT_PAUSE);
    }

    fn console(&mut self, now: Instant) {
        let Some(stdin) = self.stdin.as_mut() else {
            return;
        };
        let mut lines = Vec::new();
        if let Err(e) = stdin.read_lines(&mut lines) {
            warn!("console input: {e}");
        }
        if stdin.at_eof() {
            debug!("console input ended; the hub keeps running");
            let text = format!(
                "console closed (end of input); the hub keeps running: stop it with Ctrl-C or kill -TERM {}",
                std::process::id()
            );
            self.actions.push(Action::Event(
                Event::new("console_closed", text.clone())
                    .field("message", text)
                    .field("pid", std::process::id()),
            ));
            if let Some(mut stdin) = self.stdin.take() {
                if !stdin.always_ready() {
                    let _ = self
                        .poll
                        .registry()
                        .deregister(&mut mio::unix::SourceFd(&0));
                }
                stdin.read_lines(&mut lines).ok();
            }
        }
        self.hub.note_queued_output(self.queued_total.get());
        for line in lines {
            self.console_lines += 1;
            self.hub
                .on_console(self.console_lines, &line, now, &mut self.actions);
        }
    }

    fn signal(&mut self) {
        for sig in self.signals.pending() {
            info!("signal {sig}: shutting down");
            if !self.hub.is_shutting_down() {
                // What the console's `shutdown` prints.
                self.actions.push(Action::Event(
                    Event::new("shutdown", "shutting down")
                        .field("message", "shutting down")
                        .field("signal", sig),
                ));
            }
            self.hub.shutdown(&mut self.actions);
        }
    }

    fn read(&mut self, key: ConnId, now: Instant) {
        if self.closing.iter().any(|(k, _)| *k == key)
            || self.draining.iter().any(|(k, _)| *k == key)
        {
            return;
        }
        if matches!(self.conns.get(key), Some(Slot::Hub(_))) && self.hub.knows(key) {
            // What waits from earlier turns goes first; while some still waits, its
            // further bytes stay in the socket and the ready list brings it back.
            self.hub.resume(key, now, &mut self.actions);
            if self.hub.room(key) == 0 {
                self.ready.push(key);
                return;
            }
        }
        let room = self.hub.room(key);
        let conn = match self.conns.get_mut(key) {
            // A connection the hub handed over waits, unread, for its upgrade.
            Some(Slot::Hub(conn)) if self.hub.knows(key) => conn,
            Some(Slot::Store(_)) => return self.store_turn(key, now),
            _ => return,
        };
        let mut msgs = std::mem::take(&mut self.inbox);
        // Before its login, read one small frame at a time: a store connection's next
        // bytes are not hub requests and go to it whole, and a login decides how big
        // the next frame may be.
        let pre_login = !self.hub.logged_in(key);
        let (max_frames, read_size) = if pre_login {
            conn.set_max_frame(PRE_LOGIN_FRAME.min(self.config.max_frame));
            (1, PRE_LOGIN_FRAME)
        } else {
            conn.set_max_frame(self.config.max_frame);
            (room, SCRATCH_BYTES)
        };
        let status = conn.read_frames_upto(
            &mut self.scratch[..read_size],
            READS_PER_TURN,
            max_frames,
            &mut msgs,
            decode_request,
        );
        for req in msgs.drain(..) {
            self.hub.on_request(key, req, now, &mut self.actions);
        }
        self.inbox = msgs;
        if self.actions.len() >= APPLY_EVERY {
            // Replies wait as actions until queued: queue them now, under the output
            // budget, rather than hold a whole turn's replies to everyone in memory.
            self.apply_actions(now);
        }
        match status {
            ReadStatus::Drained if self.hub.room(key) == 0 => self.ready.push(key),
            ReadStatus::Drained => {}
            ReadStatus::Budget => self.ready.push(key),
            ReadStatus::Closed => self.closing.push((key, "connection closed".into())),
            ReadStatus::Failed(e) => self.closing.push((key, format!("read error: {e}"))),
            ReadStatus::BadFrame(e) => {
                let status = match e {
                    FrameError::TooLarge { .. } => Status::TOO_LARGE,
                    FrameError::Empty => Status::BAD_REQUEST,
                };
                self.hub
                    .on_bad_frame(key, status, &e.to_string(), &mut self.actions)
            }
        }
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
            Action::Result(result) => self.output.result(&result),
            Action::Event(event) => self.output.event(&event),
            Action::Exit => self.exit = true,
            Action::Upgrade(key) => self.upgrade(key),
            Action::Store(key, order) => self.store_order(key, order),
            Action::RemoveVersion(version) => self.disk.remove_version(&version),
            Action::Persist(id, ask) => self.persist(id, ask, now),
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

    /// Queue output for a connection. A full queue is written out first: only a reader
    /// whose queue is still full after that is a slow consumer.
    fn queue(
        &mut self,
        key: ConnId,
        len: usize,
        push: impl FnOnce(&mut Conn) -> Result<(), QueueFull>,
    ) {
        let Some(Slot::Hub(conn)) = self.conns.get_mut(key) else {
            return;
        };
        if !conn.has_room(len) {
            // A write error shows up at the next flush; here only room matters.
            let _ = conn.flush();
        }
        let limit = self.config.max_output_total;
        if limit > 0 && self.queued_total.get() + len > limit {
            self.make_room(len);
        }
        let Some(Slot::Hub(conn)) = self.conns.get_mut(key) else {
            return;
        };
        match push(conn) {
            Ok(()) => self.dirty.push(key),
            Err(full) => self.overflow(key, full.limit),
        }
    }

    /// `len` more bytes would take all queues together past `--max-output-total`:
    /// drop the biggest queues (and their connections) until they fit.
    fn make_room(&mut self, len: usize) {
        let limit = self.config.max_output_total;
        let total = self.queued_total.get() + len;
        let queues = self
            .conns
            .iter()
            .filter_map(|(key, slot)| match slot {
                Slot::Hub(c) => Some((key, c.held())),
                _ => None,
            })
            .collect();
        for (key, bytes) in memory::victims(queues, total, limit) {
            self.hub.warn(
                "output budget",
                format_args!(
                    "connection {key}: dropping its {bytes} queued bytes (the biggest queue) \
                     as all queues together would pass --max-output-total {limit}"
                ),
            );
            if let Some(Slot::Hub(conn)) = self.conns.get_mut(key) {
                conn.discard_output();
            }
            self.trim.freed(bytes);
            if !self.closing.iter().any(|(k, _)| *k == key) {
                self.closing
                    .push((key, "output over the hub-wide budget".into()));
            }
        }
    }

    fn overflow(&mut self, key: ConnId, limit: usize) {
        if !self.closing.iter().any(|(k, _)| *k == key) {
            self.hub.warn(
                "slow consumer",
                format_args!("connection {key}: output buffer over {limit} bytes (a reader that does not read); closing"),
            );
            self.closing.push((key, "slow consumer".into()));
        }
    }

    fn flush_dirty(&mut self) {
        let mut dirty = std::mem::take(&mut self.dirty);
        dirty.sort_unstable();
        dirty.dedup();
        for key in dirty {
            let conn = match self.conns.get_mut(key) {
                Some(Slot::Hub(conn)) => conn,
                Some(Slot::Store(_)) => {
                    self.ready.push(key);
                    continue;
                }
                _ => continue,
            };
            match conn.flush() {
                Ok(FlushStatus::Drained) | Ok(FlushStatus::Pending) => {
                    if let Err(e) = conn.sync_interest(self.poll.registry(), Token(key)) {
                        self.closing.push((key, format!("register: {e}")));
                    }
                }
                Err(e) => self.closing.push((key, format!("write error: {e}"))),
            }
        }
    }

    /// Close draining connections whose queue is empty or whose grace ran out.
    fn drain(&mut self, now: Instant) {
        let conns = &self.conns;
        let closing = &mut self.closing;
        self.draining.retain(|&(key, deadline)| {
            let flushed = match conns.get(key) {
                Some(Slot::Hub(c)) => c.queued() == 0,
                _ => true,
            };
            if flushed || now >= deadline {
                closing.push((key, "closed by the hub".into()));
                false
            } else {
                true
            }
        });
    }

    /// Remove connections marked for closing, after a last best-effort flush.
    fn reap(&mut self) {
        // In the order they were marked (the hub's leave notices follow it).
        let mut marked = std::mem::take(&mut self.closing).into_iter();
        while let Some((key, reason)) = marked.next().or_else(|| self.closing.pop()) {
            let mut conn = match self.conns.try_remove(key) {
                Some(Slot::Hub(conn)) => conn,
                Some(Slot::Store(sc)) => {
                    self.close_store_conn(key, *sc, reason);
                    continue;
                }
                _ => continue,
            };
            let _ = conn.flush();
            let _ = self.poll.registry().deregister(conn.stream_mut());
            self.per_address.release(key);
            self.trim.freed(conn.held() + memory::CONN_OVERHEAD);
            debug!("closed connection {key}: {reason}");
            self.hub
                .on_disconnect(key, &reason, Instant::now(), &mut self.actions);
            self.ready.retain(|k| *k != key);
            self.dirty.retain(|k| *k != key);
            self.draining.retain(|(k, _)| *k != key);
        }
    }
}

/// Tell a connection that is not taken why (503), best effort on a fresh socket whose
/// buffer is empty; dropping the stream then closes it.
fn refuse(stream: &mut mio::net::TcpStream, reason: &str) {
    let bye = HubMsg::Bye {
        status: Status::UNAVAILABLE,
        reason: reason.into(),
    }
    .to_frame();
    let _ = io::Write::write(stream, &bye);
}

/// Decode a request; on failure keep the tag (bytes 1..5) so the reply can name it.
fn decode_request(payload: &[u8]) -> Request {
    match ClientMsg::decode(payload) {
        Ok(msg) => Request::Msg(msg),
        Err(e) => Request::Bad {
            tag: payload
                .get(1..5)
                .and_then(|b| b.try_into().ok())
                .map(u32::from_be_bytes),
            why: e.to_string(),
        },
    }
}
