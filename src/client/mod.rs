//! The peer process: its loop moves bytes between the hub connection, the peer
//! listener, stdin and signals, and the pure [`session::Session`].

pub mod check;
pub mod command;
pub mod complete;
pub mod editor;
pub mod history;
pub mod keys;
pub mod partials;
pub mod progress;
pub mod published;
pub mod scan;
pub mod session;
pub mod store;
pub mod terminal;

use crate::proto::peer::{self, Answer};
use crate::proto::status::Status;
use crate::sys::{self, OpenFlags};
use crate::transfer::download::{Ctx, DlStep, Download, DownloadSpec, Outcome};
use crate::transfer::hash::{HashJob, HashStep, Stamp};
use crate::transfer::upload::{self, Decision, Disk, UpStep, Upload, UploadConfig};
use crate::transfer::{transfers_result, Row};
use partials::Partials;
use published::PublishedList;
use scan::Prepared;
use session::Hashed;
use slab::Slab;
use std::collections::HashMap;
use std::fs::File;
use std::io::{IsTerminal, Write};
use std::path::Path;
use store::{StoreStep, StoreTransfer, Work};
use terminal::{Input, Terminal};

use crate::net::conn::{Conn, ReadStatus};
use crate::net::peraddr::PerAddress;
use crate::net::stdin::StdinLines;
use crate::net::timers::{min_timeout, Timers};
use crate::net::tokens;
use crate::output::{Event, Output};
use crate::proto::message::HubMsg;
use log::{debug, info, warn};
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll};
use session::{Action, Session, SessionConfig};
use signal_hook_mio::v1_0::Signals;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Everything `peerhub client` is started with.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub server: String,
    pub share: PathBuf,
    pub listen: Option<SocketAddr>,
    pub json: bool,
    pub serve: bool,
    pub reconnect_for: Duration,
    /// Bytes hashed per loop turn, so hashing never starves the rest of the loop.
    pub hash_slice: usize,
    /// A transfer with no progress for this long fails (504) or is closed; a peer that
    /// connects has this long (at most 10 s) to send its handshake.
    pub stall_timeout: Duration,
    /// Bytes per second per upload (0: unlimited).
    pub upload_rate: u64,
    /// Connections per address on the peer listener (0: no limit).
    pub peer_max_per_address: usize,
    /// Uploads at once, counted once a request is valid; the next peer gets 503.
    pub max_uploads: usize,
}

/// Largest frame accepted from the hub: replies such as `users` with ten thousand
/// names outgrow the 64 KiB a hub accepts from a client.
const MAX_HUB_FRAME: usize = 1024 * 1024;
/// Most bytes queued toward the hub before the client considers the link broken.
const MAX_HUB_OUTPUT: usize = 16 * 1024 * 1024;
const SCRATCH_BYTES: usize = 64 * 1024;
const READS_PER_TURN: usize = 8;
/// Bytes of file sent per upload per loop turn.
const UPLOAD_SLICE: usize = 1024 * 1024;
/// Bytes received per download per loop turn.
const DOWNLOAD_BUDGET: usize = 4 * 1024 * 1024;
/// The receive buffer all downloads share: for handshakes, and for file bytes only where
/// the system refuses `splice` (they normally go socket → pipe → file, see `Sink`).
const DOWNLOAD_BUF: usize = 1024 * 1024;
/// Most peer connections that have not sent their request yet; the next gets 503.
const MAX_AWAITING_REQUEST: usize = 1024;
/// Longest a peer may take to send its request (a fetcher sends it at once).
const MAX_HANDSHAKE: Duration = Duration::from_secs(5);
/// Bytes a store transfer moves per loop turn.
const STORE_BUDGET: usize = 4 * 1024 * 1024;
/// Most files and directories an `upload` walks.
const MAX_UPLOAD_ITEMS: usize = 100_000;

/// Run the client until it leaves. Returns the exit code.
pub fn run(config: ClientConfig) -> io::Result<i32> {
    let share = share_dir(&config.share)?;
    let config = ClientConfig { share, ..config };
    let hub_addr = resolve(&config.server)?;
    let mut client = Client::new(config, hub_addr)?;
    client.run()
}

/// Tell a peer that is not taken why (503), best effort on a fresh socket whose buffer
/// is empty (a small frame fits); dropping the stream then closes it.
fn refuse_peer(stream: &mut TcpStream, reason: &str, me: &str) {
    let mut frame = Vec::new();
    peer::encode_answer(&Answer::refuse(Status::UNAVAILABLE, reason, me), &mut frame);
    let _ = stream.write(&frame);
}

/// The share dir, created if missing; an error names it and what is wrong.
fn share_dir(share: &Path) -> io::Result<PathBuf> {
    let named =
        |e: io::Error| io::Error::new(e.kind(), format!("--share {}: {e}", share.display()));
    if share.exists() && !share.is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::NotADirectory,
            format!("--share {}: not a directory", share.display()),
        ));
    }
    std::fs::create_dir_all(share).map_err(named)?;
    share.canonicalize().map_err(named)
}

/// The hub's address; an error names the host that could not be resolved.
fn resolve(server: &str) -> io::Result<SocketAddr> {
    let host = server
        .rsplit_once(':')
        .map_or(server, |(host, _)| host)
        .trim_start_matches('[')
        .trim_end_matches(']');
    let unknown = |why: String| {
        io::Error::new(
            io::ErrorKind::NotFound,
            format!("--server {server}: cannot resolve the host {host:?}: {why}"),
        )
    };
    server
        .to_socket_addrs()
        .map_err(|e| unknown(e.to_string()))?
        .next()
        .ok_or_else(|| unknown("no address".into()))
}

/// The local address this host uses to reach `hub` (a routing lookup; nothing is sent).
fn local_address_toward(hub: SocketAddr) -> io::Result<SocketAddr> {
    let unspecified: SocketAddr = if hub.is_ipv4() {
        "0.0.0.0:0".parse().map_err(io::Error::other)?
    } else {
        "[::]:0".parse().map_err(io::Error::other)?
    };
    let probe = UdpSocket::bind(unspecified)?;
    probe.connect(hub)?;
    let mut local = probe.local_addr()?;
    local.set_port(0);
    Ok(local)
}

/// The link to the hub, as the loop sees it.
struct HubLink {
    conn: Conn,
    connected: bool,
}

/// What a deadline is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Tick {
    /// The session armed it.
    Session,
    /// A rate-limited upload may send again.
    Transfer(usize),
    /// Check every transfer for stalls and handshake deadlines.
    Sweep,
    /// Redraw the progress bars.
    Redraw,
}

/// A connection of the peer-to-peer side. A download carries a BLAKE3 hasher (about
/// 2 KiB), so it is boxed; uploads, the many, stay inline.
#[allow(clippy::large_enum_variant)]
enum Transfer {
    Up(Upload<TcpStream>),
    Down(Box<Download<TcpStream>>),
    /// A store `upload` or `download` on its own connection to the hub.
    Store(Box<StoreTransfer<TcpStream>>),
}

/// A file being hashed for the session.
struct Hashing {
    job: u64,
    path: String,
    hasher: HashJob,
}

struct Client {
    share: PathBuf,
    share_dir: File,
    hash_slice: usize,
    hashing: Vec<Hashing>,
    hub_addr: SocketAddr,
    poll: Poll,
    hub: Option<HubLink>,
    listener: TcpListener,
    session: Session,
    stdin: Option<StdinLines>,
    lines: u64,
    signals: Signals,
    timers: Timers<Tick>,
    output: Output,
    actions: Vec<Action>,
    scratch: Vec<u8>,
    exit: Option<i32>,
    transfers: Slab<Transfer>,
    /// Transfers to run again on the next pass (budget spent, or new).
    ready: Vec<usize>,
    /// Uploads waiting for a publication to be hashed again.
    parked: Vec<usize>,
    /// Transfers to remove after the current batch of events.
    closing: Vec<usize>,
    upload_config: UploadConfig,
    stall: Duration,
    handshake: Duration,
    download_buf: Vec<u8>,
    sweep_armed: bool,
    redraw_armed: bool,
    /// The terminal, when stdout is one (and not `--json`): progress bars, and the
    /// line editor when stdin is a terminal too.
    tty: Option<Terminal>,
    /// Ctrl-D was typed: the session was told the input ended.
    input_ended: bool,
    /// The hub connection stopped at its read budget: read it again on the next pass.
    hub_ready: bool,
    /// Trees walked for uploads that wait for their ticket.
    prepared: HashMap<u64, Prepared>,
    /// Peer-listener connections per address.
    peer_addrs: PerAddress<usize>,
    max_uploads: usize,
}

impl Client {
    fn new(config: ClientConfig, hub_addr: SocketAddr) -> io::Result<Client> {
        let poll = Poll::new()?;
        let listen = match config.listen {
            Some(addr) => addr,
            None => local_address_toward(hub_addr)?,
        };
        let mut listener = TcpListener::bind(listen).map_err(|e| {
            let flag = if config.listen.is_some() {
                "--listen "
            } else {
                ""
            };
            io::Error::new(e.kind(), format!("peer listener {flag}{listen}: {e}"))
        })?;
        poll.registry()
            .register(&mut listener, tokens::LISTENER, Interest::READABLE)?;
        let peer_addr = listener.local_addr()?;
        let mut signals = Signals::new([
            signal_hook::consts::SIGINT,
            signal_hook::consts::SIGTERM,
            signal_hook::consts::SIGWINCH,
        ])?;
        poll.registry()
            .register(&mut signals, tokens::SIGNALS, Interest::READABLE)?;
        let on_tty = !config.json && std::io::stdout().is_terminal();
        let keyboard = on_tty && std::io::stdin().is_terminal();
        let mut tty = None;
        if keyboard {
            match Terminal::start(poll.registry(), tokens::STDIN, &config.share, true) {
                Ok(t) => tty = Some(t),
                Err(e) => warn!("no line editor: {e}"),
            }
        }
        let interactive = tty.is_some();
        let stdin = if interactive {
            None
        } else {
            match StdinLines::register(poll.registry(), tokens::STDIN) {
                Ok(s) => Some(s),
                Err(e) => {
                    warn!("no command input: {e}");
                    None
                }
            }
        };
        if on_tty && tty.is_none() {
            tty = Terminal::start(poll.registry(), tokens::STDIN, &config.share, false).ok();
        }
        let mut output = Output::new(config.json);
        if tty.is_some() {
            output.hold();
        }
        info!(
            "peer listener on {peer_addr}, share dir {}",
            config.share.display()
        );
        output.event(
            &Event::new("listening", format!("peer listener on {peer_addr}"))
                .field("addr", peer_addr.to_string()),
        );
        let published = PublishedList::load(&config.share)?;
        let session = Session::new(
            SessionConfig {
                serve: config.serve,
                reconnect_for: config.reconnect_for,
                peer_port: peer_addr.port(),
                interactive,
            },
            published,
            Partials::load(&config.share),
        );
        Ok(Client {
            share_dir: sys::open_dir(&config.share)?,
            share: config.share.clone(),
            hash_slice: config.hash_slice.max(4096),
            hashing: Vec::new(),
            hub_addr,
            poll,
            hub: None,
            listener,
            session,
            stdin,
            lines: 0,
            signals,
            timers: Timers::default(),
            output,
            actions: Vec::new(),
            scratch: vec![0; SCRATCH_BYTES],
            exit: None,
            transfers: Slab::new(),
            ready: Vec::new(),
            parked: Vec::new(),
            closing: Vec::new(),
            upload_config: UploadConfig {
                slice: UPLOAD_SLICE,
                rate: config.upload_rate,
            },
            stall: config.stall_timeout.max(Duration::from_millis(100)),
            handshake: config
                .stall_timeout
                .clamp(Duration::from_millis(100), MAX_HANDSHAKE),
            download_buf: vec![0; DOWNLOAD_BUF],
            sweep_armed: false,
            redraw_armed: false,
            tty,
            input_ended: false,
            hub_ready: false,
            prepared: HashMap::new(),
            peer_addrs: PerAddress::new(config.peer_max_per_address),
            max_uploads: config.max_uploads,
        })
    }

    fn run(&mut self) -> io::Result<i32> {
        self.connect(Instant::now());
        if self.stdin.is_none() && !self.tty.as_ref().is_some_and(Terminal::has_keyboard) {
            self.session
                .on_end_of_input(Instant::now(), &mut self.actions);
        }
        let mut events = Events::with_capacity(256);
        loop {
            self.apply_actions();
            self.recheck_parked();
            self.apply_actions();
            // A `wait` is answered only after the results printed above.
            self.session.settle_waits(Instant::now(), &mut self.actions);
            self.apply_actions();
            self.show();
            if let Some(code) = self.exit {
                return Ok(code);
            }
            self.flush_hub();
            self.arm_transfer_timers(Instant::now());
            let now = Instant::now();
            let mut timeout = self.timers.timeout(now);
            if self.stdin.as_ref().is_some_and(StdinLines::always_ready)
                || self.tty.as_ref().is_some_and(Terminal::always_ready)
                || !self.hashing.is_empty()
                || !self.ready.is_empty()
                || self.hub_ready
            {
                timeout = min_timeout(timeout, Some(Duration::ZERO));
            }
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            let now = Instant::now();
            for event in events.iter() {
                match event.token() {
                    tokens::HUB => self.hub_event(event.is_writable(), now),
                    tokens::STDIN => self.read_input(now),
                    tokens::SIGNALS => {
                        for sig in self.signals.pending() {
                            if sig == signal_hook::consts::SIGWINCH {
                                if let Some(tty) = self.tty.as_mut() {
                                    tty.resized();
                                }
                                continue;
                            }
                            info!("signal {sig}: leaving");
                            self.session.on_signal(now, &mut self.actions);
                        }
                    }
                    tokens::LISTENER => self.accept_peers(now),
                    token => {
                        if let Some(key) = crate::net::conn_key(token) {
                            self.run_transfer(key, now);
                        }
                    }
                }
            }
            self.free_closed();
            if std::mem::take(&mut self.hub_ready) {
                self.hub_event(false, now);
            }
            if self.stdin.as_ref().is_some_and(StdinLines::always_ready)
                || self.tty.as_ref().is_some_and(Terminal::always_ready)
            {
                self.read_input(now);
            }
            let mut ready = std::mem::take(&mut self.ready);
            ready.sort_unstable();
            ready.dedup();
            for key in ready {
                self.run_transfer(key, now);
            }
            self.free_closed();
            let mut session_due = false;
            for tick in self.timers.expired(now) {
                match tick {
                    Tick::Session => session_due = true,
                    Tick::Transfer(key) => self.run_transfer(key, now),
                    Tick::Sweep => {
                        self.sweep_armed = false;
                        self.sweep(now);
                    }
                    Tick::Redraw => {
                        self.redraw_armed = false;
                        self.redraw();
                    }
                }
            }
            self.free_closed();
            if session_due {
                self.session.on_timer(now, &mut self.actions);
            }
            self.hash_turn(now);
        }
    }

    fn connect(&mut self, now: Instant) {
        if let Some(mut old) = self.hub.take() {
            let _ = self.poll.registry().deregister(old.conn.stream_mut());
        }
        let mut stream = match TcpStream::connect(self.hub_addr) {
            Ok(s) => s,
            Err(e) => {
                let reason = format!("connect to {}: {e}", self.hub_addr);
                return self
                    .session
                    .on_connect_failed(&reason, now, &mut self.actions);
            }
        };
        if let Err(e) = self.poll.registry().register(
            &mut stream,
            tokens::HUB,
            Interest::READABLE | Interest::WRITABLE,
        ) {
            return self.session.on_connect_failed(
                &format!("register: {e}"),
                now,
                &mut self.actions,
            );
        }
        let mut conn = Conn::connecting(stream, MAX_HUB_FRAME, MAX_HUB_OUTPUT);
        // The hello goes first, ahead of anything typed while connecting.
        let _ = conn.queue_bytes(&Session::hello());
        self.hub = Some(HubLink {
            conn,
            connected: false,
        });
        debug!("connecting to {}", self.hub_addr);
    }

    fn hub_event(&mut self, writable: bool, now: Instant) {
        let Some(link) = self.hub.as_mut() else {
            return;
        };
        if !link.connected && writable {
            let stream = link.conn.stream();
            match (stream.take_error(), stream.peer_addr()) {
                (Ok(None), Ok(_)) => {
                    link.connected = true;
                    debug!("connected to the hub; waiting for its welcome");
                }
                (Ok(Some(e)), _) | (Err(e), _) => return self.hub_failed(&e.to_string(), now),
                (Ok(None), Err(e)) if e.kind() == io::ErrorKind::NotConnected => return,
                (Ok(None), Err(e)) => return self.hub_failed(&e.to_string(), now),
            }
        }
        if !link.connected {
            // A readable edge before the connect finished: the connect failed.
            let stream = link.conn.stream();
            if let Ok(Some(e)) | Err(e) = stream.take_error() {
                return self.hub_failed(&e.to_string(), now);
            }
            return;
        }
        let mut msgs = Vec::new();
        let status =
            link.conn
                .read_frames(&mut self.scratch, READS_PER_TURN, &mut msgs, HubMsg::decode);
        for msg in msgs {
            match msg {
                Ok(msg) => self.session.on_message(msg, now, &mut self.actions),
                Err(e) => warn!("bad message from the hub: {e}"),
            }
        }
        match status {
            ReadStatus::Drained => {}
            // Edge-triggered: bytes left unread raise no new event, so come back.
            ReadStatus::Budget => self.hub_ready = true,
            ReadStatus::Closed => self.hub_failed("the hub closed the connection", now),
            ReadStatus::BadFrame(e) => {
                self.hub_failed(&format!("bad frame from the hub: {e}"), now)
            }
            ReadStatus::Failed(e) => self.hub_failed(&e.to_string(), now),
        }
    }

    fn hub_failed(&mut self, reason: &str, now: Instant) {
        // A connect that failed names the address it tried.
        let reason = match &self.hub {
            Some(link) if !link.connected => format!("connect to {}: {reason}", self.hub_addr),
            _ => reason.to_owned(),
        };
        let reason = reason.as_str();
        if let Some(mut old) = self.hub.take() {
            let _ = self.poll.registry().deregister(old.conn.stream_mut());
        }
        if self.session.reconnecting() {
            self.session
                .on_connect_failed(reason, now, &mut self.actions);
        } else {
            self.session.on_lost(reason, now, &mut self.actions);
        }
    }

    /// Print above the input line what the session printed, and redraw.
    fn show(&mut self) {
        if let Some(tty) = self.tty.as_mut() {
            for text in self.output.take_held() {
                tty.print(&text);
            }
            tty.flush();
        }
    }

    fn read_input(&mut self, now: Instant) {
        let Some(tty) = self.tty.as_mut().filter(|t| t.has_keyboard()) else {
            return self.read_stdin(now);
        };
        let mine = self.session.published().iter().map(|p| p.name.clone());
        let mut inputs = Vec::new();
        tty.read(mine, &mut inputs);
        for input in inputs {
            match input {
                Input::Line(line) => {
                    self.lines += 1;
                    self.session
                        .on_line(self.lines, &line, now, &mut self.actions);
                }
                Input::Interrupt => self.session.on_signal(now, &mut self.actions),
                Input::EndOfInput if !self.input_ended => {
                    self.input_ended = true;
                    self.session.on_end_of_input(now, &mut self.actions);
                }
                Input::EndOfInput => {}
            }
        }
    }

    fn read_stdin(&mut self, now: Instant) {
        let Some(stdin) = self.stdin.as_mut() else {
            return;
        };
        let mut lines = Vec::new();
        if let Err(e) = stdin.read_lines(&mut lines) {
            warn!("reading commands: {e}");
        }
        let eof = stdin.at_eof();
        for line in lines {
            self.lines += 1;
            self.session
                .on_line(self.lines, &line, now, &mut self.actions);
        }
        if eof {
            if let Some(stdin) = self.stdin.take() {
                if !stdin.always_ready() {
                    let _ = self
                        .poll
                        .registry()
                        .deregister(&mut mio::unix::SourceFd(&0));
                }
            }
            self.session.on_end_of_input(now, &mut self.actions);
        }
    }

    fn accept_peers(&mut self, now: Instant) {
        loop {
            match self.listener.accept() {
                Ok((mut stream, addr)) => {
                    let waiting = self
                        .transfers
                        .iter()
                        .filter(|(_, t)| matches!(t, Transfer::Up(up) if up.awaiting_request()))
                        .count();
                    let key = self.transfers.vacant_key();
                    if key >= tokens::FIRST_RESERVED {
                        continue;
                    }
                    let refusal = if waiting >= MAX_AWAITING_REQUEST {
                        Some("busy: too many peers connecting")
                    } else if !self.peer_addrs.admit(key, addr.ip()) {
                        Some("busy: too many connections from your address")
                    } else {
                        None
                    };
                    if let Some(reason) = refusal {
                        debug!("peer {addr} refused: {reason}");
                        refuse_peer(&mut stream, reason, self.session.known_as());
                        continue;
                    }
                    if let Err(e) = self.poll.registry().register(
                        &mut stream,
                        mio::Token(key),
                        Interest::READABLE,
                    ) {
                        warn!("peer {addr}: register: {e}");
                        self.peer_addrs.release(key);
                        continue;
                    }
                    let entry = self.transfers.vacant_entry();
                    debug!("peer {addr} connected");
                    let me = self.session.known_as();
                    entry.insert(Transfer::Up(Upload::new(stream, addr, me, now)));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    warn!("peer listener: {e}");
                    return;
                }
            }
        }
    }

    /// One turn of a transfer: read, send or receive within its budget.
    fn run_transfer(&mut self, key: usize, now: Instant) {
        if self.closing.contains(&key) {
            return;
        }
        match self.transfers.get_mut(key) {
            Some(Transfer::Up(up)) => {
                let step = up.turn(&mut self.scratch, &self.upload_config, now);
                self.upload_step(key, step);
            }
            Some(Transfer::Down(dl)) => {
                let mut ctx = Ctx {
                    share: &self.share,
                    share_dir: &self.share_dir,
                    buf: &mut self.download_buf,
                    hash_slice: self.hash_slice,
                    read_budget: DOWNLOAD_BUDGET,
                };
                let step = dl.turn(&mut ctx, now);
                self.download_step(key, step, now);
            }
            Some(Transfer::Store(st)) => {
                let step = st.turn(&mut self.download_buf, STORE_BUDGET, now);
                match step {
                    StoreStep::Wait => {}
                    StoreStep::Again => self.ready.push(key),
                    StoreStep::Done(result) => self.finish_store(key, result, now),
                }
            }
            None => {}
        }
    }

    fn finish_store(
        &mut self,
        key: usize,
        result: Result<session::StoreDone, (Status, String)>,
        now: Instant,
    ) {
        let job = match self.transfers.get(key) {
            Some(Transfer::Store(st)) => st.job(),
            _ => return,
        };
        self.close_transfer(key);
        self.redraw();
        self.session
            .on_store_done(job, result, now, &mut self.actions);
    }

    /// Open a store transfer's connection and run it.
    fn start_store(&mut self, job: u64, name: &str, token: [u8; 16], work: Work, now: Instant) {
        let hub = self.hub_addr;
        let started = StoreTransfer::start(job, name, token, work, || TcpStream::connect(hub), now);
        let mut st = match started {
            Ok(st) => Box::new(st),
            Err(failure) => {
                return self
                    .session
                    .on_store_done(job, Err(failure), now, &mut self.actions)
            }
        };
        let entry = self.transfers.vacant_entry();
        let key = entry.key();
        if let Err(e) = self.poll.registry().register(
            st.stream_mut(),
            mio::Token(key),
            Interest::READABLE | Interest::WRITABLE,
        ) {
            st.abandon();
            let failure = (Status::INTERNAL, format!("register: {e}"));
            return self
                .session
                .on_store_done(job, Err(failure), now, &mut self.actions);
        }
        entry.insert(Transfer::Store(st));
        self.ready.push(key);
    }

    fn cancel_store(&mut self, job: u64) {
        self.prepared.remove(&job);
        let key = self
            .transfers
            .iter()
            .find(|(_, t)| matches!(t, Transfer::Store(st) if st.job() == job))
            .map(|(key, _)| key);
        if let Some(key) = key {
            if let Some(Transfer::Store(st)) = self.transfers.get_mut(key) {
                st.abandon();
            }
            self.close_transfer(key);
            self.redraw();
        }
    }

    fn upload_step(&mut self, key: usize, step: UpStep) {
        match step {
            UpStep::Wait => self.sync_upload(key),
            UpStep::Again => {
                self.ready.push(key);
                self.sync_upload(key);
            }
            UpStep::Sleep(at) => self.timers.arm(at, Tick::Transfer(key)),
            UpStep::Decide => self.decide_upload(key),
            UpStep::Served { bytes } => {
                if let Some(Transfer::Up(up)) = self.transfers.get(key) {
                    let to = up.who();
                    let name = up.name().unwrap_or("").to_owned();
                    info!("{to} fetched {name} ({bytes} bytes)");
                    self.actions.push(Action::Event(
                        Event::new(
                            "upload_served",
                            format!(
                                "{to} fetched {name} from you ({})",
                                crate::transfer::human_size(bytes)
                            ),
                        )
                        .field("to", to)
                        .field("name", name)
                        .field("bytes", bytes),
                    ));
                }
                self.close_transfer(key);
            }
            UpStep::Changed => {
                if let Some(Transfer::Up(up)) = self.transfers.get(key) {
                    if let Some(name) = up.name().map(str::to_owned) {
                        warn!("{name} changed on disk while being served; connection closed");
                        self.session.refresh(&name, &mut self.actions);
                    }
                }
                self.close_transfer(key);
            }
            UpStep::Closed(reason) => {
                if let Some(Transfer::Up(up)) = self.transfers.get(key) {
                    debug!("peer {}: {reason}", up.who());
                }
                self.close_transfer(key);
            }
        }
    }

    fn sync_upload(&mut self, key: usize) {
        if let Some(Transfer::Up(up)) = self.transfers.get_mut(key) {
            let interest = Interest::READABLE | Interest::WRITABLE;
            let armed = if up.arm_writable() {
                (self.poll.registry()).reregister(up.stream_mut(), mio::Token(key), interest)
            } else {
                Ok(())
            };
            if let Err(e) = armed {
                debug!("peer connection: {e}");
                self.close_transfer(key);
            }
        }
    }

    /// Answer a peer's request from the publication list and the file on disk.
    fn decide_upload(&mut self, key: usize) {
        // A slot is taken only now that the request is valid: silent connections take none.
        let others = self
            .transfers
            .iter()
            .filter(|(k, t)| *k != key && matches!(t, Transfer::Up(u) if u.holds_slot()))
            .count();
        if others >= self.max_uploads {
            if let Some(Transfer::Up(up)) = self.transfers.get_mut(key) {
                debug!("peer {} refused: {others} uploads running", up.who());
                up.refuse(Status::UNAVAILABLE, "busy: too many uploads");
                self.ready.push(key);
            }
            return;
        }
        let Some(Transfer::Up(up)) = self.transfers.get_mut(key) else {
            return;
        };
        let Some((request, asked)) = up.pending() else {
            return;
        };
        let name = request.name.clone();
        let offset = request.offset;
        let publication = self.session.published().get(&name).cloned();
        let mut opened = None;
        let mut gone = false;
        let disk = match &publication {
            None => Disk::Missing,
            Some(p) => {
                let file =
                    sys::open_beneath(&self.share_dir, Path::new(&p.path), OpenFlags::ReadOnly)
                        .and_then(|f| Stamp::of(&f).map(|stamp| (f, stamp)));
                match file {
                    Ok((f, stamp)) => {
                        let same = p.matches(stamp.size, stamp.modified);
                        opened = Some((f, stamp));
                        if same {
                            Disk::Same
                        } else {
                            Disk::Changed
                        }
                    }
                    Err(e) => {
                        debug!("{name}: {e}");
                        gone = e.kind() == io::ErrorKind::NotFound;
                        Disk::Missing
                    }
                }
            }
        };
        if gone {
            // Deleted from disk: unpublish it (and say so) so the hub sends nobody else.
            self.session.withdraw_gone(&name, &mut self.actions);
        }
        let decision = upload::decide(
            &name,
            offset,
            publication.as_ref().map(|p| p.size),
            disk,
            self.session.refreshing(&name),
            asked,
        );
        debug!(
            "peer {} asks for {name} from {offset}: {decision:?}",
            up.who()
        );
        match (decision, publication, opened) {
            (Decision::Serve, Some(p), Some((file, stamp))) => {
                up.serve(file, stamp, p.size, p.hash_bytes());
                self.ready.push(key);
            }
            (Decision::Serve, _, _) => {
                up.refuse(Status::INTERNAL, "internal error");
                self.ready.push(key);
            }
            (Decision::Refuse(status, text), _, _) => {
                up.refuse(status, &text);
                self.ready.push(key);
            }
            (Decision::Refresh, _, _) => {
                up.asked_refresh();
                self.session.refresh(&name, &mut self.actions);
                self.parked.push(key);
            }
            (Decision::Wait, _, _) => self.parked.push(key),
        }
    }

    /// Decide again the uploads that waited for a refresh that has finished.
    fn recheck_parked(&mut self) {
        if self.parked.is_empty() {
            return;
        }
        let parked = std::mem::take(&mut self.parked);
        for key in parked {
            let waiting = match self.transfers.get(key) {
                Some(Transfer::Up(up)) => {
                    up.pending().map(|(r, _)| self.session.refreshing(&r.name))
                }
                _ => None,
            };
            match waiting {
                Some(true) => self.parked.push(key),
                Some(false) => self.decide_upload(key),
                None => {}
            }
        }
    }

    fn download_step(&mut self, key: usize, step: DlStep, now: Instant) {
        match step {
            DlStep::Wait => {}
            DlStep::Again => self.ready.push(key),
            DlStep::Connect(addr) => {
                if let Some(Transfer::Down(dl)) = self.transfers.get_mut(key) {
                    let step = dl.dialled(TcpStream::connect(addr), now);
                    self.download_step(key, step, now);
                }
            }
            DlStep::Register => {
                let registered = match self.transfers.get_mut(key) {
                    Some(Transfer::Down(dl)) => dl.stream_mut().map(|stream| {
                        self.poll.registry().register(
                            stream,
                            mio::Token(key),
                            Interest::READABLE | Interest::WRITABLE,
                        )
                    }),
                    _ => None,
                };
                if let Some(Err(e)) = registered {
                    let outcome = Outcome::Failed {
                        status: Status::INTERNAL,
                        message: format!("register: {e}"),
                        report: false,
                        partial: crate::transfer::download::PartialFate::None,
                        size: 0,
                        hash: [0; 32],
                    };
                    self.finish_download(key, outcome, now);
                }
            }
            DlStep::Done(outcome) => self.finish_download(key, outcome, now),
        }
    }

    fn finish_download(&mut self, key: usize, outcome: Outcome, now: Instant) {
        let job = match self.transfers.get(key) {
            Some(Transfer::Down(dl)) => dl.job(),
            _ => return,
        };
        self.close_transfer(key);
        self.redraw();
        self.session
            .on_download_done(job, outcome, now, &mut self.actions);
    }

    fn start_download(&mut self, spec: DownloadSpec, now: Instant) {
        let entry = self.transfers.vacant_entry();
        let key = entry.key();
        entry.insert(Transfer::Down(Box::new(Download::new(
            spec,
            &self.share,
            now,
        ))));
        self.ready.push(key);
    }

    fn cancel_download(&mut self, job: u64) {
        let key = self
            .transfers
            .iter()
            .find(|(_, t)| matches!(t, Transfer::Down(dl) if dl.job() == job))
            .map(|(key, _)| key);
        if let Some(key) = key {
            self.close_transfer(key);
            self.redraw();
        }
    }

    /// Mark a transfer closed: its socket leaves the poll now, the slot after the batch.
    fn close_transfer(&mut self, key: usize) {
        if self.closing.contains(&key) {
            return;
        }
        let stream = match self.transfers.get_mut(key) {
            Some(Transfer::Up(up)) => Some(up.stream_mut()),
            Some(Transfer::Down(dl)) => dl.stream_mut(),
            Some(Transfer::Store(st)) => Some(st.stream_mut()),
            None => return,
        };
        if let Some(stream) = stream {
            let _ = self.poll.registry().deregister(stream);
        }
        self.closing.push(key);
    }

    fn free_closed(&mut self) {
        for key in std::mem::take(&mut self.closing) {
            if self.transfers.contains(key) {
                self.transfers.remove(key);
                self.peer_addrs.release(key);
            }
        }
    }

    /// Close what stalled or never said its handshake.
    fn sweep(&mut self, now: Instant) {
        let mut expired_uploads = Vec::new();
        let mut failed_downloads = Vec::new();
        let mut failed_store = Vec::new();
        for (key, t) in self.transfers.iter_mut() {
            match t {
                Transfer::Up(up) => {
                    let limit = if up.pending().is_some() {
                        self.stall + self.handshake
                    } else {
                        self.stall
                    };
                    if let Some(why) = up.expired(now, self.handshake, limit) {
                        expired_uploads.push((key, up.who(), why));
                    }
                }
                Transfer::Down(dl) => {
                    if let Some(outcome) = dl.expired(now, self.stall) {
                        failed_downloads.push((key, outcome));
                    }
                }
                Transfer::Store(st) => {
                    if let Some(failure) = st.expired(now, self.stall) {
                        failed_store.push((key, failure));
                    }
                }
            }
        }
        for (key, failure) in failed_store {
            self.finish_store(key, Err(failure), now);
        }
        for (key, who, why) in expired_uploads {
            debug!("peer {who}: {why}; closing");
            self.close_transfer(key);
        }
        for (key, outcome) in failed_downloads {
            self.finish_download(key, outcome, now);
        }
    }

    /// Keep the sweep and redraw deadlines armed while there are transfers.
    fn arm_transfer_timers(&mut self, now: Instant) {
        if self.transfers.is_empty() {
            return;
        }
        if !self.sweep_armed {
            let every = (self.handshake.min(self.stall) / 4)
                .clamp(Duration::from_millis(50), Duration::from_secs(1));
            self.timers.arm(now + every, Tick::Sweep);
            self.sweep_armed = true;
        }
        if self.tty.is_some() && !self.redraw_armed {
            self.timers.arm(now + progress::REDRAW_EVERY, Tick::Redraw);
            self.redraw_armed = true;
        }
    }

    /// Draw a bar for each running download and store transfer.
    fn redraw(&mut self) {
        let Some(tty) = self.tty.as_mut() else {
            return;
        };
        let now = Instant::now();
        let width = terminal::width();
        let lines = self
            .transfers
            .iter()
            .filter(|(key, _)| !self.closing.contains(key))
            .filter_map(|(_, t)| match t {
                Transfer::Down(dl) => dl.progress().map(|_| dl.row(now)),
                Transfer::Store(st) => st.progress().map(|_| st.row(now)),
                Transfer::Up(_) => None,
            })
            .map(|row| progress::bar_line(&row, width))
            .collect();
        tty.set_status(lines);
    }

    /// Complete and print a `status` result: the hub's address and the transfers.
    fn status(&mut self, r: crate::output::CommandResult) {
        let rows = self.transfer_rows();
        let mut listed = transfers_result(r.id, &rows);
        let transfers = listed.fields.remove("transfers").unwrap_or_default();
        let mut r = r
            .field("hub", self.hub_addr.to_string())
            .field("share", self.share.to_string_lossy().into_owned())
            .field("transfers", transfers);
        r.detail.insert(0, format!("hub: {}", self.hub_addr));
        r.detail.push(format!("transfers: {}", listed.message));
        r.detail
            .extend(listed.detail.into_iter().map(|line| format!("  {line}")));
        self.output.result(&r);
    }

    fn transfer_rows(&self) -> Vec<Row> {
        let now = Instant::now();
        self.transfers
            .iter()
            .filter(|(key, _)| !self.closing.contains(key))
            .filter_map(|(_, t)| match t {
                Transfer::Down(dl) => Some(dl.row(now)),
                Transfer::Up(up) => up.row(now),
                Transfer::Store(st) => Some(st.row(now)),
            })
            .collect()
    }

    fn list_transfers(&mut self, id: u64) {
        let rows = self.transfer_rows();
        self.output.result(&transfers_result(id, &rows));
    }

    /// Where a store download lands, as a full path (so that errors show it): the share
    /// dir when no destination was typed, else relative to the working directory.
    fn download_dest(&self, dest: &str, in_share: bool) -> String {
        let path = if in_share {
            self.share.join(dest)
        } else {
            match std::env::current_dir() {
                Ok(cwd) => cwd.join(dest),
                Err(_) => PathBuf::from(dest),
            }
        };
        path.to_string_lossy().into_owned()
    }

    /// Resolve a local path (relative paths resolve in the share dir) to a path beneath it.
    fn beneath_share(&self, local: &str) -> Result<PathBuf, (Status, String)> {
        let candidate = Path::new(local);
        let full = if candidate.is_absolute() {
            candidate.to_path_buf()
        } else {
            self.share.join(candidate)
        };
        let canonical = full
            .canonicalize()
            .map_err(|e| (Status::NO_FILE, format!("{}: {e}", full.display())))?;
        canonical
            .strip_prefix(&self.share)
            .map(Path::to_path_buf)
            .map_err(|_| {
                let share = self.share.display();
                (
                    Status::BAD_REQUEST,
                    format!("{local} is not beneath the share dir {share}"),
                )
            })
    }

    fn start_hash(&mut self, job: u64, local: &str, now: Instant) {
        let opened = self.beneath_share(local).and_then(|rel| {
            let file =
                sys::open_beneath(&self.share_dir, &rel, OpenFlags::ReadOnly).map_err(|e| {
                    let status = if e.kind() == io::ErrorKind::InvalidInput {
                        Status::BAD_REQUEST
                    } else {
                        Status::NO_FILE
                    };
                    (status, format!("{local}: {e}"))
                })?;
            let hasher =
                HashJob::new(file).map_err(|e| (Status::NO_FILE, format!("{local}: {e}")))?;
            Ok((rel.to_string_lossy().into_owned(), hasher))
        });
        match opened {
            Ok((path, hasher)) => {
                debug!("hashing {path} ({} bytes)", hasher.size());
                self.hashing.push(Hashing { job, path, hasher });
            }
            Err(e) => self.session.on_hashed(job, Err(e), now, &mut self.actions),
        }
    }

    /// One slice of every hash job: big files take many turns, and the loop stays live.
    fn hash_turn(&mut self, now: Instant) {
        let slice = self.hash_slice;
        let mut finished = Vec::new();
        self.hashing.retain_mut(|h| match h.hasher.step(slice) {
            Ok(HashStep::Progress { .. }) => true,
            Ok(HashStep::Done { stamp, hash }) => {
                let hashed = Hashed {
                    path: h.path.clone(),
                    size: stamp.size,
                    hash,
                    modified: stamp.modified,
                };
                finished.push((h.job, Ok(hashed)));
                false
            }
            Err(e) => {
                finished.push((h.job, Err((Status::INTERNAL, format!("{}: {e}", h.path)))));
                false
            }
        });
        for (job, result) in finished {
            self.session.on_hashed(job, result, now, &mut self.actions);
        }
    }

    /// Compare each publication with the disk: gone, changed, or as hashed.
    fn check_published(&mut self) {
        let mut vanished = Vec::new();
        let mut changed = Vec::new();
        for p in self.session.published().iter() {
            let meta = std::fs::symlink_metadata(self.share.join(&p.path));
            match meta {
                Ok(m) if m.is_file() => {
                    let same = m.modified().is_ok_and(|t| p.matches(m.len(), t));
                    if !same {
                        changed.push(p.name.clone());
                    }
                }
                _ => vanished.push(p.name.clone()),
            }
        }
        self.session
            .on_checked(vanished, changed, &mut self.actions);
    }

    fn apply_actions(&mut self) {
        while !self.actions.is_empty() {
            let now = Instant::now();
            for action in std::mem::take(&mut self.actions) {
                match action {
                    Action::Send(frame) => {
                        if let Some(link) = self.hub.as_mut() {
                            if link.conn.queue_bytes(&frame).is_err() {
                                self.hub_failed("too much output queued for the hub", now);
                            }
                        }
                    }
                    Action::Connect => self.connect(now),
                    Action::Disconnect => {
                        self.flush_hub();
                        if let Some(mut old) = self.hub.take() {
                            let _ = self.poll.registry().deregister(old.conn.stream_mut());
                        }
                    }
                    Action::Result(r) => {
                        if let Some(tty) = self.tty.as_mut() {
                            tty.learn_result(&r);
                        }
                        self.output.result(&r);
                    }
                    Action::Event(e) => {
                        if let Some(tty) = self.tty.as_mut() {
                            tty.learn_event(&e);
                        }
                        self.output.event(&e);
                    }
                    Action::Arm(at) => self.timers.arm(at, Tick::Session),
                    Action::Hash { job, local } => self.start_hash(job, &local, now),
                    Action::CheckPublished => self.check_published(),
                    Action::SavePublished => {
                        if let Err(e) = self.session.published().save(&self.share) {
                            warn!("saving the publication list: {e}");
                        }
                    }
                    Action::StartDownload(spec) => self.start_download(spec, now),
                    Action::CancelDownload(job) => self.cancel_download(job),
                    Action::ListTransfers(id) => self.list_transfers(id),
                    Action::Status(r) => self.status(r),
                    Action::SavePartials => {
                        if let Err(e) = self.session.partials().save(&self.share) {
                            warn!("saving the record of partial downloads: {e}");
                        }
                    }
                    Action::Exit(code) => {
                        if self.exit.is_none() {
                            self.exit = Some(code);
                        }
                    }
                    Action::NameUpload { job, path, name } => {
                        let named = scan::upload_name(&path, name.as_deref());
                        self.session.on_named(job, path, named, &mut self.actions);
                    }
                    Action::ScanUpload { job, path, name } => {
                        let result = scan::scan(&path, name.as_deref(), MAX_UPLOAD_ITEMS).map(
                            |(scanned, prepared)| {
                                self.prepared.insert(job, prepared);
                                scanned
                            },
                        );
                        self.session.on_scanned(job, result, now, &mut self.actions);
                    }
                    Action::StartStoreUpload { job, token } => match self.prepared.remove(&job) {
                        Some(prepared) => {
                            let name = prepared
                                .items
                                .first()
                                .map(|(i, _)| i.path.clone())
                                .unwrap_or_default();
                            self.start_store(job, &name, token, Work::Up(prepared), now)
                        }
                        None => self.session.on_store_done(
                            job,
                            Err((Status::INTERNAL, "the walked tree is gone".into())),
                            now,
                            &mut self.actions,
                        ),
                    },
                    Action::StartStoreDownload {
                        job,
                        token,
                        name,
                        dest,
                        in_share,
                        kind,
                        totals,
                    } => {
                        let dest = self.download_dest(&dest, in_share);
                        self.start_store(job, &name, token, Work::Down { dest, kind, totals }, now)
                    }
                    Action::DropStoreJob(job) => {
                        self.prepared.remove(&job);
                    }
                    Action::CancelStore(job) => self.cancel_store(job),
                }
            }
        }
    }

    fn flush_hub(&mut self) {
        let Some(link) = self.hub.as_mut() else {
            return;
        };
        if !link.connected {
            return;
        }
        let result = link
            .conn
            .flush()
            .and_then(|_| link.conn.sync_interest(self.poll.registry(), tokens::HUB));
        if let Err(e) = result {
            self.hub_failed(&format!("write to the hub: {e}"), Instant::now());
        }
    }
}
