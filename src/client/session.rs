//! The peer's conversation with the hub as a pure state machine: typed commands and hub
//! messages go in; frames to send, lines to print, connects and deadlines come out.
//!
//! This file holds the types; each feature is a room below with its own `impl Session`:
//! `input` (typed lines), `request` and `reply` (requests out, replies in), `render`
//! (reply bodies), `messages` (what the hub sends unasked), `link` (connect, reconnect),
//! `fetch`, `cancel`, `publish`, `serve` (answering peers), `store` (with `store_name` and `store_check`), `wait`,
//! `leaving` and `status`.

mod cancel;
mod fetch;
mod input;
mod leaving;
mod link;
mod messages;
mod publish;
mod render;
mod reply;
mod request;
mod serve;
mod status;
mod store;
mod store_check;
mod store_name;
#[cfg(test)]
mod tests;
mod wait;

use crate::client::partials::Partials;
use crate::client::published::{Publication, PublishedList};
use crate::output::{CommandResult, Event};
use crate::proto::message::{Hash, Holder, StoreKind, StoreToken};
use crate::transfer::download::DownloadSpec;
use crate::transfer::swarm::SwarmSpec;
use crate::transfer::tree::Totals;
use crate::trust::{Fingerprint, HubKey};
use request::RequestKind;
pub use serve::{peer_refusal, OnDisk, PeerRequest, Serving};
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

/// Settings of the session.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// Keep serving (and reconnecting) after end of input.
    pub serve: bool,
    /// Give up reconnecting after this long (ignored with `serve`).
    pub reconnect_for: Duration,
    /// The peer listener's port, announced at login.
    pub peer_port: u16,
    /// stdin and stdout are terminals (and not `--json`): ask which holder to fetch from.
    pub interactive: bool,
    /// Uploads at once, counted once a request is valid; the next peer gets 503.
    pub max_uploads: usize,
    /// Most holders a `fetch` takes a file from, unless it says `--sources`.
    pub sources: usize,
    /// Peer connections are plaintext (`--insecure-plaintext`): a fetch from one holder
    /// takes the raw `Get` fast path (spliced, hashed whole at the end).
    pub plaintext: bool,
    /// The fingerprint of this client's key (its certificate to peers), announced at login.
    pub fingerprint: Fingerprint,
    /// Where the spread of reconnect delays starts (the loop draws it from the
    /// operating system, so clients that lose one hub together do not come back in
    /// step; a test fixes it).
    pub reconnect_seed: u64,
}

/// What the loop must do.
#[derive(Debug, PartialEq)]
pub enum Action {
    /// Queue a frame to the hub.
    Send(Vec<u8>),
    /// Open a new connection to the hub (the old one, if any, is gone).
    Connect,
    /// Close the hub connection (we are leaving).
    Disconnect,
    /// Print a command's result.
    Result(CommandResult),
    /// Print an event.
    Event(Event),
    /// Call [`Session::on_timer`] at this instant.
    Arm(Instant),
    /// Exit the process with this code.
    Exit(i32),
    /// Hash the local file `local` (resolved beneath the share dir), then call
    /// [`Session::on_hashed`] with `job`.
    Hash { job: u64, local: String },
    /// Look at every publication's file, then call [`Session::on_looked`].
    CheckPublished,
    /// Write the publication list to the share dir.
    SavePublished,
    /// Start a download; report its end with [`Session::on_download_done`].
    StartDownload(DownloadSpec),
    /// Start this download from several holders, each group verified as it arrives.
    StartSwarm(SwarmSpec),
    /// Stop this download at once (its partial file stays); its result was given.
    CancelDownload(u64),
    /// Print the `transfers` result of input line `id` (the loop knows the transfers).
    ListTransfers(u64),
    /// Print this `status` result once the loop added the hub's address and the
    /// transfers in flight (`hub`, `transfers`).
    Status(CommandResult),
    /// Write the record of partial downloads to the share dir.
    SavePartials,
    /// Find the store name an upload of `path` (relative to the working directory) goes
    /// under (`name`, or the path's own name) without reading beneath it, then call
    /// [`Session::on_named`] with `job`.
    NameUpload {
        job: u64,
        path: String,
        name: Option<String>,
    },
    /// Walk `path` (relative to the working directory) for an upload as `name` (default:
    /// its own name) a bounded slice per turn, keep it, then call [`Session::on_scanned`]
    /// with `job`; [`Action::DropStoreJob`] or [`Action::CancelStore`] stops the walk.
    ScanUpload {
        job: u64,
        path: String,
        name: Option<String>,
    },
    /// Upload the tree kept for `job` on a store connection redeeming `token`; report
    /// its end with [`Session::on_store_done`].
    StartStoreUpload { job: u64, token: StoreToken },
    /// Download store entry `name` into `dest` (relative to the working directory) on a
    /// store connection redeeming `token`; report with [`Session::on_store_done`].
    StartStoreDownload {
        job: u64,
        token: StoreToken,
        name: String,
        dest: String,
        /// No destination was typed: `dest` (the entry's name) goes in the share dir.
        in_share: bool,
        kind: StoreKind,
        totals: Totals,
    },
    /// Forget the tree kept for `job` (its upload was refused or cancelled).
    DropStoreJob(u64),
    /// Stop the store transfer of `job` at once (its result was given).
    CancelStore(u64),
}

/// A tree walked for an upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scanned {
    /// The store name it goes under.
    pub name: String,
    pub kind: StoreKind,
    pub totals: Totals,
    /// The largest file's size.
    pub largest: u64,
    /// What was left out, and why (symlinks, special files, names the store refuses).
    pub skipped: Vec<(String, String)>,
}

/// How a store transfer ended well.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreDone {
    pub name: String,
    /// Where a download landed.
    pub path: Option<PathBuf>,
    pub files: u64,
    pub bytes: u64,
    /// The hub's closing message (uploads).
    pub message: String,
    /// An upload's tree digest (`transfer::tree::tree_digest`), once everything was sent.
    pub digest: Option<Hash>,
    /// Everything was sent but the connection broke before the hub's verdict (why): the
    /// session asks the hub whether it stored the upload before it reports.
    pub lost: Option<String>,
}

/// A store `upload` or `download` in progress.
#[derive(Debug, Clone)]
struct StoreJob {
    /// The input line.
    id: u64,
    /// The store name (an upload's is known once its tree was walked).
    name: String,
    /// Download destination as typed.
    dest: Option<String>,
    /// No destination was typed: `dest` is the name, in the share dir.
    in_share: bool,
    upload: bool,
    replace: bool,
    /// An upload whose verdict was lost, waiting for the hub to say what it holds.
    verify: Option<store_check::Verify>,
}

/// A file hashed by the loop for the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hashed {
    /// Path relative to the share dir.
    pub path: String,
    pub size: u64,
    pub hash: Hash,
    pub modified: SystemTime,
}

/// Why a file is being hashed.
#[derive(Debug, Clone)]
enum HashFor {
    /// `publish` typed on line `id`.
    Publish { id: u64, name: String },
    /// A publication that changed on disk: re-announce it.
    Refresh { name: String },
}

/// What to do when a reply arrives, beyond printing it.
#[derive(Debug, Clone)]
enum Then {
    Nothing,
    /// Remember these credentials on success.
    Login(String, String),
    /// Remember this new password on success.
    Passwd(String),
    /// Add this publication to the list on success.
    Publish(Publication),
    /// Drop this name from the list (done or unknown at the hub).
    Unpublish(String),
    /// A `fetch` waiting for its lookup.
    Fetch(FetchReq),
    /// A store `upload` or `download` waiting for its ticket.
    Store(u64),
    /// An upload of `path` waiting for the hub to say whether its name is free, before
    /// the tree is walked.
    StoreName {
        job: u64,
        path: String,
    },
    /// An upload whose verdict was lost, waiting for the store listing.
    StoreCheck(u64),
}

/// What a reconnect logs back in with: the account, the password typed in this run, and
/// the resume token the hub gave at login, tried first so that the hub spends no hash on
/// it (kept in memory only, never shown or logged).
#[derive(Clone)]
struct Credentials {
    user: String,
    password: String,
    token: Option<String>,
}

/// A `fetch` before its download starts.
#[derive(Debug, Clone)]
struct FetchReq {
    id: u64,
    name: String,
    dest: String,
    from: Option<String>,
    /// Most holders to take it from.
    sources: usize,
    /// `--sequential`: the verified prefix grows from the start.
    sequential: bool,
    /// This is the lookup again after every holder turned out to have changed content.
    retried: bool,
    /// `cancel` was typed while the lookup was out.
    cancelled: bool,
}

/// A holder-choice prompt waiting for the next line.
#[derive(Debug, Clone)]
struct Prompt {
    req: FetchReq,
    holders: Vec<Holder>,
    /// Indexes into `holders`, in the order shown (the first is the suggestion).
    order: Vec<usize>,
}

/// A download the loop is running.
#[derive(Debug, Clone)]
struct ActiveFetch {
    id: u64,
    name: String,
    dest: String,
    holder: String,
    /// The hash the hub announced for that holder (what a report names).
    hash: Hash,
    /// `--from`, as typed.
    from: Option<String>,
    /// `--sources` and `--sequential`, as given (for another holder, tried instead).
    sources: usize,
    sequential: bool,
    /// A holder turned out to serve other content than announced (its file changed),
    /// and whether this fetch is already the lookup made again for that.
    changed: bool,
    retried: bool,
    /// The other holders the lookup offered, tried when this one's listener turns out
    /// not to be its client.
    rest: Vec<Holder>,
}

/// The state of the link to the hub.
#[derive(Debug, Clone, PartialEq)]
enum Link {
    /// A connection is being made; hello is queued.
    Connecting,
    /// Welcome received: requests flow.
    Up,
    /// Lost; the next attempt is due at `retry_at`; `since` is when it was lost.
    Down {
        since: Instant,
        retry_at: Instant,
        backoff: Duration,
    },
}

/// Why the process is winding down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Leaving {
    /// `quit` typed on this line: exit once in-flight work is done, with a result.
    Quit { id: u64 },
    /// End of input without `--serve`.
    EndOfInput,
    /// SIGINT/SIGTERM: log out and exit at once.
    Signal,
}

/// A request waiting for the hub's reply.
#[derive(Debug, Clone)]
struct Pending {
    /// The input line (0 for the client's own requests).
    id: u64,
    kind: RequestKind,
    then: Then,
}

/// The client's session state.
pub struct Session {
    config: SessionConfig,
    link: Link,
    /// True once the hub was reached at least once.
    ever_up: bool,
    /// The account to log back in after a reconnect.
    credentials: Option<Credentials>,
    /// Why the hub refused the resume token of the reconnect under way (the password
    /// login that follows reports it).
    resume_refused: Option<String>,
    user: Option<String>,
    /// The user logged in now, or last (empty before the first login): what the peer
    /// listener answers as.
    known_as: String,
    /// Kicked or banned: do not log back in by ourselves.
    stay_out: bool,
    pending: HashMap<u32, Pending>,
    next_tag: u32,
    leaving: Option<Leaving>,
    leave_deadline: Option<Instant>,
    logout_sent: bool,
    input_done: bool,
    published: PublishedList,
    hashing: HashMap<u64, HashFor>,
    next_job: u64,
    partials: Partials,
    downloads: HashMap<u64, ActiveFetch>,
    next_download: u64,
    prompt: Option<Prompt>,
    store_jobs: HashMap<u64, StoreJob>,
    next_store_job: u64,
    /// Logins out, plus a successful one whose first `Sync` is not sent yet. While
    /// non-zero, `Publish` and `Unpublish` frames wait in `held`: the hub applies
    /// requests in order and that `Sync` replaces the whole list, so a publication
    /// change sent before it would be wiped by it (see PROTOCOL.md, `Sync`).
    sync_gate: u32,
    /// Publication changes waiting for the login's `Sync`, in the order made.
    held: Vec<Vec<u8>>,
    /// A `wait` and the lines held behind it.
    waiting: wait::Waiting,
    /// The key the hub's certificate showed on this link's TLS session (`None` on a
    /// plaintext link): the key of the `Welcome` must be the same.
    link_key: Option<Fingerprint>,
    /// The hub's public key from the latest usable `Welcome`: it checks the fetch
    /// tickets peers bring (kept while the hub is away, so this client still serves).
    hub_key: Option<HubKey>,
    /// The state of the reconnect delays' spread (splitmix64).
    jitter: u64,
}

impl Session {
    /// A session about to connect (the loop connects at start).
    pub fn new(config: SessionConfig, published: PublishedList, partials: Partials) -> Session {
        let jitter = config.reconnect_seed;
        Session {
            config,
            link: Link::Connecting,
            ever_up: false,
            credentials: None,
            resume_refused: None,
            user: None,
            known_as: String::new(),
            stay_out: false,
            pending: HashMap::new(),
            next_tag: 1,
            leaving: None,
            leave_deadline: None,
            logout_sent: false,
            input_done: false,
            published,
            hashing: HashMap::new(),
            next_job: 1,
            partials,
            downloads: HashMap::new(),
            next_download: 1,
            prompt: None,
            store_jobs: HashMap::new(),
            next_store_job: 1,
            sync_gate: 0,
            held: Vec::new(),
            waiting: wait::Waiting::default(),
            link_key: None,
            hub_key: None,
            jitter,
        }
    }

    /// The user logged in now, if any.
    pub fn user(&self) -> Option<&str> {
        self.user.as_deref()
    }

    /// The user logged in now, or last (empty before the first login): the peer
    /// listener names it in every answer, so a fetcher knows whose client it reached.
    pub fn known_as(&self) -> &str {
        &self.known_as
    }

    /// The record of partial downloads.
    pub fn partials(&self) -> &Partials {
        &self.partials
    }

    /// The publication list (the loop serves and checks from it).
    pub fn published(&self) -> &PublishedList {
        &self.published
    }

    /// Hashes no publication has any more since the last call: their outboards go.
    pub fn take_orphaned_outboards(&mut self) -> Vec<String> {
        self.published.take_orphaned()
    }

    /// The hub's key that checks fetch tickets, once a `Welcome` brought a usable one.
    pub fn hub_key(&self) -> Option<&HubKey> {
        self.hub_key.as_ref()
    }
}
