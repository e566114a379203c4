//! `Fingerprint`: the SHA-256 of a certificate's DER SubjectPublicKeyInfo, written
//! `sha256:` and 64 lowercase hex digits — the name of a key, for pins and announcements.

use aws_lc_rs::digest::{digest, SHA256};
use rustls::pki_types::CertificateDer;
use rustls::server::ParsedCertificate;
use std::fmt;
use std::str::FromStr;

/// What a written fingerprint starts with.
const PREFIX: &str = "sha256:";

/// The SHA-256 of a public key's DER SubjectPublicKeyInfo.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint([u8; 32]);

impl Fingerprint {
    /// The fingerprint of a DER SubjectPublicKeyInfo.
    pub fn of_spki(spki_der: &[u8]) -> Fingerprint {
        let mut bytes = [0; 32];
        bytes.copy_from_slice(digest(&SHA256, spki_der).as_ref());
        Fingerprint(bytes)
    }

    /// The fingerprint of the key a DER certificate holds; an error if it does not
    /// parse as an X.509 certificate.
    pub fn of_certificate(cert: &CertificateDer<'_>) -> Result<Fingerprint, rustls::Error> {
        let parsed = ParsedCertificate::try_from(cert)?;
        Ok(Fingerprint::of_spki(&parsed.subject_public_key_info()))
    }

    /// The 32 digest bytes.
    pub fn bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The fingerprint whose digest bytes these are (as they travel on the wire).
    pub const fn from_bytes(bytes: [u8; 32]) -> Fingerprint {
        Fingerprint(bytes)
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(PREFIX)?;
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Why a written fingerprint was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FingerprintError(String);

impl fmt::Display for FingerprintError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} is not a key fingerprint: expected sha256: and 64 lowercase hex digits",
            self.0
        )
    }
}

impl std::error::Error for FingerprintError {}

impl FromStr for Fingerprint {
    type Err = FingerprintError;

    /// Strictly `sha256:` and 64 lowercase hex digits: no spaces, no upper case, no
    /// other digest.
    fn from_str(text: &str) -> Result<Fingerprint, FingerprintError> {
        let refuse = || FingerprintError(text.to_owned());
        let hex = text.strip_prefix(PREFIX).ok_or_else(refuse)?.as_bytes();
        if hex.len() != 64 {
            return Err(refuse());
        }
        let mut bytes = [0; 32];
        for (byte, pair) in bytes.iter_mut().zip(hex.chunks_exact(2)) {
            *byte = (lower_hex(pair[0]).ok_or_else(refuse)? << 4)
                | lower_hex(pair[1]).ok_or_else(refuse)?;
        }
        Ok(Fingerprint(bytes))
    }
}

/// The value of one lowercase hex digit.
fn lower_hex(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SHA-256 of "abc" (FIPS 180-2, appendix B.1).
    const ABC: &str = "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

    #[test]
    fn the_digest_is_sha256_written_in_lowercase_hex() {
        assert_eq!(Fingerprint::of_spki(b"abc").to_string(), ABC);
        assert_eq!(format!("{:?}", Fingerprint::of_spki(b"abc")), ABC);
    }

    #[test]
    fn a_written_fingerprint_parses_back() {
        let parsed: Fingerprint = ABC.parse().unwrap();
        assert_eq!(parsed, Fingerprint::of_spki(b"abc"));
        assert_eq!(parsed.bytes()[0], 0xba);
    }

    #[test]
    fn anything_but_the_exact_form_is_refused() {
        let upper = format!("sha256:{}", &ABC[7..].to_uppercase());
        let cases = [
            "",
            "sha256:",
            &ABC[7..],
            &ABC[..ABC.len() - 1],
            &format!("{ABC}0"),
            &format!(" {ABC}"),
            &format!("{ABC} "),
            &upper,
            &ABC.replace("sha256:", "SHA256:"),
            &ABC.replace("sha256:", "sha512:"),
            &ABC.replace('b', "g"),
            &format!("sha256:{}é", &ABC[7..69]),
        ];
        for case in cases {
            let err = case.parse::<Fingerprint>().unwrap_err();
            assert!(
                err.to_string().contains("64 lowercase hex"),
                "{case:?}: {err}"
            );
        }
    }
}
