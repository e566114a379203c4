//! `progress` events: at most four a second per running download and store transfer,
//! with the `id` of the command that started it, for the web page (always) and for
//! stdout (with `--json --progress-events`). A transfer that did not move since its
//! last event is not reported again.

use super::{Client, Tick, Transfer};
use crate::output::{Event, Row};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// The shortest time between two `progress` events of one transfer.
pub const PROGRESS_EVERY: Duration = Duration::from_millis(250);

/// Who wants `progress` events and what each transfer last reported.
#[derive(Debug, Default)]
pub(super) struct ProgressEvents {
    /// `--progress-events`: stdout gets them too.
    to_stdout: bool,
    armed: bool,
    /// Bytes of each transfer's last event, by transfer key.
    sent: HashMap<usize, u64>,
}

impl ProgressEvents {
    /// None reported yet; stdout gets them if `to_stdout`.
    pub fn new(to_stdout: bool) -> ProgressEvents {
        ProgressEvents {
            to_stdout,
            ..ProgressEvents::default()
        }
    }
}

/// The `progress` event of the transfer of command `id` that `row` describes.
pub fn progress_event(id: u64, row: &Row) -> Event {
    let pct = if row.size == 0 {
        100
    } else {
        u128::from(row.bytes) * 100 / u128::from(row.size)
    };
    let event = Event::new(
        "progress",
        format!(
            "{} {}: {pct}% of {} bytes",
            row.direction, row.name, row.size
        ),
    )
    .field("id", id)
    .field("direction", row.direction)
    .field("name", row.name.clone())
    .field("peer", row.peer.clone())
    .field("bytes", row.bytes)
    .field("size", row.size)
    .field("rate", row.rate.round() as u64)
    .field("eta_s", row.eta_s.map(|s| s.round() as u64));
    match row.verified_prefix {
        Some(prefix) => event.field("verified_prefix", prefix),
        None => event,
    }
}

impl Client {
    /// Whether anyone is told of progress.
    fn wants_progress(&self) -> bool {
        self.web.is_some() || self.progress.to_stdout
    }

    /// Keep the progress tick armed while there are transfers and someone listens.
    pub(super) fn arm_progress(&mut self, now: Instant) {
        if !self.progress.armed && !self.transfers.is_empty() && self.wants_progress() {
            self.timers.arm(now + PROGRESS_EVERY, Tick::Progress);
            self.progress.armed = true;
        }
    }

    /// The progress tick: one event per transfer that moved since its last.
    pub(super) fn report_progress(&mut self, now: Instant) {
        self.progress.armed = false;
        let mut rows = Vec::new();
        for (key, transfer) in &self.transfers {
            let (job, row) = match transfer {
                Transfer::Down(dl) if dl.progress().is_some() => (dl.job(), dl.row(now)),
                Transfer::Swarm(sw) if sw.receiving() => (sw.job(), Client::swarm_row(sw, now)),
                Transfer::Store(st) if st.progress().is_some() => (st.job(), st.row(now)),
                _ => continue,
            };
            if self.closing.contains(&key) {
                continue;
            }
            if let Some(id) = self.session.command_of(job) {
                rows.push((key, id, row));
            }
        }
        let mut sent = HashMap::with_capacity(rows.len());
        for (key, id, row) in rows {
            let bytes = row.bytes;
            if self.progress.sent.get(&key) != Some(&bytes) {
                let event = progress_event(id, &row);
                if self.progress.to_stdout {
                    self.output.event(&event);
                }
                if let Some(w) = self.web.as_mut() {
                    w.event(self.poll.registry(), &event);
                }
            }
            sent.insert(key, bytes);
        }
        self.progress.sent = sent;
        self.arm_progress(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::{event_json, Flow};

    #[test]
    fn a_progress_event_carries_the_command_id_and_the_contract_fields() {
        let t0 = Instant::now();
        let flow = Flow {
            bytes: 3 << 20,
            size: 12 << 20,
            moved: 2 << 20,
            since: Some(t0),
        };
        let row = Row::new(
            "download",
            "song.mp3",
            "bob",
            flow,
            t0 + Duration::from_secs(2),
        );
        let event = progress_event(7, &row);
        assert!(event.human.contains("25%"), "{}", event.human);
        let json = event_json(&event);
        assert_eq!(json["event"], "progress");
        assert_eq!(json["id"], 7);
        assert_eq!(json["name"], "song.mp3");
        assert_eq!(json["peer"], "bob");
        assert_eq!(json["bytes"], 3 << 20);
        assert_eq!(json["size"], 12 << 20);
        assert_eq!(json["rate"], 1 << 20, "2 MiB moved in 2 s");
        assert_eq!(json["eta_s"], 9, "9 MiB left at 1 MiB/s");
    }
}
