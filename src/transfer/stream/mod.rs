//! The halves every transfer is made of, shared by the peer-to-peer transfers and the
//! store (client and hub), and the [`Stream`] they run over: a [`Source`] that streams
//! a byte range of an open file out in bounded slices (`sendfile` on a plain socket),
//! and a [`Sink`] that writes received bytes into an open file while hashing them with
//! BLAKE3 (`splice` from a plain socket). Over any other stream — TLS, a test double —
//! both copy through a buffer instead.

#[cfg(test)]
pub mod memory;
mod proof;
mod sink;
mod source;
#[cfg(test)]
mod tests;

pub use proof::ProofSource;
pub use sink::{write_status, FillError, Filled, Sink};
pub use source::{Sent, Source};

use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::os::fd::{AsFd, BorrowedFd};

/// A connection the byte movers run over: a socket, a TLS stream, an in-memory test
/// stream. Non-blocking: a read or write that cannot proceed yields `WouldBlock`.
pub trait Stream: Read + Write {
    /// The socket `sendfile` and `splice` may move bytes through, for a stream whose
    /// bytes reach the peer exactly as written. `None` (the default: a TLS stream, a
    /// test stream) makes the movers read and write through a buffer instead.
    fn zero_copy_fd(&self) -> Option<BorrowedFd<'_>> {
        None
    }

    /// Whether a connection begun without blocking is established: `Ok(false)` while
    /// it is under way, the error if it failed. A stream handed over connected (the
    /// default) always is.
    fn established(&self) -> io::Result<bool> {
        Ok(true)
    }

    /// Drive a handshake the stream makes itself (TLS) as far as it goes: `Ok(true)`
    /// once it is over. Bytes written before that wait inside the stream, so a mover
    /// that writes and closes at once (a refusal) waits for it first. A stream without
    /// one (the default) is always done.
    fn handshake(&mut self) -> io::Result<bool> {
        Ok(true)
    }

    /// Say that nothing more will be sent (a TCP FIN; a TLS stream's close notice),
    /// best effort: the stream is dropped soon after.
    fn close_write(&mut self) -> io::Result<()>;
}

impl Stream for mio::net::TcpStream {
    fn zero_copy_fd(&self) -> Option<BorrowedFd<'_>> {
        Some(self.as_fd())
    }

    fn close_write(&mut self) -> io::Result<()> {
        self.shutdown(Shutdown::Write)
    }

    fn established(&self) -> io::Result<bool> {
        if let Some(e) = self.take_error()? {
            return Err(e);
        }
        match self.peer_addr() {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(false),
            Err(e) => Err(e),
        }
    }
}

impl Stream for std::net::TcpStream {
    fn zero_copy_fd(&self) -> Option<BorrowedFd<'_>> {
        Some(self.as_fd())
    }

    fn close_write(&mut self) -> io::Result<()> {
        self.shutdown(Shutdown::Write)
    }
}

impl Stream for std::os::unix::net::UnixStream {
    fn zero_copy_fd(&self) -> Option<BorrowedFd<'_>> {
        Some(self.as_fd())
    }

    fn close_write(&mut self) -> io::Result<()> {
        self.shutdown(Shutdown::Write)
    }
}

/// Write `bytes` from `*written` on, advancing it: `Ok(true)` once all are written
/// and out of the stream's own buffers (see [`flushed`]), `Ok(false)` when the stream
/// is full. A stream that takes nothing is an error (`WriteZero`); `EINTR` is retried.
pub fn write_out(stream: &mut impl Write, bytes: &[u8], written: &mut usize) -> io::Result<bool> {
    while let Some(rest) = bytes.get(*written..).filter(|rest| !rest.is_empty()) {
        match stream.write(rest) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => *written += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    flushed(stream)
}

/// Ask a stream to write out what it holds itself (a TLS stream's encrypted records; a
/// socket holds nothing): `Ok(false)` while some must wait for WRITABLE. A mover
/// calls it before it says its bytes are sent, so none is lost when the stream is
/// dropped.
pub fn flushed(stream: &mut impl Write) -> io::Result<bool> {
    loop {
        match stream.flush() {
            Ok(()) => return Ok(true),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// One read, `EINTR` retried: `Ok(None)` when nothing is there yet (`WouldBlock`),
/// `Ok(Some(0))` at the end of the stream.
pub fn read_some(stream: &mut impl Read, buf: &mut [u8]) -> io::Result<Option<usize>> {
    loop {
        match stream.read(buf) {
            Ok(n) => return Ok(Some(n)),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// A TLS stream runs the movers through a buffer (its bytes are not the peer's bytes);
/// closing its sending side sends a close notice, then the transport's FIN once the
/// notice is out.
impl<S: Stream> Stream for crate::net::tls::TlsStream<S> {
    fn established(&self) -> io::Result<bool> {
        self.get_ref().established()
    }

    fn handshake(&mut self) -> io::Result<bool> {
        crate::net::tls::TlsStream::handshake(self)
    }

    fn close_write(&mut self) -> io::Result<()> {
        if self.close_notify()? {
            self.get_mut().close_write()?;
        }
        Ok(())
    }
}

/// A connection's wire: a plain one is its socket (zero-copy), a TLS one its stream.
impl<S: Stream> Stream for crate::net::wire::Wire<S> {
    fn zero_copy_fd(&self) -> Option<BorrowedFd<'_>> {
        match self {
            crate::net::wire::Wire::Plain(s) => s.zero_copy_fd(),
            crate::net::wire::Wire::Tls(_) => None,
        }
    }

    fn established(&self) -> io::Result<bool> {
        self.socket().established()
    }

    fn handshake(&mut self) -> io::Result<bool> {
        match self {
            crate::net::wire::Wire::Plain(_) => Ok(true),
            crate::net::wire::Wire::Tls(tls) => Stream::handshake(tls.as_mut()),
        }
    }

    fn close_write(&mut self) -> io::Result<()> {
        match self {
            crate::net::wire::Wire::Plain(s) => s.close_write(),
            crate::net::wire::Wire::Tls(tls) => tls.close_write(),
        }
    }
}
