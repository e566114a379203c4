//! The two halves every transfer is made of, shared by the peer-to-peer transfers and
//! the store (client and hub): a [`Source`] that streams a byte range of an open file
//! to a socket with `sendfile` in bounded slices, and a [`Sink`] that writes received
//! bytes into an open file while hashing them with BLAKE3.

use crate::proto::message::Hash;
use crate::sys;
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::AsRawFd;

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

/// A file being written from received bytes, hashed as they come.
pub struct Sink {
    file: File,
    hasher: blake3::Hasher,
    left: u64,
}

impl Sink {
    /// Expect `size` more bytes for `file` (positioned where they go).
    pub fn new(file: File, size: u64) -> Sink {
        Sink::resume(file, blake3::Hasher::new(), size)
    }

    /// Continue a file whose first bytes were already hashed into `hasher`.
    pub fn resume(file: File, hasher: blake3::Hasher, left: u64) -> Sink {
        Sink { file, hasher, left }
    }

    /// Bytes still expected.
    pub fn left(&self) -> u64 {
        self.left
    }

    /// Write and hash the part of `data` that is still expected; returns how much that was.
    pub fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let take = usize::try_from(self.left)
            .unwrap_or(usize::MAX)
            .min(data.len());
        let part = data.get(..take).unwrap_or_default();
        self.file.write_all(part)?;
        self.hasher.update(part);
        self.left -= take as u64;
        Ok(take)
    }

    /// The hash of everything written (the file is closed).
    pub fn finish(self) -> Hash {
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
    use std::io::Read;

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
}
