//! What every login goes through, with a password or a resume token: the checks that
//! cost nothing (not logged in already, the peer port not the hub's own address), the
//! ban, and the admission — at once, or after the ghost check of the session logged in
//! under that name. A password login's reply gets a fresh resume token from here.

use super::accounts::say;
use super::own_addr;
use super::pending::ReplyTo;
use super::sessions::{Grant, LoginWait, Phase, PingPurpose};
use super::{Action, Hub};
use crate::proto::message::Body;
use crate::proto::status::Status;
use crate::server::resume::{self, Claims};
use log::debug;
use std::net::IpAddr;
use std::time::Instant;

impl Hub {
    /// The checks every login passes before it costs anything (not logged in already,
    /// `refusal` if the caller has one, the peer port not the hub's own address): the
    /// connection's address, or None once the refusal is sent.
    pub(super) fn may_log_in(
        &self,
        to: &ReplyTo,
        peer_port: u16,
        refusal: Option<(Status, String)>,
        out: &mut Vec<Action>,
    ) -> Option<IpAddr> {
        let session = self.sessions.get(&to.conn)?;
        let ip = session.addr.ip();
        let refusal = if let Phase::LoggedIn(current) = &session.phase {
            Some(say(
                Status::ALREADY_LOGGED_IN,
                format!("already logged in as {current}"),
            ))
        } else {
            // Before any hashing: fetchers sent there would reach the hub, not a peer.
            refusal.or_else(|| {
                own_addr::own_address(ip, peer_port, session.local)
                    .map(|why| say(Status::BAD_REQUEST, why))
            })
        };
        match refusal {
            Some(said) => {
                self.send_reply(to, said, Body::None, out);
                None
            }
            None => Some(ip),
        }
    }

    /// The 423 for an account banned at this turn's wall clock, if it is.
    pub(super) fn ban_refusal(
        &self,
        name: &str,
        banned_until: Option<u64>,
    ) -> Option<(Status, String)> {
        // The wall clock of this turn, read once by the loop: no step between two reads.
        let wall = self.wall;
        let until = banned_until.filter(|&until| until > wall)?;
        let minutes = (until - wall).div_ceil(60);
        let text = format!("account {name} is banned for {minutes} more minute(s)");
        Some(say(Status::BANNED, text))
    }

    /// A password login announcing `peer_port`: its reply gets a fresh resume token for
    /// `name` at its token `version`, good for `--resume-ttl`.
    pub(super) fn grant(&self, name: &str, version: u64, peer_port: u16) -> Grant {
        let claims = Claims {
            user: name.to_owned(),
            version,
            expires: self.wall.saturating_add(self.config.resume_ttl.as_secs()),
        };
        Grant {
            peer_port,
            token: resume::mint(&self.config.resume_secret, &claims),
            resumed: false,
        }
    }

    /// Let a login that proved itself (not banned) in, or check the session already
    /// logged in under that name first.
    pub(super) fn admit(
        &mut self,
        to: ReplyTo,
        name: String,
        grant: Grant,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        let Some(session) = self
            .sessions
            .get(&to.conn)
            .filter(|_| self.still_there(&to))
        else {
            return;
        };
        if let Phase::LoggedIn(current) = &session.phase {
            let text = format!("already logged in as {current}");
            return self.send_reply(&to, say(Status::ALREADY_LOGGED_IN, text), Body::None, out);
        }
        let Some(&holder) = self.online.get(name.as_str()) else {
            return self.complete_login(to.conn, to.tag, &name, grant, now, out);
        };
        // One login at a time waits on a ghost check: two waiting logins would both
        // be let in when the check fails.
        if let Some(waiting) = self.ghost_waiter(holder) {
            let text = if waiting == to.conn {
                format!("this connection's login as {name} is already waiting")
            } else {
                format!(
                    "another login as {name} is waiting for the check of its current session; try again"
                )
            };
            return self.send_reply(&to, say(Status::ALREADY_LOGGED_IN, text), Body::None, out);
        }
        // Is that session really there? Its answer (or silence) decides.
        let wait = LoginWait {
            conn: to.conn,
            serial: to.serial,
            tag: to.tag,
            grant,
        };
        debug!("{name}: checking the existing session before a second login");
        self.send_ping(holder, PingPurpose::Ghost(wait), now, out);
        self.schedule(holder, now, out);
    }
}
