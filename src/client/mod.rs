//! The peer process: its loop moves bytes between the hub connection, the peer
//! listener, stdin and signals, and the pure [`session::Session`].

pub mod command;
pub mod published;

use crate::proto::status::Status;
use crate::sys::{self, OpenFlags};
use crate::transfer::hash::{HashJob, HashStep};
use published::PublishedList;
use session::Hashed;
use std::fs::File;
use std::path::Path;
pub mod session;

use crate::net::conn::{Conn, ReadStatus};
use crate::net::stdin::StdinLines;
use crate::net::timers::{min_timeout, Timers};
use crate::net::tokens;
use crate::output::{Event, Output};
use crate::proto::frame::DEFAULT_MAX_FRAME;
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
}

/// Most bytes queued toward the hub before the client considers the link broken.
const MAX_HUB_OUTPUT: usize = 16 * 1024 * 1024;
const SCRATCH_BYTES: usize = 64 * 1024;
const READS_PER_TURN: usize = 8;

/// Run the client until it leaves. Returns the exit code.
pub fn run(config: ClientConfig) -> io::Result<i32> {
    std::fs::create_dir_all(&config.share)?;
    let share = config.share.canonicalize()?;
    let config = ClientConfig { share, ..config };
    let hub_addr = resolve(&config.server)?;
    let mut client = Client::new(config, hub_addr)?;
    client.run()
}

fn resolve(server: &str) -> io::Result<SocketAddr> {
    server
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("{server}: no address")))
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
    timers: Timers<()>,
    output: Output,
    actions: Vec<Action>,
    scratch: Vec<u8>,
    exit: Option<i32>,
}

impl Client {
    fn new(config: ClientConfig, hub_addr: SocketAddr) -> io::Result<Client> {
        let poll = Poll::new()?;
        let listen = match config.listen {
            Some(addr) => addr,
            None => local_address_toward(hub_addr)?,
        };
        let mut listener = TcpListener::bind(listen)?;
        poll.registry()
            .register(&mut listener, tokens::LISTENER, Interest::READABLE)?;
        let peer_addr = listener.local_addr()?;
        let mut signals =
            Signals::new([signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM])?;
        poll.registry()
            .register(&mut signals, tokens::SIGNALS, Interest::READABLE)?;
        let stdin = match StdinLines::register(poll.registry(), tokens::STDIN) {
            Ok(s) => Some(s),
            Err(e) => {
                warn!("no command input: {e}");
                None
            }
        };
        let mut output = Output::new(config.json);
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
            },
            published,
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
        })
    }

    fn run(&mut self) -> io::Result<i32> {
        self.connect(Instant::now());
        if self.stdin.is_none() {
            self.session
                .on_end_of_input(Instant::now(), &mut self.actions);
        }
        let mut events = Events::with_capacity(256);
        loop {
            self.apply_actions();
            if let Some(code) = self.exit {
                return Ok(code);
            }
            self.flush_hub();
            let now = Instant::now();
            let mut timeout = self.timers.timeout(now);
            if self.stdin.as_ref().is_some_and(StdinLines::always_ready) || !self.hashing.is_empty()
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
                    tokens::STDIN => self.read_stdin(now),
                    tokens::SIGNALS => {
                        for sig in self.signals.pending() {
                            info!("signal {sig}: leaving");
                            self.session.on_signal(now, &mut self.actions);
                        }
                    }
                    tokens::LISTENER => self.accept_peers(),
                    _ => {}
                }
            }
            if self.stdin.as_ref().is_some_and(StdinLines::always_ready) {
                self.read_stdin(now);
            }
            if !self.timers.expired(now).is_empty() {
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
        let mut conn = Conn::connecting(stream, DEFAULT_MAX_FRAME, MAX_HUB_OUTPUT);
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
                    self.session.on_connected();
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
            ReadStatus::Drained | ReadStatus::Budget => {}
            ReadStatus::Closed => self.hub_failed("the hub closed the connection", now),
            ReadStatus::BadFrame(e) => {
                self.hub_failed(&format!("bad frame from the hub: {e}"), now)
            }
            ReadStatus::Failed(e) => self.hub_failed(&e.to_string(), now),
        }
    }

    fn hub_failed(&mut self, reason: &str, now: Instant) {
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

    fn accept_peers(&mut self) {
        loop {
            match self.listener.accept() {
                Ok((stream, addr)) => {
                    debug!("peer {addr} connected; serving files is not part of this build yet");
                    drop(stream);
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
            .map_err(|e| (Status::NO_FILE, format!("{local}: {e}")))?;
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
                    Action::Result(r) => self.output.result(&r),
                    Action::Event(e) => self.output.event(&e),
                    Action::Arm(at) => self.timers.arm(at, ()),
                    Action::Hash { job, local } => self.start_hash(job, &local, now),
                    Action::CheckPublished => self.check_published(),
                    Action::SavePublished => {
                        if let Err(e) = self.session.published().save(&self.share) {
                            warn!("saving the publication list: {e}");
                        }
                    }
                    Action::Exit(code) => {
                        if self.exit.is_none() {
                            self.exit = Some(code);
                        }
                    }
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
