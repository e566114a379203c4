//! Tests of the buffered connection over an in-memory stream: reads that come a few
//! bytes at a time with `WouldBlock` between them, a peer that reads slowly, and the
//! memory both queues hold.

use super::queue::{Chunk, MAX_SLACK};
use super::*;
use std::collections::VecDeque;

/// What the peer does next, as the connection reads.
enum Step {
    Bytes(Vec<u8>),
    WouldBlock,
}

/// An in-memory stream: reads follow a script (bytes, `WouldBlock`; end of stream
/// once `closed` and the script is used up), writes take at most `room` bytes before
/// they would block.
#[derive(Default)]
struct Mem {
    script: VecDeque<Step>,
    closed: bool,
    written: Vec<u8>,
    room: usize,
}

impl Mem {
    fn feed(&mut self, bytes: &[u8]) {
        self.script.push_back(Step::Bytes(bytes.to_vec()));
    }

    /// Each byte of `bytes` alone, a `WouldBlock` after each.
    fn trickle(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.feed(&[*b]);
            self.script.push_back(Step::WouldBlock);
        }
    }
}

impl Read for Mem {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.script.pop_front() {
            Some(Step::WouldBlock) => Err(io::ErrorKind::WouldBlock.into()),
            Some(Step::Bytes(mut bytes)) => {
                let n = bytes.len().min(buf.len());
                buf[..n].copy_from_slice(&bytes[..n]);
                if n < bytes.len() {
                    self.script.push_front(Step::Bytes(bytes.split_off(n)));
                }
                Ok(n)
            }
            None if self.closed => Ok(0),
            None => Err(io::ErrorKind::WouldBlock.into()),
        }
    }
}

impl Write for Mem {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.room == 0 {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = buf.len().min(self.room);
        self.room -= n;
        self.written.extend_from_slice(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn conn(max_output: usize) -> Conn<Mem> {
    let mem = Mem {
        room: usize::MAX,
        ..Mem::default()
    };
    Conn::new(mem, 1024, max_output)
}

fn framed(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let start = frame::begin(&mut out);
    out.extend_from_slice(payload);
    frame::finish(&mut out, start);
    out
}

fn read(conn: &mut Conn<Mem>, scratch_len: usize, out: &mut Vec<Vec<u8>>) -> ReadStatus {
    let mut scratch = vec![0; scratch_len];
    conn.read_frames(&mut scratch, 8, out, <[u8]>::to_vec)
}

#[test]
fn frames_split_across_reads_are_reassembled_and_partial_is_freed() {
    let mut conn = conn(4096);
    let mut bytes = framed(b"first");
    bytes.extend(framed(b"second"));
    conn.stream_mut().feed(&bytes[..11]);
    let mut out = Vec::new();
    let status = read(&mut conn, 64, &mut out);
    assert!(matches!(status, ReadStatus::Drained), "{status:?}");
    assert_eq!(out, vec![b"first".to_vec()]);
    assert!(!conn.partial.is_empty());
    conn.stream_mut().feed(&bytes[11..]);
    let mut out = Vec::new();
    read(&mut conn, 64, &mut out);
    assert_eq!(out, vec![b"second".to_vec()]);
    assert_eq!(conn.partial.capacity(), 0);
}

#[test]
fn a_frame_that_comes_a_byte_at_a_time_with_would_block_between_is_whole_once() {
    let mut conn = conn(4096);
    let bytes = framed(b"patience");
    conn.stream_mut().trickle(&bytes);
    let mut out = Vec::new();
    let mut bursts = 0;
    while out.is_empty() {
        bursts += 1;
        assert!(bursts <= bytes.len(), "the frame never completed");
        let status = read(&mut conn, 64, &mut out);
        assert!(matches!(status, ReadStatus::Drained), "{status:?}");
    }
    assert_eq!(
        bursts,
        bytes.len(),
        "one burst per byte, each ended by WouldBlock"
    );
    assert_eq!(out, vec![b"patience".to_vec()]);
    assert!(conn.partial.is_empty());
}

#[test]
fn a_peer_that_closes_mid_frame_is_closed_with_the_partial_frame_dropped() {
    let mut conn = conn(4096);
    let bytes = framed(b"cut short");
    conn.stream_mut().feed(&bytes[..6]);
    conn.stream_mut().closed = true;
    let mut out = Vec::new();
    let status = read(&mut conn, 64, &mut out);
    assert!(matches!(status, ReadStatus::Closed), "{status:?}");
    assert!(out.is_empty(), "half a frame is not a frame");
}

#[test]
fn a_short_read_counts_as_drained_only_when_trusted_and_not_once_eof_is_expected() {
    let mut conn = conn(4096);
    conn.trust_short_reads();
    conn.stream_mut().feed(&framed(b"one"));
    conn.stream_mut().feed(&framed(b"two"));
    let mut out = Vec::new();
    read(&mut conn, 64, &mut out);
    assert_eq!(out, vec![b"one".to_vec()], "a short read ends the burst");
    conn.expect_eof();
    conn.stream_mut().closed = true;
    let status = read(&mut conn, 64, &mut out);
    assert_eq!(out.len(), 2);
    assert!(matches!(status, ReadStatus::Closed), "{status:?}");
}

#[test]
fn a_limited_burst_keeps_the_rest_for_later_or_for_a_new_owner() {
    let mut conn = conn(4096);
    let mut bytes = framed(b"hello");
    bytes.extend(framed(b"next"));
    bytes.extend_from_slice(b"raw");
    conn.stream_mut().feed(&bytes);
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
fn the_read_budget_bounds_one_burst() {
    let mut conn = conn(4096);
    for _ in 0..20 {
        conn.stream_mut().feed(&framed(b"x"));
    }
    let mut out = Vec::new();
    let mut scratch = vec![0; 64];
    let status = conn.read_frames(&mut scratch, 3, &mut out, <[u8]>::to_vec);
    assert!(matches!(status, ReadStatus::Budget), "{status:?}");
    assert_eq!(out.len(), 3, "three reads, one frame each");
}

#[test]
fn oversized_frame_is_a_bad_frame() {
    let mut conn = conn(4096);
    conn.stream_mut().feed(&[0xFF, 0xFF, 0xFF, 0xFF, 1, 2, 3]);
    let mut out = Vec::new();
    let status = read(&mut conn, 64, &mut out);
    assert!(matches!(status, ReadStatus::BadFrame(_)), "{status:?}");
}

#[test]
fn a_shared_tally_follows_every_queue_and_forgets_a_dropped_one() {
    let tally = Tally::default();
    let mut one = conn(4096);
    let mut two = conn(4096);
    one.count_in(&tally);
    two.count_in(&tally);
    one.queue_bytes(b"hello").unwrap();
    two.queue_shared(&Rc::from(&b"shared"[..])).unwrap();
    assert_eq!(tally.get(), 11);
    assert_eq!(one.flush().unwrap(), FlushStatus::Drained);
    assert_eq!(tally.get(), 6, "written bytes leave the tally");
    assert_eq!(one.stream().written, b"hello");
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
fn real_held(conn: &Conn<Mem>) -> usize {
    conn.out.chunks.iter().map(Chunk::held).sum()
}

#[test]
fn a_partly_written_chunk_counts_whole_until_it_is_written() {
    let mut conn = conn(0);
    conn.stream_mut().room = 1000;
    let tally = Tally::default();
    conn.count_in(&tally);
    conn.queue_owned(vec![9u8; 4096]).unwrap();
    assert_eq!(conn.flush().unwrap(), FlushStatus::Pending);
    assert_eq!(conn.queued(), 4096 - 1000, "what the peer took went out");
    assert_eq!(tally.get(), 4096, "the buffer is still all held");
    assert_eq!(conn.held(), real_held(&conn));
    // The peer reads a little at a time: each flush writes what fits and stops.
    let mut flushes = 0;
    loop {
        conn.stream_mut().room = 700;
        flushes += 1;
        if conn.flush().unwrap() == FlushStatus::Drained {
            break;
        }
        assert!(flushes < 10);
    }
    assert_eq!(flushes, 5, "3096 bytes at 700 a time");
    assert_eq!((conn.queued(), tally.get()), (0, 0));
    assert_eq!(conn.stream().written, vec![9u8; 4096]);
}

#[test]
fn the_tally_counts_capacities_and_full_chunks_give_their_slack_back() {
    let mut conn = conn(0);
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
    let first = match conn.out.chunks.front() {
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
    let mut conn = conn(4096);
    let mut bytes = framed(&[7; 600]);
    bytes.extend(framed(&[8; 900]));
    // 10 bytes of the first frame, then the rest of it and 10 of the second: the
    // buffer grew to hold the first frame, and keeps only the 10 bytes once quiet.
    conn.stream_mut().feed(&bytes[..10]);
    let mut out = Vec::new();
    read(&mut conn, 2048, &mut out);
    assert_eq!(conn.partial.len(), 10);
    conn.stream_mut().feed(&bytes[10..614]);
    read(&mut conn, 2048, &mut out);
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
    let mut conn = conn(4096);
    let shared: Rc<[u8]> = Rc::from(&b"shared-"[..]);
    conn.queue_bytes(b"one-").unwrap();
    conn.queue_shared(&shared).unwrap();
    conn.queue_bytes(b"two").unwrap();
    assert_eq!(conn.queued(), 14);
    assert_eq!(conn.queue_bytes(&[0; 4096]), Err(QueueFull { limit: 4096 }));
    assert!(!conn.has_room(4096 - 13));
    assert_eq!(conn.flush().unwrap(), FlushStatus::Drained);
    assert_eq!(conn.stream().written, b"one-shared-two");
    assert_eq!(conn.queued(), 0);
}

#[test]
fn a_stream_that_takes_nothing_is_a_write_error_not_a_spin() {
    struct Zero;
    impl Read for Zero {
        fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
            Ok(0)
        }
    }
    impl Write for Zero {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Ok(0)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let mut conn = Conn::new(Zero, 64, 64);
    conn.queue_bytes(b"x").unwrap();
    let e = conn.flush().unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::WriteZero);
}

/// However many chunks wait (one, a few, more than one vectored write takes) and
/// however little the socket takes at a time, they leave whole and in order.
#[test]
fn any_number_of_chunks_leaves_in_order_through_short_writes() {
    for chunks in [1, 3, 8, 9, 300] {
        let mut conn = conn(1 << 20);
        let mut want = Vec::new();
        for i in 0..chunks {
            let bytes = format!("<{i}>");
            if i % 2 == 0 {
                conn.queue_bytes(bytes.as_bytes()).unwrap();
            } else {
                conn.queue_shared(&Rc::from(bytes.as_bytes())).unwrap();
            }
            want.extend_from_slice(bytes.as_bytes());
        }
        let mut flushes = 0;
        loop {
            conn.stream_mut().room = 5;
            flushes += 1;
            if conn.flush().unwrap() == FlushStatus::Drained {
                break;
            }
            assert!(flushes < 10_000, "{chunks} chunks: no progress");
        }
        assert_eq!(conn.stream().written, want, "{chunks} chunks");
        assert_eq!(conn.queued(), 0);
    }
}
