//! Test doubles for the movers: [`MemoryStream`], an in-memory [`Stream`] whose other
//! end is the test — it holds what the peer sent (until the peer closes: then reads
//! past it end the stream) and collects what the mover writes; it can hand bytes over
//! a few at a time, answer `WouldBlock` on every other call, be slow to connect, hold
//! only so much unread, and hang up — and [`pattern`] bytes to move.

use super::Stream;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::rc::Rc;

#[derive(Default)]
struct Ends {
    /// Bytes the peer sent, not read yet.
    incoming: VecDeque<u8>,
    /// The peer closed its side: a read past `incoming` is the end of the stream.
    eof: bool,
    /// The peer is gone: writes fail with `BrokenPipe`.
    gone: bool,
    /// What the mover wrote.
    written: Vec<u8>,
    /// Most bytes one read or write moves (0: no limit).
    chunk: usize,
    /// Answer `WouldBlock` on every other read and write.
    stutter: bool,
    /// The next call blocks (when stuttering).
    block_next: bool,
    /// Calls to `established` that answer "not yet".
    connecting: u32,
    /// Most bytes the stream holds unread by the peer (0: no limit); past it writes block.
    window: usize,
    /// The mover said it sends nothing more.
    write_closed: bool,
}

/// The mover's end of an in-memory connection; clones share it, so the test keeps one
/// to play the peer.
#[derive(Clone, Default)]
pub struct MemoryStream(Rc<RefCell<Ends>>);

impl MemoryStream {
    /// An open, fast stream with nothing to read yet.
    pub fn new() -> MemoryStream {
        MemoryStream::default()
    }

    /// Move at most `n` bytes per read or write.
    pub fn chunked(self, n: usize) -> MemoryStream {
        self.0.borrow_mut().chunk = n;
        self
    }

    /// Answer `WouldBlock` on every other read and write, starting with the first.
    pub fn stuttering(self) -> MemoryStream {
        {
            let mut ends = self.0.borrow_mut();
            ends.stutter = true;
            ends.block_next = true;
        }
        self
    }

    /// Say "not connected yet" to the first `n` checks.
    pub fn connecting(self, n: u32) -> MemoryStream {
        self.0.borrow_mut().connecting = n;
        self
    }

    /// Hold at most `n` written bytes the peer has not taken.
    pub fn window(self, n: usize) -> MemoryStream {
        self.0.borrow_mut().window = n;
        self
    }

    /// The peer sends `bytes`.
    pub fn send(&self, bytes: &[u8]) {
        self.0.borrow_mut().incoming.extend(bytes);
    }

    /// The peer closes its side: once what it sent is read, reads return 0.
    pub fn close(&self) {
        self.0.borrow_mut().eof = true;
    }

    /// The peer is gone: it reads nothing more (writes fail) and sent its last byte.
    pub fn hang_up(&self) {
        let mut ends = self.0.borrow_mut();
        ends.gone = true;
        ends.eof = true;
    }

    /// The peer takes everything written so far.
    pub fn take_written(&self) -> Vec<u8> {
        std::mem::take(&mut self.0.borrow_mut().written)
    }

    /// Whether the mover said it sends nothing more.
    pub fn write_closed(&self) -> bool {
        self.0.borrow().write_closed
    }

    /// Bytes the peer sent that were not read yet.
    pub fn unread(&self) -> usize {
        self.0.borrow().incoming.len()
    }
}

impl Ends {
    /// Whether this call blocks, and how much it may move otherwise.
    fn allowance(&mut self, want: usize) -> Option<usize> {
        if self.stutter {
            self.block_next = !self.block_next;
            if !self.block_next {
                return None;
            }
        }
        Some(if self.chunk == 0 {
            want
        } else {
            want.min(self.chunk)
        })
    }
}

fn would_block() -> io::Error {
    io::ErrorKind::WouldBlock.into()
}

impl Read for MemoryStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut ends = self.0.borrow_mut();
        if ends.incoming.is_empty() {
            return if ends.eof { Ok(0) } else { Err(would_block()) };
        }
        let n = ends
            .allowance(buf.len())
            .ok_or_else(would_block)?
            .min(ends.incoming.len());
        for (slot, byte) in buf.iter_mut().zip(ends.incoming.drain(..n)) {
            *slot = byte;
        }
        Ok(n)
    }
}

impl Write for MemoryStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut ends = self.0.borrow_mut();
        if ends.gone || ends.write_closed {
            return Err(io::ErrorKind::BrokenPipe.into());
        }
        let room = match ends.window {
            0 => usize::MAX,
            w => w.saturating_sub(ends.written.len()),
        };
        if room == 0 && !buf.is_empty() {
            return Err(would_block());
        }
        let n = ends.allowance(buf.len()).ok_or_else(would_block)?.min(room);
        ends.written.extend_from_slice(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Stream for MemoryStream {
    fn established(&self) -> io::Result<bool> {
        let mut ends = self.0.borrow_mut();
        if ends.connecting > 0 {
            ends.connecting -= 1;
            return Ok(false);
        }
        Ok(true)
    }

    fn close_write(&mut self) -> io::Result<()> {
        self.0.borrow_mut().write_closed = true;
        Ok(())
    }
}

/// Bytes that do not repeat for a long while.
pub fn pattern(len: usize) -> Vec<u8> {
    let mut x: u32 = 0x1234_5678;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x.to_le_bytes()[0]
        })
        .collect()
}
