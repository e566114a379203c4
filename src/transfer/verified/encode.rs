//! What proves a range of a file's groups: walking the tree from the root in
//! pre-order, every parent node over any group of the range (its 64 bytes, from the
//! outboard) and then, in order, the range's groups (from the file). [`RangePlan`]
//! yields those items; the holder reads their bytes and sends them in that order, and
//! [`super::decode::RangeDecoder`] walks the same way.

use super::{group_len, groups, Node, GROUP, PARENT};
use std::ops::Range;

/// One piece of a range's proof.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Item {
    /// The parent pair at this post-order index of the outboard ([`PARENT`] bytes).
    Parent { index: u64 },
    /// Group `index` of the file: `len` bytes at `offset`.
    Group { index: u64, offset: u64, len: usize },
}

impl Item {
    /// Bytes this item takes on the wire.
    pub fn wire_len(&self) -> u64 {
        match self {
            Item::Parent { .. } => PARENT as u64,
            Item::Group { len, .. } => *len as u64,
        }
    }
}

/// Why a range cannot be asked for or served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RangeError {
    /// Nothing in it, or its end before its start.
    Empty,
    /// It ends past the file.
    PastTheEnd { end: u64, size: u64 },
    /// Its start, or its end (other than the file's end), is not on a group boundary.
    Unaligned,
}

impl std::fmt::Display for RangeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RangeError::Empty => f.write_str("an empty range"),
            RangeError::PastTheEnd { end, size } => {
                write!(f, "the range ends at {end}, past the file's {size} bytes")
            }
            RangeError::Unaligned => write!(f, "a range must start and end on {GROUP}-byte groups"),
        }
    }
}

impl std::error::Error for RangeError {}

/// The groups the byte range `bytes` of a file of `size` bytes covers, if it may be
/// asked for: aligned to groups at both ends (the file's end counts as aligned), not
/// empty (but the whole of an empty file is its one empty group), within the file.
pub fn group_range(size: u64, bytes: Range<u64>) -> Result<Range<u64>, RangeError> {
    if size == 0 && bytes == (0..0) {
        return Ok(0..1);
    }
    if bytes.end <= bytes.start {
        return Err(RangeError::Empty);
    }
    if bytes.end > size {
        return Err(RangeError::PastTheEnd {
            end: bytes.end,
            size,
        });
    }
    if bytes.start % GROUP != 0 || (bytes.end % GROUP != 0 && bytes.end != size) {
        return Err(RangeError::Unaligned);
    }
    Ok(bytes.start / GROUP..bytes.end.div_ceil(GROUP))
}

/// The items that prove groups `range` of a file of `size` bytes, in wire order.
#[derive(Debug, Clone)]
pub struct RangePlan {
    size: u64,
    range: Range<u64>,
    stack: Vec<Node>,
}

impl RangePlan {
    /// The plan for groups `range` (from [`group_range`]).
    pub fn new(size: u64, range: Range<u64>) -> RangePlan {
        RangePlan {
            size,
            stack: vec![Node::root(groups(size))],
            range,
        }
    }

    /// Bytes the whole proof takes on the wire.
    pub fn wire_len(&self) -> u64 {
        self.clone().map(|item| item.wire_len()).sum()
    }
}

impl Iterator for RangePlan {
    type Item = Item;

    fn next(&mut self) -> Option<Item> {
        let node = self.stack.pop()?;
        if node.is_group() {
            return Some(Item::Group {
                index: node.start,
                offset: node.start * GROUP,
                len: group_len(self.size, node.start),
            });
        }
        let (left, right) = node.children();
        for child in [right, left] {
            if child.meets(&self.range) {
                self.stack.push(child);
            }
        }
        Some(Item::Parent {
            index: node.outboard_index(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_must_be_aligned_inside_and_not_empty() {
        let size = 5 * GROUP + 3;
        assert_eq!(group_range(size, 0..size), Ok(0..6));
        assert_eq!(group_range(size, GROUP..3 * GROUP), Ok(1..3));
        assert_eq!(group_range(size, 5 * GROUP..size), Ok(5..6));
        assert_eq!(group_range(0, 0..0), Ok(0..1));
        assert_eq!(group_range(size, 7..GROUP), Err(RangeError::Unaligned));
        assert_eq!(group_range(size, 0..GROUP + 1), Err(RangeError::Unaligned));
        assert_eq!(group_range(size, GROUP..GROUP), Err(RangeError::Empty));
        assert_eq!(
            group_range(size, 0..size + 1),
            Err(RangeError::PastTheEnd {
                end: size + 1,
                size
            })
        );
    }

    #[test]
    fn a_plan_holds_each_group_of_its_range_in_order_and_the_parents_above_them() {
        let size = 7 * GROUP + 100;
        let plan: Vec<Item> = RangePlan::new(size, 2..5).collect();
        let groups: Vec<u64> = plan
            .iter()
            .filter_map(|i| match i {
                Item::Group { index, .. } => Some(*index),
                _ => None,
            })
            .collect();
        assert_eq!(groups, [2, 3, 4]);
        // Root [0,8) → [0,4) → [2,4); root → [4,8) → [4,6): five parents.
        let parents = plan
            .iter()
            .filter(|i| matches!(i, Item::Parent { .. }))
            .count();
        assert_eq!(parents, 5);
        assert_eq!(plan[0], Item::Parent { index: 6 }, "the root comes first");
        let whole: Vec<Item> = RangePlan::new(size, 0..8).collect();
        assert_eq!(whole.len(), 8 + 7);
        let last = RangePlan::new(size, 7..8).last().unwrap();
        assert_eq!(
            last,
            Item::Group {
                index: 7,
                offset: 7 * GROUP,
                len: 100
            }
        );
        assert_eq!(RangePlan::new(size, 0..8).wire_len(), size + 7 * 64);
    }
}
