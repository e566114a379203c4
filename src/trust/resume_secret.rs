//! The hub's resume secret: 32 random bytes in `<data>/resume-secret` (mode 0600), made
//! on first start and reused ever after, under which the hub signs the resume tokens it
//! hands out at login (HMAC-SHA256, `server::resume`). The bytes never leave this type:
//! it signs and checks, and prints as `ResumeSecret(..)`. A file others may read, or one
//! that is not 32 bytes, is an error that says what to do, never silently replaced.

use super::replace_file;
use aws_lc_rs::hmac;
use std::fmt;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// The secret's file, in the hub's data directory.
pub const RESUME_SECRET_FILE: &str = "resume-secret";
/// Bytes of secret.
pub const SECRET_BYTES: usize = 32;
/// Bytes of a signature (HMAC-SHA256).
pub const TAG_BYTES: usize = 32;
/// Mode of the file: the owner's alone.
const SECRET_MODE: u32 = 0o600;

/// The key resume tokens are signed with.
#[derive(Clone)]
pub struct ResumeSecret {
    key: hmac::Key,
}

impl fmt::Debug for ResumeSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ResumeSecret(..)")
    }
}

/// Why the secret could not be loaded or made.
#[derive(Debug)]
pub enum SecretError {
    /// Reading, creating or writing the file failed.
    Io { path: PathBuf, error: io::Error },
    /// Group or others may read the file.
    Exposed { path: PathBuf, mode: u32 },
    /// The file is not 32 bytes long.
    Corrupt { path: PathBuf, len: u64 },
    /// The system gave no random bytes.
    Random,
}

impl fmt::Display for SecretError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretError::Io { path, error } => write!(f, "{}: {error}", path.display()),
            SecretError::Exposed { path, mode } => write!(
                f,
                "{} holds the secret resume tokens are signed with, but its mode is {mode:04o}: \
                 group or others may read it; run `chmod 600 {}` (or delete it if someone else \
                 may have read it: a new one is made, and every client logs in with its password once)",
                path.display(),
                path.display()
            ),
            SecretError::Corrupt { path, len } => write!(
                f,
                "{}: {len} bytes, not a {SECRET_BYTES}-byte resume secret; delete it to make a \
                 new one (every client then logs in with its password once)",
                path.display()
            ),
            SecretError::Random => f.write_str("no random bytes from the system for a resume secret"),
        }
    }
}

impl std::error::Error for SecretError {}

impl ResumeSecret {
    /// A secret of these bytes (tests, fuzzing; a hub loads its own from disk).
    pub fn from_bytes(bytes: [u8; SECRET_BYTES]) -> ResumeSecret {
        ResumeSecret {
            key: hmac::Key::new(hmac::HMAC_SHA256, &bytes),
        }
    }

    /// The secret in `dir/resume-secret`, made (from the system's random numbers) when
    /// the file does not exist.
    pub fn load_or_create(dir: &Path) -> Result<ResumeSecret, SecretError> {
        let path = dir.join(RESUME_SECRET_FILE);
        let io_error = |error| SecretError::Io {
            path: path.clone(),
            error,
        };
        match std::fs::metadata(&path) {
            Ok(meta) => {
                let mode = meta.permissions().mode() & 0o777;
                if mode & 0o077 != 0 {
                    return Err(SecretError::Exposed { path, mode });
                }
                let bytes = std::fs::read(&path).map_err(io_error)?;
                let bytes = <[u8; SECRET_BYTES]>::try_from(bytes.as_slice()).map_err(|_| {
                    SecretError::Corrupt {
                        path: path.clone(),
                        len: bytes.len() as u64,
                    }
                })?;
                Ok(ResumeSecret::from_bytes(bytes))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let mut bytes = [0u8; SECRET_BYTES];
                aws_lc_rs::rand::fill(&mut bytes).map_err(|_| SecretError::Random)?;
                replace_file(&path, &bytes, SECRET_MODE).map_err(io_error)?;
                Ok(ResumeSecret::from_bytes(bytes))
            }
            Err(error) => Err(io_error(error)),
        }
    }

    /// The signature of `data`.
    pub fn sign(&self, data: &[u8]) -> [u8; TAG_BYTES] {
        let tag = hmac::sign(&self.key, data);
        let mut out = [0u8; TAG_BYTES];
        out.copy_from_slice(tag.as_ref());
        out
    }

    /// Whether `tag` is the signature of `data` (compared in constant time).
    pub fn verify(&self, data: &[u8], tag: &[u8]) -> bool {
        hmac::verify(&self.key, data, tag).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::TempDir;
    use std::fs;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn the_secret_is_made_once_private_and_reused() {
        let tmp = TempDir::new("resume-secret");
        let made = ResumeSecret::load_or_create(tmp.path()).unwrap();
        let path = tmp.join(RESUME_SECRET_FILE);
        assert_eq!(mode(&path), 0o600);
        assert_eq!(fs::read(&path).unwrap().len(), SECRET_BYTES);
        let again = ResumeSecret::load_or_create(tmp.path()).unwrap();
        let tag = made.sign(b"alice");
        assert!(again.verify(b"alice", &tag), "the same secret signs alike");
        assert!(!again.verify(b"alicf", &tag));
        assert_eq!(format!("{again:?}"), "ResumeSecret(..)");
        let other = TempDir::new("resume-secret");
        let fresh = ResumeSecret::load_or_create(other.path()).unwrap();
        assert!(
            !fresh.verify(b"alice", &tag),
            "another hub's secret differs"
        );
    }

    #[test]
    fn an_exposed_or_short_file_is_refused_and_kept() {
        let tmp = TempDir::new("resume-secret");
        ResumeSecret::load_or_create(tmp.path()).unwrap();
        let path = tmp.join(RESUME_SECRET_FILE);
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let err = ResumeSecret::load_or_create(tmp.path()).unwrap_err();
        assert!(
            matches!(err, SecretError::Exposed { mode: 0o644, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("chmod 600"), "{err}");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        fs::write(&path, b"short").unwrap();
        let err = ResumeSecret::load_or_create(tmp.path()).unwrap_err();
        assert!(matches!(err, SecretError::Corrupt { len: 5, .. }), "{err}");
        assert!(err.to_string().contains("delete it"), "{err}");
        assert_eq!(fs::read(&path).unwrap(), b"short", "never replaced");
    }
}
