//! Requests to the hub: tags, the table of pending replies, the guard against a frame
//! too big for the hub, and the gate that holds publication changes behind a login's sync.

use super::{Action, Link, Pending, Session, Then};
use crate::output::{CommandResult, Event};
use crate::proto::message::ClientMsg;
use crate::proto::status::Status;

/// The largest request payload sent: the hub's default `--max-frame`. Every field's own
/// limit (see `check.rs`) keeps a request far below it; this is the last guard.
const MAX_REQUEST_FRAME: usize = crate::proto::frame::DEFAULT_MAX_FRAME;

/// What a request is: it names the result, and says what its reply does beyond
/// printing it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RequestKind {
    /// A command whose reply is only printed (or carried by its `Then`), by name.
    Plain(&'static str),
    Login,
    /// The login again after a reconnect, with the password.
    Relogin,
    /// The login again after a reconnect, with the resume token.
    Resume,
    Logout,
    /// The logout of a client that leaves (`quit`, end of input, a signal).
    Quit,
    Passwd,
    Publish,
    /// A publication announced again because its file changed on disk.
    Refresh,
    Unpublish,
    /// The publication list announced at login, or a publication withdrawn.
    Sync,
    /// A holder reported for data that failed verification.
    Report,
}

impl RequestKind {
    /// The command its result names.
    pub(super) fn name(self) -> &'static str {
        match self {
            RequestKind::Plain(name) => name,
            RequestKind::Login => "login",
            RequestKind::Relogin => "relogin",
            RequestKind::Resume => "resume",
            RequestKind::Logout => "logout",
            RequestKind::Quit => "quit",
            RequestKind::Passwd => "passwd",
            RequestKind::Publish => "publish",
            RequestKind::Refresh => "refresh",
            RequestKind::Unpublish => "unpublish",
            RequestKind::Sync => "sync",
            RequestKind::Report => "report",
        }
    }

    /// A logout, typed or sent to leave.
    pub(super) fn logs_out(self) -> bool {
        matches!(self, RequestKind::Logout | RequestKind::Quit)
    }
}

impl Session {
    pub(super) fn tag(&mut self) -> u32 {
        let tag = self.next_tag;
        self.next_tag = self.next_tag.wrapping_add(1).max(1);
        tag
    }

    /// Send a request and remember who waits for it.
    pub(super) fn request(
        &mut self,
        id: u64,
        kind: RequestKind,
        make: impl FnOnce(u32) -> ClientMsg,
        out: &mut Vec<Action>,
    ) {
        self.request_with(id, kind, Then::Nothing, make, out)
    }

    pub(super) fn request_with(
        &mut self,
        id: u64,
        kind: RequestKind,
        then: Then,
        make: impl FnOnce(u32) -> ClientMsg,
        out: &mut Vec<Action>,
    ) {
        if matches!(self.link, Link::Down { .. }) {
            out.push(Action::Result(CommandResult::new(
                id,
                kind.name(),
                false,
                Status::UNAVAILABLE.0,
                "not connected to the hub (reconnecting); try again shortly",
            )));
            return;
        }
        let tag = self.tag();
        let mut frame = Vec::new();
        let msg = make(tag);
        msg.encode(&mut frame);
        if frame.len() > MAX_REQUEST_FRAME + 4 {
            // The hub would end the connection over it (413): refuse it here instead.
            return self.refuse_oversized(id, kind, then, frame.len() - 4, out);
        }
        self.pending.insert(tag, Pending { id, kind, then });
        match msg {
            ClientMsg::Login { .. } | ClientMsg::Resume { .. } => self.sync_gate += 1,
            ClientMsg::Publish { .. } | ClientMsg::Unpublish { .. } if self.sync_gate > 0 => {
                return self.held.push(frame);
            }
            _ => {}
        }
        out.push(Action::Send(frame));
    }

    /// A request too big for one frame, refused before it was sent.
    pub(super) fn refuse_oversized(
        &mut self,
        id: u64,
        kind: RequestKind,
        then: Then,
        bytes: usize,
        out: &mut Vec<Action>,
    ) {
        if let Then::Store(job) | Then::StoreName { job, .. } = then {
            self.store_jobs.remove(&job);
            out.push(Action::DropStoreJob(job));
        }
        let text = format!(
            "the request is {bytes} bytes; the hub takes at most {MAX_REQUEST_FRAME} (nothing was sent)"
        );
        out.push(if id == 0 {
            Action::Event(Event::new("warning", text).field("status", Status::TOO_LARGE.0))
        } else {
            Action::Result(CommandResult::new(
                id,
                kind.name(),
                false,
                Status::TOO_LARGE.0,
                text,
            ))
        });
    }

    /// One reason to hold publication changes is gone; send them once none is left.
    pub(super) fn open_sync_gate(&mut self, out: &mut Vec<Action>) {
        self.sync_gate = self.sync_gate.saturating_sub(1);
        if self.sync_gate == 0 {
            out.extend(self.held.drain(..).map(Action::Send));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{logged_in, results, sent};
    use super::RequestKind;
    use crate::proto::message::ClientMsg;
    use std::time::Instant;

    #[test]
    fn a_request_too_big_for_a_frame_is_refused_before_it_is_sent() {
        let mut s = logged_in(false);
        let mut out = Vec::new();
        let text = "x".repeat(70_000);
        s.request(
            7,
            RequestKind::Plain("say"),
            |tag| ClientMsg::Say { tag, text },
            &mut out,
        );
        assert!(sent(&out).is_empty(), "nothing goes to the hub");
        let r = results(&out)[0];
        assert_eq!((r.id, r.status), (7, 413));
        assert!(s.pending.is_empty());
        // Typed, the same line is refused by the field check, with the maximum.
        let mut out = Vec::new();
        s.on_line(
            8,
            &format!("say {}", "x".repeat(70_000)),
            Instant::now(),
            &mut out,
        );
        assert!(sent(&out).is_empty());
        let r = results(&out)[0];
        assert_eq!(r.status, 413);
        assert!(r.message.contains("4096"), "{}", r.message);
    }
}
