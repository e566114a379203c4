//! The two halves every transfer is made of, shared by the peer-to-peer transfers and
//! the store (client and hub): a [`Source`] that streams a byte range of an open file
//! to a socket with `sendfile` in bounded slices, and a [`Sink`] that writes received
//! bytes into an open file while hashing them with BLAKE3.

use super::writeback::WriteBehind;
use crate::proto::message::Hash;
use crate::sys::{self, Pipe};
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;

/// A byte range of a file on its way to a socket.
pub struct Source {
    file: File,
    offset: u64,
    end: u64,
}

/// What one [`Source::send`] call did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    /// This many bytes went out and the budget is spent (or the range is done).
    Moved(usize),
    /// This many bytes went out, then the socket was full.
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

    /// Send up to `budget` bytes to `out` (a non-blocking socket).
    pub fn send(&mut self, out: &impl AsRawFd, budget: usize) -> io::Result<Sent> {
        let mut moved = 0;
        while moved < budget && self.offset < self.end {
            let want = usize::try_from(self.end - self.offset)
                .unwrap_or(usize::MAX)
                .min(budget - moved);
            match sys::sendfile(out, &self.file, &mut self.offset, want) {
                Ok(0) => return Ok(Sent::Short(moved)),
                Ok(n) => moved += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Sent::Blocked(moved)),
                Err(e) => return Err(e),
            }
        }
        Ok(Sent::Moved(moved))
    }
}

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
/// the hash's read). A file or socket that refuses `splice` falls back to
/// reading into a buffer and writing it, and so does a process out of descriptors.
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
    splice: bool,
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
    /// file. `buf` is scratch space for when `splice` cannot be used.
    pub fn fill_from(
        &mut self,
        socket: &mut (impl Read + AsRawFd),
        buf: &mut [u8],
        budget: usize,
    ) -> Result<Filled, FillError> {
        let mut moved = 0;
        while moved < budget && self.left > 0 {
            let want = usize::try_from(self.left)
                .unwrap_or(usize::MAX)
                .min(budget - moved);
            let step = if self.splice {
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
        socket: &mut (impl Read + AsRawFd),
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
        let n = match pipe.fill_from(socket, want.min(pipe.capacity())) {
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

    /// One `read` of up to `want` bytes into `buf`, then written and hashed.
    fn read_from(
        &mut self,
        socket: &mut (impl Read + AsRawFd),
        buf: &mut [u8],
        want: usize,
    ) -> Result<usize, FillError> {
        let room = buf.len().min(want);
        let Some(chunk) = buf.get_mut(..room) else {
            return Err(FillError::File(io::Error::other("no receive buffer")));
        };
        let n = socket.read(chunk).map_err(FillError::Socket)?;
        self.write(chunk.get(..n).unwrap_or_default())
            .map_err(FillError::File)
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

#[cfg(test)]
mod tests {
    use super::*;
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
        let (server, _) = listener.accept().unwrap();
        let mut src = Source::new(File::open(&path).unwrap(), 1, 4);
        assert_eq!(src.send(&server, 2).unwrap(), Sent::Moved(2));
        assert_eq!(src.send(&server, 100).unwrap(), Sent::Moved(1));
        assert!(src.done());
        drop(server);
        let mut got = Vec::new();
        client.read_to_end(&mut got).unwrap();
        assert_eq!(got, b"bcd");
        let mut past = Source::new(File::open(&path).unwrap(), 0, 10);
        let (a, _) = (
            std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap(),
            0,
        );
        assert_eq!(past.send(&a, 100).unwrap(), Sent::Short(5));
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
}
