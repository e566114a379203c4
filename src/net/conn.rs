//! A buffered connection: a socket, the bytes of at most one partial frame, and a
//! bounded write queue that leaves in vectored writes.

use crate::proto::frame::{self, FrameError};
use mio::net::TcpStream;
use mio::{Interest, Registry, Token};
use std::cell::Cell;
use std::collections::VecDeque;
use std::io::{self, IoSlice, Read, Write};
use std::rc::Rc;

/// Heap bytes held by the write queues of every connection that shares it (a
/// hub-wide output budget): buffer capacities, not only the bytes still to be sent,
/// so the count is what the queues really cost.
pub type Tally = Rc<Cell<usize>>;

/// One connection's part of a [`Tally`]: whatever it still counts there is taken back
/// when it is dropped (the connection closed or was taken apart).
struct Share {
    tally: Tally,
    mine: usize,
}

impl Share {
    fn add(&mut self, n: usize) {
        self.mine += n;
        self.tally.set(self.tally.get() + n);
    }

    fn sub(&mut self, n: usize) {
        self.mine -= n;
        self.tally.set(self.tally.get() - n);
    }
}

impl Drop for Share {
    fn drop(&mut self) {
        self.tally.set(self.tally.get() - self.mine);
    }
}

/// Slices handed to one `writev`.
const MAX_IOVECS: usize = 256;
/// Queue slots a drained connection keeps.
const SMALL_QUEUE: usize = 4;
/// Small owned writes are appended to the queue's tail chunk up to this size.
const COALESCE_LIMIT: usize = 64 * 1024;
/// Spare capacity a queued buffer may keep; more is given back (one `realloc`).
const MAX_SLACK: usize = 1024;

/// Bytes waiting to be written: owned by this connection, or one frame shared by many.
enum Chunk {
    Owned(Vec<u8>),
    Shared(Rc<[u8]>),
}

impl Chunk {
    fn bytes(&self) -> &[u8] {
        match self {
            Chunk::Owned(v) => v,
            Chunk::Shared(s) => s,
        }
    }

    /// Heap bytes it holds for this connection (a shared frame counts whole here).
    fn held(&self) -> usize {
        match self {
            Chunk::Owned(v) => v.capacity(),
            Chunk::Shared(s) => s.len(),
        }
    }
}

/// Give back a buffer's spare capacity if it is more than [`MAX_SLACK`].
fn trim_slack(v: &mut Vec<u8>) {
    if v.capacity() - v.len() > MAX_SLACK {
        v.shrink_to_fit();
    }
}

/// Append `bytes` to a coalescing chunk, growing it as a `Vec` would (doubling) but
/// never past [`COALESCE_LIMIT`], the most a chunk is allowed to take.
fn append(tail: &mut Vec<u8>, bytes: &[u8]) {
    let need = tail.len() + bytes.len();
    if need > tail.capacity() {
        let want = (tail.capacity() * 2).clamp(need, COALESCE_LIMIT.max(need));
        tail.reserve_exact(want - tail.len());
    }
    tail.extend_from_slice(bytes);
}

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

/// How a flush ended.
#[derive(Debug, PartialEq, Eq)]
pub enum FlushStatus {
    /// Everything queued was written.
    Drained,
    /// The socket is full; the rest waits for WRITABLE.
    Pending,
}

/// The write queue is over its limit: a reader that does not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueFull {
    pub limit: usize,
}

/// A socket plus its buffers. It knows frames, not messages.
pub struct Conn {
    stream: TcpStream,
    partial: Vec<u8>,
    queue: VecDeque<Chunk>,
    head_written: usize,
    /// Bytes still to be written (what `--max-output` bounds).
    queued: usize,
    /// Heap bytes the queue holds (what the [`Tally`] counts): at least `queued`.
    held: usize,
    max_output: usize,
    max_frame: usize,
    writable_armed: bool,
    /// Where this connection's queued bytes are also counted, if anywhere.
    tally: Option<Share>,
    /// The queue was thrown away: nothing more is queued.
    discarded: bool,
    /// A read shorter than the buffer means the socket is empty (epoll(7) allows this
    /// for stream sockets: new bytes bring a new edge), saving a read that would block.
    /// Off once the peer is known to have closed, so its EOF is read.
    short_read_drains: bool,
}

impl Conn {
    /// Wrap a registered (READABLE) stream.
    pub fn new(stream: TcpStream, max_frame: usize, max_output: usize) -> Conn {
        Conn {
            stream,
            partial: Vec::new(),
            queue: VecDeque::new(),
            head_written: 0,
            queued: 0,
            held: 0,
            max_output,
            max_frame,
            writable_armed: false,
            tally: None,
            discarded: false,
            short_read_drains: false,
        }
    }

    /// Count the memory this connection's queue holds in `tally` too, for as long as
    /// it lives.
    pub fn count_in(&mut self, tally: &Tally) {
        let mut share = Share {
            tally: Rc::clone(tally),
            mine: 0,
        };
        share.add(self.held);
        self.tally = Some(share);
    }

    fn add_held(&mut self, n: usize) {
        self.held += n;
        if let Some(share) = &mut self.tally {
            share.add(n);
        }
    }

    fn sub_held(&mut self, n: usize) {
        self.held -= n;
        if let Some(share) = &mut self.tally {
            share.sub(n);
        }
    }

    /// The tail chunk went from holding `before` bytes to holding `after`.
    fn retally(&mut self, before: usize, after: usize) {
        if after >= before {
            self.add_held(after - before);
        } else {
            self.sub_held(before - after);
        }
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
    pub fn connecting(stream: TcpStream, max_frame: usize, max_output: usize) -> Conn {
        let mut conn = Conn::new(stream, max_frame, max_output);
        conn.writable_armed = true;
        conn
    }

    /// The socket, for registration and addresses.
    pub fn stream(&self) -> &TcpStream {
        &self.stream
    }

    /// The socket, for registration.
    pub fn stream_mut(&mut self) -> &mut TcpStream {
        &mut self.stream
    }

    /// Bytes waiting to be written.
    pub fn queued(&self) -> usize {
        self.queued
    }

    /// Heap bytes the write queue holds (buffer capacities; at least [`Conn::queued`]).
    pub fn held(&self) -> usize {
        self.held
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
                Ok(n) => n,
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
    pub fn into_parts(self) -> (TcpStream, Vec<u8>) {
        (self.stream, self.partial)
    }

    /// Queue bytes this connection owns (small frames are coalesced into one chunk).
    pub fn queue_bytes(&mut self, bytes: &[u8]) -> Result<(), QueueFull> {
        self.check_room(bytes.len())?;
        let before = self.queue.back().map_or(0, Chunk::held);
        let fresh = match self.queue.back_mut() {
            // Appending keeps earlier bytes in place, so a partly written tail is fine.
            Some(Chunk::Owned(tail)) if tail.len() + bytes.len() <= COALESCE_LIMIT => {
                append(tail, bytes);
                None
            }
            // A full tail will not grow again: it keeps only the room its bytes take.
            Some(Chunk::Owned(tail)) => {
                trim_slack(tail);
                Some(bytes.to_vec())
            }
            _ => Some(bytes.to_vec()),
        };
        let after = self.queue.back().map_or(0, Chunk::held);
        self.retally(before, after);
        if let Some(chunk) = fresh {
            self.add_held(chunk.capacity());
            self.queue.push_back(Chunk::Owned(chunk));
        }
        self.queued += bytes.len();
        Ok(())
    }

    /// Queue a frame this connection owns, taking the buffer itself when nothing is
    /// queued (no copy), else coalescing it like [`Conn::queue_bytes`].
    pub fn queue_owned(&mut self, mut bytes: Vec<u8>) -> Result<(), QueueFull> {
        if !self.queue.is_empty() {
            return self.queue_bytes(&bytes);
        }
        self.check_room(bytes.len())?;
        trim_slack(&mut bytes);
        self.queued += bytes.len();
        self.add_held(bytes.capacity());
        self.queue.push_back(Chunk::Owned(bytes));
        Ok(())
    }

    /// Queue a frame shared with other connections (a broadcast encoded once).
    pub fn queue_shared(&mut self, bytes: &Rc<[u8]>) -> Result<(), QueueFull> {
        self.check_room(bytes.len())?;
        self.queue.push_back(Chunk::Shared(Rc::clone(bytes)));
        self.queued += bytes.len();
        self.add_held(bytes.len());
        Ok(())
    }

    /// Throw the queue away (the connection is being dropped for it): its memory is
    /// freed now, and nothing more is queued.
    pub fn discard_output(&mut self) {
        let held = self.held;
        self.sub_held(held);
        self.queued = 0;
        self.queue = VecDeque::new();
        self.head_written = 0;
        self.discarded = true;
    }

    /// Whether `extra` more bytes fit under the output limit.
    pub fn has_room(&self, extra: usize) -> bool {
        self.check_room(extra).is_ok()
    }

    fn check_room(&self, extra: usize) -> Result<(), QueueFull> {
        if self.discarded || (self.max_output > 0 && self.queued + extra > self.max_output) {
            return Err(QueueFull {
                limit: self.max_output,
            });
        }
        Ok(())
    }

    /// Write as much of the queue as the socket takes, in vectored writes.
    pub fn flush(&mut self) -> io::Result<FlushStatus> {
        while !self.queue.is_empty() {
            let written = {
                let mut slices = [IoSlice::new(&[]); MAX_IOVECS];
                let mut count = 0;
                for (i, chunk) in self.queue.iter().take(MAX_IOVECS).enumerate() {
                    let bytes = chunk.bytes();
                    let skip = if i == 0 { self.head_written } else { 0 };
                    slices[i] = IoSlice::new(&bytes[skip..]);
                    count = i + 1;
                }
                // One chunk (a reply to one request) goes out with a plain write.
                let result = match &slices[..count] {
                    [one] => self.stream.write(one),
                    many => self.stream.write_vectored(many),
                };
                match result {
                    Ok(0) => return Err(io::Error::from(io::ErrorKind::WriteZero)),
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        return Ok(FlushStatus::Pending)
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                }
            };
            self.consume(written);
        }
        // A small queue keeps its few slots (one allocation less per request); a big
        // one, grown by a burst, is given back so idle connections stay cheap.
        if self.queue.capacity() > SMALL_QUEUE {
            self.queue = VecDeque::new();
        }
        Ok(FlushStatus::Drained)
    }

    /// `written` bytes went out: a chunk written whole gives back what it held.
    fn consume(&mut self, mut written: usize) {
        self.queued -= written;
        while written > 0 {
            let Some(head) = self.queue.front() else {
                break;
            };
            let left = head.bytes().len() - self.head_written;
            if written >= left {
                written -= left;
                self.head_written = 0;
                let held = head.held();
                self.queue.pop_front();
                self.sub_held(held);
            } else {
                self.head_written += written;
                written = 0;
            }
        }
    }

    /// Ask for WRITABLE only while something is queued.
    pub fn sync_interest(&mut self, registry: &Registry, token: Token) -> io::Result<()> {
        let want = !self.queue.is_empty();
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
mod tests {
    use super::*;
    use mio::{Events, Poll};
    use std::net::TcpListener;
    use std::time::Duration;

    fn pair() -> (Conn, std::net::TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        server.set_nonblocking(true).unwrap();
        (Conn::new(TcpStream::from_std(server), 1024, 4096), client)
    }

    fn framed(payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let start = frame::begin(&mut out);
        out.extend_from_slice(payload);
        frame::finish(&mut out, start);
        out
    }

    fn wait_readable(conn: &mut Conn) {
        let mut poll = Poll::new().unwrap();
        poll.registry()
            .register(conn.stream_mut(), Token(0), Interest::READABLE)
            .unwrap();
        let mut events = Events::with_capacity(4);
        poll.poll(&mut events, Some(Duration::from_secs(5)))
            .unwrap();
    }

    #[test]
    fn frames_split_across_reads_are_reassembled_and_partial_is_freed() {
        let (mut conn, mut peer) = pair();
        let mut bytes = framed(b"first");
        bytes.extend(framed(b"second"));
        peer.write_all(&bytes[..11]).unwrap();
        wait_readable(&mut conn);
        let mut scratch = vec![0; 64];
        let mut out = Vec::new();
        let status = conn.read_frames(&mut scratch, 8, &mut out, <[u8]>::to_vec);
        assert!(matches!(status, ReadStatus::Drained), "{status:?}");
        assert_eq!(out, vec![b"first".to_vec()]);
        assert!(!conn.partial.is_empty());
        peer.write_all(&bytes[11..]).unwrap();
        let mut out = Vec::new();
        for _ in 0..100 {
            conn.read_frames(&mut scratch, 8, &mut out, <[u8]>::to_vec);
            if !out.is_empty() {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(out, vec![b"second".to_vec()]);
        assert_eq!(conn.partial.capacity(), 0);
    }

    #[test]
    fn a_limited_burst_keeps_the_rest_for_later_or_for_a_new_owner() {
        let (mut conn, mut peer) = pair();
        let mut bytes = framed(b"hello");
        bytes.extend(framed(b"next"));
        bytes.extend_from_slice(b"raw");
        peer.write_all(&bytes).unwrap();
        wait_readable(&mut conn);
        let mut scratch = vec![0; 64];
        let mut out = Vec::new();
        let status = conn.read_frames_upto(&mut scratch, 8, 1, &mut out, <[u8]>::to_vec);
        assert!(matches!(status, ReadStatus::Budget), "{status:?}");
        assert_eq!(out, vec![b"hello".to_vec()]);
        // The next burst decodes what was kept before it reads.
        let mut out = Vec::new();
        conn.read_frames_upto(&mut scratch, 8, 1, &mut out, <[u8]>::to_vec);
        assert_eq!(out, vec![b"next".to_vec()]);
        let (_, rest) = conn.into_parts();
        assert_eq!(rest, b"raw");
    }

    #[test]
    fn oversized_frame_is_a_bad_frame() {
        let (mut conn, mut peer) = pair();
        peer.write_all(&[0xFF, 0xFF, 0xFF, 0xFF, 1, 2, 3]).unwrap();
        wait_readable(&mut conn);
        let mut scratch = vec![0; 64];
        let mut out: Vec<Vec<u8>> = Vec::new();
        let status = conn.read_frames(&mut scratch, 8, &mut out, <[u8]>::to_vec);
        assert!(matches!(status, ReadStatus::BadFrame(_)), "{status:?}");
    }

    #[test]
    fn a_shared_tally_follows_every_queue_and_forgets_a_dropped_one() {
        let tally = Tally::default();
        let (mut one, mut peer) = pair();
        let (mut two, _peer_two) = pair();
        one.count_in(&tally);
        two.count_in(&tally);
        one.queue_bytes(b"hello").unwrap();
        two.queue_shared(&Rc::from(&b"shared"[..])).unwrap();
        assert_eq!(tally.get(), 11);
        assert_eq!(one.flush().unwrap(), FlushStatus::Drained);
        assert_eq!(tally.get(), 6, "written bytes leave the tally");
        let mut got = [0; 5];
        peer.read_exact(&mut got).unwrap();
        two.queue_bytes(b"more").unwrap();
        two.discard_output();
        assert_eq!((two.queued(), tally.get()), (0, 0));
        assert!(
            two.queue_bytes(b"x").is_err(),
            "a discarded queue takes nothing"
        );
        one.queue_bytes(b"left").unwrap();
        drop(one);
        assert_eq!(tally.get(), 0, "a dropped connection gives its share back");
    }

    /// The heap bytes the queue's buffers really hold (their capacities).
    fn real_held(conn: &Conn) -> usize {
        conn.queue
            .iter()
            .map(|c| match c {
                Chunk::Owned(v) => v.capacity(),
                Chunk::Shared(s) => s.len(),
            })
            .sum()
    }

    #[test]
    fn a_partly_written_chunk_counts_whole_until_it_is_written() {
        let (mut conn, mut peer) = pair();
        conn.max_output = 0;
        let tally = Tally::default();
        conn.count_in(&tally);
        // More than loopback's socket buffers take while the peer does not read.
        let big = vec![9u8; 32 * 1024 * 1024];
        conn.queue_owned(big).unwrap();
        assert_eq!(conn.flush().unwrap(), FlushStatus::Pending);
        assert!(conn.queued() < 32 * 1024 * 1024, "some bytes went out");
        assert_eq!(
            tally.get(),
            32 * 1024 * 1024,
            "the buffer is still all held"
        );
        assert_eq!(conn.held(), real_held(&conn));
        peer.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut got = vec![0u8; 1024 * 1024];
        let mut left = 32 * 1024 * 1024;
        while left > 0 {
            let n = peer.read(&mut got).unwrap();
            assert!(n > 0);
            left -= n;
            let _ = conn.flush().unwrap();
        }
        assert_eq!((conn.queued(), tally.get()), (0, 0));
    }

    #[test]
    fn the_tally_counts_capacities_and_full_chunks_give_their_slack_back() {
        let (mut conn, _peer) = pair();
        conn.max_output = 0;
        let tally = Tally::default();
        conn.count_in(&tally);
        // A frame with much spare room keeps only its bytes once queued.
        let mut frame = Vec::with_capacity(20_000);
        frame.extend_from_slice(&[1; 100]);
        conn.queue_owned(frame).unwrap();
        assert!(real_held(&conn) <= 100 + MAX_SLACK, "{}", real_held(&conn));
        assert_eq!(tally.get(), real_held(&conn));
        // Replies coalesced into one chunk: once the next chunk begins, the full one
        // keeps no more than its bytes and a little slack.
        for _ in 0..3 {
            conn.queue_bytes(&[2; 21_000]).unwrap();
        }
        conn.queue_bytes(&[3; 40_000]).unwrap();
        let first = match conn.queue.front() {
            Some(Chunk::Owned(v)) => v.capacity(),
            _ => panic!("an owned chunk first"),
        };
        assert!(first <= 63_100 + MAX_SLACK, "the full chunk holds {first}");
        assert_eq!(conn.held(), real_held(&conn));
        assert_eq!(tally.get(), conn.held());
        assert!(conn.held() >= conn.queued());
        conn.discard_output();
        assert_eq!(tally.get(), 0);
    }

    #[test]
    fn a_quiet_partial_frame_keeps_only_its_bytes() {
        let (mut conn, mut peer) = pair();
        let mut bytes = framed(&[7; 600]);
        bytes.extend(framed(&[8; 900]));
        // 10 bytes of the first frame, then the rest of it and 10 of the second: the
        // buffer grew to hold the first frame, and keeps only the 10 bytes once quiet.
        peer.write_all(&bytes[..10]).unwrap();
        wait_readable(&mut conn);
        let mut scratch = vec![0; 2048];
        let mut out = Vec::new();
        conn.read_frames(&mut scratch, 8, &mut out, <[u8]>::to_vec);
        assert_eq!(conn.partial.len(), 10);
        peer.write_all(&bytes[10..614]).unwrap();
        for _ in 0..100 {
            conn.read_frames(&mut scratch, 8, &mut out, <[u8]>::to_vec);
            if !out.is_empty() {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(out.len(), 1);
        assert_eq!(conn.partial.len(), 10);
        assert!(
            conn.partial_capacity() <= 10 + 10 / 4 + 64,
            "{}",
            conn.partial_capacity()
        );
    }

    #[test]
    fn queue_is_bounded_and_flushes_in_order() {
        let (mut conn, mut peer) = pair();
        let shared: Rc<[u8]> = Rc::from(&b"shared-"[..]);
        conn.queue_bytes(b"one-").unwrap();
        conn.queue_shared(&shared).unwrap();
        conn.queue_bytes(b"two").unwrap();
        assert_eq!(conn.queued(), 14);
        assert_eq!(conn.queue_bytes(&[0; 4096]), Err(QueueFull { limit: 4096 }));
        assert_eq!(conn.flush().unwrap(), FlushStatus::Drained);
        let mut got = [0; 14];
        peer.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"one-shared-two");
        assert_eq!(conn.queued(), 0);
    }
}
