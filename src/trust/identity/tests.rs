//! Identities on disk: made once and reused, a lost certificate made again from its key,
//! and every file that is exposed, missing its key or corrupt refused with what to do.

use super::*;
use crate::testing::TempDir;
use std::fs;

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn chmod(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn a_hub_identity_is_made_once_and_reused() {
    let tmp = TempDir::new("identity");
    let dir = tmp.join("data");
    let made = Identity::load_or_create_hub(&dir).unwrap();
    assert_eq!(mode(&dir.join(HUB_KEY_FILE)), 0o600);
    assert_eq!(mode(&dir.join(HUB_CERT_FILE)), 0o644);
    let cert_pem = fs::read_to_string(dir.join(HUB_CERT_FILE)).unwrap();
    assert!(
        cert_pem.starts_with("-----BEGIN CERTIFICATE-----"),
        "{cert_pem}"
    );
    let again = Identity::load_or_create_hub(&dir).unwrap();
    assert_eq!(again.fingerprint(), made.fingerprint());
    assert_eq!(again.certificate(), made.certificate());
    assert_eq!(
        Fingerprint::of_certificate(made.certificate()).unwrap(),
        made.fingerprint(),
        "rcgen's and webpki's public key info agree"
    );
}

#[test]
fn a_lost_hub_certificate_is_made_again_with_the_same_fingerprint() {
    let tmp = TempDir::new("identity");
    let made = Identity::load_or_create_hub(tmp.path()).unwrap();
    fs::remove_file(tmp.join(HUB_CERT_FILE)).unwrap();
    let again = Identity::load_or_create_hub(tmp.path()).unwrap();
    assert_eq!(again.fingerprint(), made.fingerprint());
    assert!(tmp.join(HUB_CERT_FILE).exists());
}

#[test]
fn a_hub_certificate_without_its_key_is_refused() {
    let tmp = TempDir::new("identity");
    Identity::load_or_create_hub(tmp.path()).unwrap();
    fs::remove_file(tmp.join(HUB_KEY_FILE)).unwrap();
    let err = Identity::load_or_create_hub(tmp.path()).unwrap_err();
    assert!(matches!(err, IdentityError::KeyMissing { .. }), "{err}");
    assert!(err.to_string().contains("restore the key"), "{err}");
    assert!(!tmp.join(HUB_KEY_FILE).exists(), "nothing is made over it");
}

#[test]
fn a_key_file_others_may_read_is_refused_with_the_chmod_to_run() {
    let tmp = TempDir::new("identity");
    Identity::load_or_create_hub(tmp.path()).unwrap();
    let key = tmp.join(HUB_KEY_FILE);
    for exposed in [0o640, 0o604, 0o644] {
        chmod(&key, exposed);
        let err = Identity::load_or_create_hub(tmp.path()).unwrap_err();
        assert!(
            matches!(err, IdentityError::Exposed { mode, .. } if mode == exposed),
            "{err}"
        );
        assert!(
            err.to_string()
                .contains(&format!("chmod 600 {}", key.display())),
            "{err}"
        );
    }
    chmod(&key, 0o400);
    Identity::load_or_create_hub(tmp.path()).unwrap();
}

#[test]
fn corrupt_files_are_refused_naming_the_file() {
    let tmp = TempDir::new("identity");
    Identity::load_or_create_hub(tmp.path()).unwrap();
    let cert = tmp.join(HUB_CERT_FILE);
    let key = tmp.join(HUB_KEY_FILE);
    let good_key = fs::read(&key).unwrap();
    let cases: [(&Path, &[u8]); 4] = [
        (&cert, b"not a certificate"),
        (
            &cert,
            b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        ),
        (
            &key,
            b"-----BEGIN PRIVATE KEY-----\n!!!\n-----END PRIVATE KEY-----\n",
        ),
        (&key, &[0xff, 0xfe, 0x00]),
    ];
    for (path, bytes) in cases {
        let before = fs::read(path).unwrap();
        fs::write(path, bytes).unwrap();
        let err = Identity::load_or_create_hub(tmp.path()).unwrap_err();
        assert!(matches!(err, IdentityError::Corrupt { .. }), "{err}");
        assert!(
            err.to_string().contains(&path.display().to_string()),
            "{err}"
        );
        fs::write(path, before).unwrap();
    }
    assert_eq!(fs::read(&key).unwrap(), good_key);
}

#[test]
fn a_certificate_of_another_key_is_refused() {
    let tmp = TempDir::new("identity");
    let (a, b) = (tmp.join("a"), tmp.join("b"));
    Identity::load_or_create_hub(&a).unwrap();
    Identity::load_or_create_hub(&b).unwrap();
    fs::copy(b.join(HUB_CERT_FILE), a.join(HUB_CERT_FILE)).unwrap();
    let err = Identity::load_or_create_hub(&a).unwrap_err();
    assert!(
        err.to_string()
            .contains("does not carry the private key's public key"),
        "{err}"
    );
}

#[test]
fn a_client_identity_is_one_private_file_made_once() {
    let tmp = TempDir::new("identity");
    let made = Identity::load_or_create_peer(tmp.path()).unwrap();
    let path = tmp.join(PEER_IDENTITY_FILE);
    assert_eq!(mode(&path), 0o600);
    let text = fs::read_to_string(&path).unwrap();
    assert!(text.contains("BEGIN PRIVATE KEY") && text.contains("BEGIN CERTIFICATE"));
    let again = Identity::load_or_create_peer(tmp.path()).unwrap();
    assert_eq!(again.fingerprint(), made.fingerprint());
    assert_ne!(
        made.fingerprint(),
        Identity::generate().unwrap().fingerprint()
    );
    assert!(format!("{made:?}").contains(&made.fingerprint().to_string()));
    assert!(
        !format!("{made:?}").contains("PRIVATE"),
        "Debug shows no key"
    );

    chmod(&path, 0o644);
    let err = Identity::load_or_create_peer(tmp.path()).unwrap_err();
    assert!(matches!(err, IdentityError::Exposed { .. }), "{err}");
    chmod(&path, 0o600);
    fs::write(&path, text.split("-----BEGIN CERTIFICATE").next().unwrap()).unwrap();
    let err = Identity::load_or_create_peer(tmp.path()).unwrap_err();
    assert!(err.to_string().contains("no certificate"), "{err}");
}
