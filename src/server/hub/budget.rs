//! Each connection's budget of work per turn of the loop: at most
//! [`REQUESTS_PER_TURN`] requests and one password check, no lookup once the turn
//! issued its share of fetch tickets, and nothing but lookups behind a lookup reply
//! held for the turn's signature. What a connection sent
//! beyond that waits, in order, in its backlog (at most one read burst) or unread in
//! its socket, and the loop brings it back on the next turn — so one socket with a
//! thousand pipelined `Login`s or `Search`es cannot hold up everyone else.

use super::{Action, ConnId, Hub};
use crate::proto::message::ClientMsg;
use std::time::Instant;

/// Requests one connection may have handled per turn of the loop.
pub const REQUESTS_PER_TURN: u32 = 32;
/// Password checks one connection may have per turn (a `Passwd` is one check, two hashes).
const CHECKS_PER_TURN: u32 = 1;

/// A frame from a connection: a decoded request, or one that did not decode (with its
/// tag, if it had one, so that the 400 names the right request).
#[derive(Debug)]
pub enum Request {
    Msg(ClientMsg),
    Bad { tag: Option<u32>, why: String },
}

/// What one connection spent in the current turn.
#[derive(Debug, Default)]
pub(super) struct TurnUse {
    turn: u64,
    requests: u32,
    checks: u32,
    /// A lookup reply of this turn waits for the turn's signature (see
    /// `fetch_tickets.rs`): only lookups, whose replies queue behind it, go on.
    held: bool,
}

impl TurnUse {
    /// Whether a reply of turn `turn` is held.
    pub(super) fn holds(&self, turn: u64) -> bool {
        self.held && self.turn == turn
    }

    /// A reply of turn `turn` is held.
    pub(super) fn hold(&mut self, turn: u64) {
        if self.turn != turn {
            *self = TurnUse {
                turn,
                ..TurnUse::default()
            };
        }
        self.held = true;
    }

    /// The held replies were sent.
    pub(super) fn release(&mut self) {
        self.held = false;
    }
}

/// Password hashes a request costs (a check before hello is answered 400, cheaply).
fn hashes_of(msg: &ClientMsg) -> u32 {
    match msg {
        ClientMsg::Register { .. } | ClientMsg::Login { .. } => 1,
        ClientMsg::Passwd { .. } => 2,
        _ => 0,
    }
}

impl Hub {
    /// A request from `conn`: handled now if the connection's turn budget allows it
    /// and nothing of it waits already, else kept for a later turn (see [`Hub::resume`]).
    pub fn on_request(&mut self, conn: ConnId, req: Request, now: Instant, out: &mut Vec<Action>) {
        let turn = self.turn;
        let global_spent = self.spent();
        let Some(session) = self.sessions.get_mut(&conn) else {
            return;
        };
        if !session.backlog.is_empty() || !fits(&mut session.used, turn, &req, global_spent) {
            session.waiting_since.get_or_insert(now);
            session.backlog.push_back(req);
            return;
        }
        self.handle(conn, req, now, out);
    }

    /// Handle what waits in `conn`'s backlog, as far as this turn's budget goes.
    pub fn resume(&mut self, conn: ConnId, now: Instant, out: &mut Vec<Action>) {
        loop {
            let turn = self.turn;
            let global_spent = self.spent();
            let Some(session) = self.sessions.get_mut(&conn) else {
                return;
            };
            let Some(next) = session.backlog.front() else {
                return;
            };
            if !fits(&mut session.used, turn, next, global_spent) {
                return;
            }
            let Some(req) = session.backlog.pop_front() else {
                return;
            };
            if session.backlog.is_empty() {
                session.caught_up(now);
            }
            self.handle(conn, req, now, out);
        }
    }

    /// How many more requests `conn` may send in this turn: 0 while some wait.
    pub fn room(&self, conn: ConnId) -> usize {
        match self.sessions.get(&conn) {
            Some(s) if s.backlog.is_empty() => {
                let used = if s.used.turn == self.turn {
                    s.used.requests
                } else {
                    0
                };
                REQUESTS_PER_TURN.saturating_sub(used) as usize
            }
            _ => 0,
        }
    }

    /// What of the hub-wide budgets this turn has spent.
    fn spent(&self) -> Spent {
        Spent {
            hashes: self.hash_budget_spent(),
            tickets: self.ticket_budget_spent(),
        }
    }

    fn handle(&mut self, conn: ConnId, req: Request, now: Instant, out: &mut Vec<Action>) {
        match req {
            Request::Msg(msg) => self.on_message(conn, msg, now, out),
            Request::Bad { tag, why } => self.on_bad_message(conn, tag, &why, out),
        }
    }
}

/// The hub-wide budgets of the turn that are spent: password hashes, fetch tickets.
#[derive(Debug, Clone, Copy)]
struct Spent {
    hashes: bool,
    tickets: bool,
}

/// Whether `req` fits in what the connection has left this turn; if so it is counted.
fn fits(used: &mut TurnUse, turn: u64, req: &Request, spent: Spent) -> bool {
    if used.turn != turn {
        *used = TurnUse {
            turn,
            ..TurnUse::default()
        };
    }
    let check = matches!(req, Request::Msg(m) if hashes_of(m) > 0);
    let signs = matches!(req, Request::Msg(ClientMsg::Lookup { .. }));
    if used.requests >= REQUESTS_PER_TURN
        || (check && (used.checks >= CHECKS_PER_TURN || spent.hashes))
        || (signs && spent.tickets)
        || (used.held && !signs)
    {
        return false;
    }
    used.requests += 1;
    used.checks += check as u32;
    true
}
