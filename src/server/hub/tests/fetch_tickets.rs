//! Tests of fetch tickets: the key a login announces, the ticket a lookup carries per
//! holder (its fields, its expiry, its signature), and the hub key in the welcome.

use super::*;
use crate::proto::message::{FileInfo, Holder};
use crate::proto::ticket::FetchTicket;
use crate::trust::TicketCheck;

/// The holders a lookup of `name` by `conn` returns.
fn holders_for(hub: &mut TestHub, conn: ConnId, name: &str, now: Instant) -> Vec<Holder> {
    let mut out = Vec::new();
    let lookup = ClientMsg::Lookup {
        tag: 40,
        name: name.into(),
    };
    hub.on_message(conn, lookup, now, &mut out);
    match sent_to(conn, &out).pop() {
        Some(HubMsg::Reply {
            status: Status::FOUND,
            body: Body::Holders(holders),
            ..
        }) => holders,
        other => panic!("{other:?}"),
    }
}

fn publish(hub: &mut TestHub, conn: ConnId, name: &str, now: Instant) {
    let mut out = Vec::new();
    let file = FileInfo {
        name: name.into(),
        size: 3,
        hash: [7; 32],
    };
    let publish = ClientMsg::Publish {
        tag: 3,
        file,
        replace: false,
    };
    hub.on_message(conn, publish, now, &mut out);
    hub.settle(&mut out, 0, now);
}

#[test]
fn each_holder_comes_with_its_key_and_a_signed_ticket_for_the_asking_client() {
    let mut hub = test_hub(HubConfig {
        fetch_ticket_ttl: Duration::from_secs(60),
        ..HubConfig::default()
    });
    let now = base();
    hub.begin_turn(now, 1_000_000);
    for (conn, user) in [(1, "alice"), (2, "bob"), (3, "carol")] {
        join(&mut hub, conn, user, now);
    }
    publish(&mut hub, 1, "x.bin", now);
    publish(&mut hub, 2, "x.bin", now);
    let holders = holders_for(&mut hub, 3, "x.bin", now);
    assert_eq!(holders.len(), 2);
    let mut serials = Vec::new();
    for holder in &holders {
        assert_eq!(holder.fingerprint, key_of(&holder.user));
        let ticket = FetchTicket::decode(&holder.ticket).unwrap();
        let body = &ticket.body;
        assert_eq!(
            (
                body.name.as_str(),
                body.holder.as_str(),
                body.fetcher.as_str()
            ),
            ("x.bin", holder.user.as_str(), "carol")
        );
        assert_eq!(body.fetcher_key, key_of("carol"));
        assert_eq!(body.expires, 1_000_060);
        assert!(FakeSigner.verifies(&body.signed_message(), &ticket.signature));
        serials.push(body.serial);
    }
    // Every ticket is another: a second lookup issues new serials.
    let again = holders_for(&mut hub, 3, "x.bin", now);
    for holder in &again {
        serials.push(FetchTicket::decode(&holder.ticket).unwrap().body.serial);
    }
    let mut unique = serials.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), 4, "{serials:?}");
}

#[test]
fn the_key_is_the_latest_login_s_and_the_expiry_follows_the_wall_clock() {
    let mut hub = test_hub(HubConfig {
        fetch_ticket_ttl: Duration::from_secs(5),
        ..HubConfig::default()
    });
    let now = base();
    join(&mut hub, 1, "alice", now);
    join(&mut hub, 2, "bob", now);
    publish(&mut hub, 1, "x", now);
    let mut out = Vec::new();
    hub.on_message(1, ClientMsg::Logout { tag: 8 }, now, &mut out);
    let other = Fingerprint::from_bytes([9; 32]);
    let login = ClientMsg::Login {
        tag: 9,
        user: "alice".into(),
        password: "pw".into(),
        peer_port: 4000,
        fingerprint: other,
    };
    hub.on_message(1, login, now, &mut out);
    hub.settle(&mut out, 0, now);
    publish(&mut hub, 1, "x", now);
    hub.begin_turn(now, 2_000);
    let holders = holders_for(&mut hub, 2, "x", now);
    assert_eq!(holders[0].fingerprint, other);
    let ticket = FetchTicket::decode(&holders[0].ticket).unwrap();
    assert_eq!(ticket.body.expires, 2_005);
}

#[test]
fn the_welcome_carries_the_key_that_checks_tickets() {
    let mut hub = test_hub(HubConfig::default());
    let out = hello(&mut hub, 1, base());
    match sent_to(1, &out).first() {
        Some(HubMsg::Welcome { hub_key, .. }) => {
            assert_eq!(hub_key.as_slice(), FakeSigner.public_key())
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn lookups_wait_for_the_next_turn_once_a_turn_signed_its_share_of_tickets() {
    let mut hub = test_hub(HubConfig {
        auth_rate: 0,
        hash_rate: 0,
        ..HubConfig::default()
    });
    let now = base();
    // 40 holders: the fourth lookup of a turn passes the 128 tickets of its budget.
    let holders = 40;
    for conn in 1..=holders {
        join(&mut hub, conn, &format!("h{conn}"), now);
        hub.begin_turn(now, 0);
        publish(&mut hub, conn, "x", now);
    }
    let (fetcher, other) = (holders + 1, holders + 2);
    join(&mut hub, fetcher, "fetcher", now);
    hub.begin_turn(now, 0);
    join(&mut hub, other, "other", now);
    hub.begin_turn(now, 0);
    let lookup = |tag| {
        Request::Msg(ClientMsg::Lookup {
            tag,
            name: "x".into(),
        })
    };
    let mut out = Vec::new();
    for tag in 0..6 {
        hub.on_request(fetcher, lookup(tag), now, &mut out);
    }
    assert_eq!(status_of(fetcher, &out), vec![204; 4], "160 tickets signed");
    assert!(hub.ticket_budget_spent());
    // Other requests go on; another connection's lookup waits too.
    hub.on_request(
        other,
        Request::Msg(ClientMsg::Echo { tag: 9 }),
        now,
        &mut out,
    );
    hub.on_request(other, lookup(10), now, &mut out);
    assert_eq!(status_of(other, &out), vec![200]);
    hub.begin_turn(now, 0);
    assert!(!hub.ticket_budget_spent());
    let mut out = Vec::new();
    hub.resume(fetcher, now, &mut out);
    hub.resume(other, now, &mut out);
    assert_eq!(status_of(fetcher, &out), vec![204; 2]);
    assert_eq!(status_of(other, &out), vec![204]);
}
