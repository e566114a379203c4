//! The hub's pure state: sessions, accounts, chat and liveness. Messages and the time go
//! in; frames to send, connections to close, deadlines and console lines come out.

mod accounts;
mod action;
mod admission;
mod budget;
mod chat;
mod commands;
mod config;
mod fetch_tickets;
mod joins;
mod liveness;
mod operator;
mod own_addr;
mod pending;
mod resumption;
mod sessions;
mod tracker;

pub use action::Action;
pub use budget::Request;
pub use config::HubConfig;

use super::guard::{Guard, GuardLimits};
use super::index::Index;
use super::inline_name::Name;
use super::persist::{JobId, Snapshot};
use super::random::Randomness;
use super::reports::Reports;
use super::store::{Catalogue, FreeSpace, StoreLimits};
use super::tickets::Tickets;
use super::warnings::{Verdict, Warnings};
use crate::net::ConnMap;
use crate::proto::message::{Body, ClientMsg, HubMsg};
use crate::proto::names;
use crate::proto::status::Status;
use crate::transfer::tree::Totals;
use crate::trust::{Fingerprint, TicketSigner};
use log::warn;
use std::collections::{HashMap, VecDeque};

use std::time::Instant;

/// A connection, as the loop names it (its slab key).
pub type ConnId = usize;

/// Longest chat text, in bytes.
pub const MAX_TEXT_BYTES: usize = names::MAX_TEXT_BYTES;
/// Password hashes per loop turn (about 2.5 ms each: a turn stalls 10 ms at most).
const HASHES_PER_TURN: u32 = 4;
/// Fetch tickets issued per loop turn before lookups wait for the next. The turn signs
/// them together once (an ECDSA signature is 20 to 45 µs here); each costs a body, a
/// leaf and its path. With one lookup of the most holders past it, a turn's tree stays
/// within the deepest a ticket may prove (a test checks).
const TICKETS_PER_TURN: u64 = 128;
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

mod store_conns;
mod store_ops;
mod store_rm;
pub use super::tickets::{Ticket, TicketOp};
use chat::fit_names;
use resumption::ResumeClaim;
use sessions::{ConnState, LoginWait, PendingPing, Phase, PingPurpose};
use store_ops::PutRequest;

/// A logged-in user's request: who asks, on which connection, and the tag of its reply.
#[derive(Debug, Clone, Copy)]
struct Asker<'a> {
    conn: ConnId,
    tag: u32,
    user: &'a str,
}

/// What a login claims: the account, its password, the peer port it announces and
/// the key its client shows peers.
#[derive(Debug, Clone, Copy)]
struct LoginClaim<'a> {
    name: &'a str,
    password: &'a str,
    peer_port: u16,
    fingerprint: Fingerprint,
}

/// Counters for `stats`.
#[derive(Debug, Default, Clone)]
pub struct Counters {
    pub connections_total: u64,
    pub lookups: u64,
    pub chat_relayed: u64,
    /// Logins with a resume token (no password, no hash).
    pub resumed_logins: u64,
}

/// The hub.
pub struct Hub {
    config: HubConfig,
    index: Index,
    /// Holders reported for bad data, and for whom they are demoted.
    reports: Reports,
    sessions: ConnMap<ConnState>,
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
    /// The store's entries, in memory.
    catalogue: Catalogue,
    /// How much the store's disk has free.
    free_space: Box<dyn FreeSpace>,
    /// Where ticket tokens and version names come from.
    random: Box<dyn Randomness>,
    /// Store tickets out, and the names and bytes their uploads hold.
    tickets: Tickets,
    /// Each store connection the loop runs for the hub (see [`Hub::on_store_event`]).
    store_jobs: HashMap<ConnId, store_conns::StoreJob>,
    /// Bytes queued toward all connections, as the loop last said (for `stats`).
    queued_output: usize,
    /// Wall-clock seconds (Unix time) of the current turn, from the loop: bans and
    /// the times the database records.
    wall: u64,
    /// The next job id of an ask to the backend.
    next_job: JobId,
    /// Asks waiting for their answer, with what to do then.
    pending: HashMap<JobId, pending::Then>,
    /// What signs the fetch tickets of lookup replies (the hub's key).
    signer: Box<dyn TicketSigner>,
    /// Fetch tickets issued so far (each ticket's serial).
    tickets_issued: u64,
    /// The count of tickets issued when this turn began.
    tickets_at_turn: u64,
    /// This turn's tickets and the lookup replies that wait for their signature.
    turn_tickets: fetch_tickets::TurnTickets,
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

/// The store as the hub is given it (its entries come in the [`Snapshot`]): its
/// limits, and how to ask the disk's free space.
pub struct StoreSide {
    pub limits: StoreLimits,
    pub free_space: Box<dyn FreeSpace>,
}

impl Hub {
    /// A hub that starts at `now` with what `snapshot` holds (loaded from the
    /// backend), the store's limits and free space in `store`, drawing random bytes
    /// from `random` and signing fetch tickets with `signer`.
    pub fn new(
        now: Instant,
        config: HubConfig,
        snapshot: Snapshot,
        store: StoreSide,
        random: Box<dyn Randomness>,
        signer: Box<dyn TicketSigner>,
    ) -> Hub {
        let mut index = Index::from_published(snapshot.published);
        index.set_max_per_owner(config.max_published);
        let tickets = Tickets::new(config.store_ticket_ttl, config.store_max_tickets);
        Hub {
            tickets,
            index,
            reports: Reports::default(),
            guard: Guard::new(GuardLimits {
                address_failures: config.auth_rate,
                account_failures: config.account_auth_rate,
                hashes: config.hash_rate,
            }),
            warnings: Warnings::default(),
            clock: now,
            config,
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
            catalogue: Catalogue::new(store.limits, snapshot.store),
            free_space: store.free_space,
            random,
            store_jobs: HashMap::new(),
            queued_output: 0,
            wall: 0,
            next_job: 1,
            pending: HashMap::new(),
            signer,
            tickets_issued: 0,
            tickets_at_turn: 0,
            turn_tickets: fetch_tickets::TurnTickets::default(),
        }
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

    /// A new turn of the loop at `now`, `wall` seconds after the Unix epoch: the hashing
    /// budget is full again; warnings counted in a window that ended are summed up.
    pub fn begin_turn(&mut self, now: Instant, wall: u64) {
        self.hashes_this_turn = 0;
        self.tickets_at_turn = self.tickets_issued;
        self.turn += 1;
        self.clock = now;
        self.wall = wall;
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

    /// Whether this turn already issued its share of fetch tickets: lookups wait for
    /// the next turn, as requests beyond a connection's budget do.
    pub fn ticket_budget_spent(&self) -> bool {
        self.tickets_issued - self.tickets_at_turn >= TICKETS_PER_TURN
    }

    /// The end of a turn of the loop: sign its fetch tickets and send the replies that
    /// waited for them; send the join notices that are due.
    pub fn end_turn(&mut self, now: Instant, out: &mut Vec<Action>) {
        self.sign_tickets(out);
        self.send_due_joins(now, out);
    }

    /// Users online now.
    pub fn online_count(&self) -> usize {
        self.online.len()
    }

    /// Open connections.
    pub fn connection_count(&self) -> usize {
        self.sessions.len()
    }

    /// One decoded message from `conn` (the loop goes through [`Hub::on_request`]).
    fn on_message(&mut self, conn: ConnId, msg: ClientMsg, now: Instant, out: &mut Vec<Action>) {
        let Some(session) = self.sessions.get_mut(&conn) else {
            return;
        };
        session.last_heard = now;
        if session.phase == Phase::AwaitHello {
            return self.on_hello(conn, msg, now, out);
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
            } => self.register(conn, tag, &name, password, now, out),
            ClientMsg::Login {
                tag,
                user: name,
                password,
                peer_port,
                fingerprint,
            } => {
                let claim = LoginClaim {
                    name: &name,
                    password: &password,
                    peer_port,
                    fingerprint,
                };
                self.login(conn, tag, claim, now, out)
            }
            ClientMsg::Resume {
                tag,
                token,
                peer_port,
                fingerprint,
            } => {
                let claim = ResumeClaim {
                    token,
                    peer_port,
                    fingerprint,
                };
                self.resume_login(conn, tag, claim, now, out)
            }
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
                self.passwd(Asker { conn, tag, user }, old, new, now, out)
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
            ClientMsg::Msg { tag, to, text } => {
                let asker = Asker { conn, tag, user };
                self.private(asker, &to, &text, now, out)
            }
            ClientMsg::Publish { tag, file, replace } => {
                self.publish(Asker { conn, tag, user }, file, replace, out)
            }
            ClientMsg::Unpublish { tag, name } => {
                self.unpublish(Asker { conn, tag, user }, name, out)
            }
            ClientMsg::Sync { tag, files, first } => {
                self.sync(Asker { conn, tag, user }, files, first, out)
            }
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
            } => {
                let asker = Asker { conn, tag, user };
                self.report(asker, &holder, &name, &hash, now, out)
            }
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
                let (status, text, body) = self.store_put(
                    user,
                    PutRequest {
                        name: &name,
                        replace,
                        kind,
                        declared,
                        largest,
                    },
                    now,
                );
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
            ClientMsg::StoreRm { tag, name } => self.store_rm(conn, tag, user, &name, out),
            ClientMsg::Hello { .. }
            | ClientMsg::Pong { .. }
            | ClientMsg::Echo { .. }
            | ClientMsg::Register { .. }
            | ClientMsg::Login { .. }
            | ClientMsg::Resume { .. } => {
                // Handled before a session is needed; nothing reaches here.
            }
        }
    }
}

#[cfg(test)]
mod tests;
