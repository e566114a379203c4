//! What the client says while it leaves: `quit` held by work in flight names it.

use super::{Action, Session};
use crate::output::Event;

impl Session {
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
    use super::super::tests::{done, holder, logged_in, reply, sent};
    use crate::proto::message::{Body, ClientMsg};
    use crate::proto::status::Status;
    use std::time::Instant;

    #[test]
    fn quit_during_a_fetch_says_it_leaves_when_the_fetch_ends() {
        let mut s = logged_in(false);
        let now = Instant::now();
        let mut out = Vec::new();
        s.on_line(1, "fetch song", now, &mut out);
        let tag = sent(&out)[0].tag().unwrap();
        let out = reply(
            &mut s,
            tag,
            Status::FOUND,
            Body::Holders(vec![holder("bob", 2)]),
        );
        let job = match out
            .iter()
            .find(|a| matches!(a, super::Action::StartDownload(_)))
        {
            Some(super::Action::StartDownload(spec)) => spec.job,
            _ => panic!("{out:?}"),
        };
        let mut out = Vec::new();
        s.on_line(2, "quit", now, &mut out);
        let leaving = out
            .iter()
            .find_map(|a| match a {
                super::Action::Event(e) if e.name == "leaving" => Some(e.human.clone()),
                _ => None,
            })
            .expect("a leaving notice");
        assert_eq!(
            leaving,
            "leaving when the fetch of song end(s); cancel <name> to leave sooner"
        );
        let mut out = Vec::new();
        s.on_download_done(job, done("/s/song"), now, &mut out);
        assert!(matches!(sent(&out).as_slice(), [ClientMsg::Logout { .. }]));
    }

    #[test]
    fn quit_right_behind_an_upload_without_a_name_says_an_upload_is_starting() {
        let mut s = logged_in(false);
        let now = Instant::now();
        let mut out = Vec::new();
        s.on_line(1, "upload photos", now, &mut out);
        s.on_line(2, "quit", now, &mut out);
        let leaving = out
            .iter()
            .find_map(|a| match a {
                super::Action::Event(e) if e.name == "leaving" => Some(e.human.clone()),
                _ => None,
            })
            .expect("a leaving notice");
        assert_eq!(
            leaving,
            "leaving when an upload still starting end(s); cancel <name> to leave sooner"
        );
    }

    #[test]
    fn quit_with_nothing_in_flight_says_nothing_more() {
        let mut s = logged_in(false);
        let mut out = Vec::new();
        s.on_line(1, "quit", Instant::now(), &mut out);
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
}
