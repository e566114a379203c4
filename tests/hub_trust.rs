//! End-to-end tests of the client's trust in its hub over TLS (issue 12): the key
//! pinned on first use (`hub_key_pinned`), a hub with another key refused before a
//! byte of the session is sent (`hub_key_mismatch`, exit 1 — at start, on a
//! reconnect, and with `--serve`), `--hub-key` exact and refusing, and a plaintext side
//! meeting a TLS side failing at once with an error that names `--insecure-plaintext`.

mod support;

use std::fs;
use std::io::Read;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};
use support::{check, Hub, Peer, PeerOpts, Raw, TempDir};

const SECS_10: Duration = Duration::from_secs(10);
const SECS_20: Duration = Duration::from_secs(20);

/// The pins file of a share.
fn pins(share: &Path) -> String {
    fs::read_to_string(share.join(".peerhub-known-hubs")).unwrap_or_default()
}

/// A client on `hub` with the share `share` (kept by the caller across clients).
fn client(hub: SocketAddr, share: &Path, extra: &[&str]) -> Peer {
    let mut opts = PeerOpts::new(hub).args(extra);
    opts.share = Some(share.to_owned());
    Peer::spawn(opts)
}

/// A hub with a fresh data dir (so a fresh key) on exactly `addr`, once the port is free.
fn hub_on(addr: SocketAddr, extra: &[&str]) -> Hub {
    let deadline = Instant::now() + SECS_10;
    loop {
        match Hub::try_start_on(&addr.to_string(), extra) {
            Ok(hub) => return hub,
            Err(e) if Instant::now() >= deadline => panic!("no hub on {addr}: {e}"),
            // A retry interval while the old hub's port is let go, not a synchronisation.
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

#[test]
fn first_use_pins_the_hub_and_later_runs_trust_it_silently() {
    let mut hub = Hub::start(&[]);
    let fingerprint = hub.fingerprint();
    let dir = TempDir::new("share");
    let share = dir.subdir("share");
    let mut first = client(hub.addr(), &share, &[]);
    let pinned = first.wait_event("hub_key_pinned", |_| true, SECS_10);
    assert_eq!(pinned["addr"], hub.addr().to_string(), "{pinned}");
    assert_eq!(pinned["fingerprint"], fingerprint.as_str(), "{pinned}");
    check(&first.run("register ann pw"), 201, true);
    check(&first.run("login ann pw"), 200, true);
    assert_eq!(pins(&share), format!("{} {fingerprint}\n", hub.addr()));
    let status = first.run("status");
    assert_eq!(status["tls"], true, "{status}");
    assert_eq!(status["hub_key"], fingerprint.as_str(), "{status}");
    drop(first);
    let mut again = client(hub.addr(), &share, &[]);
    check(&again.run("login ann pw"), 200, true);
    assert!(again.events_named("hub_key_pinned").is_empty());
    assert_eq!(pins(&share), format!("{} {fingerprint}\n", hub.addr()));
}

#[test]
fn a_new_hub_key_on_a_pinned_address_is_refused_before_any_credential_is_sent() {
    let mut old = Hub::start(&[]);
    let addr = old.addr();
    let old_key = old.fingerprint();
    let dir = TempDir::new("share");
    let share = dir.subdir("share");
    let mut first = client(addr, &share, &[]);
    check(&first.run("register ann pw"), 201, true);
    drop(first);
    drop(old);
    let mut new = hub_on(addr, &[]);
    let new_key = new.fingerprint();
    assert_ne!(new_key, old_key);
    let mut second = client(addr, &share, &[]);
    second.send("register ann secret-password");
    let event = second.wait_event("hub_key_mismatch", |_| true, SECS_10);
    assert_eq!(event["addr"], addr.to_string(), "{event}");
    assert_eq!(event["expected"], old_key.as_str(), "{event}");
    assert_eq!(event["got"], new_key.as_str(), "{event}");
    let message = event["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("--hub-key {new_key}")),
        "{message}"
    );
    assert_eq!(second.expect_exit(SECS_10), 1);
    assert!(second.results().is_empty(), "{:?}", second.results());
    // Nothing of the session reached the new hub: the handshake itself failed, and no
    // account was made from the command the client was given.
    let r = new.run("users");
    check(&r, 200, true);
    assert_eq!(r["users"], serde_json::json!([]), "{r}");
    // Trusting the new key deliberately replaces the pin.
    let mut third = client(addr, &share, &["--hub-key", &new_key]);
    let pinned = third.wait_event("hub_key_pinned", |_| true, SECS_10);
    assert_eq!(pinned["fingerprint"], new_key.as_str(), "{pinned}");
    assert_eq!(pinned["replaced"], old_key.as_str(), "{pinned}");
    check(&third.run("register ann pw"), 201, true);
    assert_eq!(pins(&share), format!("{addr} {new_key}\n"));
}

#[test]
fn a_key_change_met_on_a_reconnect_ends_even_a_serving_client() {
    let old = Hub::start(&[]);
    let addr = old.addr();
    let dir = TempDir::new("share");
    let share = dir.subdir("share");
    let mut peer = client(addr, &share, &["--serve"]);
    check(&peer.run("register ann pw"), 201, true);
    check(&peer.run("login ann pw"), 200, true);
    drop(old);
    peer.wait_event("disconnected", |_| true, SECS_10);
    let _new = hub_on(addr, &[]);
    let event = peer.wait_event("hub_key_mismatch", |_| true, SECS_20);
    assert_eq!(event["addr"], addr.to_string(), "{event}");
    assert_eq!(peer.expect_exit(SECS_10), 1);
}

#[test]
fn hub_key_is_exact_and_writes_no_pin() {
    let mut hub = Hub::start(&[]);
    let fingerprint = hub.fingerprint();
    let dir = TempDir::new("share");
    let share = dir.subdir("share");
    let mut right = client(hub.addr(), &share, &["--hub-key", &fingerprint]);
    check(&right.run("register ann pw"), 201, true);
    assert!(right.events_named("hub_key_pinned").is_empty());
    drop(right);
    assert_eq!(pins(&share), "");
    let wrong = format!("sha256:{}", "ab".repeat(32));
    let mut refused = client(hub.addr(), &share, &["--hub-key", &wrong]);
    refused.send("login ann pw");
    let event = refused.wait_event("hub_key_mismatch", |_| true, SECS_10);
    assert_eq!(event["expected"], wrong.as_str(), "{event}");
    assert_eq!(event["got"], fingerprint.as_str(), "{event}");
    assert_eq!(refused.expect_exit(SECS_10), 1);
    assert_eq!(pins(&share), "");
    let (code, stderr) = support::start_fails(&["client", "--hub-key", "sha256:12"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("--hub-key"), "{stderr}");
}

#[test]
fn plaintext_meeting_tls_fails_at_once_naming_the_flag() {
    let tls_hub = Hub::start(&[]);
    let mut plain_client = Peer::spawn(
        PeerOpts {
            wait_listening: false,
            ..PeerOpts::new(tls_hub.addr())
        }
        .args(&["--insecure-plaintext"]),
    );
    let lost = plain_client.wait_event("disconnected", |_| true, SECS_10);
    let reason = lost["reason"].as_str().unwrap();
    assert!(reason.contains("--insecure-plaintext"), "{reason}");
    assert!(reason.contains("speaks TLS"), "{reason}");
    assert_eq!(plain_client.expect_exit(SECS_10), 1);

    let plain_hub = Hub::start(&["--insecure-plaintext"]);
    let mut tls_client = Peer::spawn(PeerOpts {
        wait_listening: false,
        ..PeerOpts::new(plain_hub.addr())
    });
    let lost = tls_client.wait_event("disconnected", |_| true, SECS_10);
    let reason = lost["reason"].as_str().unwrap();
    assert!(reason.contains("--insecure-plaintext"), "{reason}");
    assert!(reason.contains("plaintext"), "{reason}");
    assert_eq!(tls_client.expect_exit(SECS_10), 1);
    // Both hubs carry on.
    let mut a = Peer::start(tls_hub.addr(), &[]);
    check(&a.run("register a pw"), 201, true);
    let mut b = Peer::start(plain_hub.addr(), &["--insecure-plaintext"]);
    check(&b.run("register b pw"), 201, true);
}

#[test]
fn garbage_below_tls_and_an_unfinished_handshake_are_closed_while_others_carry_on() {
    let hub = Hub::start(&["--hello-timeout", "1"]);
    let mut ok = Raw::connect_hello(hub.addr());
    // A record header of a ClientHello, then garbage.
    let mut garbage = Raw::connect_plain(hub.addr());
    let mut bytes = vec![0x16, 0x03, 0x01, 0x00, 0x40];
    bytes.extend(support::random_bytes(64, 7));
    garbage.send(&bytes).unwrap();
    garbage.expect_closed(SECS_10);
    // A plaintext hello to the TLS port: closed (the hub's alert, then nothing).
    let mut plain = Raw::connect_plain(hub.addr());
    plain.send(&support::hello_bytes()).unwrap();
    let mut answer = Vec::new();
    let mut socket = plain.socket();
    socket.set_read_timeout(Some(SECS_10)).unwrap();
    socket
        .read_to_end(&mut answer)
        .expect("closed before the timeout");
    // At most a TLS alert record (type 21), never a welcome.
    assert!(
        answer.is_empty() || answer.starts_with(&[0x15, 0x03]),
        "{answer:?}"
    );
    // Half a handshake, then silence: the hello deadline covers the handshake.
    let mut stalled = Raw::connect_plain(hub.addr());
    stalled.send(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01]).unwrap();
    stalled.expect_closed(SECS_10);
    // The well-behaved connection is still served.
    ok.send(&support::tagged(support::kind::ECHO, 9)).unwrap();
    let f = ok.read_frame(SECS_10).expect("echo reply");
    assert_eq!(support::decode_reply(&f), Some((9, 200)));
}
