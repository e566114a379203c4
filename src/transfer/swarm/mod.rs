//! Swarm downloads' decisions (issue #14), pure: [`GroupSet`] keeps which chunk groups
//! of a file are verified, and [`Swarm`] decides which holder fetches which groups —
//! segments sized by the file and aligned to groups, smaller near the end, handed to
//! holders as they fall idle (in file order with `--sequential`, so the verified prefix
//! grows from the start), and the tail of a segment that falls far behind handed to a
//! holder that would finish it more than twice as fast (AirDC++'s rule: the segment has
//! run for 4 s and has 20 s or more left). Time comes in as `now`; nothing here does
//! I/O. The download that carries the plan out is [`SwarmFetch`] (`fetch.rs`), one
//! holder's connection in it a `Leg` (`leg.rs`).

mod fetch;
mod leg;
mod ranges;

pub use fetch::{Fault, SwAction, SwarmFetch, SwarmSpec};
pub use ranges::GroupSet;

use super::verified::{groups, GROUP};
use std::collections::HashMap;
use std::ops::Range;
use std::time::{Duration, Instant};

/// Files smaller than this are fetched in one piece, from one holder.
pub const MIN_SPLIT: u64 = 4 << 20;
/// The smallest and largest segment handed out (before the end shrinks them).
pub const MIN_SEGMENT: u64 = 1 << 20;
pub const MAX_SEGMENT: u64 = 16 << 20;
/// A segment is looked at for a faster holder only once it ran this long…
pub const OVERLAP_AFTER: Duration = Duration::from_secs(4);
/// …and only if at its rate it has this long left…
pub const OVERLAP_LEFT: Duration = Duration::from_secs(20);
/// …and the other holder would be more than this many times as fast.
pub const OVERLAP_SPEEDUP: f64 = 2.0;

/// Who fetches: an index the caller gives each holder.
pub type SourceId = usize;

/// The groups per segment for a file of `size` bytes: a sixteenth of the file, within
/// [`MIN_SEGMENT`]..[`MAX_SEGMENT`]; the whole file below [`MIN_SPLIT`].
pub fn segment_groups(size: u64) -> u64 {
    let count = groups(size);
    if size < MIN_SPLIT {
        return count;
    }
    ((size / 16).clamp(MIN_SEGMENT, MAX_SEGMENT) / GROUP).clamp(1, count)
}

/// One holder's segment in flight.
#[derive(Debug, Clone)]
struct Assignment {
    range: Range<u64>,
    /// Groups of it verified so far (they come in order).
    done: u64,
    started: Instant,
}

/// The plan of one file's download from several holders.
#[derive(Debug, Clone)]
pub struct Swarm {
    count: u64,
    segment: u64,
    sequential: bool,
    verified: GroupSet,
    assigned: HashMap<SourceId, Assignment>,
    /// Groups per second each holder reached on its last segment.
    rates: HashMap<SourceId, f64>,
}

impl Swarm {
    /// The download of a file of `size` bytes of which `verified` groups are already
    /// verified (a resume); `sequential`: hand segments out in file order only.
    /// With `sequential`, a file that is split at all is split in the smallest segments
    /// ([`MIN_SEGMENT`]), so that the verified prefix grows in small steps.
    pub fn new(size: u64, verified: GroupSet, sequential: bool) -> Swarm {
        let segment = if sequential && size >= MIN_SPLIT {
            segment_groups(size).min(MIN_SEGMENT / GROUP)
        } else {
            segment_groups(size)
        };
        Swarm {
            count: groups(size),
            segment,
            sequential,
            verified,
            assigned: HashMap::new(),
            rates: HashMap::new(),
        }
    }

    /// The groups verified so far.
    pub fn verified(&self) -> &GroupSet {
        &self.verified
    }

    /// Whether every group is verified.
    pub fn is_done(&self) -> bool {
        self.verified.len() == self.count
    }

    /// What `source` fetches now: its segment, if it has one.
    pub fn assignment(&self, source: SourceId) -> Option<Range<u64>> {
        self.assigned.get(&source).map(|a| a.range.clone())
    }

    /// Holders with a segment now.
    pub fn busy(&self) -> usize {
        self.assigned.len()
    }

    /// Give idle `source` its next segment: the first groups no one has or fetches, or
    /// — once every group is taken — the tail of a segment that falls far behind and
    /// that `source` would finish more than twice as fast. `None`: nothing for it.
    pub fn assign(&mut self, source: SourceId, now: Instant) -> Option<Range<u64>> {
        if let Some(a) = self.assigned.get(&source) {
            return Some(a.range.clone());
        }
        let range = self.free_segment().or_else(|| self.overlap(source, now))?;
        let assignment = Assignment {
            range: range.clone(),
            done: 0,
            started: now,
        };
        self.assigned.insert(source, assignment);
        Some(range)
    }

    /// The next `groups` of `source`'s segment verified (in order, from where it stood).
    pub fn on_verified(&mut self, source: SourceId, groups: u64, now: Instant) {
        let Some(a) = self.assigned.get(&source) else {
            return;
        };
        let from = a.range.start + a.done;
        let to = (from + groups).min(a.range.end);
        for index in from..to {
            self.on_group(source, index, now);
        }
    }

    /// Group `index` verified, fetched by `source`: it counts toward `source`'s segment
    /// when it lies in it (groups of a segment come in order); a segment whose last group
    /// came in is finished, and its holder's rate noted. A group beyond `source`'s
    /// segment (the tail handed to a faster holder, still on its way) is only recorded.
    pub fn on_group(&mut self, source: SourceId, index: u64, now: Instant) {
        if index < self.count {
            self.verified.insert(index..index + 1);
        }
        let Some(a) = self.assigned.get_mut(&source) else {
            return;
        };
        if !a.range.contains(&index) {
            return;
        }
        a.done = index + 1 - a.range.start;
        if index + 1 == a.range.end {
            let secs = now
                .saturating_duration_since(a.started)
                .as_secs_f64()
                .max(1e-3);
            self.rates.insert(source, a.done as f64 / secs);
            self.assigned.remove(&source);
        }
    }

    /// `source` stopped (gone, stalled, dropped for bad data): what it had not
    /// verified of its segment is free again.
    pub fn release(&mut self, source: SourceId) {
        self.assigned.remove(&source);
    }

    /// Free groups, the next segment of them: at most a segment, and near the end no
    /// more than an equal share among the holders fetching (so they end together).
    fn free_segment(&self) -> Option<Range<u64>> {
        let mut taken = self.verified.clone();
        for a in self.assigned.values() {
            taken.insert(a.range.clone());
        }
        let gaps = taken.gaps(self.count);
        let first = gaps.first()?.clone();
        let left: u64 = gaps.iter().map(|g| g.end - g.start).sum();
        let share = left.div_ceil(self.assigned.len() as u64 + 1);
        let len = self.segment.min(share).max(1).min(first.end - first.start);
        Some(first.start..first.start + len)
    }

    /// The tail of the slowest segment that has run [`OVERLAP_AFTER`], has
    /// [`OVERLAP_LEFT`] or more left at its rate, and that `source` (at its last rate)
    /// would finish more than [`OVERLAP_SPEEDUP`] times as fast: the second half of
    /// what it has left, which the slow holder no longer fetches. Of several such
    /// segments, the one with the most time left — with `--sequential`, the earliest.
    fn overlap(&mut self, source: SourceId, now: Instant) -> Option<Range<u64>> {
        let fast = *self.rates.get(&source)?;
        let mut best: Option<(SourceId, f64)> = None;
        for (id, a) in &self.assigned {
            let ran = now.saturating_duration_since(a.started);
            if ran < OVERLAP_AFTER {
                continue;
            }
            let rate = a.done as f64 / ran.as_secs_f64();
            let left = (a.range.end - a.range.start - a.done) as f64;
            let slow_left = if rate > 0.0 {
                left / rate
            } else {
                f64::INFINITY
            };
            let fast_left = left / fast;
            let behind = slow_left >= OVERLAP_LEFT.as_secs_f64();
            if left >= 2.0 && behind && slow_left > OVERLAP_SPEEDUP * fast_left {
                let better = match best {
                    None => true,
                    Some((other, other_left)) => {
                        if self.sequential {
                            a.range.start < self.assigned[&other].range.start
                        } else {
                            slow_left > other_left
                        }
                    }
                };
                if better {
                    best = Some((*id, slow_left));
                }
            }
        }
        let (slow, _) = best?;
        let a = self.assigned.get_mut(&slow)?;
        let from = a.range.start + a.done;
        let mid = from + (a.range.end - from) / 2;
        let tail = mid..a.range.end;
        a.range.end = mid;
        Some(tail)
    }
}

#[cfg(test)]
mod tests;
