//! Replies to requests: routing to the room that waits for them, and the effects and
//! results of the plain commands (login, logout, passwd, publish, unpublish, ...).

use super::render::with_body;
use super::request::RequestKind;
use super::{Action, Credentials, Pending, Session, Then};
use crate::output::{CommandResult, Event};
use crate::proto::message::Body;
use crate::proto::status::Status;
use log::{debug, info};
use std::time::Instant;

impl Session {
    pub(super) fn on_reply(
        &mut self,
        tag: u32,
        status: Status,
        message: String,
        body: Body,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        let Some(pending) = self.pending.remove(&tag) else {
            debug!("reply to unknown tag {tag}: {status} {message}");
            return;
        };
        if let Then::Fetch(req) = &pending.then {
            let req = req.clone();
            self.on_lookup(req, status, message, body, out);
            self.try_leave(now, out);
            return;
        }
        if let Then::Store(job) = pending.then {
            self.on_store_reply(job, status, message, body, out);
            self.try_leave(now, out);
            return;
        }
        if let Then::StoreCheck(job) = pending.then {
            return self.on_store_check(job, status, message, body, now, out);
        }
        if let Then::StoreName { job, path } = pending.then {
            self.on_store_name(job, path, status, message, out);
            self.try_leave(now, out);
            return;
        }
        if pending.kind == RequestKind::Resume && status == Status::TOKEN_REFUSED {
            return self.token_refused(message, now, out);
        }
        self.apply_reply(&pending, status, &body, out);
        let quit = pending.kind == RequestKind::Quit;
        if matches!(pending.kind, RequestKind::Relogin | RequestKind::Resume) {
            self.show_reconnect(pending.kind, status, message, out);
        } else {
            show_reply(pending, status, message, body, out);
        }
        if quit {
            self.finish_leaving_after_quit(out);
            return;
        }
        self.try_leave(now, out);
    }

    /// The hub refused the resume token of a reconnect (expired, revoked or not its
    /// own): log in with the password instead, which reports the refusal.
    fn token_refused(&mut self, why: String, now: Instant, out: &mut Vec<Action>) {
        if let Some(creds) = self.credentials.as_mut() {
            creds.token = None;
        }
        info!("the hub refused the resume token ({why}); logging in with the password");
        self.resume_refused = Some(why);
        // The password login holds the publication gate before the resume lets go of it.
        self.relogin(out);
        self.open_sync_gate(out);
        self.try_leave(now, out);
    }

    /// Logged in as `user`: announce the publications (the gate stays shut until
    /// `on_checked` has sent the sync) and resume the store checks.
    fn logged_in_as(&mut self, user: String, out: &mut Vec<Action>) {
        self.known_as.clone_from(&user);
        self.user = Some(user);
        self.stay_out = false;
        out.push(Action::CheckPublished);
        self.resume_store_checks(out);
    }

    /// What a plain reply changes in the session (credentials, the publication list).
    fn apply_reply(
        &mut self,
        pending: &Pending,
        status: Status,
        body: &Body,
        out: &mut Vec<Action>,
    ) {
        match pending.kind {
            RequestKind::Login | RequestKind::Relogin if status == Status::OK => {
                if let Then::Login(user, password) = pending.then.clone() {
                    let token = match body {
                        Body::LoggedIn { token, .. } => Some(token.clone()),
                        _ => None,
                    };
                    self.logged_in_as(user.clone(), out);
                    self.credentials = Some(Credentials {
                        user,
                        password,
                        token,
                    });
                }
            }
            RequestKind::Resume if status == Status::OK => {
                if let Some(user) = self.credentials.as_ref().map(|c| c.user.clone()) {
                    self.logged_in_as(user, out);
                }
            }
            RequestKind::Login | RequestKind::Relogin | RequestKind::Resume => {
                self.open_sync_gate(out)
            }
            RequestKind::Logout | RequestKind::Quit if status == Status::LEFT => {
                self.user = None;
                self.credentials = None;
            }
            RequestKind::Passwd if status == Status::OK => {
                // The new password is what a reconnect must use; the hub confirmed it, and
                // revoked the resume token with the old one.
                if let (Some(creds), Then::Passwd(new)) = (self.credentials.as_mut(), &pending.then)
                {
                    creds.password.clone_from(new);
                    creds.token = None;
                }
            }
            RequestKind::Publish | RequestKind::Refresh if status == Status::PUBLISHED => {
                if let Then::Publish(publication) = &pending.then {
                    self.published.insert(publication.clone());
                    out.push(Action::SavePublished);
                }
            }
            RequestKind::Unpublish if status == Status::OK || status == Status::NO_FILE => {
                if let Then::Unpublish(name) = &pending.then {
                    if self.published.remove(name).is_some() {
                        out.push(Action::SavePublished);
                    }
                }
            }
            _ => {}
        }
    }
}

impl Session {
    /// The reply to the login again after a reconnect, as the `reconnected` event: whether
    /// the resume token did it (`resumed`), and why the hub refused the token when the
    /// password had to (`resume_refused`).
    fn show_reconnect(
        &mut self,
        kind: RequestKind,
        status: Status,
        message: String,
        out: &mut Vec<Action>,
    ) {
        let resumed = kind == RequestKind::Resume && status == Status::OK;
        let refused = self
            .resume_refused
            .take()
            .filter(|_| kind == RequestKind::Relogin);
        let how = match (&refused, resumed) {
            (_, true) => " with the resume token".to_owned(),
            (Some(why), false) => format!(" with the password ({why})"),
            (None, false) => String::new(),
        };
        let mut e = Event::new(
            "reconnected",
            format!("reconnected to the hub{how}: {message}"),
        )
        .field("status", status.0)
        .field("message", message)
        .field("resumed", resumed);
        if let Some(why) = refused {
            e = e.field("resume_refused", why);
        }
        out.push(Action::Event(e));
    }
}

/// A plain reply as its result, or as an event for the client's own requests.
fn show_reply(
    pending: Pending,
    status: Status,
    message: String,
    body: Body,
    out: &mut Vec<Action>,
) {
    if pending.id == 0 {
        // The client's own requests (announcing files, leaving): only failures show,
        // and the logout of an end of input or a signal.
        if pending.kind == RequestKind::Quit && status == Status::LEFT {
            out.push(Action::Event(
                Event::new("logged_out", "logged out").field("message", "logged out"),
            ));
        } else if !status.is_success() && status != Status::LEFT {
            out.push(Action::Event(
                Event::new("warning", {
                    let what = if pending.kind == RequestKind::Report {
                        "reporting a holder"
                    } else {
                        "announcing my files"
                    };
                    format!("{what}: {message}")
                })
                .field("status", status.0)
                .field("message", message),
            ));
        }
    } else {
        let ok = status.is_success() || (status == Status::LEFT && pending.kind.logs_out());
        let mut result = CommandResult::new(pending.id, pending.kind.name(), ok, status.0, message);
        if let (Then::Publish(p), true) = (&pending.then, ok) {
            result = result
                .field("name", p.name.as_str())
                .field("size", p.size)
                .field("hash", p.hash.as_str())
                .field("path", p.path.as_str())
                .field(
                    "outboard",
                    crate::client::outboards::path_of(&p.hash)
                        .to_string_lossy()
                        .into_owned(),
                );
        }
        result = with_body(result, body);
        out.push(Action::Result(result));
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{logged_in, reply, sent, session, type_line};
    use crate::proto::message::{Body, ClientMsg};
    use crate::proto::status::Status;

    #[test]
    fn the_peer_listener_answers_as_the_user_logged_in_now_or_last() {
        assert_eq!(session(false).known_as(), "", "never logged in");
        let mut s = logged_in(false);
        assert_eq!(s.known_as(), "me");
        let out = type_line(&mut s, 101, "logout");
        let tag = sent(&out).last().and_then(ClientMsg::tag).unwrap();
        reply(&mut s, tag, Status::LEFT, Body::None);
        assert_eq!(s.user(), None);
        assert_eq!(s.known_as(), "me", "a --serve client keeps serving as me");
    }
}
