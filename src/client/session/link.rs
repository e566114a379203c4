//! The link to the hub: hello, welcome (and the login again after a reconnect: with the
//! resume token, else the password), loss, back-off and the retry timer.

use super::request::RequestKind;
use super::{Action, Link, Pending, Session, Then};
use crate::output::{CommandResult, Event};
use crate::proto::message::{ClientMsg, Role, VERSION};
use crate::proto::status::Status;
use crate::trust::{Fingerprint, HubKey};
use log::{debug, info, warn};
use std::time::{Duration, Instant};

/// First reconnect delay; doubled after each failure up to [`MAX_BACKOFF`]. Each
/// delay is spread over its upper half ([`Session::spread`]).
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

impl Session {
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

    /// Log in as `user` (typed as command `id`, or 0 for the login again after a
    /// reconnect); the credentials are kept once the hub accepts them.
    pub(super) fn send_login(
        &mut self,
        id: u64,
        kind: RequestKind,
        user: String,
        password: String,
        out: &mut Vec<Action>,
    ) {
        let peer_port = self.config.peer_port;
        let fingerprint = self.config.fingerprint;
        let creds = Then::Login(user.clone(), password.clone());
        self.request_with(
            id,
            kind,
            creds,
            |tag| ClientMsg::Login {
                tag,
                user,
                password,
                peer_port,
                fingerprint,
            },
            out,
        )
    }

    /// Log back in after a reconnect with the resume token the hub gave: no password
    /// crosses, and the hub spends no hash on it.
    fn send_resume(&mut self, token: String, out: &mut Vec<Action>) {
        let peer_port = self.config.peer_port;
        let fingerprint = self.config.fingerprint;
        self.request_with(
            0,
            RequestKind::Resume,
            Then::Nothing,
            |tag| ClientMsg::Resume {
                tag,
                token,
                peer_port,
                fingerprint,
            },
            out,
        )
    }

    /// The key the hub showed on the TLS session of the link now being made (`None`
    /// for a plaintext link): the loop says it before the link's `Welcome` arrives.
    pub fn on_link_key(&mut self, shown: Option<Fingerprint>) {
        self.link_key = shown;
    }

    pub(super) fn on_welcome(
        &mut self,
        server: &str,
        hub_key: &[u8],
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        self.take_hub_key(hub_key, out);
        let was_down = self.ever_up;
        self.ever_up = true;
        self.link = Link::Up;
        debug!("hub says welcome: {server}");
        match (&self.credentials, self.stay_out) {
            (Some(creds), false) if was_down => match creds.token.clone() {
                Some(token) => self.send_resume(token, out),
                None => self.relogin(out),
            },
            _ if was_down => out.push(Action::Event(Event::new(
                "reconnected",
                "reconnected to the hub",
            ))),
            _ => {}
        }
        self.try_leave(now, out);
    }

    /// Keep the `Welcome`'s key for checking fetch tickets, if it is an ECDSA P-256 key
    /// and — on a TLS link — the very key the hub's certificate showed. A hub that
    /// sends another is reported and its key not taken: this client then refuses
    /// every fetch ticket until a hub sends a usable key.
    fn take_hub_key(&mut self, spki: &[u8], out: &mut Vec<Action>) {
        let key = HubKey::from_spki(spki).and_then(|key| match self.link_key {
            Some(shown) if key.fingerprint() != shown => Err(format!(
                "its ticket key {} is not the key {shown} its TLS certificate shows",
                key.fingerprint()
            )),
            _ => Ok(key),
        });
        match key {
            Ok(key) => self.hub_key = Some(key),
            Err(why) => {
                warn!("the hub's welcome: {why}");
                self.hub_key = None;
                out.push(Action::Event(
                    Event::new(
                        "hub_key_unusable",
                        format!("the hub cannot vouch for fetches: {why}; peers fetching from this client will be refused"),
                    )
                    .field("reason", why),
                ));
            }
        }
    }

    /// Log back in with the password typed in this run (no resume token, or the hub
    /// refused it).
    pub(super) fn relogin(&mut self, out: &mut Vec<Action>) {
        if let Some(creds) = &self.credentials {
            let (user, password) = (creds.user.clone(), creds.password.clone());
            self.send_login(0, RequestKind::Relogin, user, password, out);
        }
    }

    /// The connection to the hub failed or closed.
    pub fn on_lost(&mut self, reason: &str, now: Instant, out: &mut Vec<Action>) {
        if let Link::Down { since, backoff, .. } = self.link {
            // A reconnect attempt ended before the hub welcomed it (a full hub's 503, a
            // version refusal): try again later, as after a failed connect.
            info!("reconnect attempt refused: {reason}");
            return self.retry_later(since, backoff, reason, now, out);
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
            let quit = pending.kind == RequestKind::Quit;
            if pending.id != 0 || quit {
                out.push(Action::Result(CommandResult::new(
                    pending.id,
                    pending.kind.name(),
                    quit,
                    if quit {
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
        let retry_at = now + self.spread(backoff);
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

    pub(super) fn retry_later(
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
        let retry_at = now + self.spread(backoff);
        self.link = Link::Down {
            since,
            retry_at,
            backoff,
        };
        out.push(Action::Arm(retry_at));
    }

    /// A delay between half of `backoff` and all of it, drawn afresh each time, so that
    /// clients that lost the hub together (it restarted) spread their attempts instead
    /// of arriving in one burst at every step of the back-off.
    fn spread(&mut self, backoff: Duration) -> Duration {
        // splitmix64: a step of the session's own sequence, seeded by the loop.
        self.jitter = self.jitter.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.jitter;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        let half = backoff / 2;
        let micros = u64::try_from(half.as_micros()).unwrap_or(u64::MAX);
        half + Duration::from_micros(z % micros.saturating_add(1))
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

#[cfg(test)]
mod tests;
