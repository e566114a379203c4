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
use crate::transfer::verified::{GROUP, PARENT};
use std::fs::File;
use std::io;
use std::ops::Range;
use std::os::unix::fs::FileExt;

/// A range's proof being sent.
pub struct ProofSource {
    file: File,
    outboard: File,
    plan: RangePlan,
    /// The item being written, and how much of it went.
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
            buf: Vec::with_capacity(GROUP as usize),
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
                match self.plan.next() {
                    None => {
                        self.done = true;
                        return Ok(Sent::Moved(sent));
                    }
                    Some(item) => {
                        if !self.fill(item)? {
                            return Ok(Sent::Short(sent));
                        }
                    }
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

    /// Read `item`'s bytes into the buffer: false if a file ended before it (it
    /// shrank).
    fn fill(&mut self, item: Item) -> io::Result<bool> {
        let (from, at, len) = match item {
            Item::Parent { index } => (
                &self.outboard,
                Header::LEN as u64 + index * PARENT as u64,
                PARENT,
            ),
            Item::Group { offset, len, .. } => (&self.file, offset, len),
        };
        self.buf.resize(len, 0);
        self.pos = 0;
        let mut got = 0;
        while got < len {
            match from.read_at(&mut self.buf[got..], at + got as u64) {
                Ok(0) => return Ok(false),
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(true)
    }
}
