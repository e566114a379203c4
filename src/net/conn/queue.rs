//! A connection's bounded write queue: owned and shared chunks that leave in vectored
//! writes, counted by bytes to send (what `--max-output` bounds) and by heap held
//! (what a hub-wide [`Tally`] adds up).

use std::cell::Cell;
use std::collections::VecDeque;
use std::io::{self, IoSlice, Write};
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
/// Slices of a short `writev` (a few replies queued).
const FEW_IOVECS: usize = 8;
/// Queue slots a drained connection keeps.
const SMALL_QUEUE: usize = 4;
/// Small owned writes are appended to the queue's tail chunk up to this size.
const COALESCE_LIMIT: usize = 64 * 1024;
/// Spare capacity a queued buffer may keep; more is given back (one `realloc`).
pub(super) const MAX_SLACK: usize = 1024;

/// Bytes waiting to be written: owned by this connection, or one frame shared by many.
pub(super) enum Chunk {
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
    pub(super) fn held(&self) -> usize {
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

/// Bytes queued toward one connection, bounded by `max_output`.
pub(super) struct OutQueue {
    pub(super) chunks: VecDeque<Chunk>,
    head_written: usize,
    /// Bytes still to be written (what `--max-output` bounds).
    queued: usize,
    /// Heap bytes the queue holds (what the [`Tally`] counts): at least `queued`.
    held: usize,
    pub(super) max_output: usize,
    /// Where this queue's memory is also counted, if anywhere.
    tally: Option<Share>,
    /// The queue was thrown away: nothing more is queued.
    discarded: bool,
}

impl OutQueue {
    pub(super) fn new(max_output: usize) -> OutQueue {
        OutQueue {
            chunks: VecDeque::new(),
            head_written: 0,
            queued: 0,
            held: 0,
            max_output,
            tally: None,
            discarded: false,
        }
    }

    pub(super) fn count_in(&mut self, tally: &Tally) {
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

    pub(super) fn queued(&self) -> usize {
        self.queued
    }

    pub(super) fn held(&self) -> usize {
        self.held
    }

    pub(super) fn is_empty(&self) -> bool {
        self.chunks.is_empty()
    }

    pub(super) fn push_bytes(&mut self, bytes: &[u8]) -> Result<(), QueueFull> {
        self.check_room(bytes.len())?;
        let before = self.chunks.back().map_or(0, Chunk::held);
        let fresh = match self.chunks.back_mut() {
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
        let after = self.chunks.back().map_or(0, Chunk::held);
        self.retally(before, after);
        if let Some(chunk) = fresh {
            self.add_held(chunk.capacity());
            self.chunks.push_back(Chunk::Owned(chunk));
        }
        self.queued += bytes.len();
        Ok(())
    }

    pub(super) fn push_owned(&mut self, mut bytes: Vec<u8>) -> Result<(), QueueFull> {
        if !self.chunks.is_empty() {
            return self.push_bytes(&bytes);
        }
        self.check_room(bytes.len())?;
        trim_slack(&mut bytes);
        self.queued += bytes.len();
        self.add_held(bytes.capacity());
        self.chunks.push_back(Chunk::Owned(bytes));
        Ok(())
    }

    pub(super) fn push_shared(&mut self, bytes: &Rc<[u8]>) -> Result<(), QueueFull> {
        self.check_room(bytes.len())?;
        self.chunks.push_back(Chunk::Shared(Rc::clone(bytes)));
        self.queued += bytes.len();
        self.add_held(bytes.len());
        Ok(())
    }

    pub(super) fn discard(&mut self) {
        let held = self.held;
        self.sub_held(held);
        self.queued = 0;
        self.chunks = VecDeque::new();
        self.head_written = 0;
        self.discarded = true;
    }

    pub(super) fn check_room(&self, extra: usize) -> Result<(), QueueFull> {
        if self.discarded || (self.max_output > 0 && self.queued + extra > self.max_output) {
            return Err(QueueFull {
                limit: self.max_output,
            });
        }
        Ok(())
    }

    /// Write as much of the queue as `stream` takes, in vectored writes.
    pub(super) fn flush_into(&mut self, stream: &mut impl Write) -> io::Result<FlushStatus> {
        while !self.chunks.is_empty() {
            let written = match self.write_chunks(stream) {
                Ok(0) => return Err(io::Error::from(io::ErrorKind::WriteZero)),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(FlushStatus::Pending),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            self.consume(written);
        }
        // A small queue keeps its few slots (one allocation less per request); a big
        // one, grown by a burst, is given back so idle connections stay cheap.
        if self.chunks.capacity() > SMALL_QUEUE {
            self.chunks = VecDeque::new();
        }
        Ok(FlushStatus::Drained)
    }

    /// One write of what is queued: one chunk (a reply to one request) with a plain
    /// write, a few with a small vector of slices, more with up to [`MAX_IOVECS`] —
    /// so a lone reply does not pay for filling hundreds of slices.
    fn write_chunks(&self, stream: &mut impl Write) -> io::Result<usize> {
        match self.chunks.len() {
            1 => stream.write(&self.chunks[0].bytes()[self.head_written..]),
            n if n <= FEW_IOVECS => self.write_vectored::<FEW_IOVECS>(stream),
            _ => self.write_vectored::<MAX_IOVECS>(stream),
        }
    }

    /// A vectored write of the first `N` chunks at most.
    fn write_vectored<const N: usize>(&self, stream: &mut impl Write) -> io::Result<usize> {
        let mut slices = [IoSlice::new(&[]); N];
        let mut count = 0;
        for (slot, chunk) in slices.iter_mut().zip(&self.chunks) {
            let skip = if count == 0 { self.head_written } else { 0 };
            *slot = IoSlice::new(&chunk.bytes()[skip..]);
            count += 1;
        }
        stream.write_vectored(&slices[..count])
    }

    /// `written` bytes went out: a chunk written whole gives back what it held.
    #[inline]
    fn consume(&mut self, mut written: usize) {
        self.queued -= written;
        while written > 0 {
            let Some(head) = self.chunks.front() else {
                break;
            };
            let left = head.bytes().len() - self.head_written;
            if written >= left {
                written -= left;
                self.head_written = 0;
                let held = head.held();
                self.chunks.pop_front();
                self.sub_held(held);
            } else {
                self.head_written += written;
                written = 0;
            }
        }
    }
}
