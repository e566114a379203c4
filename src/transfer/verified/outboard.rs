//! A file's outboard: the parent nodes of its tree above the chunk groups, 64 bytes
//! each (the left and right children's chaining values) in post-order, so it can be
//! written as the file is hashed front to back. [`OutboardBuilder`] takes the bytes in
//! any slices and gives the root (the file's BLAKE3 hash, as `blake3::hash` computes
//! it) with the parents; a stored outboard starts with a [`Header`] that says which
//! file it belongs to.

use super::{groups, GROUP, PARENT};
use crate::proto::types::Hash;
use blake3::hazmat::{
    merge_subtrees_non_root, merge_subtrees_root, ChainingValue, HasherExt, Mode,
};

/// Builds a file's root hash and outboard from its bytes, in order.
pub struct OutboardBuilder {
    size: u64,
    count: u64,
    fed: u64,
    /// The group being hashed.
    group: blake3::Hasher,
    /// Whole subtrees not yet merged: chaining value and groups, left to right.
    stack: Vec<(ChainingValue, u64)>,
    /// The last group's chaining value, merged only at the end (the right spine).
    last: Option<ChainingValue>,
    /// Parents built and not yet taken.
    parents: Vec<u8>,
}

/// The bytes given were not the file's announced size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WrongSize {
    pub expected: u64,
    pub got: u64,
}

impl std::fmt::Display for WrongSize {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "expected {} bytes, got {}", self.expected, self.got)
    }
}

impl std::error::Error for WrongSize {}

impl OutboardBuilder {
    /// For a file of `size` bytes.
    pub fn new(size: u64) -> OutboardBuilder {
        OutboardBuilder {
            size,
            count: groups(size),
            fed: 0,
            group: blake3::Hasher::new(),
            stack: Vec::new(),
            last: None,
            parents: Vec::new(),
        }
    }

    /// The file's next bytes.
    pub fn update(&mut self, mut bytes: &[u8]) -> Result<(), WrongSize> {
        if self.fed + bytes.len() as u64 > self.size {
            return Err(WrongSize {
                expected: self.size,
                got: self.fed + bytes.len() as u64,
            });
        }
        while !bytes.is_empty() {
            let into_group = (self.fed % GROUP) as usize;
            let take = bytes.len().min(GROUP as usize - into_group);
            self.group.update(&bytes[..take]);
            self.fed += take as u64;
            bytes = &bytes[take..];
            if self.fed % GROUP == 0 && self.count > 1 {
                self.end_group();
            }
        }
        Ok(())
    }

    /// Parents built so far, to append to the outboard (taken: the next call gives
    /// only newer ones).
    pub fn take_parents(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.parents)
    }

    /// The root hash and the parents not taken yet, once every byte came.
    pub fn finish(mut self) -> Result<(Hash, Vec<u8>), WrongSize> {
        if self.fed != self.size {
            return Err(WrongSize {
                expected: self.size,
                got: self.fed,
            });
        }
        if self.count == 1 {
            return Ok((*self.group.finalize().as_bytes(), self.parents));
        }
        if self.size % GROUP != 0 {
            self.end_group();
        }
        let mut right = self.last.take().expect("the last group ended");
        while let Some((left, _)) = self.stack.pop() {
            self.parents.extend_from_slice(&left);
            self.parents.extend_from_slice(&right);
            if self.stack.is_empty() {
                let root = merge_subtrees_root(&left, &right, Mode::Hash);
                return Ok((*root.as_bytes(), self.parents));
            }
            right = merge_subtrees_non_root(&left, &right, Mode::Hash);
        }
        unreachable!("a tree of several groups has a root")
    }

    /// A group is whole: it becomes a subtree, merged with its left neighbours while
    /// they are whole subtrees of its size (the last group waits for the end).
    fn end_group(&mut self) {
        let index = (self.fed - 1) / GROUP;
        let mut next = blake3::Hasher::new();
        next.set_input_offset((index + 1) * GROUP);
        let cv = std::mem::replace(&mut self.group, next).finalize_non_root();
        if index + 1 == self.count {
            self.last = Some(cv);
            return;
        }
        let mut node = (cv, 1);
        while let Some(&(left, groups)) = self.stack.last() {
            if groups != node.1 {
                break;
            }
            self.stack.pop();
            self.parents.extend_from_slice(&left);
            self.parents.extend_from_slice(&node.0);
            node = (
                merge_subtrees_non_root(&left, &node.0, Mode::Hash),
                groups * 2,
            );
        }
        self.stack.push(node);
    }
}

/// The start of a stored outboard: what it is, its group size and the file's size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub size: u64,
}

impl Header {
    /// Bytes of a header.
    pub const LEN: usize = 16;
    const MAGIC: &'static [u8; 7] = b"phobao\x01";

    pub fn to_bytes(self) -> [u8; Header::LEN] {
        let mut out = [0; Header::LEN];
        out[..7].copy_from_slice(Header::MAGIC);
        out[7] = super::GROUP_LOG as u8;
        out[8..].copy_from_slice(&self.size.to_be_bytes());
        out
    }

    /// The header these bytes open with, if they are one of this version and group.
    pub fn parse(bytes: &[u8]) -> Option<Header> {
        let head = bytes.get(..Header::LEN)?;
        if &head[..7] != Header::MAGIC || u32::from(head[7]) != super::GROUP_LOG {
            return None;
        }
        let size = u64::from_be_bytes(head[8..].try_into().ok()?);
        Some(Header { size })
    }
}

/// The parent pair at post-order `index` of an outboard held in memory.
pub fn parent_at(outboard: &[u8], index: u64) -> Option<&[u8; PARENT]> {
    let start = usize::try_from(index).ok()?.checked_mul(PARENT)?;
    outboard.get(start..start + PARENT)?.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{build, data};
    use super::super::{outboard_len, Node};
    use super::*;

    const SIZES: [usize; 14] = [
        0,
        1,
        1023,
        1024,
        16_383,
        16_384,
        16_385,
        32_768,
        32_769,
        49_152,
        5 * 16_384 + 3,
        7 * 16_384,
        (1 << 20) + 7,
        3 << 20,
    ];

    #[test]
    fn the_root_is_the_published_blake3_hash_and_the_outboard_its_size() {
        for size in SIZES {
            let bytes = data(size, 1);
            for piece in [1, 1000, 16_384, 100_000, usize::MAX] {
                if piece == 1 && size > 40_000 {
                    continue;
                }
                let (root, outboard) = build(&bytes, piece);
                assert_eq!(root, *blake3::hash(&bytes).as_bytes(), "{size} by {piece}");
                assert_eq!(outboard.len() as u64, outboard_len(size as u64), "{size}");
            }
        }
    }

    #[test]
    fn every_parent_sits_at_its_post_order_index_and_proves_its_children() {
        for size in SIZES {
            let bytes = data(size, 2);
            let (root, outboard) = build(&bytes, 5000);
            let count = groups(size as u64);
            if count == 1 {
                continue;
            }
            // Walk down from the root: each pair merges into what its parent expects.
            let mut stack = vec![(Node::root(count), None::<ChainingValue>)];
            while let Some((node, expected)) = stack.pop() {
                if node.is_group() {
                    let start = (node.start * GROUP) as usize;
                    let end = (start + GROUP as usize).min(size);
                    let mut h = blake3::Hasher::new();
                    h.set_input_offset(start as u64);
                    h.update(&bytes[start..end]);
                    assert_eq!(Some(h.finalize_non_root()), expected, "{size}: {node:?}");
                    continue;
                }
                let pair = parent_at(&outboard, node.outboard_index()).unwrap();
                let left: ChainingValue = pair[..32].try_into().unwrap();
                let right: ChainingValue = pair[32..].try_into().unwrap();
                match expected {
                    None => {
                        let got = merge_subtrees_root(&left, &right, Mode::Hash);
                        assert_eq!(*got.as_bytes(), root);
                    }
                    Some(cv) => assert_eq!(merge_subtrees_non_root(&left, &right, Mode::Hash), cv),
                }
                let (l, r) = node.children();
                stack.push((l, Some(left)));
                stack.push((r, Some(right)));
            }
        }
    }

    #[test]
    fn too_many_or_too_few_bytes_are_refused() {
        let mut b = OutboardBuilder::new(10);
        assert_eq!(
            b.update(&[0; 11]),
            Err(WrongSize {
                expected: 10,
                got: 11
            })
        );
        b.update(&[0; 9]).unwrap();
        assert_eq!(
            b.finish().unwrap_err(),
            WrongSize {
                expected: 10,
                got: 9
            }
        );
    }

    #[test]
    fn a_header_names_its_file_s_size_and_refuses_another_format() {
        let h = Header { size: 1 << 40 };
        let bytes = h.to_bytes();
        assert_eq!(Header::parse(&bytes), Some(h));
        let mut other_group = bytes;
        other_group[7] = 16;
        assert_eq!(Header::parse(&other_group), None);
        assert_eq!(Header::parse(&bytes[..15]), None);
        assert_eq!(Header::parse(b"something else.."), None);
    }
}
