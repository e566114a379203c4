//! A connection's state and life on the hub: its phase, pings and budgets; opened,
//! refused for bad input (`bye`), its session ended (logout, close, kick), and every
//! session told at shutdown.

use super::liveness::ping_result;
use super::{budget, reply, Action, ConnId, Hub, Request};
use crate::output::Event;
use crate::proto::message::{Body, ClientMsg, HubMsg, Role, VERSION};
use crate::proto::status::Status;
use crate::server::limits::TokenBucket;
use crate::server::reports::Referrals;
use crate::trust::Fingerprint;
use log::{debug, info};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Instant;

/// Where a connection stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Phase {
    AwaitHello,
    Anonymous,
    /// Shared, so that handling each request does not copy the name.
    LoggedIn(Rc<str>),
}

/// Why a ping was sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum PingPurpose {
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
pub(super) struct LoginWait {
    pub(super) conn: ConnId,
    pub(super) serial: u64,
    pub(super) tag: u32,
    pub(super) grant: Grant,
}

/// A login that goes in: the peer port it announced, the resume token its reply
/// carries, and whether it came with a token rather than a password.
#[derive(Clone, PartialEq, Eq)]
pub(super) struct Grant {
    pub(super) peer_port: u16,
    pub(super) token: String,
    pub(super) resumed: bool,
}

impl std::fmt::Debug for Grant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token is a credential: never printed.
        f.debug_struct("Grant")
            .field("peer_port", &self.peer_port)
            .field("resumed", &self.resumed)
            .finish_non_exhaustive()
    }
}

#[derive(Debug)]
pub(super) struct PendingPing {
    pub(super) nonce: u32,
    pub(super) sent: Instant,
    pub(super) purpose: PingPurpose,
}

/// One connection's state.
#[derive(Debug)]
pub(super) struct ConnState {
    pub(super) serial: u64,
    pub(super) addr: SocketAddr,
    /// The address the hub accepted this connection on: the hub's own, which a login
    /// may not announce as its peer address.
    pub(super) local: SocketAddr,
    pub(super) phase: Phase,
    pub(super) peer_port: u16,
    /// The key its client shows peers, as its latest login announced it.
    pub(super) fingerprint: Option<Fingerprint>,
    pub(super) opened: Instant,
    /// Since when the connection has been without a login (its hello, or its logout):
    /// the idle timeout counts from here whatever it sends meanwhile.
    pub(super) anonymous_since: Instant,
    pub(super) last_heard: Instant,
    pub(super) pings: Vec<PendingPing>,
    pub(super) armed: Option<Instant>,
    pub(super) chat: TokenBucket,
    /// (name, holder, hash) this session was sent to by recent lookups: what it may report.
    pub(super) referrals: Referrals,
    /// What it spent of its budget in the current turn (see `budget.rs`).
    pub(super) used: budget::TurnUse,
    /// Requests beyond that budget, waiting in order for the next turns.
    pub(super) backlog: VecDeque<Request>,
    /// Since when its backlog has not been empty: the hub is behind, so the idle
    /// timeout does not count this time (see `liveness.rs`).
    pub(super) waiting_since: Option<Instant>,
}

impl Hub {
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
            ConnState {
                serial,
                addr,
                local,
                phase: Phase::AwaitHello,
                peer_port: 0,
                fingerprint: None,
                opened: now,
                anonymous_since: now,
                last_heard: now,
                pings: Vec::new(),
                armed: None,
                chat: TokenBucket::new(self.config.chat_burst(), now),
                referrals: Referrals::default(),
                used: budget::TurnUse::default(),
                backlog: VecDeque::new(),
                waiting_since: None,
            },
        );
        info!("connect from {addr}");
        out.push(Action::event(
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
    pub(super) fn bye(
        &mut self,
        conn: ConnId,
        status: Status,
        reason: &str,
        out: &mut Vec<Action>,
    ) {
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

    /// End the logged-in session on `conn` (the connection stays open), telling the others.
    pub(super) fn end_session(
        &mut self,
        conn: ConnId,
        reason: &str,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
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
                    out.push(Action::result(ping_result(id, &user, "offline", None)))
                }
                PingPurpose::Liveness => {}
                PingPurpose::Ghost(wait) => self.take_over(&user, wait),
            }
        }
        let online = self.online.len() as u32;
        info!("leave {user} ({reason}); {online} online");
        out.push(Action::event(
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
                let LoginWait {
                    conn, tag, grant, ..
                } = wait;
                self.complete_login(conn, tag, &user, grant, now, out);
            } else if self.still_waiting(&wait) {
                let text = format!("{user} is already logged in");
                out.push(Action::Send(
                    wait.conn,
                    reply(wait.tag, Status::ALREADY_LOGGED_IN, text, Body::None),
                ));
            }
        }
    }

    /// The first message of a connection: it must be a hello of our version.
    pub(super) fn on_hello(
        &mut self,
        conn: ConnId,
        msg: ClientMsg,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        let Some(session) = self.sessions.get_mut(&conn) else {
            return;
        };
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
                        hub_key: self.signer.public_key().to_vec(),
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
                let text = incompatible(version);
                let addr = session.addr;
                self.warn("incompatible version", format_args!("{addr}: {text}"));
                self.bye(conn, Status::BAD_REQUEST, &text, out);
            }
            _ => self.bye(
                conn,
                Status::BAD_REQUEST,
                "not a peerhub client: expected a peerhub hello",
                out,
            ),
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

/// What a hub tells a client, and logs, when their protocol versions differ.
fn incompatible(version: u16) -> String {
    format!(
        "incompatible peerhub version: the client speaks protocol version {version} and this \
         hub {VERSION}; upgrade the older of the two"
    )
}
