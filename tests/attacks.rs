//! Adversarial end-to-end tests of fairness (issue 10, items 3, 8, 11, 14, 16): an
//! attacker on one socket or one account must not hold up honest users, and each
//! limit refuses the N+1st attempt. They assert order and progress, not seconds, and
//! prove limits with small flags.

mod support;

use peerhub::proto::message::{Body, ClientMsg};
use std::time::Duration;
use support::{frame, Hub, Peer, Raw};

const SECS_10: Duration = Duration::from_secs(10);

fn register(tag: u32, user: &str, password: &str) -> ClientMsg {
    ClientMsg::Register {
        tag,
        user: user.into(),
        password: password.into(),
    }
}

fn login(tag: u32, user: &str, password: &str) -> ClientMsg {
    ClientMsg::Login {
        tag,
        user: user.into(),
        password: password.into(),
        peer_port: 4000,
    }
}

/// A `retry_after` that is a whole number of seconds within the one-minute window.
fn assert_retry_after(result: &serde_json::Value) {
    let secs = result["retry_after"]
        .as_u64()
        .unwrap_or_else(|| panic!("a 429 without a numeric retry_after: {result}"));
    assert!((1..=60).contains(&secs), "{result}");
}

#[test]
fn fifty_users_behind_one_address_register_and_log_in_on_default_flags() {
    let hub = Hub::start(&[]);
    let mut conns: Vec<Raw> = (0..50).map(|_| Raw::connect_hello(hub.addr())).collect();
    for (i, raw) in conns.iter_mut().enumerate() {
        let user = format!("pupil{i}");
        let r = raw.request(&register(1, &user, "pw"));
        assert_eq!(r.status, 201, "registration {i}: {}", r.message);
        let r = raw.request(&login(2, &user, "pw"));
        assert_eq!(r.status, 200, "login {i}: {}", r.message);
    }
}

#[test]
fn a_flood_of_undecodable_frames_writes_a_bounded_log() {
    let mut hub = Hub::start(&[]);
    let mut raw = Raw::connect_hello(hub.addr());
    // 1 MB of frames with an unknown type byte: each one is a 400 and a warning.
    let bad = frame(&[0xEE, 0, 0, 0, 1]);
    let burst: Vec<u8> = bad
        .iter()
        .copied()
        .cycle()
        .take(bad.len() * 10_000)
        .collect();
    let before = hub.stderr_len();
    for _ in 0..10 {
        raw.send(&burst).expect("send the flood");
    }
    // Wait until the hub has answered the lot (the last of 100,000 400s arrives).
    let mut answered = 0;
    while answered < 100_000 {
        match raw.read_frame(SECS_10) {
            Ok(_) => answered += 1,
            Err(e) => panic!("after {answered} replies: {e:?}"),
        }
    }
    let grown = hub.stderr_len() - before;
    assert!(
        grown < 16 * 1024,
        "1 MB of bad frames made {grown} bytes of log:\n{}",
        hub.stderr_tail()
    );
    hub.assert_clean();
}

#[test]
fn the_n_plus_first_wrong_password_for_one_account_gets_429_with_retry_after() {
    let hub = Hub::start(&["--account-auth-rate", "3", "--auth-rate", "0"]);
    let mut owner = Raw::connect_hello(hub.addr());
    assert_eq!(owner.request(&register(1, "alice", "secret")).status, 201);
    let mut attacker = Peer::start(hub.addr(), &[]);
    for i in 0..3 {
        let r = attacker.run("login alice guess");
        assert_eq!(r["status"], 402, "attempt {i}: {r}");
    }
    let r = attacker.run("login alice secret");
    assert_eq!(r["status"], 429, "{r}");
    assert_retry_after(&r);
}

#[test]
fn every_password_check_counts_against_the_hash_rate() {
    let hub = Hub::start(&["--hash-rate", "6"]);
    let mut peer = Peer::start(hub.addr(), &[]);
    // A registration and a login: two hashes; each passwd (old = new): two more.
    peer.register_login("alice", "pw");
    for i in 0..2 {
        let r = peer.run("passwd pw pw");
        assert_eq!(r["status"], 200, "passwd {i}: {r}");
    }
    let r = peer.run("passwd pw pw");
    assert_eq!(r["status"], 429, "{r}");
    assert_retry_after(&r);
    // The refusal is in the reply body on the wire too.
    let mut raw = Raw::connect_hello(hub.addr());
    let r = raw.request(&login(1, "alice", "pw"));
    assert_eq!(r.status, 429);
    assert!(matches!(r.body, Body::RetryAfter(1..=60)), "{:?}", r.body);
}
