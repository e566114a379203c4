//! Accounts on the hub: register, login (rate-limit and password checks; what every
//! login goes through is in `admission.rs`, a login with a resume token in
//! `resumption.rs`), a second login's take-over of a silent session, and password
//! changes. The password checks are asks to the backend; each reply waits for its answer.

use super::pending::{ReplyTo, Then as Waiting};
use super::resumption::ResumeCheck;
use super::sessions::Grant;
use super::{reply, Action, Asker, ConnId, Hub, LoginClaim, LoginWait, Phase, PingPurpose};
use crate::output::Event;
use crate::proto::message::{Body, HubMsg};
use crate::proto::names;
use crate::proto::status::Status;
use crate::server::guard::Outcome;
use crate::server::guard::Refusal;
use crate::server::inline_name::Name;
use crate::server::persist::{Answer, Ask, PersistError, Secret, Standing};
use log::{info, warn};
use std::net::IpAddr;
use std::rc::Rc;
use std::time::Instant;

/// What an account request waits with.
#[derive(Debug)]
pub(super) enum Then {
    /// A registration: whom to tell, from where, which name.
    Registered {
        to: ReplyTo,
        ip: IpAddr,
        name: String,
    },
    /// A login's password check.
    Verified(LoginCheck),
    /// A login with a resume token, waiting for the account's standing.
    Resumed(ResumeCheck),
    /// `passwd`.
    PasswordChanged {
        to: ReplyTo,
        ip: IpAddr,
        user: String,
    },
}

/// A login whose password is being checked: whom to answer, from where, as whom,
/// with which peer port.
#[derive(Debug)]
pub(super) struct LoginCheck {
    to: ReplyTo,
    ip: IpAddr,
    name: String,
    peer_port: u16,
}

/// A reply of one status and text, no body.
pub(super) fn say(status: Status, text: impl Into<String>) -> (Status, String) {
    (status, text.into())
}

impl Hub {
    /// An answer to an account request.
    pub(super) fn account_answered(
        &mut self,
        then: Then,
        answer: Answer,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        match then {
            Then::Registered { to, ip, name } => {
                self.registered(to, ip, &name, answer.done(), now, out)
            }
            Then::Verified(check) => self.verified(check, answer.verified(), now, out),
            Then::Resumed(check) => self.resumed(check, answer.standing(), now, out),
            Then::PasswordChanged { to, ip, user } => {
                let result = answer.done();
                let (outcome, hashes) = match &result {
                    Ok(()) => (Outcome::Success, 2),
                    Err(PersistError::WrongPassword) => (Outcome::WrongPassword, 1),
                    Err(PersistError::NoSuchAccount) => (Outcome::Failed, 1),
                    Err(_) => (Outcome::Error, 1),
                };
                self.guard.checked(ip, Some(&user), hashes, outcome, now);
                let said = match result {
                    Ok(()) => say(Status::OK, "password changed"),
                    Err(e) => account_failure(&e),
                };
                self.send_reply(&to, said, Body::None, out);
            }
        }
    }

    /// `passwd`: two password hashes; a wrong old password counts as a failed login.
    pub(super) fn passwd(
        &mut self,
        asker: Asker,
        old: String,
        new: String,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        let Asker { conn, tag, user } = asker;
        let Some(to) = self.reply_to(conn, tag) else {
            return;
        };
        let Some(ip) = self.sessions.get(&conn).map(|s| s.addr.ip()) else {
            return;
        };
        if new.is_empty() || new.len() > names::MAX_PASSWORD_BYTES {
            let said = say(Status::BAD_REQUEST, "the new password must be 1-256 bytes");
            return self.send_reply(&to, said, Body::None, out);
        }
        if !self.may_hash(&to, ip, Some(user), 2, now, out) {
            return;
        }
        let ask = Ask::ChangePassword {
            name: user.to_owned(),
            old: Secret(old),
            new: Secret(new),
        };
        let user = user.to_owned();
        let then = Then::PasswordChanged { to, ip, user };
        self.ask(ask, Waiting::Account(then), out);
    }

    pub(super) fn register(
        &mut self,
        conn: ConnId,
        tag: u32,
        name: &str,
        password: String,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        let Some(to) = self.reply_to(conn, tag) else {
            return;
        };
        let Some(ip) = self.sessions.get(&conn).map(|s| s.addr.ip()) else {
            return;
        };
        if let Err(e) = names::check_user(name) {
            let said = say(Status::INVALID_NAME, e.to_string());
            return self.send_reply(&to, said, Body::None, out);
        }
        if password.is_empty() || password.len() > names::MAX_PASSWORD_BYTES {
            let said = say(Status::BAD_REQUEST, "the password must be 1-256 bytes");
            return self.send_reply(&to, said, Body::None, out);
        }
        let mut random = [0u8; 8];
        if let Err(e) = self.random.fill(&mut random) {
            let said = say(
                Status::INTERNAL,
                format!("no randomness for a new account: {e}"),
            );
            return self.send_reply(&to, said, Body::None, out);
        }
        if !self.may_hash(&to, ip, None, 1, now, out) {
            return;
        }
        let ask = Ask::Register {
            name: name.to_owned(),
            password: Secret(password),
            created: self.wall,
            // Below 2^62, so that bumping it never overflows.
            token_version: u64::from_le_bytes(random) >> 2,
        };
        let name = name.to_owned();
        self.ask(
            ask,
            Waiting::Account(Then::Registered { to, ip, name }),
            out,
        );
    }

    fn registered(
        &mut self,
        to: ReplyTo,
        ip: IpAddr,
        name: &str,
        result: Result<(), PersistError>,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        // A success is not a failure: only a taken name counts against --auth-rate.
        let (outcome, hashes) = match &result {
            Ok(()) => (Outcome::Success, 1),
            Err(PersistError::Exists) => (Outcome::Failed, 0),
            Err(_) => (Outcome::Error, 0),
        };
        // The address that created the account knows its password: a known one.
        self.guard.checked(ip, Some(name), hashes, outcome, now);
        let said = match result {
            Ok(()) => {
                info!("registered account {name}");
                say(Status::REGISTERED, format!("registered {name}"))
            }
            Err(e) => account_failure(&e),
        };
        self.send_reply(&to, said, Body::None, out);
    }

    /// Whether `hashes` password hashes for `account` from `ip` may be asked for now
    /// (else the 429 is sent); they count against this turn's budget when asked, as the
    /// budget is spent before the answer comes.
    fn may_hash(
        &mut self,
        to: &ReplyTo,
        ip: IpAddr,
        account: Option<&str>,
        hashes: u32,
        now: Instant,
        out: &mut Vec<Action>,
    ) -> bool {
        if let Err(refusal) = self.guard.check(ip, account, hashes, now) {
            let (status, text, body) = rate_limited(refusal);
            self.send_reply(to, (status, text), body, out);
            return false;
        }
        self.hashes_this_turn += hashes;
        true
    }

    /// A login: the checks that cost nothing, then the password check (an ask).
    pub(super) fn login(
        &mut self,
        conn: ConnId,
        tag: u32,
        claim: LoginClaim,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        let Some(to) = self.reply_to(conn, tag) else {
            return;
        };
        let LoginClaim {
            name,
            password,
            peer_port,
            fingerprint,
        } = claim;
        let refusal = names::check_user(name)
            .err()
            .map(|e| say(Status::INVALID_NAME, e.to_string()));
        let Some(ip) = self.may_log_in(&to, peer_port, refusal, out) else {
            return;
        };
        self.claim_key(conn, fingerprint);
        if !self.may_hash(&to, ip, Some(name), 1, now, out) {
            return;
        }
        let ask = Ask::Verify {
            name: name.to_owned(),
            password: Secret(password.to_owned()),
        };
        let name = name.to_owned();
        let then = Then::Verified(LoginCheck {
            to,
            ip,
            name,
            peer_port,
        });
        self.ask(ask, Waiting::Account(then), out);
    }

    /// A login's password check came back (with the account's standing): refuse it, or
    /// let it in with a fresh resume token.
    fn verified(
        &mut self,
        check: LoginCheck,
        verified: Result<Standing, PersistError>,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        let LoginCheck {
            to,
            ip,
            name,
            peer_port,
        } = check;
        let outcome = match &verified {
            Ok(_) => Outcome::Success,
            Err(PersistError::WrongPassword) => Outcome::WrongPassword,
            Err(PersistError::NoSuchAccount | PersistError::BadPassword) => Outcome::Failed,
            Err(_) => Outcome::Error,
        };
        self.guard.checked(ip, Some(&name), 1, outcome, now);
        let standing = match verified {
            Ok(standing) => standing,
            Err(e) => return self.send_reply(&to, account_failure(&e), Body::None, out),
        };
        if let Some(said) = self.ban_refusal(&name, standing.banned_until) {
            return self.send_reply(&to, said, Body::None, out);
        }
        let grant = self.grant(&name, standing.token_version, peer_port);
        self.admit(to, name, grant, now, out);
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

    /// Log `conn` in as `name` (verified, not banned, not online); its reply carries the
    /// resume token of `grant`.
    pub(super) fn complete_login(
        &mut self,
        conn: ConnId,
        tag: u32,
        name: &str,
        grant: Grant,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        let Some(session) = self.sessions.get_mut(&conn) else {
            return;
        };
        session.phase = Phase::LoggedIn(Rc::from(name));
        let peer_port = grant.peer_port;
        session.peer_port = peer_port;
        let addr = session.addr;
        self.online.insert(Name::new(name), conn);
        let online = self.online.len() as u32;
        let how = if grant.resumed {
            self.counters.resumed_logins += 1;
            " with a resume token"
        } else {
            ""
        };
        info!("login {name} from {addr}{how} (peer port {peer_port}); {online} online");
        out.push(Action::event(
            Event::new(
                "login",
                format!("{name} logged in from {addr}{how} ({online} online)"),
            )
            .field("user", name)
            .field("resumed", grant.resumed),
        ));
        let body = Body::LoggedIn {
            online,
            token: grant.token,
        };
        out.push(Action::Send(
            conn,
            reply(
                tag,
                Status::OK,
                format!("logged in as {name}; {online} online"),
                body,
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
pub(super) fn account_failure(e: &PersistError) -> (Status, String) {
    let status = match e {
        PersistError::Exists => Status::ACCOUNT_EXISTS,
        PersistError::NoSuchAccount => Status::NO_ACCOUNT,
        PersistError::WrongPassword => Status::WRONG_PASSWORD,
        PersistError::BadPassword => Status::BAD_REQUEST,
        PersistError::Failed(_) => {
            warn!("account database: {e}");
            Status::INTERNAL
        }
    };
    (status, e.to_string())
}
