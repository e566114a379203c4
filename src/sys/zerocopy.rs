//! Bytes moved without a copy through user space: `sendfile(2)` from a file to a
//! socket, `splice(2)` from a socket through a [`Pipe`] into a file, and a
//! read-only [`MappedRange`] (`mmap`) of a file's pages.

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// The most `sendfile` moves in one call on Linux; larger counts are clamped to it.
const SENDFILE_MAX: usize = 0x7fff_f000;

/// Sends up to `count` bytes of `file`, starting at `*offset`, to `out` with `sendfile(2)`.
///
/// Advances `*offset` by the bytes sent and returns that number; `Ok(0)` means
/// `*offset` is at or past the end of the file. A non-blocking `out` that is
/// full yields an error of kind `WouldBlock`. `EINTR` is retried. The file's
/// own position is not used or changed. `count` is clamped to Linux's per-call maximum.
pub fn sendfile(
    out: &impl AsRawFd,
    file: &File,
    offset: &mut u64,
    count: usize,
) -> io::Result<usize> {
    let mut off = libc::off64_t::try_from(*offset)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "sendfile offset too large"))?;
    let count = count.min(SENDFILE_MAX);
    loop {
        // SAFETY: both descriptors are borrowed, so they stay open for the call;
        // `off` is a valid off64_t the kernel reads and updates.
        let n = unsafe { libc::sendfile64(out.as_raw_fd(), file.as_raw_fd(), &mut off, count) };
        if n >= 0 {
            *offset = u64::try_from(off).unwrap_or(*offset);
            return Ok(usize::try_from(n).unwrap_or(0));
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

/// The most one pipe of a [`Pipe`] asks to hold (Linux's default `pipe-max-size`).
const PIPE_WANTED: libc::c_int = 1024 * 1024;

/// A non-blocking pipe to `splice(2)` socket bytes through into a file without
/// copying them into user space.
pub struct Pipe {
    pub(super) read: File,
    write: OwnedFd,
    capacity: usize,
}

impl Pipe {
    /// A new pipe, enlarged to 1 MiB when the system allows it (an unprivileged
    /// user's pipes share a quota; past it the pipe keeps the default 64 KiB).
    pub fn new() -> io::Result<Pipe> {
        let mut fds = [0 as libc::c_int; 2];
        // SAFETY: `fds` has room for the two descriptors pipe2 writes.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: pipe2 succeeded, so both are fresh descriptors owned by nobody else.
        let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        let read = File::from(read);
        // SAFETY: F_SETPIPE_SZ / F_GETPIPE_SZ on a pipe we own; failure is harmless.
        let capacity = unsafe {
            libc::fcntl(write.as_raw_fd(), libc::F_SETPIPE_SZ, PIPE_WANTED);
            libc::fcntl(write.as_raw_fd(), libc::F_GETPIPE_SZ)
        };
        Ok(Pipe {
            read,
            write,
            capacity: usize::try_from(capacity).unwrap_or(0).max(4096),
        })
    }

    /// How many bytes the pipe holds at most.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Moves up to `count` bytes waiting on `socket` into the pipe. `Ok(0)` means
    /// the peer closed the socket; nothing waiting yields kind `WouldBlock`.
    pub fn fill_from(&self, socket: &impl AsRawFd, count: usize) -> io::Result<usize> {
        splice(socket.as_raw_fd(), self.write.as_raw_fd(), None, count)
    }

    /// Moves up to `count` bytes out of the pipe into `file` at `*offset` (the
    /// file's own position is unused) and advances `*offset`.
    pub fn drain_into(&self, file: &File, offset: &mut u64, count: usize) -> io::Result<usize> {
        splice(self.read.as_raw_fd(), file.as_raw_fd(), Some(offset), count)
    }

    /// Reads bytes out of the pipe into `buf` (for a file that refuses splice).
    pub fn read_out(&self, buf: &mut [u8]) -> io::Result<usize> {
        io::Read::read(&mut &self.read, buf)
    }
}

/// `splice(2)` from `from` to `to`, one of them a pipe, writing at `*to_offset` (advanced)
/// when `to` is a file. Non-blocking; `EINTR` is retried.
fn splice(
    from: libc::c_int,
    to: libc::c_int,
    to_offset: Option<&mut u64>,
    count: usize,
) -> io::Result<usize> {
    let flags = libc::SPLICE_F_MOVE | libc::SPLICE_F_NONBLOCK;
    let mut off =
        match &to_offset {
            Some(o) => Some(libc::loff_t::try_from(**o).map_err(|_| {
                io::Error::new(io::ErrorKind::InvalidInput, "splice offset too large")
            })?),
            None => None,
        };
    let count = count.min(SENDFILE_MAX);
    loop {
        let off_ptr = off
            .as_mut()
            .map_or(std::ptr::null_mut(), |o| o as *mut libc::loff_t);
        // SAFETY: the descriptors are open for the call (owned or borrowed by the
        // callers); the output offset pointer is null or points at `off`, a live
        // loff_t that the kernel reads and updates.
        let n = unsafe { libc::splice(from, std::ptr::null_mut(), to, off_ptr, count, flags) };
        if n >= 0 {
            if let (Some(slot), Some(v)) = (to_offset, off) {
                *slot = u64::try_from(v).unwrap_or(*slot);
            }
            return Ok(usize::try_from(n).unwrap_or(0));
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

/// A read-only shared mapping of a byte range of a file, unmapped on drop: a
/// way to read bytes that are already in the page cache without copying them.
///
/// The range must lie within the file and the file must not shrink while the
/// mapping is read: the kernel answers a read of a page past the end of the
/// file with `SIGBUS`. Map only bytes this process itself wrote to a file it
/// owns (a partial download), and drop the mapping right after reading it.
pub struct MappedRange {
    base: *mut libc::c_void,
    map_len: usize,
    skip: usize,
    len: usize,
}

impl MappedRange {
    /// Maps `len` bytes of `file` (opened for reading) from `offset`, which
    /// must be within the file's current size (checked).
    pub fn new(file: &File, offset: u64, len: usize) -> io::Result<MappedRange> {
        let end = offset.saturating_add(len as u64);
        if end > file.metadata()?.len() {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "mapping past the end of the file",
            ));
        }
        // SAFETY: sysconf has no preconditions.
        let page = u64::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096);
        let start = offset - offset % page;
        let skip = usize::try_from(offset - start).unwrap_or(0);
        let map_len = skip + len;
        if len == 0 {
            return Ok(MappedRange {
                base: std::ptr::null_mut(),
                map_len: 0,
                skip: 0,
                len: 0,
            });
        }
        let at = libc::off64_t::try_from(start)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "mapping offset too large"))?;
        // SAFETY: a fresh read-only shared mapping chosen by the kernel (null hint)
        // of a descriptor borrowed for the call; nothing else is touched.
        let base = unsafe {
            libc::mmap64(
                std::ptr::null_mut(),
                map_len,
                libc::PROT_READ,
                libc::MAP_SHARED | libc::MAP_POPULATE,
                file.as_raw_fd(),
                at,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(MappedRange {
            base,
            map_len,
            skip,
            len,
        })
    }

    /// The mapped bytes.
    pub fn bytes(&self) -> &[u8] {
        if self.len == 0 {
            return &[];
        }
        // SAFETY: `base` maps `map_len = skip + len` readable bytes that stay mapped
        // until drop, which the returned borrow cannot outlive; the range was within
        // the file when mapped (see the type's note on files that shrink).
        unsafe { std::slice::from_raw_parts(self.base.cast::<u8>().add(self.skip), self.len) }
    }
}

impl Drop for MappedRange {
    fn drop(&mut self) {
        if self.map_len > 0 {
            // SAFETY: `base`/`map_len` are exactly the mapping made in `new`, unmapped once.
            unsafe { libc::munmap(self.base, self.map_len) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::TempDir;
    use super::*;
    use std::io::Read;

    #[test]
    fn sendfile_over_tcp() {
        let t = TempDir::new("sendfile");
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let path = t.0.join("data");
        std::fs::write(&path, &data).unwrap();
        let file = File::open(&path).unwrap();

        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let reader = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut got = Vec::new();
            s.read_to_end(&mut got).unwrap();
            got
        });
        let out = std::net::TcpStream::connect(addr).unwrap();
        let mut offset = 1000u64;
        while (offset as usize) < data.len() {
            let before = offset;
            let n = sendfile(&out, &file, &mut offset, 65536).unwrap();
            assert!(n > 0);
            assert_eq!(offset, before + n as u64);
        }
        assert_eq!(sendfile(&out, &file, &mut offset, 10).unwrap(), 0);
        drop(out);
        assert_eq!(reader.join().unwrap(), &data[1000..]);
    }

    #[test]
    fn sendfile_nonblocking_unix_would_block() {
        let t = TempDir::new("sendfile-nb");
        let data = vec![7u8; 4 << 20];
        let path = t.0.join("data");
        std::fs::write(&path, &data).unwrap();
        let file = File::open(&path).unwrap();
        let (a, mut b) = std::os::unix::net::UnixStream::pair().unwrap();
        a.set_nonblocking(true).unwrap();
        let mut offset = 0u64;
        let err = loop {
            match sendfile(&a, &file, &mut offset, data.len()) {
                Ok(n) => assert!(n > 0),
                Err(e) => break e,
            }
        };
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
        assert!(offset > 0 && (offset as usize) < data.len());
        let mut got = vec![0u8; offset as usize];
        b.read_exact(&mut got).unwrap();
        assert!(got.iter().all(|&x| x == 7));
    }
}
