//! `wait`: the lines after it run only once every earlier command has its result, so
//! that a script can say `upload …` / `wait` / `download …`.

use super::{Action, HashFor, Session};
use crate::output::CommandResult;
use crate::proto::status::Status;
use std::time::Instant;

/// A `wait` not yet answered, and the lines typed after it.
#[derive(Debug, Default)]
pub(super) struct Waiting {
    /// The input line of the `wait` being held, if any.
    wait: Option<u64>,
    /// Lines typed after it, in order, not yet run.
    queued: Vec<(u64, String)>,
    /// End of input arrived while lines were held: deliver it after them.
    eof: bool,
}

impl Session {
    /// Whether a line must wait behind a `wait` (it is then kept, in order).
    pub(super) fn hold_line(&mut self, id: u64, line: &str) -> bool {
        if self.waiting.wait.is_none() {
            return false;
        }
        self.waiting.queued.push((id, line.to_owned()));
        true
    }

    /// Whether end of input must wait behind a `wait` (it is then delivered later).
    pub(super) fn hold_end_of_input(&mut self) -> bool {
        if self.waiting.wait.is_none() {
            return false;
        }
        self.waiting.eof = true;
        true
    }

    /// `wait` typed on line `id`.
    pub(super) fn start_wait(&mut self, id: u64, now: Instant, out: &mut Vec<Action>) {
        self.waiting.wait = Some(id);
        self.settle_waits(now, out);
    }

    /// The lines before `id` whose results are still to come (a pending holder prompt
    /// counts), in order.
    pub(super) fn unanswered_before(&self, id: u64) -> Vec<u64> {
        let earlier = |line: u64| line != 0 && line < id;
        let mut lines: Vec<u64> = self
            .pending
            .values()
            .map(|p| p.id)
            .chain(self.hashing.values().map(|h| match h {
                HashFor::Publish { id, .. } => *id,
                HashFor::Refresh { .. } => 0,
            }))
            .chain(self.downloads.values().map(|d| d.id))
            .chain(self.store_jobs.values().map(|j| j.id))
            .chain(self.prompt.as_ref().map(|p| p.req.id))
            .filter(|&line| earlier(line))
            .collect();
        lines.sort_unstable();
        lines.dedup();
        lines
    }

    /// Answer the `wait` whose earlier commands all have their results, then run the
    /// lines held behind it (which may hold at the next `wait`). The loop calls this
    /// after printing each batch of results, so the `wait` result comes after them.
    pub fn settle_waits(&mut self, now: Instant, out: &mut Vec<Action>) {
        while let Some(id) = self.waiting.wait {
            if !self.unanswered_before(id).is_empty() {
                return;
            }
            self.waiting.wait = None;
            out.push(Action::Result(CommandResult::new(
                id,
                "wait",
                true,
                Status::OK.0,
                "every earlier command has its result",
            )));
            let queued = std::mem::take(&mut self.waiting.queued);
            for (line_id, line) in queued {
                self.on_line(line_id, &line, now, out);
            }
            if self.waiting.wait.is_none() && std::mem::take(&mut self.waiting.eof) {
                self.on_end_of_input(now, out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{
        done, download_done, holder, logged_in, reply, results, sent, started, type_line,
        type_lines,
    };
    use super::super::Action;
    use crate::proto::message::{Body, ClientMsg};
    use crate::proto::status::Status;
    use std::time::Instant;

    /// The lines `out` answers, with their commands.
    fn answered(out: &[Action]) -> Vec<(u64, &str)> {
        results(out)
            .iter()
            .map(|r| (r.id, r.command.as_str()))
            .collect()
    }

    #[test]
    fn wait_answers_after_every_earlier_result_and_holds_the_next_lines() {
        let mut s = logged_in(false);
        let now = Instant::now();
        let out = type_lines(&mut s, 1, &["users", "search x"]);
        let tags: Vec<u32> = sent(&out).iter().filter_map(ClientMsg::tag).collect();
        let mut out = type_lines(&mut s, 3, &["wait", "users", "wait", "store"]);
        s.on_end_of_input(now, &mut out);
        assert!(out.is_empty(), "held: {out:?}");
        assert_eq!(s.unanswered_before(3), [1, 2]);

        let out = reply(&mut s, tags[1], Status::OK, Body::None);
        assert_eq!(
            results(&out).len(),
            1,
            "line 2 answered, line 1 is still out"
        );
        let mut out = reply(&mut s, tags[0], Status::OK, Body::None);
        s.settle_waits(now, &mut out);
        let ids = answered(&out);
        assert_eq!(ids, [(1, "users"), (3, "wait")]);
        // Line 4 ran; the second wait holds line 6 and the end of input.
        assert!(matches!(sent(&out).as_slice(), [ClientMsg::Users { .. }]));
        let tag = sent(&out)[0].tag().unwrap();
        let mut out = reply(&mut s, tag, Status::OK, Body::None);
        s.settle_waits(now, &mut out);
        let ids: Vec<u64> = results(&out).iter().map(|r| r.id).collect();
        assert_eq!(ids, [4, 5]);
        assert!(matches!(
            sent(&out).as_slice(),
            [ClientMsg::StoreList { .. }]
        ));
    }

    #[test]
    fn wait_with_nothing_pending_answers_at_once() {
        let mut s = logged_in(false);
        let out = type_line(&mut s, 1, "wait");
        let r = results(&out);
        assert_eq!(
            (r[0].id, r[0].status, r[0].command.as_str()),
            (1, 200, "wait")
        );
    }

    #[test]
    fn a_pending_holder_prompt_counts_and_a_number_still_answers_it() {
        let mut s = logged_in(true);
        let now = Instant::now();
        let out = type_line(&mut s, 1, "fetch song");
        let tag = sent(&out)[0].tag().unwrap();
        let mut out = type_line(&mut s, 2, "wait");
        let holders = Body::Holders(vec![holder("bob", 2), holder("carol", 3)]);
        out.extend(reply(&mut s, tag, Status::FOUND, holders));
        s.settle_waits(now, &mut out);
        assert!(results(&out).is_empty(), "the prompt is pending: {out:?}");
        assert_eq!(s.unanswered_before(2), [1]);
        // The number answers the prompt; the download is then what is pending.
        s.on_line(3, "2", now, &mut out);
        s.settle_waits(now, &mut out);
        assert!(results(&out).is_empty());
        assert_eq!(s.unanswered_before(2), [1]);
        let job = started(&out)[0].job;
        let mut out = download_done(&mut s, job, done("/s/song"));
        s.settle_waits(now, &mut out);
        let ids = answered(&out);
        assert_eq!(ids, [(1, "fetch"), (2, "wait")]);
    }
}
