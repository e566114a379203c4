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
    assert!(
        sent_to(conn, &out).is_empty(),
        "held for the turn's signature"
    );
    hub.end_turn(now, &mut out);
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
        assert!(FakeSigner.verifies(&ticket.signed_message(), &ticket.signature));
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
    assert!(hub.ticket_budget_spent());
    let mut signed = Vec::new();
    hub.end_turn(now, &mut signed);
    assert_eq!(
        status_of(fetcher, &signed),
        vec![204; 4],
        "160 tickets issued"
    );
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
    hub.end_turn(now, &mut out);
    assert_eq!(status_of(fetcher, &out), vec![204; 2]);
    assert_eq!(status_of(other, &out), vec![204]);
}

/// The tickets in the 204 replies to `conn` among `out`, in order.
fn tickets_to(conn: ConnId, out: &[Action]) -> Vec<FetchTicket> {
    sent_to(conn, out)
        .into_iter()
        .flat_map(|msg| match msg {
            HubMsg::Reply {
                body: Body::Holders(holders),
                ..
            } => holders,
            _ => Vec::new(),
        })
        .map(|h| FetchTicket::decode(&h.ticket).unwrap())
        .collect()
}

#[test]
fn a_turn_signs_its_tickets_once_and_each_proves_its_place() {
    let mut hub = test_hub(HubConfig::default());
    let now = base();
    for (conn, user) in [(1, "alice"), (2, "bob"), (3, "carol"), (4, "dave")] {
        join(&mut hub, conn, user, now);
    }
    publish(&mut hub, 1, "x", now);
    publish(&mut hub, 2, "x", now);
    hub.begin_turn(now, 5_000);
    let lookup = |tag| {
        Request::Msg(ClientMsg::Lookup {
            tag,
            name: "x".into(),
        })
    };
    let mut out = Vec::new();
    hub.on_request(3, lookup(1), now, &mut out);
    hub.on_request(4, lookup(2), now, &mut out);
    hub.on_request(3, lookup(3), now, &mut out);
    assert!(sent_to(3, &out).is_empty() && sent_to(4, &out).is_empty());
    hub.end_turn(now, &mut out);
    let (carol, dave) = (tickets_to(3, &out), tickets_to(4, &out));
    assert_eq!((carol.len(), dave.len()), (4, 2));
    let signature = carol[0].signature;
    let mut leaves = Vec::new();
    for t in carol.iter().chain(&dave) {
        assert_eq!(t.signature, signature, "one signature for the turn");
        assert_eq!(t.proof.depth(), 3, "six tickets");
        assert!(FakeSigner.verifies(&t.signed_message(), &t.signature));
        leaves.push(t.proof.leaf);
    }
    leaves.sort_unstable();
    assert_eq!(leaves, vec![0, 1, 2, 3, 4, 5]);
    // The next turn signs its own tree.
    hub.begin_turn(now, 5_001);
    let mut out = Vec::new();
    hub.on_request(3, lookup(4), now, &mut out);
    hub.end_turn(now, &mut out);
    let next = tickets_to(3, &out);
    assert_ne!(next[0].signature, signature);
    assert_eq!(next[0].proof.depth(), 1);
    assert!(FakeSigner.verifies(&next[0].signed_message(), &next[0].signature));
}

#[test]
fn replies_behind_a_held_lookup_keep_their_order() {
    let mut hub = test_hub(HubConfig::default());
    let now = base();
    join(&mut hub, 1, "alice", now);
    join(&mut hub, 2, "bob", now);
    publish(&mut hub, 1, "x", now);
    hub.begin_turn(now, 0);
    let lookup = |tag, name: &str| {
        Request::Msg(ClientMsg::Lookup {
            tag,
            name: name.into(),
        })
    };
    let mut out = Vec::new();
    hub.on_request(2, lookup(1, "x"), now, &mut out);
    hub.on_request(2, lookup(2, "nothing"), now, &mut out);
    hub.on_request(2, lookup(3, "../bad"), now, &mut out);
    hub.on_request(2, Request::Msg(ClientMsg::Echo { tag: 4 }), now, &mut out);
    hub.on_request(2, lookup(5, "x"), now, &mut out);
    assert!(sent_to(2, &out).is_empty(), "all held or waiting");
    hub.end_turn(now, &mut out);
    assert_eq!(status_of(2, &out), vec![204, 406, 408]);
    // The echo and the lookup behind it come in the next turn, in order.
    hub.begin_turn(now, 0);
    let mut out = Vec::new();
    hub.resume(2, now, &mut out);
    hub.end_turn(now, &mut out);
    assert_eq!(status_of(2, &out), vec![200, 204]);
    // A lookup refused with nothing held goes out at once.
    hub.begin_turn(now, 0);
    let mut out = Vec::new();
    hub.on_request(2, lookup(6, "nothing"), now, &mut out);
    assert_eq!(status_of(2, &out), vec![406]);
}

#[test]
fn a_held_reply_of_a_connection_that_closed_is_dropped() {
    let mut hub = test_hub(HubConfig::default());
    let now = base();
    join(&mut hub, 1, "alice", now);
    join(&mut hub, 2, "bob", now);
    publish(&mut hub, 1, "x", now);
    let mut out = Vec::new();
    let lookup = ClientMsg::Lookup {
        tag: 1,
        name: "x".into(),
    };
    hub.on_message(2, lookup, now, &mut out);
    hub.on_disconnect(2, "gone", now, &mut out);
    // A new connection under the same id is not the session that asked.
    hello(&mut hub, 2, now);
    let mut signed = Vec::new();
    hub.end_turn(now, &mut signed);
    assert!(sent_to(2, &signed).is_empty(), "{signed:?}");
}

#[test]
fn a_turn_s_tree_holds_its_budget_and_one_lookup_of_the_most_holders_past_it() {
    let most = TICKETS_PER_TURN as usize - 1 + MAX_HOLDERS;
    assert!(most <= crate::proto::ticket::tree::MAX_LEAVES, "{most}");
}
