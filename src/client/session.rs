//! The peer's conversation with the hub as a pure state machine: typed commands and hub
//! messages go in; frames to send, lines to print, connects and deadlines come out.

mod leaving;
mod status;
mod store_check;
mod store_name;
mod wait;

use super::check;
use super::command::{self, Command};
use super::partials::{PartialRecord, Partials};
use super::published::{Publication, PublishedList};
use crate::output::{CommandResult, Event};
use crate::proto::message::{
    hash_hex, Body, ClientMsg, FileInfo, Hash, Holder, HubMsg, Role, StoreKind, StoreToken, VERSION,
};
use crate::proto::names;
use crate::proto::status::Status;
use crate::transfer::choose::{choose, Choice};
use crate::transfer::download::{DownloadSpec, Outcome, PartialFate};
use crate::transfer::human_size;
use crate::transfer::tree::Totals;
use log::{debug, info};
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::SystemTime;
use std::time::{Duration, Instant};

/// First reconnect delay; doubled after each failure up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// Publications per sync frame (each at most ~300 bytes: well inside a frame).
const SYNC_CHUNK: usize = 150;
/// The largest request payload sent: the hub's default `--max-frame`. Every field's own
/// limit (see `check.rs`) keeps a request far below it; this is the last guard.
const MAX_REQUEST_FRAME: usize = crate::proto::frame::DEFAULT_MAX_FRAME;
/// How long a leaving client waits for the hub to acknowledge its logout.
const LEAVE_GRACE: Duration = Duration::from_secs(2);

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
    /// Check every publication against the disk, then call [`Session::on_checked`].
    CheckPublished,
    /// Write the publication list to the share dir.
    SavePublished,
    /// Start a download; report its end with [`Session::on_download_done`].
    StartDownload(DownloadSpec),
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
    /// its own name), keep it, then call [`Session::on_scanned`] with `job`.
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

/// A `fetch` before its download starts.
#[derive(Debug, Clone)]
struct FetchReq {
    id: u64,
    name: String,
    dest: String,
    from: Option<String>,
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
    command: &'static str,
    then: Then,
}

/// The client's session state.
pub struct Session {
    config: SessionConfig,
    link: Link,
    /// True once the hub was reached at least once.
    ever_up: bool,
    /// The account to log back in after a reconnect.
    credentials: Option<(String, String)>,
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
}

impl Session {
    /// A session about to connect (the loop connects at start).
    pub fn new(config: SessionConfig, published: PublishedList, partials: Partials) -> Session {
        Session {
            config,
            link: Link::Connecting,
            ever_up: false,
            credentials: None,
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
        }
    }

    /// The hello every connection opens with.
    pub fn hello() -> Vec<u8> {
        let mut out = Vec::new();
        ClientMsg::Hello {
            version: VERSION,
            role: Role::Session,
        }
        .encode(&mut out);
        out
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

    fn tag(&mut self) -> u32 {
        let tag = self.next_tag;
        self.next_tag = self.next_tag.wrapping_add(1).max(1);
        tag
    }

    /// Send a request and remember who waits for it.
    fn request(
        &mut self,
        id: u64,
        command: &'static str,
        make: impl FnOnce(u32) -> ClientMsg,
        out: &mut Vec<Action>,
    ) {
        self.request_with(id, command, Then::Nothing, make, out)
    }

    fn request_with(
        &mut self,
        id: u64,
        command: &'static str,
        then: Then,
        make: impl FnOnce(u32) -> ClientMsg,
        out: &mut Vec<Action>,
    ) {
        if matches!(self.link, Link::Down { .. }) {
            out.push(Action::Result(CommandResult::new(
                id,
                command,
                false,
                Status::UNAVAILABLE.0,
                "not connected to the hub (reconnecting); try again shortly",
            )));
            return;
        }
        let tag = self.tag();
        let mut frame = Vec::new();
        let msg = make(tag);
        msg.encode(&mut frame);
        if frame.len() > MAX_REQUEST_FRAME + 4 {
            // The hub would end the connection over it (413): refuse it here instead.
            return self.refuse_oversized(id, command, then, frame.len() - 4, out);
        }
        self.pending.insert(tag, Pending { id, command, then });
        match msg {
            ClientMsg::Login { .. } => self.sync_gate += 1,
            ClientMsg::Publish { .. } | ClientMsg::Unpublish { .. } if self.sync_gate > 0 => {
                return self.held.push(frame);
            }
            _ => {}
        }
        out.push(Action::Send(frame));
    }

    /// A request too big for one frame, refused before it was sent.
    fn refuse_oversized(
        &mut self,
        id: u64,
        command: &'static str,
        then: Then,
        bytes: usize,
        out: &mut Vec<Action>,
    ) {
        if let Then::Store(job) | Then::StoreName { job, .. } = then {
            self.store_jobs.remove(&job);
            out.push(Action::DropStoreJob(job));
        }
        let text = format!(
            "the request is {bytes} bytes; the hub takes at most {MAX_REQUEST_FRAME} (nothing was sent)"
        );
        out.push(if id == 0 {
            Action::Event(Event::new("warning", text).field("status", Status::TOO_LARGE.0))
        } else {
            Action::Result(CommandResult::new(
                id,
                command,
                false,
                Status::TOO_LARGE.0,
                text,
            ))
        });
    }

    /// One reason to hold publication changes is gone; send them once none is left.
    fn open_sync_gate(&mut self, out: &mut Vec<Action>) {
        self.sync_gate = self.sync_gate.saturating_sub(1);
        if self.sync_gate == 0 {
            out.extend(self.held.drain(..).map(Action::Send));
        }
    }

    /// One typed line (`id` is its 1-based line number).
    pub fn on_line(&mut self, id: u64, line: &str, now: Instant, out: &mut Vec<Action>) {
        if let Some(prompt) = self.prompt.take() {
            if self.answer_prompt(prompt, line, out) {
                return;
            }
        }
        if self.hold_line(id, line) {
            return;
        }
        let command = match command::parse_line(line) {
            Ok(Some(command)) => command,
            Ok(None) => return,
            Err(e) => {
                let name = if e.command.is_empty() {
                    "?"
                } else {
                    e.command.as_str()
                };
                out.push(Action::Result(CommandResult::new(
                    id,
                    name,
                    false,
                    Status::BAD_REQUEST.0,
                    e.message,
                )));
                return;
            }
        };
        if self.leaving.is_some() {
            out.push(Action::Result(CommandResult::new(
                id,
                command.name(),
                false,
                Status::UNAVAILABLE.0,
                "the client is leaving",
            )));
            return;
        }
        self.on_command(id, command, now, out);
    }

    fn on_command(&mut self, id: u64, command: Command, now: Instant, out: &mut Vec<Action>) {
        let name = command.name();
        if let Err((status, text)) = check::check(&command) {
            return out.push(Action::Result(CommandResult::new(
                id, name, false, status.0, text,
            )));
        }
        match command {
            Command::Help => {
                let mut r = CommandResult::new(id, "help", true, 200, "commands:");
                for line in command::help_text().lines() {
                    r = r.line(line);
                }
                out.push(Action::Result(r));
            }
            Command::Register { user, password } => self.request(
                id,
                name,
                |tag| ClientMsg::Register {
                    tag,
                    user,
                    password,
                },
                out,
            ),
            Command::Login { user, password } => {
                let peer_port = self.config.peer_port;
                let creds = Then::Login(user.clone(), password.clone());
                self.request_with(
                    id,
                    name,
                    creds,
                    |tag| ClientMsg::Login {
                        tag,
                        user,
                        password,
                        peer_port,
                    },
                    out,
                )
            }
            Command::Logout => self.request(id, name, |tag| ClientMsg::Logout { tag }, out),
            Command::Passwd { old, new } => {
                let remember = Then::Passwd(new.clone());
                self.request_with(
                    id,
                    name,
                    remember,
                    |tag| ClientMsg::Passwd { tag, old, new },
                    out,
                )
            }
            Command::Users => self.request(id, name, |tag| ClientMsg::Users { tag }, out),
            Command::Say { text } => {
                self.request(id, name, |tag| ClientMsg::Say { tag, text }, out)
            }
            Command::Msg { user, text } => self.request(
                id,
                name,
                |tag| ClientMsg::Msg {
                    tag,
                    to: user,
                    text,
                },
                out,
            ),
            Command::Quit => {
                self.leaving = Some(Leaving::Quit { id });
                self.try_leave(now, out);
                self.say_why_not_yet(out);
            }
            Command::Publish { local, name: fname } => self.publish(id, &local, fname, out),
            Command::Unpublish { name: fname } => {
                let then = Then::Unpublish(fname.clone());
                self.request_with(
                    id,
                    name,
                    then,
                    |tag| ClientMsg::Unpublish { tag, name: fname },
                    out,
                )
            }
            Command::Shared => {
                let files: Vec<serde_json::Value> =
                    self.published.iter().map(Publication::json).collect();
                let mut r = CommandResult::new(
                    id,
                    name,
                    true,
                    200,
                    format!("{} file(s) published", files.len()),
                );
                for p in self.published.iter() {
                    r = r.line(format!(
                        "{}  {}  {}  ({})",
                        p.name,
                        human_size(p.size),
                        &p.hash[..16.min(p.hash.len())],
                        p.path
                    ));
                }
                out.push(Action::Result(r.field("files", files)));
            }
            Command::Search { text } => {
                self.request(id, name, |tag| ClientMsg::Search { tag, text }, out)
            }
            Command::Fetch {
                name: fname,
                from,
                as_name,
            } => self.fetch(id, fname, from, as_name, out),
            Command::Transfers => out.push(Action::ListTransfers(id)),
            Command::Cancel { name: fname } => self.cancel(id, &fname, out),
            Command::Upload {
                path,
                name: sname,
                replace,
            } => self.upload(id, path, sname, replace, out),
            Command::Download { name: sname, dest } => self.download(id, sname, dest, out),
            Command::Store => self.request(id, name, |tag| ClientMsg::StoreList { tag }, out),
            Command::Rm { name: sname } => self.store_rm(id, sname, out),
            Command::Wait => self.start_wait(id, now, out),
            Command::Status => out.push(Action::Status(self.status(id))),
        }
    }

    fn store_failed(id: u64, command: &str, status: Status, text: &str) -> Action {
        Action::Result(CommandResult::new(id, command, false, status.0, text))
    }

    fn upload(
        &mut self,
        id: u64,
        path: String,
        name: Option<String>,
        replace: bool,
        out: &mut Vec<Action>,
    ) {
        if let Some(n) = &name {
            if let Err(e) = names::check_file_name(n) {
                return out.push(Self::store_failed(id, "upload", Status::INVALID_NAME, &e.0));
            }
            if self.store_busy(n, true) {
                return out.push(Self::store_failed(
                    id,
                    "upload",
                    Status::NAME_TAKEN,
                    &format!("{n} is already being uploaded"),
                ));
            }
        }
        let job = self.next_store_job;
        self.next_store_job += 1;
        self.store_jobs.insert(
            job,
            StoreJob {
                id,
                name: name.clone().unwrap_or_default(),
                dest: None,
                in_share: false,
                upload: true,
                replace,
                verify: None,
            },
        );
        out.push(Action::NameUpload { job, path, name });
    }

    /// Whether an upload of (or a download into) `name` is under way.
    fn store_busy(&self, name: &str, upload: bool) -> bool {
        self.store_jobs.values().any(|j| {
            j.upload == upload
                && if upload {
                    j.name == name
                } else {
                    j.dest.as_deref() == Some(name)
                }
        })
    }

    /// The loop walked the tree of upload `job`.
    pub fn on_scanned(
        &mut self,
        job: u64,
        result: Result<Scanned, (Status, String)>,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        let Some(j) = self.store_jobs.get(&job).cloned() else {
            // Cancelled meanwhile.
            return out.push(Action::DropStoreJob(job));
        };
        let scanned = match result {
            Ok(s) => s,
            Err((status, text)) => {
                self.store_jobs.remove(&job);
                out.push(Action::DropStoreJob(job));
                out.push(Self::store_failed(j.id, "upload", status, &text));
                return self.try_leave(now, out);
            }
        };
        for (path, why) in &scanned.skipped {
            out.push(Action::Event(
                Event::new("skipped", format!("skipped {path}: {why}"))
                    .field("path", path.as_str())
                    .field("reason", why.as_str()),
            ));
        }
        let duplicate = self
            .store_jobs
            .iter()
            .any(|(k, o)| *k != job && o.upload && o.name == scanned.name);
        if duplicate || matches!(self.link, Link::Down { .. }) {
            self.store_jobs.remove(&job);
            out.push(Action::DropStoreJob(job));
            let (status, text) = if duplicate {
                (
                    Status::NAME_TAKEN,
                    format!("{} is already being uploaded", scanned.name),
                )
            } else {
                (
                    Status::UNAVAILABLE,
                    "not connected to the hub (reconnecting); try again shortly".to_owned(),
                )
            };
            out.push(Self::store_failed(j.id, "upload", status, &text));
            return self.try_leave(now, out);
        }
        if let Some(entry) = self.store_jobs.get_mut(&job) {
            entry.name = scanned.name.clone();
        }
        let t = scanned.totals;
        let (name, kind, largest, replace) =
            (scanned.name, scanned.kind, scanned.largest, j.replace);
        self.request_with(
            j.id,
            "upload",
            Then::Store(job),
            |tag| ClientMsg::StorePut {
                tag,
                name,
                replace,
                kind,
                files: t.files,
                dirs: t.dirs,
                bytes: t.bytes,
                largest,
            },
            out,
        );
    }

    fn download(&mut self, id: u64, name: String, dest: Option<String>, out: &mut Vec<Action>) {
        if let Err(e) = names::check_file_name(&name) {
            return out.push(Self::store_failed(
                id,
                "download",
                Status::INVALID_NAME,
                &e.0,
            ));
        }
        let in_share = dest.is_none();
        let dest = dest.unwrap_or_else(|| name.clone());
        if dest.is_empty() {
            return out.push(Self::store_failed(
                id,
                "download",
                Status::BAD_REQUEST,
                "the destination is empty",
            ));
        }
        if self.store_busy(&dest, false) {
            return out.push(Self::store_failed(
                id,
                "download",
                Status::NAME_TAKEN,
                &format!("{dest} is already being downloaded"),
            ));
        }
        if matches!(self.link, Link::Down { .. }) {
            return out.push(Self::store_failed(
                id,
                "download",
                Status::UNAVAILABLE,
                "not connected to the hub (reconnecting); try again shortly",
            ));
        }
        let job = self.next_store_job;
        self.next_store_job += 1;
        self.store_jobs.insert(
            job,
            StoreJob {
                id,
                name: name.clone(),
                dest: Some(dest),
                in_share,
                upload: false,
                replace: false,
                verify: None,
            },
        );
        self.request_with(
            id,
            "download",
            Then::Store(job),
            |tag| ClientMsg::StoreGet { tag, name },
            out,
        );
    }

    /// The hub answered a store ticket request.
    fn on_store_reply(
        &mut self,
        job: u64,
        status: Status,
        message: String,
        body: Body,
        out: &mut Vec<Action>,
    ) {
        let Some(j) = self.store_jobs.get(&job).cloned() else {
            // Cancelled while the request was out.
            return out.push(Action::DropStoreJob(job));
        };
        let command = if j.upload { "upload" } else { "download" };
        match (status, body) {
            (
                Status::OK,
                Body::Ticket {
                    token,
                    kind,
                    files,
                    bytes,
                },
            ) => {
                if j.upload {
                    out.push(Action::StartStoreUpload { job, token });
                } else {
                    out.push(Action::StartStoreDownload {
                        job,
                        token,
                        name: j.name.clone(),
                        dest: j.dest.clone().unwrap_or_else(|| j.name.clone()),
                        in_share: j.in_share,
                        kind,
                        totals: Totals {
                            files,
                            dirs: 0,
                            bytes,
                        },
                    });
                }
            }
            (status, body) => {
                self.store_jobs.remove(&job);
                out.push(Action::DropStoreJob(job));
                let status = if status.is_success() {
                    Status::INTERNAL
                } else {
                    status
                };
                let mut r = CommandResult::new(j.id, command, false, status.0, message)
                    .field("name", j.name.as_str());
                if let Body::RetryAfter(secs) = body {
                    r = r.field("retry_after", secs);
                }
                out.push(Action::Result(r));
            }
        }
    }

    /// A store transfer started with [`Action::StartStoreUpload`] or
    /// [`Action::StartStoreDownload`] ended.
    pub fn on_store_done(
        &mut self,
        job: u64,
        result: Result<StoreDone, (Status, String)>,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        let Some(j) = self.store_jobs.remove(&job) else {
            return;
        };
        let result = match result {
            Ok(done) if j.upload && done.lost.is_some() => {
                return self.await_store_check(job, j, done, now, out);
            }
            other => other,
        };
        let command = if j.upload { "upload" } else { "download" };
        let r = match result {
            Ok(done) => {
                let what = crate::transfer::files_and_size(done.files, done.bytes);
                let (status, text) = if j.upload {
                    (Status::OK, format!("uploaded {} ({what})", done.name))
                } else {
                    let path = done
                        .path
                        .as_ref()
                        .map(|p| p.display().to_string())
                        .unwrap_or_default();
                    (
                        Status::DOWNLOADED,
                        format!("downloaded {} into {path} ({what}), verified", done.name),
                    )
                };
                let mut r = CommandResult::new(j.id, command, true, status.0, text)
                    .field("name", done.name.as_str())
                    .field("files", done.files)
                    .field("bytes", done.bytes);
                if let Some(path) = &done.path {
                    r = r.field("path", path.to_string_lossy().into_owned());
                }
                r
            }
            Err((status, text)) => CommandResult::new(j.id, command, false, status.0, text)
                .field("name", j.name.as_str()),
        };
        out.push(Action::Result(r));
        self.try_leave(now, out);
    }

    fn fetch(
        &mut self,
        id: u64,
        name: String,
        from: Option<String>,
        as_name: Option<String>,
        out: &mut Vec<Action>,
    ) {
        let fail = |status: Status, text: &str| fetch_failed(id, status, text);
        if let Err(e) = names::check_file_name(&name) {
            return out.push(fail(Status::INVALID_NAME, &e.0));
        }
        let dest = as_name.unwrap_or_else(|| name.clone());
        if let Err(e) = names::check_published_name(&dest) {
            return out.push(fail(Status::INVALID_NAME, &e.0));
        }
        if let Some(f) = &from {
            if let Err(e) = names::check_user(f) {
                return out.push(fail(Status::INVALID_NAME, &e.0));
            }
            if self.user.as_deref() == Some(f.as_str()) {
                return out.push(fail(Status::BAD_REQUEST, "you cannot fetch from yourself"));
            }
        }
        if self.fetching(&dest) {
            return out.push(fail(
                Status::NAME_TAKEN,
                &format!("{dest} is already being fetched"),
            ));
        }
        let req = FetchReq {
            id,
            name: name.clone(),
            dest,
            from,
            cancelled: false,
        };
        self.request_with(
            id,
            "fetch",
            Then::Fetch(req),
            |tag| ClientMsg::Lookup { tag, name },
            out,
        );
    }

    /// Whether a fetch into `dest` is under way (lookup, prompt or download).
    fn fetching(&self, dest: &str) -> bool {
        self.downloads.values().any(|d| d.dest == dest)
            || self.prompt.as_ref().is_some_and(|p| p.req.dest == dest)
            || self
                .pending
                .values()
                .any(|p| matches!(&p.then, Then::Fetch(r) if r.dest == dest))
    }

    /// Downloads running from `user`.
    fn busy_with(&self, user: &str) -> usize {
        self.downloads.values().filter(|d| d.holder == user).count()
    }

    fn on_lookup(
        &mut self,
        req: FetchReq,
        status: Status,
        message: String,
        body: Body,
        out: &mut Vec<Action>,
    ) {
        if req.cancelled {
            return out.push(fetch_failed(req.id, Status::BAD_REQUEST, "cancelled"));
        }
        if status != Status::FOUND {
            return out.push(fetch_failed(req.id, status, &message));
        }
        let holders = match body {
            Body::Holders(h) => h,
            _ => Vec::new(),
        };
        let partial = self.partials.get(&req.dest).and_then(|r| r.hash_bytes());
        let choice = choose(
            &req.name,
            &holders,
            self.user.as_deref(),
            req.from.as_deref(),
            |u| self.busy_with(u),
            partial.as_ref(),
            self.config.interactive,
        );
        match choice {
            Err((status, text)) => out.push(fetch_failed(req.id, status, &text)),
            Ok(Choice::One(i)) => match holders.get(i) {
                Some(h) => {
                    let h = h.clone();
                    self.start_download(req, h, out)
                }
                None => out.push(fetch_failed(req.id, Status::INTERNAL, "no holder")),
            },
            Ok(Choice::Ask { order }) => {
                let mut text = format!(
                    "{} holders of {}; type a number to choose one (Enter takes 1):",
                    order.len(),
                    req.name
                );
                for (n, h) in order.iter().filter_map(|&i| holders.get(i)).enumerate() {
                    let hex = hash_hex(&h.hash);
                    let busy = self.busy_with(&h.user);
                    text.push_str(&format!(
                        "\n  {}) {}  {}  {}  {}  {} download(s) running{}",
                        n + 1,
                        h.user,
                        h.addr,
                        human_size(h.size),
                        hex.get(..16).unwrap_or(&hex),
                        busy,
                        if n == 0 { "  (suggested)" } else { "" }
                    ));
                }
                out.push(Action::Event(
                    Event::new("choose", text).field("name", req.name.as_str()),
                ));
                self.prompt = Some(Prompt {
                    req,
                    holders,
                    order,
                });
            }
        }
    }

    /// A line typed while a holder-choice prompt is open: true if it answered it (a
    /// choice, or a question asked again). A line that parses as a command — a known
    /// command word, even with a usage error — cancels the choice (400) and is left to
    /// run; a number out of range or any other line asks again.
    fn answer_prompt(&mut self, prompt: Prompt, line: &str, out: &mut Vec<Action>) -> bool {
        let answer = line.trim();
        let pick = if answer.is_empty() {
            Some(0)
        } else {
            answer.parse::<usize>().ok().map(|n| n.wrapping_sub(1))
        };
        if let Some(k) = pick {
            let holder = prompt
                .order
                .get(k)
                .and_then(|&i| prompt.holders.get(i))
                .cloned();
            if let Some(h) = holder {
                self.start_download(prompt.req, h, out);
            } else {
                self.ask_again(prompt, out);
            }
            return true;
        }
        let is_command = match command::parse_line(line) {
            Ok(parsed) => parsed.is_some(),
            Err(e) => command::usage(&e.command).is_some(),
        };
        if !is_command {
            self.ask_again(prompt, out);
            return true;
        }
        out.push(fetch_failed(
            prompt.req.id,
            Status::BAD_REQUEST,
            "no holder chosen: the choice was cancelled",
        ));
        false
    }

    /// Keep the prompt open and say what it takes.
    fn ask_again(&mut self, prompt: Prompt, out: &mut Vec<Action>) {
        let text = format!(
            "choose 1\u{2013}{}, Enter for the suggestion",
            prompt.order.len()
        );
        out.push(Action::Event(
            Event::new("choose", text).field("name", prompt.req.name.as_str()),
        ));
        self.prompt = Some(prompt);
    }

    fn start_download(&mut self, req: FetchReq, holder: Holder, out: &mut Vec<Action>) {
        let job = self.next_download;
        self.next_download += 1;
        let resume = self
            .partials
            .get(&req.dest)
            .is_some_and(|r| r.is_for(holder.size, &holder.hash));
        self.partials.insert(PartialRecord::new(
            &req.dest,
            &req.name,
            holder.size,
            &holder.hash,
        ));
        out.push(Action::SavePartials);
        debug!(
            "fetching {} from {} at {} into {}",
            req.name, holder.user, holder.addr, req.dest
        );
        self.downloads.insert(
            job,
            ActiveFetch {
                id: req.id,
                name: req.name.clone(),
                dest: req.dest.clone(),
                holder: holder.user.clone(),
                hash: holder.hash,
            },
        );
        out.push(Action::StartDownload(DownloadSpec {
            job,
            name: req.name,
            dest: req.dest,
            holder,
            resume,
            me: self.user.clone().unwrap_or_default(),
        }));
    }

    /// A download started with [`Action::StartDownload`] ended.
    pub fn on_download_done(
        &mut self,
        job: u64,
        outcome: Outcome,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        let Some(f) = self.downloads.remove(&job) else {
            return;
        };
        match outcome {
            Outcome::Done {
                path,
                received,
                resumed,
                size,
                hash,
                already,
            } => {
                if self.partials.remove(&f.dest) {
                    out.push(Action::SavePartials);
                }
                // `fetch … --as NAME` says the new name.
                let shown = if f.dest == f.name {
                    f.name.clone()
                } else {
                    format!("{} as {}", f.name, f.dest)
                };
                let text = if already {
                    format!("{} is already here with the same content", f.dest)
                } else if resumed > 0 {
                    format!(
                        "fetched {} from {} ({}, {} received, resumed at {}), verified",
                        shown,
                        f.holder,
                        human_size(size),
                        human_size(received),
                        human_size(resumed)
                    )
                } else {
                    format!(
                        "fetched {} from {} ({}), verified",
                        shown,
                        f.holder,
                        human_size(size)
                    )
                };
                let mut r = CommandResult::new(f.id, "fetch", true, Status::DOWNLOADED.0, text)
                    .field("path", path.to_string_lossy().into_owned())
                    // The file now on disk (verified: its size), whatever this call moved.
                    .field("bytes", size)
                    .field("received", received)
                    .field("from", f.holder.as_str())
                    .field("hash", hash_hex(&hash))
                    .field("name", f.name.as_str())
                    .field("size", size)
                    .field("resumed", resumed);
                if resumed > 0 {
                    r = r.field("resumed_at", resumed);
                }
                if already {
                    r = r.field("already", true);
                }
                if f.dest != f.name {
                    r = r.field("as", f.dest.as_str());
                }
                out.push(Action::Result(r));
            }
            Outcome::Failed {
                status,
                message,
                report,
                partial,
                size,
                hash,
            } => {
                match partial {
                    PartialFate::Kept(n) if n > 0 => {
                        self.partials
                            .insert(PartialRecord::new(&f.dest, &f.name, size, &hash));
                    }
                    _ => {
                        self.partials.remove(&f.dest);
                    }
                }
                out.push(Action::SavePartials);
                if report {
                    let (holder, name, hash) = (f.holder.clone(), f.name.clone(), f.hash);
                    self.request(
                        0,
                        "report",
                        |tag| ClientMsg::Report {
                            tag,
                            holder,
                            name,
                            hash,
                        },
                        out,
                    );
                }
                out.push(Action::Result(
                    CommandResult::new(f.id, "fetch", false, status.0, message)
                        .field("from", f.holder.as_str())
                        .field("name", f.name.as_str()),
                ));
            }
        }
        self.try_leave(now, out);
    }

    fn cancel(&mut self, id: u64, name: &str, out: &mut Vec<Action>) {
        let mut jobs: Vec<u64> = self
            .downloads
            .iter()
            .filter(|(_, d)| d.name == name || d.dest == name)
            .map(|(job, _)| *job)
            .collect();
        jobs.sort_unstable();
        let mut stopped = 0;
        for job in jobs {
            if let Some(d) = self.downloads.remove(&job) {
                stopped += 1;
                out.push(Action::CancelDownload(job));
                out.push(fetch_failed(
                    d.id,
                    Status::BAD_REQUEST,
                    &format!(
                        "cancelled; the partial file of {} is kept: fetch again to resume",
                        d.dest
                    ),
                ));
            }
        }
        for p in self.pending.values_mut() {
            if let Then::Fetch(r) = &mut p.then {
                if (r.name == name || r.dest == name) && !r.cancelled {
                    r.cancelled = true;
                    stopped += 1;
                }
            }
        }
        let mut store: Vec<u64> = self
            .store_jobs
            .iter()
            .filter(|(_, j)| j.name == name || j.dest.as_deref() == Some(name))
            .map(|(job, _)| *job)
            .collect();
        store.sort_unstable();
        for job in store {
            if let Some(j) = self.store_jobs.remove(&job) {
                stopped += 1;
                out.push(Action::CancelStore(job));
                let (command, left) = if j.upload {
                    ("upload", "nothing was stored")
                } else {
                    ("download", "nothing was written to the destination")
                };
                out.push(Action::Result(
                    CommandResult::new(
                        j.id,
                        command,
                        false,
                        Status::BAD_REQUEST.0,
                        format!("cancelled; {left}"),
                    )
                    .field("name", j.name.as_str()),
                ));
            }
        }
        out.push(Action::Result(if stopped > 0 {
            CommandResult::new(
                id,
                "cancel",
                true,
                Status::OK.0,
                format!("cancelled the transfer of {name}"),
            )
        } else {
            CommandResult::new(
                id,
                "cancel",
                false,
                Status::NO_FILE.0,
                format!("no fetch, upload or download of {name} is in progress"),
            )
        }));
    }

    /// Whether `name` is being hashed again or re-announced now.
    pub fn refreshing(&self, name: &str) -> bool {
        self.hashing
            .values()
            .any(|h| matches!(h, HashFor::Refresh { name: n } if n == name))
            || self.pending.values().any(|p| {
                p.command == "refresh" && matches!(&p.then, Then::Publish(pb) if pb.name == name)
            })
    }

    /// Hash the publication `name` again and re-announce it (its file changed on disk).
    pub fn refresh(&mut self, name: &str, out: &mut Vec<Action>) {
        if self.refreshing(name) {
            return;
        }
        if let Some(p) = self.published.get(name) {
            let path = p.path.clone();
            info!("{name} changed on disk: hashing it again before serving it");
            self.start_hash(
                HashFor::Refresh {
                    name: name.to_owned(),
                },
                &path,
                out,
            );
        }
    }

    fn publish(&mut self, id: u64, local: &str, fname: Option<String>, out: &mut Vec<Action>) {
        let fail = |status: Status, text: String| {
            Action::Result(CommandResult::new(id, "publish", false, status.0, text))
        };
        let name = match fname {
            Some(name) => name,
            None => std::path::Path::new(local)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        };
        if let Err(e) = names::check_published_name(&name) {
            return out.push(fail(Status::INVALID_NAME, e.to_string()));
        }
        if let Some(own) = reserved_component(local) {
            return out.push(fail(Status::INVALID_NAME, own));
        }
        if self
            .hashing
            .values()
            .any(|h| matches!(h, HashFor::Publish { name: n, .. } if *n == name))
        {
            return out.push(fail(
                Status::NAME_TAKEN,
                format!("{name} is already being published"),
            ));
        }
        self.start_hash(HashFor::Publish { id, name }, local, out);
    }

    fn start_hash(&mut self, purpose: HashFor, local: &str, out: &mut Vec<Action>) {
        let job = self.next_job;
        self.next_job += 1;
        self.hashing.insert(job, purpose);
        out.push(Action::Hash {
            job,
            local: local.to_owned(),
        });
    }

    /// The loop finished hashing for `job` (or could not).
    pub fn on_hashed(
        &mut self,
        job: u64,
        result: Result<Hashed, (Status, String)>,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        let Some(purpose) = self.hashing.remove(&job) else {
            return;
        };
        match (purpose, result) {
            (HashFor::Publish { id, .. }, Err((status, text))) => out.push(Action::Result(
                CommandResult::new(id, "publish", false, status.0, text),
            )),
            (HashFor::Refresh { name }, Err((_, text))) => {
                self.withdraw(&name, &text, out);
            }
            (HashFor::Publish { id, .. }, Ok(hashed))
                if reserved_component(&hashed.path).is_some() =>
            {
                // A link to one of the client's own files, seen once resolved.
                let text = reserved_component(&hashed.path).unwrap_or_default();
                out.push(Action::Result(CommandResult::new(
                    id,
                    "publish",
                    false,
                    Status::INVALID_NAME.0,
                    text,
                )));
            }
            (HashFor::Publish { id, name }, Ok(hashed)) => {
                if self
                    .published
                    .get(&name)
                    .is_some_and(|p| p.hash != hash_hex(&hashed.hash))
                {
                    let text = format!(
                        "you already publish a different file as {name}; unpublish it first"
                    );
                    out.push(Action::Result(CommandResult::new(
                        id,
                        "publish",
                        false,
                        Status::NAME_TAKEN.0,
                        text,
                    )));
                } else {
                    self.announce(id, "publish", &name, &hashed, false, out);
                }
            }
            (HashFor::Refresh { name }, Ok(hashed)) => {
                if self.user.is_some() && self.link == Link::Up {
                    self.announce(0, "refresh", &name, &hashed, true, out)
                } else {
                    // Nobody to tell now: the list changes here, and the next login's
                    // sync announces it.
                    self.published.insert(Publication::new(
                        &name,
                        &hashed.path,
                        hashed.size,
                        &hashed.hash,
                        hashed.modified,
                    ));
                    out.push(Action::SavePublished);
                }
            }
        }
        self.try_leave(now, out);
    }

    fn announce(
        &mut self,
        id: u64,
        command: &'static str,
        name: &str,
        hashed: &Hashed,
        replace: bool,
        out: &mut Vec<Action>,
    ) {
        let publication = Publication::new(
            name,
            &hashed.path,
            hashed.size,
            &hashed.hash,
            hashed.modified,
        );
        let file = FileInfo {
            name: name.to_owned(),
            size: hashed.size,
            hash: hashed.hash,
        };
        self.request_with(
            id,
            command,
            Then::Publish(publication),
            |tag| ClientMsg::Publish { tag, file, replace },
            out,
        );
    }

    /// A published file was found deleted from disk: withdraw it, with a notice.
    pub fn withdraw_gone(&mut self, name: &str, out: &mut Vec<Action>) {
        self.withdraw(name, "the file was deleted from disk", out);
    }

    /// Drop a publication that can no longer be served, with a notice.
    fn withdraw(&mut self, name: &str, why: &str, out: &mut Vec<Action>) {
        if self.published.remove(name).is_none() {
            return;
        }
        out.push(Action::SavePublished);
        out.push(Action::Event(
            Event::new("unpublished", format!("withdrew {name}: {why}"))
                .field("name", name)
                .field("reason", why),
        ));
        let name = name.to_owned();
        self.request(0, "sync", |tag| ClientMsg::Unpublish { tag, name }, out);
    }

    /// The publications to announce, after the loop compared them with the disk:
    /// `vanished` are withdrawn, `changed` hashed again and re-announced.
    pub fn on_checked(
        &mut self,
        vanished: Vec<String>,
        changed: Vec<String>,
        out: &mut Vec<Action>,
    ) {
        for name in &vanished {
            if self.published.remove(name).is_some() {
                out.push(Action::Event(
                    Event::new("unpublished", format!("withdrew {name}: the file is gone"))
                        .field("name", name.as_str())
                        .field("reason", "the file is gone"),
                ));
            }
        }
        if !vanished.is_empty() {
            out.push(Action::SavePublished);
        }
        let current: Vec<FileInfo> = self
            .published
            .iter()
            .filter(|p| !changed.contains(&p.name))
            .map(Publication::info)
            .collect();
        // At least one frame, so that an empty list clears the hub's copy too.
        let chunks: Vec<Vec<FileInfo>> = if current.is_empty() {
            vec![Vec::new()]
        } else {
            current
                .chunks(SYNC_CHUNK)
                .map(<[FileInfo]>::to_vec)
                .collect()
        };
        for (i, files) in chunks.into_iter().enumerate() {
            let first = i == 0;
            self.request(0, "sync", |tag| ClientMsg::Sync { tag, files, first }, out);
        }
        // Publications changed meanwhile go behind the sync, which cannot undo them.
        self.open_sync_gate(out);
        for name in changed {
            if let Some(p) = self.published.get(&name) {
                let path = p.path.clone();
                self.start_hash(HashFor::Refresh { name }, &path, out);
            }
        }
    }

    /// The record of partial downloads.
    pub fn partials(&self) -> &Partials {
        &self.partials
    }

    /// The publication list (the loop serves and checks from it).
    pub fn published(&self) -> &PublishedList {
        &self.published
    }

    /// End of input: finish what is in flight, then leave (or keep serving with `--serve`).
    pub fn on_end_of_input(&mut self, now: Instant, out: &mut Vec<Action>) {
        if self.hold_end_of_input() {
            return;
        }
        self.input_done = true;
        if let Some(prompt) = self.prompt.take() {
            out.push(fetch_failed(
                prompt.req.id,
                Status::BAD_REQUEST,
                "no holder chosen before the end of input",
            ));
        }
        if self.config.serve || self.leaving.is_some() {
            return;
        }
        self.leaving = Some(Leaving::EndOfInput);
        self.try_leave(now, out);
    }

    /// SIGINT or SIGTERM: log out and exit without waiting for other work.
    pub fn on_signal(&mut self, now: Instant, out: &mut Vec<Action>) {
        if self.leaving == Some(Leaving::Signal) {
            return;
        }
        self.leaving = Some(Leaving::Signal);
        let mut downloads: Vec<ActiveFetch> = self.downloads.drain().map(|(_, d)| d).collect();
        downloads.sort_by_key(|d| d.id);
        for d in downloads {
            out.push(fetch_failed(
                d.id,
                Status::UNAVAILABLE,
                &format!(
                    "interrupted by a signal; the partial file of {} is kept: fetch again to resume",
                    d.dest
                ),
            ));
        }
        if let Some(prompt) = self.prompt.take() {
            out.push(fetch_failed(
                prompt.req.id,
                Status::UNAVAILABLE,
                "interrupted by a signal",
            ));
        }
        let mut jobs: Vec<(u64, StoreJob)> = self.store_jobs.drain().collect();
        jobs.sort_by_key(|(job, _)| *job);
        for (job, j) in jobs {
            out.push(Action::CancelStore(job));
            out.push(Self::store_failed(
                j.id,
                if j.upload { "upload" } else { "download" },
                Status::UNAVAILABLE,
                "interrupted by a signal",
            ));
        }
        self.try_leave(now, out);
    }

    /// Leave once nothing but our own logout is in flight.
    fn try_leave(&mut self, now: Instant, out: &mut Vec<Action>) {
        let Some(leaving) = self.leaving else {
            return;
        };
        let busy = !self.hashing.is_empty()
            || !self.downloads.is_empty()
            || !self.store_jobs.is_empty()
            || self.prompt.is_some()
            || self
                .pending
                .values()
                .any(|p| p.command != "logout" && p.command != "quit");
        if busy && leaving != Leaving::Signal {
            return;
        }
        if self.user.is_some() && self.link == Link::Up {
            if !self.logout_sent {
                self.logout_sent = true;
                let id = match leaving {
                    Leaving::Quit { id } => id,
                    _ => 0,
                };
                self.request(id, "quit", |tag| ClientMsg::Logout { tag }, out);
                let deadline = now + LEAVE_GRACE;
                self.leave_deadline = Some(deadline);
                out.push(Action::Arm(deadline));
            }
            return;
        }
        self.finish_leaving(out);
    }

    fn finish_leaving(&mut self, out: &mut Vec<Action>) {
        if let Some(Leaving::Quit { id }) = self.leaving {
            if !self.logout_sent || self.pending.values().any(|p| p.command == "quit") {
                out.push(Action::Result(CommandResult::new(
                    id,
                    "quit",
                    true,
                    Status::LEFT.0,
                    "bye",
                )));
            }
        }
        self.pending.clear();
        out.push(Action::Disconnect);
        out.push(Action::Exit(0));
    }

    /// The hub connection is established and hello was sent.
    pub fn on_connected(&mut self) {
        debug!("connected to the hub; waiting for its welcome");
    }

    /// One message from the hub.
    pub fn on_message(&mut self, msg: HubMsg, now: Instant, out: &mut Vec<Action>) {
        match msg {
            HubMsg::Welcome { server, .. } => self.on_welcome(&server, now, out),
            HubMsg::Reply {
                tag,
                status,
                message,
                body,
            } => self.on_reply(tag, status, message, body, now, out),
            HubMsg::Ping { nonce } => {
                let mut frame = Vec::new();
                ClientMsg::Pong { nonce }.encode(&mut frame);
                out.push(Action::Send(frame));
                out.push(Action::Event(
                    Event::new("ping", "").field("status", Status::PING.0),
                ));
            }
            HubMsg::Chat {
                from,
                text,
                history,
            } => {
                let mut e = Event::new("chat", format!("<{from}> {text}"))
                    .field("from", from)
                    .field("text", text);
                if history {
                    e = e.field("history", true);
                    e.human = format!("(earlier) {}", e.human);
                }
                out.push(Action::Event(e));
            }
            HubMsg::Private { from, text } => out.push(Action::Event(
                Event::new("private", format!("[{from} → you] {text}"))
                    .field("from", from)
                    .field("text", text),
            )),
            HubMsg::Join { user, online } => out.push(join_event(user, online)),
            HubMsg::Joins { users, online } => {
                // A batch may name me (I joined in it): only those after me are news.
                let me = self.user.as_deref();
                let skip = users
                    .iter()
                    .position(|u| Some(u.as_str()) == me)
                    .map_or(0, |i| i + 1);
                let last = users.len();
                for (i, user) in users.into_iter().enumerate().skip(skip) {
                    // The count when this one joined: the later ones were not in yet.
                    let then = online.saturating_sub((last - 1 - i) as u32);
                    out.push(join_event(user, then));
                }
            }
            HubMsg::Leave {
                user,
                online,
                reason,
            } => out.push(Action::Event(
                Event::new(
                    "leave",
                    format!("* {user} left ({reason}; {online} online)"),
                )
                .field("user", user)
                .field("online", online)
                .field("reason", reason),
            )),
            HubMsg::Announce { text } => out.push(Action::Event(
                Event::new("announce", format!("*** {text}")).field("text", text),
            )),
            HubMsg::Kicked { status, reason } => {
                info!("kicked by the hub: {reason}");
                self.user = None;
                self.credentials = None;
                self.stay_out = true;
                out.push(Action::Event(
                    Event::new(
                        "kicked",
                        format!("you were logged out by the hub: {reason}"),
                    )
                    .field("reason", reason)
                    .field("status", status.0),
                ));
                self.try_leave(now, out);
            }
            HubMsg::Upload {
                user,
                name,
                files,
                bytes,
            } => out.push(Action::Event(
                Event::new(
                    "upload",
                    format!(
                        "{user} uploaded {name} ({})",
                        crate::transfer::files_and_size(files, bytes)
                    ),
                )
                .field("user", user)
                .field("name", name)
                .field("files", files)
                .field("bytes", bytes),
            )),
            HubMsg::Bye { status, reason } => {
                let text = format!("{} ({})", reason, status.0);
                // The hub closes next; drop our side now so that close is not a second loss.
                out.push(Action::Disconnect);
                self.on_lost(&text, now, out);
            }
        }
    }

    fn on_welcome(&mut self, server: &str, now: Instant, out: &mut Vec<Action>) {
        let was_down = self.ever_up;
        self.ever_up = true;
        self.link = Link::Up;
        debug!("hub says welcome: {server}");
        match (&self.credentials, self.stay_out) {
            (Some((user, password)), false) if was_down => {
                let (user, password) = (user.clone(), password.clone());
                let peer_port = self.config.peer_port;
                let creds = Then::Login(user.clone(), password.clone());
                self.request_with(
                    0,
                    "relogin",
                    creds,
                    |tag| ClientMsg::Login {
                        tag,
                        user,
                        password,
                        peer_port,
                    },
                    out,
                );
            }
            _ if was_down => out.push(Action::Event(Event::new(
                "reconnected",
                "reconnected to the hub",
            ))),
            _ => {}
        }
        self.try_leave(now, out);
    }

    fn on_reply(
        &mut self,
        tag: u32,
        status: Status,
        message: String,
        body: Body,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        let Some(pending) = self.pending.remove(&tag) else {
            debug!("reply to unknown tag {tag}: {status} {message}");
            return;
        };
        if let Then::Fetch(req) = &pending.then {
            let req = req.clone();
            self.on_lookup(req, status, message, body, out);
            self.try_leave(now, out);
            return;
        }
        if let Then::Store(job) = pending.then {
            self.on_store_reply(job, status, message, body, out);
            self.try_leave(now, out);
            return;
        }
        if let Then::StoreCheck(job) = pending.then {
            return self.on_store_check(job, status, message, body, now, out);
        }
        if let Then::StoreName { job, path } = pending.then {
            self.on_store_name(job, path, status, message, out);
            self.try_leave(now, out);
            return;
        }
        let command = pending.command;
        match command {
            "login" | "relogin" if status == Status::OK => {
                if let Then::Login(user, password) = pending.then.clone() {
                    self.user = Some(user.clone());
                    self.known_as.clone_from(&user);
                    self.credentials = Some((user, password));
                    self.stay_out = false;
                    // The gate stays shut until `on_checked` has sent the sync.
                    out.push(Action::CheckPublished);
                    self.resume_store_checks(out);
                }
            }
            "login" | "relogin" => self.open_sync_gate(out),
            "logout" | "quit" if status == Status::LEFT => {
                self.user = None;
                self.credentials = None;
            }
            "passwd" if status == Status::OK => {
                // The new password is what a reconnect must use; the hub confirmed it.
                if let (Some((_, password)), Then::Passwd(new)) =
                    (self.credentials.as_mut(), &pending.then)
                {
                    *password = new.clone();
                }
            }
            "publish" | "refresh" if status == Status::PUBLISHED => {
                if let Then::Publish(publication) = &pending.then {
                    self.published.insert(publication.clone());
                    out.push(Action::SavePublished);
                }
            }
            "unpublish" if status == Status::OK || status == Status::NO_FILE => {
                if let Then::Unpublish(name) = &pending.then {
                    if self.published.remove(name).is_some() {
                        out.push(Action::SavePublished);
                    }
                }
            }
            _ => {}
        }
        if command == "relogin" {
            let e = Event::new("reconnected", format!("reconnected to the hub ({message})"))
                .field("status", status.0)
                .field("message", message);
            out.push(Action::Event(e));
        } else if pending.id == 0 {
            // The client's own requests (announcing files, leaving): only failures show,
            // and the logout of an end of input or a signal.
            if command == "quit" && status == Status::LEFT {
                out.push(Action::Event(
                    Event::new("logged_out", "logged out").field("message", "logged out"),
                ));
            } else if !status.is_success() && status != Status::LEFT {
                out.push(Action::Event(
                    Event::new("warning", {
                        let what = if command == "report" {
                            "reporting a holder"
                        } else {
                            "announcing my files"
                        };
                        format!("{what}: {message}")
                    })
                    .field("status", status.0)
                    .field("message", message),
                ));
            }
        } else {
            let ok = status.is_success()
                || (status == Status::LEFT && matches!(command, "logout" | "quit"));
            let mut result = CommandResult::new(pending.id, command, ok, status.0, message);
            if let (Then::Publish(p), true) = (&pending.then, ok) {
                result = result
                    .field("name", p.name.as_str())
                    .field("size", p.size)
                    .field("hash", p.hash.as_str())
                    .field("path", p.path.as_str());
            }
            result = with_body(result, body);
            out.push(Action::Result(result));
        }
        if command == "quit" {
            self.finish_leaving_after_quit(out);
            return;
        }
        self.try_leave(now, out);
    }

    fn finish_leaving_after_quit(&mut self, out: &mut Vec<Action>) {
        self.pending.clear();
        out.push(Action::Disconnect);
        out.push(Action::Exit(0));
    }

    /// The connection to the hub failed or closed.
    pub fn on_lost(&mut self, reason: &str, now: Instant, out: &mut Vec<Action>) {
        if matches!(self.link, Link::Down { .. }) {
            return;
        }
        if !self.ever_up {
            out.push(Action::Event(
                Event::new("disconnected", format!("cannot reach the hub: {reason}"))
                    .field("reason", reason),
            ));
            out.push(Action::Exit(1));
            return;
        }
        // Held frames belong to pending requests, which fail just below.
        self.held.clear();
        self.sync_gate = 0;
        let pending: Vec<Pending> = self.pending.drain().map(|(_, p)| p).collect();
        for pending in pending {
            if let Then::StoreCheck(job) = pending.then {
                // Asked again once logged in again.
                self.store_check_lost(job);
                continue;
            }
            if let Then::Store(job) | Then::StoreName { job, .. } = pending.then {
                self.store_jobs.remove(&job);
                out.push(Action::DropStoreJob(job));
            }
            if pending.id != 0 || pending.command == "quit" {
                out.push(Action::Result(CommandResult::new(
                    pending.id,
                    pending.command,
                    pending.command == "quit",
                    if pending.command == "quit" {
                        Status::LEFT.0
                    } else {
                        Status::UNAVAILABLE.0
                    },
                    format!("connection to the hub lost: {reason}"),
                )));
            }
        }
        self.user = None;
        out.push(Action::Event(
            Event::new(
                "disconnected",
                format!("disconnected from the hub: {reason}"),
            )
            .field("reason", reason),
        ));
        if self.leaving.is_some() {
            out.push(Action::Exit(0));
            return;
        }
        let backoff = FIRST_BACKOFF;
        let retry_at = now + backoff;
        self.link = Link::Down {
            since: now,
            retry_at,
            backoff,
        };
        out.push(Action::Arm(retry_at));
    }

    /// A connect attempt failed before the hub answered.
    pub fn on_connect_failed(&mut self, reason: &str, now: Instant, out: &mut Vec<Action>) {
        match self.link.clone() {
            Link::Connecting if !self.ever_up => self.on_lost(reason, now, out),
            Link::Down { since, backoff, .. } => self.retry_later(since, backoff, reason, now, out),
            _ => self.on_lost(reason, now, out),
        }
    }

    fn retry_later(
        &mut self,
        since: Instant,
        backoff: Duration,
        reason: &str,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        if !self.config.serve && now.duration_since(since) >= self.config.reconnect_for {
            out.push(Action::Event(
                Event::new("disconnected", format!("giving up on the hub: {reason}"))
                    .field("reason", format!("gave up: {reason}")),
            ));
            out.push(Action::Exit(1));
            return;
        }
        let backoff = (backoff * 2).min(MAX_BACKOFF);
        let retry_at = now + backoff;
        self.link = Link::Down {
            since,
            retry_at,
            backoff,
        };
        out.push(Action::Arm(retry_at));
    }

    /// Whether a reconnect attempt is underway while the link is down.
    pub fn reconnecting(&self) -> bool {
        matches!(self.link, Link::Down { .. })
    }

    /// A deadline armed earlier came due.
    pub fn on_timer(&mut self, now: Instant, out: &mut Vec<Action>) {
        if let Some(deadline) = self.leave_deadline {
            if now >= deadline {
                info!("the hub did not acknowledge our logout in time; leaving anyway");
                self.finish_leaving(out);
                return;
            }
        }
        if let Link::Down { retry_at, .. } = self.link {
            if now >= retry_at {
                // Stay Down until the welcome arrives; the loop reports the outcome.
                out.push(Action::Connect);
            }
        }
    }
}

/// The event for one user who joined.
fn join_event(user: String, online: u32) -> Action {
    Action::Event(
        Event::new("join", format!("* {user} joined ({online} online)"))
            .field("user", user)
            .field("online", online),
    )
}

/// Why the file at `path` may not be published, if one of its components is reserved
/// (`.peerhub-published.json`, `.peerhub-partials.json`: the client's own state).
fn reserved_component(path: &str) -> Option<String> {
    let own = std::path::Path::new(path)
        .components()
        .filter_map(|c| c.as_os_str().to_str())
        .find(|c| names::is_reserved(c))?;
    Some(format!(
        "{own} is one of the client's own files (names starting with {}): it is never published",
        names::RESERVED_PREFIX
    ))
}

/// A failed `fetch` result.
fn fetch_failed(id: u64, status: Status, text: &str) -> Action {
    Action::Result(CommandResult::new(id, "fetch", false, status.0, text))
}

/// Put a reply's typed body into the result's JSON fields and human lines.
fn with_body(mut r: CommandResult, body: Body) -> CommandResult {
    match body {
        Body::None => r,
        Body::Online(n) => r.field("online", n),
        Body::Users(users) => {
            for u in &users {
                r = r.line(u.clone());
            }
            r.field("users", users)
        }
        Body::Search { hits, truncated } => {
            let mut files = Vec::new();
            for hit in &hits {
                let hex = hash_hex(&hit.file.hash);
                r = r.line(format!(
                    "{}  {}  {}  from {}",
                    hit.file.name,
                    human_size(hit.file.size),
                    &hex[..16],
                    hit.owners.join(", ")
                ));
                files.push(serde_json::json!({
                    "name": hit.file.name, "size": hit.file.size, "hash": hex, "owners": hit.owners
                }));
            }
            r.field("files", files).field("truncated", truncated)
        }
        Body::Store {
            entries,
            truncated,
            used,
            quota,
        } => {
            let mut list = Vec::new();
            for e in &entries {
                r = r.line(crate::transfer::store_line(
                    &e.name, &e.owner, e.kind, e.files, e.bytes, e.created,
                ));
                list.push(crate::transfer::store_json(
                    &e.name, &e.owner, e.kind, e.files, e.bytes, e.created,
                ));
            }
            r.line(store_name::usage_line(used, quota))
                .field("entries", list)
                .field("truncated", truncated)
                .field("used", used)
                .field("quota", quota)
        }
        Body::Removed {
            name,
            kind,
            files,
            bytes,
        } => r
            .field("name", name)
            .field("kind", kind.as_str())
            .field("files", files)
            .field("bytes", bytes),
        Body::RetryAfter(seconds) => r.field("retry_after", seconds),
        Body::Files(_) | Body::Holders(_) | Body::Ticket { .. } => r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::frame;
    use std::path::PathBuf;

    pub(super) fn session(interactive: bool) -> Session {
        Session::new(
            SessionConfig {
                serve: false,
                reconnect_for: Duration::from_secs(60),
                peer_port: 4000,
                interactive,
            },
            PublishedList::default(),
            Partials::default(),
        )
    }

    /// The requests among `out`, decoded.
    pub(super) fn sent(out: &[Action]) -> Vec<ClientMsg> {
        out.iter()
            .filter_map(|a| match a {
                Action::Send(bytes) => {
                    let (_, payload) = frame::try_parse(bytes, usize::MAX).ok()??;
                    ClientMsg::decode(payload).ok()
                }
                _ => None,
            })
            .collect()
    }

    pub(super) fn results(out: &[Action]) -> Vec<&CommandResult> {
        out.iter()
            .filter_map(|a| match a {
                Action::Result(r) => Some(r),
                _ => None,
            })
            .collect()
    }

    fn started(out: &[Action]) -> Vec<&DownloadSpec> {
        out.iter()
            .filter_map(|a| match a {
                Action::StartDownload(spec) => Some(spec),
                _ => None,
            })
            .collect()
    }

    pub(super) fn reply(s: &mut Session, tag: u32, status: Status, body: Body) -> Vec<Action> {
        let mut out = Vec::new();
        let msg = HubMsg::Reply {
            tag,
            status,
            message: "msg".into(),
            body,
        };
        s.on_message(msg, Instant::now(), &mut out);
        out
    }

    /// A session logged in as `me`.
    pub(super) fn logged_in(interactive: bool) -> Session {
        let mut s = session(interactive);
        let mut out = Vec::new();
        let welcome = HubMsg::Welcome {
            version: VERSION,
            server: "hub".into(),
        };
        s.on_message(welcome, Instant::now(), &mut out);
        s.on_line(100, "login me pw", Instant::now(), &mut out);
        let tag = sent(&out).last().and_then(ClientMsg::tag).unwrap();
        let out = reply(&mut s, tag, Status::OK, Body::Online(1));
        assert!(out.contains(&Action::CheckPublished));
        let mut out = Vec::new();
        s.on_checked(Vec::new(), Vec::new(), &mut out);
        for msg in sent(&out) {
            reply(&mut s, msg.tag().unwrap(), Status::OK, Body::None);
        }
        assert_eq!(s.user(), Some("me"));
        s
    }

    #[test]
    fn the_peer_listener_answers_as_the_user_logged_in_now_or_last() {
        assert_eq!(session(false).known_as(), "", "never logged in");
        let mut s = logged_in(false);
        assert_eq!(s.known_as(), "me");
        let mut out = Vec::new();
        s.on_line(101, "logout", Instant::now(), &mut out);
        let tag = sent(&out).last().and_then(ClientMsg::tag).unwrap();
        reply(&mut s, tag, Status::LEFT, Body::None);
        assert_eq!(s.user(), None);
        assert_eq!(s.known_as(), "me", "a --serve client keeps serving as me");
    }

    #[test]
    fn a_joins_batch_is_one_join_event_per_other_user_after_me() {
        let mut s = logged_in(false);
        let events = |out: &[Action]| -> Vec<(String, u64)> {
            out.iter()
                .filter_map(|a| match a {
                    Action::Event(e) if e.name == "join" => Some((
                        e.fields["user"].as_str().unwrap().to_owned(),
                        e.fields["online"].as_u64().unwrap(),
                    )),
                    _ => None,
                })
                .collect()
        };
        let mut out = Vec::new();
        let batch = |users: &[&str], online| HubMsg::Joins {
            users: users.iter().map(|u| u.to_string()).collect(),
            online,
        };
        s.on_message(batch(&["a", "me", "b", "c"], 10), Instant::now(), &mut out);
        assert_eq!(
            events(&out),
            vec![("b".into(), 9), ("c".into(), 10)],
            "only those after me, each with the count of then"
        );
        let mut out = Vec::new();
        s.on_message(batch(&["d", "e"], 12), Instant::now(), &mut out);
        assert_eq!(events(&out), vec![("d".into(), 11), ("e".into(), 12)]);
    }

    pub(super) fn holder(user: &str, hash: u8) -> Holder {
        Holder {
            user: user.into(),
            addr: "127.0.0.1:5000".parse().unwrap(),
            size: 100,
            hash: [hash; 32],
        }
    }

    /// Type a fetch line; the lookup's tag.
    fn fetch(s: &mut Session, id: u64, line: &str) -> u32 {
        let mut out = Vec::new();
        s.on_line(id, line, Instant::now(), &mut out);
        match sent(&out).as_slice() {
            [ClientMsg::Lookup { tag, .. }] => *tag,
            other => panic!("{line}: {other:?} {out:?}"),
        }
    }

    pub(super) fn done(path: &str) -> Outcome {
        Outcome::Done {
            path: PathBuf::from(path),
            received: 100,
            resumed: 0,
            size: 100,
            hash: [2; 32],
            already: false,
        }
    }

    #[test]
    fn fetch_picks_another_holder_and_reports_the_result() {
        let mut s = logged_in(false);
        let tag = fetch(&mut s, 1, "fetch song");
        let out = reply(
            &mut s,
            tag,
            Status::FOUND,
            Body::Holders(vec![holder("me", 2), holder("bob", 2)]),
        );
        let spec = started(&out)[0].clone();
        assert_eq!(spec.holder.user, "bob");
        assert_eq!(spec.dest, "song");
        assert!(!spec.resume);
        assert_eq!(spec.me, "me");
        assert!(out.contains(&Action::SavePartials));
        // The same destination cannot be fetched twice at once.
        let mut out = Vec::new();
        s.on_line(2, "fetch song", Instant::now(), &mut out);
        assert_eq!(results(&out)[0].status, Status::NAME_TAKEN.0);
        let mut out = Vec::new();
        s.on_download_done(spec.job, done("/share/song"), Instant::now(), &mut out);
        let r = results(&out)[0];
        assert_eq!((r.id, r.status, r.ok), (1, 205, true));
        assert_eq!(r.fields["from"], "bob");
        assert_eq!(r.fields["path"], "/share/song");
        assert_eq!(r.fields["hash"], hash_hex(&[2; 32]));
        assert!(s.partials().get("song").is_none());
    }

    #[test]
    fn refusals_before_and_after_the_lookup() {
        let mut s = logged_in(false);
        for (line, status) in [
            ("fetch song --as ../x", Status::INVALID_NAME),
            ("fetch ../x", Status::INVALID_NAME),
            (
                "fetch song --as .peerhub-published.json",
                Status::INVALID_NAME,
            ),
            ("fetch song --from me", Status::BAD_REQUEST),
            ("fetch song --from bad/user", Status::INVALID_NAME),
        ] {
            let mut out = Vec::new();
            s.on_line(1, line, Instant::now(), &mut out);
            assert!(sent(&out).is_empty(), "{line}");
            assert_eq!(results(&out)[0].status, status.0, "{line}");
        }
        let tag = fetch(&mut s, 2, "fetch song");
        let out = reply(
            &mut s,
            tag,
            Status::FOUND,
            Body::Holders(vec![holder("me", 2)]),
        );
        assert_eq!(results(&out)[0].status, Status::BAD_REQUEST.0);
        let tag = fetch(&mut s, 3, "fetch nothing");
        let out = reply(&mut s, tag, Status::NO_FILE, Body::Holders(vec![]));
        assert_eq!(results(&out)[0].status, Status::NO_FILE.0);
    }

    #[test]
    fn a_prompt_asks_again_for_a_number_out_of_range_or_a_line_that_is_no_command() {
        let mut s = logged_in(true);
        let holders = || Body::Holders(vec![holder("bob", 2), holder("carol", 3)]);
        let tag = fetch(&mut s, 1, "fetch song");
        reply(&mut s, tag, Status::FOUND, holders());
        for (n, line) in ["3", "0", "-1", "bogus words", "99999999999999999999999"]
            .into_iter()
            .enumerate()
        {
            let mut out = Vec::new();
            s.on_line(2 + n as u64, line, Instant::now(), &mut out);
            assert!(results(&out).is_empty(), "{line:?}: {out:?}");
            assert!(
                started(&out).is_empty() && sent(&out).is_empty(),
                "{line:?}"
            );
            let asked = out.iter().any(|a| {
                matches!(a, Action::Event(e)
                    if e.name == "choose" && e.human == "choose 1\u{2013}2, Enter for the suggestion")
            });
            assert!(asked, "{line:?}: {out:?}");
        }
        // Still open: a valid number now chooses.
        let mut out = Vec::new();
        s.on_line(9, " 2 ", Instant::now(), &mut out);
        assert_eq!(started(&out)[0].holder.user, "carol");

        // A known command with a usage error cancels and runs (its own 400).
        let tag = fetch(&mut s, 10, "fetch other");
        reply(&mut s, tag, Status::FOUND, holders());
        let mut out = Vec::new();
        s.on_line(11, "msg", Instant::now(), &mut out);
        let r = results(&out);
        assert_eq!((r[0].id, r[0].status), (10, 400));
        assert_eq!((r[1].id, r[1].command.as_str()), (11, "msg"));
    }

    #[test]
    fn a_prompt_takes_a_number_or_enter_and_any_other_line_cancels_it() {
        let mut s = logged_in(true);
        let holders = || Body::Holders(vec![holder("bob", 2), holder("carol", 3)]);
        let tag = fetch(&mut s, 1, "fetch song");
        let out = reply(&mut s, tag, Status::FOUND, holders());
        assert!(out
            .iter()
            .any(|a| matches!(a, Action::Event(e) if e.name == "choose")));
        assert!(started(&out).is_empty());
        let mut out = Vec::new();
        s.on_line(2, "2", Instant::now(), &mut out);
        assert_eq!(started(&out)[0].holder.user, "carol");

        let tag = fetch(&mut s, 3, "fetch other");
        reply(&mut s, tag, Status::FOUND, holders());
        let mut out = Vec::new();
        s.on_line(4, "", Instant::now(), &mut out);
        // carol is busy with the first download: bob is suggested.
        assert_eq!(started(&out)[0].holder.user, "bob");

        let tag = fetch(&mut s, 5, "fetch third");
        reply(&mut s, tag, Status::FOUND, holders());
        let mut out = Vec::new();
        s.on_line(6, "users", Instant::now(), &mut out);
        assert!(started(&out).is_empty());
        assert_eq!(results(&out)[0].id, 5);
        assert_eq!(results(&out)[0].status, 400);
        assert!(matches!(sent(&out).as_slice(), [ClientMsg::Users { .. }]));
    }

    #[test]
    fn cancel_during_download_and_during_lookup() {
        let mut s = logged_in(false);
        let tag = fetch(&mut s, 1, "fetch song --as tune");
        let out = reply(
            &mut s,
            tag,
            Status::FOUND,
            Body::Holders(vec![holder("bob", 2)]),
        );
        let job = started(&out)[0].job;
        let mut out = Vec::new();
        s.on_line(2, "cancel tune", Instant::now(), &mut out);
        assert!(out.contains(&Action::CancelDownload(job)));
        let rs = results(&out);
        assert_eq!((rs[0].id, rs[0].status), (1, 400));
        assert_eq!((rs[1].id, rs[1].status), (2, 200));
        // The partial file stays recorded for a resume.
        assert!(s
            .partials()
            .get("tune")
            .is_some_and(|r| r.is_for(100, &[2; 32])));

        let tag = fetch(&mut s, 3, "fetch song");
        let mut out = Vec::new();
        s.on_line(4, "cancel song", Instant::now(), &mut out);
        assert_eq!(results(&out)[0].status, 200);
        let out = reply(
            &mut s,
            tag,
            Status::FOUND,
            Body::Holders(vec![holder("bob", 2)]),
        );
        assert!(started(&out).is_empty());
        assert_eq!((results(&out)[0].id, results(&out)[0].status), (3, 400));
        let mut out = Vec::new();
        s.on_line(5, "cancel song", Instant::now(), &mut out);
        assert_eq!(results(&out)[0].status, Status::NO_FILE.0);
    }

    #[test]
    fn integrity_failure_reports_the_holder_and_a_kept_partial_resumes() {
        let mut s = logged_in(false);
        let tag = fetch(&mut s, 1, "fetch song");
        let out = reply(
            &mut s,
            tag,
            Status::FOUND,
            Body::Holders(vec![holder("bob", 2)]),
        );
        let job = started(&out)[0].job;
        let mut out = Vec::new();
        let failed = Outcome::Failed {
            status: Status::INTEGRITY,
            message: "bad".into(),
            report: true,
            partial: PartialFate::Deleted,
            size: 100,
            hash: [2; 32],
        };
        s.on_download_done(job, failed, Instant::now(), &mut out);
        assert!(matches!(
            sent(&out).as_slice(),
            [ClientMsg::Report { holder, name, hash, .. }]
                if holder == "bob" && name == "song" && *hash == [2; 32]
        ));
        assert_eq!(results(&out)[0].status, 422);
        assert!(s.partials().get("song").is_none());

        // A holder that died: the partial stays, and the next fetch resumes it from a
        // holder of the same content, preferred over one of other content.
        let tag = fetch(&mut s, 2, "fetch song");
        let out = reply(
            &mut s,
            tag,
            Status::FOUND,
            Body::Holders(vec![holder("bob", 2)]),
        );
        let job = started(&out)[0].job;
        let died = Outcome::Failed {
            status: Status::PEER_UNREACHABLE,
            message: "gone".into(),
            report: false,
            partial: PartialFate::Kept(40),
            size: 100,
            hash: [2; 32],
        };
        let mut out = Vec::new();
        s.on_download_done(job, died, Instant::now(), &mut out);
        assert!(sent(&out).is_empty());
        let tag = fetch(&mut s, 3, "fetch song");
        let out = reply(
            &mut s,
            tag,
            Status::FOUND,
            Body::Holders(vec![holder("ann", 9), holder("dave", 2)]),
        );
        let spec = started(&out)[0];
        assert_eq!(spec.holder.user, "dave");
        assert!(spec.resume);
    }

    #[test]
    fn quit_waits_for_downloads_in_flight() {
        let mut s = logged_in(false);
        let tag = fetch(&mut s, 1, "fetch song");
        let out = reply(
            &mut s,
            tag,
            Status::FOUND,
            Body::Holders(vec![holder("bob", 2)]),
        );
        let job = started(&out)[0].job;
        let mut out = Vec::new();
        s.on_line(2, "quit", Instant::now(), &mut out);
        assert!(sent(&out).is_empty(), "no logout while a download runs");
        let mut out = Vec::new();
        s.on_download_done(job, done("/s/song"), Instant::now(), &mut out);
        assert!(matches!(sent(&out).as_slice(), [ClientMsg::Logout { .. }]));
    }

    #[test]
    fn refresh_is_asked_once_and_tracked() {
        let mut s = logged_in(false);
        s.published.insert(Publication::new(
            "f",
            "f",
            1,
            &[1; 32],
            std::time::UNIX_EPOCH,
        ));
        let mut out = Vec::new();
        s.refresh("f", &mut out);
        assert!(s.refreshing("f"));
        let job = match out.as_slice() {
            [Action::Hash { job, local }] if local == "f" => *job,
            other => panic!("{other:?}"),
        };
        let mut again = Vec::new();
        s.refresh("f", &mut again);
        assert!(again.is_empty());
        let hashed = Hashed {
            path: "f".into(),
            size: 2,
            hash: [3; 32],
            modified: std::time::UNIX_EPOCH,
        };
        let mut out = Vec::new();
        s.on_hashed(job, Ok(hashed), Instant::now(), &mut out);
        // Re-announced with replace; still refreshing until the hub says 202.
        let tag = match sent(&out).as_slice() {
            [ClientMsg::Publish {
                tag, replace: true, ..
            }] => *tag,
            other => panic!("{other:?}"),
        };
        assert!(s.refreshing("f"));
        reply(&mut s, tag, Status::PUBLISHED, Body::None);
        assert!(!s.refreshing("f"));
        assert_eq!(s.published().get("f").map(|p| p.size), Some(2));
    }

    /// Type `publish <name>` and let the hash finish; what the session sent then.
    fn publish_hashed(s: &mut Session, id: u64, name: &str, hash: u8) -> Vec<Action> {
        let mut out = Vec::new();
        s.on_line(id, &format!("publish {name}"), Instant::now(), &mut out);
        let job = match out.as_slice() {
            [Action::Hash { job, .. }] => *job,
            other => panic!("{other:?}"),
        };
        let hashed = Hashed {
            path: name.into(),
            size: 1,
            hash: [hash; 32],
            modified: std::time::UNIX_EPOCH,
        };
        let mut out = Vec::new();
        s.on_hashed(job, Ok(hashed), Instant::now(), &mut out);
        out
    }

    #[test]
    fn a_publish_made_while_a_login_is_out_goes_behind_its_sync() {
        let mut s = session(false);
        let mut out = Vec::new();
        let welcome = HubMsg::Welcome {
            version: VERSION,
            server: "hub".into(),
        };
        s.on_message(welcome, Instant::now(), &mut out);
        s.published.insert(Publication::new(
            "old",
            "old",
            1,
            &[1; 32],
            std::time::UNIX_EPOCH,
        ));
        let mut out = Vec::new();
        s.on_line(1, "login me pw", Instant::now(), &mut out);
        let login = sent(&out)[0].tag().unwrap();
        // The hash ends before the login's reply: nothing may go ahead of the sync.
        let out = publish_hashed(&mut s, 2, "new", 2);
        assert!(sent(&out).is_empty(), "{out:?}");
        let out = reply(&mut s, login, Status::OK, Body::Online(1));
        assert!(out.contains(&Action::CheckPublished));
        assert!(sent(&out).is_empty(), "{out:?}");
        let mut out = Vec::new();
        s.on_checked(Vec::new(), Vec::new(), &mut out);
        let msgs = sent(&out);
        let publish = match msgs.as_slice() {
            [ClientMsg::Sync {
                first: true, files, ..
            }, ClientMsg::Publish { tag, file, .. }] => {
                assert_eq!(files.len(), 1);
                assert_eq!(files[0].name, "old");
                assert_eq!(file.name, "new");
                *tag
            }
            other => panic!("{other:?}"),
        };
        let out = reply(&mut s, publish, Status::PUBLISHED, Body::None);
        assert_eq!(results(&out)[0].status, 202);
        assert!(s.published().get("new").is_some());
        // Once synced, publications go at once.
        let out = publish_hashed(&mut s, 3, "third", 3);
        assert!(matches!(sent(&out).as_slice(), [ClientMsg::Publish { .. }]));
    }

    #[test]
    fn a_failed_login_or_a_lost_link_releases_held_publications() {
        let mut s = logged_in(false);
        // A second login (403) holds a publish only until its reply.
        let mut out = Vec::new();
        s.on_line(1, "login me pw", Instant::now(), &mut out);
        let login = sent(&out)[0].tag().unwrap();
        let mut out = Vec::new();
        s.on_line(2, "unpublish x", Instant::now(), &mut out);
        assert!(sent(&out).is_empty(), "{out:?}");
        let out = reply(&mut s, login, Status::ALREADY_LOGGED_IN, Body::None);
        assert!(matches!(
            sent(&out).as_slice(),
            [ClientMsg::Unpublish { .. }]
        ));
        // Held when the link drops: the publish fails with 503, nothing is sent later.
        let mut out = Vec::new();
        s.on_line(3, "login me pw", Instant::now(), &mut out);
        let out = publish_hashed(&mut s, 4, "f", 4);
        assert!(sent(&out).is_empty());
        let mut out = Vec::new();
        s.on_lost("gone", Instant::now(), &mut out);
        let failed: Vec<u64> = results(&out).iter().map(|r| r.id).collect();
        assert!(failed.contains(&4), "{out:?}");
        assert!(sent(&out).is_empty());
        assert!(s.held.is_empty());
        assert_eq!(s.sync_gate, 0);
    }

    #[test]
    fn a_request_too_big_for_a_frame_is_refused_before_it_is_sent() {
        let mut s = logged_in(false);
        let mut out = Vec::new();
        let text = "x".repeat(70_000);
        s.request(7, "say", |tag| ClientMsg::Say { tag, text }, &mut out);
        assert!(sent(&out).is_empty(), "nothing goes to the hub");
        let r = results(&out)[0];
        assert_eq!((r.id, r.status), (7, 413));
        assert!(s.pending.is_empty());
        // Typed, the same line is refused by the field check, with the maximum.
        let mut out = Vec::new();
        s.on_line(
            8,
            &format!("say {}", "x".repeat(70_000)),
            Instant::now(),
            &mut out,
        );
        assert!(sent(&out).is_empty());
        let r = results(&out)[0];
        assert_eq!(r.status, 413);
        assert!(r.message.contains("4096"), "{}", r.message);
    }

    #[test]
    fn a_fetch_result_gives_the_file_size_and_what_this_call_received() {
        let mut s = logged_in(false);
        let holders = Body::Holders(vec![holder("bob", 2)]);
        let tag = fetch(&mut s, 1, "fetch song");
        let job = started(&reply(&mut s, tag, Status::FOUND, holders.clone()))[0].job;
        let resumed = Outcome::Done {
            path: PathBuf::from("/s/song"),
            received: 60,
            resumed: 40,
            size: 100,
            hash: [2; 32],
            already: false,
        };
        let mut out = Vec::new();
        s.on_download_done(job, resumed, Instant::now(), &mut out);
        let f = &results(&out)[0].fields;
        assert_eq!(f["bytes"], 100);
        assert_eq!(f["received"], 60);
        assert_eq!(f["resumed"], 40);
        assert_eq!(f["resumed_at"], 40);
        let tag = fetch(&mut s, 2, "fetch song");
        let job = started(&reply(&mut s, tag, Status::FOUND, holders))[0].job;
        let already = Outcome::Done {
            path: PathBuf::from("/s/song"),
            received: 0,
            resumed: 0,
            size: 100,
            hash: [2; 32],
            already: true,
        };
        let mut out = Vec::new();
        s.on_download_done(job, already, Instant::now(), &mut out);
        let f = &results(&out)[0].fields;
        assert_eq!(f["bytes"], 100, "the file on disk");
        assert_eq!(f["received"], 0);
        assert_eq!(f["already"], true);
        assert!(!f.contains_key("resumed_at"));
    }

    #[test]
    fn the_clients_own_files_are_refused_at_publish() {
        let mut s = logged_in(false);
        for line in [
            "publish .peerhub-published.json",
            "publish .peerhub-published.json state.json",
            "publish notes.txt .peerhub-notes",
            "publish .peerhub-x/inner.txt",
        ] {
            let mut out = Vec::new();
            s.on_line(1, line, Instant::now(), &mut out);
            match out.as_slice() {
                [Action::Result(r)] => assert_eq!(r.status, 408, "{line}: {}", r.message),
                other => panic!("{line}: {other:?}"),
            }
        }
        // A link resolves to the state file: refused once the loop names the real path.
        let mut out = Vec::new();
        s.on_line(2, "publish link.json", Instant::now(), &mut out);
        let job = match out.as_slice() {
            [Action::Hash { job, .. }] => *job,
            other => panic!("{other:?}"),
        };
        let hashed = Hashed {
            path: ".peerhub-published.json".into(),
            size: 2,
            hash: [1; 32],
            modified: std::time::UNIX_EPOCH,
        };
        let mut out = Vec::new();
        s.on_hashed(job, Ok(hashed), Instant::now(), &mut out);
        assert!(sent(&out).is_empty());
        assert_eq!(results(&out)[0].status, 408);
        assert!(s.published().is_empty());
    }

    #[test]
    fn fetch_as_reports_the_new_name_and_cancel_names_no_line() {
        let mut s = logged_in(false);
        let tag = fetch(&mut s, 1, "fetch song --as tune");
        let out = reply(
            &mut s,
            tag,
            Status::FOUND,
            Body::Holders(vec![holder("bob", 2)]),
        );
        let job = started(&out)[0].job;
        let mut out = Vec::new();
        s.on_download_done(job, done("/share/tune"), Instant::now(), &mut out);
        let r = results(&out)[0];
        assert!(
            r.message.starts_with("fetched song as tune from bob"),
            "{}",
            r.message
        );
        assert_eq!(r.fields["as"], "tune");
        assert_eq!(r.fields["name"], "song");

        let tag = fetch(&mut s, 2, "fetch song");
        let out = reply(
            &mut s,
            tag,
            Status::FOUND,
            Body::Holders(vec![holder("bob", 2)]),
        );
        assert!(!started(&out).is_empty());
        let mut out = Vec::new();
        s.on_line(3, "cancel song", Instant::now(), &mut out);
        let r = results(&out)[0];
        assert_eq!(r.id, 2);
        assert!(
            r.message.starts_with("cancelled; the partial file"),
            "{}",
            r.message
        );
        assert!(!r.message.contains("line"), "{}", r.message);
    }
}
