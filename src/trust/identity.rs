//! An identity: a private key and the self-signed certificate that carries its public
//! key, made with rcgen on first use and reused ever after. The hub keeps two PEM files
//! in its identity directory (`hub-key.pem`, mode 0600, and `hub-cert.pem`); a client
//! keeps one, key and certificate together, in its share (`.peerhub-identity.pem`,
//! 0600). A key file that group or others may read, or one that does not parse, is an
//! error that says what to do, never silently replaced.

use super::{provider, replace_file, Fingerprint};
use rcgen::{Certificate, CertificateParams, DistinguishedName, DnType, KeyPair, PublicKeyData};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::ParsedCertificate;
use rustls::sign::CertifiedKey;
use std::fmt;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// The hub's private key, in its identity directory.
pub const HUB_KEY_FILE: &str = "hub-key.pem";
/// The hub's certificate, beside its key.
pub const HUB_CERT_FILE: &str = "hub-cert.pem";
/// A client's key and certificate, in its share directory.
pub const PEER_IDENTITY_FILE: &str = ".peerhub-identity.pem";

/// Mode of every file holding a private key.
const KEY_MODE: u32 = 0o600;
/// Mode of the hub's certificate: public, like the fingerprint it carries.
const CERT_MODE: u32 = 0o644;

/// A key pair and its self-signed certificate.
pub struct Identity {
    key: PrivateKeyDer<'static>,
    cert: CertificateDer<'static>,
    /// The certificate's DER SubjectPublicKeyInfo.
    spki: Vec<u8>,
    fingerprint: Fingerprint,
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

/// Why an identity could not be loaded or made.
#[derive(Debug)]
pub enum IdentityError {
    /// Reading, creating or writing a file failed.
    Io { path: PathBuf, error: io::Error },
    /// A file that holds a private key may be read by group or others.
    Exposed { path: PathBuf, mode: u32 },
    /// A file does not hold what it should (`what`: why).
    Corrupt { path: PathBuf, what: String },
    /// The hub's certificate is there but its key is not.
    KeyMissing { key: PathBuf, cert: PathBuf },
    /// Making a key pair or certificate failed.
    Generate(String),
}

impl fmt::Display for IdentityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IdentityError::Io { path, error } => write!(f, "{}: {error}", path.display()),
            IdentityError::Exposed { path, mode } => write!(
                f,
                "{} holds a private key but its mode is {mode:04o}: group or others may read it; \
                 run `chmod 600 {}` (and make a new identity by deleting it if someone else may have read it)",
                path.display(),
                path.display()
            ),
            IdentityError::Corrupt { path, what } => write!(
                f,
                "{}: {what}; restore it from a backup, or delete it to make a new identity \
                 (whoever pinned the old key will then refuse the new one until told to trust it)",
                path.display()
            ),
            IdentityError::KeyMissing { key, cert } => write!(
                f,
                "{} is there but its private key {} is missing; restore the key, or delete the \
                 certificate to make a new identity (whoever pinned the old key will then refuse the new one)",
                cert.display(),
                key.display()
            ),
            IdentityError::Generate(why) => write!(f, "making a key pair failed: {why}"),
        }
    }
}

impl std::error::Error for IdentityError {}

impl Identity {
    /// A new key pair (ECDSA P-256, from the crypto provider's random numbers) and its
    /// self-signed certificate.
    pub fn generate() -> Result<Identity, IdentityError> {
        Ok(Made::new()?.identity)
    }

    /// The hub's identity in `dir` (created if need be): `hub-key.pem` and
    /// `hub-cert.pem`, made when neither exists. A missing certificate is made again
    /// from the key (the fingerprint names the key, so it stays the same); a
    /// certificate without its key is an error.
    pub fn load_or_create_hub(dir: &Path) -> Result<Identity, IdentityError> {
        std::fs::create_dir_all(dir).map_err(|error| io_error(dir, error))?;
        let key_path = dir.join(HUB_KEY_FILE);
        let cert_path = dir.join(HUB_CERT_FILE);
        let Some(key_pem) = read_key_file(&key_path)? else {
            if cert_path.exists() {
                return Err(IdentityError::KeyMissing {
                    key: key_path,
                    cert: cert_path,
                });
            }
            let made = Made::new()?;
            write(&key_path, made.key_pem.as_bytes(), KEY_MODE)?;
            write(&cert_path, made.cert_pem.as_bytes(), CERT_MODE)?;
            return Ok(made.identity);
        };
        let key = parse_key(&key_path, &key_pem)?;
        let cert = match read_file(&cert_path)? {
            Some(cert_pem) => parse_cert(&cert_path, &cert_pem)?,
            None => {
                let cert = certificate_for(&key_path, &key)?;
                write(&cert_path, cert.pem().as_bytes(), CERT_MODE)?;
                cert.der().clone()
            }
        };
        Identity::matched(key, cert, &cert_path)
    }

    /// A client's identity in its share directory: `.peerhub-identity.pem` (key and
    /// certificate in one file, 0600), made when it does not exist.
    pub fn load_or_create_peer(share: &Path) -> Result<Identity, IdentityError> {
        let path = share.join(PEER_IDENTITY_FILE);
        let Some(text) = read_key_file(&path)? else {
            let made = Made::new()?;
            write(&path, (made.key_pem + &made.cert_pem).as_bytes(), KEY_MODE)?;
            return Ok(made.identity);
        };
        let key = parse_key(&path, &text)?;
        let cert = parse_cert(&path, &text)?;
        Identity::matched(key, cert, &path)
    }

    /// The fingerprint of this identity's public key.
    pub fn fingerprint(&self) -> Fingerprint {
        self.fingerprint
    }

    /// The self-signed certificate (DER).
    pub fn certificate(&self) -> &CertificateDer<'static> {
        &self.cert
    }

    /// A copy of the private key (DER), for a rustls configuration.
    pub fn private_key(&self) -> PrivateKeyDer<'static> {
        self.key.clone_key()
    }

    /// The public key as a DER SubjectPublicKeyInfo (what the fingerprint is the
    /// SHA-256 of).
    pub fn public_key(&self) -> &[u8] {
        &self.spki
    }

    /// Key and certificate read from disk, checked to belong together.
    fn matched(
        key: PrivateKeyDer<'static>,
        cert: CertificateDer<'static>,
        cert_path: &Path,
    ) -> Result<Identity, IdentityError> {
        let corrupt = |what: String| IdentityError::Corrupt {
            path: cert_path.to_owned(),
            what,
        };
        CertifiedKey::from_der(vec![cert.clone()], key.clone_key(), &provider())
            .and_then(|certified| certified.keys_match())
            .map_err(|e| {
                corrupt(format!(
                    "the certificate does not carry the private key's public key ({e})"
                ))
            })?;
        let spki = ParsedCertificate::try_from(&cert)
            .map(|parsed| parsed.subject_public_key_info().as_ref().to_vec())
            .map_err(|e| corrupt(e.to_string()))?;
        Ok(Identity {
            key,
            cert,
            fingerprint: Fingerprint::of_spki(&spki),
            spki,
        })
    }
}

/// A new identity and the PEM texts its files hold.
struct Made {
    identity: Identity,
    key_pem: String,
    cert_pem: String,
}

impl Made {
    /// A key pair (ECDSA P-256, from the crypto provider's random numbers) and its
    /// self-signed certificate.
    fn new() -> Result<Made, IdentityError> {
        let pair = KeyPair::generate().map_err(|e| IdentityError::Generate(e.to_string()))?;
        let cert = self_signed(&pair)?;
        let spki = pair.subject_public_key_info();
        Ok(Made {
            key_pem: pair.serialize_pem(),
            cert_pem: cert.pem(),
            identity: Identity {
                key: PrivateKeyDer::Pkcs8(pair.serialize_der().into()),
                cert: cert.der().clone(),
                fingerprint: Fingerprint::of_spki(&spki),
                spki,
            },
        })
    }
}

/// A self-signed certificate for `pair`, named `peerhub` (names are not checked: the
/// key is what is pinned).
fn self_signed(pair: &KeyPair) -> Result<Certificate, IdentityError> {
    let mut params = CertificateParams::new(vec!["peerhub".to_owned()])
        .map_err(|e| IdentityError::Generate(e.to_string()))?;
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, "peerhub");
    params.distinguished_name = name;
    params
        .self_signed(pair)
        .map_err(|e| IdentityError::Generate(e.to_string()))
}

/// A certificate made again for a key read from `key_path`.
fn certificate_for(
    key_path: &Path,
    key: &PrivateKeyDer<'static>,
) -> Result<Certificate, IdentityError> {
    let pair = KeyPair::try_from(key).map_err(|e| IdentityError::Corrupt {
        path: key_path.to_owned(),
        what: format!("the private key is not one this build can use ({e})"),
    })?;
    self_signed(&pair)
}

/// The first private key in `text`, read from `path`.
fn parse_key(path: &Path, text: &str) -> Result<PrivateKeyDer<'static>, IdentityError> {
    PrivateKeyDer::from_pem_slice(text.as_bytes()).map_err(|e| IdentityError::Corrupt {
        path: path.to_owned(),
        what: format!("no private key in PEM form ({e})"),
    })
}

/// The first certificate in `text`, read from `path`.
fn parse_cert(path: &Path, text: &str) -> Result<CertificateDer<'static>, IdentityError> {
    CertificateDer::from_pem_slice(text.as_bytes()).map_err(|e| IdentityError::Corrupt {
        path: path.to_owned(),
        what: format!("no certificate in PEM form ({e})"),
    })
}

/// A file holding a private key: its text, `None` when it does not exist, an error
/// when group or others may read it.
fn read_key_file(path: &Path) -> Result<Option<String>, IdentityError> {
    match std::fs::metadata(path) {
        Ok(meta) => {
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(IdentityError::Exposed {
                    path: path.to_owned(),
                    mode,
                });
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(io_error(path, error)),
    }
    read_file(path)
}

/// A file's text, `None` when it does not exist.
fn read_file(path: &Path) -> Result<Option<String>, IdentityError> {
    match std::fs::read(path) {
        Ok(bytes) => String::from_utf8(bytes)
            .map(Some)
            .map_err(|_| IdentityError::Corrupt {
                path: path.to_owned(),
                what: "not a PEM text file".to_owned(),
            }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(io_error(path, error)),
    }
}

/// Write a new file atomically.
fn write(path: &Path, bytes: &[u8], mode: u32) -> Result<(), IdentityError> {
    replace_file(path, bytes, mode).map_err(|error| io_error(path, error))
}

fn io_error(path: &Path, error: io::Error) -> IdentityError {
    IdentityError::Io {
        path: path.to_owned(),
        error,
    }
}

#[cfg(test)]
mod tests;
