//! TLS on the peer side: the listener's server (mutual TLS with this client's
//! identity: every fetcher shows its certificate) and, for each holder, a client that
//! trusts exactly the key the hub vouches for and shows this client's certificate — or
//! the bare sockets under `--insecure-plaintext`.

use crate::net::tls::TlsStream;
use crate::net::wire::Wire;
use crate::trust::{self, Fingerprint, Identity, ServerKeyVerifier};
use mio::net::TcpStream;
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ServerConfig};
use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

/// A peer connection's transport.
pub(super) type PeerWire = Wire<TcpStream>;

/// Client configurations kept, one per holder key met last (rustls resumes a session
/// only under the configuration that made it, so a second fetch from a holder is cheap).
const CLIENT_CONFIGS: usize = 16;

/// The peer side's TLS, or none (plaintext).
pub(super) struct PeerTls {
    /// `None` under `--insecure-plaintext`.
    tls: Option<Configs>,
}

struct Configs {
    server: Arc<ServerConfig>,
    /// The latest last.
    clients: VecDeque<(Fingerprint, Arc<ClientConfig>)>,
}

fn tls_error(e: rustls::Error) -> io::Error {
    io::Error::other(format!("TLS: {e}"))
}

impl PeerTls {
    /// TLS with `identity`'s certificate, unless `plaintext`.
    pub(super) fn new(identity: &Identity, plaintext: bool) -> io::Result<PeerTls> {
        if plaintext {
            return Ok(PeerTls { tls: None });
        }
        let server = trust::peer_server_config(identity).map_err(tls_error)?;
        Ok(PeerTls {
            tls: Some(Configs {
                server,
                clients: VecDeque::new(),
            }),
        })
    }

    /// Whether peer connections are TLS.
    pub(super) fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// The wire of a socket the listener accepted.
    pub(super) fn accepted(&self, socket: TcpStream) -> io::Result<PeerWire> {
        match &self.tls {
            None => Ok(Wire::Plain(socket)),
            Some(tls) => TlsStream::server(tls.server.clone(), socket)
                .map(Wire::tls)
                .map_err(tls_error),
        }
    }

    /// The wire of a socket dialled to the holder at `addr`, whose client the hub says
    /// shows `key`; `identity` is the certificate this client shows it.
    pub(super) fn dialled(
        &mut self,
        socket: TcpStream,
        addr: SocketAddr,
        key: Fingerprint,
        identity: &Identity,
    ) -> io::Result<PeerWire> {
        let Some(tls) = &mut self.tls else {
            return Ok(Wire::Plain(socket));
        };
        // Names are not checked (the key is); they key resumption, with the config.
        let name = ServerName::from(addr.ip());
        let config = tls.client_for(key, identity)?;
        TlsStream::client(config, name, socket)
            .map(Wire::tls)
            .map_err(tls_error)
    }
}

impl Configs {
    /// The client configuration that trusts exactly `key`: kept, or made (forgetting
    /// the one used longest ago beyond [`CLIENT_CONFIGS`]).
    fn client_for(
        &mut self,
        key: Fingerprint,
        identity: &Identity,
    ) -> io::Result<Arc<ClientConfig>> {
        if let Some(at) = self.clients.iter().position(|(k, _)| *k == key) {
            if let Some(kept) = self.clients.remove(at) {
                let config = kept.1.clone();
                self.clients.push_back(kept);
                return Ok(config);
            }
        }
        let verifier = ServerKeyVerifier::exactly(&trust::provider(), key);
        let config = trust::client_config(verifier, Some(identity)).map_err(tls_error)?;
        if self.clients.len() >= CLIENT_CONFIGS {
            self.clients.pop_front();
        }
        self.clients.push_back((key, config.clone()));
        Ok(config)
    }
}
