//! Fetch tickets signed and checked with the hub's key (ECDSA P-256 over SHA-256, on
//! aws-lc-rs). The hub signs through the narrow [`TicketSigner`] (its unit tests give
//! it a stand-in); [`HubSigner`] is the real one, made from the hub's [`Identity`]. A
//! client learns the hub's public key from the `Welcome` and checks tickets with a
//! [`HubKey`], through [`TicketCheck`] so the holder's decision is tested on plain
//! values.

use super::{Fingerprint, Identity};
use crate::proto::ticket::SIGNATURE_LEN;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    EcdsaKeyPair, ParsedPublicKey, ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING,
};
use rustls::pki_types::PrivateKeyDer;
use std::fmt;

/// What the hub signs tickets with.
pub trait TicketSigner {
    /// The signature of `message` (`r` then `s`). Signing fails only when the system's
    /// random numbers do: then all zeros, which no holder accepts.
    fn sign(&self, message: &[u8]) -> [u8; SIGNATURE_LEN];

    /// The key that checks the signatures: a DER SubjectPublicKeyInfo, sent to every
    /// client in the `Welcome`.
    fn public_key(&self) -> &[u8];
}

/// The hub's key pair, signing.
pub struct HubSigner {
    pair: EcdsaKeyPair,
    random: SystemRandom,
    spki: Vec<u8>,
}

impl fmt::Debug for HubSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HubSigner").finish_non_exhaustive()
    }
}

impl HubSigner {
    /// The signer of the hub whose identity this is; an error if its key is not an
    /// ECDSA P-256 key (every key peerhub makes is).
    pub fn new(identity: &Identity) -> Result<HubSigner, String> {
        let key = identity.private_key();
        let der = match &key {
            PrivateKeyDer::Pkcs8(der) => der.secret_pkcs8_der(),
            PrivateKeyDer::Sec1(der) => der.secret_sec1_der(),
            _ => return Err("the hub's key is not an ECDSA P-256 key".to_owned()),
        };
        let pair = EcdsaKeyPair::from_private_key_der(&ECDSA_P256_SHA256_FIXED_SIGNING, der)
            .map_err(|e| format!("the hub's key cannot sign fetch tickets: {e}"))?;
        Ok(HubSigner {
            pair,
            random: SystemRandom::new(),
            spki: identity.public_key().to_vec(),
        })
    }
}

impl TicketSigner for HubSigner {
    fn sign(&self, message: &[u8]) -> [u8; SIGNATURE_LEN] {
        let mut out = [0; SIGNATURE_LEN];
        match self.pair.sign(&self.random, message) {
            Ok(signature) if signature.as_ref().len() == SIGNATURE_LEN => {
                out.copy_from_slice(signature.as_ref());
            }
            _ => log::error!("signing a fetch ticket failed: the holder will refuse it"),
        }
        out
    }

    fn public_key(&self) -> &[u8] {
        &self.spki
    }
}

/// Whether a signature over a message is the hub's.
pub trait TicketCheck {
    fn verifies(&self, message: &[u8], signature: &[u8; SIGNATURE_LEN]) -> bool;
}

/// The hub's public key, as a client learnt it from the `Welcome`.
pub struct HubKey {
    key: ParsedPublicKey,
    fingerprint: Fingerprint,
}

impl fmt::Debug for HubKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HubKey")
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

impl HubKey {
    /// The key a DER SubjectPublicKeyInfo holds; an error unless it is an ECDSA P-256
    /// public key.
    pub fn from_spki(spki: &[u8]) -> Result<HubKey, String> {
        let key = ParsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, spki)
            .map_err(|e| format!("the hub's public key is not an ECDSA P-256 key ({e})"))?;
        Ok(HubKey {
            key,
            fingerprint: Fingerprint::of_spki(spki),
        })
    }

    /// The fingerprint of the key (the SHA-256 of its SubjectPublicKeyInfo).
    pub fn fingerprint(&self) -> Fingerprint {
        self.fingerprint
    }
}

impl TicketCheck for HubKey {
    fn verifies(&self, message: &[u8], signature: &[u8; SIGNATURE_LEN]) -> bool {
        self.key.verify_sig(message, signature).is_ok()
    }
}

/// A stand-in for the hub's key in unit tests: its "signature" is a keyed BLAKE3 of
/// the message, so it signs and checks without a key pair and the same message is
/// always signed the same way.
#[cfg(test)]
pub(crate) struct FakeSigner;

#[cfg(test)]
impl FakeSigner {
    /// What a fake signature of `message` is.
    fn signature(message: &[u8]) -> [u8; SIGNATURE_LEN] {
        let mut out = [0; SIGNATURE_LEN];
        let digest = blake3::keyed_hash(&[7; 32], message);
        out[..32].copy_from_slice(digest.as_bytes());
        out[32..].copy_from_slice(digest.as_bytes());
        out
    }
}

#[cfg(test)]
impl TicketSigner for FakeSigner {
    fn sign(&self, message: &[u8]) -> [u8; SIGNATURE_LEN] {
        FakeSigner::signature(message)
    }

    fn public_key(&self) -> &[u8] {
        b"fake hub key"
    }
}

#[cfg(test)]
impl TicketCheck for FakeSigner {
    fn verifies(&self, message: &[u8], signature: &[u8; SIGNATURE_LEN]) -> bool {
        FakeSigner::signature(message) == *signature
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_of_the_hub_key_verifies_and_nothing_else_does() {
        let hub = Identity::generate().unwrap();
        let signer = HubSigner::new(&hub).unwrap();
        let key = HubKey::from_spki(signer.public_key()).unwrap();
        assert_eq!(key.fingerprint(), hub.fingerprint());
        let signature = signer.sign(b"a message");
        assert!(key.verifies(b"a message", &signature));
        assert!(!key.verifies(b"another message", &signature));
        let mut forged = signature;
        forged[10] ^= 1;
        assert!(!key.verifies(b"a message", &forged));
        assert!(!key.verifies(b"a message", &[0; SIGNATURE_LEN]));
        // Signatures are randomised: the same message twice is signed differently.
        assert_ne!(signer.sign(b"a message"), signature);
        let other = Identity::generate().unwrap();
        let other_key = HubKey::from_spki(other.public_key()).unwrap();
        assert!(!other_key.verifies(b"a message", &signature));
    }

    #[test]
    fn a_public_key_that_is_not_p256_is_refused() {
        let err = HubKey::from_spki(b"not a key").unwrap_err();
        assert!(err.contains("not an ECDSA P-256 key"), "{err}");
        assert!(HubKey::from_spki(&[]).is_err());
    }
}
