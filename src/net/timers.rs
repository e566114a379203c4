//! Deadlines: a min-heap of (instant, key) whose nearest entry is the poll timeout.
//! Entries are never removed early: the owner checks, when one fires, whether it still applies.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

/// A set of pending deadlines carrying keys of type `K`.
pub struct Timers<K: Ord> {
    heap: BinaryHeap<Reverse<(Instant, K)>>,
}

impl<K: Ord> Default for Timers<K> {
    fn default() -> Self {
        Timers {
            heap: BinaryHeap::new(),
        }
    }
}

impl<K: Ord> Timers<K> {
    /// Fire `key` at `at`.
    pub fn arm(&mut self, at: Instant, key: K) {
        self.heap.push(Reverse((at, key)));
    }

    /// How long the loop may sleep before the nearest deadline (`None`: no deadline).
    pub fn timeout(&self, now: Instant) -> Option<Duration> {
        self.heap
            .peek()
            .map(|Reverse((at, _))| at.saturating_duration_since(now))
    }

    /// Remove and return every key whose deadline is at or before `now`, earliest first.
    pub fn expired(&mut self, now: Instant) -> Vec<K> {
        let mut due = Vec::new();
        while let Some(Reverse((at, _))) = self.heap.peek() {
            if *at > now {
                break;
            }
            if let Some(Reverse((_, key))) = self.heap.pop() {
                due.push(key);
            }
        }
        due
    }

    /// Number of pending entries (stale ones included).
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// Whether nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

/// The smaller of two optional timeouts.
pub fn min_timeout(a: Option<Duration>, b: Option<Duration>) -> Option<Duration> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_deadline_gives_the_timeout_and_fires_in_order() {
        let t0 = Instant::now();
        let mut timers = Timers::default();
        assert_eq!(timers.timeout(t0), None);
        timers.arm(t0 + Duration::from_secs(5), "late");
        timers.arm(t0 + Duration::from_secs(1), "early");
        assert_eq!(timers.timeout(t0), Some(Duration::from_secs(1)));
        assert!(timers.expired(t0).is_empty());
        assert_eq!(timers.expired(t0 + Duration::from_secs(1)), vec!["early"]);
        assert_eq!(
            timers.timeout(t0 + Duration::from_secs(9)),
            Some(Duration::ZERO)
        );
        assert_eq!(timers.expired(t0 + Duration::from_secs(9)), vec!["late"]);
        assert!(timers.is_empty());
    }

    #[test]
    fn min_of_timeouts() {
        let s = Duration::from_secs;
        assert_eq!(min_timeout(Some(s(1)), Some(s(2))), Some(s(1)));
        assert_eq!(min_timeout(None, Some(s(2))), Some(s(2)));
        assert_eq!(min_timeout(None, None), None);
    }
}
