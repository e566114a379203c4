//! What the benches need to speak TLS 1.3 to either server: the transport a driver's
//! connections use ([`Transport`]: plaintext or TLS with a rustls client config),
//! the socket under it ([`Sock`]: blocking during set-up, non-blocking in the loop, a
//! mio source either way), and a throw-away certificate for a Redis of our own.
//!
//! Both servers are met through the library's own [`TlsStream`] with the same client
//! configuration apart from ALPN (the hub names `peerhub/2`, Redis names none), so the
//! driver's TLS cost is the same for both and a ratio still compares servers.

use mio::event::Source;
use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};
use peerhub::net::tls::TlsStream;
use peerhub::net::wire::Wire;
use peerhub::trust::{self, Fingerprint, ServerKeyVerifier};
use rustls::pki_types::ServerName;
use rustls::ClientConfig;
use std::io::{self, IoSlice, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A TCP socket the driver owns: std's, so it can block during set-up and stop
/// blocking for the measured loop, registered with mio by its descriptor.
#[derive(Debug)]
pub struct Sock(pub TcpStream);

impl Read for Sock {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

impl Write for Sock {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.0.write_vectored(bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Source for Sock {
    fn register(
        &mut self,
        registry: &Registry,
        token: Token,
        interest: Interest,
    ) -> io::Result<()> {
        SourceFd(&self.0.as_raw_fd()).register(registry, token, interest)
    }

    fn reregister(
        &mut self,
        registry: &Registry,
        token: Token,
        interest: Interest,
    ) -> io::Result<()> {
        SourceFd(&self.0.as_raw_fd()).reregister(registry, token, interest)
    }

    fn deregister(&mut self, registry: &Registry) -> io::Result<()> {
        SourceFd(&self.0.as_raw_fd()).deregister(registry)
    }
}

/// A driver connection's bytes: the socket itself, or TLS over it.
pub type Link = Wire<Sock>;

/// How a driver's connections reach their server.
#[derive(Clone)]
pub enum Transport {
    /// Plaintext frames (a hub under `--insecure-plaintext`, Redis's `--port`).
    Plain,
    /// TLS 1.3 with this client configuration.
    Tls(Arc<ClientConfig>),
}

impl Transport {
    /// TLS to a hub whose key has `fingerprint` (from its `listening` event).
    pub fn hub(fingerprint: Fingerprint) -> Transport {
        let verifier = ServerKeyVerifier::exactly(&trust::provider(), fingerprint);
        Transport::Tls(trust::client_config(verifier, None).expect("TLS client config"))
    }

    /// TLS to a server with any key and no ALPN (Redis with its throw-away certificate).
    pub fn any_key() -> Transport {
        let verifier = ServerKeyVerifier::new(&trust::provider(), |_| true);
        let config = trust::client_config(verifier, None).expect("TLS client config");
        let mut config = Arc::unwrap_or_clone(config);
        config.alpn_protocols.clear();
        Transport::Tls(Arc::new(config))
    }

    /// Whether the bytes are encrypted.
    pub fn is_tls(&self) -> bool {
        matches!(self, Transport::Tls(_))
    }

    /// A connected, blocking socket to `addr`, wrapped as this transport wants (the
    /// TLS handshake happens with the first read or write).
    pub fn connect(&self, addr: SocketAddr) -> io::Result<Link> {
        let stream = TcpStream::connect(addr)?;
        stream.set_nodelay(true)?;
        self.wrap(stream)
    }

    /// `stream` wrapped as this transport wants.
    pub fn wrap(&self, stream: TcpStream) -> io::Result<Link> {
        match self {
            Transport::Plain => Ok(Wire::Plain(Sock(stream))),
            Transport::Tls(config) => {
                let name = ServerName::try_from("localhost").expect("a valid name");
                TlsStream::client(config.clone(), name, Sock(stream))
                    .map(Wire::tls)
                    .map_err(io::Error::other)
            }
        }
    }
}

/// A self-signed certificate and its key as PEM files in a fresh directory, removed
/// on drop (for `redis-server --tls-cert-file/--tls-key-file`).
pub struct ThrowAwayCert {
    pub dir: PathBuf,
}

impl ThrowAwayCert {
    /// Make one (ECDSA P-256, as the hub's own identity).
    pub fn new() -> io::Result<ThrowAwayCert> {
        let made = rcgen::generate_simple_self_signed(vec!["localhost".to_string()])
            .map_err(io::Error::other)?;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let dir =
            std::env::temp_dir().join(format!("peerhub-bench-cert-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let cert = ThrowAwayCert { dir };
        std::fs::write(cert.cert_file(), made.cert.pem())?;
        std::fs::write(cert.key_file(), made.signing_key.serialize_pem())?;
        Ok(cert)
    }

    pub fn cert_file(&self) -> PathBuf {
        self.dir.join("cert.pem")
    }

    pub fn key_file(&self) -> PathBuf {
        self.dir.join("key.pem")
    }
}

impl Drop for ThrowAwayCert {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(Path::new(&self.dir));
    }
}
