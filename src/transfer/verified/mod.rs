//! Verified streaming (issue #14): a file's BLAKE3 tree cut at chunk groups of
//! [`GROUP`] bytes, so any group-aligned range can be proven against the root hash
//! that is published today — the root of a BLAKE3 tree does not depend on where it is
//! cut, so no published hash changes.
//!
//! - [`outboard`]: the tree's parent nodes above the groups (64 bytes each, post-order),
//!   built in the same sliced pass that hashes a file: `(groups − 1) × 64` bytes.
//! - [`encode`]: what proves a range — the parents on its paths and its groups, in
//!   pre-order, as a plan of items the holder reads from the outboard and the file.
//! - [`decode`]: the fetcher's side, sans-IO: bytes in, verified groups out, every group
//!   checked against the root before it is handed over; the first byte that does not
//!   fit names what failed.
//!
//! The tree's shape is BLAKE3's: a node over more than one group splits at the largest
//! power of two of groups below its count, so every split falls on a group boundary.

pub mod decode;
pub mod encode;
pub mod outboard;

/// log2 of [`GROUP`].
pub const GROUP_LOG: u32 = 14;
/// The chunk group: 16 KiB, 16 BLAKE3 chunks. Chosen by measurement
/// (docs/ARCHITECTURE.md, "Verified streaming"): hashing by groups runs as fast as
/// hashing whole at every size tried (16 KiB to 1 MiB), so the smallest group buys the
/// finest checks and resume points for 0.39 % of the file in outboard and proof.
pub const GROUP: u64 = 1 << GROUP_LOG;
/// Bytes of one parent node: its two children's chaining values.
pub const PARENT: usize = 64;

/// The groups of a file of `size` bytes (an empty file is one empty group).
pub fn groups(size: u64) -> u64 {
    size.div_ceil(GROUP).max(1)
}

/// The bytes of group `index` in a file of `size` bytes.
pub fn group_len(size: u64, index: u64) -> usize {
    let start = index * GROUP;
    (size.saturating_sub(start)).min(GROUP) as usize
}

/// Where a node over `count > 1` groups splits: the groups of its left child.
pub fn left_groups(count: u64) -> u64 {
    debug_assert!(count > 1);
    1 << (63 - (count - 1).leading_zeros())
}

/// The parents of a tree over `count` groups (its outboard holds as many).
pub fn parents(count: u64) -> u64 {
    count.saturating_sub(1)
}

/// The bytes of a file's outboard.
pub fn outboard_len(size: u64) -> u64 {
    parents(groups(size)) * PARENT as u64
}

/// A node of a file's tree: groups `start..end`, and how many parents come before its
/// subtree in post-order (where its own parent node, if it has one, sits in the
/// outboard: at `before + parents(end − start) − 1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Node {
    pub start: u64,
    pub end: u64,
    pub before: u64,
}

impl Node {
    /// The root of a tree over `count` groups.
    pub fn root(count: u64) -> Node {
        Node {
            start: 0,
            end: count,
            before: 0,
        }
    }

    pub fn is_group(&self) -> bool {
        self.end - self.start == 1
    }

    /// The index of this node's parent pair in a post-order outboard (not a group).
    pub fn outboard_index(&self) -> u64 {
        self.before + parents(self.end - self.start) - 1
    }

    /// The two children of a node over more than one group.
    pub fn children(&self) -> (Node, Node) {
        let mid = self.start + left_groups(self.end - self.start);
        let left = Node {
            start: self.start,
            end: mid,
            before: self.before,
        };
        let right = Node {
            start: mid,
            end: self.end,
            before: self.before + parents(mid - self.start),
        };
        (left, right)
    }

    /// Whether the node covers any of the groups `range`.
    pub fn meets(&self, range: &std::ops::Range<u64>) -> bool {
        self.start < range.end && range.start < self.end
    }
}

/// Test files and their outboards, for the tests of every part.
#[cfg(test)]
pub(crate) mod fixtures {
    use super::outboard::OutboardBuilder;
    use crate::proto::types::Hash;

    /// `len` bytes that differ with `seed`.
    pub fn data(len: usize, seed: u8) -> Vec<u8> {
        (0..len)
            .map(|i| ((i as u64 * 2_654_435_761) >> 13) as u8 ^ seed)
            .collect()
    }

    /// Root and outboard of `bytes`, fed in pieces of `piece`.
    pub fn build(bytes: &[u8], piece: usize) -> (Hash, Vec<u8>) {
        let mut b = OutboardBuilder::new(bytes.len() as u64);
        let mut outboard = Vec::new();
        for part in bytes.chunks(piece.max(1)) {
            b.update(part).unwrap();
            outboard.extend(b.take_parents());
        }
        let (root, rest) = b.finish().unwrap();
        outboard.extend(rest);
        (root, outboard)
    }

    /// The wire bytes that prove groups `range` of `bytes`.
    pub fn encode(bytes: &[u8], outboard: &[u8], range: std::ops::Range<u64>) -> Vec<u8> {
        use super::encode::{Item, RangePlan};
        let mut out = Vec::new();
        for item in RangePlan::new(bytes.len() as u64, range) {
            match item {
                Item::Parent { index } => {
                    out.extend_from_slice(super::outboard::parent_at(outboard, index).unwrap())
                }
                Item::Group { offset, len, .. } => {
                    out.extend_from_slice(&bytes[offset as usize..offset as usize + len])
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_splits_are_blake3_s_own() {
        for count in 2..300u64 {
            let bytes = count * GROUP;
            let blake = blake3::hazmat::left_subtree_len(bytes);
            assert_eq!(left_groups(count) * GROUP, blake, "{count} groups");
            // With a short last group too.
            let blake = blake3::hazmat::left_subtree_len(bytes - 1000);
            assert_eq!(left_groups(count) * GROUP, blake, "{count} groups, short");
        }
    }

    #[test]
    fn sizes_groups_and_outboards() {
        assert_eq!(groups(0), 1);
        assert_eq!(groups(1), 1);
        assert_eq!(groups(GROUP), 1);
        assert_eq!(groups(GROUP + 1), 2);
        assert_eq!(group_len(GROUP + 1, 1), 1);
        assert_eq!(group_len(0, 0), 0);
        assert_eq!(outboard_len(GROUP), 0);
        assert_eq!(outboard_len(64 << 20), (4096 - 1) * 64);
    }

    #[test]
    fn post_order_indices_cover_the_outboard_once() {
        for count in 2..200u64 {
            let mut seen = vec![false; parents(count) as usize];
            let mut stack = vec![Node::root(count)];
            while let Some(node) = stack.pop() {
                if node.is_group() {
                    continue;
                }
                let i = node.outboard_index() as usize;
                assert!(!seen[i], "{count}: {node:?} twice");
                seen[i] = true;
                let (l, r) = node.children();
                assert!(l.outboard_index_or_group() < i as i64 || l.is_group());
                assert!(r.outboard_index_or_group() < i as i64 || r.is_group());
                stack.extend([l, r]);
            }
            assert!(seen.iter().all(|s| *s), "{count}");
        }
    }

    impl Node {
        fn outboard_index_or_group(&self) -> i64 {
            if self.is_group() {
                -1
            } else {
                self.outboard_index() as i64
            }
        }
    }
}
