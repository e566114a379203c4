//! `ProofSource`: a range of a file out with its proof (a `GetRange`), in the order
//! [`RangePlan`] gives — each parent node's 64 bytes read from the outboard, each
//! group's bytes from the file — through one buffer, within a budget per call. Over
//! TLS every byte passes through user memory anyway; the plaintext `Get` keeps its
//! `sendfile` path (`source.rs`).
//!
//! The holder does not hash what it sends: the fetcher checks every item against the
//! published hash, so a copy that rotted in a way its stamp does not show (same size,
//! time put back) is caught there, at its first bad group, and the holder reported — a
//! holder spends no BLAKE3 pass per byte served. What the stamp shows (size or time
//! changed) stops the upload (`upload.rs` checks it before every slice).

use super::source::Sent;
use super::Stream;
use crate::transfer::verified::encode::{Item, RangePlan};
use crate::transfer::verified::outboard::Header;
use crate::transfer::verified::PARENT;
use std::fs::File;
use std::io;
use std::ops::Range;
use std::os::unix::fs::FileExt;

/// Bytes of the proof read ahead at once: several items go out in one write, and
/// neighbouring groups come in one read.
const BATCH: usize = 128 * 1024;

/// A range's proof being sent.
pub struct ProofSource {
    file: File,
    outboard: File,
    plan: RangePlan,
    /// An item taken from the plan that did not fit the last batch.
    next: Option<Item>,
    /// The items being written, and how much of them went.
    buf: Vec<u8>,
    pos: usize,
    moved: u64,
    total: u64,
    done: bool,
}

impl ProofSource {
    /// Send groups `groups` of `file` (`size` bytes), proven from `outboard` (a stored
    /// outboard: its [`Header`], then the parents).
    pub fn new(file: File, outboard: File, size: u64, groups: Range<u64>) -> ProofSource {
        let plan = RangePlan::new(size, groups);
        ProofSource {
            total: plan.wire_len(),
            file,
            outboard,
            plan,
            next: None,
            buf: Vec::new(),
            pos: 0,
            moved: 0,
            done: false,
        }
    }

    /// Bytes of the proof sent so far.
    pub fn moved(&self) -> u64 {
        self.moved
    }

    /// Bytes the whole proof takes.
    pub fn total(&self) -> u64 {
        self.total
    }

    pub fn done(&self) -> bool {
        self.done
    }

    /// The file the groups come from (its stamp is checked between slices).
    pub fn file(&self) -> &File {
        &self.file
    }

    /// Send up to `budget` bytes of the proof.
    pub fn send(&mut self, out: &mut impl Stream, budget: usize) -> io::Result<Sent> {
        let mut sent = 0;
        while sent < budget.max(1) {
            if self.pos == self.buf.len() {
                if !self.refill()? {
                    return Ok(Sent::Short(sent));
                }
                if self.buf.is_empty() {
                    self.done = true;
                    return Ok(Sent::Moved(sent));
                }
            }
            let want = (self.buf.len() - self.pos).min(budget.max(1) - sent);
            match out.write(&self.buf[self.pos..self.pos + want]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.pos += n;
                    self.moved += n as u64;
                    sent += n;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Sent::Blocked(sent)),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(Sent::Moved(sent))
    }

    /// Read the next items into the buffer, up to [`BATCH`] bytes of them, groups that
    /// follow each other in the file in one read: false if a file ended before an item
    /// (it shrank); an empty buffer when the proof is all sent.
    fn refill(&mut self) -> io::Result<bool> {
        self.buf.clear();
        self.pos = 0;
        while self.buf.len() < BATCH {
            let Some(item) = self.next.take().or_else(|| self.plan.next()) else {
                break;
            };
            let whole = match item {
                Item::Parent { index } => {
                    let at = Header::LEN as u64 + index * PARENT as u64;
                    append_at(&self.outboard, &mut self.buf, at, PARENT)?
                }
                Item::Group { offset, len, .. } => {
                    let mut end = offset + len as u64;
                    while self.buf.len() + ((end - offset) as usize) < BATCH {
                        match self.plan.next() {
                            Some(Item::Group {
                                offset: o, len: l, ..
                            }) if o == end => end += l as u64,
                            other => {
                                self.next = other;
                                break;
                            }
                        }
                    }
                    append_at(&self.file, &mut self.buf, offset, (end - offset) as usize)?
                }
            };
            if !whole {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

/// Append `len` bytes of `file` at `at` to `buf`: false if the file ends before them.
fn append_at(file: &File, buf: &mut Vec<u8>, at: u64, len: usize) -> io::Result<bool> {
    let start = buf.len();
    buf.resize(start + len, 0);
    let mut got = 0;
    while got < len {
        match file.read_at(&mut buf[start + got..], at + got as u64) {
            Ok(0) => return Ok(false),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}
