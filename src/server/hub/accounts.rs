//! Accounts on the hub: register, login (own-address, rate-limit, password and ban
//! checks), the ghost check that lets a second login replace a silent session, and
//! password changes.

use super::{own_addr, reply, Action, ConnId, Hub, LoginClaim, LoginWait, Phase, PingPurpose};
use crate::output::Event;
use crate::proto::message::{Body, HubMsg};
use crate::proto::names;
use crate::proto::status::Status;
use crate::server::accounts::AccountError;
use crate::server::guard::Outcome;
use crate::server::guard::Refusal;
use crate::server::name::Name;
use log::{debug, info, warn};
use std::rc::Rc;
use std::time::Instant;

impl Hub {
    /// `passwd`: two password hashes; a wrong old password counts as a failed login.
    pub(super) fn change_password(
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

    pub(super) fn register(
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
        } else if password.is_empty()
            || password.len() > crate::server::accounts::MAX_PASSWORD_BYTES
        {
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

    pub(super) fn login(
        &mut self,
        conn: ConnId,
        tag: u32,
        claim: LoginClaim,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        let LoginClaim {
            name,
            password,
            peer_port,
        } = claim;
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
        // The clock is read once: a step between two reads would underflow.
        let wall = (self.wall_clock)();
        match self.db.ban_until(name) {
            Ok(Some(until)) if until > wall => {
                let minutes = (until - wall).div_ceil(60);
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
    pub(super) fn ghost_waiter(&self, holder: ConnId) -> Option<ConnId> {
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
    pub(super) fn still_waiting(&self, wait: &LoginWait) -> bool {
        self.sessions
            .get(&wait.conn)
            .is_some_and(|s| s.serial == wait.serial && s.phase == Phase::Anonymous)
    }

    /// Log `conn` in as `name` (verified, not banned, not online).
    pub(super) fn complete_login(
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

    /// The session a login waited on is gone: let the waiting connection in, if it is
    /// still there and the name is still free.
    pub(super) fn take_over(&mut self, user: &str, wait: LoginWait) {
        if self.still_waiting(&wait) && !self.online.contains_key(user) {
            info!("{user}: the old session is gone; the waiting login takes over");
            self.pending_logins.push((wait, user.to_owned()));
        }
    }
}

/// A 429 that says when to try again.
pub(super) fn rate_limited(refusal: Refusal) -> (Status, String, Body) {
    let text = format!("{}; try again in {} s", refusal.text, refusal.retry_after);
    (
        Status::RATE_LIMITED,
        text,
        Body::RetryAfter(refusal.retry_after),
    )
}

/// The status and text for a failed account operation.
pub(super) fn account_failure(e: &AccountError) -> (Status, String) {
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
