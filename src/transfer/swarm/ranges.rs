//! [`GroupSet`]: which chunk groups of a file are verified (or assigned), as sorted,
//! disjoint, non-touching ranges — what a partial file's record keeps so a resume asks
//! only for what is missing, and what the scheduler hands out.

use std::ops::Range;

/// A set of group indices, kept as sorted ranges that neither overlap nor touch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupSet {
    ranges: Vec<Range<u64>>,
}

impl GroupSet {
    pub fn new() -> GroupSet {
        GroupSet::default()
    }

    /// The set of these ranges (any order, overlapping or empty ones allowed).
    pub fn of(ranges: impl IntoIterator<Item = Range<u64>>) -> GroupSet {
        let mut set = GroupSet::new();
        for r in ranges {
            set.insert(r);
        }
        set
    }

    /// The ranges, in order.
    pub fn ranges(&self) -> &[Range<u64>] {
        &self.ranges
    }

    /// Groups in the set.
    pub fn len(&self) -> u64 {
        self.ranges.iter().map(|r| r.end - r.start).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    pub fn contains(&self, group: u64) -> bool {
        let i = self.ranges.partition_point(|r| r.end <= group);
        self.ranges.get(i).is_some_and(|r| r.start <= group)
    }

    /// Add `range`, merging it with what it overlaps or touches.
    pub fn insert(&mut self, range: Range<u64>) {
        if range.start >= range.end {
            return;
        }
        // The first range that ends at or after the new start may merge; so may every
        // one after it that starts at or before the new end.
        let first = self.ranges.partition_point(|r| r.end < range.start);
        let last = self.ranges.partition_point(|r| r.start <= range.end);
        let mut merged = range;
        if first < last {
            merged.start = merged.start.min(self.ranges[first].start);
            merged.end = merged.end.max(self.ranges[last - 1].end);
        }
        self.ranges.splice(first..last, [merged]);
    }

    /// Take `range` out.
    pub fn remove(&mut self, range: Range<u64>) {
        if range.start >= range.end {
            return;
        }
        let mut kept = Vec::with_capacity(self.ranges.len() + 1);
        for r in self.ranges.drain(..) {
            if r.end <= range.start || r.start >= range.end {
                kept.push(r);
                continue;
            }
            if r.start < range.start {
                kept.push(r.start..range.start);
            }
            if r.end > range.end {
                kept.push(range.end..r.end);
            }
        }
        self.ranges = kept;
    }

    /// The groups of `0..count` not in the set, in order.
    pub fn gaps(&self, count: u64) -> Vec<Range<u64>> {
        let mut gaps = Vec::new();
        let mut at = 0;
        for r in &self.ranges {
            if r.start >= count {
                break;
            }
            if r.start > at {
                gaps.push(at..r.start);
            }
            at = at.max(r.end);
        }
        if at < count {
            gaps.push(at..count);
        }
        gaps
    }

    /// How many groups from the first are all in the set (the verified prefix).
    pub fn prefix(&self) -> u64 {
        match self.ranges.first() {
            Some(r) if r.start == 0 => r.end,
            _ => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The set as a plain list of members, for comparison with a model.
    fn members(set: &GroupSet) -> Vec<u64> {
        set.ranges().iter().flat_map(|r| r.clone()).collect()
    }

    #[test]
    fn inserting_merges_what_overlaps_or_touches_and_stays_sorted() {
        let mut set = GroupSet::new();
        set.insert(10..12);
        set.insert(0..2);
        set.insert(5..5);
        assert_eq!(set.ranges(), [0..2, 10..12]);
        set.insert(2..4);
        assert_eq!(set.ranges(), [0..4, 10..12], "touching merges");
        set.insert(3..11);
        assert_eq!(set.ranges(), [Range { start: 0, end: 12 }]);
        assert_eq!(set.len(), 12);
        assert_eq!(set.prefix(), 12);
        assert!(set.contains(11) && !set.contains(12));
    }

    #[test]
    fn a_model_of_members_agrees_with_every_operation() {
        // A small deterministic walk of inserts and removes against a bit model.
        let mut set = GroupSet::new();
        let mut model = [false; 64];
        let mut x: u64 = 12345;
        for step in 0..2000 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let a = (x >> 33) % 64;
            let b = (x >> 17) % 64;
            let (lo, hi) = (a.min(b), a.max(b) + 1);
            if step % 3 == 0 {
                set.remove(lo..hi);
                model[lo as usize..hi as usize].fill(false);
            } else {
                set.insert(lo..hi.min(64));
                model[lo as usize..hi.min(64) as usize].fill(true);
            }
            let want: Vec<u64> = (0..64).filter(|i| model[*i as usize]).collect();
            assert_eq!(members(&set), want, "step {step}");
            for w in set.ranges().windows(2) {
                assert!(w[0].end < w[1].start, "sorted, apart: {:?}", set.ranges());
            }
            let gaps: Vec<u64> = set.gaps(64).iter().flat_map(|r| r.clone()).collect();
            let want_gaps: Vec<u64> = (0..64).filter(|i| !model[*i as usize]).collect();
            assert_eq!(gaps, want_gaps);
        }
    }

    #[test]
    fn gaps_and_the_prefix() {
        let set = GroupSet::of([2..4, 6..7]);
        assert_eq!(set.gaps(10), [0..2, 4..6, 7..10]);
        assert_eq!(set.gaps(3), [Range { start: 0, end: 2 }]);
        assert_eq!(set.prefix(), 0);
        assert_eq!(GroupSet::of([0..3, 5..6]).prefix(), 3);
        assert_eq!(GroupSet::new().gaps(4), [Range { start: 0, end: 4 }]);
    }
}
