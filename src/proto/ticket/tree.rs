//! The tree that lets one signature cover every fetch ticket a turn of the hub's loop
//! issued: a binary BLAKE3 hash tree over the tickets' bodies (leaves and inner nodes
//! hashed under different first bytes, so that neither can pass for the other), whose
//! root the hub signs once. Each ticket carries its leaf's index and the sibling
//! hashes from its leaf up ([`Proof`]); a holder rebuilds the root from them and checks
//! the one signature.
//!
//! A level with an odd count pairs its last node with [`EMPTY`], so every leaf of a
//! tree has a path of the same length: its depth, the base-2 logarithm of the leaf
//! count rounded up.

use super::{codec, TicketError};

/// A hash in the tree.
pub type Digest = [u8; 32];

/// What pairs with the last node of a level with an odd count: the hash of nothing
/// that can be written.
pub const EMPTY: Digest = [0; 32];
/// The deepest tree a ticket may prove its place in: 512 tickets in one signature
/// (the longest ticket then still fits a peer `Get` of the longest name).
pub const MAX_DEPTH: u8 = 9;
/// The most leaves a tree holds.
pub const MAX_LEAVES: usize = 1 << MAX_DEPTH;
/// Bytes of the longest proof: the leaf index, the depth and the siblings.
pub const MAX_PROOF: usize = 2 + 1 + MAX_DEPTH as usize * 32;

const LEAF: u8 = 0;
const NODE: u8 = 1;

/// The leaf of a ticket whose body encodes as `body`.
pub fn leaf(body: &[u8]) -> Digest {
    let mut h = blake3::Hasher::new();
    h.update(&[LEAF]);
    h.update(body);
    *h.finalize().as_bytes()
}

fn node(left: &Digest, right: &Digest) -> Digest {
    let mut h = blake3::Hasher::new();
    h.update(&[NODE]);
    h.update(left);
    h.update(right);
    *h.finalize().as_bytes()
}

/// Where one leaf sits in its tree: its index and the sibling hashes from the leaf up
/// (as many as the tree is deep).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Proof {
    pub leaf: u16,
    pub siblings: Vec<Digest>,
}

impl Proof {
    /// The depth of the tree the proof is for.
    pub fn depth(&self) -> u8 {
        self.siblings.len() as u8
    }

    /// The root of the tree this proof places `leaf` in.
    pub fn root(&self, leaf: Digest) -> Digest {
        let mut index = self.leaf as usize;
        let mut at = leaf;
        for sibling in &self.siblings {
            at = if index % 2 == 0 {
                node(&at, sibling)
            } else {
                node(sibling, &at)
            };
            index /= 2;
        }
        at
    }

    /// `u16 leaf`, `u8 depth`, then the siblings, from the leaf up.
    pub fn put(&self, w: &mut codec::Writer) {
        w.u16(self.leaf);
        w.u8(self.depth());
        for sibling in &self.siblings {
            w.bytes(sibling);
        }
    }

    /// Strictly: no deeper than [`MAX_DEPTH`], and a leaf inside its tree.
    pub fn read(r: &mut codec::Reader<'_, TicketError>) -> Result<Proof, TicketError> {
        let leaf = r.u16()?;
        let depth = r.u8()?;
        if depth > MAX_DEPTH {
            return Err(TicketError("a proof deeper than any tree of tickets"));
        }
        if (leaf as usize) >> depth != 0 {
            return Err(TicketError("a leaf outside its tree"));
        }
        let siblings = (0..depth).map(|_| r.array()).collect::<Result<_, _>>()?;
        Ok(Proof { leaf, siblings })
    }
}

/// A tree over at most [`MAX_LEAVES`] leaves, every level kept to hand out proofs.
#[derive(Debug)]
pub struct Tree {
    /// The leaves first, the root's level last.
    levels: Vec<Vec<Digest>>,
}

impl Tree {
    /// The tree over `leaves` (1 to [`MAX_LEAVES`] of them; more are the caller's bug,
    /// and the tree is then built over the first [`MAX_LEAVES`]).
    pub fn new(leaves: &[Digest]) -> Tree {
        debug_assert!(!leaves.is_empty() && leaves.len() <= MAX_LEAVES);
        let mut levels = vec![leaves[..leaves.len().min(MAX_LEAVES)].to_vec()];
        while let Some(below) = levels.last().filter(|l| l.len() > 1) {
            let up = below
                .chunks(2)
                .map(|pair| node(&pair[0], pair.get(1).unwrap_or(&EMPTY)))
                .collect();
            levels.push(up);
        }
        Tree { levels }
    }

    /// Its depth: the length of every proof.
    pub fn depth(&self) -> u8 {
        (self.levels.len() - 1) as u8
    }

    /// The hash the hub signs.
    pub fn root(&self) -> Digest {
        self.levels
            .last()
            .and_then(|l| l.first())
            .copied()
            .unwrap_or(EMPTY)
    }

    /// The proof of leaf `index`.
    pub fn proof(&self, index: u16) -> Proof {
        let mut at = index as usize;
        let siblings = self.levels[..self.levels.len() - 1]
            .iter()
            .map(|level| {
                let sibling = *level.get(at ^ 1).unwrap_or(&EMPTY);
                at /= 2;
                sibling
            })
            .collect();
        Proof {
            leaf: index,
            siblings,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaves(n: usize) -> Vec<Digest> {
        (0..n).map(|i| leaf(&(i as u32).to_be_bytes())).collect()
    }

    #[test]
    fn every_leaf_of_every_size_proves_the_root_and_no_other_leaf_does() {
        for n in [1, 2, 3, 4, 5, 7, 8, 9, 127, 128, 129, 300, MAX_LEAVES] {
            let all = leaves(n);
            let tree = Tree::new(&all);
            let depth = (n as f64).log2().ceil() as u8;
            assert_eq!(tree.depth(), depth, "{n} leaves");
            for (i, l) in all.iter().enumerate() {
                let proof = tree.proof(i as u16);
                assert_eq!(proof.depth(), depth);
                assert_eq!(proof.root(*l), tree.root(), "leaf {i} of {n}");
                let other = leaf(b"another body");
                assert_ne!(proof.root(other), tree.root());
                if n > 1 {
                    let moved = Proof {
                        leaf: proof.leaf ^ 1,
                        ..proof.clone()
                    };
                    assert_ne!(moved.root(*l), tree.root(), "leaf {i} of {n} moved");
                }
            }
        }
    }

    #[test]
    fn a_single_leaf_is_its_own_root_and_leaves_are_not_nodes() {
        let one = leaf(b"body");
        let tree = Tree::new(&[one]);
        assert_eq!((tree.depth(), tree.root()), (0, one));
        assert_eq!(tree.proof(0), Proof::default());
        // An inner node's two children, written as a body, do not make that node.
        let pair = leaves(2);
        let mut both = pair[0].to_vec();
        both.extend_from_slice(&pair[1]);
        assert_ne!(leaf(&both), Tree::new(&pair).root());
    }

    #[test]
    fn proofs_round_trip_and_deep_or_outside_ones_are_refused() {
        let tree = Tree::new(&leaves(300));
        let proof = tree.proof(299);
        let mut out = Vec::new();
        proof.put(&mut codec::Writer::new(&mut out));
        assert_eq!(out.len(), 3 + 9 * 32);
        let mut r = codec::Reader::new(&out);
        assert_eq!(Proof::read(&mut r), Ok(proof));
        for (leaf, depth, why) in [
            (
                0u16,
                MAX_DEPTH + 1,
                "a proof deeper than any tree of tickets",
            ),
            (4, 2, "a leaf outside its tree"),
            (1, 0, "a leaf outside its tree"),
        ] {
            let mut bytes = leaf.to_be_bytes().to_vec();
            bytes.push(depth);
            bytes.extend(vec![0; depth as usize * 32]);
            let mut r = codec::Reader::new(&bytes);
            assert_eq!(Proof::read(&mut r), Err(TicketError(why)));
        }
        let longest = Tree::new(&leaves(MAX_LEAVES)).proof(MAX_LEAVES as u16 - 1);
        let mut out = Vec::new();
        longest.put(&mut codec::Writer::new(&mut out));
        assert_eq!(out.len(), MAX_PROOF);
    }
}
