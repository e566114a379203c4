//! Tests of the hub's store requests: tickets, quotas, names, listing and redemption.

use super::super::HubConfig;
use super::{base, hub_with_store, join, put_file, replies, stored, TestHub};
use crate::proto::message::{Body, ClientMsg};
use crate::server::store::StoreLimits;

/// A hub whose store gives each user `user_quota` bytes (0: no quota), alice logged in
/// on connection 1 and bob on 2.
fn alice_and_bob(user_quota: u64) -> TestHub {
    let limits = StoreLimits {
        max_file: 0,
        user_quota,
        reserve: 0,
    };
    let mut hub = hub_with_store(HubConfig::default(), limits);
    join(&mut hub, 1, "alice", base());
    join(&mut hub, 2, "bob", base());
    hub
}

/// The (status, text, body) of every reply to `conn` after `msgs`.
fn ask(hub: &mut TestHub, conn: usize, msgs: Vec<ClientMsg>) -> Vec<(u16, String, Body)> {
    let mut out = Vec::new();
    for m in msgs {
        hub.on_message(conn, m, base(), &mut out);
    }
    replies(conn, &out)
}

fn check_name(tag: u32, name: &str, replace: bool) -> ClientMsg {
    ClientMsg::StoreName {
        tag,
        name: name.into(),
        replace,
    }
}

#[test]
fn the_name_check_gives_the_ticket_refusals_for_the_name_and_reserves_nothing() {
    let mut hub = alice_and_bob(0);
    stored(&mut hub, "mine", "alice", 1, 10);
    stored(&mut hub, "theirs", "bob", 1, 10);
    let long = "n".repeat(256);
    let got = ask(
        &mut hub,
        1,
        vec![
            check_name(3, "free", false),
            check_name(4, "free", false),
            check_name(5, "mine", false),
            check_name(6, "mine", true),
            check_name(7, "theirs", true),
            check_name(8, "..", false),
            check_name(9, &long, false),
            check_name(10, "a/b", false),
            check_name(11, ".peerhub-identity.pem", false),
        ],
    );
    let statuses: Vec<u16> = got.iter().map(|r| r.0).collect();
    assert_eq!(statuses, [200, 200, 409, 200, 409, 408, 408, 408, 408]);
    assert!(got[8].1.contains("reserved"), "{:?}", got[8]);
    // The same text as the ticket's refusal.
    let put = put_file("mine", 1, false);
    let ticket = ask(&mut hub, 1, vec![put]);
    assert_eq!((ticket[0].0, &ticket[0].1), (409, &got[2].1));
    assert!(got[4].1.contains("belongs to bob"), "{}", got[4].1);
    assert_eq!(hub.tickets.open(), 0);
    // A name reserved by a ticket (an upload about to run) is taken too.
    let put = put_file("free", 1, false);
    assert_eq!(ask(&mut hub, 2, vec![put])[0].0, 200);
    let got = ask(&mut hub, 1, vec![check_name(13, "free", false)]);
    assert_eq!(got[0].0, 409);
    assert!(got[0].1.contains("being uploaded"), "{}", got[0].1);
}

#[test]
fn the_listing_carries_my_usage_and_the_quota() {
    let mut hub = alice_and_bob(5000);
    stored(&mut hub, "a1", "alice", 1, 1000);
    stored(&mut hub, "a2", "alice", 1, 234);
    stored(&mut hub, "b1", "bob", 1, 77);
    for (conn, want) in [(1, 1234), (2, 77)] {
        let got = ask(&mut hub, conn, vec![ClientMsg::StoreList { tag: 3 }]);
        let Body::Store {
            entries,
            used,
            quota,
            ..
        } = &got[0].2
        else {
            panic!("{got:?}");
        };
        assert_eq!((entries.len(), *used, *quota), (3, want, 5000));
    }
}
