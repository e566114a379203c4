//! Tests of the tracker: lookups offer online holders only; reports need a referral.

use super::*;
use crate::proto::message::FileInfo;
use crate::server::reports::REFERRAL_TTL;

#[test]
fn lookups_answer_online_holders_only() {
    let mut hub = test_hub(HubConfig::default());
    let now = base();
    join(&mut hub, 1, "alice", now);
    join(&mut hub, 2, "bob", now);
    let file = FileInfo {
        name: "x.bin".into(),
        size: 3,
        hash: [7; 32],
    };
    let mut out = Vec::new();
    let publish = ClientMsg::Publish {
        tag: 3,
        file,
        replace: false,
    };
    hub.on_message(1, publish, now, &mut out);
    let lookup = |tag| ClientMsg::Lookup {
        tag,
        name: "x.bin".into(),
    };
    let mut out = Vec::new();
    hub.on_message(2, lookup(4), now, &mut out);
    hub.end_turn(now, &mut out);
    match sent_to(2, &out).pop() {
        Some(HubMsg::Reply {
            status,
            body: Body::Holders(holders),
            ..
        }) => {
            assert_eq!(status.0, 204);
            assert_eq!(holders.len(), 1);
            assert_eq!(holders[0].user, "alice");
            assert_eq!(holders[0].addr, SocketAddr::new(addr(0).ip(), 4000));
        }
        other => panic!("{other:?}"),
    }
    let mut out = Vec::new();
    hub.on_disconnect(1, "gone", now, &mut out);
    let mut out = Vec::new();
    hub.on_message(2, lookup(5), now, &mut out);
    assert_eq!(status_of(2, &out), vec![406]);
}

/// Who a lookup of `name` by `conn` offers, and its status.
fn offered(hub: &mut TestHub, conn: ConnId, name: &str, now: Instant) -> (u16, Vec<String>) {
    let mut out = Vec::new();
    let lookup = ClientMsg::Lookup {
        tag: 50,
        name: name.into(),
    };
    hub.on_message(conn, lookup, now, &mut out);
    hub.sign_tickets(&mut out);
    match sent_to(conn, &out).pop() {
        Some(HubMsg::Reply {
            status,
            body: Body::Holders(h),
            ..
        }) => (status.0, h.into_iter().map(|h| h.user).collect()),
        other => panic!("{other:?}"),
    }
}

fn report_of(
    hub: &mut TestHub,
    conn: ConnId,
    holder: &str,
    hash: u8,
    now: Instant,
) -> (u16, String) {
    let mut out = Vec::new();
    let report = ClientMsg::Report {
        tag: 51,
        holder: holder.into(),
        name: "x".into(),
        hash: [hash; 32],
    };
    hub.on_message(conn, report, now, &mut out);
    match sent_to(conn, &out).pop() {
        Some(HubMsg::Reply {
            status, message, ..
        }) => (status.0, message),
        other => panic!("{other:?}"),
    }
}

fn publish_x(hub: &mut TestHub, conn: ConnId, hash: u8, now: Instant) {
    let mut out = Vec::new();
    let file = FileInfo {
        name: "x".into(),
        size: 3,
        hash: [hash; 32],
    };
    let publish = ClientMsg::Publish {
        tag: 52,
        file,
        replace: true,
    };
    hub.on_message(conn, publish, now, &mut out);
    assert_eq!(status_of(conn, &out), vec![202]);
}

#[test]
fn a_report_needs_a_recent_referral_and_demotes_for_the_reporter_until_a_quorum() {
    let mut hub = test_hub(HubConfig {
        auth_rate: 0,
        ..HubConfig::default()
    });
    let t0 = base();
    let users = ["alice", "dave", "bob", "m1", "m2", "m3"];
    for (i, user) in users.iter().enumerate() {
        join(&mut hub, i + 1, user, t0);
    }
    let (alice, dave, bob, m1, m2, m3) = (1, 2, 3, 4, 5, 6);
    publish_x(&mut hub, alice, 7, t0);
    publish_x(&mut hub, dave, 8, t0);
    let both = (204, vec!["alice".to_string(), "dave".to_string()]);
    assert_eq!(
        report_of(&mut hub, m1, "alice", 7, t0).0,
        400,
        "no referral"
    );
    assert_eq!(offered(&mut hub, m1, "x", t0), both);
    assert_eq!(
        report_of(&mut hub, m1, "alice", 8, t0).0,
        400,
        "not that hash"
    );
    assert_eq!(report_of(&mut hub, m1, "alice", 7, t0).0, 200);
    assert_eq!(offered(&mut hub, m1, "x", t0).1, ["dave"], "demoted for m1");
    assert_eq!(offered(&mut hub, bob, "x", t0), both, "not for bob");
    let (status, again) = report_of(&mut hub, m1, "alice", 7, t0);
    assert_eq!(status, 200);
    assert!(again.contains("counts once"), "{again}");
    assert_eq!(offered(&mut hub, bob, "x", t0), both, "m1 counts once");
    // A referral is good for a few minutes only.
    offered(&mut hub, m2, "x", t0);
    let late = t0 + REFERRAL_TTL + Duration::from_secs(1);
    assert_eq!(report_of(&mut hub, m2, "alice", 7, late).0, 400);
    offered(&mut hub, m2, "x", late);
    assert_eq!(report_of(&mut hub, m2, "alice", 7, late).0, 200);
    assert_eq!(offered(&mut hub, bob, "x", late), both, "two of three");
    offered(&mut hub, m3, "x", late);
    let (_, quorum) = report_of(&mut hub, m3, "alice", 7, late);
    assert!(quorum.contains("anyone"), "{quorum}");
    assert_eq!(
        offered(&mut hub, bob, "x", late).1,
        ["dave"],
        "demoted for all"
    );
    // Demoted holders are still offered when nobody else holds the file: no 406.
    let mut out = Vec::new();
    hub.on_disconnect(dave, "gone", late, &mut out);
    assert_eq!(
        offered(&mut hub, bob, "x", late),
        (204, vec!["alice".into()])
    );
    // New content clears it.
    join(&mut hub, dave, "dave", late);
    publish_x(&mut hub, alice, 9, late);
    assert_eq!(offered(&mut hub, bob, "x", late), both);
    assert_eq!(offered(&mut hub, m1, "x", late), both);
}

/// The last reply to `conn`: its status and text.
fn last_reply(conn: ConnId, out: &[Action]) -> (u16, String) {
    match sent_to(conn, out).pop() {
        Some(HubMsg::Reply {
            status, message, ..
        }) => (status.0, message),
        other => panic!("no reply: {other:?}"),
    }
}

#[test]
fn index_changes_are_recorded_and_one_whose_write_fails_is_a_500_taken_back() {
    let mut hub = test_hub(HubConfig::default());
    let now = base();
    join(&mut hub, 1, "alice", now);
    let file = |name: &str, byte: u8| FileInfo {
        name: name.into(),
        size: 3,
        hash: [byte; 32],
    };
    let send = |hub: &mut TestHub, msg| {
        let mut out = Vec::new();
        hub.on_message(1, msg, now, &mut out);
        last_reply(1, &out)
    };
    let publish = |f, replace| ClientMsg::Publish {
        tag: 3,
        file: f,
        replace,
    };
    let sync = |files| ClientMsg::Sync {
        tag: 4,
        files,
        first: true,
    };
    let unpublish = || ClientMsg::Unpublish {
        tag: 5,
        name: "a".into(),
    };
    assert_eq!(send(&mut hub, publish(file("a", 1), false)).0, 202);
    assert_eq!(hub.memory().published_by("alice"), [&file("a", 1)]);
    hub.memory().broken = Some("index database: disk full".into());
    let failed = (500, "index database: disk full".to_owned());
    assert_eq!(send(&mut hub, publish(file("a", 2), true)), failed);
    assert_eq!(send(&mut hub, sync(vec![file("b", 1)])), failed);
    assert_eq!(send(&mut hub, unpublish()), failed);
    assert_eq!(
        hub.index.files_of("alice"),
        [file("a", 1)],
        "all taken back"
    );
    hub.memory().broken = None;
    assert_eq!(send(&mut hub, unpublish()), (200, "unpublished a".into()));
    assert_eq!(send(&mut hub, unpublish()).0, 406);
    let announced = send(&mut hub, sync(vec![file("b", 1), file("c", 2)]));
    assert_eq!(announced, (200, "2 file(s) announced".into()));
    assert_eq!(hub.memory().published_by("alice").len(), 2);
    assert_eq!(hub.index.files_of("alice").len(), 2);
}
