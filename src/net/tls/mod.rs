//! `TlsStream`: TLS 1.3 (rustls, sans-IO) over any non-blocking byte stream, itself a
//! non-blocking `Read + Write` — the handshake is driven by whichever of the two is
//! called, `WouldBlock` means no plaintext (or no room) yet, and `wants_read` /
//! `wants_write` say which readiness the loop should wait for. Failures are typed
//! ([`TlsFailure`], inside the `io::Error`) with messages a person can act on, and a
//! peer that speaks plaintext peerhub is named as such.

use crate::proto::frame::HEADER_LEN;
use crate::trust::{Fingerprint, KeyRefused};
use inbox::{FirstBytes, Inbox};
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, Connection, ServerConfig, ServerConnection};
use std::fmt;
use std::io::{self, Read, Write};
use std::sync::Arc;

/// Most TLS bytes a connection queues for sending, and plaintext it takes before the
/// handshake ends (rustls's own default, set explicitly so the bound is ours).
pub const BUFFER_LIMIT: usize = 64 * 1024;

/// How many of the first bytes the peer sends are kept, to name a plaintext peer.
const FIRST_BYTES: usize = 9;

/// A read into a buffer at least this big is a bulk read (a file coming in): the
/// transport is read [`INBOX_BYTES`] at a time ahead of rustls, instead of the few KiB
/// rustls asks for. The hub's sessions read 64 KiB at most and never use it.
const BULK_READ: usize = 128 * 1024;

/// Ciphertext read ahead for bulk reads: one `recv` per this many bytes (four records),
/// not one per record. Held only while the transport has more (freed when it runs
/// dry); on the hub at most one per store connection (`--max-store-conns`, 256:
/// 16 MiB at worst).
const INBOX_BYTES: usize = 64 * 1024;

/// Why a TLS connection failed, as the `io::Error`'s inner error (`downcast_ref`).
#[derive(Debug, Clone)]
pub enum TlsFailure {
    /// The peer sent a plaintext peerhub frame: one side runs `--insecure-plaintext`.
    Plaintext,
    /// The peer's first bytes are not a TLS handshake.
    NotTls { first: Vec<u8> },
    /// The peer closed the connection before the handshake finished.
    ClosedInHandshake,
    /// A peer listener's client presented no certificate.
    NoClientCertificate,
    /// Our verifier refused the key the other side presented.
    KeyRefused(KeyRefused),
    /// The other side refused our certificate (a fetch from the wrong holder, a pin).
    RefusedByPeer(rustls::AlertDescription),
    /// Anything else rustls refused.
    Tls(rustls::Error),
}

impl fmt::Display for TlsFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsFailure::Plaintext => f.write_str(
                "the other side speaks plaintext peerhub, not TLS: it runs with \
                 --insecure-plaintext; use that flag on both sides or on neither",
            ),
            TlsFailure::NotTls { first } => write!(
                f,
                "the other side does not speak TLS (it began with {}): not a peerhub program, \
                 or an old one",
                hex(first)
            ),
            TlsFailure::ClosedInHandshake => {
                f.write_str("the other side closed the connection during the TLS handshake")
            }
            TlsFailure::NoClientCertificate => f.write_str(
                "the other side presented no client certificate (every peerhub client has one)",
            ),
            TlsFailure::KeyRefused(refused) => write!(f, "TLS: {refused}"),
            TlsFailure::RefusedByPeer(alert) => {
                write!(f, "the other side refused the TLS handshake ({alert:?})")
            }
            TlsFailure::Tls(error) => write!(f, "TLS: {error}"),
        }
    }
}

impl std::error::Error for TlsFailure {}

/// The failure inside an error a [`TlsStream`] returned, if it is one.
pub fn failure_of(error: &io::Error) -> Option<&TlsFailure> {
    error.get_ref()?.downcast_ref()
}

/// Whether `first` (the first bytes a peer sent, one or more) open a plaintext peerhub
/// frame: a 4-byte big-endian length, not zero, then the payload. A TLS record begins
/// with its content type (20 to 24), so its first byte is never 0, while a peerhub
/// frame's is for any length under 16 MiB — the first byte alone tells them apart.
pub fn looks_like_plaintext_frame(first: &[u8]) -> bool {
    match first {
        [0, rest @ ..] => rest
            .get(..HEADER_LEN - 1)
            .is_none_or(|length| length != [0, 0, 0]),
        _ => false,
    }
}

/// Whether `first` begin as a TLS record does: a content type from 20 to 24, then
/// major version 3.
fn starts_like_tls_record(first: &[u8]) -> bool {
    matches!(first, [0x14..=0x18, 0x03, ..])
}

/// Whether `first` (the first bytes a plaintext side read) open a TLS ClientHello: a
/// handshake record (0x16), version 3.x, and — once that byte is there — the
/// ClientHello handshake type (1). A plaintext hub uses it to refuse a TLS client with
/// the same clear error a TLS side gives a plaintext one.
pub fn looks_like_tls_client_hello(first: &[u8]) -> bool {
    match first {
        [0x16, 0x03, minor, rest @ ..] if *minor <= 0x04 => rest
            .get(2)
            .is_none_or(|handshake_type| *handshake_type == 0x01),
        _ => false,
    }
}

/// TLS over `S`, client or server.
pub struct TlsStream<S> {
    tls: Connection,
    inner: S,
    /// The first bytes the peer sent, up to [`FIRST_BYTES`].
    first: Vec<u8>,
    /// The transport said end of stream.
    transport_closed: bool,
    /// The failure that ended the connection: every later call returns it again.
    broken: Option<TlsFailure>,
    /// Ciphertext read ahead of rustls by bulk reads.
    inbox: Inbox,
    /// A transport error met after some plaintext was already read: the next call's.
    deferred: Option<io::Error>,
}

impl<S> fmt::Debug for TlsStream<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsStream")
            .field("handshaking", &self.tls.is_handshaking())
            .field("transport_closed", &self.transport_closed)
            .finish_non_exhaustive()
    }
}

impl<S: Read + Write> TlsStream<S> {
    /// The client end over `inner`, for the server called `name` (names are not
    /// checked — the config's verifier decides by key — but they key resumption).
    pub fn client(
        config: Arc<ClientConfig>,
        name: ServerName<'static>,
        inner: S,
    ) -> Result<TlsStream<S>, rustls::Error> {
        let tls = ClientConnection::new(config, name)?;
        Ok(TlsStream::over(tls.into(), inner))
    }

    /// The server end over `inner`.
    pub fn server(config: Arc<ServerConfig>, inner: S) -> Result<TlsStream<S>, rustls::Error> {
        let tls = ServerConnection::new(config)?;
        Ok(TlsStream::over(tls.into(), inner))
    }

    fn over(mut tls: Connection, inner: S) -> TlsStream<S> {
        tls.set_buffer_limit(Some(BUFFER_LIMIT));
        TlsStream {
            tls,
            inner,
            first: Vec::with_capacity(FIRST_BYTES),
            transport_closed: false,
            broken: None,
            inbox: Inbox::default(),
            deferred: None,
        }
    }

    /// Drive the handshake as far as the transport allows: `Ok(true)` once it is done.
    pub fn handshake(&mut self) -> io::Result<bool> {
        while self.tls.is_handshaking() {
            self.push()?;
            if self.transport_closed {
                return Err(self.fail(TlsFailure::ClosedInHandshake));
            }
            if !self.pull()? {
                return Ok(false);
            }
        }
        self.push()?;
        Ok(true)
    }

    /// Write queued TLS records to the transport: `Ok(true)` when none is left.
    pub fn push(&mut self) -> io::Result<bool> {
        while self.tls.wants_write() {
            match self.tls.write_tls(&mut self.inner) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(true)
    }

    /// Read what the transport has into rustls and process it (and send what that
    /// calls for): `Ok(false)` when the transport had nothing.
    fn pull(&mut self) -> io::Result<bool> {
        self.pull_into_rustls(false)
    }

    /// [`TlsStream::pull`]; a `bulk` pull reads the transport through the inbox.
    fn pull_into_rustls(&mut self, bulk: bool) -> io::Result<bool> {
        if let Some(failure) = &self.broken {
            return Err(failed(failure.clone()));
        }
        if self.inbox.pending() {
            let mut ahead = &self.inbox.bytes[self.inbox.start..self.inbox.end];
            let taken = self.tls.read_tls(&mut ahead)?;
            self.inbox.start += taken;
            return self.process();
        }
        if self.transport_closed {
            return Ok(false);
        }
        let mut reader = FirstBytes {
            inner: &mut self.inner,
            first: &mut self.first,
        };
        let read = if bulk {
            self.inbox.bytes.resize(INBOX_BYTES, 0);
            match reader.read(&mut self.inbox.bytes) {
                Ok(n) => {
                    (self.inbox.start, self.inbox.end) = (0, n);
                    Ok(n)
                }
                Err(e) => Err(e),
            }
        } else {
            self.tls.read_tls(&mut reader)
        };
        match read {
            Ok(0) => {
                self.transport_closed = true;
                self.inbox.release();
                if bulk {
                    // rustls learns of the end only from a `read_tls` that gets none.
                    self.tls.read_tls(&mut io::empty())?;
                }
            }
            Ok(_) if bulk => return self.pull_into_rustls(true),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                self.inbox.release();
                return Ok(false);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(true),
            Err(e) => return Err(e),
        }
        self.process()
    }

    /// Let rustls process what it was given, and send what that calls for.
    fn process(&mut self) -> io::Result<bool> {
        if let Err(error) = self.tls.process_new_packets() {
            let _ = self.push();
            let failure = self.classify(error);
            return Err(self.fail(failure));
        }
        self.push()?;
        Ok(true)
    }

    /// Remember `failure` for every later call, and return it.
    fn fail(&mut self, failure: TlsFailure) -> io::Error {
        self.broken = Some(failure.clone());
        failed(failure)
    }

    /// What a rustls error means here.
    fn classify(&self, error: rustls::Error) -> TlsFailure {
        use rustls::Error as E;
        let in_handshake = self.tls.is_handshaking();
        match error {
            _ if in_handshake && looks_like_plaintext_frame(&self.first) => TlsFailure::Plaintext,
            _ if in_handshake && !starts_like_tls_record(&self.first) => TlsFailure::NotTls {
                first: self.first.clone(),
            },
            E::NoCertificatesPresented => TlsFailure::NoClientCertificate,
            E::InvalidCertificate(rustls::CertificateError::Other(ref other)) => {
                match other.0.downcast_ref::<KeyRefused>() {
                    Some(refused) => TlsFailure::KeyRefused(*refused),
                    None => TlsFailure::Tls(error),
                }
            }
            E::AlertReceived(alert) => TlsFailure::RefusedByPeer(alert),
            error => TlsFailure::Tls(error),
        }
    }

    /// Whether the handshake is still under way.
    pub fn is_handshaking(&self) -> bool {
        self.tls.is_handshaking()
    }

    /// Whether the connection waits for bytes from the peer (poll for readable).
    pub fn wants_read(&self) -> bool {
        self.tls.wants_read()
    }

    /// Whether TLS records wait to be written (poll for writable).
    pub fn wants_write(&self) -> bool {
        self.tls.wants_write()
    }

    /// The readiness to poll for: readable always, writable while records wait.
    pub fn interest(&self) -> mio::Interest {
        if self.wants_write() {
            mio::Interest::READABLE | mio::Interest::WRITABLE
        } else {
            mio::Interest::READABLE
        }
    }

    /// The fingerprint of the key the peer's certificate holds, once the handshake
    /// has shown one (also on a resumed session); `None` for a client that showed none.
    pub fn peer_fingerprint(&self) -> Option<Fingerprint> {
        let cert = self.tls.peer_certificates()?.first()?;
        Fingerprint::of_certificate(cert).ok()
    }

    /// Whether this session was resumed from an earlier one (no certificate exchanged).
    pub fn resumed(&self) -> bool {
        self.tls.handshake_kind() == Some(rustls::HandshakeKind::Resumed)
    }

    /// Say that nothing more will be sent: queue a TLS close notice and write it out;
    /// `Ok(true)` once it is out (then the transport's sending side may close).
    pub fn close_notify(&mut self) -> io::Result<bool> {
        self.tls.send_close_notify();
        self.push()
    }

    /// The transport.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The transport, to register it with a poll.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }
}

impl<S: Read + Write> Read for TlsStream<S> {
    /// Plaintext from the peer; `Ok(0)` once it closed (with a close notice, or — after
    /// the handshake — without: peerhub's frames and hashes catch a cut), `WouldBlock`
    /// while nothing is there yet (the handshake is driven meanwhile).
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if let Some(e) = self.deferred.take() {
            return Err(e);
        }
        let bulk = buf.len() >= BULK_READ;
        let first = loop {
            match self.tls.reader().read(buf) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    if self.tls.is_handshaking() {
                        return Err(self.fail(TlsFailure::ClosedInHandshake));
                    }
                    return Ok(0);
                }
                Err(e) => return Err(e),
            }
            if self.transport_closed && self.tls.is_handshaking() && !self.inbox.pending() {
                return Err(self.fail(TlsFailure::ClosedInHandshake));
            }
            if !self.pull_into_rustls(bulk)? {
                return Err(io::ErrorKind::WouldBlock.into());
            }
        };
        Ok(first + self.top_up(buf.get_mut(first..).unwrap_or_default()))
    }
}

impl<S: Read + Write> TlsStream<S> {
    /// More plaintext into what is left of `buf` after a read that got some, from the
    /// records already read: those rustls holds and those in the inbox, so a bulk
    /// read hands back a whole socket read's worth and a caller writes a file in big
    /// pieces. It never reads the transport again (a blocking one would wait); what
    /// ends it early (the end of the stream, a failure) is for the next read to report.
    fn top_up(&mut self, buf: &mut [u8]) -> usize {
        let mut got = 0;
        while got < buf.len() {
            match self.tls.reader().read(&mut buf[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && self.inbox.pending() => {
                    if let Err(e) = self.pull_into_rustls(true) {
                        // A TLS failure is remembered already; anything else is kept
                        // for the next call.
                        if self.broken.is_none() {
                            self.deferred = Some(e);
                        }
                        break;
                    }
                }
                Err(_) => break,
            }
        }
        got
    }
}

impl<S: Read + Write> Write for TlsStream<S> {
    /// Plaintext to the peer, taken while there is room (also during the handshake:
    /// rustls sends it only once the handshake has ended, so nothing reaches a peer
    /// whose key was refused); `WouldBlock` when the buffer is full.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_vectored(&[io::IoSlice::new(buf)])
    }

    /// As [`Write::write`], taking several slices into as few records as they fill
    /// (a queue of small replies becomes one record, not one each).
    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        if bufs.iter().all(|b| b.is_empty()) {
            return Ok(0);
        }
        if let Some(failure) = &self.broken {
            return Err(failed(failure.clone()));
        }
        if self.tls.is_handshaking() {
            self.handshake()?;
        }
        self.push()?;
        let taken = self.tls.writer().write_vectored(bufs)?;
        self.push()?;
        if taken == 0 {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        Ok(taken)
    }

    /// Write out every queued record, `WouldBlock` while the transport is full.
    fn flush(&mut self) -> io::Result<()> {
        if self.push()? {
            self.inner.flush()
        } else {
            Err(io::ErrorKind::WouldBlock.into())
        }
    }
}

/// An `io::Error` carrying `failure`.
fn failed(failure: TlsFailure) -> io::Error {
    let kind = match failure {
        TlsFailure::ClosedInHandshake => io::ErrorKind::UnexpectedEof,
        TlsFailure::KeyRefused(_)
        | TlsFailure::RefusedByPeer(_)
        | TlsFailure::NoClientCertificate => io::ErrorKind::PermissionDenied,
        _ => io::ErrorKind::InvalidData,
    };
    io::Error::new(kind, failure)
}

/// Bytes as hex, for an error message.
fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

mod inbox;

#[cfg(test)]
mod tests;
