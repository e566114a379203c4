//! Replies to requests: routing to the room that waits for them, and the effects and
//! results of the plain commands (login, logout, passwd, publish, unpublish, ...).

use super::render::with_body;
use super::request::RequestKind;
use super::{Action, Pending, Session, Then};
use crate::output::{CommandResult, Event};
use crate::proto::message::Body;
use crate::proto::status::Status;
use log::debug;
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
        self.apply_reply(&pending, status, out);
        let quit = pending.kind == RequestKind::Quit;
        show_reply(pending, status, message, body, out);
        if quit {
            self.finish_leaving_after_quit(out);
            return;
        }
        self.try_leave(now, out);
    }

    /// What a plain reply changes in the session (credentials, the publication list).
    fn apply_reply(&mut self, pending: &Pending, status: Status, out: &mut Vec<Action>) {
        match pending.kind {
            RequestKind::Login | RequestKind::Relogin if status == Status::OK => {
                if let Then::Login(user, password) = pending.then.clone() {
                    self.user = Some(user.clone());
                    self.known_as.clone_from(&user);
                    self.credentials = Some((user, password));
                    self.stay_out = false;
                    // The gate stays shut until `on_checked` has sent the sync.
                    out.push(Action::CheckPublished);
                    self.resume_store_checks(out);
                }
            }
            RequestKind::Login | RequestKind::Relogin => self.open_sync_gate(out),
            RequestKind::Logout | RequestKind::Quit if status == Status::LEFT => {
                self.user = None;
                self.credentials = None;
            }
            RequestKind::Passwd if status == Status::OK => {
                // The new password is what a reconnect must use; the hub confirmed it.
                if let (Some((_, password)), Then::Passwd(new)) =
                    (self.credentials.as_mut(), &pending.then)
                {
                    *password = new.clone();
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

/// A plain reply as its result, or as an event for the client's own requests.
fn show_reply(
    pending: Pending,
    status: Status,
    message: String,
    body: Body,
    out: &mut Vec<Action>,
) {
    if pending.kind == RequestKind::Relogin {
        let e = Event::new("reconnected", format!("reconnected to the hub ({message})"))
            .field("status", status.0)
            .field("message", message);
        out.push(Action::Event(e));
    } else if pending.id == 0 {
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
                .field("path", p.path.as_str());
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
