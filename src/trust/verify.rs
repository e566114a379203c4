//! The two rustls verifiers peerhub uses instead of certificate authorities. Both check
//! the handshake's signatures with the crypto provider's algorithms (a peer must hold
//! the private key of the certificate it shows); neither looks at names or dates, since
//! what is trusted is the key itself, by its [`Fingerprint`].
//!
//! - [`ServerKeyVerifier`] (client side): accepts a server certificate exactly when the
//!   caller's rule accepts its key's fingerprint — the hub's pin ([`super::decide`]) or a
//!   holder's announced fingerprint — and remembers the fingerprint it was shown.
//! - [`PeerCertVerifier`] (a peer listener): requires a client certificate; which one is
//!   checked later against the fetch ticket, from the connection's peer certificate.

use super::Fingerprint;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{
    verify_tls12_signature, verify_tls13_signature, CryptoProvider, WebPkiSupportedAlgorithms,
};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::SignatureScheme;
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, Error, OtherError};
use std::fmt;
use std::sync::{Arc, Mutex};

/// The handshake signature checks both verifiers make the same way: with the crypto
/// provider's algorithms (`self.algorithms`), against the certificate's public key.
macro_rules! signature_checks {
    () => {
        signature_checks!(verify_tls12_signature, verify_tls13_signature);

        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.algorithms.supported_schemes()
        }
    };
    ($($check:ident),*) => {$(
        fn $check(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, Error> {
            $check(message, cert, dss, &self.algorithms)
        }
    )*};
}

/// The rule a client applies to the fingerprint of the key a server presents.
type AcceptKey = dyn Fn(&Fingerprint) -> bool + Send + Sync;

/// The error a handshake fails with when [`ServerKeyVerifier`]'s rule refuses a key:
/// inside `rustls::Error::InvalidCertificate(CertificateError::Other(..))`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyRefused {
    /// The fingerprint of the key the server presented.
    pub got: Fingerprint,
}

impl fmt::Display for KeyRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the other side's key {} is not the one expected",
            self.got
        )
    }
}

impl std::error::Error for KeyRefused {}

/// Client side: a server is accepted by the fingerprint of its key alone.
pub struct ServerKeyVerifier {
    accept: Box<AcceptKey>,
    algorithms: WebPkiSupportedAlgorithms,
    presented: Mutex<Option<Fingerprint>>,
}

impl fmt::Debug for ServerKeyVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerKeyVerifier")
            .field("presented", &self.presented())
            .finish_non_exhaustive()
    }
}

impl ServerKeyVerifier {
    /// A verifier that accepts a server whose key's fingerprint `accept` approves.
    pub fn new(
        provider: &CryptoProvider,
        accept: impl Fn(&Fingerprint) -> bool + Send + Sync + 'static,
    ) -> Arc<ServerKeyVerifier> {
        Arc::new(ServerKeyVerifier {
            accept: Box::new(accept),
            algorithms: provider.signature_verification_algorithms,
            presented: Mutex::new(None),
        })
    }

    /// A verifier that accepts exactly the key `expected` names.
    pub fn exactly(provider: &CryptoProvider, expected: Fingerprint) -> Arc<ServerKeyVerifier> {
        ServerKeyVerifier::new(provider, move |presented| *presented == expected)
    }

    /// The fingerprint of the last key a server presented to this verifier (accepted or
    /// not); `None` before any (a resumed session presents none: ask the connection).
    pub fn presented(&self) -> Option<Fingerprint> {
        *self.presented.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl ServerCertVerifier for ServerKeyVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        let got = Fingerprint::of_certificate(end_entity)?;
        *self.presented.lock().unwrap_or_else(|e| e.into_inner()) = Some(got);
        if (self.accept)(&got) {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(Error::InvalidCertificate(CertificateError::Other(
                OtherError(Arc::new(KeyRefused { got })),
            )))
        }
    }

    signature_checks!();
}

/// Server side of a peer connection: every client must present a certificate (and
/// prove it holds its key); which key it is, is checked against the fetch ticket.
#[derive(Debug)]
pub struct PeerCertVerifier {
    algorithms: WebPkiSupportedAlgorithms,
}

impl PeerCertVerifier {
    /// A verifier that requires a client certificate.
    pub fn new(provider: &CryptoProvider) -> Arc<PeerCertVerifier> {
        Arc::new(PeerCertVerifier {
            algorithms: provider.signature_verification_algorithms,
        })
    }
}

impl ClientCertVerifier for PeerCertVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        true
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, Error> {
        Fingerprint::of_certificate(end_entity)?;
        Ok(ClientCertVerified::assertion())
    }

    signature_checks!();
}
