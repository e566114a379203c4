//! Streaming a whole tree (one file, or a directory with everything beneath it) over a
//! store connection, for both directions and both roles: the client's upload and the
//! hub's download use [`TreeSender`]; the hub's upload and the client's download use
//! [`TreeReceiver`].
//!
//! The sender turns a list of items into `Dir` / `File` frames, raw bytes (small files
//! batched through one buffer, large ones with `sendfile` in bounded slices) and `Sum`
//! frames; a hash it does not know yet is computed in slices while the bytes go out.
//! The receiver checks every path with [`check_path`](crate::proto::store::check_path),
//! creates it beneath its root directory with the kernel refusing anything that leaves
//! it (`openat2` `RESOLVE_BENEATH`, no symlinks), writes and hashes the bytes, and
//! compares each file's size and hash before it counts it. A protocol violation is an
//! error with the status to report; nothing is written outside the root.
//!
//! The sender is in `send.rs`, the receiver in `receive.rs`; here are what both
//! share: the items of a tree, their totals, the tree digest and the loop's [`Step`].

mod receive;
mod send;
#[cfg(test)]
mod tests;

pub use receive::{RxLimits, TreeReceiver};
pub use send::TreeSender;

use crate::proto::codec::StatusError;
use crate::proto::message::{Hash, StoreKind};
use crate::proto::status::Status;
use std::io;

/// One item of a tree: its path on the wire (`<entry>/…`), what it is, its size and,
/// when known, its BLAKE3 hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeItem {
    pub path: String,
    pub kind: StoreKind,
    pub size: u64,
    pub hash: Option<Hash>,
}

/// Files, directories and bytes of a tree.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub files: u64,
    pub dirs: u64,
    pub bytes: u64,
}

impl Totals {
    /// The totals of `items`.
    pub fn of<'a>(items: impl IntoIterator<Item = &'a TreeItem>) -> Totals {
        let mut t = Totals::default();
        for item in items {
            match item.kind {
                StoreKind::File => {
                    t.files += 1;
                    t.bytes += item.size;
                }
                StoreKind::Dir => t.dirs += 1,
            }
        }
        t
    }
}

/// Adds one item to a tree digest (see [`tree_digest`]).
pub(super) fn digest_item(
    h: &mut blake3::Hasher,
    path: &str,
    kind: StoreKind,
    size: u64,
    hash: Option<&Hash>,
) {
    h.update(&(path.len() as u64).to_be_bytes());
    h.update(path.as_bytes());
    h.update(&[kind as u8]);
    h.update(&size.to_be_bytes());
    h.update(hash.unwrap_or(&[0; 32]));
}

/// The BLAKE3 digest of a tree as it travels: every item's path, kind, size and hash in
/// order. The sender of an upload and the store compute the same one, so a client can
/// tell whether the entry the hub holds is the one it sent.
pub fn tree_digest(items: &[TreeItem]) -> Hash {
    let mut h = blake3::Hasher::new();
    for item in items {
        digest_item(&mut h, &item.path, item.kind, item.size, item.hash.as_ref());
    }
    *h.finalize().as_bytes()
}

pub(super) fn lost(e: &io::Error) -> StatusError {
    StatusError::new(Status::PEER_UNREACHABLE, format!("connection lost: {e}"))
}

/// What the loop must do next for a sender or receiver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Wait for readiness.
    Wait,
    /// The turn's budget is spent with more to do: run again on the next pass.
    Again,
    /// The tree is complete (sender: `End` written; receiver: `End` received and checked).
    Done,
}
