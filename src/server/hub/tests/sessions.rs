//! Tests of sessions and dispatch: hello, the anonymous clock, logout, shared
//! broadcasts, the users reply, per-turn budgets and batched join notices.

use super::*;

#[test]
fn hello_register_login_and_not_logged_in() {
    let mut hub = test_hub(HubConfig::default());
    let now = base();
    let mut out = Vec::new();
    hub.on_connect(1, addr(5001), addr(HUB_PORT), now, &mut out);
    hub.on_message(1, ClientMsg::Users { tag: 9 }, now, &mut out);
    assert!(matches!(sent_to(1, &out).last(), Some(HubMsg::Bye { status, .. }) if status.0 == 400));
    let out = join(&mut hub, 2, "alice", now);
    assert!(matches!(
        sent_to(2, &out).first(),
        Some(HubMsg::Welcome { .. })
    ));
    assert_eq!(status_of(2, &out), vec![201, 200]);
    let mut out = hello(&mut hub, 3, now);
    hub.on_message(3, ClientMsg::Users { tag: 9 }, now, &mut out);
    assert_eq!(status_of(3, &out), vec![407]);
}

/// A hub whose anonymous connections are closed after ten idle seconds.
fn idle_after_ten_seconds() -> TestHub {
    test_hub(HubConfig {
        idle_timeout: Duration::from_secs(10),
        ..HubConfig::default()
    })
}

#[test]
fn an_anonymous_connection_expires_at_the_idle_timeout_whatever_it_sends() {
    let mut hub = idle_after_ten_seconds();
    let t0 = base();
    hello(&mut hub, 1, t0);
    // An echo every two seconds is answered, but does not keep it.
    for i in 1..=6 {
        let at = t0 + Duration::from_secs(2 * i);
        let mut out = Vec::new();
        hub.on_message(1, ClientMsg::Echo { tag: i as u32 }, at, &mut out);
        assert_eq!(status_of(1, &out), vec![200]);
        let serial = hub.sessions.get(&1).unwrap().serial;
        hub.on_timer(1, serial, at, &mut out);
        let closed = out.iter().any(|a| matches!(a, Action::Close(1)));
        assert_eq!(closed, at >= t0 + Duration::from_secs(10), "at {i}");
        if closed {
            assert!(matches!(
                sent_to(1, &out).last(),
                Some(HubMsg::Bye { status, .. }) if *status == Status::TIMEOUT
            ));
            break;
        }
    }
}

#[test]
fn logging_out_starts_the_anonymous_clock_again() {
    let mut hub = idle_after_ten_seconds();
    let t0 = base();
    join(&mut hub, 1, "alice", t0);
    let later = t0 + Duration::from_secs(60);
    let mut out = Vec::new();
    hub.on_message(1, ClientMsg::Logout { tag: 3 }, later, &mut out);
    let serial = hub.sessions.get(&1).unwrap().serial;
    hub.on_timer(1, serial, later + Duration::from_secs(9), &mut out);
    assert!(!out.iter().any(|a| matches!(a, Action::Close(1))));
    hub.on_timer(1, serial, later + Duration::from_secs(10), &mut out);
    assert!(out.iter().any(|a| matches!(a, Action::Close(1))));
}

/// During a login storm a connection's `Register` waits in its backlog while the
/// turns' hashes go to others: that time is the hub's, not the client's, and it gets
/// the rest of its idle time once answered. One that sends nothing is closed on time.
#[test]
fn time_waiting_behind_a_storm_of_password_checks_is_not_idle() {
    let mut hub = test_hub(HubConfig {
        auth_rate: 0,
        idle_timeout: Duration::from_secs(10),
        ..HubConfig::default()
    });
    let t0 = base();
    hello(&mut hub, 1, t0);
    hello(&mut hub, 2, t0);
    let waits_at = t0 + Duration::from_secs(1);
    hub.begin_turn(waits_at, 0);
    for conn in 10..10 + HASHES_PER_TURN as usize / 2 {
        join(&mut hub, conn, &format!("u{conn}"), waits_at);
    }
    assert!(hub.hash_budget_spent());
    let mut out = Vec::new();
    let register = ClientMsg::Register {
        tag: 1,
        user: "patient".into(),
        password: "pw".into(),
    };
    hub.on_request(1, Request::Msg(register), waits_at, &mut out);
    assert!(
        status_of(1, &out).is_empty(),
        "it waits for a turn with hashes"
    );
    let closed = |out: &[Action], conn| {
        out.iter()
            .any(|a| matches!(a, Action::Close(c) if *c == conn))
    };
    let serial = |hub: &TestHub, conn| hub.sessions.get(&conn).unwrap().serial;
    let answered_at = t0 + Duration::from_secs(30);
    for at in [t0 + Duration::from_secs(10), answered_at] {
        let (s1, s2) = (serial(&hub, 1), serial(&hub, 2));
        hub.on_timer(1, s1, at, &mut out);
        hub.on_timer(2, s2, at, &mut out);
    }
    assert!(!closed(&out, 1), "waiting for the hub is not idle");
    assert!(
        closed(&out, 2),
        "a connection that sends nothing is closed on time"
    );
    hub.begin_turn(answered_at, 0);
    let mut out = Vec::new();
    hub.resume(1, answered_at, &mut out);
    assert_eq!(status_of(1, &out), vec![201]);
    // Idle for 1 s before it waited: 9 s are left after the answer.
    let s1 = serial(&hub, 1);
    hub.on_timer(1, s1, answered_at + Duration::from_millis(8_900), &mut out);
    assert!(!closed(&out, 1));
    hub.on_timer(1, s1, answered_at + Duration::from_secs(9), &mut out);
    assert!(closed(&out, 1));
}

#[test]
fn a_broadcast_is_encoded_once_and_shared() {
    let mut hub = test_hub(HubConfig::default());
    let now = base();
    for (conn, user) in [(1, "a"), (2, "b"), (3, "c")] {
        join(&mut hub, conn, user, now);
    }
    hub.end_turn(now + joins::JOIN_BATCH_DELAY, &mut Vec::new());
    let mut out = Vec::new();
    let say = ClientMsg::Say {
        tag: 5,
        text: "hi all".into(),
    };
    hub.on_message(1, say, now, &mut out);
    let shared = shared_frames(&out);
    assert_eq!(shared.len(), 2, "everyone but the sender");
    assert!(Rc::ptr_eq(shared[0], shared[1]), "one encoding for all");
    assert_eq!(status_of(1, &out), vec![200]);
    assert!(sent_to(1, &out)
        .iter()
        .all(|m| !matches!(m, HubMsg::Chat { .. })));
}

#[test]
fn a_users_reply_keeps_inside_its_budget() {
    let mut names: Vec<String> = (0..5).map(|i| format!("user{i}")).collect();
    assert!(!fit_names(&mut names, 1000));
    assert_eq!(names.len(), 5);
    // Each name costs 2 + 5 bytes: 20 bytes hold two.
    assert!(fit_names(&mut names, 20));
    assert_eq!(names, vec!["user0", "user1"]);
}

#[test]
fn password_hashes_are_budgeted_per_turn() {
    let mut hub = test_hub(HubConfig {
        auth_rate: 0,
        ..HubConfig::default()
    });
    let now = base();
    hub.begin_turn(now, 0);
    let joins = HASHES_PER_TURN as usize / 2;
    for conn in 1..joins {
        join(&mut hub, conn, &format!("u{conn}"), now);
    }
    assert!(!hub.hash_budget_spent(), "a register and a login each");
    join(&mut hub, joins, "last", now);
    assert!(hub.hash_budget_spent());
    hub.begin_turn(now, 0);
    assert!(!hub.hash_budget_spent());
}

#[test]
fn pipelined_password_checks_wait_their_turn_while_others_are_served() {
    let mut hub = test_hub(HubConfig {
        hash_rate: 0,
        ..HubConfig::default()
    });
    let t0 = base();
    join(&mut hub, 1, "mallory", t0);
    join(&mut hub, 2, "honest", t0);
    hub.begin_turn(t0, 0);
    let mut out = Vec::new();
    for tag in 0..100 {
        let passwd = ClientMsg::Passwd {
            tag,
            old: "pw".into(),
            new: "pw".into(),
        };
        hub.on_request(1, Request::Msg(passwd), t0, &mut out);
    }
    hub.on_request(2, Request::Msg(ClientMsg::Users { tag: 7 }), t0, &mut out);
    assert_eq!(status_of(1, &out), vec![200], "one check per turn");
    assert_eq!(
        status_of(2, &out),
        vec![200],
        "the honest request is served"
    );
    assert_eq!(hub.room(1), 0, "the rest waits");
    hub.begin_turn(t0, 0);
    let mut out = Vec::new();
    hub.resume(1, t0, &mut out);
    assert_eq!(status_of(1, &out), vec![200]);
}

#[test]
fn a_turn_handles_a_bounded_number_of_requests_per_connection_in_order() {
    let mut hub = test_hub(HubConfig::default());
    let t0 = base();
    join(&mut hub, 1, "alice", t0);
    hub.begin_turn(t0, 0);
    let mut out = Vec::new();
    for tag in 0..100 {
        hub.on_request(1, Request::Msg(ClientMsg::Echo { tag }), t0, &mut out);
    }
    let per_turn = budget::REQUESTS_PER_TURN as usize;
    assert_eq!(status_of(1, &out).len(), per_turn);
    let mut tags = Vec::new();
    let mut turns = 1;
    while hub.room(1) == 0 {
        hub.begin_turn(t0, 0);
        hub.resume(1, t0, &mut out);
        turns += 1;
    }
    for m in sent_to(1, &out) {
        if let HubMsg::Reply { tag, .. } = m {
            tags.push(tag);
        }
    }
    assert_eq!(tags, (0..100).collect::<Vec<u32>>(), "in order, none lost");
    assert_eq!(turns, 100usize.div_ceil(per_turn));
}

#[test]
fn logins_in_a_burst_share_one_joins_frame_sent_after_the_delay() {
    let mut hub = test_hub(HubConfig::default());
    let t0 = base();
    join(&mut hub, 1, "early", t0);
    let mut out = Vec::new();
    hub.end_turn(t0 + joins::JOIN_BATCH_DELAY, &mut out);
    for (conn, user) in [(2, "a"), (3, "b"), (4, "c")] {
        out.extend(join(&mut hub, conn, user, t0 + joins::JOIN_BATCH_DELAY));
    }
    let t1 = t0 + joins::JOIN_BATCH_DELAY;
    hub.end_turn(t1, &mut out);
    assert!(
        !out.iter().any(|a| matches!(a, Action::Share(..))),
        "nothing before the delay"
    );
    assert_eq!(hub.joins_due(), Some(t1 + joins::JOIN_BATCH_DELAY));
    hub.end_turn(t1 + joins::JOIN_BATCH_DELAY, &mut out);
    let shared = shared_frames(&out);
    assert_eq!(shared.len(), 4, "everyone online, the joiners too");
    assert!(
        shared.iter().all(|f| Rc::ptr_eq(f, shared[0])),
        "encoded once"
    );
    match sent_to(1, &out).pop() {
        Some(HubMsg::Joins { users, online }) => {
            assert_eq!(users, vec!["a", "b", "c"]);
            assert_eq!(online, 4);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(hub.joins_due(), None);
}

#[test]
fn pending_joins_go_out_before_a_leave() {
    let mut hub = test_hub(HubConfig::default());
    let t0 = base();
    join(&mut hub, 1, "early", t0);
    join(&mut hub, 2, "late", t0);
    let mut out = Vec::new();
    hub.on_disconnect(2, "gone", t0, &mut out);
    let got: Vec<HubMsg> = sent_to(1, &out);
    assert!(
        matches!(&got[..], [HubMsg::Joins { users, online: 2 }, HubMsg::Leave { user: left, online: 1, .. }] if users == &["early", "late"] && left == "late"),
        "{got:?}"
    );
}

#[test]
fn shutdown_tells_every_connection_once_closes_them_and_then_exits() {
    let mut hub = test_hub(HubConfig::default());
    let now = base();
    join(&mut hub, 1, "alice", now);
    join(&mut hub, 2, "bob", now);
    let mut out = Vec::new();
    hub.on_connect(3, addr(5003), addr(HUB_PORT), now, &mut out);
    let mut out = Vec::new();
    hub.on_console(7, "shutdown", now, &mut out);
    assert!(hub.is_shutting_down());
    for conn in [1, 2, 3] {
        assert!(
            matches!(sent_to(conn, &out).as_slice(), [HubMsg::Bye { status, reason }] if status.0 == 503 && reason == "the hub is shutting down"),
            "{conn}: {:?}",
            sent_to(conn, &out)
        );
        let bye = out
            .iter()
            .position(|a| matches!(a, Action::Share(c, _) if *c == conn));
        let close = out
            .iter()
            .position(|a| matches!(a, Action::Close(c) if *c == conn));
        assert!(bye < close, "{conn}: the Bye is queued before the close");
    }
    let exit = out.iter().position(|a| matches!(a, Action::Exit));
    let last_close = out.iter().rposition(|a| matches!(a, Action::Close(_)));
    assert!(exit > last_close, "exit comes after every close: {out:?}");
    // Asked again (a second signal), it does nothing more.
    let mut again = Vec::new();
    hub.on_console(8, "shutdown", now, &mut again);
    assert!(
        !again
            .iter()
            .any(|a| matches!(a, Action::Share(..) | Action::Close(_) | Action::Exit)),
        "{again:?}"
    );
}

/// The frames in `out` shared among connections, in order.
fn shared_frames(out: &[Action]) -> Vec<&Rc<[u8]>> {
    out.iter()
        .filter_map(|a| match a {
            Action::Share(_, frame) => Some(frame),
            _ => None,
        })
        .collect()
}
