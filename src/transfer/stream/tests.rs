//! The stream halves' tests: a sink takes what is expected and hashes it, over a real
//! socket (spliced or read) and over an in-memory stream that hands bytes over one at
//! a time, blocks on every other call or closes early; a source streams a range by
//! `sendfile` or through its copy buffer.

use super::*;
use std::fs::File;
use std::io::{Read, Write};

#[test]
fn sink_takes_only_what_is_expected_and_hashes_it() {
    let dir = std::env::temp_dir().join(format!("peerhub-sink-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("f");
    let mut sink = Sink::new(File::create(&path).unwrap(), 5);
    assert_eq!(sink.write(b"abc").unwrap(), 3);
    assert_eq!(sink.write(b"defgh").unwrap(), 2);
    assert_eq!(sink.left(), 0);
    assert_eq!(sink.write(b"x").unwrap(), 0);
    assert_eq!(&sink.finish(), blake3::hash(b"abcde").as_bytes());
    assert_eq!(std::fs::read(&path).unwrap(), b"abcde");

    // A source streams a range over a socket pair.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (mut server, _) = listener.accept().unwrap();
    let mut src = Source::new(File::open(&path).unwrap(), 1, 4);
    assert_eq!(src.send(&mut server, 2).unwrap(), Sent::Moved(2));
    assert_eq!(src.send(&mut server, 100).unwrap(), Sent::Moved(1));
    assert!(src.done());
    drop(server);
    let mut got = Vec::new();
    client.read_to_end(&mut got).unwrap();
    assert_eq!(got, b"bcd");
    let mut past = Source::new(File::open(&path).unwrap(), 0, 10);
    let (mut a, _) = (
        std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap(),
        0,
    );
    assert_eq!(past.send(&mut a, 100).unwrap(), Sent::Short(5));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Bytes that do not repeat for a long while.
fn pattern(len: usize) -> Vec<u8> {
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

/// A connected pair: the writing end (blocking) and the reading end (non-blocking).
fn socket_pair() -> (std::net::TcpStream, std::net::TcpStream) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let writer = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (reader, _) = listener.accept().unwrap();
    reader.set_nonblocking(true).unwrap();
    (writer, reader)
}

/// Wait until `socket` is readable (or 5 s pass).
fn wait_readable(socket: &std::net::TcpStream) {
    use std::os::fd::AsFd;
    let five_s = std::time::Duration::from_secs(5);
    let waited = crate::sys::poll_fd(socket.as_fd(), libc::POLLIN, five_s);
    waited.expect("poll");
}

/// Fill `sink` from `socket` in turns of `budget` until nothing more is expected or
/// the peer closes; every turn but the last must stop at its budget or a block.
fn fill(sink: &mut Sink, socket: &mut std::net::TcpStream, budget: usize) -> Filled {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let before = sink.left();
        match sink.fill_from(socket, &mut buf, budget).unwrap() {
            Filled::Moved(n) => {
                assert_eq!(before - sink.left(), n as u64);
                assert!(n >= budget || sink.left() == 0, "short turn of {n}");
                if sink.left() == 0 {
                    return Filled::Moved(n);
                }
            }
            Filled::Blocked(_) => wait_readable(socket),
            closed @ Filled::Closed(_) => return closed,
        }
    }
}

fn scratch(tag: &str) -> (std::path::PathBuf, File) {
    let dir = std::env::temp_dir().join(format!("peerhub-fill-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(dir.join("part"))
        .unwrap();
    (dir, file)
}

#[test]
fn sink_fills_from_a_socket_and_resumes_a_partial_file() {
    // More than a pipe holds and than a hash batch, with an unaligned tail, plus
    // bytes past the expected size that must stay in the socket.
    let data = pattern(5 * 1024 * 1024 + 123);
    let (dir, file) = scratch("splice");
    let (mut writer, mut reader) = socket_pair();
    let sent = data.clone();
    let feeder = std::thread::spawn(move || {
        writer.write_all(&sent).unwrap();
        writer.write_all(b"more than expected").unwrap();
        writer
    });
    let prefix = 1_000_001;
    let mut sink = Sink::new(file.try_clone().unwrap(), prefix as u64);
    assert!(matches!(
        fill(&mut sink, &mut reader, 300_000),
        Filled::Moved(_)
    ));
    assert!(sink.splice, "the bytes went through a pipe, not a buffer");
    let head = sink.finish();
    assert_eq!(&head, blake3::hash(&data[..prefix]).as_bytes());

    // Resume the partial file where it ends, with the prefix's hash state.
    let mut hasher = blake3::Hasher::new();
    hasher.update(&data[..prefix]);
    let rest = (data.len() - prefix) as u64;
    let mut sink = Sink::resume(file, hasher, prefix as u64, rest);
    assert!(matches!(
        fill(&mut sink, &mut reader, 4 << 20),
        Filled::Moved(_)
    ));
    assert_eq!(&sink.finish(), blake3::hash(&data).as_bytes());
    assert_eq!(std::fs::read(dir.join("part")).unwrap(), data);
    let _writer = feeder.join().unwrap();
    let mut extra = [0u8; 64];
    wait_readable(&reader);
    let n = reader.read(&mut extra).unwrap();
    assert_eq!(&extra[..n], &b"more than expected"[..n]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn sink_without_splice_reads_and_writes_the_same_bytes() {
    let data = pattern(300_000);
    let (dir, file) = scratch("read");
    let (mut writer, mut reader) = socket_pair();
    writer.write_all(&data).unwrap();
    let mut sink = Sink::new(file, data.len() as u64);
    sink.splice = false;
    assert!(matches!(
        fill(&mut sink, &mut reader, 70_000),
        Filled::Moved(_)
    ));
    assert_eq!(&sink.finish(), blake3::hash(&data).as_bytes());
    assert_eq!(std::fs::read(dir.join("part")).unwrap(), data);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn sink_reports_a_peer_that_closes_early() {
    let (dir, file) = scratch("closed");
    let (mut writer, mut reader) = socket_pair();
    writer.write_all(b"0123456789").unwrap();
    drop(writer);
    let mut sink = Sink::new(file, 20);
    assert!(matches!(
        fill(&mut sink, &mut reader, 1 << 20),
        Filled::Closed(_)
    ));
    assert_eq!(sink.left(), 10);
    assert_eq!(std::fs::read(dir.join("part")).unwrap(), b"0123456789");
    std::fs::remove_dir_all(&dir).unwrap();
}
