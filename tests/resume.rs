//! End-to-end tests of fast session resumption: a client given its password once, on
//! stdin, logs back in to a restarted hub with the resume token of its login (no
//! password, no hash: the hub's `stats` counts it); `passwd`, `setpass` and `ban` revoke
//! tokens; a token of another hub, or past its `--resume-ttl`, is refused with 419 and
//! the client falls back to its password. The token never shows on stdout or in a log.

mod support;

use peerhub::proto::message::{Body, ClientMsg};
use peerhub::trust::Fingerprint;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;
use support::{check, users_of, Hub, Peer, Raw, RUN_TIMEOUT};

const SECS_10: Duration = Duration::from_secs(10);
/// The key a raw session announces at login (it serves no peer).
const KEY: Fingerprint = Fingerprint::from_bytes([0; 32]);

/// The texts of the hub's 419s (`server/hub/resumption.rs`).
const EXPIRED: &str = "resume token expired, log in with your password";
const REVOKED: &str =
    "resume token revoked (the password was changed or the account banned), log in with your password";
const INVALID: &str = "resume token not valid on this hub, log in with your password";

/// A raw session registered (if need be) and logged in as `user`: it and its token.
fn raw_login(hub: &Hub, user: &str, password: &str) -> (Raw, String) {
    let mut raw = Raw::connect_hello(hub.addr());
    let r = raw.request(&ClientMsg::Register {
        tag: 1,
        user: user.into(),
        password: password.into(),
    });
    assert!(matches!(r.status, 201 | 404), "register {user}: {r:?}");
    let r = raw.request(&ClientMsg::Login {
        tag: 2,
        user: user.into(),
        password: password.into(),
        peer_port: 40_000,
        fingerprint: KEY,
    });
    assert_eq!(r.status, 200, "login {user}: {r:?}");
    match r.body {
        Body::LoggedIn { token, .. } => (raw, token),
        other => panic!("no token in the login reply: {other:?}"),
    }
}

/// A fresh connection's `Resume` with `token`: the reply's status and message.
fn resume(hub: &Hub, token: &str) -> (u16, String) {
    let mut raw = Raw::connect_hello(hub.addr());
    let r = raw.request(&ClientMsg::Resume {
        tag: 3,
        token: token.into(),
        peer_port: 40_000,
        fingerprint: KEY,
    });
    (r.status, r.message)
}

/// Whether `text` holds a run of 100 hex digits or more: what a token looks like.
fn has_token_like(text: &str) -> bool {
    let mut run = 0;
    text.bytes().any(|b| {
        run = if b.is_ascii_hexdigit() { run + 1 } else { 0 };
        run >= 100
    })
}

/// The hub's count of logins with a resume token.
fn resumed_logins(hub: &mut Hub) -> u64 {
    let r = hub.run("stats");
    check(&r, 200, true);
    r["resumed_logins"]
        .as_u64()
        .unwrap_or_else(|| panic!("{r}"))
}

#[test]
fn a_client_given_its_password_once_resumes_after_a_hub_restart() {
    let mut hub = Hub::start(&[]);
    let addr = hub.addr();
    let secret = hub.data_dir().join("resume-secret");
    assert_eq!(
        fs::metadata(&secret).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(fs::read(&secret).unwrap().len(), 32);
    // The only time the password reaches the client: one line on stdin.
    let mut alice = Peer::logged_in(addr, "alice");
    fs::write(
        alice.share_dir().join("notes.txt"),
        b"kept across the restart",
    )
    .unwrap();
    check(&alice.run("publish notes.txt"), 202, true);
    let secret_bytes = fs::read(&secret).unwrap();

    hub.restart_same_addr(SECS_10);
    let r = alice.wait_event("reconnected", |_| true, SECS_10);
    assert_eq!(r["status"], 200, "{r}");
    assert_eq!(r["resumed"], true, "{r}");
    assert!(r.get("resume_refused").is_none(), "{r}");
    let login = hub.wait_event("login", |e| e["user"] == "alice", SECS_10);
    assert_eq!(login["resumed"], true, "{login}");
    assert_eq!(resumed_logins(&mut hub), 1, "no password was checked");
    assert_eq!(
        fs::read(&secret).unwrap(),
        secret_bytes,
        "the secret is kept"
    );

    // Back in for real: online, and its publications announced again.
    assert_eq!(users_of(&alice.run("users")), vec!["alice"]);
    let mut bob = Peer::logged_in(hub.addr(), "bob");
    let r = bob.run("search notes");
    check(&r, 200, true);
    assert_eq!(r["files"][0]["owners"][0], "alice", "{r}");
    assert_eq!(
        resumed_logins(&mut hub),
        1,
        "bob's password login is not one"
    );
    // The token is on no stdout and in no log.
    for line in alice.lines().to_vec() {
        assert!(!has_token_like(&line.to_string()), "{line}");
    }
    assert!(!has_token_like(&alice.stderr_tail()));
    assert!(!has_token_like(&hub.stderr_tail()));
}

#[test]
fn a_token_past_the_resume_ttl_is_refused_and_the_client_uses_its_password() {
    // --resume-ttl 0: every token has expired by the time it could be used.
    let mut hub = Hub::start(&["--resume-ttl", "0"]);
    let mut alice = Peer::logged_in(hub.addr(), "alice");
    let (_raw, token) = raw_login(&hub, "carol", "pw");
    assert_eq!(resume(&hub, &token), (419, EXPIRED.to_owned()));

    hub.restart_same_addr(SECS_10);
    let r = alice.wait_event("reconnected", |_| true, SECS_10);
    assert_eq!(r["status"], 200, "{r}");
    assert_eq!(r["resumed"], false, "{r}");
    assert_eq!(r["resume_refused"], EXPIRED, "{r}");
    assert_eq!(resumed_logins(&mut hub), 0);
    assert_eq!(users_of(&alice.run("users")), vec!["alice"]);
}

#[test]
fn passwd_and_a_ban_revoke_tokens_and_the_new_password_logs_back_in() {
    let mut hub = Hub::start(&["--auth-rate", "0"]);
    // On the wire: the token of a login before `passwd` is refused after it.
    let (mut carol, old) = raw_login(&hub, "carol", "pw");
    let r = carol.request(&ClientMsg::Passwd {
        tag: 4,
        old: "pw".into(),
        new: "pw2".into(),
    });
    assert_eq!(r.status, 200, "{r:?}");
    drop(carol);
    assert_eq!(resume(&hub, &old), (419, REVOKED.to_owned()));
    // A ban refuses as a password login would, and once lifted the token stays revoked.
    let (carol, token) = raw_login(&hub, "carol", "pw2");
    drop(carol);
    check(&hub.run("ban carol"), 200, true);
    let (status, text) = resume(&hub, &token);
    assert_eq!(status, 423, "{text}");
    check(&hub.run("unban carol"), 200, true);
    assert_eq!(resume(&hub, &token), (419, REVOKED.to_owned()));

    // The client: after its own passwd it reconnects with the new password.
    let mut alice = Peer::logged_in(hub.addr(), "alice");
    check(&alice.run("passwd pw pw2"), 200, true);
    hub.restart_same_addr(SECS_10);
    let r = alice.wait_event("reconnected", |_| true, SECS_10);
    assert_eq!(r["status"], 200, "{r}");
    assert_eq!(r["resumed"], false, "the revoked token was dropped: {r}");
    assert!(r.get("resume_refused").is_none(), "{r}");
    assert_eq!(resumed_logins(&mut hub), 0);
}

#[test]
fn setpass_on_the_console_revokes_a_clients_token() {
    let mut hub = Hub::start(&["--auth-rate", "0"]);
    let mut alice = Peer::logged_in(hub.addr(), "alice");
    check(&hub.run("setpass alice forgotten"), 200, true);
    hub.restart_same_addr(SECS_10);
    // The token is refused; the password it still knows is no longer the account's.
    let r = alice.wait_event("reconnected", |_| true, SECS_10);
    assert_eq!(r["status"], 402, "{r}");
    assert_eq!(r["resumed"], false, "{r}");
    assert_eq!(r["resume_refused"], REVOKED, "{r}");
    check(&alice.run("users"), 407, false);
    check(&alice.run("login alice forgotten"), 200, true);
    assert_eq!(resumed_logins(&mut hub), 0);
}

#[test]
fn a_token_is_taken_only_by_the_hub_that_made_it() {
    let mut hub = Hub::start(&[]);
    let (raw, token) = raw_login(&hub, "alice", "pw");
    drop(raw);
    // Another hub (its own data, so its own secret) with an account of the same name.
    let other = Hub::start(&[]);
    drop(raw_login(&other, "alice", "pw"));
    let (status, text) = resume(&other, &token);
    assert_eq!((status, text.as_str()), (419, INVALID));
    assert_eq!(resume(&other, "0123"), (419, INVALID.to_owned()));
    // Its own hub, restarted, takes it.
    hub.restart();
    let mut raw = Raw::connect_hello(hub.addr());
    let r = raw.request(&ClientMsg::Resume {
        tag: 3,
        token: token.clone(),
        peer_port: 40_000,
        fingerprint: KEY,
    });
    assert_eq!(r.status, 200, "{r:?}");
    assert!(matches!(&r.body, Body::LoggedIn { token: t, online: 1 } if *t == token));
    hub.wait_event(
        "login",
        |e| e["user"] == "alice" && e["resumed"] == true,
        RUN_TIMEOUT,
    );
    assert_eq!(resumed_logins(&mut hub), 1);
    assert!(!hub.stderr_tail().contains(&token));
}
