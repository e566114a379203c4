//! `Wire`: what a connection's bytes travel over — TLS 1.3 over a socket (the
//! default), or the bare socket under `--insecure-plaintext` — as one non-blocking
//! `Read + Write` that registers with mio as its socket does.

use super::tls::TlsStream;
use crate::trust::Fingerprint;
use mio::event::Source;
use mio::{Interest, Registry, Token};
use std::io::{self, IoSlice, Read, Write};

/// A connection's transport.
#[derive(Debug)]
pub enum Wire<S> {
    /// The socket itself: every byte in the clear (`--insecure-plaintext`).
    Plain(S),
    /// TLS over the socket (boxed: a TLS connection's state is large, a slot is not).
    Tls(Box<TlsStream<S>>),
}

impl<S: Read + Write> Wire<S> {
    /// TLS over `inner`.
    pub fn tls(stream: TlsStream<S>) -> Wire<S> {
        Wire::Tls(Box::new(stream))
    }

    /// The TLS stream, unless the wire is plain.
    pub fn as_tls(&self) -> Option<&TlsStream<S>> {
        match self {
            Wire::Plain(_) => None,
            Wire::Tls(tls) => Some(tls),
        }
    }

    /// Whether the bytes are encrypted.
    pub fn is_tls(&self) -> bool {
        matches!(self, Wire::Tls(_))
    }

    /// Whether a TLS handshake is still under way (never, on a plain wire).
    pub fn is_handshaking(&self) -> bool {
        self.as_tls().is_some_and(TlsStream::is_handshaking)
    }

    /// Drive a TLS handshake as far as the socket allows: `Ok(true)` once it is done
    /// (at once on a plain wire).
    pub fn handshake(&mut self) -> io::Result<bool> {
        match self {
            Wire::Plain(_) => Ok(true),
            Wire::Tls(tls) => tls.handshake(),
        }
    }

    /// The fingerprint of the key the other side's certificate holds (TLS, once shown).
    pub fn peer_fingerprint(&self) -> Option<Fingerprint> {
        self.as_tls().and_then(TlsStream::peer_fingerprint)
    }

    /// The socket.
    pub fn socket(&self) -> &S {
        match self {
            Wire::Plain(s) => s,
            Wire::Tls(tls) => tls.get_ref(),
        }
    }

    /// The socket, mutably.
    pub fn socket_mut(&mut self) -> &mut S {
        match self {
            Wire::Plain(s) => s,
            Wire::Tls(tls) => tls.get_mut(),
        }
    }
}

impl<S: Read + Write> Read for Wire<S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Wire::Plain(s) => s.read(buf),
            Wire::Tls(tls) => tls.read(buf),
        }
    }
}

impl<S: Read + Write> Write for Wire<S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Wire::Plain(s) => s.write(buf),
            Wire::Tls(tls) => tls.write(buf),
        }
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match self {
            Wire::Plain(s) => s.write_vectored(bufs),
            Wire::Tls(tls) => tls.write_vectored(bufs),
        }
    }

    /// A TLS wire writes out the records it holds (`WouldBlock` while some are left).
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Wire::Plain(s) => s.flush(),
            Wire::Tls(tls) => tls.flush(),
        }
    }
}

impl<S: Read + Write + Source> Source for Wire<S> {
    fn register(
        &mut self,
        registry: &Registry,
        token: Token,
        interest: Interest,
    ) -> io::Result<()> {
        self.socket_mut().register(registry, token, interest)
    }

    fn reregister(
        &mut self,
        registry: &Registry,
        token: Token,
        interest: Interest,
    ) -> io::Result<()> {
        self.socket_mut().reregister(registry, token, interest)
    }

    fn deregister(&mut self, registry: &Registry) -> io::Result<()> {
        self.socket_mut().deregister(registry)
    }
}
