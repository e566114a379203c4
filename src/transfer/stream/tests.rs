//! The stream halves' tests: a sink takes what is expected and hashes it, over a real
//! socket (spliced or read) and over an in-memory stream that hands bytes over one at
//! a time, blocks on every other call or closes early; a source streams a range by
//! `sendfile` or through its copy buffer.

use super::memory::{pattern, MemoryStream};
use super::*;
use crate::testing::TempDir;
use std::fs::File;
use std::io::{Read, Write};

#[test]
fn sink_takes_only_what_is_expected_and_hashes_it() {
    let dir = TempDir::new("sink");
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

fn scratch(tag: &str) -> (TempDir, File) {
    let dir = TempDir::new(tag);
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
}

/// Fill `sink` from a memory stream in turns of `budget` until nothing more is
/// expected or the peer closed; a stream that blocks is simply asked again (its
/// other end is this test). Bounded: a sink that stops making progress fails.
fn fill_memory(sink: &mut Sink, stream: &mut MemoryStream, budget: usize) -> Filled {
    let mut buf = [0u8; 7];
    for _ in 0..100_000 {
        match sink.fill_from(stream, &mut buf, budget).unwrap() {
            Filled::Moved(_) if sink.left() > 0 => {}
            Filled::Blocked(_) => {}
            end => return end,
        }
    }
    panic!("the sink made no progress");
}

#[test]
fn sink_over_a_memory_stream_byte_by_byte_and_stuttering() {
    let data = pattern(10_000);
    for stream in [
        MemoryStream::new().chunked(1),
        MemoryStream::new().stuttering(),
        MemoryStream::new().chunked(3).stuttering(),
    ] {
        let (dir, file) = scratch("memory");
        let mut stream = stream;
        stream.send(&data);
        stream.send(b"not ours");
        let mut sink = Sink::new(file, data.len() as u64);
        assert!(matches!(
            fill_memory(&mut sink, &mut stream, 1000),
            Filled::Moved(_)
        ));
        assert_eq!(&sink.finish(), blake3::hash(&data).as_bytes());
        assert_eq!(std::fs::read(dir.join("part")).unwrap(), data);
        assert_eq!(stream.unread(), 8, "nothing past the file is read");
    }
}

#[test]
fn sink_over_a_memory_stream_reports_an_early_close() {
    let (dir, file) = scratch("memory-closed");
    let mut stream = MemoryStream::new().chunked(4).stuttering();
    stream.send(b"0123456789");
    stream.close();
    let mut sink = Sink::new(file, 20);
    assert!(matches!(
        fill_memory(&mut sink, &mut stream, 1 << 20),
        Filled::Closed(_)
    ));
    assert_eq!(sink.left(), 10);
    assert_eq!(std::fs::read(dir.join("part")).unwrap(), b"0123456789");
}

#[test]
fn sink_reads_while_the_stream_has_bytes_and_writes_them_at_once() {
    let data = pattern(10_000);
    let (dir, file) = scratch("memory-reads");
    let mut stream = MemoryStream::new().chunked(1000);
    stream.send(&data);
    let mut sink = Sink::new(file, 20_000);
    let mut buf = vec![0u8; 64 * 1024];
    // Ten reads in one go, until the stream has no more.
    assert_eq!(
        sink.fill_from(&mut stream, &mut buf, 1 << 20).unwrap(),
        Filled::Blocked(10_000)
    );
    assert_eq!(std::fs::read(dir.join("part")).unwrap(), data);
    // The buffer bounds one piece, the budget a call.
    stream.send(&data);
    let mut small = [0u8; 3000];
    assert_eq!(
        sink.fill_from(&mut stream, &mut small, 7000).unwrap(),
        Filled::Moved(7000)
    );
    assert_eq!(sink.left(), 3000);
}

/// A stream that hands over `chunks` one read at a time, then fails.
struct FailsAfter {
    chunks: Vec<Vec<u8>>,
}

impl Read for FailsAfter {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.chunks.is_empty() {
            return Err(io::ErrorKind::ConnectionReset.into());
        }
        let chunk = self.chunks.remove(0);
        buf[..chunk.len()].copy_from_slice(&chunk);
        Ok(chunk.len())
    }
}

impl Write for FailsAfter {
    fn write(&mut self, _: &[u8]) -> io::Result<usize> {
        Err(io::ErrorKind::BrokenPipe.into())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Stream for FailsAfter {
    fn close_write(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn sink_keeps_the_bytes_read_before_a_stream_failure() {
    let (dir, file) = scratch("memory-reset");
    let mut stream = FailsAfter {
        chunks: vec![b"01234".to_vec(), b"56789".to_vec()],
    };
    let mut sink = Sink::new(file, 20);
    let mut buf = [0u8; 64];
    match sink.fill_from(&mut stream, &mut buf, 1 << 20) {
        Err(FillError::Socket(e)) => assert_eq!(e.kind(), io::ErrorKind::ConnectionReset),
        other => panic!("not the stream's failure: {other:?}"),
    }
    assert_eq!(sink.left(), 10);
    assert_eq!(std::fs::read(dir.join("part")).unwrap(), b"0123456789");
}

/// Send all of `source` to `stream`, the peer taking what was written whenever the
/// source is blocked; bounded.
fn send_memory(source: &mut Source, stream: &mut MemoryStream, budget: usize) -> (Sent, Vec<u8>) {
    let mut got = Vec::new();
    for _ in 0..100_000 {
        let sent = source.send(stream, budget).unwrap();
        got.extend(stream.take_written());
        match sent {
            Sent::Moved(_) if !source.done() => {}
            Sent::Blocked(_) => {}
            end => return (end, got),
        }
    }
    panic!("the source made no progress");
}

#[test]
fn source_copies_to_a_stream_without_sendfile() {
    let dir = TempDir::new("source-copy");
    let data = pattern(200_000);
    std::fs::write(dir.join("f"), &data).unwrap();
    for stream in [
        MemoryStream::new().chunked(1000),
        MemoryStream::new().stuttering(),
        MemoryStream::new().window(777),
    ] {
        let mut stream = stream;
        let mut source = Source::new(File::open(dir.join("f")).unwrap(), 5, 150_000);
        let (end, got) = send_memory(&mut source, &mut stream, 10_000);
        assert!(matches!(end, Sent::Moved(_)));
        assert_eq!(got, &data[5..150_000]);
    }
    // A full window blocks before anything goes; a file shorter than the range ends short.
    let mut full = MemoryStream::new().window(3);
    let mut source = Source::new(File::open(dir.join("f")).unwrap(), 0, 10);
    assert_eq!(source.send(&mut full, 10).unwrap(), Sent::Blocked(3));
    assert_eq!(source.send(&mut full, 10).unwrap(), Sent::Blocked(0));
    let mut past = Source::new(File::open(dir.join("f")).unwrap(), 199_990, 200_100);
    let (end, got) = send_memory(&mut past, &mut MemoryStream::new(), 1 << 20);
    assert_eq!((end, got.len()), (Sent::Short(10), 10));
    // A peer gone is an error.
    let gone = MemoryStream::new();
    gone.hang_up();
    let mut source = Source::new(File::open(dir.join("f")).unwrap(), 0, 10);
    let err = source.send(&mut gone.clone(), 10).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
}
