//! Join notices, batched: during a login storm every login would otherwise send one
//! frame to everyone online (n² frames and writes for n logins). Logins within
//! [`JOIN_BATCH_DELAY`] (longer the more are online) are announced together in one
//! `Joins` frame, encoded once and shared by every recipient. Any other broadcast first sends what is pending, so
//! notices keep their order (a join is never told after that user's leave or chat).

use super::{Action, Hub};
use crate::proto::message::HubMsg;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// How long a join notice may wait for others to share its frame, with few online.
pub const JOIN_BATCH_DELAY: Duration = Duration::from_millis(100);
/// The wait grows by this much per user online: each batch is written to all of them,
/// so during a storm the hub makes at most one write per user every 20 µs for notices.
const JOIN_DELAY_PER_ONLINE: Duration = Duration::from_micros(20);
/// The longest a join notice waits, however many are online.
const JOIN_BATCH_DELAY_MAX: Duration = Duration::from_millis(500);

/// How long a join notice may wait with `online` users online: 100 ms up to 5,000
/// online, then 20 µs per user (200 ms at 10,000), at most 500 ms.
fn batch_delay(online: usize) -> Duration {
    let scaled = JOIN_DELAY_PER_ONLINE.saturating_mul(u32::try_from(online).unwrap_or(u32::MAX));
    scaled.clamp(JOIN_BATCH_DELAY, JOIN_BATCH_DELAY_MAX)
}
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
        let delay = batch_delay(self.online.len());
        self.joins.since.map(|since| since + delay)
    }

    /// The end of a turn of the loop: send the join notices that are due.
    pub(super) fn send_due_joins(&mut self, now: Instant, out: &mut Vec<Action>) {
        if self.joins_due().is_some_and(|due| due <= now) {
            self.flush_joins(out);
        }
    }

    /// Send the pending join notices now: one `Join` as before when a single user
    /// joined (not to that user), else one `Joins` shared by everyone online.
    pub(super) fn flush_joins(&mut self, out: &mut Vec<Action>) {
        self.flush_joins_except(None, out);
    }

    /// As [`Hub::flush_joins`], but not to `leaving`: a session that is ending is
    /// told nothing more (its connection may already be gone).
    pub(super) fn flush_joins_except(
        &mut self,
        leaving: Option<super::ConnId>,
        out: &mut Vec<Action>,
    ) {
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
            if Some(c) != except && Some(c) != leaving {
                out.push(Action::Share(c, Rc::clone(&frame)));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{base, join, sent_to, test_hub};
    use super::{batch_delay, JOIN_BATCH_DELAY};
    use std::time::Duration;

    /// Each batch costs one write per user online: the wait grows with them.
    #[test]
    fn the_batch_waits_longer_the_more_are_online() {
        assert_eq!(batch_delay(0), JOIN_BATCH_DELAY);
        assert_eq!(batch_delay(5_000), JOIN_BATCH_DELAY);
        assert_eq!(batch_delay(10_000), Duration::from_millis(200));
        assert_eq!(batch_delay(100_000), Duration::from_millis(500));
        assert_eq!(batch_delay(usize::MAX), Duration::from_millis(500));
    }
    use crate::proto::message::HubMsg;
    use crate::server::hub::HubConfig;

    /// Found by the `hub_session` fuzz target: the notices pending when a session
    /// ends went to that session too, after its connection was gone.
    #[test]
    fn a_disconnect_flushes_pending_joins_to_the_others_only() {
        let mut hub = test_hub(HubConfig::default());
        let t0 = base();
        join(&mut hub, 1, "stays", t0);
        join(&mut hub, 2, "leaves", t0);
        join(&mut hub, 3, "late", t0);
        let mut out = Vec::new();
        hub.on_disconnect(2, "gone", t0, &mut out);
        assert!(sent_to(2, &out).is_empty(), "{:?}", sent_to(2, &out));
        let got = sent_to(1, &out);
        assert!(
            matches!(&got[..], [HubMsg::Joins { users, online: 3 }, HubMsg::Leave { user, online: 2, .. }]
                if users == &["stays", "leaves", "late"] && user == "leaves"),
            "{got:?}"
        );
        assert!(matches!(
            &sent_to(3, &out)[..],
            [HubMsg::Joins { .. }, HubMsg::Leave { .. }]
        ));
    }
}
