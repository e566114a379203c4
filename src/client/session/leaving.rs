//! What the client says while it leaves: `quit` held by work in flight names it.

use super::fetch::fetch_failed;
use super::request::RequestKind;
use super::{Action, ActiveFetch, Leaving, Link, Session, StoreJob};
use crate::output::{CommandResult, Event};
use crate::proto::message::ClientMsg;
use crate::proto::status::Status;
use std::time::{Duration, Instant};

/// How long a leaving client waits for the hub to acknowledge its logout.
const LEAVE_GRACE: Duration = Duration::from_secs(2);

impl Session {
    /// End of input: finish what is in flight, then leave (or keep serving with `--serve`).
    pub fn on_end_of_input(&mut self, now: Instant, out: &mut Vec<Action>) {
        if self.hold_end_of_input() {
            return;
        }
        self.input_done = true;
        if let Some(prompt) = self.prompt.take() {
            out.push(fetch_failed(
                prompt.req.id,
                Status::BAD_REQUEST,
                "no holder chosen before the end of input",
            ));
        }
        if self.config.serve || self.leaving.is_some() {
            return;
        }
        self.leaving = Some(Leaving::EndOfInput);
        self.try_leave(now, out);
    }

    /// SIGINT or SIGTERM: log out and exit without waiting for other work.
    pub fn on_signal(&mut self, now: Instant, out: &mut Vec<Action>) {
        if self.leaving == Some(Leaving::Signal) {
            return;
        }
        self.leaving = Some(Leaving::Signal);
        let mut downloads: Vec<ActiveFetch> = self.downloads.drain().map(|(_, d)| d).collect();
        downloads.sort_by_key(|d| d.id);
        for d in downloads {
            out.push(fetch_failed(
                d.id,
                Status::UNAVAILABLE,
                &format!(
                    "interrupted by a signal; the partial file of {} is kept: fetch again to resume",
                    d.dest
                ),
            ));
        }
        if let Some(prompt) = self.prompt.take() {
            out.push(fetch_failed(
                prompt.req.id,
                Status::UNAVAILABLE,
                "interrupted by a signal",
            ));
        }
        let mut jobs: Vec<(u64, StoreJob)> = self.store_jobs.drain().collect();
        jobs.sort_by_key(|(job, _)| *job);
        for (job, j) in jobs {
            out.push(Action::CancelStore(job));
            out.push(Self::store_failed(
                j.id,
                if j.upload { "upload" } else { "download" },
                Status::UNAVAILABLE,
                "interrupted by a signal",
            ));
        }
        self.try_leave(now, out);
    }

    /// Leave once nothing but our own logout is in flight.
    pub(super) fn try_leave(&mut self, now: Instant, out: &mut Vec<Action>) {
        let Some(leaving) = self.leaving else {
            return;
        };
        let busy = !self.hashing.is_empty()
            || !self.downloads.is_empty()
            || !self.store_jobs.is_empty()
            || self.prompt.is_some()
            || self.pending.values().any(|p| !p.kind.logs_out());
        if busy && leaving != Leaving::Signal {
            return;
        }
        if self.user.is_some() && self.link == Link::Up {
            if !self.logout_sent {
                self.logout_sent = true;
                let id = match leaving {
                    Leaving::Quit { id } => id,
                    _ => 0,
                };
                self.request(id, RequestKind::Quit, |tag| ClientMsg::Logout { tag }, out);
                let deadline = now + LEAVE_GRACE;
                self.leave_deadline = Some(deadline);
                out.push(Action::Arm(deadline));
            }
            return;
        }
        self.finish_leaving(out);
    }

    pub(super) fn finish_leaving(&mut self, out: &mut Vec<Action>) {
        if let Some(Leaving::Quit { id }) = self.leaving {
            if !self.logout_sent || self.pending.values().any(|p| p.kind == RequestKind::Quit) {
                out.push(Action::Result(CommandResult::new(
                    id,
                    "quit",
                    true,
                    Status::LEFT.0,
                    "bye",
                )));
            }
        }
        self.pending.clear();
        out.push(Action::Disconnect);
        out.push(Action::Exit(0));
    }

    pub(super) fn finish_leaving_after_quit(&mut self, out: &mut Vec<Action>) {
        self.pending.clear();
        out.push(Action::Disconnect);
        out.push(Action::Exit(0));
    }

    /// After `quit`: if work in flight holds the exit, say what it waits for.
    pub(super) fn say_why_not_yet(&self, out: &mut Vec<Action>) {
        if self.logout_sent || out.iter().any(|a| matches!(a, Action::Exit(_))) {
            return;
        }
        let mut what: Vec<String> = self
            .downloads
            .values()
            .map(|d| format!("the fetch of {}", d.name))
            .collect();
        what.extend(self.store_jobs.values().map(|j| {
            let verb = if j.upload { "upload" } else { "download" };
            if j.name.is_empty() {
                // An upload's name is known once the loop has resolved its path.
                format!("an {verb} still starting")
            } else {
                format!("the {verb} of {}", j.name)
            }
        }));
        if !self.hashing.is_empty() {
            what.push(format!("hashing {} file(s) to publish", self.hashing.len()));
        }
        if self.prompt.is_some() {
            what.push("the holder choice".to_owned());
        }
        if what.is_empty() {
            what.push("the replies still due from the hub".to_owned());
        }
        what.sort();
        let text = format!(
            "leaving when {} end(s); cancel <name> to leave sooner",
            what.join(", ")
        );
        out.push(Action::Event(
            Event::new("leaving", text.clone())
                .field("message", text)
                .field("waiting_for", what),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{
        done, download_done, fetch_started, holder, logged_in, reply, sent, type_line, type_lines,
    };
    use crate::proto::message::{Body, ClientMsg};
    use crate::proto::status::Status;
    use std::time::Instant;

    #[test]
    fn quit_during_a_fetch_says_it_leaves_when_the_fetch_ends() {
        let mut s = logged_in(false);
        let job = fetch_started(&mut s, 1, "fetch song", vec![holder("bob", 2)]);
        let out = type_line(&mut s, 2, "quit");
        let leaving = leaving_notice(&out);
        assert_eq!(
            leaving,
            "leaving when the fetch of song end(s); cancel <name> to leave sooner"
        );
        let out = download_done(&mut s, job, done("/s/song"));
        assert!(matches!(sent(&out).as_slice(), [ClientMsg::Logout { .. }]));
    }

    /// The text of the `leaving` event in `out`.
    fn leaving_notice(out: &[super::Action]) -> String {
        out.iter()
            .find_map(|a| match a {
                super::Action::Event(e) if e.name == "leaving" => Some(e.human.clone()),
                _ => None,
            })
            .expect("a leaving notice")
    }

    #[test]
    fn quit_right_behind_an_upload_without_a_name_says_an_upload_is_starting() {
        let mut s = logged_in(false);
        let out = type_lines(&mut s, 1, &["upload photos", "quit"]);
        let leaving = leaving_notice(&out);
        assert_eq!(
            leaving,
            "leaving when an upload still starting end(s); cancel <name> to leave sooner"
        );
    }

    #[test]
    fn quit_with_nothing_in_flight_says_nothing_more() {
        let mut s = logged_in(false);
        let out = type_line(&mut s, 1, "quit");
        assert!(!out
            .iter()
            .any(|a| matches!(a, super::Action::Event(e) if e.name == "leaving")));
    }

    #[test]
    fn end_of_input_says_logged_out() {
        let mut s = logged_in(false);
        let mut out = Vec::new();
        s.on_end_of_input(Instant::now(), &mut out);
        let tag = match sent(&out).as_slice() {
            [ClientMsg::Logout { tag }] => *tag,
            other => panic!("{other:?}"),
        };
        let out = reply(&mut s, tag, Status::LEFT, Body::None);
        assert!(out.iter().any(
            |a| matches!(a, super::Action::Event(e) if e.name == "logged_out" && e.human == "logged out")
        ));
    }

    #[test]
    fn quit_waits_for_downloads_in_flight() {
        let mut s = logged_in(false);
        let job = fetch_started(&mut s, 1, "fetch song", vec![holder("bob", 2)]);
        let out = type_line(&mut s, 2, "quit");
        assert!(sent(&out).is_empty(), "no logout while a download runs");
        let out = download_done(&mut s, job, done("/s/song"));
        assert!(matches!(sent(&out).as_slice(), [ClientMsg::Logout { .. }]));
    }
}
