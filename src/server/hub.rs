//! The hub's pure state: sessions, accounts, chat and liveness. Messages and the time go
//! in; frames to send, connections to close, deadlines and console lines come out.

mod budget;
#[cfg(test)]
mod db_error_tests;
mod joins;
#[cfg(test)]
mod liveness_tests;
mod operator;
mod own_addr;

pub use budget::Request;

use super::accounts::AccountError;
use super::console::{self, ConsoleCommand};
use super::db::Db;
use super::guard::{Guard, GuardLimits, Outcome, Refusal};
use super::index::{Index, IndexError, Published};
use super::limits::TokenBucket;
use super::name::Name;
use super::reports::{Counted, Referrals, Reports, REFERRAL_TTL, REPORT_QUORUM};
use super::store::Store;
use super::tickets::Tickets;
use super::warnings::{Verdict, Warnings};
use crate::net::ConnMap;
use crate::output::{CommandResult, Event};
use crate::proto::message::{
    encode_holders_reply, hash_hex, Body, ClientMsg, FileInfo, Hash, HubMsg, Role, SearchHit,
    VERSION,
};
use crate::proto::names;
use crate::proto::status::Status;
use crate::transfer::tree::Totals;
use log::{debug, info, warn};
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A connection, as the loop names it (its slab key).
pub type ConnId = usize;

/// Longest chat text, in bytes.
pub const MAX_TEXT_BYTES: usize = names::MAX_TEXT_BYTES;
/// Password hashes per loop turn (about 2.5 ms each: a turn stalls 10 ms at most).
const HASHES_PER_TURN: u32 = 4;
/// Bytes of user names in one `users` reply: inside the 1 MiB a client accepts from the
/// hub (10,000 names of 32 characters take 340 KB).
const MAX_USERS_REPLY: usize = 900 * 1024;
/// Most search hits in one reply.
const MAX_SEARCH_HITS: usize = 100;
/// Most owners listed per search hit.
const MAX_OWNERS_PER_HIT: usize = 50;
/// Most holders in one lookup reply.
const MAX_HOLDERS: usize = 200;
/// Bytes of reply body kept under the frame limit with room to spare.
const MAX_REPLY_BODY: usize = 48 * 1024;

/// Limits and intervals, all settable from the command line.
#[derive(Debug, Clone)]
pub struct HubConfig {
    /// A connection must say hello within this.
    pub hello_timeout: Duration,
    /// A connection that never logs in is closed after this much quiet.
    pub idle_timeout: Duration,
    /// A logged-in client quiet for this long is pinged.
    pub ping_interval: Duration,
    /// A ping unanswered for this long drops the client.
    pub ping_timeout: Duration,
    /// Failed logins, wrong `passwd` old passwords and registrations of a taken name
    /// per address per minute; successes do not count (0: no limit).
    pub auth_rate: u32,
    /// Failed password attempts per account per minute, from any address (0: no limit).
    pub account_auth_rate: u32,
    /// Password hashes per address per minute, whatever their outcome (0: no limit).
    pub hash_rate: u32,
    /// Files one account may publish (0: no limit).
    pub max_published: usize,
    /// Chat messages per second per user (0: no limit).
    pub chat_rate: f64,
    /// Chat messages replayed to whoever joins.
    pub history: usize,
    /// How long a store ticket may wait to be redeemed on a store connection.
    pub store_ticket_ttl: Duration,
    /// Most items (files and directories) in one store entry.
    pub store_max_items: u64,
    /// Open store tickets (and the uploads they started) per user (0: no limit).
    pub store_max_tickets: u32,
    /// Store connections open at once (0: no limit), apart from `--max-clients`.
    pub max_store_conns: usize,
}

impl Default for HubConfig {
    fn default() -> Self {
        HubConfig {
            hello_timeout: Duration::from_secs(15),
            idle_timeout: Duration::from_secs(300),
            ping_interval: Duration::from_secs(30),
            ping_timeout: Duration::from_secs(10),
            auth_rate: 10,
            account_auth_rate: 20,
            hash_rate: 120,
            max_published: 10_000,
            chat_rate: 20.0,
            history: 20,
            store_ticket_ttl: Duration::from_secs(30),
            store_max_items: 100_000,
            store_max_tickets: 4,
            max_store_conns: 256,
        }
    }
}

impl HubConfig {
    /// The chat burst allowance: two seconds' worth, at least five messages.
    fn chat_burst(&self) -> f64 {
        (self.chat_rate * 2.0).max(5.0)
    }
}

/// What the loop must do after the hub handled something.
#[derive(Debug)]
pub enum Action {
    /// Queue a frame for one connection.
    Send(ConnId, Vec<u8>),
    /// Queue a frame encoded once and shared among recipients.
    Share(ConnId, Rc<[u8]>),
    /// Close a connection once its queued bytes are flushed (or at once if they cannot be).
    Close(ConnId),
    /// Call [`Hub::on_timer`] for this connection at this instant.
    Arm(Instant, ConnId, u64),
    /// Print a console result.
    Result(CommandResult),
    /// Print a console notification.
    Event(Event),
    /// Everyone was told; exit the loop once queues are flushed.
    Exit,
    /// The connection said hello as a store connection: the loop takes it over (the hub
    /// forgot it); it redeems a ticket with [`Hub::redeem`].
    Upgrade(ConnId),
}

mod store_ops;
mod store_rm;
pub use super::tickets::{Ticket, TicketOp};
pub use store_ops::Outgoing;

/// Where a connection stands.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Phase {
    AwaitHello,
    Anonymous,
    /// Shared, so that handling each request does not copy the name.
    LoggedIn(Rc<str>),
}

/// Why a ping was sent.
#[derive(Debug, Clone, PartialEq, Eq)]
enum PingPurpose {
    Liveness,
    /// The console's `ping <user>` typed on line `id`.
    Console {
        id: u64,
    },
    /// Another connection wants to log in as this user: if this session does not
    /// answer, it is a ghost and the waiting login replaces it.
    Ghost(LoginWait),
}

/// A login waiting for the answer to a ghost check.
#[derive(Debug, Clone, PartialEq, Eq)]
struct LoginWait {
    conn: ConnId,
    serial: u64,
    tag: u32,
    peer_port: u16,
}

#[derive(Debug)]
struct PendingPing {
    nonce: u32,
    sent: Instant,
    purpose: PingPurpose,
}

/// One connection's state.
#[derive(Debug)]
struct Session {
    serial: u64,
    addr: SocketAddr,
    /// The address the hub accepted this connection on: the hub's own, which a login
    /// may not announce as its peer address.
    local: SocketAddr,
    phase: Phase,
    peer_port: u16,
    opened: Instant,
    /// Since when the connection has been without a login (its hello, or its logout):
    /// the idle timeout counts from here whatever it sends meanwhile.
    anonymous_since: Instant,
    last_heard: Instant,
    pings: Vec<PendingPing>,
    armed: Option<Instant>,
    chat: TokenBucket,
    /// (name, holder, hash) this session was sent to by recent lookups: what it may report.
    referrals: Referrals,
    /// What it spent of its budget in the current turn (see `budget.rs`).
    used: budget::TurnUse,
    /// Requests beyond that budget, waiting in order for the next turns.
    backlog: VecDeque<Request>,
}

/// Counters for `stats`.
#[derive(Debug, Default, Clone)]
pub struct Counters {
    pub connections_total: u64,
    pub lookups: u64,
    pub chat_relayed: u64,
}

/// The hub.
pub struct Hub {
    config: HubConfig,
    db: Db,
    index: Index,
    /// Holders reported for bad data, and for whom they are demoted.
    reports: Reports,
    sessions: ConnMap<Session>,
    online: HashMap<Name, ConnId>,
    history: VecDeque<(String, String)>,
    guard: Guard,
    /// Repeated warnings collapse into a count (see [`Hub::warn`]).
    warnings: Warnings,
    /// The time of the current turn of the loop (for warnings, which have no `now`).
    clock: Instant,
    counters: Counters,
    next_serial: u64,
    next_nonce: u32,
    shutting_down: bool,
    /// Password hashes computed in this turn of the loop (see [`Hub::hash_budget_spent`]).
    hashes_this_turn: u32,
    /// Turns of the loop so far: per-connection budgets belong to one turn.
    turn: u64,
    /// Join notices waiting to be sent together (see `joins.rs`).
    joins: joins::PendingJoins,
    /// Logins let in when the session they waited on ends (see [`Hub::take_over`]).
    pending_logins: Vec<(LoginWait, String)>,
    store: Store,
    /// Store tickets out, and the names and bytes their uploads hold.
    tickets: Tickets,
    /// Store connections open (the loop runs them; see [`Hub::store_conn_closed`]).
    store_conns: usize,
    /// Bytes queued toward all connections, as the loop last said (for `stats`).
    queued_output: usize,
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn reply(tag: u32, status: Status, message: impl Into<String>, body: Body) -> Vec<u8> {
    HubMsg::Reply {
        tag,
        status,
        message: message.into(),
        body,
    }
    .to_frame()
}

impl Hub {
    /// A hub over an open database (the publish index is loaded from it).
    pub fn new(config: HubConfig, db: Db, store: Store) -> Result<Hub, IndexError> {
        let mut index = Index::load(&db)?;
        index.set_max_per_owner(config.max_published);
        let tickets = Tickets::new(config.store_ticket_ttl, config.store_max_tickets);
        Ok(Hub {
            tickets,
            index,
            reports: Reports::default(),
            guard: Guard::new(GuardLimits {
                address_failures: config.auth_rate,
                account_failures: config.account_auth_rate,
                hashes: config.hash_rate,
            }),
            warnings: Warnings::default(),
            clock: Instant::now(),
            config,
            db,
            sessions: ConnMap::default(),
            online: HashMap::new(),
            history: VecDeque::new(),
            counters: Counters::default(),
            next_serial: 1,
            next_nonce: 1,
            shutting_down: false,
            pending_logins: Vec::new(),
            hashes_this_turn: 0,
            turn: 0,
            joins: joins::PendingJoins::default(),
            store,
            store_conns: 0,
            queued_output: 0,
        })
    }

    /// Whether `conn` is a connection of the hub (not unknown, not handed over).
    pub fn knows(&self, conn: ConnId) -> bool {
        self.sessions.contains_key(&conn)
    }

    /// The loop's count of bytes queued toward all connections, reported by `stats`.
    pub fn note_queued_output(&mut self, bytes: usize) {
        self.queued_output = bytes;
    }

    /// Whether `conn` is logged in.
    pub fn logged_in(&self, conn: ConnId) -> bool {
        self.sessions
            .get(&conn)
            .is_some_and(|s| matches!(s.phase, Phase::LoggedIn(_)))
    }

    /// A new turn of the loop: the hashing budget is full again; warnings counted in a
    /// window that ended are summed up.
    pub fn begin_turn(&mut self, now: Instant) {
        self.hashes_this_turn = 0;
        self.turn += 1;
        self.clock = now;
        for line in self.warnings.due(now) {
            warn!("{line}");
        }
    }

    /// Log a warning of `kind`, unless that kind already wrote its share of lines in this
    /// window: then it is only counted, and a summary line says how many were left out.
    pub fn warn(&mut self, kind: &'static str, text: std::fmt::Arguments) {
        match self.warnings.note(kind, self.clock) {
            Verdict::Write(earlier) => {
                if let Some(line) = earlier {
                    warn!("{line}");
                }
                warn!("{text}");
            }
            Verdict::Suppress => {}
        }
    }

    /// Whether this turn already spent its password hashes (a few milliseconds each):
    /// further requests wait for the next turn, so a login storm cannot hold up
    /// everyone's output (and the queues it fills) for seconds.
    pub fn hash_budget_spent(&self) -> bool {
        self.hashes_this_turn >= HASHES_PER_TURN
    }

    /// Users online now.
    pub fn online_count(&self) -> usize {
        self.online.len()
    }

    /// Open connections.
    pub fn connection_count(&self) -> usize {
        self.sessions.len()
    }

    /// A new connection from `addr` was accepted on the hub's address `local` (the
    /// socket's local address).
    pub fn on_connect(
        &mut self,
        conn: ConnId,
        addr: SocketAddr,
        local: SocketAddr,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        let serial = self.next_serial;
        self.next_serial += 1;
        self.counters.connections_total += 1;
        self.sessions.insert(
            conn,
            Session {
                serial,
                addr,
                local,
                phase: Phase::AwaitHello,
                peer_port: 0,
                opened: now,
                anonymous_since: now,
                last_heard: now,
                pings: Vec::new(),
                armed: None,
                chat: TokenBucket::new(self.config.chat_burst(), now),
                referrals: Referrals::default(),
                used: budget::TurnUse::default(),
                backlog: VecDeque::new(),
            },
        );
        info!("connect from {addr}");
        out.push(Action::Event(
            Event::new("connect", format!("connect from {addr}")).field("addr", addr.to_string()),
        ));
        self.schedule(conn, now, out);
    }

    /// A frame from `conn` that failed to decode as a message. The frame boundary is
    /// intact, so a request is answered 400 and the connection carries on; a bad hello closes it.
    pub fn on_bad_message(
        &mut self,
        conn: ConnId,
        payload_tag: Option<u32>,
        why: &str,
        out: &mut Vec<Action>,
    ) {
        let Some(session) = self.sessions.get(&conn) else {
            return;
        };
        let addr = session.addr;
        if session.phase == Phase::AwaitHello {
            self.warn(
                "not a hello",
                format_args!("{addr}: not a peerhub hello ({why}); closing"),
            );
            self.bye(
                conn,
                Status::BAD_REQUEST,
                "not a peerhub client: expected a peerhub hello",
                out,
            );
            return;
        }
        self.warn("bad message", format_args!("{addr}: bad message: {why}"));
        out.push(Action::Send(
            conn,
            reply(
                payload_tag.unwrap_or(0),
                Status::BAD_REQUEST,
                format!("bad request: {why}"),
                Body::None,
            ),
        ));
    }

    /// A framing error (oversized frame: 413, empty frame: 400): the stream cannot be
    /// trusted; close it. Before hello it is simply not a peerhub client (400).
    pub fn on_bad_frame(&mut self, conn: ConnId, status: Status, why: &str, out: &mut Vec<Action>) {
        let Some(session) = self.sessions.get(&conn) else {
            return;
        };
        let (addr, hello) = (session.addr, session.phase == Phase::AwaitHello);
        self.warn("bad frame", format_args!("{addr}: {why}; closing"));
        if hello {
            let text = "not a peerhub client: expected a peerhub hello";
            return self.bye(conn, Status::BAD_REQUEST, text, out);
        }
        self.bye(conn, status, &format!("bad frame: {why}"), out);
    }

    /// Tell a connection why it is closed, then close it.
    fn bye(&mut self, conn: ConnId, status: Status, reason: &str, out: &mut Vec<Action>) {
        out.push(Action::Send(
            conn,
            HubMsg::Bye {
                status,
                reason: reason.into(),
            }
            .to_frame(),
        ));
        out.push(Action::Close(conn));
    }

    /// One decoded message from `conn` (the loop goes through [`Hub::on_request`]).
    fn on_message(&mut self, conn: ConnId, msg: ClientMsg, now: Instant, out: &mut Vec<Action>) {
        let Some(session) = self.sessions.get_mut(&conn) else {
            return;
        };
        session.last_heard = now;
        if session.phase == Phase::AwaitHello {
            match msg {
                ClientMsg::Hello {
                    version: VERSION,
                    role: Role::Session,
                } => {
                    session.phase = Phase::Anonymous;
                    session.anonymous_since = now;
                    out.push(Action::Send(
                        conn,
                        HubMsg::Welcome {
                            version: VERSION,
                            server: format!("peerhub {}", env!("CARGO_PKG_VERSION")),
                        }
                        .to_frame(),
                    ));
                    self.schedule(conn, now, out);
                }
                ClientMsg::Hello {
                    version: VERSION,
                    role: Role::Store,
                } => {
                    debug!("{}: store connection", session.addr);
                    self.store_hello(conn, out);
                }
                ClientMsg::Hello { version, .. } => {
                    let text = format!(
                        "protocol version {version} is not supported (this hub speaks {VERSION})"
                    );
                    self.bye(conn, Status::BAD_REQUEST, &text, out);
                }
                _ => self.bye(
                    conn,
                    Status::BAD_REQUEST,
                    "not a peerhub client: expected a peerhub hello",
                    out,
                ),
            }
            return;
        }
        let user = match &session.phase {
            Phase::LoggedIn(user) => Some(user.clone()),
            _ => None,
        };
        match msg {
            ClientMsg::Hello { .. } => out.push(Action::Send(
                conn,
                reply(0, Status::BAD_REQUEST, "hello was already said", Body::None),
            )),
            ClientMsg::Pong { nonce } => self.on_pong(conn, nonce, now, out),
            ClientMsg::Echo { tag } => out.push(Action::Send(
                conn,
                reply(tag, Status::OK, "pong", Body::None),
            )),
            ClientMsg::Register {
                tag,
                user: name,
                password,
            } => self.register(conn, tag, &name, &password, now, out),
            ClientMsg::Login {
                tag,
                user: name,
                password,
                peer_port,
            } => self.login(conn, tag, &name, &password, peer_port, now, out),
            other => match user {
                None => {
                    let tag = other.tag().unwrap_or(0);
                    out.push(Action::Send(
                        conn,
                        reply(
                            tag,
                            Status::NOT_LOGGED_IN,
                            "not logged in: login first",
                            Body::None,
                        ),
                    ));
                }
                Some(user) => self.logged_in_request(conn, &user, other, now, out),
            },
        }
    }

    fn logged_in_request(
        &mut self,
        conn: ConnId,
        user: &str,
        msg: ClientMsg,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        match msg {
            ClientMsg::Logout { tag } => {
                out.push(Action::Send(
                    conn,
                    reply(tag, Status::LEFT, "logged out", Body::None),
                ));
                self.end_session(conn, "logout", now, out);
            }
            ClientMsg::Passwd { tag, old, new } => {
                let (status, text, body) =
                    if new.is_empty() || new.len() > super::accounts::MAX_PASSWORD_BYTES {
                        (
                            Status::BAD_REQUEST,
                            "the new password must be 1-256 bytes".to_string(),
                            Body::None,
                        )
                    } else {
                        self.change_password(conn, user, &old, &new, now)
                    };
                out.push(Action::Send(conn, reply(tag, status, text, body)));
            }
            ClientMsg::Users { tag } => {
                let mut users = self.user_names();
                let online = users.len();
                let text = if fit_names(&mut users, MAX_USERS_REPLY) {
                    format!("{online} online (the first {} listed)", users.len())
                } else {
                    format!("{online} online")
                };
                out.push(Action::Send(
                    conn,
                    reply(tag, Status::OK, text, Body::Users(users)),
                ));
            }
            ClientMsg::Say { tag, text } => self.say(conn, tag, user, &text, now, out),
            ClientMsg::Msg { tag, to, text } => self.private(conn, tag, user, &to, &text, now, out),
            ClientMsg::Publish { tag, file, replace } => {
                self.publish(conn, tag, user, &file, replace, out)
            }
            ClientMsg::Unpublish { tag, name } => {
                let (status, text) = match names::check_file_name(&name) {
                    Err(e) => (Status::INVALID_NAME, e.0),
                    Ok(()) => match self.index.unpublish(&self.db, user, &name) {
                        Ok(true) => (Status::OK, format!("unpublished {name}")),
                        Ok(false) => (Status::NO_FILE, format!("you do not publish {name:?}")),
                        Err(e) => (Status::INTERNAL, e.to_string()),
                    },
                };
                out.push(Action::Send(conn, reply(tag, status, text, Body::None)));
            }
            ClientMsg::Sync { tag, files, first } => self.sync(conn, tag, user, &files, first, out),
            ClientMsg::Search { tag, text } if text.len() > names::MAX_SEARCH_BYTES => {
                let text = format!(
                    "search text longer than {} bytes (the longest name)",
                    names::MAX_SEARCH_BYTES
                );
                out.push(Action::Send(
                    conn,
                    reply(tag, Status::TOO_LARGE, text, Body::None),
                ));
            }
            ClientMsg::Search { tag, text } => {
                let (hits, truncated) = self.search(&text);
                let message = format!(
                    "{} match(es){}",
                    hits.len(),
                    if truncated { " (truncated)" } else { "" }
                );
                out.push(Action::Send(
                    conn,
                    reply(tag, Status::OK, message, Body::Search { hits, truncated }),
                ));
            }
            ClientMsg::Lookup { tag, name } => self.lookup(conn, tag, user, &name, now, out),
            ClientMsg::Report {
                tag,
                holder,
                name,
                hash,
            } => self.report(conn, tag, user, &holder, &name, &hash, now, out),
            ClientMsg::StorePut {
                tag,
                name,
                replace,
                kind,
                files,
                dirs,
                bytes,
                largest,
            } => {
                let declared = Totals { files, dirs, bytes };
                let (status, text, body) =
                    self.store_put(user, &name, replace, kind, declared, largest, now);
                out.push(Action::Send(conn, reply(tag, status, text, body)));
            }
            ClientMsg::StoreGet { tag, name } => {
                let (status, text, body) = self.store_get(user, &name, now);
                out.push(Action::Send(conn, reply(tag, status, text, body)));
            }
            ClientMsg::StoreList { tag } => {
                let (status, text, body) = self.store_listing(user);
                out.push(Action::Send(conn, reply(tag, status, text, body)));
            }
            ClientMsg::StoreName { tag, name, replace } => {
                let (status, text) = self.store_name(user, &name, replace);
                out.push(Action::Send(conn, reply(tag, status, text, Body::None)));
            }
            ClientMsg::StoreRm { tag, name } => {
                let (status, text, body) = self.store_rm(user, &name);
                out.push(Action::Send(conn, reply(tag, status, text, body)));
            }
            ClientMsg::Hello { .. }
            | ClientMsg::Pong { .. }
            | ClientMsg::Echo { .. }
            | ClientMsg::Register { .. }
            | ClientMsg::Login { .. } => {
                // Handled before a session is needed; nothing reaches here.
            }
        }
    }

    fn publish(
        &mut self,
        conn: ConnId,
        tag: u32,
        user: &str,
        file: &FileInfo,
        replace: bool,
        out: &mut Vec<Action>,
    ) {
        let (status, text) = if let Err(e) = names::check_published_name(&file.name) {
            (Status::INVALID_NAME, e.to_string())
        } else {
            match self.index.publish(&self.db, user, file, replace) {
                Ok(Published::Unchanged) => (
                    Status::PUBLISHED,
                    format!("{} was already published", file.name),
                ),
                Ok(outcome) => {
                    self.reports.published(user, &file.name, &file.hash);
                    let verb = if outcome == Published::Replaced {
                        "republished"
                    } else {
                        "published"
                    };
                    info!("{user} {verb} {} ({} bytes)", file.name, file.size);
                    out.push(Action::Event(
                        Event::new(
                            "publish",
                            format!(
                                "{user} {verb} {} ({})",
                                file.name,
                                crate::transfer::human_size(file.size)
                            ),
                        )
                        .field("user", user)
                        .field("name", file.name.as_str()),
                    ));
                    (Status::PUBLISHED, format!("{verb} {}", file.name))
                }
                Err(IndexError::Duplicate) => {
                    (Status::NAME_TAKEN, IndexError::Duplicate.to_string())
                }
                Err(e @ IndexError::TooMany(_)) => (Status::QUOTA_EXCEEDED, e.to_string()),
                Err(e) => (Status::INTERNAL, e.to_string()),
            }
        };
        out.push(Action::Send(conn, reply(tag, status, text, Body::None)));
    }

    fn sync(
        &mut self,
        conn: ConnId,
        tag: u32,
        user: &str,
        files: &[FileInfo],
        first: bool,
        out: &mut Vec<Action>,
    ) {
        if let Some(bad) = files
            .iter()
            .find_map(|f| names::check_published_name(&f.name).err())
        {
            let text = format!("{bad} (in the publication list)");
            return out.push(Action::Send(
                conn,
                reply(tag, Status::INVALID_NAME, text, Body::None),
            ));
        }
        let (status, text) = match self.index.sync(&self.db, user, files, first) {
            Ok(()) => {
                if !files.is_empty() {
                    info!("{user} announced {} published file(s)", files.len());
                }
                (Status::OK, format!("{} file(s) announced", files.len()))
            }
            Err(e @ IndexError::TooMany(_)) => (Status::QUOTA_EXCEEDED, e.to_string()),
            Err(e) => (Status::INTERNAL, e.to_string()),
        };
        out.push(Action::Send(conn, reply(tag, status, text, Body::None)));
    }

    /// A downloader says `holder` served bad data for `name`. It counts only if a lookup
    /// sent this session to that holder for that name and hash within [`REFERRAL_TTL`],
    /// once per (reporter, holder, file); see [`Reports`].
    #[allow(clippy::too_many_arguments)]
    fn report(
        &mut self,
        conn: ConnId,
        tag: u32,
        user: &str,
        holder: &str,
        name: &str,
        hash: &Hash,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        let referred = self
            .sessions
            .get(&conn)
            .is_some_and(|s| s.referrals.contains(name, holder, hash, now));
        let (status, text) = if !referred {
            let minutes = REFERRAL_TTL.as_secs() / 60;
            (
                Status::BAD_REQUEST,
                format!("you were not sent to {holder} for {name} in the last {minutes} minutes"),
            )
        } else if !self.index.has(holder, name, hash) {
            (
                Status::OK,
                format!("{holder} no longer publishes that content"),
            )
        } else {
            match self.reports.report(user, holder, name, hash) {
                Counted::Again => (
                    Status::OK,
                    format!("you reported {holder} for {name} already; a report counts once"),
                ),
                Counted::Yes { reporters } => {
                    warn!("{user} reports that {holder} served bad data for {name} ({reporters} of {REPORT_QUORUM})");
                    let whom = if reporters >= REPORT_QUORUM {
                        format!("anyone ({reporters} users reported it)")
                    } else {
                        format!("you ({reporters} of the {REPORT_QUORUM} reports that demote it for everyone)")
                    };
                    (
                        Status::OK,
                        format!("{holder} is not offered for {name} to {whom} while others hold it, until it publishes other content"),
                    )
                }
            }
        };
        out.push(Action::Send(conn, reply(tag, status, text, Body::None)));
    }

    fn search(&self, text: &str) -> (Vec<SearchHit>, bool) {
        let (mut hits, mut truncated) = self
            .index
            .search(text, MAX_SEARCH_HITS, |u| self.online.contains_key(u));
        // Keep the reply inside one frame: names are long and owners many at worst.
        let mut bytes = 0;
        for (i, hit) in hits.iter_mut().enumerate() {
            hit.owners.truncate(MAX_OWNERS_PER_HIT);
            bytes +=
                44 + hit.file.name.len() + hit.owners.iter().map(|o| 2 + o.len()).sum::<usize>();
            if bytes > MAX_REPLY_BODY {
                hits.truncate(i);
                truncated = true;
                break;
            }
        }
        (hits, truncated)
    }

    /// The online holders of `name`: who, where the hub sees them, what they announced.
    /// Holders demoted for `reader` (see [`Reports`]) are left out, unless every holder
    /// is: then only they are offered, so a holder that fixed its file can still be
    /// reached (it re-announces the new content when it serves it).
    fn online_holders<'a>(
        &'a self,
        reader: &'a str,
        name: &'a str,
    ) -> impl Iterator<Item = (&'a str, SocketAddr, u64, Hash)> + 'a {
        let online = move || {
            self.index.holders(name).filter_map(|(owner, entry)| {
                let session = self.sessions.get(self.online.get(owner)?)?;
                let addr = SocketAddr::new(session.addr.ip(), session.peer_port);
                Some((owner, addr, entry.size, entry.hash))
            })
        };
        let demoted = move |(owner, _, _, hash): &(&str, SocketAddr, u64, Hash)| {
            self.reports.demoted(reader, owner, name, hash)
        };
        // Only when reports exist does a lookup look at them (one pass more).
        let offer_demoted = !self.reports.is_empty() && online().all(|h| demoted(&h));
        online()
            .filter(move |h| self.reports.is_empty() || demoted(h) == offer_demoted)
            .take(MAX_HOLDERS)
    }

    /// A fetch lookup: 204 with the online holders, encoded straight from the index
    /// (the hub's hottest path allocates only the reply frame), or 406.
    fn lookup(
        &mut self,
        conn: ConnId,
        tag: u32,
        user: &str,
        name: &str,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        self.counters.lookups += 1;
        if let Err(e) = names::check_file_name(name) {
            let body = Body::Holders(Vec::new());
            return out.push(Action::Send(
                conn,
                reply(tag, Status::INVALID_NAME, e.0, body),
            ));
        }
        // Remember who this session is sent to (what it may report), as the reply is
        // encoded: the record is taken out of the session for the while.
        let mut referrals = self
            .sessions
            .get_mut(&conn)
            .map(|s| std::mem::take(&mut s.referrals))
            .unwrap_or_default();
        let mut frame = Vec::with_capacity(128);
        let holders = self
            .online_holders(user, name)
            .inspect(|(holder, _, _, hash)| referrals.record(name, holder, hash, now));
        let found = encode_holders_reply(&mut frame, tag, Status::FOUND, "found", holders);
        if let Some(session) = self.sessions.get_mut(&conn) {
            session.referrals = referrals;
        }
        debug!("lookup {name:?} by {user}: {found} holder(s)");
        if found == 0 {
            let text = format!("nobody online publishes {name:?}");
            return out.push(Action::Send(
                conn,
                reply(tag, Status::NO_FILE, text, Body::Holders(Vec::new())),
            ));
        }
        out.push(Action::Send(conn, frame));
    }

    /// `passwd`: two password hashes; a wrong old password counts as a failed login.
    fn change_password(
        &mut self,
        conn: ConnId,
        user: &str,
        old: &str,
        new: &str,
        now: Instant,
    ) -> (Status, String, Body) {
        let Some(ip) = self.sessions.get(&conn).map(|s| s.addr.ip()) else {
            return (Status::INTERNAL, "no session".into(), Body::None);
        };
        if let Err(refusal) = self.guard.check(ip, Some(user), 2, now) {
            return rate_limited(refusal);
        }
        self.hashes_this_turn += 2;
        let result = self.db.change_password(user, old, new);
        let (outcome, hashes) = match &result {
            Ok(()) => (Outcome::Success, 2),
            Err(AccountError::WrongPassword) => (Outcome::WrongPassword, 1),
            Err(AccountError::NoSuchAccount) => (Outcome::Failed, 1),
            Err(_) => (Outcome::Error, 1),
        };
        self.guard.checked(ip, Some(user), hashes, outcome, now);
        match result {
            Ok(()) => (Status::OK, "password changed".to_string(), Body::None),
            Err(e) => {
                let (status, text) = account_failure(&e);
                (status, text, Body::None)
            }
        }
    }

    fn user_names(&self) -> Vec<String> {
        let mut users: Vec<String> = self.online.keys().map(|n| n.to_string()).collect();
        users.sort();
        users
    }

    fn register(
        &mut self,
        conn: ConnId,
        tag: u32,
        name: &str,
        password: &str,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        let Some(ip) = self.sessions.get(&conn).map(|s| s.addr.ip()) else {
            return;
        };
        let (status, text, body) = if let Err(e) = names::check_user(name) {
            (Status::INVALID_NAME, e.to_string(), Body::None)
        } else if password.is_empty() || password.len() > super::accounts::MAX_PASSWORD_BYTES {
            (
                Status::BAD_REQUEST,
                "the password must be 1-256 bytes".to_string(),
                Body::None,
            )
        } else if let Err(refusal) = self.guard.check(ip, None, 1, now) {
            rate_limited(refusal)
        } else {
            // A success is not a failure: only a taken name counts against --auth-rate.
            let result = self.db.register(name, password);
            let (outcome, hashes) = match &result {
                Ok(()) => (Outcome::Success, 1),
                Err(AccountError::Exists) => (Outcome::Failed, 0),
                Err(_) => (Outcome::Error, 0),
            };
            self.hashes_this_turn += hashes;
            // The address that created the account knows its password: a known one.
            self.guard.checked(ip, Some(name), hashes, outcome, now);
            match result {
                Ok(()) => {
                    info!("registered account {name}");
                    (Status::REGISTERED, format!("registered {name}"), Body::None)
                }
                Err(e) => {
                    let (status, text) = account_failure(&e);
                    (status, text, Body::None)
                }
            }
        };
        out.push(Action::Send(conn, reply(tag, status, text, body)));
    }

    #[allow(clippy::too_many_arguments)]
    fn login(
        &mut self,
        conn: ConnId,
        tag: u32,
        name: &str,
        password: &str,
        peer_port: u16,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        let Some(session) = self.sessions.get(&conn) else {
            return;
        };
        let ip = session.addr.ip();
        let refuse = |status: Status, text: String, out: &mut Vec<Action>| {
            out.push(Action::Send(conn, reply(tag, status, text, Body::None)));
        };
        if let Phase::LoggedIn(current) = &session.phase {
            return refuse(
                Status::ALREADY_LOGGED_IN,
                format!("already logged in as {current}"),
                out,
            );
        }
        if let Err(e) = names::check_user(name) {
            return refuse(Status::INVALID_NAME, e.to_string(), out);
        }
        // Before any hashing: fetchers sent there would reach the hub, not a peer.
        if let Some(why) = own_addr::own_address(ip, peer_port, session.local) {
            return refuse(Status::BAD_REQUEST, why, out);
        }
        if let Err(refusal) = self.guard.check(ip, Some(name), 1, now) {
            let (status, text, body) = rate_limited(refusal);
            return out.push(Action::Send(conn, reply(tag, status, text, body)));
        }
        self.hashes_this_turn += 1;
        let verified = self.db.verify(name, password);
        let outcome = match &verified {
            Ok(()) => Outcome::Success,
            Err(AccountError::WrongPassword) => Outcome::WrongPassword,
            Err(AccountError::NoSuchAccount | AccountError::BadPassword) => Outcome::Failed,
            Err(_) => Outcome::Error,
        };
        self.guard.checked(ip, Some(name), 1, outcome, now);
        if let Err(e) = verified {
            let (status, text) = account_failure(&e);
            return refuse(status, text, out);
        }
        match self.db.ban_until(name) {
            Ok(Some(until)) if until > unix_now() => {
                let minutes = (until - unix_now()).div_ceil(60);
                return refuse(
                    Status::BANNED,
                    format!("account {name} is banned for {minutes} more minute(s)"),
                    out,
                );
            }
            Ok(_) => {}
            Err(e) => {
                let (status, text) = account_failure(&e);
                return refuse(status, text, out);
            }
        }
        if let Some(&holder) = self.online.get(name) {
            // One login at a time waits on a ghost check: two waiting logins would both
            // be let in when the check fails.
            if let Some(waiting) = self.ghost_waiter(holder) {
                let text = if waiting == conn {
                    format!("this connection's login as {name} is already waiting")
                } else {
                    format!(
                        "another login as {name} is waiting for the check of its current session; try again"
                    )
                };
                return refuse(Status::ALREADY_LOGGED_IN, text, out);
            }
            // Is that session really there? Its answer (or silence) decides.
            let wait = LoginWait {
                conn,
                serial: session.serial,
                tag,
                peer_port,
            };
            debug!("{name}: checking the existing session before a second login");
            self.send_ping(holder, PingPurpose::Ghost(wait), now, out);
            return self.schedule(holder, now, out);
        }
        self.complete_login(conn, tag, name, peer_port, now, out);
    }

    /// The connection whose login waits on a ghost check of `holder`, if it is still there
    /// and still anonymous.
    fn ghost_waiter(&self, holder: ConnId) -> Option<ConnId> {
        self.sessions
            .get(&holder)?
            .pings
            .iter()
            .find_map(|p| match &p.purpose {
                PingPurpose::Ghost(wait) if self.still_waiting(wait) => Some(wait.conn),
                _ => None,
            })
    }

    /// Whether the connection of a waiting login is the same one, still anonymous.
    fn still_waiting(&self, wait: &LoginWait) -> bool {
        self.sessions
            .get(&wait.conn)
            .is_some_and(|s| s.serial == wait.serial && s.phase == Phase::Anonymous)
    }

    /// Log `conn` in as `name` (verified, not banned, not online).
    fn complete_login(
        &mut self,
        conn: ConnId,
        tag: u32,
        name: &str,
        peer_port: u16,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        let Some(session) = self.sessions.get_mut(&conn) else {
            return;
        };
        session.phase = Phase::LoggedIn(Rc::from(name));
        session.peer_port = peer_port;
        let addr = session.addr;
        self.online.insert(Name::new(name), conn);
        let online = self.online.len() as u32;
        info!("login {name} from {addr} (peer port {peer_port}); {online} online");
        out.push(Action::Event(
            Event::new(
                "login",
                format!("{name} logged in from {addr} ({online} online)"),
            )
            .field("user", name),
        ));
        out.push(Action::Send(
            conn,
            reply(
                tag,
                Status::OK,
                format!("logged in as {name}; {online} online"),
                Body::Online(online),
            ),
        ));
        for (from, text) in &self.history {
            out.push(Action::Send(
                conn,
                HubMsg::Chat {
                    from: from.clone(),
                    text: text.clone(),
                    history: true,
                }
                .to_frame(),
            ));
        }
        self.note_join(Rc::from(name), conn, now, out);
        self.schedule(conn, now, out);
    }

    /// Queue one shared frame to everyone logged in except `except` (after the join
    /// notices that wait, so that notices keep their order).
    fn share_with_others(&mut self, except: ConnId, frame: &Rc<[u8]>, out: &mut Vec<Action>) {
        self.flush_joins(out);
        for &c in self.online.values() {
            if c != except {
                out.push(Action::Share(c, Rc::clone(frame)));
            }
        }
    }

    fn check_text(text: &str) -> Result<(), (Status, String)> {
        if text.is_empty() {
            Err((Status::BAD_REQUEST, "empty message".into()))
        } else if text.len() > MAX_TEXT_BYTES {
            Err((
                Status::TOO_LARGE,
                format!("message longer than {MAX_TEXT_BYTES} bytes"),
            ))
        } else if names::has_control_chars(text) {
            Err((
                Status::BAD_REQUEST,
                "message contains control characters".into(),
            ))
        } else {
            Ok(())
        }
    }

    /// Whole seconds until a chat token is back.
    fn chat_retry_after(&self) -> u32 {
        ((1.0 / self.config.chat_rate).ceil() as u32).max(1)
    }

    fn chat_allowed(&mut self, conn: ConnId, now: Instant) -> bool {
        let (rate, burst) = (self.config.chat_rate, self.config.chat_burst());
        self.sessions
            .get_mut(&conn)
            .is_some_and(|s| s.chat.take(rate, burst, now))
    }

    fn say(
        &mut self,
        conn: ConnId,
        tag: u32,
        user: &str,
        text: &str,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        if let Err((status, why)) = Self::check_text(text) {
            return out.push(Action::Send(conn, reply(tag, status, why, Body::None)));
        }
        if !self.chat_allowed(conn, now) {
            return out.push(Action::Send(
                conn,
                reply(
                    tag,
                    Status::RATE_LIMITED,
                    "slow down: chat flood limit reached",
                    Body::RetryAfter(self.chat_retry_after()),
                ),
            ));
        }
        let frame: Rc<[u8]> = HubMsg::Chat {
            from: user.to_owned(),
            text: text.to_owned(),
            history: false,
        }
        .to_frame()
        .into();
        let recipients = self.online.len().saturating_sub(1);
        self.share_with_others(conn, &frame, out);
        self.counters.chat_relayed += 1;
        self.remember(user, text);
        debug!("chat from {user} to {recipients}");
        out.push(Action::Send(
            conn,
            reply(
                tag,
                Status::OK,
                format!("sent to {recipients} user(s)"),
                Body::None,
            ),
        ));
    }

    fn remember(&mut self, from: &str, text: &str) {
        if self.config.history == 0 {
            return;
        }
        if self.history.len() >= self.config.history {
            self.history.pop_front();
        }
        self.history.push_back((from.to_owned(), text.to_owned()));
    }

    #[allow(clippy::too_many_arguments)]
    fn private(
        &mut self,
        conn: ConnId,
        tag: u32,
        user: &str,
        to: &str,
        text: &str,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        if let Err((status, why)) = Self::check_text(text) {
            return out.push(Action::Send(conn, reply(tag, status, why, Body::None)));
        }
        let Some(&target) = self.online.get(to) else {
            let (status, why) = if names::check_user(to).is_err() {
                (Status::INVALID_NAME, format!("invalid user name {to:?}"))
            } else {
                match self.db.exists(to) {
                    Ok(false) => (Status::NO_ACCOUNT, format!("no such user {to:?}")),
                    Ok(true) => (Status::USER_OFFLINE, format!("{to} is not online")),
                    Err(e) => account_failure(&e),
                }
            };
            return out.push(Action::Send(conn, reply(tag, status, why, Body::None)));
        };
        if !self.chat_allowed(conn, now) {
            return out.push(Action::Send(
                conn,
                reply(
                    tag,
                    Status::RATE_LIMITED,
                    "slow down: chat flood limit reached",
                    Body::RetryAfter(self.chat_retry_after()),
                ),
            ));
        }
        self.flush_joins(out);
        out.push(Action::Send(
            target,
            HubMsg::Private {
                from: user.to_owned(),
                text: text.to_owned(),
            }
            .to_frame(),
        ));
        self.counters.chat_relayed += 1;
        out.push(Action::Send(
            conn,
            reply(tag, Status::OK, format!("sent to {to}"), Body::None),
        ));
    }

    /// End the logged-in session on `conn` (the connection stays open), telling the others.
    fn end_session(&mut self, conn: ConnId, reason: &str, now: Instant, out: &mut Vec<Action>) {
        let Some(session) = self.sessions.get_mut(&conn) else {
            return;
        };
        if !matches!(session.phase, Phase::LoggedIn(_)) {
            return;
        }
        // Whoever joined before is told before this leave, with the count of then.
        self.flush_joins_except(Some(conn), out);
        let Some(session) = self.sessions.get_mut(&conn) else {
            return;
        };
        let Phase::LoggedIn(user) = std::mem::replace(&mut session.phase, Phase::Anonymous) else {
            return;
        };
        session.anonymous_since = now;
        let pings = std::mem::take(&mut session.pings);
        self.online.remove(&*user);
        for ping in pings {
            match ping.purpose {
                PingPurpose::Console { id } => {
                    out.push(Action::Result(ping_result(id, &user, "offline", None)))
                }
                PingPurpose::Liveness => {}
                PingPurpose::Ghost(wait) => self.take_over(&user, wait),
            }
        }
        let online = self.online.len() as u32;
        info!("leave {user} ({reason}); {online} online");
        out.push(Action::Event(
            Event::new("leave", format!("{user} left ({reason}); {online} online"))
                .field("user", &*user)
                .field("reason", reason),
        ));
        let leave: Rc<[u8]> = HubMsg::Leave {
            user: user.to_string(),
            online,
            reason: reason.to_owned(),
        }
        .to_frame()
        .into();
        self.share_with_others(conn, &leave, out);
        // Logins that waited on this session go in after its leave notice: one per
        // name, and only if the name is still free and the waiter still waits.
        for (wait, user) in std::mem::take(&mut self.pending_logins) {
            if self.still_waiting(&wait) && !self.online.contains_key(user.as_str()) {
                self.complete_login(wait.conn, wait.tag, &user, wait.peer_port, now, out);
            } else if self.still_waiting(&wait) {
                let text = format!("{user} is already logged in");
                out.push(Action::Send(
                    wait.conn,
                    reply(wait.tag, Status::ALREADY_LOGGED_IN, text, Body::None),
                ));
            }
        }
    }

    /// The session a login waited on is gone: let the waiting connection in, if it is
    /// still there and the name is still free.
    fn take_over(&mut self, user: &str, wait: LoginWait) {
        if self.still_waiting(&wait) && !self.online.contains_key(user) {
            info!("{user}: the old session is gone; the waiting login takes over");
            self.pending_logins.push((wait, user.to_owned()));
        }
    }

    /// The loop closed `conn` (peer gone, error, slow consumer, or our own close).
    pub fn on_disconnect(
        &mut self,
        conn: ConnId,
        reason: &str,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        self.end_session(conn, reason, now, out);
        if let Some(session) = self.sessions.remove(&conn) {
            debug!("disconnect {} ({reason})", session.addr);
        }
    }

    fn on_pong(&mut self, conn: ConnId, nonce: u32, now: Instant, out: &mut Vec<Action>) {
        let Some(session) = self.sessions.get_mut(&conn) else {
            return;
        };
        let Some(pos) = session.pings.iter().position(|p| p.nonce == nonce) else {
            return;
        };
        let ping = session.pings.remove(pos);
        let phase = session.phase.clone();
        // With this ping answered the next is due `ping_interval` after this frame,
        // which may come before the answered ping's deadline armed now.
        self.schedule(conn, now, out);
        let Phase::LoggedIn(user) = phase else {
            return;
        };
        match ping.purpose {
            PingPurpose::Console { id } => {
                let rtt = now.duration_since(ping.sent);
                out.push(Action::Result(ping_result(id, &user, "alive", Some(rtt))));
            }
            PingPurpose::Ghost(wait) => {
                let waiting = self
                    .sessions
                    .get(&wait.conn)
                    .is_some_and(|s| s.serial == wait.serial);
                if waiting {
                    let text = format!("{user} is already logged in (and answering)");
                    out.push(Action::Send(
                        wait.conn,
                        reply(wait.tag, Status::ALREADY_LOGGED_IN, text, Body::None),
                    ));
                }
            }
            PingPurpose::Liveness => {}
        }
    }

    fn send_ping(
        &mut self,
        conn: ConnId,
        purpose: PingPurpose,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        let nonce = self.next_nonce;
        self.next_nonce = self.next_nonce.wrapping_add(1);
        if let Some(session) = self.sessions.get_mut(&conn) {
            session.pings.push(PendingPing {
                nonce,
                sent: now,
                purpose,
            });
            out.push(Action::Send(conn, HubMsg::Ping { nonce }.to_frame()));
        }
    }

    /// The next instant something is due on this connection.
    fn next_due(&self, session: &Session) -> Instant {
        match &session.phase {
            Phase::AwaitHello => session.opened + self.config.hello_timeout,
            Phase::Anonymous => session.anonymous_since + self.config.idle_timeout,
            Phase::LoggedIn(_) => {
                let ping_deadline = session
                    .pings
                    .iter()
                    .map(|p| p.sent + self.config.ping_timeout)
                    .min();
                let has_liveness = session
                    .pings
                    .iter()
                    .any(|p| p.purpose == PingPurpose::Liveness);
                let quiet = session.last_heard + self.config.ping_interval;
                match ping_deadline {
                    Some(deadline) if has_liveness => deadline,
                    Some(deadline) => deadline.min(quiet),
                    None => quiet,
                }
            }
        }
    }

    /// Arm the connection's next deadline unless an earlier one is already armed.
    fn schedule(&mut self, conn: ConnId, now: Instant, out: &mut Vec<Action>) {
        let Some(session) = self.sessions.get(&conn) else {
            return;
        };
        let due = self.next_due(session);
        let serial = session.serial;
        let Some(session) = self.sessions.get_mut(&conn) else {
            return;
        };
        if session
            .armed
            .is_some_and(|armed| armed > now && armed <= due)
        {
            return;
        }
        session.armed = Some(due);
        out.push(Action::Arm(due, conn, serial));
    }

    /// A deadline armed for `conn` came due.
    pub fn on_timer(&mut self, conn: ConnId, serial: u64, now: Instant, out: &mut Vec<Action>) {
        let Some(session) = self.sessions.get_mut(&conn) else {
            return;
        };
        if session.serial != serial {
            return;
        }
        if session.armed.is_some_and(|armed| armed <= now) {
            session.armed = None;
        }
        match session.phase.clone() {
            Phase::AwaitHello if now >= session.opened + self.config.hello_timeout => {
                info!("{}: no hello in time; closing", session.addr);
                return self.bye(conn, Status::TIMEOUT, "no hello in time", out);
            }
            Phase::Anonymous if now >= session.anonymous_since + self.config.idle_timeout => {
                info!("{}: idle without login; closing", session.addr);
                return self.bye(
                    conn,
                    Status::TIMEOUT,
                    "idle for too long without logging in",
                    out,
                );
            }
            Phase::LoggedIn(user) => {
                let timeout = self.config.ping_timeout;
                // Unanswered console pings end here; an unanswered liveness or ghost
                // check means the client is gone (ghost waiters are let in by end_session).
                let mut dead = false;
                let mut no_answer = Vec::new();
                session.pings.retain(|p| {
                    if now < p.sent + timeout {
                        return true;
                    }
                    match p.purpose {
                        PingPurpose::Console { id } => no_answer.push(id),
                        PingPurpose::Liveness | PingPurpose::Ghost(_) => dead = true,
                    }
                    matches!(p.purpose, PingPurpose::Ghost(_))
                });
                for id in no_answer {
                    out.push(Action::Result(ping_result(id, &user, "no_answer", None)));
                }
                if dead {
                    info!("{user} did not answer a ping in time; dropping");
                    self.end_session(conn, "timeout", now, out);
                    return self.bye(conn, Status::TIMEOUT, "no answer to ping", out);
                }
                let has_liveness = session
                    .pings
                    .iter()
                    .any(|p| p.purpose == PingPurpose::Liveness);
                if !has_liveness && now >= session.last_heard + self.config.ping_interval {
                    self.send_ping(conn, PingPurpose::Liveness, now, out);
                }
            }
            _ => {}
        }
        self.schedule(conn, now, out);
    }

    /// One line typed on the hub's console (input line `id`).
    pub fn on_console(&mut self, id: u64, line: &str, now: Instant, out: &mut Vec<Action>) {
        let command = match console::parse(line) {
            Ok(Some(command)) => command,
            Ok(None) => return,
            Err(e) => {
                return out.push(Action::Result(CommandResult::new(
                    id,
                    &e.command,
                    false,
                    Status::BAD_REQUEST.0,
                    e.message,
                )))
            }
        };
        let result = match command {
            ConsoleCommand::Help => {
                let mut r = CommandResult::new(id, "help", true, 200, "console commands:");
                for line in console::HELP {
                    r = r.line(*line);
                }
                r
            }
            ConsoleCommand::Users => {
                let mut r = CommandResult::new(
                    id,
                    "users",
                    true,
                    200,
                    format!("{} online", self.online.len()),
                );
                let mut entries = Vec::new();
                for name in self.user_names() {
                    if let Some(s) = self
                        .online
                        .get(name.as_str())
                        .and_then(|c| self.sessions.get(c))
                    {
                        let peer = SocketAddr::new(s.addr.ip(), s.peer_port);
                        r = r.line(format!("{name}  {peer}"));
                        entries.push(name);
                    }
                }
                r.field("users", entries)
            }
            ConsoleCommand::Kick { user } => {
                self.kick(id, &user, Status::OK, "kicked by the operator", now, out)
            }
            ConsoleCommand::Ban { user, minutes } => self.ban(id, &user, minutes, now, out),
            ConsoleCommand::Unban { user } => self.console_unban(id, &user),
            ConsoleCommand::Bans => self.console_bans(id),
            ConsoleCommand::Deluser { user } => self.console_deluser(id, &user, now, out),
            ConsoleCommand::Setpass { user, password } => {
                self.console_setpass(id, &user, &password)
            }
            ConsoleCommand::Say { text } => {
                if let Err((status, why)) = Self::check_text(&text) {
                    CommandResult::new(id, "say", false, status.0, why)
                } else {
                    self.flush_joins(out);
                    let frame: Rc<[u8]> = HubMsg::Announce { text: text.clone() }.to_frame().into();
                    for &c in self.online.values() {
                        out.push(Action::Share(c, Rc::clone(&frame)));
                    }
                    info!("announcement: {text}");
                    CommandResult::new(
                        id,
                        "say",
                        true,
                        200,
                        format!("announced to {} user(s)", self.online.len()),
                    )
                }
            }
            ConsoleCommand::Ping { user } => match self.online.get(user.as_str()).copied() {
                Some(conn) => {
                    self.send_ping(conn, PingPurpose::Console { id }, now, out);
                    self.schedule(conn, now, out);
                    return;
                }
                None => match self.db.exists(&user) {
                    Ok(true) => ping_result(id, &user, "offline", None),
                    Ok(false) => {
                        let mut r = ping_result(id, &user, "offline", None);
                        r.status = Status::NO_ACCOUNT.0;
                        r.message = format!("no such user {user:?}");
                        r
                    }
                    Err(e) => {
                        let (status, text) = account_failure(&e);
                        CommandResult::new(id, "ping", false, status.0, text).field("user", user)
                    }
                },
            },
            ConsoleCommand::Stats => self.stats(id),
            ConsoleCommand::Store => self.console_store(id),
            ConsoleCommand::Rm { name } => self.console_rm(id, &name),
            ConsoleCommand::Discover { user } => self.discover(id, &user),
            ConsoleCommand::Shutdown => {
                self.shutdown(out);
                CommandResult::new(id, "shutdown", true, 200, "shutting down")
            }
        };
        out.push(Action::Result(result));
    }

    fn kick(
        &mut self,
        id: u64,
        user: &str,
        status: Status,
        reason: &str,
        now: Instant,
        out: &mut Vec<Action>,
    ) -> CommandResult {
        let Some(&conn) = self.online.get(user) else {
            return CommandResult::new(
                id,
                "kick",
                false,
                Status::USER_OFFLINE.0,
                format!("{user} is not online"),
            );
        };
        out.push(Action::Send(
            conn,
            HubMsg::Kicked {
                status,
                reason: reason.into(),
            }
            .to_frame(),
        ));
        let leave = match status {
            Status::BANNED => "banned",
            Status::NO_ACCOUNT => "account deleted",
            _ => "kicked",
        };
        self.end_session(conn, leave, now, out);
        CommandResult::new(id, "kick", true, 200, format!("kicked {user}"))
    }

    fn ban(
        &mut self,
        id: u64,
        user: &str,
        minutes: Option<u64>,
        now: Instant,
        out: &mut Vec<Action>,
    ) -> CommandResult {
        // No duration: a ban for a hundred years, i.e. until `unban`.
        let minutes = minutes.unwrap_or(100 * 365 * 24 * 60);
        let until = unix_now().saturating_add(minutes.saturating_mul(60));
        if let Err(e) = self.db.set_ban(user, Some(until)) {
            let (status, text) = account_failure(&e);
            return CommandResult::new(id, "ban", false, status.0, text);
        }
        if self.online.contains_key(user) {
            self.kick(id, user, Status::BANNED, "banned by the operator", now, out);
        }
        info!("banned {user} for {minutes} minute(s)");
        CommandResult::new(id, "ban", true, 200, format!("banned {user}")).field("minutes", minutes)
    }

    fn discover(&self, id: u64, user: &str) -> CommandResult {
        let fail = |status: Status, text: String| {
            CommandResult::new(id, "discover", false, status.0, text)
        };
        match self.db.exists(user) {
            Ok(true) => {}
            Ok(false) => return fail(Status::NO_ACCOUNT, format!("no such user {user:?}")),
            Err(e) => {
                let (status, text) = account_failure(&e);
                return fail(status, text);
            }
        }
        let files = self.index.files_of(user);
        let online = self.online.contains_key(user);
        let state = if online { "online" } else { "offline" };
        let mut r = CommandResult::new(
            id,
            "discover",
            true,
            200,
            format!("{user} ({state}) publishes {} file(s)", files.len()),
        )
        .field("user", user)
        .field("online", online);
        let mut list = Vec::new();
        for f in &files {
            let hex = hash_hex(&f.hash);
            r = r.line(format!(
                "{}  {}  {}",
                f.name,
                crate::transfer::human_size(f.size),
                &hex[..16]
            ));
            list.push(serde_json::json!({"name": f.name, "size": f.size, "hash": hex}));
        }
        r.field("files", list)
    }

    fn console_store(&self, id: u64) -> CommandResult {
        let entries = match self.store.list(&self.db) {
            Ok(list) => list,
            Err(e) => {
                return CommandResult::new(id, "store", false, Status::INTERNAL.0, e.to_string())
            }
        };
        let mut r = CommandResult::new(
            id,
            "store",
            true,
            200,
            format!(
                "{} store entr{}",
                entries.len(),
                if entries.len() == 1 { "y" } else { "ies" }
            ),
        );
        let mut list = Vec::new();
        for e in &entries {
            r = r.line(crate::transfer::store_line(
                &e.name, &e.owner, e.kind, e.files, e.bytes, e.created,
            ));
            list.push(crate::transfer::store_json(
                &e.name, &e.owner, e.kind, e.files, e.bytes, e.created,
            ));
        }
        r.field("entries", list)
    }

    fn stats(&self, id: u64) -> CommandResult {
        let fail = |text: String| {
            warn!("stats: {text}");
            CommandResult::new(id, "stats", false, Status::INTERNAL.0, text)
        };
        let accounts = match self.db.count() {
            Ok(n) => n,
            Err(e) => return fail(format!("account database: {e}")),
        };
        let (store_entries, store_bytes) = match self.store.totals(&self.db) {
            Ok(totals) => totals,
            Err(e) => return fail(format!("store database: {e}")),
        };
        let c = &self.counters;
        CommandResult::new(id, "stats", true, 200, "hub statistics")
            .field("connections", self.sessions.len())
            .field("users_online", self.online.len())
            .field("accounts", accounts)
            .field("published_files", self.index.len())
            .field("lookups", c.lookups)
            .field("chat_messages", c.chat_relayed)
            .field("connections_total", c.connections_total)
            .field("store_entries", store_entries)
            .field("store_bytes", store_bytes)
            .field("queued_output_bytes", self.queued_output)
            .field("store_connections", self.store_conns)
            .line(format!(
                "connections: {} open, {} since start",
                self.sessions.len(),
                c.connections_total
            ))
            .line(format!("users online: {}", self.online.len()))
            .line(format!("output queued: {} bytes", self.queued_output))
            .line(format!("accounts: {accounts}"))
            .line(format!("published files: {}", self.index.len()))
            .line(format!("lookups served: {}", c.lookups))
            .line(format!("chat messages relayed: {}", c.chat_relayed))
            .line(format!(
                "store: {store_entries} entr{}, {}",
                if store_entries == 1 { "y" } else { "ies" },
                crate::transfer::human_size(store_bytes)
            ))
            .line(format!("store connections: {} open", self.store_conns))
    }

    /// Tell everyone the hub is going away and close every connection.
    pub fn shutdown(&mut self, out: &mut Vec<Action>) {
        if self.shutting_down {
            return;
        }
        self.shutting_down = true;
        info!(
            "shutting down: telling {} connection(s)",
            self.sessions.len()
        );
        let frame: Rc<[u8]> = HubMsg::Bye {
            status: Status::UNAVAILABLE,
            reason: "the hub is shutting down".into(),
        }
        .to_frame()
        .into();
        let conns: Vec<ConnId> = self.sessions.keys().collect();
        for conn in conns {
            out.push(Action::Share(conn, Rc::clone(&frame)));
            out.push(Action::Close(conn));
        }
        out.push(Action::Exit);
    }

    /// Whether the hub is shutting down (new connections are refused).
    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down
    }
}

/// Keep the first names whose encoding fits in `budget` bytes; true if some were cut.
fn fit_names(names: &mut Vec<String>, budget: usize) -> bool {
    let mut used = 0;
    let fits = names
        .iter()
        .take_while(|n| {
            used += 2 + n.len();
            used <= budget
        })
        .count();
    let cut = fits < names.len();
    names.truncate(fits);
    cut
}

/// The console's result for `ping <user>`: alive with its round trip, offline, or no
/// answer in time.
fn ping_result(id: u64, user: &str, state: &str, rtt: Option<Duration>) -> CommandResult {
    let (ok, status, message) = match (state, rtt) {
        ("alive", Some(rtt)) => (
            true,
            200,
            format!("{user} is alive: {:.2} ms", rtt.as_secs_f64() * 1000.0),
        ),
        ("offline", _) => (false, Status::USER_OFFLINE.0, format!("{user} is offline")),
        _ => (false, Status::TIMEOUT.0, format!("{user}: no answer")),
    };
    let rtt_ms = rtt.map(|d| d.as_secs_f64() * 1000.0);
    CommandResult::new(id, "ping", ok, status, message)
        .field("user", user)
        .field("state", state)
        .field("alive", state == "alive")
        .field("rtt_ms", rtt_ms)
}

/// A 429 that says when to try again.
fn rate_limited(refusal: Refusal) -> (Status, String, Body) {
    let text = format!("{}; try again in {} s", refusal.text, refusal.retry_after);
    (
        Status::RATE_LIMITED,
        text,
        Body::RetryAfter(refusal.retry_after),
    )
}

/// The status and text for a failed account operation.
fn account_failure(e: &AccountError) -> (Status, String) {
    let status = match e {
        AccountError::Exists => Status::ACCOUNT_EXISTS,
        AccountError::NoSuchAccount => Status::NO_ACCOUNT,
        AccountError::WrongPassword => Status::WRONG_PASSWORD,
        AccountError::BadPassword => Status::BAD_REQUEST,
        _ => {
            warn!("account database: {e}");
            Status::INTERNAL
        }
    };
    (status, e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::frame;
    use crate::server::store::StoreLimits;

    /// A hub over an in-memory database and a throw-away store directory.
    pub(super) fn hub(config: HubConfig) -> (Hub, std::path::PathBuf) {
        let limits = StoreLimits {
            max_file: 0,
            user_quota: 0,
            reserve: 0,
        };
        hub_with_store(config, limits)
    }

    /// [`hub`] with these store limits.
    pub(super) fn hub_with_store(
        config: HubConfig,
        limits: StoreLimits,
    ) -> (Hub, std::path::PathBuf) {
        let dir = crate::server::store::tests::temp_dir("hub");
        let db = Db::open_in_memory().unwrap();
        let store = Store::open(&dir, limits, &db).unwrap();
        (Hub::new(config, db, store).unwrap(), dir)
    }

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    /// The hub's address in these tests: where every connection was accepted.
    pub(super) const HUB_PORT: u16 = 9999;

    /// Every frame queued for `conn`, decoded.
    pub(super) fn sent_to(conn: ConnId, out: &[Action]) -> Vec<HubMsg> {
        out.iter()
            .filter_map(|a| match a {
                Action::Send(c, bytes) if *c == conn => Some(bytes.to_vec()),
                Action::Share(c, bytes) if *c == conn => Some(bytes.to_vec()),
                _ => None,
            })
            .map(|bytes| {
                let (_, payload) = frame::try_parse(&bytes, usize::MAX).unwrap().unwrap();
                HubMsg::decode(payload).unwrap()
            })
            .collect()
    }

    pub(super) fn status_of(conn: ConnId, out: &[Action]) -> Vec<u16> {
        sent_to(conn, out)
            .into_iter()
            .filter_map(|m| match m {
                HubMsg::Reply { status, .. } => Some(status.0),
                _ => None,
            })
            .collect()
    }

    /// Connect `conn`, say hello, register and log in as `user`.
    pub(super) fn join(hub: &mut Hub, conn: ConnId, user: &str, now: Instant) -> Vec<Action> {
        let mut out = Vec::new();
        hub.on_connect(
            conn,
            addr(5000 + conn as u16),
            addr(HUB_PORT),
            now,
            &mut out,
        );
        let hello = ClientMsg::Hello {
            version: VERSION,
            role: Role::Session,
        };
        hub.on_message(conn, hello, now, &mut out);
        let (user, password) = (user.to_string(), "pw".to_string());
        let register = ClientMsg::Register {
            tag: 1,
            user: user.clone(),
            password: password.clone(),
        };
        hub.on_message(conn, register, now, &mut out);
        let login = ClientMsg::Login {
            tag: 2,
            user,
            password,
            peer_port: 4000,
        };
        hub.on_message(conn, login, now, &mut out);
        out
    }

    #[test]
    fn hello_register_login_and_not_logged_in() {
        let (mut hub, dir) = hub(HubConfig::default());
        let now = Instant::now();
        let mut out = Vec::new();
        hub.on_connect(1, addr(5001), addr(HUB_PORT), now, &mut out);
        hub.on_message(1, ClientMsg::Users { tag: 9 }, now, &mut out);
        assert!(
            matches!(sent_to(1, &out).last(), Some(HubMsg::Bye { status, .. }) if status.0 == 400)
        );
        let out = join(&mut hub, 2, "alice", now);
        assert!(matches!(
            sent_to(2, &out).first(),
            Some(HubMsg::Welcome { .. })
        ));
        assert_eq!(status_of(2, &out), vec![201, 200]);
        let mut out = Vec::new();
        hub.on_connect(3, addr(5003), addr(HUB_PORT), now, &mut out);
        let hello = ClientMsg::Hello {
            version: VERSION,
            role: Role::Session,
        };
        hub.on_message(3, hello, now, &mut out);
        hub.on_message(3, ClientMsg::Users { tag: 9 }, now, &mut out);
        assert_eq!(status_of(3, &out), vec![407]);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn an_anonymous_connection_expires_at_the_idle_timeout_whatever_it_sends() {
        let config = HubConfig {
            idle_timeout: Duration::from_secs(10),
            ..HubConfig::default()
        };
        let (mut hub, dir) = hub(config);
        let t0 = Instant::now();
        let mut out = Vec::new();
        hub.on_connect(1, addr(5001), addr(HUB_PORT), t0, &mut out);
        let hello = ClientMsg::Hello {
            version: VERSION,
            role: Role::Session,
        };
        hub.on_message(1, hello, t0, &mut out);
        // An echo every two seconds is answered, but does not keep it.
        for i in 1..=6 {
            let at = t0 + Duration::from_secs(2 * i);
            let mut out = Vec::new();
            hub.on_message(1, ClientMsg::Echo { tag: i as u32 }, at, &mut out);
            assert_eq!(status_of(1, &out), vec![200]);
            let serial = hub.sessions.get(&1).unwrap().serial;
            hub.on_timer(1, serial, at, &mut out);
            let closed = out.iter().any(|a| matches!(a, Action::Close(1)));
            assert_eq!(closed, at >= t0 + Duration::from_secs(10), "at {i}");
            if closed {
                assert!(matches!(
                    sent_to(1, &out).last(),
                    Some(HubMsg::Bye { status, .. }) if *status == Status::TIMEOUT
                ));
                break;
            }
        }
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn logging_out_starts_the_anonymous_clock_again() {
        let config = HubConfig {
            idle_timeout: Duration::from_secs(10),
            ..HubConfig::default()
        };
        let (mut hub, dir) = hub(config);
        let t0 = Instant::now();
        join(&mut hub, 1, "alice", t0);
        let later = t0 + Duration::from_secs(60);
        let mut out = Vec::new();
        hub.on_message(1, ClientMsg::Logout { tag: 3 }, later, &mut out);
        let serial = hub.sessions.get(&1).unwrap().serial;
        hub.on_timer(1, serial, later + Duration::from_secs(9), &mut out);
        assert!(!out.iter().any(|a| matches!(a, Action::Close(1))));
        hub.on_timer(1, serial, later + Duration::from_secs(10), &mut out);
        assert!(out.iter().any(|a| matches!(a, Action::Close(1))));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_broadcast_is_encoded_once_and_shared() {
        let (mut hub, dir) = hub(HubConfig::default());
        let now = Instant::now();
        for (conn, user) in [(1, "a"), (2, "b"), (3, "c")] {
            join(&mut hub, conn, user, now);
        }
        hub.end_turn(now + joins::JOIN_BATCH_DELAY, &mut Vec::new());
        let mut out = Vec::new();
        let say = ClientMsg::Say {
            tag: 5,
            text: "hi all".into(),
        };
        hub.on_message(1, say, now, &mut out);
        let shared: Vec<&Rc<[u8]>> = out
            .iter()
            .filter_map(|a| match a {
                Action::Share(_, frame) => Some(frame),
                _ => None,
            })
            .collect();
        assert_eq!(shared.len(), 2, "everyone but the sender");
        assert!(Rc::ptr_eq(shared[0], shared[1]), "one encoding for all");
        assert_eq!(status_of(1, &out), vec![200]);
        assert!(sent_to(1, &out)
            .iter()
            .all(|m| !matches!(m, HubMsg::Chat { .. })));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_second_login_waits_for_a_ghost_check() {
        let (mut hub, dir) = hub(HubConfig::default());
        let t0 = Instant::now();
        join(&mut hub, 1, "alice", t0);
        // A live first session answers the check: the second login gets 403.
        let out = join(&mut hub, 2, "alice", t0);
        let nonce = sent_to(1, &out)
            .into_iter()
            .find_map(|m| match m {
                HubMsg::Ping { nonce } => Some(nonce),
                _ => None,
            })
            .expect("the first session is pinged");
        assert_eq!(
            status_of(2, &out),
            vec![404],
            "registered already; login waits"
        );
        let mut out = Vec::new();
        hub.on_message(1, ClientMsg::Pong { nonce }, t0, &mut out);
        assert_eq!(status_of(2, &out), vec![403]);
        // A silent first session is a ghost: at the deadline the waiting login takes over.
        let mut out = Vec::new();
        let login = ClientMsg::Login {
            tag: 7,
            user: "alice".into(),
            password: "pw".into(),
            peer_port: 4000,
        };
        hub.on_message(2, login, t0, &mut out);
        let later = t0 + HubConfig::default().ping_timeout + Duration::from_millis(1);
        let serial = hub.sessions.get(&1).unwrap().serial;
        let mut out = Vec::new();
        hub.on_timer(1, serial, later, &mut out);
        assert_eq!(status_of(2, &out), vec![200]);
        assert!(out.iter().any(|a| matches!(a, Action::Close(1))));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_users_reply_keeps_inside_its_budget() {
        let mut names: Vec<String> = (0..5).map(|i| format!("user{i}")).collect();
        assert!(!fit_names(&mut names, 1000));
        assert_eq!(names.len(), 5);
        // Each name costs 2 + 5 bytes: 20 bytes hold two.
        assert!(fit_names(&mut names, 20));
        assert_eq!(names, vec!["user0", "user1"]);
    }

    #[test]
    fn password_hashes_are_budgeted_per_turn() {
        let (mut hub, dir) = hub(HubConfig {
            auth_rate: 0,
            ..HubConfig::default()
        });
        let now = Instant::now();
        hub.begin_turn(now);
        let joins = HASHES_PER_TURN as usize / 2;
        for conn in 1..joins {
            join(&mut hub, conn, &format!("u{conn}"), now);
        }
        assert!(!hub.hash_budget_spent(), "a register and a login each");
        join(&mut hub, joins, "last", now);
        assert!(hub.hash_budget_spent());
        hub.begin_turn(now);
        assert!(!hub.hash_budget_spent());
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// Connect `conn` from `ip` and say hello.
    fn hello_from(hub: &mut Hub, conn: ConnId, ip: [u8; 4], now: Instant) -> Vec<Action> {
        let mut out = Vec::new();
        hub.on_connect(
            conn,
            SocketAddr::from((ip, 6000)),
            addr(HUB_PORT),
            now,
            &mut out,
        );
        let hello = ClientMsg::Hello {
            version: VERSION,
            role: Role::Session,
        };
        hub.on_message(conn, hello, now, &mut out);
        out
    }

    fn login_msg(tag: u32, user: &str, password: &str) -> ClientMsg {
        ClientMsg::Login {
            tag,
            user: user.into(),
            password: password.into(),
            peer_port: 4000,
        }
    }

    /// The `retry_after` of the last reply to `conn`, if it was a 429.
    fn retry_after(conn: ConnId, out: &[Action]) -> Option<u32> {
        sent_to(conn, out).into_iter().rev().find_map(|m| match m {
            HubMsg::Reply {
                status,
                body: Body::RetryAfter(secs),
                ..
            } if status == Status::RATE_LIMITED => Some(secs),
            _ => None,
        })
    }

    #[test]
    fn fifty_registrations_and_logins_from_one_address_pass_on_default_flags() {
        let (mut hub, dir) = hub(HubConfig::default());
        let now = Instant::now();
        for conn in 1..=50 {
            let out = join(&mut hub, conn, &format!("pupil{conn}"), now);
            assert_eq!(status_of(conn, &out), vec![201, 200], "pupil {conn}");
        }
        assert_eq!(hub.online_count(), 50);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn rotating_addresses_cannot_brute_force_one_account() {
        let config = HubConfig {
            account_auth_rate: 5,
            ..HubConfig::default()
        };
        let (mut hub, dir) = hub(config);
        let t0 = Instant::now();
        join(&mut hub, 1, "alice", t0);
        let mut out = Vec::new();
        hub.on_message(1, ClientMsg::Logout { tag: 3 }, t0, &mut out);
        for i in 0..5u8 {
            let conn = 10 + i as usize;
            let mut out = hello_from(&mut hub, conn, [127, 0, 1, i], t0);
            hub.on_message(conn, login_msg(1, "alice", "guess"), t0, &mut out);
            assert_eq!(status_of(conn, &out), vec![402], "attempt {i}");
        }
        let mut out = hello_from(&mut hub, 20, [127, 0, 2, 1], t0);
        hub.on_message(20, login_msg(1, "alice", "pw"), t0, &mut out);
        assert_eq!(
            status_of(20, &out),
            vec![429],
            "even the right password waits"
        );
        assert_eq!(retry_after(20, &out), Some(60));
        // The owner, from the address it logged in from before, is let through.
        let mut out = Vec::new();
        hub.on_message(1, login_msg(4, "alice", "pw"), t0, &mut out);
        assert_eq!(status_of(1, &out), vec![200]);
        // A minute later the window is over for everyone.
        let later = t0 + Duration::from_secs(60);
        let mut out = Vec::new();
        hub.on_message(20, login_msg(2, "alice", "guess"), later, &mut out);
        assert_eq!(status_of(20, &out), vec![402]);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn the_address_that_registered_an_account_is_known_to_its_lock() {
        let config = HubConfig {
            account_auth_rate: 2,
            ..HubConfig::default()
        };
        let (mut hub, dir) = hub(config);
        let t0 = Instant::now();
        let mut out = hello_from(&mut hub, 1, [127, 0, 0, 1], t0);
        let register = ClientMsg::Register {
            tag: 1,
            user: "alice".into(),
            password: "pw".into(),
        };
        hub.on_message(1, register, t0, &mut out);
        assert_eq!(status_of(1, &out), vec![201]);
        for i in 0..3u8 {
            let conn = 10 + i as usize;
            let mut out = hello_from(&mut hub, conn, [127, 0, 1, i], t0);
            hub.on_message(conn, login_msg(1, "alice", "guess"), t0, &mut out);
        }
        let mut out = Vec::new();
        hub.on_message(1, login_msg(2, "alice", "pw"), t0, &mut out);
        assert_eq!(status_of(1, &out), vec![200], "the owner's own first login");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn every_password_check_counts_against_the_hash_rate() {
        let config = HubConfig {
            hash_rate: 6,
            ..HubConfig::default()
        };
        let (mut hub, dir) = hub(config);
        let t0 = Instant::now();
        // A register and a login: two hashes.
        join(&mut hub, 1, "alice", t0);
        let passwd = |tag| ClientMsg::Passwd {
            tag,
            old: "pw".into(),
            new: "pw".into(),
        };
        let mut out = Vec::new();
        hub.on_message(1, passwd(5), t0, &mut out);
        hub.on_message(1, passwd(6), t0, &mut out);
        assert_eq!(
            status_of(1, &out),
            vec![200, 200],
            "old = new still hashes twice"
        );
        hub.on_message(1, passwd(7), t0, &mut out);
        assert_eq!(status_of(1, &out), vec![200, 200, 429]);
        assert!(retry_after(1, &out).is_some_and(|s| (1..=60).contains(&s)));
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// The nonce of the last ping sent to `conn`.
    fn ping_nonce(conn: ConnId, out: &[Action]) -> Option<u32> {
        sent_to(conn, out).into_iter().rev().find_map(|m| match m {
            HubMsg::Ping { nonce } => Some(nonce),
            _ => None,
        })
    }

    /// Fire `conn`'s deadline at `at`.
    fn fire(hub: &mut Hub, conn: ConnId, at: Instant) -> Vec<Action> {
        let serial = hub.sessions.get(&conn).unwrap().serial;
        let mut out = Vec::new();
        hub.on_timer(conn, serial, at, &mut out);
        out
    }

    #[test]
    fn only_one_login_waits_on_a_ghost_check_and_only_it_takes_over() {
        let (mut hub, dir) = hub(HubConfig::default());
        let t0 = Instant::now();
        join(&mut hub, 1, "alice", t0);
        let mut waiting = hello_from(&mut hub, 2, [127, 0, 0, 2], t0);
        hub.on_message(2, login_msg(5, "alice", "pw"), t0, &mut waiting);
        assert!(
            ping_nonce(1, &waiting).is_some(),
            "the old session is checked"
        );
        assert_eq!(status_of(2, &waiting), Vec::<u16>::new(), "the login waits");
        // A second login meanwhile, from another connection or the same one: 403 now.
        let mut out = hello_from(&mut hub, 3, [127, 0, 0, 3], t0);
        hub.on_message(3, login_msg(6, "alice", "pw"), t0, &mut out);
        hub.on_message(2, login_msg(7, "alice", "pw"), t0, &mut out);
        assert_eq!(status_of(3, &out), vec![403]);
        assert_eq!(status_of(2, &out), vec![403]);
        assert_eq!(ping_nonce(1, &out), None, "no second check");
        // The old session stays silent: exactly the waiting login gets in.
        let later = t0 + HubConfig::default().ping_timeout + Duration::from_millis(1);
        let out = fire(&mut hub, 1, later);
        assert_eq!(status_of(2, &out), vec![200]);
        assert_eq!(status_of(3, &out), Vec::<u16>::new());
        assert_eq!(hub.online.get("alice"), Some(&2));
        assert_eq!(hub.online_count(), 1);
        // A login after the replacement checks the new session again.
        let mut out = Vec::new();
        hub.on_message(3, login_msg(8, "alice", "pw"), later, &mut out);
        assert!(ping_nonce(2, &out).is_some(), "the new session is checked");
        assert_eq!(status_of(3, &out), Vec::<u16>::new());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_waiter_that_left_frees_the_turn_for_the_next_login() {
        let (mut hub, dir) = hub(HubConfig::default());
        let t0 = Instant::now();
        join(&mut hub, 1, "alice", t0);
        let mut out = hello_from(&mut hub, 2, [127, 0, 0, 2], t0);
        hub.on_message(2, login_msg(5, "alice", "pw"), t0, &mut out);
        hub.on_disconnect(2, "gone", t0, &mut out);
        let t1 = t0 + Duration::from_secs(1);
        let mut out = hello_from(&mut hub, 3, [127, 0, 0, 3], t1);
        hub.on_message(3, login_msg(6, "alice", "pw"), t1, &mut out);
        assert!(ping_nonce(1, &out).is_some());
        // The first check runs out: the one waiter still there gets in, once.
        let out = fire(&mut hub, 1, t0 + Duration::from_secs(11));
        assert_eq!(status_of(3, &out), vec![200]);
        assert_eq!(hub.online.get("alice"), Some(&3));
        let joins = out
            .iter()
            .filter(|a| matches!(a, Action::Event(e) if e.name == "login"))
            .count();
        assert_eq!(joins, 1);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn an_answering_session_refuses_the_waiter_and_the_next_login_checks_again() {
        let (mut hub, dir) = hub(HubConfig::default());
        let t0 = Instant::now();
        join(&mut hub, 1, "alice", t0);
        let mut out = hello_from(&mut hub, 2, [127, 0, 0, 2], t0);
        hub.on_message(2, login_msg(5, "alice", "pw"), t0, &mut out);
        let nonce = ping_nonce(1, &out).unwrap();
        let mut out = Vec::new();
        hub.on_message(1, ClientMsg::Pong { nonce }, t0, &mut out);
        assert_eq!(status_of(2, &out), vec![403]);
        let mut out = Vec::new();
        hub.on_message(2, login_msg(6, "alice", "pw"), t0, &mut out);
        assert!(ping_nonce(1, &out).is_some(), "a new check, not a refusal");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn pipelined_password_checks_wait_their_turn_while_others_are_served() {
        let (mut hub, dir) = hub(HubConfig {
            hash_rate: 0,
            ..HubConfig::default()
        });
        let t0 = Instant::now();
        join(&mut hub, 1, "mallory", t0);
        join(&mut hub, 2, "honest", t0);
        hub.begin_turn(t0);
        let mut out = Vec::new();
        for tag in 0..100 {
            let passwd = ClientMsg::Passwd {
                tag,
                old: "pw".into(),
                new: "pw".into(),
            };
            hub.on_request(1, Request::Msg(passwd), t0, &mut out);
        }
        hub.on_request(2, Request::Msg(ClientMsg::Users { tag: 7 }), t0, &mut out);
        assert_eq!(status_of(1, &out), vec![200], "one check per turn");
        assert_eq!(
            status_of(2, &out),
            vec![200],
            "the honest request is served"
        );
        assert_eq!(hub.room(1), 0, "the rest waits");
        hub.begin_turn(t0);
        let mut out = Vec::new();
        hub.resume(1, t0, &mut out);
        assert_eq!(status_of(1, &out), vec![200]);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_turn_handles_a_bounded_number_of_requests_per_connection_in_order() {
        let (mut hub, dir) = hub(HubConfig::default());
        let t0 = Instant::now();
        join(&mut hub, 1, "alice", t0);
        hub.begin_turn(t0);
        let mut out = Vec::new();
        for tag in 0..100 {
            hub.on_request(1, Request::Msg(ClientMsg::Echo { tag }), t0, &mut out);
        }
        let per_turn = budget::REQUESTS_PER_TURN as usize;
        assert_eq!(status_of(1, &out).len(), per_turn);
        let mut tags = Vec::new();
        let mut turns = 1;
        while hub.room(1) == 0 {
            hub.begin_turn(t0);
            hub.resume(1, t0, &mut out);
            turns += 1;
        }
        for m in sent_to(1, &out) {
            if let HubMsg::Reply { tag, .. } = m {
                tags.push(tag);
            }
        }
        assert_eq!(tags, (0..100).collect::<Vec<u32>>(), "in order, none lost");
        assert_eq!(turns, 100usize.div_ceil(per_turn));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn logins_in_a_burst_share_one_joins_frame_sent_after_the_delay() {
        let (mut hub, dir) = hub(HubConfig::default());
        let t0 = Instant::now();
        join(&mut hub, 1, "early", t0);
        let mut out = Vec::new();
        hub.end_turn(t0 + joins::JOIN_BATCH_DELAY, &mut out);
        for (conn, user) in [(2, "a"), (3, "b"), (4, "c")] {
            out.extend(join(&mut hub, conn, user, t0 + joins::JOIN_BATCH_DELAY));
        }
        let t1 = t0 + joins::JOIN_BATCH_DELAY;
        hub.end_turn(t1, &mut out);
        assert!(
            !out.iter().any(|a| matches!(a, Action::Share(..))),
            "nothing before the delay"
        );
        assert_eq!(hub.joins_due(), Some(t1 + joins::JOIN_BATCH_DELAY));
        hub.end_turn(t1 + joins::JOIN_BATCH_DELAY, &mut out);
        let shared: Vec<&Rc<[u8]>> = out
            .iter()
            .filter_map(|a| match a {
                Action::Share(_, frame) => Some(frame),
                _ => None,
            })
            .collect();
        assert_eq!(shared.len(), 4, "everyone online, the joiners too");
        assert!(
            shared.iter().all(|f| Rc::ptr_eq(f, shared[0])),
            "encoded once"
        );
        match sent_to(1, &out).pop() {
            Some(HubMsg::Joins { users, online }) => {
                assert_eq!(users, vec!["a", "b", "c"]);
                assert_eq!(online, 4);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(hub.joins_due(), None);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn pending_joins_go_out_before_a_leave() {
        let (mut hub, dir) = hub(HubConfig::default());
        let t0 = Instant::now();
        join(&mut hub, 1, "early", t0);
        join(&mut hub, 2, "late", t0);
        let mut out = Vec::new();
        hub.on_disconnect(2, "gone", t0, &mut out);
        let got: Vec<HubMsg> = sent_to(1, &out);
        assert!(
            matches!(&got[..], [HubMsg::Joins { users, online: 2 }, HubMsg::Leave { user: left, online: 1, .. }] if users == &["early", "late"] && left == "late"),
            "{got:?}"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn lookups_answer_online_holders_only() {
        let (mut hub, dir) = hub(HubConfig::default());
        let now = Instant::now();
        join(&mut hub, 1, "alice", now);
        join(&mut hub, 2, "bob", now);
        let file = FileInfo {
            name: "x.bin".into(),
            size: 3,
            hash: [7; 32],
        };
        let mut out = Vec::new();
        let publish = ClientMsg::Publish {
            tag: 3,
            file,
            replace: false,
        };
        hub.on_message(1, publish, now, &mut out);
        let lookup = |tag| ClientMsg::Lookup {
            tag,
            name: "x.bin".into(),
        };
        let mut out = Vec::new();
        hub.on_message(2, lookup(4), now, &mut out);
        match sent_to(2, &out).pop() {
            Some(HubMsg::Reply {
                status,
                body: Body::Holders(holders),
                ..
            }) => {
                assert_eq!(status.0, 204);
                assert_eq!(holders.len(), 1);
                assert_eq!(holders[0].user, "alice");
                assert_eq!(holders[0].addr, SocketAddr::new(addr(0).ip(), 4000));
            }
            other => panic!("{other:?}"),
        }
        let mut out = Vec::new();
        hub.on_disconnect(1, "gone", now, &mut out);
        let mut out = Vec::new();
        hub.on_message(2, lookup(5), now, &mut out);
        assert_eq!(status_of(2, &out), vec![406]);
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// Who a lookup of `name` by `conn` offers, and its status.
    fn offered(hub: &mut Hub, conn: ConnId, name: &str, now: Instant) -> (u16, Vec<String>) {
        let mut out = Vec::new();
        let lookup = ClientMsg::Lookup {
            tag: 50,
            name: name.into(),
        };
        hub.on_message(conn, lookup, now, &mut out);
        match sent_to(conn, &out).pop() {
            Some(HubMsg::Reply {
                status,
                body: Body::Holders(h),
                ..
            }) => (status.0, h.into_iter().map(|h| h.user).collect()),
            other => panic!("{other:?}"),
        }
    }

    fn report_of(
        hub: &mut Hub,
        conn: ConnId,
        holder: &str,
        hash: u8,
        now: Instant,
    ) -> (u16, String) {
        let mut out = Vec::new();
        let report = ClientMsg::Report {
            tag: 51,
            holder: holder.into(),
            name: "x".into(),
            hash: [hash; 32],
        };
        hub.on_message(conn, report, now, &mut out);
        match sent_to(conn, &out).pop() {
            Some(HubMsg::Reply {
                status, message, ..
            }) => (status.0, message),
            other => panic!("{other:?}"),
        }
    }

    fn publish_x(hub: &mut Hub, conn: ConnId, hash: u8, now: Instant) {
        let mut out = Vec::new();
        let file = FileInfo {
            name: "x".into(),
            size: 3,
            hash: [hash; 32],
        };
        let publish = ClientMsg::Publish {
            tag: 52,
            file,
            replace: true,
        };
        hub.on_message(conn, publish, now, &mut out);
        assert_eq!(status_of(conn, &out), vec![202]);
    }

    #[test]
    fn a_report_needs_a_recent_referral_and_demotes_for_the_reporter_until_a_quorum() {
        let (mut hub, dir) = hub(HubConfig {
            auth_rate: 0,
            ..HubConfig::default()
        });
        let t0 = Instant::now();
        let users = ["alice", "dave", "bob", "m1", "m2", "m3"];
        for (i, user) in users.iter().enumerate() {
            join(&mut hub, i + 1, user, t0);
        }
        let (alice, dave, bob, m1, m2, m3) = (1, 2, 3, 4, 5, 6);
        publish_x(&mut hub, alice, 7, t0);
        publish_x(&mut hub, dave, 8, t0);
        let both = (204, vec!["alice".to_string(), "dave".to_string()]);
        assert_eq!(
            report_of(&mut hub, m1, "alice", 7, t0).0,
            400,
            "no referral"
        );
        assert_eq!(offered(&mut hub, m1, "x", t0), both);
        assert_eq!(
            report_of(&mut hub, m1, "alice", 8, t0).0,
            400,
            "not that hash"
        );
        assert_eq!(report_of(&mut hub, m1, "alice", 7, t0).0, 200);
        assert_eq!(offered(&mut hub, m1, "x", t0).1, ["dave"], "demoted for m1");
        assert_eq!(offered(&mut hub, bob, "x", t0), both, "not for bob");
        let (status, again) = report_of(&mut hub, m1, "alice", 7, t0);
        assert_eq!(status, 200);
        assert!(again.contains("counts once"), "{again}");
        assert_eq!(offered(&mut hub, bob, "x", t0), both, "m1 counts once");
        // A referral is good for a few minutes only.
        offered(&mut hub, m2, "x", t0);
        let late = t0 + REFERRAL_TTL + Duration::from_secs(1);
        assert_eq!(report_of(&mut hub, m2, "alice", 7, late).0, 400);
        offered(&mut hub, m2, "x", late);
        assert_eq!(report_of(&mut hub, m2, "alice", 7, late).0, 200);
        assert_eq!(offered(&mut hub, bob, "x", late), both, "two of three");
        offered(&mut hub, m3, "x", late);
        let (_, quorum) = report_of(&mut hub, m3, "alice", 7, late);
        assert!(quorum.contains("anyone"), "{quorum}");
        assert_eq!(
            offered(&mut hub, bob, "x", late).1,
            ["dave"],
            "demoted for all"
        );
        // Demoted holders are still offered when nobody else holds the file: no 406.
        let mut out = Vec::new();
        hub.on_disconnect(dave, "gone", late, &mut out);
        assert_eq!(
            offered(&mut hub, bob, "x", late),
            (204, vec!["alice".into()])
        );
        // New content clears it.
        join(&mut hub, dave, "dave", late);
        publish_x(&mut hub, alice, 9, late);
        assert_eq!(offered(&mut hub, bob, "x", late), both);
        assert_eq!(offered(&mut hub, m1, "x", late), both);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
