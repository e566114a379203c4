//! Join notices, batched: during a login storm every login would otherwise send one
//! frame to everyone online (n² frames and writes for n logins). Logins within
//! [`JOIN_BATCH_DELAY`] are announced together in one `Joins` frame, encoded once and
//! shared by every recipient. Any other broadcast first sends what is pending, so
//! notices keep their order (a join is never told after that user's leave or chat).

use super::{Action, Hub};
use crate::proto::message::HubMsg;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// How long a join notice may wait for others to share its frame.
pub const JOIN_BATCH_DELAY: Duration = Duration::from_millis(100);
/// Most names in one `Joins` frame (34 KB at most, well inside a client's frame limit).
pub const JOIN_BATCH_MAX: usize = 1000;

/// Names that logged in since the last notice, in order, and since when the first waits.
#[derive(Debug, Default)]
pub(super) struct PendingJoins {
    names: Vec<(Rc<str>, super::ConnId)>,
    since: Option<Instant>,
}

impl Hub {
    /// `user` on `conn` just logged in: its notice waits for the batch.
    pub(super) fn note_join(
        &mut self,
        user: Rc<str>,
        conn: super::ConnId,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        self.joins.names.push((user, conn));
        self.joins.since.get_or_insert(now);
        if self.joins.names.len() >= JOIN_BATCH_MAX {
            self.flush_joins(out);
        }
    }

    /// When the pending join notices are due, if any waits.
    pub fn joins_due(&self) -> Option<Instant> {
        self.joins.since.map(|since| since + JOIN_BATCH_DELAY)
    }

    /// The end of a turn of the loop: send the join notices that are due.
    pub fn end_turn(&mut self, now: Instant, out: &mut Vec<Action>) {
        if self.joins_due().is_some_and(|due| due <= now) {
            self.flush_joins(out);
        }
    }

    /// Send the pending join notices now: one `Join` as before when a single user
    /// joined (not to that user), else one `Joins` shared by everyone online.
    pub(super) fn flush_joins(&mut self, out: &mut Vec<Action>) {
        self.joins.since = None;
        let names = std::mem::take(&mut self.joins.names);
        let online = self.online.len() as u32;
        let (frame, except): (Rc<[u8]>, _) = match names.as_slice() {
            [] => return,
            [(user, conn)] => {
                let join = HubMsg::Join {
                    user: user.to_string(),
                    online,
                };
                (join.to_frame().into(), Some(*conn))
            }
            _ => {
                let users = names.iter().map(|(u, _)| u.to_string()).collect();
                (HubMsg::Joins { users, online }.to_frame().into(), None)
            }
        };
        for &c in self.online.values() {
            if Some(c) != except {
                out.push(Action::Share(c, Rc::clone(&frame)));
            }
        }
    }
}
