//! The upload's tests: its decisions and pace from plain values, and whole uploads
//! over in-memory streams and a socket pair.

use super::*;
use crate::proto::peer::Answer;

#[test]
fn decisions() {
    let d = |p, disk, refreshing, asked| decide("f", 5, None, p, disk, refreshing, asked);
    assert!(matches!(
        d(None, Disk::Same, false, false),
        Decision::Refuse(Status::NO_FILE, _)
    ));
    assert!(matches!(
        d(Some(10), Disk::Missing, false, false),
        Decision::Refuse(Status::NO_FILE, _)
    ));
    assert_eq!(d(Some(10), Disk::Same, false, false), Decision::Serve);
    assert_eq!(d(Some(5), Disk::Same, false, false), Decision::Serve);
    assert!(matches!(
        d(Some(4), Disk::Same, false, false),
        Decision::Refuse(Status::BAD_REQUEST, _)
    ));
    assert_eq!(d(Some(10), Disk::Changed, false, false), Decision::Refresh);
    assert_eq!(d(Some(10), Disk::Changed, true, false), Decision::Wait);
    assert_eq!(d(Some(10), Disk::Changed, true, true), Decision::Wait);
    assert!(matches!(
        d(Some(10), Disk::Changed, false, true),
        Decision::Refuse(Status::UNAVAILABLE, _)
    ));
    // A range must lie on chunk groups inside the file (its end counts as a boundary).
    let g = crate::transfer::verified::GROUP;
    let r =
        |offset, end, size| decide("f", offset, Some(end), Some(size), Disk::Same, false, false);
    assert_eq!(r(0, g, 3 * g), Decision::Serve);
    assert_eq!(r(g, 2 * g + 7, 2 * g + 7), Decision::Serve);
    for (offset, end, size) in [
        (1, g, 3 * g),
        (0, g + 1, 3 * g),
        (0, 4 * g, 3 * g),
        (g, g, 3 * g),
    ] {
        assert!(
            matches!(
                r(offset, end, size),
                Decision::Refuse(Status::BAD_REQUEST, _)
            ),
            "{offset}..{end} of {size}"
        );
    }
}

#[test]
fn pace() {
    let t0 = Instant::now();
    let free = UploadConfig {
        slice: 1000,
        rate: 0,
    };
    assert_eq!(allowance(&free, t0, 1 << 40, t0), Ok(1000));
    let slow = UploadConfig {
        slice: 1000,
        rate: 500,
    };
    // A burst of one second's worth (under the slice), then the rate.
    assert_eq!(allowance(&slow, t0, 0, t0), Ok(500));
    assert_eq!(allowance(&slow, t0, 400, t0), Ok(100));
    let one_s = t0 + Duration::from_secs(1);
    assert_eq!(allowance(&slow, t0, 500, one_s), Ok(500));
    // Spent: wake when a twentieth of a second's worth is allowed again.
    let wake = allowance(&slow, t0, 1000, one_s).unwrap_err();
    assert_eq!(wake, t0 + Duration::from_secs_f64(526.0 / 500.0));
}

use super::super::stream::memory::{pattern, MemoryStream};
use crate::testing::TempDir;

const ME: &str = "alice";

fn peer_addr() -> SocketAddr {
    "127.0.0.1:4000".parse().unwrap()
}

fn get(name: &str, offset: u64) -> Vec<u8> {
    let mut out = Vec::new();
    let request = Request {
        name: name.into(),
        offset,
        range_end: None,
        ticket: b"a ticket".to_vec(),
    };
    peer::encode_request(&request, &mut out);
    out
}

/// Run `up` until it needs a decision or ends, the peer taking what it writes; a
/// blocked turn is simply run again (the peer is this test). Bounded.
fn drive<S: Stream>(up: &mut Upload<S>, taken: &mut Vec<u8>, peer: &MemoryStream) -> UpStep {
    let config = UploadConfig {
        slice: 1000,
        rate: 0,
    };
    let mut scratch = [0u8; 64];
    for _ in 0..100_000 {
        let step = up.turn(&mut scratch, &config, Instant::now());
        taken.extend(peer.take_written());
        match step {
            UpStep::Wait | UpStep::Again => {}
            other => return other,
        }
    }
    panic!("the upload made no progress");
}

/// The answer at the start of `bytes` and the bytes after it.
fn answer_of(bytes: &[u8]) -> (Answer, &[u8]) {
    let (used, answer) = peer::parse_answer(bytes).unwrap().expect("a whole answer");
    (answer, &bytes[used..])
}

fn published(dir: &TempDir, data: &[u8]) -> (File, Stamp) {
    std::fs::write(dir.join("f"), data).unwrap();
    let file = File::open(dir.join("f")).unwrap();
    let stamp = Stamp::of(&file).unwrap();
    (file, stamp)
}

#[test]
fn an_upload_serves_from_the_offset_byte_by_byte_and_stuttering() {
    let dir = TempDir::new("upload-serve");
    let data = pattern(5000);
    for stream in [
        MemoryStream::new().chunked(1),
        MemoryStream::new().stuttering(),
        MemoryStream::new().chunked(2).stuttering().window(100),
    ] {
        stream.send(&get("f", 1234));
        let mut up = Upload::new(stream.clone(), peer_addr(), ME, Instant::now());
        assert!(up.awaiting_request());
        let mut taken = Vec::new();
        assert_eq!(drive(&mut up, &mut taken, &stream), UpStep::Decide);
        let (request, asked) = up.pending().unwrap();
        assert_eq!((request.offset, asked), (1234, false));
        assert_eq!(request.ticket, b"a ticket");
        // Named by its address until its ticket is admitted, then by the ticket's user.
        assert_eq!((up.name(), up.who()), (Some("f"), peer_addr().to_string()));
        assert_eq!(up.fetcher(), None);
        up.admit("bob".into());
        assert_eq!((up.fetcher(), up.who()), (Some("bob"), "bob".to_owned()));
        assert!(up.holds_slot() && !up.arm_writable());
        let (file, stamp) = published(&dir, &data);
        up.serve(file, None, stamp, 5000, [7; 32]);
        assert!(up.arm_writable() && !up.arm_writable(), "asked for once");
        let served = drive(&mut up, &mut taken, &stream);
        assert_eq!(served, UpStep::Served { bytes: 5000 - 1234 });
        let (answer, body) = answer_of(&taken);
        assert_eq!(
            (answer.status, answer.size, answer.user),
            (Status::OK, 5000, ME.into())
        );
        assert_eq!(body, &data[1234..]);
        assert!(stream.write_closed());
    }
}

#[test]
fn an_upload_refuses_and_closes() {
    let stream = MemoryStream::new().stuttering();
    stream.send(&get("nope", 0));
    let mut up = Upload::new(stream.clone(), peer_addr(), ME, Instant::now());
    let mut taken = Vec::new();
    assert_eq!(drive(&mut up, &mut taken, &stream), UpStep::Decide);
    up.refuse(Status::NO_FILE, "not published");
    let closed = drive(&mut up, &mut taken, &stream);
    assert_eq!(closed, UpStep::Closed("refused: 406 not published".into()));
    let (answer, rest) = answer_of(&taken);
    assert_eq!((answer.status, rest.len()), (Status::NO_FILE, 0));
    assert!(stream.write_closed());
}

#[test]
fn an_upload_answers_a_malformed_request_and_ends_at_an_early_close() {
    // Not a Get: refused with the parser's status.
    let stream = MemoryStream::new().chunked(1);
    stream.send(&[0, 0, 0, 3, 0xee, 1, 2]);
    let mut up = Upload::new(stream.clone(), peer_addr(), ME, Instant::now());
    let mut taken = Vec::new();
    assert!(matches!(
        drive(&mut up, &mut taken, &stream),
        UpStep::Closed(_)
    ));
    assert_ne!(answer_of(&taken).0.status, Status::OK);

    // The peer closes in the middle of its request.
    let stream = MemoryStream::new().stuttering();
    let request = get("f", 0);
    stream.send(&request[..request.len() - 1]);
    stream.close();
    let mut up = Upload::new(stream.clone(), peer_addr(), ME, Instant::now());
    let closed = drive(&mut up, &mut Vec::new(), &stream);
    assert_eq!(closed, UpStep::Closed("closed before the handshake".into()));
}

#[test]
fn an_upload_ends_when_the_peer_goes_mid_file_or_the_file_changes() {
    let dir = TempDir::new("upload-gone");
    let data = pattern(50_000);
    let stream = MemoryStream::new().window(10_000);
    stream.send(&get("f", 0));
    let mut up = Upload::new(stream.clone(), peer_addr(), ME, Instant::now());
    let mut taken = Vec::new();
    assert_eq!(drive(&mut up, &mut taken, &stream), UpStep::Decide);
    let (file, stamp) = published(&dir, &data);
    up.serve(file, None, stamp, 50_000, [7; 32]);
    let config = UploadConfig {
        slice: 1000,
        rate: 0,
    };
    let mut scratch = [0u8; 64];
    while up.turn(&mut scratch, &config, Instant::now()) == UpStep::Again {}
    assert!(up.row(Instant::now()).is_some_and(|row| row.bytes > 0));
    stream.hang_up();
    let gone = up.turn(&mut scratch, &config, Instant::now());
    assert!(matches!(gone, UpStep::Closed(why) if why.starts_with("the peer went away")));

    // A file that grows while it is served is not served under the old hash.
    let stream = MemoryStream::new();
    stream.send(&get("f", 0));
    let mut up = Upload::new(stream.clone(), peer_addr(), ME, Instant::now());
    assert_eq!(drive(&mut up, &mut Vec::new(), &stream), UpStep::Decide);
    let (file, stamp) = published(&dir, &data);
    up.serve(file, None, stamp, 50_000, [7; 32]);
    std::fs::write(dir.join("f"), pattern(60_000)).unwrap();
    assert_eq!(drive(&mut up, &mut Vec::new(), &stream), UpStep::Changed);
}

#[test]
fn an_upload_sends_over_a_socket_pair_with_sendfile() {
    use std::io::Read;
    use std::os::unix::net::UnixStream;
    let dir = TempDir::new("upload-pair");
    let data = pattern(300_000);
    let (ours, mut theirs) = UnixStream::pair().unwrap();
    ours.set_nonblocking(true).unwrap();
    std::io::Write::write_all(&mut theirs, &get("f", 10)).unwrap();
    let mut up = Upload::new(ours, peer_addr(), ME, Instant::now());
    let config = UploadConfig {
        slice: 64 * 1024,
        rate: 0,
    };
    let mut scratch = [0u8; 64];
    assert_eq!(
        up.turn(&mut scratch, &config, Instant::now()),
        UpStep::Decide
    );
    let (file, stamp) = published(&dir, &data);
    up.serve(file, None, stamp, 300_000, [7; 32]);
    let reader = std::thread::spawn(move || {
        let mut got = Vec::new();
        theirs.read_to_end(&mut got).unwrap();
        got
    });
    let mut blocked = 0u32;
    let served = loop {
        match up.turn(&mut scratch, &config, Instant::now()) {
            UpStep::Again => {}
            UpStep::Wait => {
                // The reader drains the pair on its own: wait for room with a deadline.
                use std::os::fd::AsFd;
                let room = crate::sys::poll_fd(
                    up.stream_mut().as_fd(),
                    libc::POLLOUT,
                    Duration::from_secs(5),
                );
                assert!(room.is_ok());
                blocked += 1;
                assert!(blocked < 10_000);
            }
            other => break other,
        }
    };
    assert_eq!(
        served,
        UpStep::Served {
            bytes: 300_000 - 10
        }
    );
    drop(up);
    let got = reader.join().unwrap();
    let (answer, body) = answer_of(&got);
    assert_eq!(answer.status, Status::OK);
    assert_eq!(body, &data[10..]);
}
