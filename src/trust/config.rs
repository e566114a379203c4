//! The rustls configurations peerhub runs: TLS 1.3 only, on aws-lc-rs (chosen by
//! measurement, see docs/ARCHITECTURE.md "Trust"), ALPN `peerhub/2`, keys trusted by
//! fingerprint through the verifiers of [`super::verify`]. The hub's and a peer
//! listener's servers issue session tickets (stateless, keys in memory, rotated); a
//! client config remembers sessions to resume.

use super::{Identity, PeerCertVerifier, ServerKeyVerifier};
use rustls::client::Resumption;
use rustls::crypto::{aws_lc_rs, CryptoProvider};
use rustls::{ClientConfig, Error, ServerConfig};
use std::sync::Arc;

/// The application protocol both ends name in the handshake.
pub const ALPN: &[u8] = b"peerhub/2";

/// The crypto provider every configuration uses: aws-lc-rs's, with AES-128-GCM first.
///
/// rustls's default order puts AES-256-GCM-SHA384 first; AES-128-GCM-SHA256 encrypts
/// and decrypts bulk data about 17 % faster here (docs/ARCHITECTURE.md "Trust") and its
/// key schedule runs on SHA-256, which this CPU has in hardware (SHA-384's runs in
/// software), so handshakes cost less too. Both are TLS 1.3's mandatory suites; the
/// others stay offered, in rustls's order. A server follows the client's order, and
/// both ends here are peerhub.
pub fn provider() -> Arc<CryptoProvider> {
    let mut provider = aws_lc_rs::default_provider();
    provider
        .cipher_suites
        .sort_by_key(|suite| suite.suite() != rustls::CipherSuite::TLS13_AES_128_GCM_SHA256);
    Arc::new(provider)
}

/// The hub's server: its identity, no client certificate asked for.
pub fn hub_server_config(identity: &Identity) -> Result<Arc<ServerConfig>, Error> {
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_no_client_auth()
        .with_single_cert(vec![identity.certificate().clone()], identity.private_key())?;
    finish_server(&mut config, ALPN)?;
    Ok(Arc::new(config))
}

/// A peer listener's server: its identity, and a client certificate required of every
/// fetcher (mutual TLS).
pub fn peer_server_config(identity: &Identity) -> Result<Arc<ServerConfig>, Error> {
    let provider = provider();
    let mut config = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_client_cert_verifier(PeerCertVerifier::new(&provider))
        .with_single_cert(vec![identity.certificate().clone()], identity.private_key())?;
    finish_server(&mut config, ALPN)?;
    Ok(Arc::new(config))
}

/// The web interface's server, off loopback (or with `--web-https`): the process's own
/// identity (the hub's key, or the peer's), no client certificate, ALPN `http/1.1` (a
/// browser offers `h2` too; the interface speaks HTTP/1.1 and WebSockets over it).
/// TLS 1.3 only, as everywhere: every browser in use speaks it.
pub fn web_server_config(identity: &Identity) -> Result<Arc<ServerConfig>, Error> {
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_no_client_auth()
        .with_single_cert(vec![identity.certificate().clone()], identity.private_key())?;
    finish_server(&mut config, b"http/1.1")?;
    Ok(Arc::new(config))
}

/// The application protocol, and session tickets as on every server.
fn finish_server(config: &mut ServerConfig, alpn: &[u8]) -> Result<(), Error> {
    config.alpn_protocols = vec![alpn.to_vec()];
    config.ticketer = aws_lc_rs::Ticketer::new()?;
    Ok(())
}

/// Sessions a client config remembers for resumption (a few per server it met).
const RESUMABLE_SESSIONS: usize = 64;

/// A client that trusts the server `verifier` accepts, shows `identity`'s certificate
/// when the server asks for one (a peer listener does; the hub does not), and resumes
/// sessions it had with the same server. Build it once and keep it for every connection
/// to that server (the hub link across reconnects): rustls resumes a session only under
/// the configuration — verifier and certificate — that made it.
pub fn client_config(
    verifier: Arc<ServerKeyVerifier>,
    identity: Option<&Identity>,
) -> Result<Arc<ClientConfig>, Error> {
    let provider = provider();
    let builder = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let mut config = match identity {
        Some(identity) => builder
            .with_client_auth_cert(vec![identity.certificate().clone()], identity.private_key())?,
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![ALPN.to_vec()];
    config.resumption = Resumption::in_memory_sessions(RESUMABLE_SESSIONS);
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::CipherSuite;

    #[test]
    fn aes_128_gcm_comes_first_and_the_other_suites_stay_offered() {
        let suites: Vec<CipherSuite> = provider().cipher_suites.iter().map(|s| s.suite()).collect();
        assert_eq!(suites[0], CipherSuite::TLS13_AES_128_GCM_SHA256);
        assert!(suites.contains(&CipherSuite::TLS13_AES_256_GCM_SHA384));
        assert!(suites.contains(&CipherSuite::TLS13_CHACHA20_POLY1305_SHA256));
    }
}
