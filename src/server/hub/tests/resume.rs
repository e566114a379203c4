//! Tests of logins with a resume token, on simulated wall-clock time: the token of a
//! login reply logs in again without a password check, until it expires, until the
//! password changes or the account is banned or deleted; forged, foreign and garbage
//! tokens are refused and counted against the address.

use super::*;
use crate::server::hub::resumption::{EXPIRED, INVALID, REVOKED};
use crate::server::persist::Ask;
use crate::server::resume::{self, Claims};
use crate::trust::ResumeSecret;

/// The wall clock (Unix seconds) the tests log in at.
const WALL: u64 = 1_700_000_000;

/// A hub at [`WALL`] with the default 12-hour `--resume-ttl`.
fn hub() -> TestHub {
    let mut hub = test_hub(HubConfig {
        auth_rate: 0,
        ..HubConfig::default()
    });
    hub.begin_turn(base(), WALL);
    hub
}

/// The resume token of the last login reply to `conn`.
fn token_of(conn: ConnId, out: &[Action]) -> String {
    replies(conn, out)
        .into_iter()
        .rev()
        .find_map(|(_, _, body)| match body {
            Body::LoggedIn { token, .. } => Some(token),
            _ => None,
        })
        .expect("a login reply with a token")
}

/// `alice` registered and logged in on connection 1, then gone: her token.
fn alice_gone(hub: &mut TestHub) -> String {
    let out = join(hub, 1, "alice", base());
    let token = token_of(1, &out);
    hub.on_disconnect(1, "gone", base(), &mut Vec::new());
    token
}

fn resume_msg(tag: u32, token: &str) -> ClientMsg {
    ClientMsg::Resume {
        tag,
        token: token.into(),
        peer_port: 4001,
        fingerprint: key_of("alice"),
    }
}

/// Connection `conn` says hello and resumes with `token`: the (status, text) of the
/// reply, and everything the hub did.
fn resume_on(hub: &mut TestHub, conn: ConnId, token: &str) -> ((u16, String), Vec<Action>) {
    let mut out = hello(hub, conn, base());
    hub.on_message(conn, resume_msg(9, token), base(), &mut out);
    let (status, text, _) = replies(conn, &out).pop().expect("a reply");
    ((status, text), out)
}

#[test]
fn a_token_logs_in_again_without_a_password_check() {
    let mut hub = hub();
    let token = alice_gone(&mut hub);
    hub.begin_turn(base(), WALL);
    // What the hub asks the backend: the account's standing, no password check.
    let mut out = hello(&mut hub, 2, base());
    hub.hub
        .on_message(2, resume_msg(9, &token), base(), &mut out);
    assert!(
        matches!(out.last(), Some(Action::Persist(_, ask)) if matches!(&**ask, Ask::Standing { name } if name == "alice")),
        "{out:?}"
    );
    hub.settle(&mut out, 0, base());
    let (status, text, body) = replies(2, &out).pop().unwrap();
    assert_eq!(
        (status, text.as_str()),
        (200, "logged in as alice; 1 online")
    );
    assert_eq!(
        body,
        Body::LoggedIn {
            online: 1,
            token: token.clone()
        },
        "the same token: a resume does not extend it"
    );
    assert_eq!(hub.hashes_this_turn, 0);
    assert_eq!(hub.counters.resumed_logins, 1);
    assert_eq!(hub.online.get("alice"), Some(&2));
    assert_eq!(hub.sessions.get(&2).unwrap().peer_port, 4001);
    assert_eq!(hub.key_of(2), Some(key_of("alice")), "the key it announced");
    let login = out
        .iter()
        .find_map(|a| match a {
            Action::Event(e) if e.name == "login" => Some(e),
            _ => None,
        })
        .unwrap();
    assert_eq!(login.fields["resumed"], true);
    assert!(!login.human.contains(&token), "{}", login.human);
    let r = console_at(&mut hub, "stats", base(), &mut Vec::new());
    assert_eq!(r.fields["resumed_logins"], 1);
}

#[test]
fn a_token_expires_after_the_resume_ttl() {
    let mut hub = hub();
    let token = alice_gone(&mut hub);
    let ttl = HubConfig::default().resume_ttl.as_secs();
    hub.begin_turn(base(), WALL + ttl);
    let (said, _) = resume_on(&mut hub, 2, &token);
    assert_eq!(said, (419, EXPIRED.to_owned()));
    hub.begin_turn(base(), WALL + ttl - 1);
    let (said, _) = resume_on(&mut hub, 3, &token);
    assert_eq!(said.0, 200, "{said:?}");
    // A hub restarted with a shorter --resume-ttl refuses tokens that outlive it.
    hub.on_disconnect(3, "gone", base(), &mut Vec::new());
    hub.config.resume_ttl = Duration::from_secs(60);
    hub.begin_turn(base(), WALL);
    let (said, _) = resume_on(&mut hub, 4, &token);
    assert_eq!(said, (419, EXPIRED.to_owned()));
}

#[test]
fn forged_foreign_and_garbage_tokens_are_refused_and_counted() {
    let mut hub = test_hub(HubConfig {
        auth_rate: 3,
        ..HubConfig::default()
    });
    hub.begin_turn(base(), WALL);
    let token = alice_gone(&mut hub);
    let claims = Claims {
        user: "alice".into(),
        version: 0,
        expires: WALL + 60,
    };
    let foreign = resume::mint(&ResumeSecret::from_bytes([7; 32]), &claims);
    let mut altered = token.clone().into_bytes();
    let last = altered.len() - 1;
    altered[last] = if altered[last] == b'0' { b'1' } else { b'0' };
    let altered = String::from_utf8(altered).unwrap();
    for (conn, bad) in [(2, foreign.as_str()), (3, &altered), (4, "not a token")] {
        let (said, out) = resume_on(&mut hub, conn, bad);
        assert_eq!(said, (419, INVALID.to_owned()), "{bad}");
        assert!(!out.iter().any(|a| matches!(a, Action::Persist(..))));
    }
    // The address spent its failures: even the right token waits now.
    let (said, _) = resume_on(&mut hub, 5, &token);
    assert_eq!(said.0, 429, "{said:?}");
    assert_eq!(hub.online_count(), 0);
    assert_eq!(hub.counters.resumed_logins, 0);
}

#[test]
fn passwd_and_setpass_revoke_tokens_and_the_new_login_gets_a_new_one() {
    let mut hub = hub();
    let out = join(&mut hub, 1, "alice", base());
    let first = token_of(1, &out);
    let passwd = ClientMsg::Passwd {
        tag: 5,
        old: "pw".into(),
        new: "pw2".into(),
    };
    let mut out = Vec::new();
    hub.on_message(1, passwd, base(), &mut out);
    assert_eq!(status_of(1, &out), [200]);
    hub.on_disconnect(1, "gone", base(), &mut Vec::new());
    let (said, _) = resume_on(&mut hub, 2, &first);
    assert_eq!(said, (419, REVOKED.to_owned()));
    // The password logs in, and its token resumes.
    let mut out = Vec::new();
    let login = ClientMsg::Login {
        tag: 6,
        user: "alice".into(),
        password: "pw2".into(),
        peer_port: 4000,
        fingerprint: key_of("alice"),
    };
    hub.on_message(2, login, base(), &mut out);
    let second = token_of(2, &out);
    assert_ne!(second, first);
    hub.on_disconnect(2, "gone", base(), &mut Vec::new());
    let (said, _) = resume_on(&mut hub, 3, &second);
    assert_eq!(said.0, 200);
    // The operator's setpass revokes it in turn; the session goes on meanwhile.
    let r = console_at(&mut hub, "setpass alice pw3", base(), &mut Vec::new());
    assert!(r.ok, "{r:?}");
    assert!(hub.logged_in(3));
    hub.on_disconnect(3, "gone", base(), &mut Vec::new());
    let (said, _) = resume_on(&mut hub, 4, &second);
    assert_eq!(said, (419, REVOKED.to_owned()));
}

#[test]
fn a_ban_refuses_as_a_password_login_and_revokes_for_good() {
    let mut hub = hub();
    let token = alice_gone(&mut hub);
    let r = console_at(&mut hub, "ban alice 10", base(), &mut Vec::new());
    assert!(r.ok, "{r:?}");
    let (said, _) = resume_on(&mut hub, 2, &token);
    assert_eq!(
        said,
        (
            423,
            "account alice is banned for 10 more minute(s)".to_owned()
        )
    );
    // Once the ban is over (or lifted) the old token stays revoked.
    hub.begin_turn(base(), WALL + 600);
    let (said, _) = resume_on(&mut hub, 3, &token);
    assert_eq!(said, (419, REVOKED.to_owned()));
}

#[test]
fn a_deleted_account_is_refused_and_its_name_registered_again_takes_no_old_token() {
    let mut hub = hub();
    let token = alice_gone(&mut hub);
    let r = console_at(&mut hub, "deluser alice", base(), &mut Vec::new());
    assert!(r.ok, "{r:?}");
    let (said, _) = resume_on(&mut hub, 2, &token);
    assert_eq!(said, (401, "no such account".to_owned()));
    hub.on_disconnect(2, "gone", base(), &mut Vec::new());
    let out = join(&mut hub, 3, "alice", base());
    assert_eq!(status_of(3, &out), [201, 200]);
    hub.on_disconnect(3, "gone", base(), &mut Vec::new());
    let (said, _) = resume_on(&mut hub, 4, &token);
    assert_eq!(said, (419, REVOKED.to_owned()));
}

#[test]
fn a_resume_waits_on_the_ghost_check_of_the_session_it_replaces() {
    let mut hub = hub();
    let out = join(&mut hub, 1, "alice", base());
    let token = token_of(1, &out);
    // Connection 1 went silent without closing; connection 2 resumes.
    let (said, _) = resume_on(&mut hub, 2, "");
    assert_eq!(said.0, 419);
    let mut out = Vec::new();
    hub.on_message(2, resume_msg(10, &token), base(), &mut out);
    assert!(ping_nonce(1, &out).is_some(), "the old session is checked");
    assert!(status_of(2, &out).is_empty());
    let later = base() + HubConfig::default().ping_timeout + Duration::from_millis(1);
    let out = fire(&mut hub, 1, later);
    assert_eq!(status_of(2, &out), [200]);
    assert_eq!(token_of(2, &out), token);
    assert_eq!(hub.counters.resumed_logins, 1);
    // Logged in, another resume is refused as a second login would be.
    let mut out = Vec::new();
    hub.on_message(2, resume_msg(11, &token), later, &mut out);
    assert_eq!(
        replies(2, &out).pop().map(|(s, t, _)| (s, t)),
        Some((403, "already logged in as alice".to_owned()))
    );
}
