//! A buffered connection: a stream, the bytes of at most one partial frame, and a
//! bounded write queue that leaves in vectored writes (`queue.rs`). The stream is any
//! `Read + Write` (a mio socket in the loops, an in-memory stream in tests, a TLS
//! stream: `net::wire::Wire`); only [`Conn::sync_interest`] needs it to be a mio source.

mod queue;

pub use queue::{FlushStatus, QueueFull, Tally};

use crate::net::traffic::Traffic;
use crate::proto::frame::{self, FrameError};
use mio::net::TcpStream;
use mio::{Interest, Registry, Token};
use queue::OutQueue;
use std::io::{self, Read, Write};
use std::rc::Rc;

/// How a read burst ended.
#[derive(Debug)]
pub enum ReadStatus {
    /// The socket has nothing more for now.
    Drained,
    /// The per-turn budget ran out with bytes possibly left: read again next turn.
    Budget,
    /// The peer closed its side.
    Closed,
    /// A framing error: the connection must be dropped.
    BadFrame(FrameError),
    /// The socket failed.
    Failed(io::Error),
}

/// A stream plus its buffers. It knows frames, not messages.
pub struct Conn<S = TcpStream> {
    stream: S,
    partial: Vec<u8>,
    out: OutQueue,
    max_frame: usize,
    writable_armed: bool,
    /// The stream itself holds bytes it could not write yet (a TLS stream's records,
    /// after the queue was handed to it): WRITABLE is needed for them too.
    stream_holds_output: bool,
    /// A read shorter than the buffer means the socket is empty (epoll(7) allows this
    /// for stream sockets: new bytes bring a new edge), saving a read that would block.
    /// Off once the peer is known to have closed, so its EOF is read.
    short_read_drains: bool,
    /// Where the bytes it reads and writes are counted, if anywhere.
    traffic: Option<Rc<Traffic>>,
}

impl<S: Read + Write> Conn<S> {
    /// Wrap a registered (READABLE) stream.
    pub fn new(stream: S, max_frame: usize, max_output: usize) -> Conn<S> {
        Conn {
            stream,
            partial: Vec::new(),
            out: OutQueue::new(max_output),
            max_frame,
            writable_armed: false,
            stream_holds_output: false,
            short_read_drains: false,
            traffic: None,
        }
    }

    /// Count the bytes this connection reads and writes in `traffic` too.
    pub fn count_traffic_in(&mut self, traffic: &Rc<Traffic>) {
        self.traffic = Some(Rc::clone(traffic));
    }

    /// Count the memory this connection's queue holds in `tally` too, for as long as
    /// it lives.
    pub fn count_in(&mut self, tally: &Tally) {
        self.out.count_in(tally);
    }

    /// Treat a short read as "drained" (see the field's note), saving a syscall per request.
    pub fn trust_short_reads(&mut self) {
        self.short_read_drains = true;
    }

    /// The poll said the peer closed its side: read on to the end of stream.
    pub fn expect_eof(&mut self) {
        self.short_read_drains = false;
    }

    /// Wrap a stream registered for READABLE | WRITABLE while its connect completes.
    pub fn connecting(stream: S, max_frame: usize, max_output: usize) -> Conn<S> {
        let mut conn = Conn::new(stream, max_frame, max_output);
        conn.writable_armed = true;
        conn
    }

    /// The stream, for registration and addresses.
    pub fn stream(&self) -> &S {
        &self.stream
    }

    /// The stream, for registration.
    pub fn stream_mut(&mut self) -> &mut S {
        &mut self.stream
    }

    /// Bytes waiting to be written.
    pub fn queued(&self) -> usize {
        self.out.queued()
    }

    /// Whether everything queued has left: the queue is empty and the stream holds
    /// nothing either (as of the last flush).
    pub fn is_flushed(&self) -> bool {
        self.out.is_empty() && !self.stream_holds_output
    }

    /// Heap bytes the write queue holds (buffer capacities; at least [`Conn::queued`]).
    pub fn held(&self) -> usize {
        self.out.held()
    }

    /// Change the largest frame accepted from now on.
    pub fn set_max_frame(&mut self, max_frame: usize) {
        self.max_frame = max_frame;
    }

    /// Read until the socket would block or `max_reads` reads were made, decoding every
    /// whole frame with `decode` into `out`. `scratch` is the loop's shared read buffer:
    /// the connection keeps bytes only while it holds a partial frame.
    pub fn read_frames<T>(
        &mut self,
        scratch: &mut [u8],
        max_reads: usize,
        out: &mut Vec<T>,
        decode: impl FnMut(&[u8]) -> T,
    ) -> ReadStatus {
        self.read_frames_upto(scratch, max_reads, usize::MAX, out, decode)
    }

    /// As [`Conn::read_frames`], but stop after `max_frames` frames: the bytes after
    /// them stay with the connection (see [`Conn::into_parts`]), and `Budget` says so.
    pub fn read_frames_upto<T>(
        &mut self,
        scratch: &mut [u8],
        max_reads: usize,
        max_frames: usize,
        out: &mut Vec<T>,
        mut decode: impl FnMut(&[u8]) -> T,
    ) -> ReadStatus {
        let limit = out.len().saturating_add(max_frames);
        // Whole frames left from an earlier, limited burst come first.
        if !self.partial.is_empty() {
            match split_frames(&self.partial, self.max_frame, limit, out, &mut decode) {
                Ok(used) => {
                    self.partial.drain(..used);
                }
                Err(e) => return ReadStatus::BadFrame(e),
            }
            if out.len() >= limit {
                return ReadStatus::Budget;
            }
        }
        for _ in 0..max_reads {
            let n = match self.stream.read(scratch) {
                Ok(0) => return ReadStatus::Closed,
                Ok(n) => {
                    if let Some(traffic) = &self.traffic {
                        traffic.received(n as u64);
                    }
                    n
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.settle_partial();
                    return ReadStatus::Drained;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return ReadStatus::Failed(e),
            };
            let result = if self.partial.is_empty() {
                let fresh = &scratch[..n];
                match split_frames(fresh, self.max_frame, limit, out, &mut decode) {
                    Ok(used) => {
                        self.partial.extend_from_slice(&fresh[used..]);
                        Ok(())
                    }
                    Err(e) => Err(e),
                }
            } else {
                self.partial.extend_from_slice(&scratch[..n]);
                match split_frames(&self.partial, self.max_frame, limit, out, &mut decode) {
                    Ok(used) => {
                        self.partial.drain(..used);
                        if self.partial.is_empty() {
                            self.partial = Vec::new();
                        }
                        Ok(())
                    }
                    Err(e) => Err(e),
                }
            };
            if let Err(e) = result {
                return ReadStatus::BadFrame(e);
            }
            if out.len() >= limit {
                return ReadStatus::Budget;
            }
            if self.short_read_drains && n < scratch.len() {
                self.settle_partial();
                return ReadStatus::Drained;
            }
        }
        ReadStatus::Budget
    }

    /// The socket is quiet: a partial frame keeps only the room its bytes take (a
    /// buffer grown by a burst, or by earlier frames, is given back).
    fn settle_partial(&mut self) {
        let len = self.partial.len();
        if self.partial.capacity() > len + len / 4 + 64 {
            if len == 0 {
                self.partial = Vec::new();
            } else {
                self.partial.shrink_to_fit();
            }
        }
    }

    /// Bytes held for a partial frame (its buffer's capacity).
    pub fn partial_capacity(&self) -> usize {
        self.partial.capacity()
    }

    /// Take the socket apart: the stream and the bytes read but not yet decoded.
    pub fn into_parts(self) -> (S, Vec<u8>) {
        (self.stream, self.partial)
    }

    /// Queue bytes this connection owns (small frames are coalesced into one chunk).
    pub fn queue_bytes(&mut self, bytes: &[u8]) -> Result<(), QueueFull> {
        self.out.push_bytes(bytes)
    }

    /// Queue a frame this connection owns, taking the buffer itself when nothing is
    /// queued (no copy), else coalescing it like [`Conn::queue_bytes`].
    pub fn queue_owned(&mut self, bytes: Vec<u8>) -> Result<(), QueueFull> {
        self.out.push_owned(bytes)
    }

    /// Queue a frame shared with other connections (a broadcast encoded once).
    pub fn queue_shared(&mut self, bytes: &Rc<[u8]>) -> Result<(), QueueFull> {
        self.out.push_shared(bytes)
    }

    /// Throw the queue away (the connection is being dropped for it): its memory is
    /// freed now, and nothing more is queued.
    pub fn discard_output(&mut self) {
        self.out.discard();
    }

    /// Whether `extra` more bytes fit under the output limit.
    pub fn has_room(&self, extra: usize) -> bool {
        self.out.check_room(extra).is_ok()
    }

    /// Write as much of the queue as the stream takes, in vectored writes, then ask
    /// the stream to write out what it holds (a TLS stream's records; a socket holds
    /// nothing).
    pub fn flush(&mut self) -> io::Result<FlushStatus> {
        let queued = self.out.queued();
        let flushed = self.out.flush_into(&mut self.stream);
        if let Some(traffic) = &self.traffic {
            traffic.sent((queued - self.out.queued()) as u64);
        }
        if flushed? == FlushStatus::Pending {
            return Ok(FlushStatus::Pending);
        }
        match self.stream.flush() {
            Ok(()) => {
                self.stream_holds_output = false;
                Ok(FlushStatus::Drained)
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                self.stream_holds_output = true;
                Ok(FlushStatus::Pending)
            }
            Err(e) => Err(e),
        }
    }
}

impl<S: Read + Write + mio::event::Source> Conn<S> {
    /// Ask for WRITABLE only while something is queued.
    pub fn sync_interest(&mut self, registry: &Registry, token: Token) -> io::Result<()> {
        let want = !self.out.is_empty() || self.stream_holds_output;
        if want != self.writable_armed {
            let interest = if want {
                Interest::READABLE | Interest::WRITABLE
            } else {
                Interest::READABLE
            };
            registry.reregister(&mut self.stream, token, interest)?;
            self.writable_armed = want;
        }
        Ok(())
    }
}

/// Decode whole frames at the start of `buf` until `out` holds `limit`; returns the
/// bytes consumed.
fn split_frames<T>(
    buf: &[u8],
    max_frame: usize,
    limit: usize,
    out: &mut Vec<T>,
    decode: &mut impl FnMut(&[u8]) -> T,
) -> Result<usize, FrameError> {
    let mut used = 0;
    while out.len() < limit {
        let Some((n, payload)) = frame::try_parse(&buf[used..], max_frame)? else {
            break;
        };
        out.push(decode(payload));
        used += n;
    }
    Ok(used)
}

#[cfg(test)]
mod tests;
