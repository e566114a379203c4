//! Liveness: pings (for liveness, the console's `ping`, a ghost check), their answers,
//! and each connection's one deadline — hello, idle anonymous, ping due or unanswered.

use super::{reply, Action, ConnId, ConnState, Hub, PendingPing, Phase, PingPurpose};
use crate::output::CommandResult;
use crate::proto::message::{Body, HubMsg};
use crate::proto::status::Status;
use log::info;
use std::time::{Duration, Instant};

impl Hub {
    pub(super) fn on_pong(
        &mut self,
        conn: ConnId,
        nonce: u32,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
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
                out.push(Action::result(ping_result(id, &user, "alive", Some(rtt))));
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

    pub(super) fn send_ping(
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
    pub(super) fn next_due(&self, session: &ConnState, now: Instant) -> Instant {
        match &session.phase {
            Phase::AwaitHello => session.opened + self.config.hello_timeout,
            Phase::Anonymous => session.idle_deadline(self.config.idle_timeout, now),
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
    pub(super) fn schedule(&mut self, conn: ConnId, now: Instant, out: &mut Vec<Action>) {
        let Some(session) = self.sessions.get(&conn) else {
            return;
        };
        let due = self.next_due(session, now);
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
            Phase::Anonymous if now >= session.idle_deadline(self.config.idle_timeout, now) => {
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
                    out.push(Action::result(ping_result(id, &user, "no_answer", None)));
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
}

impl ConnState {
    /// When an anonymous connection has been idle for `timeout`, as seen at `now`: the
    /// time its requests waited in its backlog (the hub behind, say hashing a login
    /// storm's passwords) is the hub's, not the client's, and does not count.
    fn idle_deadline(&self, timeout: Duration, now: Instant) -> Instant {
        self.anonymous_since + timeout + self.waited(now)
    }

    /// How long, up to `now`, its backlog has not been empty since it became anonymous.
    fn waited(&self, now: Instant) -> Duration {
        self.waiting_since.map_or(Duration::ZERO, |since| {
            now.saturating_duration_since(since.max(self.anonymous_since))
        })
    }

    /// Its backlog just emptied at `now`: the wait moves the idle clock on.
    pub(super) fn caught_up(&mut self, now: Instant) {
        self.anonymous_since += self.waited(now);
        self.waiting_since = None;
    }
}

/// The console's result for `ping <user>`: alive with its round trip, offline, or no
/// answer in time.
pub(super) fn ping_result(
    id: u64,
    user: &str,
    state: &str,
    rtt: Option<Duration>,
) -> CommandResult {
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
