//! [`Source`]: a byte range of an open file on its way out, in bounded slices —
//! `sendfile` to a plain socket, read and written through a buffer to any other stream.

use super::{flushed, Stream};
use crate::sys;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

/// Bytes a [`Source`] copies per write to a stream that cannot take `sendfile`.
const COPY_CHUNK: usize = 64 * 1024;

/// A byte range of a file on its way to a stream.
pub struct Source {
    file: File,
    offset: u64,
    end: u64,
    /// The copy buffer for a stream without `sendfile`, made on first use.
    copy: Vec<u8>,
}

/// What one [`Source::send`] call did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    /// This many bytes went out and the budget is spent (or the range is done).
    Moved(usize),
    /// This many bytes went out, then the stream was full.
    Blocked(usize),
    /// The file ended before the range did (it shrank): `n` bytes went out first.
    Short(usize),
}

impl Source {
    /// Stream `file` from `start` up to (not including) `end`.
    pub fn new(file: File, start: u64, end: u64) -> Source {
        Source {
            file,
            offset: start,
            end,
            copy: Vec::new(),
        }
    }

    /// The next byte to send.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The end of the range.
    pub fn end(&self) -> u64 {
        self.end
    }

    /// Whether every byte of the range was sent.
    pub fn done(&self) -> bool {
        self.offset >= self.end
    }

    /// The file, e.g. to check its stamp.
    pub fn file(&self) -> &File {
        &self.file
    }

    /// Send up to `budget` bytes to `out` (non-blocking).
    pub fn send(&mut self, out: &mut impl Stream, budget: usize) -> io::Result<Sent> {
        let mut moved = 0;
        while moved < budget && self.offset < self.end {
            let want = usize::try_from(self.end - self.offset)
                .unwrap_or(usize::MAX)
                .min(budget - moved);
            let step = match out.zero_copy_fd() {
                Some(fd) => sys::sendfile(&fd, &self.file, &mut self.offset, want),
                None => self.copy_to(out, want),
            };
            match step {
                Ok(0) => return Ok(Sent::Short(moved)),
                Ok(n) => moved += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Sent::Blocked(moved)),
                Err(e) => return Err(e),
            }
        }
        if self.offset >= self.end && !flushed(out)? {
            // The last bytes are taken but not yet out (a TLS stream's records).
            return Ok(Sent::Blocked(moved));
        }
        Ok(Sent::Moved(moved))
    }

    /// One read of up to `want` bytes from the file and one write of them to `out`,
    /// as `sendfile` would: `Ok(0)` at the end of the file, `WouldBlock` when `out` is
    /// full. Bytes the write did not take are read again next time.
    fn copy_to(&mut self, out: &mut impl Stream, want: usize) -> io::Result<usize> {
        if self.copy.is_empty() {
            self.copy = vec![0; COPY_CHUNK];
        }
        let room = want.min(self.copy.len());
        let chunk = &mut self.copy[..room];
        let read = loop {
            match self.file.read_at(chunk, self.offset) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                other => break other?,
            }
        };
        if read == 0 {
            return Ok(0);
        }
        let mut written = 0;
        let complete = super::write_out(out, &chunk[..read], &mut written)?;
        if !complete && written == 0 {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        self.offset += written as u64;
        Ok(written)
    }
}
