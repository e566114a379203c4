//! End-to-end tests of the hub's identity: its key and certificate made on first start
//! and reused, `--identity DIR` shared by several hubs, the fingerprint in the
//! `listening` event and in `stats`, and a bad identity refused at start-up.

mod support;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use support::{check, start_fails, Hub, TempDir};

/// `sha256:` and 64 lowercase hex digits.
fn is_fingerprint(text: &str) -> bool {
    text.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    })
}

fn mode_of(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn a_fresh_hub_makes_its_identity_and_keeps_it_across_restarts() {
    let mut hub = Hub::start(&[]);
    let data = hub.data_dir();
    let fingerprint = hub.fingerprint();
    assert!(is_fingerprint(&fingerprint), "{fingerprint}");
    let key = data.join("hub-key.pem");
    assert_eq!(mode_of(&key), 0o600);
    assert!(data.join("hub-cert.pem").is_file());
    let r = hub.run("stats");
    check(&r, 200, true);
    assert_eq!(r["fingerprint"], fingerprint.as_str(), "{r}");
    let key_pem = fs::read(&key).unwrap();
    hub.restart();
    assert_eq!(hub.fingerprint(), fingerprint);
    assert_eq!(fs::read(&key).unwrap(), key_pem, "the key was made again");
}

#[test]
fn hubs_given_one_identity_dir_share_a_fingerprint_and_others_differ() {
    let dir = TempDir::new("identity");
    // Not there yet: the first hub creates it.
    let shared = dir.path().join("keys").join("hub");
    let shared_arg = shared.to_str().unwrap();
    let mut first = Hub::start(&["--identity", shared_arg]);
    let mut second = Hub::start(&["--identity", shared_arg]);
    let fingerprint = first.fingerprint();
    assert!(is_fingerprint(&fingerprint), "{fingerprint}");
    assert_eq!(second.fingerprint(), fingerprint);
    assert_eq!(mode_of(&shared.join("hub-key.pem")), 0o600);
    assert!(!first.data_dir().join("hub-key.pem").exists());
    let r = second.run("stats");
    assert_eq!(r["fingerprint"], fingerprint.as_str(), "{r}");
    let mut own = Hub::start(&[]);
    let mut other = Hub::start(&[]);
    assert_ne!(own.fingerprint(), other.fingerprint());
    assert_ne!(own.fingerprint(), fingerprint);
}

/// Start a hub on `data` (its identity there too); it must refuse to start (exit 1, as for a bad `--data`),
/// naming the hub identity and each of `names` on stderr.
#[track_caller]
fn refused(data: &Path, names: &[&str]) {
    let (code, err) = start_fails(&[
        "server",
        "--listen",
        "127.0.0.1:0",
        "--data",
        data.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("peerhub: hub identity: "), "{err}");
    for name in names {
        assert!(err.contains(name), "{name} not in {err}");
    }
}

#[test]
fn a_bad_identity_is_a_start_up_error_that_says_what_to_do() {
    // Made by a hub that ran, in a directory that outlives it, then a hub's data.
    let data = TempDir::new("bad-identity");
    let data = data.path();
    drop(Hub::start(&["--identity", data.to_str().unwrap()]));
    let key = data.join("hub-key.pem");
    let cert = data.join("hub-cert.pem");
    let key_pem = fs::read(&key).unwrap();

    fs::set_permissions(&key, fs::Permissions::from_mode(0o644)).unwrap();
    refused(data, &[key.to_str().unwrap(), "0644", "chmod 600"]);
    assert_eq!(
        fs::read(&key).unwrap(),
        key_pem,
        "an exposed key was replaced"
    );

    fs::write(&key, b"not a key").unwrap();
    fs::set_permissions(&key, fs::Permissions::from_mode(0o600)).unwrap();
    refused(data, &[key.to_str().unwrap(), "no private key"]);

    fs::remove_file(&key).unwrap();
    refused(data, &[cert.to_str().unwrap(), "missing"]);
    assert!(!key.exists(), "a key was made for a certificate");
}
