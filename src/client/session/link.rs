//! The link to the hub: hello, welcome (and the login again after a reconnect), loss,
//! back-off and the retry timer.

use super::request::RequestKind;
use super::{Action, Link, Pending, Session, Then};
use crate::output::{CommandResult, Event};
use crate::proto::message::{ClientMsg, Role, VERSION};
use crate::proto::status::Status;
use log::{debug, info};
use std::time::{Duration, Instant};

/// First reconnect delay; doubled after each failure up to [`MAX_BACKOFF`].
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
            },
            out,
        )
    }

    pub(super) fn on_welcome(&mut self, server: &str, now: Instant, out: &mut Vec<Action>) {
        let was_down = self.ever_up;
        self.ever_up = true;
        self.link = Link::Up;
        debug!("hub says welcome: {server}");
        match (&self.credentials, self.stay_out) {
            (Some((user, password)), false) if was_down => {
                let (user, password) = (user.clone(), password.clone());
                self.send_login(0, RequestKind::Relogin, user, password, out);
            }
            _ if was_down => out.push(Action::Event(Event::new(
                "reconnected",
                "reconnected to the hub",
            ))),
            _ => {}
        }
        self.try_leave(now, out);
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
