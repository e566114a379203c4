//! The hub's key from the welcome, and the login again after a reconnect: with the
//! resume token of the last login (no password sent), the password when the hub
//! refuses the token, nothing after a kick.

use super::super::tests::{logged_in, reply, sent, session, type_line};
use super::*;
use crate::proto::message::{Body, HubMsg};
use crate::trust::Identity;

/// The link lost and made again: the hub's welcome on the new connection.
fn reconnect(s: &mut Session) -> Vec<Action> {
    let now = Instant::now();
    s.on_lost("gone", now, &mut Vec::new());
    let mut out = Vec::new();
    s.on_timer(now + MAX_BACKOFF, &mut out);
    assert_eq!(out, [Action::Connect]);
    welcome(s, &[])
}

/// The `reconnected` event in `out`.
fn reconnected(out: &[Action]) -> &Event {
    out.iter()
        .find_map(|a| match a {
            Action::Event(e) if e.name == "reconnected" => Some(e),
            _ => None,
        })
        .expect("a reconnected event")
}

/// A reply to `tag` with `status`, `text` and `body`.
fn answer(s: &mut Session, tag: u32, status: Status, text: &str, body: Body) -> Vec<Action> {
    let msg = HubMsg::Reply {
        tag,
        status,
        message: text.into(),
        body,
    };
    let mut out = Vec::new();
    s.on_message(msg, Instant::now(), &mut out);
    out
}

#[test]
fn a_reconnect_logs_in_with_the_token_and_sends_no_password() {
    let mut s = logged_in(false);
    let out = reconnect(&mut s);
    let tag = match sent(&out).as_slice() {
        [ClientMsg::Resume {
            tag,
            token,
            peer_port,
            fingerprint,
        }] if token == "t0" && *peer_port == 4000 && *fingerprint == s.config.fingerprint => *tag,
        other => panic!("{other:?}"),
    };
    let body = Body::LoggedIn {
        online: 2,
        token: "t0".into(),
    };
    let out = answer(&mut s, tag, Status::OK, "logged in as me; 2 online", body);
    let e = reconnected(&out);
    assert_eq!(e.fields["status"], 200);
    assert_eq!(e.fields["resumed"], true);
    assert!(!e.fields.contains_key("resume_refused"));
    assert!(!e.human.contains("t0") && !format!("{:?}", e.fields).contains("t0"));
    assert!(
        out.contains(&Action::CheckPublished),
        "publications go again"
    );
    assert_eq!(s.user(), Some("me"));
}

#[test]
fn a_refused_token_falls_back_to_the_password_and_says_why() {
    let mut s = logged_in(false);
    let out = reconnect(&mut s);
    let tag = sent(&out)[0].tag().unwrap();
    let why = "resume token expired, log in with your password";
    let out = answer(&mut s, tag, Status::TOKEN_REFUSED, why, Body::None);
    let tag = match sent(&out).as_slice() {
        [ClientMsg::Login {
            tag,
            user,
            password,
            ..
        }] if user == "me" && password == "pw" => *tag,
        other => panic!("{other:?}"),
    };
    assert!(
        !out.iter().any(|a| matches!(a, Action::Event(_))),
        "{out:?}"
    );
    assert_eq!(s.sync_gate, 1, "the password login holds the gate");
    let body = Body::LoggedIn {
        online: 1,
        token: "t1".into(),
    };
    let out = answer(&mut s, tag, Status::OK, "logged in as me; 1 online", body);
    let e = reconnected(&out);
    assert_eq!(e.fields["resumed"], false);
    assert_eq!(e.fields["resume_refused"], why);
    assert!(e.human.contains(why), "{}", e.human);
    // The new login's token is the next reconnect's.
    let out = reconnect(&mut s);
    assert!(matches!(sent(&out).as_slice(), [ClientMsg::Resume { token, .. }] if token == "t1"));
}

#[test]
fn a_resume_refused_for_another_reason_is_reported_as_a_login_would_be() {
    let mut s = logged_in(false);
    let out = reconnect(&mut s);
    let tag = sent(&out)[0].tag().unwrap();
    let why = "account me is banned for 5 more minute(s)";
    let out = answer(&mut s, tag, Status::BANNED, why, Body::None);
    assert!(sent(&out).is_empty(), "no password login after a 423");
    let e = reconnected(&out);
    assert_eq!(e.fields["status"], 423);
    assert_eq!(e.fields["resumed"], false);
    assert_eq!(s.user(), None);
    assert_eq!(s.sync_gate, 0);
}

#[test]
fn passwd_drops_the_token_it_revoked_and_a_kick_drops_everything() {
    let mut s = logged_in(false);
    let out = type_line(&mut s, 2, "passwd pw new");
    let tag = sent(&out)[0].tag().unwrap();
    reply(&mut s, tag, Status::OK, Body::None);
    let out = reconnect(&mut s);
    match sent(&out).as_slice() {
        [ClientMsg::Login { password, .. }] => assert_eq!(password, "new"),
        other => panic!("{other:?}"),
    }
    let mut s = logged_in(false);
    let kicked = HubMsg::Kicked {
        status: Status::OK,
        reason: "bye".into(),
    };
    s.on_message(kicked, Instant::now(), &mut Vec::new());
    let out = reconnect(&mut s);
    assert!(sent(&out).is_empty(), "a kicked client stays logged out");
}

#[test]
fn the_login_result_shows_the_users_online_and_never_the_token() {
    let mut s = super::super::tests::welcomed(false);
    let out = type_line(&mut s, 1, "login me pw");
    let tag = sent(&out)[0].tag().unwrap();
    let body = Body::LoggedIn {
        online: 3,
        token: "0123secret".into(),
    };
    let out = answer(&mut s, tag, Status::OK, "logged in as me; 3 online", body);
    let r = super::super::tests::results(&out)[0];
    assert_eq!((r.command.as_str(), r.ok), ("login", true));
    assert_eq!(r.fields["online"], 3);
    let shown = format!("{} {:?} {:?}", r.message, r.fields, r.detail);
    assert!(!shown.contains("0123secret"), "{shown}");
}

fn welcome(s: &mut Session, hub_key: &[u8]) -> Vec<Action> {
    let mut out = Vec::new();
    let welcome = HubMsg::Welcome {
        version: VERSION,
        server: "hub".into(),
        hub_key: hub_key.to_vec(),
    };
    s.on_message(welcome, Instant::now(), &mut out);
    out
}

fn unusable(out: &[Action]) -> Option<String> {
    out.iter().find_map(|a| match a {
        Action::Event(e) if e.name == "hub_key_unusable" => Some(e.human.clone()),
        _ => None,
    })
}

#[test]
fn the_welcome_key_is_kept_when_it_is_the_key_the_link_showed() {
    let hub = Identity::generate().unwrap();
    let mut s = session(false);
    s.on_link_key(Some(hub.fingerprint()));
    let out = welcome(&mut s, hub.public_key());
    assert_eq!(unusable(&out), None);
    assert_eq!(
        s.hub_key().map(HubKey::fingerprint),
        Some(hub.fingerprint())
    );
    // A plaintext link shows no key: the welcome's is taken as it is.
    let mut plain = session(false);
    plain.on_link_key(None);
    welcome(&mut plain, hub.public_key());
    assert!(plain.hub_key().is_some());
}

#[test]
fn another_key_than_the_link_showed_or_no_key_at_all_is_refused_and_said() {
    let (hub, other) = (Identity::generate().unwrap(), Identity::generate().unwrap());
    let mut s = session(false);
    s.on_link_key(Some(hub.fingerprint()));
    let out = welcome(&mut s, other.public_key());
    let said = unusable(&out).expect("an event");
    assert!(said.contains("is not the key"), "{said}");
    assert!(s.hub_key().is_none());
    let out = welcome(&mut s, b"garbage");
    assert!(unusable(&out).unwrap().contains("not an ECDSA P-256 key"));
    // A later welcome with the right key makes it usable again.
    welcome(&mut s, hub.public_key());
    assert!(s.hub_key().is_some());
}

/// The instant the session armed for its next attempt, from `out`.
fn armed(out: &[Action]) -> Instant {
    out.iter()
        .find_map(|a| match a {
            Action::Arm(at) => Some(*at),
            _ => None,
        })
        .expect("a retry armed")
}

#[test]
fn a_full_hub_refusing_a_reconnect_is_tried_again_later_with_a_longer_delay() {
    let mut s = logged_in(false);
    let lost = Instant::now();
    let mut out = Vec::new();
    s.on_lost("gone", lost, &mut out);
    let first = armed(&out);
    let mut out = Vec::new();
    s.on_timer(first, &mut out);
    assert_eq!(out, [Action::Connect]);
    // The hub restarted and is full: it says 503 before any welcome and closes.
    let mut out = Vec::new();
    let bye = HubMsg::Bye {
        status: Status::UNAVAILABLE,
        reason: "the hub is full".into(),
    };
    s.on_message(bye, first, &mut out);
    assert_eq!(out.first(), Some(&Action::Disconnect));
    assert!(!out.iter().any(|a| matches!(a, Action::Exit(_))), "{out:?}");
    let second = armed(&out);
    assert!(second - first >= FIRST_BACKOFF, "doubled, then spread");
    assert!(second - first <= FIRST_BACKOFF * 2);
    let mut out = Vec::new();
    s.on_timer(second, &mut out);
    assert_eq!(out, [Action::Connect]);
    assert!(s.reconnecting());
}

#[test]
fn clients_that_lost_the_hub_together_spread_their_attempts() {
    let lost = Instant::now();
    let mut delays = Vec::new();
    for seed in 0..32 {
        let mut s = session(false);
        s.jitter = seed;
        s.ever_up = true;
        let mut out = Vec::new();
        s.on_lost("gone", lost, &mut out);
        let delay = armed(&out) - lost;
        assert!(
            delay >= FIRST_BACKOFF / 2 && delay <= FIRST_BACKOFF,
            "{delay:?}"
        );
        delays.push(delay);
    }
    delays.sort();
    delays.dedup();
    assert!(delays.len() > 16, "spread, not in step: {delays:?}");
    let spread = delays[delays.len() - 1] - delays[0];
    assert!(spread > FIRST_BACKOFF / 4, "{spread:?}");
}
