//! The fetcher's side of a range proof, sans-IO: [`RangeDecoder`] takes the bytes a
//! holder sends for a range in any pieces, walks the tree in the order
//! [`super::encode::RangePlan`] sends it, checks every parent against what its own
//! parent (or the root hash) says it must be, and hands over each group only once its
//! bytes hash to the chaining value proven for it. It holds at most one group and a
//! stack as deep as the tree; the first item that does not fit ends the decoding with
//! a [`ProofError`] that names it, and nothing after it is trusted.

use super::encode::RangePlan;
use super::{group_len, groups, Node, GROUP, PARENT};
use crate::proto::types::Hash;
use blake3::hazmat::{
    merge_subtrees_non_root, merge_subtrees_root, ChainingValue, HasherExt, Mode,
};
use std::ops::Range;

/// What a node must hash to: the root hash, or a chaining value its parent gave.
#[derive(Debug, Clone, Copy)]
enum Expect {
    Root(Hash),
    Cv(ChainingValue),
}

/// What failed to verify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProofError {
    /// A parent node over these groups did not hash to what was expected.
    Parent { groups: Range<u64> },
    /// Group `index`'s bytes did not hash to what the tree says.
    Group { index: u64 },
}

impl std::fmt::Display for ProofError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProofError::Parent { groups } => write!(
                f,
                "a wrong tree node over bytes {}..{}",
                groups.start * GROUP,
                groups.end * GROUP
            ),
            ProofError::Group { index } => write!(
                f,
                "corrupt data in bytes {}..{}",
                index * GROUP,
                (index + 1) * GROUP
            ),
        }
    }
}

impl std::error::Error for ProofError {}

/// A group that verified: its index, its offset in the file and its bytes.
#[derive(Debug, PartialEq, Eq)]
pub struct Verified<'a> {
    pub index: u64,
    pub offset: u64,
    pub bytes: &'a [u8],
}

/// Verifies the proof of one range of a file, piece by piece.
pub struct RangeDecoder {
    size: u64,
    range: Range<u64>,
    /// Nodes still to come, the next on top, with what each must hash to.
    stack: Vec<(Node, Expect)>,
    /// The bytes of the item being gathered (a parent or a group).
    buf: Vec<u8>,
    /// Bytes of the proof not yet taken.
    left: u64,
    /// `buf` holds an item the last call finished (a group it handed over, a parent
    /// it checked): emptied by the next.
    handed: bool,
    failed: bool,
}

impl RangeDecoder {
    /// For groups `range` (from [`super::encode::group_range`]) of the file of `size`
    /// bytes whose BLAKE3 hash is `root`.
    pub fn new(size: u64, root: Hash, range: Range<u64>) -> RangeDecoder {
        RangeDecoder {
            size,
            left: RangePlan::new(size, range.clone()).wire_len(),
            stack: vec![(Node::root(groups(size)), Expect::Root(root))],
            range,
            buf: Vec::new(),
            handed: false,
            failed: false,
        }
    }

    /// Bytes of the proof still to come (0: the range is whole).
    pub fn remaining(&self) -> u64 {
        self.left
    }

    /// Whether every group of the range verified.
    pub fn is_done(&self) -> bool {
        self.stack.is_empty() && !self.failed
    }

    /// Take bytes from `input`, up to the end of the next item: how many were used,
    /// and the group they completed and verified, if they did. Feed the rest of the
    /// input again. Bytes past the proof's end are never taken (used = 0).
    pub fn feed<'a>(
        &'a mut self,
        input: &'a [u8],
    ) -> Result<(usize, Option<Verified<'a>>), ProofError> {
        if self.handed {
            self.buf.clear();
            self.handed = false;
        }
        let Some(&(node, expect)) = self.stack.last() else {
            return Ok((0, None));
        };
        if self.failed {
            return Ok((0, None));
        }
        let want = if node.is_group() {
            group_len(self.size, node.start)
        } else {
            PARENT
        };
        // A whole item in the input is checked where it lies; else it is gathered.
        let (used, item): (usize, &[u8]) = if self.buf.is_empty() && input.len() >= want {
            (want, &input[..want])
        } else {
            let take = (want - self.buf.len()).min(input.len());
            self.buf.extend_from_slice(&input[..take]);
            if self.buf.len() < want {
                self.left -= take as u64;
                return Ok((take, None));
            }
            (take, &self.buf[..])
        };
        self.left -= used as u64;
        self.stack.pop();
        if node.is_group() {
            if !group_matches(node.start, item, expect) {
                self.failed = true;
                return Err(ProofError::Group { index: node.start });
            }
            let verified = Verified {
                index: node.start,
                offset: node.start * GROUP,
                bytes: item,
            };
            // The buffer a gathered group lies in is emptied by the next call (the slice
            // handed over borrows it).
            self.handed = true;
            return Ok((used, Some(verified)));
        }
        let left_cv: ChainingValue = item[..32].try_into().expect("32 bytes");
        let right_cv: ChainingValue = item[32..].try_into().expect("32 bytes");
        if !parent_matches(&left_cv, &right_cv, expect) {
            self.failed = true;
            return Err(ProofError::Parent {
                groups: node.start..node.end,
            });
        }
        self.handed = true;
        let (left, right) = node.children();
        for (child, cv) in [(right, right_cv), (left, left_cv)] {
            if child.meets(&self.range) {
                self.stack.push((child, Expect::Cv(cv)));
            }
        }
        Ok((used, None))
    }
}

fn group_matches(index: u64, bytes: &[u8], expect: Expect) -> bool {
    match expect {
        Expect::Root(root) => *blake3::hash(bytes).as_bytes() == root,
        Expect::Cv(cv) => {
            let mut h = blake3::Hasher::new();
            h.set_input_offset(index * GROUP);
            h.update(bytes);
            h.finalize_non_root() == cv
        }
    }
}

fn parent_matches(left: &ChainingValue, right: &ChainingValue, expect: Expect) -> bool {
    match expect {
        Expect::Root(root) => *merge_subtrees_root(left, right, Mode::Hash).as_bytes() == root,
        Expect::Cv(cv) => merge_subtrees_non_root(left, right, Mode::Hash) == cv,
    }
}

#[cfg(test)]
mod tests;
