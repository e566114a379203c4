//! End-to-end tests of announced peer addresses (issue 10, item 15): a login may not
//! announce the hub's own address, and a fetcher sent to an address where something
//! else than the named holder answers (another user's client, a hub) fails with the
//! real cause, without reporting the holder: 421 when the listener's key is not the
//! one the hub vouches for (issue 12), 502 when it is but another user answers.

mod support;

use peerhub::proto::message::{ClientMsg, FileInfo};
use peerhub::trust::Fingerprint;
use serde_json::Value;
use std::fs;
use std::time::Duration;
use support::fetcher;
use support::{check, random_bytes, Hub, Peer, Raw};

const SECS_20: Duration = Duration::from_secs(20);

/// Send a fetch line and wait for its result.
fn fetch(peer: &mut Peer, line: &str) -> Value {
    let id = peer.send(line);
    peer.wait_result(id, SECS_20)
}

/// A raw session of `user` that announces `peer_port` and `key`, and publishes `name`
/// (with a made-up size and hash).
fn announcing(hub: &Hub, user: &str, peer_port: u16, key: Fingerprint, name: &str) -> Raw {
    let mut raw = fetcher::login_announcing(hub.addr(), user, peer_port, key);
    publish_on(&mut raw, name);
    raw
}

/// Publish `name` on `raw` (with a made-up size and hash).
fn publish_on(raw: &mut Raw, name: &str) {
    let r = raw.request(&ClientMsg::Publish {
        tag: 3,
        file: FileInfo {
            name: name.into(),
            size: 1000,
            hash: [7; 32],
        },
        replace: false,
    });
    assert_eq!(r.status, 202, "{r:?}");
}

fn message(r: &Value) -> &str {
    r["message"].as_str().unwrap_or_default()
}

#[test]
fn a_login_announcing_the_hubs_own_port_is_refused() {
    let hub = Hub::start(&[]);
    let mut raw = Raw::connect_hello(hub.addr());
    let r = raw.request(&ClientMsg::Register {
        tag: 1,
        user: "carol".into(),
        password: "pw".into(),
    });
    assert_eq!(r.status, 201, "{r:?}");
    let port = hub.addr().port();
    let r = raw.request(&ClientMsg::Login {
        tag: 2,
        user: "carol".into(),
        password: "pw".into(),
        peer_port: port,
        fingerprint: peerhub::trust::Fingerprint::from_bytes([0; 32]),
    });
    assert_eq!(r.status, 400, "{r:?}");
    assert!(
        r.message
            .starts_with(&format!("peer_port {port} is the hub's own address")),
        "{r:?}"
    );
    // The connection stays, and a real peer port is taken.
    let r = raw.request(&ClientMsg::Login {
        tag: 3,
        user: "carol".into(),
        password: "pw".into(),
        peer_port: port.wrapping_add(1).max(1),
        fingerprint: peerhub::trust::Fingerprint::from_bytes([0; 32]),
    });
    assert_eq!(r.status, 200, "{r:?}");
}

#[test]
fn a_user_announcing_another_users_listener_is_named_as_the_cause() {
    let hub = Hub::start(&[]);
    let mut bob = Peer::logged_in(hub.addr(), "bob");
    let data = random_bytes(64 * 1024, 15);
    fs::write(bob.share_dir().join("doc.pdf"), &data).unwrap();
    check(&bob.run("publish doc.pdf"), 202, true);
    // carol, from the same address, announces bob's peer listener as hers, and bob's
    // key (any user may read it in a lookup): the TLS handshake passes, bob's client
    // refuses her ticket, and its answer names bob.
    let bob_key = fingerprint_of(&mut bob);
    let _carol = announcing(&hub, "carol", bob.addr().port(), bob_key, "doc.pdf");
    let mut alice = Peer::logged_in(hub.addr(), "alice");

    let r = fetch(&mut alice, "fetch doc.pdf --from carol");
    check(&r, 502, false);
    assert_eq!(
        message(&r),
        format!("{} is not carol's client (it answers as bob)", bob.addr()),
        "{r}"
    );
    assert!(!alice.share_dir().join("doc.pdf").exists());
    // Nobody was reported: the hub logged no report, and bob still serves it.
    let r = fetch(&mut alice, "fetch doc.pdf --from bob");
    check(&r, 205, true);
    assert_eq!(fs::read(alice.share_dir().join("doc.pdf")).unwrap(), data);
    assert!(
        !hub.stderr_tail().contains("reports that"),
        "{}",
        hub.stderr_tail()
    );
    // carol stays offered, and still fails the same way (a report would have demoted her).
    let r = fetch(&mut alice, "fetch doc.pdf --from carol --as again.pdf");
    check(&r, 502, false);
    assert!(message(&r).contains("is not carol's client"), "{r}");
}

#[test]
fn a_holder_announced_at_a_hubs_address_is_said_to_be_a_hub() {
    // Plaintext all along: a plaintext hub answers a peer `Get` with a Bye the fetcher
    // can read.
    let hub = Hub::start(&["--insecure-plaintext"]);
    let other = Hub::start(&["--insecure-plaintext"]);
    // Announcing this hub's port is refused; another hub's is not this hub's to know.
    let mut plain = Raw::connect_plain(hub.addr());
    plain.hello();
    let key = Fingerprint::from_bytes([0; 32]);
    let mut carol = fetcher::login_on(plain, "carol", other.addr().port(), key);
    publish_on(&mut carol, "song.mp3");
    let mut alice = Peer::start(hub.addr(), &["--insecure-plaintext"]);
    alice.register_login("alice", "pw");
    let r = fetch(&mut alice, "fetch song.mp3");
    check(&r, 502, false);
    assert_eq!(
        message(&r),
        format!("{} is a peerhub hub, not carol's client", other.addr()),
        "{r}"
    );
}

#[test]
fn over_tls_a_hub_at_a_holders_address_shows_a_key_that_is_not_the_holders() {
    let hub = Hub::start(&[]);
    let mut other = Hub::start(&[]);
    let key = Fingerprint::from_bytes([0; 32]);
    let _carol = announcing(&hub, "carol", other.addr().port(), key, "song.mp3");
    let mut alice = Peer::logged_in(hub.addr(), "alice");
    let r = fetch(&mut alice, "fetch song.mp3");
    check(&r, 421, false);
    let want = format!(
        "that address is not carol's client: {} shows the key {}",
        other.addr(),
        other.fingerprint()
    );
    assert!(message(&r).starts_with(&want), "{r}");
}

/// The fingerprint `peer`'s `status` shows.
fn fingerprint_of(peer: &mut Peer) -> Fingerprint {
    peer.run("status")["fingerprint"]
        .as_str()
        .and_then(|f| f.parse().ok())
        .expect("a fingerprint in status")
}
