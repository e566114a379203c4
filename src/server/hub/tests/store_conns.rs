//! Tests of what the hub does for a store connection, over plain values: the ticket it
//! presents, the version an upload is given, the checks and the commit after it, the
//! readers that keep a version, and what a failure or a close lets go of.

use super::super::{Action, HubConfig};
use super::{addr, base, join, put_file as put, sent_to, stored, test_hub, TestHub, HUB_PORT};
use crate::proto::codec::StatusError;
use crate::proto::message::{Body, ClientMsg, HubMsg, Role, StoreKind, StoreToken, VERSION};
use crate::proto::status::Status;
use crate::server::persist::Backend;
use crate::server::storelink::{StoreEvent, StoreOrder};
use crate::transfer::tree::TreeItem;
use std::rc::Rc;
use std::time::Instant;

/// The ticket `conn` is given for `msg`.
fn ticket(hub: &mut TestHub, conn: usize, msg: ClientMsg, now: Instant) -> StoreToken {
    let mut out = Vec::new();
    hub.on_message(conn, msg, now, &mut out);
    match sent_to(conn, &out).pop() {
        Some(HubMsg::Reply {
            body: Body::Ticket { token, .. },
            ..
        }) => token,
        other => panic!("no ticket: {other:?}"),
    }
}

fn get(name: &str) -> ClientMsg {
    ClientMsg::StoreGet {
        tag: 8,
        name: name.into(),
    }
}

/// Connection `conn` says hello as a store connection; the hub hands it over.
fn store_conn(hub: &mut TestHub, conn: usize, now: Instant) {
    let mut out = Vec::new();
    hub.on_connect(conn, addr(7000), addr(HUB_PORT), now, &mut out);
    let hello = ClientMsg::Hello {
        version: VERSION,
        role: Role::Store,
    };
    hub.on_message(conn, hello, now, &mut out);
    assert!(matches!(out.last(), Some(Action::Upgrade(c)) if *c == conn));
}

/// What the hub does on `event` from `conn`.
fn event(hub: &mut TestHub, conn: usize, event: StoreEvent, now: Instant) -> Vec<Action> {
    let mut out = Vec::new();
    hub.on_store_event(conn, event, now, &mut out);
    out
}

/// The order to `conn` in `out`.
fn order(conn: usize, out: &[Action]) -> &StoreOrder {
    out.iter()
        .find_map(|a| match a {
            Action::Store(c, order) if *c == conn => Some(&**order),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no order in {out:?}"))
}

/// The versions `out` has removed.
fn removed(out: &[Action]) -> Vec<String> {
    out.iter()
        .filter_map(|a| match a {
            Action::RemoveVersion(v) => Some(v.clone()),
            _ => None,
        })
        .collect()
}

fn file(path: &str, size: u64) -> Rc<[TreeItem]> {
    Rc::from(vec![TreeItem {
        path: path.into(),
        kind: StoreKind::File,
        size,
        hash: Some([3; 32]),
    }])
}

/// The user on connection 1 asks to upload `name` of `bytes` and presents the ticket on
/// store connection `sc`: the version the hub names for it.
fn begin_upload(hub: &mut TestHub, sc: usize, name: &str, bytes: u64, replace: bool) -> String {
    let now = base();
    let token = ticket(hub, 1, put(name, bytes, replace), now);
    store_conn(hub, sc, now);
    let out = event(hub, sc, StoreEvent::Ticket(token), now);
    let StoreOrder::Receive { version, limits } = order(sc, &out) else {
        panic!("{out:?}");
    };
    assert_eq!((limits.root.as_str(), limits.max_bytes), (name, bytes));
    version.clone()
}

/// Upload `name` of `bytes` as the user on connection 1 through store connection `sc`,
/// up to the commit; the version it went into and the commit's actions.
fn upload(hub: &mut TestHub, sc: usize, name: &str, bytes: u64) -> (String, Vec<Action>) {
    let now = base();
    let version = begin_upload(hub, sc, name, bytes, true);
    event(hub, sc, StoreEvent::Progress(bytes), now);
    let out = event(hub, sc, StoreEvent::Received(file(name, bytes)), now);
    assert!(matches!(order(sc, &out), StoreOrder::Flush));
    (
        version.clone(),
        event(hub, sc, StoreEvent::Flushed(Ok(())), now),
    )
}

/// Upload `name` (3 bytes) through store connection 9, then ask for its download and
/// open store connection 10 for it: the version and the download's ticket.
fn stored_and_ticketed(hub: &mut TestHub, name: &str) -> (String, StoreToken) {
    let now = base();
    let (version, _) = upload(hub, 9, name, 3);
    event(hub, 9, StoreEvent::Closed("done".into()), now);
    let token = ticket(hub, 1, get(name), now);
    store_conn(hub, 10, now);
    (version, token)
}

#[test]
fn an_upload_gets_a_fresh_version_and_is_committed_announced_and_answered() {
    let mut hub = test_hub(HubConfig::default());
    let now = base();
    join(&mut hub, 1, "alice", now);
    join(&mut hub, 2, "bob", now);
    let (version, out) = upload(&mut hub, 9, "a.txt", 5);
    assert_eq!(version.len(), 24);
    assert!(version.bytes().all(|b| b.is_ascii_hexdigit()));
    let StoreOrder::Verdict {
        status, message, ..
    } = order(9, &out)
    else {
        panic!("{out:?}");
    };
    assert_eq!(
        (status.0, message.as_str()),
        (200, "stored a.txt (1 file, 5 B)")
    );
    assert!(sent_to(2, &out)
        .iter()
        .any(|m| matches!(m, HubMsg::Upload { name, .. } if name == "a.txt")));
    assert!(
        !sent_to(1, &out)
            .iter()
            .any(|m| matches!(m, HubMsg::Upload { .. })),
        "the uploader is not told"
    );
    assert!(out.iter().any(|a| matches!(a, Action::Event(_))));
    assert_eq!(hub.catalogue.get("a.txt").unwrap().version, version);
    assert!(removed(&out).is_empty());
    assert_eq!(hub.store_connections(), 1);
    event(&mut hub, 9, StoreEvent::Closed("done".into()), now);
    assert_eq!(hub.store_connections(), 0);
    // A second upload gets another version; the first goes from the disk.
    let (second, out) = upload(&mut hub, 9, "a.txt", 3);
    assert_ne!(second, version);
    assert_eq!(removed(&out), [version]);
}

#[test]
fn a_replaced_version_stays_until_its_download_ends() {
    let mut hub = test_hub(HubConfig::default());
    let now = base();
    join(&mut hub, 1, "alice", now);
    let (first, token) = stored_and_ticketed(&mut hub, "r");
    let out = event(&mut hub, 10, StoreEvent::Ticket(token), now);
    let StoreOrder::Send {
        version,
        kind,
        items,
    } = order(10, &out)
    else {
        panic!("{out:?}");
    };
    assert_eq!((version, *kind), (&first, StoreKind::File));
    assert_eq!(items.as_slice(), &*file("r", 3));
    let (_, out) = upload(&mut hub, 9, "r", 4);
    assert!(removed(&out).is_empty(), "a download still reads it");
    let out = event(&mut hub, 10, StoreEvent::Served, now);
    assert_eq!(removed(&out), [first]);
    let out = event(&mut hub, 10, StoreEvent::Closed("served".into()), now);
    assert!(removed(&out).is_empty());
}

#[test]
fn a_bad_ticket_is_refused_and_a_download_of_a_removed_entry_too() {
    let mut hub = test_hub(HubConfig::default());
    let now = base();
    join(&mut hub, 1, "alice", now);
    store_conn(&mut hub, 9, now);
    let out = event(&mut hub, 9, StoreEvent::Ticket([0; 16]), now);
    assert!(matches!(order(9, &out), StoreOrder::Refuse(s, _) if *s == Status::NOT_LOGGED_IN));
    stored(&mut hub, "gone", "alice", 1, 1);
    let token = ticket(&mut hub, 1, get("gone"), now);
    let mut out = Vec::new();
    hub.on_console(1, "rm gone", now, &mut out);
    store_conn(&mut hub, 10, now);
    let out = event(&mut hub, 10, StoreEvent::Ticket(token), now);
    assert!(matches!(order(10, &out), StoreOrder::Refuse(s, _) if *s == Status::NO_FILE));
}

#[test]
fn a_failed_cut_off_or_unflushed_upload_frees_its_name_and_goes_from_the_disk() {
    let mut hub = test_hub(HubConfig::default());
    let now = base();
    join(&mut hub, 1, "alice", now);
    let start = |hub: &mut TestHub, sc: usize| begin_upload(hub, sc, "x", 10, false);
    // Bad data.
    let version = start(&mut hub, 9);
    assert!(hub.tickets.is_reserved("x"));
    let bad = StatusError::new(Status::INTEGRITY, "x: wrong hash");
    let out = event(&mut hub, 9, StoreEvent::Failed(bad), now);
    assert!(
        matches!(order(9, &out), StoreOrder::Verdict { status, .. } if *status == Status::INTEGRITY)
    );
    assert_eq!(removed(&out), [version]);
    assert!(!hub.tickets.is_reserved("x"));
    event(&mut hub, 9, StoreEvent::Closed("answered".into()), now);
    // Cut off.
    let version = start(&mut hub, 9);
    let out = event(&mut hub, 9, StoreEvent::Closed("reset".into()), now);
    assert_eq!(removed(&out), [version]);
    assert!(!hub.tickets.is_reserved("x"));
    // The disk failed the flush.
    let version = start(&mut hub, 9);
    event(&mut hub, 9, StoreEvent::Received(file("x", 10)), now);
    let full = StatusError::new(Status::DISK_FULL, "store: no space left");
    let out = event(&mut hub, 9, StoreEvent::Flushed(Err(full)), now);
    assert!(
        matches!(order(9, &out), StoreOrder::Verdict { status, .. } if *status == Status::DISK_FULL)
    );
    assert_eq!(removed(&out), [version]);
    assert!(hub.catalogue.get("x").is_none() && !hub.tickets.is_reserved("x"));
    event(&mut hub, 9, StoreEvent::Closed("answered".into()), now);
    assert_eq!((hub.store_connections(), hub.tickets.open()), (0, 0));
}

#[test]
fn a_received_upload_that_no_longer_fits_is_refused_before_its_flush() {
    let mut hub = test_hub(HubConfig::default());
    let now = base();
    join(&mut hub, 1, "alice", now);
    join(&mut hub, 2, "bob", now);
    let version = begin_upload(&mut hub, 9, "race", 10, false);
    // Meanwhile the name became bob's (as an older hub's entry could be).
    stored(&mut hub, "race", "bob", 1, 1);
    let out = event(&mut hub, 9, StoreEvent::Received(file("race", 10)), now);
    let StoreOrder::Verdict {
        status, message, ..
    } = order(9, &out)
    else {
        panic!("{out:?}");
    };
    assert_eq!(status.0, 409);
    assert!(message.contains("belongs to bob"), "{message}");
    assert_eq!(removed(&out), [version]);
}

#[test]
fn a_record_the_backend_fails_is_a_500_and_its_version_goes() {
    let mut hub = test_hub(HubConfig::default());
    let now = base();
    join(&mut hub, 1, "alice", now);
    let version = begin_upload(&mut hub, 9, "x", 4, false);
    event(&mut hub, 9, StoreEvent::Received(file("x", 4)), now);
    hub.memory().broken = Some("disk I/O error".into());
    let out = event(&mut hub, 9, StoreEvent::Flushed(Ok(())), now);
    let StoreOrder::Verdict {
        status, message, ..
    } = order(9, &out)
    else {
        panic!("{out:?}");
    };
    assert_eq!((status.0, message.as_str()), (500, "store: disk I/O error"));
    assert_eq!(removed(&out), [version]);
    assert!(hub.catalogue.get("x").is_none() && !hub.tickets.is_reserved("x"));
}

#[test]
fn the_verdict_waits_for_the_record_which_outlives_its_connection() {
    let mut hub = test_hub(HubConfig::default());
    let now = base();
    join(&mut hub, 1, "alice", now);
    join(&mut hub, 2, "bob", now);
    begin_upload(&mut hub, 9, "late", 4, false);
    event(&mut hub, 9, StoreEvent::Received(file("late", 4)), now);
    // Not settled: the ask stays out, as with a backend that answers later.
    let mut out = Vec::new();
    hub.hub
        .on_store_event(9, StoreEvent::Flushed(Ok(())), now, &mut out);
    let Some(Action::Persist(id, ask)) = out.pop() else {
        panic!("{out:?}");
    };
    assert!(out.is_empty(), "no verdict before the answer: {out:?}");
    assert!(hub.catalogue.get("late").is_none());
    let out = event(&mut hub, 9, StoreEvent::Closed("reset".into()), now);
    assert!(
        removed(&out).is_empty(),
        "a committing upload is not aborted"
    );
    hub.backend.submit(id, *ask);
    let (id, answer) = hub.backend.take_done().unwrap();
    let out = hub.answer(id, answer, now);
    assert!(hub.catalogue.get("late").is_some());
    assert!(
        !out.iter().any(|a| matches!(a, Action::Store(..))),
        "{out:?}"
    );
    assert!(sent_to(2, &out)
        .iter()
        .any(|m| matches!(m, HubMsg::Upload { name, .. } if name == "late")));
}

#[test]
fn a_manifest_that_cannot_be_read_refuses_the_download_and_lets_its_version_go() {
    let mut hub = test_hub(HubConfig::default());
    let now = base();
    join(&mut hub, 1, "alice", now);
    let (first, token) = stored_and_ticketed(&mut hub, "m");
    hub.memory().broken = Some("disk I/O error".into());
    let out = event(&mut hub, 10, StoreEvent::Ticket(token), now);
    assert!(
        matches!(order(10, &out), StoreOrder::Refuse(s, t) if s.0 == 500 && t == "store: disk I/O error")
    );
    hub.memory().broken = None;
    let (_, out) = upload(&mut hub, 9, "m", 4);
    assert_eq!(removed(&out), [first], "no reader holds it any more");
}

#[test]
fn a_late_manifest_for_a_closed_connection_does_not_reach_the_next_one_on_its_id() {
    let mut hub = test_hub(HubConfig::default());
    let now = base();
    join(&mut hub, 1, "alice", now);
    let (version, token) = stored_and_ticketed(&mut hub, "m");
    // Not settled: the manifest's ask stays out, as with a backend that answers later.
    let mut out = Vec::new();
    hub.hub
        .on_store_event(10, StoreEvent::Ticket(token), now, &mut out);
    let Some(Action::Persist(old_id, old_ask)) = out.pop() else {
        panic!("{out:?}");
    };
    event(&mut hub, 10, StoreEvent::Closed("reset".into()), now);
    // A new store connection gets the same id and downloads the same version.
    let token = ticket(&mut hub, 1, get("m"), now);
    store_conn(&mut hub, 10, now);
    let mut out = Vec::new();
    hub.hub
        .on_store_event(10, StoreEvent::Ticket(token), now, &mut out);
    let Some(Action::Persist(new_id, new_ask)) = out.pop() else {
        panic!("{out:?}");
    };
    hub.backend.submit(old_id, *old_ask);
    let (id, answer) = hub.backend.take_done().unwrap();
    let out = hub.answer(id, answer, now);
    assert!(
        !out.iter().any(|a| matches!(a, Action::Store(..))),
        "the old answer is not the new connection's: {out:?}"
    );
    hub.backend.submit(new_id, *new_ask);
    let (id, answer) = hub.backend.take_done().unwrap();
    let out = hub.answer(id, answer, now);
    assert!(
        matches!(order(10, &out), StoreOrder::Send { version: v, .. } if *v == version),
        "{out:?}"
    );
}
