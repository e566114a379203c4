//! The peer's loop: it moves bytes between the hub connection, the peer listener,
//! stdin and signals, and the pure [`Session`]; each job is a room below.

mod actions;
mod hashing;
mod hub_link;
mod input;
mod listener;
mod peer_tls;
mod peers;
mod progress_events;
mod setup;
mod store_jobs;
mod swarms;
mod transfers;
mod web;

use super::hub_trust::HubTrust;
use super::partials::Partials;
use super::published::PublishedList;
use super::scan::{Prepared, Scan};
use super::session::{Action, Session, SessionConfig};
use super::store::StoreTransfer;
use super::terminal::Terminal;
use super::ClientConfig;
use crate::client::outboards::{self, OutboardFile};
use crate::net::conn::Conn;
use crate::net::peraddr::PerAddress;
use crate::net::stdin::StdinLines;
use crate::net::timers::{min_timeout, Timers};
use crate::net::wire::Wire;
use crate::net::{self, tokens};
use crate::output::{Event, Output};
use crate::sys;
use crate::transfer::download::Download;
use crate::transfer::hash::HashJob;
use crate::transfer::swarm::SwarmFetch;
use crate::transfer::upload::{Upload, UploadConfig};
use crate::trust::admit::UsedTickets;
use crate::trust::{Fingerprint, Identity};
use log::{debug, info, warn};
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll};
use peer_tls::{PeerTls, PeerWire};
use setup::{resolve, share_dir};
use signal_hook_mio::v1_0::Signals;
use slab::Slab;
use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

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
/// Longest a peer may take to send its request (a fetcher sends it at once).
const MAX_HANDSHAKE: Duration = Duration::from_secs(5);
/// Bytes a store transfer moves per loop turn.
const STORE_BUDGET: usize = 4 * 1024 * 1024;
/// Most files and directories an `upload` walks.
const MAX_UPLOAD_ITEMS: usize = 100_000;
/// Steps of a walk for an upload per loop turn (a step reads or examines one entry).
const SCAN_SLICE: usize = 512;

/// Run the client until it leaves. Returns the exit code.
pub fn run(config: ClientConfig) -> io::Result<i32> {
    let share = share_dir(&config.share)?;
    let identity = setup::identity(&share)?;
    let config = ClientConfig { share, ..config };
    let hub_addr = resolve(&config.server)?;
    let hub_trust = if config.insecure_plaintext {
        warn!(
            "--insecure-plaintext: TLS is off; the password, chat and files cross the network \
             in the clear, and the hub's key is not checked"
        );
        None
    } else {
        Some(HubTrust::load(
            &config.share,
            &config.server,
            config.hub_key,
        )?)
    };
    let mut client = Client::new(config, hub_addr, identity, hub_trust)?;
    client.run()
}

/// The link to the hub, as the loop sees it.
struct HubLink {
    conn: Conn<Wire<TcpStream>>,
    connected: bool,
    /// The hub's key was judged (at the end of the TLS handshake; at once when plain).
    judged: bool,
    /// The key the hub showed, once the handshake ended (`None` over plaintext).
    key: Option<Fingerprint>,
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
    /// Report `progress` events.
    Progress,
}

/// A connection of the peer-to-peer side. A download carries a BLAKE3 hasher (about
/// 2 KiB), so it is boxed; uploads, the many, stay inline.
#[allow(clippy::large_enum_variant)]
enum Transfer {
    Up(Upload<PeerWire>),
    Down(Box<Download<PeerWire>>),
    /// A download from several holders, every group verified as it comes.
    Swarm(Box<SwarmFetch<PeerWire>>),
    /// One holder connection of the swarm download in slot `swarm` (its events run it).
    Leg {
        swarm: usize,
    },
    /// A store `upload` or `download` on its own connection to the hub.
    Store(Box<StoreTransfer<Wire<TcpStream>>>),
}

/// A file being hashed for the session, and the outboard written as it is.
struct Hashing {
    job: u64,
    path: String,
    hasher: HashJob,
    outboard: OutboardFile,
}

struct Client {
    share: PathBuf,
    /// This client's key pair and certificate (`<share>/.peerhub-identity.pem`).
    identity: Identity,
    /// The hub's pin and the TLS configuration of the hub link (`None`: plaintext).
    hub_trust: Option<HubTrust>,
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
    /// Uploads waiting for a publication to be hashed again, with the name asked for.
    parked: Vec<(usize, String)>,
    /// Transfers to remove after the current batch of events.
    closing: Vec<usize>,
    upload_config: UploadConfig,
    stall: Duration,
    handshake: Duration,
    download_buf: Vec<u8>,
    sweep_armed: bool,
    redraw_armed: bool,
    /// `progress` events: who gets them, what each transfer last reported.
    progress: progress_events::ProgressEvents,
    /// The terminal, when stdout is one (and not `--json`): progress bars, and the
    /// line editor when stdin is a terminal too.
    tty: Option<Terminal>,
    /// Ctrl-D was typed: the session was told the input ended.
    input_ended: bool,
    /// The hub connection stopped at its read budget: read it again on the next pass.
    hub_ready: bool,
    /// Trees being walked for uploads, a slice per turn, by job.
    scans: Vec<(u64, Scan)>,
    /// Trees walked for uploads that wait for their ticket.
    prepared: HashMap<u64, Prepared>,
    /// Peer-listener connections per address.
    peer_addrs: PerAddress<usize>,
    /// TLS of peer connections (mutual: the listener's and each holder's), or none.
    peer_tls: PeerTls,
    /// Fetch tickets peers used, until they expire: each lets in one connection.
    used_tickets: UsedTickets,
    /// The web interface (`--web`).
    web: Option<crate::web::Web>,
}

impl Client {
    fn new(
        config: ClientConfig,
        hub_addr: SocketAddr,
        identity: Identity,
        hub_trust: Option<HubTrust>,
    ) -> io::Result<Client> {
        let poll = Poll::new()?;
        let listener = setup::bind_listener(&config, hub_addr, &poll)?;
        let peer_addr = listener.local_addr()?;
        let mut signals = Signals::new([
            signal_hook::consts::SIGINT,
            signal_hook::consts::SIGTERM,
            signal_hook::consts::SIGWINCH,
        ])?;
        poll.registry()
            .register(&mut signals, tokens::SIGNALS, Interest::READABLE)?;
        let (tty, stdin, interactive) = setup::open_input(&config, &poll);
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
        let web = match &config.web {
            Some(listen) => {
                let page = crate::web::page::PEER;
                let mut web = crate::web::Web::open(listen, poll.registry(), page, &identity)?;
                if let Some(warning) = web.exposure_warning() {
                    warn!("{warning}");
                }
                web.serve_share(crate::web::share::Share {
                    dir: config.share.clone(),
                    max_upload: config.web_max_upload,
                });
                Some(web)
            }
            None => None,
        };
        if let Some(w) = &web {
            output.event(&w.announcement());
        }
        let published = PublishedList::load(&config.share)?;
        let share_dir = sys::open_dir(&config.share)?;
        let hashes: HashSet<&str> = published.iter().map(|p| p.hash.as_str()).collect();
        match outboards::sweep(&share_dir, &config.share, &|h| hashes.contains(h)) {
            Ok(0) => {}
            Ok(n) => debug!("removed {n} outboard(s) no publication needs"),
            Err(e) => warn!("sweeping the outboards: {e}"),
        }
        let session = Session::new(
            SessionConfig {
                serve: config.serve || config.web.is_some(),
                reconnect_for: config.reconnect_for,
                peer_port: peer_addr.port(),
                interactive,
                max_uploads: config.max_uploads,
                sources: config.sources,
                plaintext: config.insecure_plaintext,
                fingerprint: identity.fingerprint(),
                reconnect_seed: rand_core::RngCore::next_u64(&mut rand_core::OsRng),
            },
            published,
            Partials::load(&config.share),
        );
        let peer_tls = PeerTls::new(&identity, config.insecure_plaintext)?;
        Ok(Client {
            share_dir,
            share: config.share.clone(),
            identity,
            hub_trust,
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
            progress: progress_events::ProgressEvents::new(config.progress_events),
            tty,
            input_ended: false,
            hub_ready: false,
            scans: Vec::new(),
            prepared: HashMap::new(),
            peer_addrs: PerAddress::new(config.peer_max_per_address),
            peer_tls,
            used_tickets: UsedTickets::default(),
            web,
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
            self.settle();
            if let Some(code) = self.exit {
                return Ok(code);
            }
            self.flush_hub();
            self.arm_transfer_timers(Instant::now());
            let timeout = self.poll_timeout(Instant::now());
            if !net::poll_events(&mut self.poll, &mut events, timeout)? {
                continue;
            }
            let now = Instant::now();
            for event in events.iter() {
                self.dispatch(event.token(), event.is_writable(), now);
            }
            self.free_closed();
            self.run_ready(now);
            self.web_turn(now);
            self.run_timers(now);
            self.hash_turn(now);
            self.scan_turn(now);
        }
    }

    /// Carry out what the session asked for until it asks for nothing more, then show it.
    fn settle(&mut self) {
        self.apply_actions();
        self.recheck_parked();
        self.apply_actions();
        // A `wait` is answered only after the results printed above.
        self.session.settle_waits(Instant::now(), &mut self.actions);
        self.apply_actions();
        self.show();
    }

    /// The nearest deadline, or zero while work is waiting to run.
    fn poll_timeout(&self, now: Instant) -> Option<Duration> {
        let timeout = self.timers.timeout(now);
        if self.input_always_ready()
            || !self.hashing.is_empty()
            || !self.scans.is_empty()
            || !self.ready.is_empty()
            || self.hub_ready
            || self.web_busy()
        {
            return min_timeout(timeout, Some(Duration::ZERO));
        }
        let web = self
            .web_deadline()
            .map(|at| at.saturating_duration_since(now));
        min_timeout(timeout, web)
    }

    /// Stdin (or the terminal) is a file read directly, never reported by the poll.
    fn input_always_ready(&self) -> bool {
        self.stdin.as_ref().is_some_and(StdinLines::always_ready)
            || self.tty.as_ref().is_some_and(Terminal::always_ready)
    }

    fn dispatch(&mut self, token: mio::Token, writable: bool, now: Instant) {
        match token {
            tokens::HUB => self.hub_event(writable, now),
            tokens::STDIN => self.read_input(now),
            tokens::SIGNALS => self.signalled(now),
            tokens::LISTENER => self.accept_peers(now),
            token if self.web_owns(token) => self.web_event(token, now),
            token => {
                if let Some(key) = crate::net::conn_key(token) {
                    self.run_transfer(key, now);
                }
            }
        }
    }

    fn signalled(&mut self, now: Instant) {
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

    /// What stopped at its budget last turn or never raises an event: the hub link,
    /// directly read input, and the transfers on the ready list.
    fn run_ready(&mut self, now: Instant) {
        if std::mem::take(&mut self.hub_ready) {
            self.hub_event(false, now);
        }
        if self.input_always_ready() {
            self.read_input(now);
        }
        let mut ready = std::mem::take(&mut self.ready);
        ready.sort_unstable();
        ready.dedup();
        for key in ready {
            self.run_transfer(key, now);
        }
        self.free_closed();
    }

    fn run_timers(&mut self, now: Instant) {
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
                Tick::Progress => self.report_progress(now),
            }
        }
        self.free_closed();
        if session_due {
            self.session.on_timer(now, &mut self.actions);
        }
    }
}
