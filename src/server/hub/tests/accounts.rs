//! Tests of accounts: registration and login limits, rotating addresses, the hash
//! rate, and the ghost check a second login waits on.

use super::*;
use crate::server::persist::{Answer, Ask, Standing};

#[test]
fn a_second_login_waits_for_a_ghost_check() {
    let mut hub = test_hub(HubConfig::default());
    let t0 = base();
    join(&mut hub, 1, "alice", t0);
    // A live first session answers the check: the second login gets 403.
    let out = join(&mut hub, 2, "alice", t0);
    let nonce = sent_to(1, &out)
        .into_iter()
        .find_map(|m| match m {
            HubMsg::Ping { nonce } => Some(nonce),
            _ => None,
        })
        .expect("the first session is pinged");
    assert_eq!(
        status_of(2, &out),
        vec![404],
        "registered already; login waits"
    );
    let mut out = Vec::new();
    hub.on_message(1, ClientMsg::Pong { nonce }, t0, &mut out);
    assert_eq!(status_of(2, &out), vec![403]);
    // A silent first session is a ghost: at the deadline the waiting login takes over.
    let mut out = Vec::new();
    let login = ClientMsg::Login {
        tag: 7,
        user: "alice".into(),
        password: "pw".into(),
        peer_port: 4000,
        fingerprint: key_of("alice"),
    };
    hub.on_message(2, login, t0, &mut out);
    let later = t0 + HubConfig::default().ping_timeout + Duration::from_millis(1);
    let serial = hub.sessions.get(&1).unwrap().serial;
    let mut out = Vec::new();
    hub.on_timer(1, serial, later, &mut out);
    assert_eq!(status_of(2, &out), vec![200]);
    assert!(out.iter().any(|a| matches!(a, Action::Close(1))));
}

fn login_msg(tag: u32, user: &str, password: &str) -> ClientMsg {
    ClientMsg::Login {
        tag,
        user: user.into(),
        password: password.into(),
        peer_port: 4000,
        fingerprint: key_of(user),
    }
}

/// The `retry_after` of the last reply to `conn`, if it was a 429.
fn retry_after(conn: ConnId, out: &[Action]) -> Option<u32> {
    sent_to(conn, out).into_iter().rev().find_map(|m| match m {
        HubMsg::Reply {
            status,
            body: Body::RetryAfter(secs),
            ..
        } if status == Status::RATE_LIMITED => Some(secs),
        _ => None,
    })
}

#[test]
fn fifty_registrations_and_logins_from_one_address_pass_on_default_flags() {
    let mut hub = test_hub(HubConfig::default());
    let now = base();
    for conn in 1..=50 {
        let out = join(&mut hub, conn, &format!("pupil{conn}"), now);
        assert_eq!(status_of(conn, &out), vec![201, 200], "pupil {conn}");
    }
    assert_eq!(hub.online_count(), 50);
}

#[test]
fn rotating_addresses_cannot_brute_force_one_account() {
    let config = HubConfig {
        account_auth_rate: 5,
        ..HubConfig::default()
    };
    let mut hub = test_hub(config);
    let t0 = base();
    join(&mut hub, 1, "alice", t0);
    let mut out = Vec::new();
    hub.on_message(1, ClientMsg::Logout { tag: 3 }, t0, &mut out);
    for i in 0..5u8 {
        let conn = 10 + i as usize;
        let mut out = hello_from(&mut hub, conn, [127, 0, 1, i], t0);
        hub.on_message(conn, login_msg(1, "alice", "guess"), t0, &mut out);
        assert_eq!(status_of(conn, &out), vec![402], "attempt {i}");
    }
    let mut out = hello_from(&mut hub, 20, [127, 0, 2, 1], t0);
    hub.on_message(20, login_msg(1, "alice", "pw"), t0, &mut out);
    assert_eq!(
        status_of(20, &out),
        vec![429],
        "even the right password waits"
    );
    assert_eq!(retry_after(20, &out), Some(60));
    // The owner, from the address it logged in from before, is let through.
    let mut out = Vec::new();
    hub.on_message(1, login_msg(4, "alice", "pw"), t0, &mut out);
    assert_eq!(status_of(1, &out), vec![200]);
    // A minute later the window is over for everyone.
    let later = t0 + Duration::from_secs(60);
    let mut out = Vec::new();
    hub.on_message(20, login_msg(2, "alice", "guess"), later, &mut out);
    assert_eq!(status_of(20, &out), vec![402]);
}

#[test]
fn the_address_that_registered_an_account_is_known_to_its_lock() {
    let config = HubConfig {
        account_auth_rate: 2,
        ..HubConfig::default()
    };
    let mut hub = test_hub(config);
    let t0 = base();
    let mut out = hello_from(&mut hub, 1, [127, 0, 0, 1], t0);
    let register = ClientMsg::Register {
        tag: 1,
        user: "alice".into(),
        password: "pw".into(),
    };
    hub.on_message(1, register, t0, &mut out);
    assert_eq!(status_of(1, &out), vec![201]);
    for i in 0..3u8 {
        let conn = 10 + i as usize;
        let mut out = hello_from(&mut hub, conn, [127, 0, 1, i], t0);
        hub.on_message(conn, login_msg(1, "alice", "guess"), t0, &mut out);
    }
    let mut out = Vec::new();
    hub.on_message(1, login_msg(2, "alice", "pw"), t0, &mut out);
    assert_eq!(status_of(1, &out), vec![200], "the owner's own first login");
}

#[test]
fn every_password_check_counts_against_the_hash_rate() {
    let config = HubConfig {
        hash_rate: 6,
        ..HubConfig::default()
    };
    let mut hub = test_hub(config);
    let t0 = base();
    // A register and a login: two hashes.
    join(&mut hub, 1, "alice", t0);
    let passwd = |tag| ClientMsg::Passwd {
        tag,
        old: "pw".into(),
        new: "pw".into(),
    };
    let mut out = Vec::new();
    hub.on_message(1, passwd(5), t0, &mut out);
    hub.on_message(1, passwd(6), t0, &mut out);
    assert_eq!(
        status_of(1, &out),
        vec![200, 200],
        "old = new still hashes twice"
    );
    hub.on_message(1, passwd(7), t0, &mut out);
    assert_eq!(status_of(1, &out), vec![200, 200, 429]);
    assert!(retry_after(1, &out).is_some_and(|s| (1..=60).contains(&s)));
}

#[test]
fn only_one_login_waits_on_a_ghost_check_and_only_it_takes_over() {
    let mut hub = test_hub(HubConfig::default());
    let t0 = base();
    join(&mut hub, 1, "alice", t0);
    let mut waiting = hello_from(&mut hub, 2, [127, 0, 0, 2], t0);
    hub.on_message(2, login_msg(5, "alice", "pw"), t0, &mut waiting);
    assert!(
        ping_nonce(1, &waiting).is_some(),
        "the old session is checked"
    );
    assert_eq!(status_of(2, &waiting), Vec::<u16>::new(), "the login waits");
    // A second login meanwhile, from another connection or the same one: 403 now.
    let mut out = hello_from(&mut hub, 3, [127, 0, 0, 3], t0);
    hub.on_message(3, login_msg(6, "alice", "pw"), t0, &mut out);
    hub.on_message(2, login_msg(7, "alice", "pw"), t0, &mut out);
    assert_eq!(status_of(3, &out), vec![403]);
    assert_eq!(status_of(2, &out), vec![403]);
    assert_eq!(ping_nonce(1, &out), None, "no second check");
    // The old session stays silent: exactly the waiting login gets in.
    let later = t0 + HubConfig::default().ping_timeout + Duration::from_millis(1);
    let out = fire(&mut hub, 1, later);
    assert_eq!(status_of(2, &out), vec![200]);
    assert_eq!(status_of(3, &out), Vec::<u16>::new());
    assert_eq!(hub.online.get("alice"), Some(&2));
    assert_eq!(hub.online_count(), 1);
    // A login after the replacement checks the new session again.
    let mut out = Vec::new();
    hub.on_message(3, login_msg(8, "alice", "pw"), later, &mut out);
    assert!(ping_nonce(2, &out).is_some(), "the new session is checked");
    assert_eq!(status_of(3, &out), Vec::<u16>::new());
}

#[test]
fn a_waiter_that_left_frees_the_turn_for_the_next_login() {
    let mut hub = test_hub(HubConfig::default());
    let t0 = base();
    join(&mut hub, 1, "alice", t0);
    let mut out = hello_from(&mut hub, 2, [127, 0, 0, 2], t0);
    hub.on_message(2, login_msg(5, "alice", "pw"), t0, &mut out);
    hub.on_disconnect(2, "gone", t0, &mut out);
    let t1 = t0 + Duration::from_secs(1);
    let mut out = hello_from(&mut hub, 3, [127, 0, 0, 3], t1);
    hub.on_message(3, login_msg(6, "alice", "pw"), t1, &mut out);
    assert!(ping_nonce(1, &out).is_some());
    // The first check runs out: the one waiter still there gets in, once.
    let out = fire(&mut hub, 1, t0 + Duration::from_secs(11));
    assert_eq!(status_of(3, &out), vec![200]);
    assert_eq!(hub.online.get("alice"), Some(&3));
    let joins = out
        .iter()
        .filter(|a| matches!(a, Action::Event(e) if e.name == "login"))
        .count();
    assert_eq!(joins, 1);
}

#[test]
fn an_answering_session_refuses_the_waiter_and_the_next_login_checks_again() {
    let mut hub = test_hub(HubConfig::default());
    let t0 = base();
    join(&mut hub, 1, "alice", t0);
    let mut out = hello_from(&mut hub, 2, [127, 0, 0, 2], t0);
    hub.on_message(2, login_msg(5, "alice", "pw"), t0, &mut out);
    let nonce = ping_nonce(1, &out).unwrap();
    let mut out = Vec::new();
    hub.on_message(1, ClientMsg::Pong { nonce }, t0, &mut out);
    assert_eq!(status_of(2, &out), vec![403]);
    let mut out = Vec::new();
    hub.on_message(2, login_msg(6, "alice", "pw"), t0, &mut out);
    assert!(ping_nonce(1, &out).is_some(), "a new check, not a refusal");
}

/// Bans run by the wall clock the loop gives each turn (read once per turn, so a step
/// between two reads cannot underflow the minutes left): stepped forward past the end
/// the user is let in, stepped back the ban holds longer.
#[test]
fn a_ban_runs_by_the_wall_clock_of_each_turn() {
    let mut hub = test_hub(HubConfig::default());
    let now = base();
    hub.begin_turn(now, 10_000);
    let mut out = hello_from(&mut hub, 1, [10, 0, 0, 1], now);
    let register = ClientMsg::Register {
        tag: 1,
        user: "alice".into(),
        password: "pw".into(),
    };
    hub.on_message(1, register, now, &mut out);
    hub.on_console(1, "ban alice 2", now, &mut out);
    let minutes_left = |out: &[Action]| match sent_to(1, out).pop() {
        Some(HubMsg::Reply {
            status, message, ..
        }) => (status.0, message),
        other => panic!("no reply: {other:?}"),
    };
    for (wall, left) in [(10_119, "1"), (9_000, "19")] {
        hub.begin_turn(now, wall);
        let mut out = Vec::new();
        hub.on_message(1, login_msg(2, "alice", "pw"), now, &mut out);
        let (status, message) = minutes_left(&out);
        assert_eq!(status, 423, "{message}");
        assert!(
            message.contains(&format!("for {left} more minute(s)")),
            "{message}"
        );
    }
    hub.begin_turn(now, 10_120);
    let mut out = Vec::new();
    hub.on_message(1, login_msg(3, "alice", "pw"), now, &mut out);
    assert_eq!(status_of(1, &out), vec![200], "the ban ended at 10 120");
}

/// A backend may answer turns later: the login waits, its reply goes to the session
/// that asked, and never to a new connection that took the id of one that closed.
#[test]
fn a_late_answer_reaches_the_session_that_asked_and_no_other() {
    let mut hub = test_hub(HubConfig::default());
    let now = base();
    join(&mut hub, 1, "alice", now);
    hub.on_message(1, ClientMsg::Logout { tag: 3 }, now, &mut Vec::new());
    let held = |hub: &mut TestHub, tag| {
        let mut out = hello_from(hub, 2, [10, 0, 0, 2], now);
        hub.hub
            .on_message(2, login_msg(tag, "alice", "pw"), now, &mut out);
        match out.pop() {
            Some(Action::Persist(id, ask)) if matches!(&*ask, Ask::Verify { name, .. } if name == "alice") => {
                id
            }
            other => panic!("no ask: {other:?}"),
        }
    };
    let id = held(&mut hub, 5);
    hub.on_disconnect(2, "gone", now, &mut Vec::new());
    let mut out = hello_from(&mut hub, 2, [10, 0, 0, 3], now);
    out.extend(hub.answer(
        id,
        Answer::Verified(Ok(Standing {
            banned_until: None,
            token_version: 0,
        })),
        now,
    ));
    assert_eq!(status_of(2, &out), Vec::<u16>::new());
    assert_eq!(hub.online_count(), 0);
    hub.on_disconnect(2, "gone", now, &mut Vec::new());
    let id = held(&mut hub, 6);
    hub.begin_turn(now + Duration::from_secs(1), 0);
    let out = hub.answer(
        id,
        Answer::Verified(Ok(Standing {
            banned_until: None,
            token_version: 0,
        })),
        now,
    );
    assert_eq!(status_of(2, &out), vec![200]);
    assert_eq!(hub.online.get("alice"), Some(&2));
}

fn register_msg(tag: u32, user: &str, password: &str) -> ClientMsg {
    ClientMsg::Register {
        tag,
        user: user.into(),
        password: password.into(),
    }
}

#[test]
fn registration_refuses_taken_names_bad_names_and_bad_passwords() {
    let mut hub = test_hub(HubConfig::default());
    let now = base();
    let mut out = hello_from(&mut hub, 1, [10, 0, 0, 1], now);
    let long = "x".repeat(257);
    for (tag, user, password) in [
        (1, "alice", "pw"),
        (2, "alice", "other"),
        (3, "no spaces", "pw"),
        (4, "bob", ""),
        (5, "bob", long.as_str()),
    ] {
        hub.on_message(1, register_msg(tag, user, password), now, &mut out);
    }
    assert_eq!(status_of(1, &out), [201, 404, 408, 400, 400]);
    assert_eq!(hub.memory().password_of("alice"), Some("pw"));
    assert_eq!(hub.memory().password_of("bob"), None);
}

#[test]
fn failed_logins_per_address_are_limited_and_successes_are_not() {
    let mut hub = test_hub(HubConfig {
        auth_rate: 3,
        ..HubConfig::default()
    });
    let t0 = base();
    let mut out = hello_from(&mut hub, 1, [10, 0, 0, 1], t0);
    hub.on_message(1, register_msg(1, "alice", "pw"), t0, &mut out);
    for tag in 2..5 {
        hub.on_message(1, login_msg(tag, "alice", "guess"), t0, &mut out);
    }
    hub.on_message(1, login_msg(5, "nobody", "pw"), t0, &mut out);
    assert_eq!(status_of(1, &out), [201, 402, 402, 402, 429]);
    let mut out = Vec::new();
    let later = t0 + Duration::from_secs(60);
    hub.on_message(1, login_msg(6, "nobody", "pw"), later, &mut out);
    hub.on_message(1, login_msg(7, "alice", "pw"), later, &mut out);
    assert_eq!(status_of(1, &out), [401, 200], "a new window");
}

#[test]
fn passwd_checks_the_old_password_and_the_new_ones_length() {
    let mut hub = test_hub(HubConfig::default());
    let now = base();
    join(&mut hub, 1, "alice", now);
    let passwd = |tag, old: &str, new: &str| ClientMsg::Passwd {
        tag,
        old: old.into(),
        new: new.into(),
    };
    let mut out = Vec::new();
    hub.on_message(1, passwd(3, "wrong", "new"), now, &mut out);
    hub.on_message(1, passwd(4, "pw", ""), now, &mut out);
    hub.on_message(1, passwd(5, "pw", "new"), now, &mut out);
    assert_eq!(status_of(1, &out), [402, 400, 200]);
    assert_eq!(hub.memory().password_of("alice"), Some("new"));
    let mut out = hello_from(&mut hub, 2, [10, 0, 0, 2], now);
    hub.on_message(2, login_msg(6, "alice", "pw"), now, &mut out);
    assert_eq!(status_of(2, &out), [402], "the old password is gone");
}
