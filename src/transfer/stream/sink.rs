//! [`Sink`]: received bytes into an open file, hashed with BLAKE3 as they come —
//! spliced from a plain socket and hashed from the page cache, or read through a
//! buffer from any other stream.

use super::Stream;
use crate::proto::message::Hash;
use crate::sys::{self, Pipe};
use crate::transfer::writeback::WriteBehind;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

/// Spliced bytes hashed in one go: enough for BLAKE3 to use its widest SIMD
/// path, little enough to still be in the CPU cache.
const HASH_BATCH: u64 = 4 * 1024 * 1024;

/// A file being written from received bytes, hashed as they come.
///
/// Bytes handed to [`Sink::write`] are hashed from memory. Bytes pulled from a
/// socket with [`Sink::fill_from`] go socket → pipe → file with `splice`, never
/// through user space, and are hashed afterwards straight from the page cache
/// through a short-lived read-only mapping of the range just written: one copy
/// per byte in all (into the file) instead of three (socket → buffer → file, plus
/// the hash's read). A stream that is not a plain socket, a file or socket that
/// refuses `splice`, and a process out of descriptors fall back to reading into a
/// buffer and writing it.
pub struct Sink {
    file: File,
    hasher: blake3::Hasher,
    /// Where the next byte goes in the file.
    at: u64,
    /// Bytes before this offset are hashed; those from here up to `at` are not yet.
    hashed: u64,
    left: u64,
    /// The pipe for `splice`, made on first use.
    pipe: Option<Pipe>,
    /// False once the system refused `splice` for this file or socket.
    pub(super) splice: bool,
    /// Writeback started as bytes are written (see [`Sink::with_write_behind`]).
    behind: Option<WriteBehind>,
}

/// What one [`Sink::fill_from`] call did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Filled {
    /// This many bytes came in and the budget is spent (or nothing more is expected).
    Moved(usize),
    /// This many bytes came in, then the socket had no more for now.
    Blocked(usize),
    /// This many bytes came in, then the peer closed the connection.
    Closed(usize),
}

/// Why a [`Sink::fill_from`] failed: the socket, or the local file.
#[derive(Debug)]
pub enum FillError {
    Socket(io::Error),
    File(io::Error),
}

impl Sink {
    /// Expect `size` bytes for `file`, written from its start.
    pub fn new(file: File, size: u64) -> Sink {
        Sink::resume(file, blake3::Hasher::new(), 0, size)
    }

    /// Continue a file whose first `at` bytes were already hashed into `hasher`.
    /// `file` must be open for reading too (the bytes are read back to be hashed).
    pub fn resume(file: File, hasher: blake3::Hasher, at: u64, left: u64) -> Sink {
        Sink {
            file,
            hasher,
            at,
            hashed: at,
            left,
            pipe: None,
            splice: true,
            behind: None,
        }
    }

    /// Start writeback of what is written as it comes, and wait for it far behind
    /// ([`WriteBehind`]): for a file that will be fsynced once complete.
    pub fn with_write_behind(mut self) -> Sink {
        self.behind = Some(WriteBehind::new());
        self
    }

    /// Bytes still expected.
    pub fn left(&self) -> u64 {
        self.left
    }

    /// Write and hash the part of `data` that is still expected; returns how much that was.
    pub fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.hash_written()?;
        let take = usize::try_from(self.left)
            .unwrap_or(usize::MAX)
            .min(data.len());
        let part = data.get(..take).unwrap_or_default();
        self.file.write_all_at(part, self.at)?;
        self.hasher.update(part);
        self.at += take as u64;
        self.hashed = self.at;
        self.left -= take as u64;
        self.wrote()?;
        Ok(take)
    }

    /// Bytes up to `at` are written: the write-behind, if any, has its say.
    fn wrote(&mut self) -> io::Result<()> {
        match &mut self.behind {
            Some(behind) => behind.wrote(&self.file, self.at, self.left == 0),
            None => Ok(()),
        }
    }

    /// Pull up to `budget` expected bytes from `socket` (non-blocking) into the
    /// file. `buf` is scratch space for when `splice` cannot be used (the stream is
    /// not a plain socket, or the system refuses).
    pub fn fill_from(
        &mut self,
        socket: &mut impl Stream,
        buf: &mut [u8],
        budget: usize,
    ) -> Result<Filled, FillError> {
        let mut moved = 0;
        while moved < budget && self.left > 0 {
            let want = usize::try_from(self.left)
                .unwrap_or(usize::MAX)
                .min(budget - moved);
            let step = if self.splice && socket.zero_copy_fd().is_some() {
                self.splice_from(socket, buf, want)
            } else {
                self.read_from(socket, buf, want)
            };
            match step {
                Ok(0) => return Ok(Filled::Closed(moved)),
                Ok(n) => moved += n,
                Err(FillError::Socket(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                    return Ok(Filled::Blocked(moved))
                }
                Err(FillError::Socket(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
            if self.left == 0 || self.at - self.hashed >= HASH_BATCH {
                self.hash_written().map_err(FillError::File)?;
            }
            self.wrote().map_err(FillError::File)?;
        }
        Ok(Filled::Moved(moved))
    }

    /// One `splice` of up to `want` bytes socket → pipe, then all of them pipe → file.
    fn splice_from(
        &mut self,
        socket: &mut impl Stream,
        buf: &mut [u8],
        want: usize,
    ) -> Result<usize, FillError> {
        let pipe = match self.pipe.take() {
            Some(pipe) => pipe,
            None => match Pipe::new() {
                Ok(pipe) => pipe,
                Err(_) => {
                    // Out of descriptors (or pipes): the buffer way needs neither.
                    self.splice = false;
                    return self.read_from(socket, buf, want);
                }
            },
        };
        let spliced = match socket.zero_copy_fd() {
            Some(fd) => pipe.fill_from(&fd, want.min(pipe.capacity())),
            // Not a plain socket: refused like a socket that cannot splice.
            None => Err(io::Error::from_raw_os_error(libc::EINVAL)),
        };
        let n = match spliced {
            Ok(n) => n,
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                self.splice = false;
                return self.read_from(socket, buf, want);
            }
            Err(e) => {
                self.pipe = Some(pipe);
                return Err(FillError::Socket(e));
            }
        };
        let mut left = n;
        while left > 0 {
            match pipe.drain_into(&self.file, &mut self.at, left) {
                Ok(0) => {
                    return Err(FillError::File(io::Error::other(
                        "the pipe ran dry before the file got every byte",
                    )))
                }
                Ok(m) => left -= m,
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                    // This file system cannot take spliced bytes: copy these through
                    // `buf` and read and write from now on.
                    self.splice = false;
                    self.copy_out(&pipe, buf, left)?;
                    left = 0;
                }
                Err(e) => return Err(FillError::File(e)),
            }
        }
        self.left -= n as u64;
        // Kept for the next splice; a sink that gave up on splice lets it go.
        self.pipe = self.splice.then_some(pipe);
        Ok(n)
    }

    /// Move the `count` bytes waiting in `pipe` into the file through `buf`.
    fn copy_out(&mut self, pipe: &Pipe, buf: &mut [u8], mut count: usize) -> Result<(), FillError> {
        while count > 0 {
            let chunk = buf.len().min(count);
            let Some(room) = buf.get_mut(..chunk) else {
                return Err(FillError::File(io::Error::other("no copy buffer")));
            };
            let n = pipe.read_out(room).map_err(FillError::File)?;
            if n == 0 {
                return Err(FillError::File(io::Error::other("the pipe ran dry")));
            }
            let data = room.get(..n).unwrap_or_default();
            self.file
                .write_all_at(data, self.at)
                .map_err(FillError::File)?;
            self.at += n as u64;
            count -= n;
        }
        Ok(())
    }

    /// Reads of up to `want` bytes in all into `buf` while the stream has them, then
    /// written and hashed in one piece. Few big writes, not one per read: a write that
    /// begins or ends inside a page (a file's bytes follow the answer in the records, so
    /// every read's do) cost the page cache 145 ms per 256 MiB at 64 KiB a write against
    /// 90 ms at 1 MiB, and BLAKE3 hashes the last KiB of each piece on its slow path.
    /// What stopped the reads is for the next call to meet, except a failure: that
    /// comes after the bytes read before it are written.
    fn read_from(
        &mut self,
        socket: &mut impl Stream,
        buf: &mut [u8],
        want: usize,
    ) -> Result<usize, FillError> {
        let room = buf.len().min(want);
        let Some(chunk) = buf.get_mut(..room) else {
            return Err(FillError::File(io::Error::other("no receive buffer")));
        };
        let mut got = 0;
        let mut failure = None;
        while let Some(rest) = chunk.get_mut(got..).filter(|rest| !rest.is_empty()) {
            match socket.read(rest) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if got == 0 => return Err(FillError::Socket(e)),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        let written = self
            .write(chunk.get(..got).unwrap_or_default())
            .map_err(FillError::File)?;
        match failure {
            Some(e) => Err(FillError::Socket(e)),
            None => Ok(written),
        }
    }

    /// Hash the bytes written by `splice` and not hashed yet, read from the page cache.
    fn hash_written(&mut self) -> io::Result<()> {
        if self.hashed == self.at {
            return Ok(());
        }
        let len = usize::try_from(self.at - self.hashed)
            .map_err(|_| io::Error::other("unhashed range too large"))?;
        let range = sys::MappedRange::new(&self.file, self.hashed, len)?;
        self.hasher.update(range.bytes());
        self.hashed = self.at;
        Ok(())
    }

    /// The hash of everything written (the file is closed). Every byte is hashed
    /// by then: [`Sink::fill_from`] hashes the rest as the last byte comes in.
    pub fn finish(self) -> Hash {
        debug_assert_eq!(self.hashed, self.at, "bytes written but not hashed");
        *self.hasher.finalize().as_bytes()
    }
}

/// The status for a failed local write: 507 for a full disk or quota, else 500.
pub fn write_status(e: &io::Error) -> crate::proto::status::Status {
    use crate::proto::status::Status;
    if e.raw_os_error() == Some(libc::ENOSPC) || e.raw_os_error() == Some(libc::EDQUOT) {
        Status::DISK_FULL
    } else {
        Status::INTERNAL
    }
}
