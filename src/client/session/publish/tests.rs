//! Tests of publish.rs.

use super::super::tests::{
    add_publication, hash_asked, hash_done, logged_in, reply, results, sent, type_line, welcomed,
};
use super::super::{Action, Session};
use crate::proto::message::{Body, ClientMsg};
use crate::proto::status::Status;
use std::time::Instant;

#[test]
fn refresh_is_asked_once_and_tracked() {
    let mut s = logged_in(false);
    add_publication(&mut s, "f", "f", 1, 1);
    let mut out = Vec::new();
    s.refresh("f", &mut out);
    assert!(s.refreshing("f"));
    assert!(matches!(out.as_slice(), [Action::Hash { local, .. }] if local == "f"));
    let job = hash_asked(&out);
    let mut again = Vec::new();
    s.refresh("f", &mut again);
    assert!(again.is_empty());
    let out = hash_done(&mut s, job, "f", 2, 3);
    // Re-announced with replace; still refreshing until the hub says 202.
    let tag = match sent(&out).as_slice() {
        [ClientMsg::Publish {
            tag, replace: true, ..
        }] => *tag,
        other => panic!("{other:?}"),
    };
    assert!(s.refreshing("f"));
    reply(&mut s, tag, Status::PUBLISHED, Body::None);
    assert!(!s.refreshing("f"));
    assert_eq!(s.published().get("f").map(|p| p.size), Some(2));
}

/// Type `publish <name>` and let the hash finish; what the session sent then.
fn publish_hashed(s: &mut Session, id: u64, name: &str, hash: u8) -> Vec<Action> {
    let job = hash_asked(&type_line(s, id, &format!("publish {name}")));
    hash_done(s, job, name, 1, hash)
}

#[test]
fn a_publish_made_while_a_login_is_out_goes_behind_its_sync() {
    let mut s = welcomed(false);
    add_publication(&mut s, "old", "old", 1, 1);
    let out = type_line(&mut s, 1, "login me pw");
    let login = sent(&out)[0].tag().unwrap();
    // The hash ends before the login's reply: nothing may go ahead of the sync.
    let out = publish_hashed(&mut s, 2, "new", 2);
    assert!(sent(&out).is_empty(), "{out:?}");
    let out = reply(
        &mut s,
        login,
        Status::OK,
        Body::LoggedIn {
            online: 1,
            token: "t0".into(),
        },
    );
    assert!(out.contains(&Action::CheckPublished));
    assert!(sent(&out).is_empty(), "{out:?}");
    let mut out = Vec::new();
    s.on_checked(Vec::new(), Vec::new(), &mut out);
    let msgs = sent(&out);
    let publish = match msgs.as_slice() {
        [ClientMsg::Sync {
            first: true, files, ..
        }, ClientMsg::Publish { tag, file, .. }] => {
            assert_eq!(files.len(), 1);
            assert_eq!(files[0].name, "old");
            assert_eq!(file.name, "new");
            *tag
        }
        other => panic!("{other:?}"),
    };
    let out = reply(&mut s, publish, Status::PUBLISHED, Body::None);
    assert_eq!(results(&out)[0].status, 202);
    assert!(s.published().get("new").is_some());
    // Once synced, publications go at once.
    let out = publish_hashed(&mut s, 3, "third", 3);
    assert!(matches!(sent(&out).as_slice(), [ClientMsg::Publish { .. }]));
}

#[test]
fn a_failed_login_or_a_lost_link_releases_held_publications() {
    let mut s = logged_in(false);
    // A second login (403) holds a publish only until its reply.
    let out = type_line(&mut s, 1, "login me pw");
    let login = sent(&out)[0].tag().unwrap();
    let out = type_line(&mut s, 2, "unpublish x");
    assert!(sent(&out).is_empty(), "{out:?}");
    let out = reply(&mut s, login, Status::ALREADY_LOGGED_IN, Body::None);
    assert!(matches!(
        sent(&out).as_slice(),
        [ClientMsg::Unpublish { .. }]
    ));
    // Held when the link drops: the publish fails with 503, nothing is sent later.
    type_line(&mut s, 3, "login me pw");
    let out = publish_hashed(&mut s, 4, "f", 4);
    assert!(sent(&out).is_empty());
    let mut out = Vec::new();
    s.on_lost("gone", Instant::now(), &mut out);
    let failed: Vec<u64> = results(&out).iter().map(|r| r.id).collect();
    assert!(failed.contains(&4), "{out:?}");
    assert!(sent(&out).is_empty());
    assert!(s.held.is_empty());
    assert_eq!(s.sync_gate, 0);
}

#[test]
fn the_clients_own_files_are_refused_at_publish() {
    let mut s = logged_in(false);
    for line in [
        "publish .peerhub-published.json",
        "publish .peerhub-published.json state.json",
        "publish notes.txt .peerhub-notes",
        "publish .peerhub-x/inner.txt",
    ] {
        let out = type_line(&mut s, 1, line);
        match out.as_slice() {
            [Action::Result(r)] => assert_eq!(r.status, 408, "{line}: {}", r.message),
            other => panic!("{line}: {other:?}"),
        }
    }
    // A link resolves to the state file: refused once the loop names the real path.
    let job = hash_asked(&type_line(&mut s, 2, "publish link.json"));
    let out = hash_done(&mut s, job, ".peerhub-published.json", 2, 1);
    assert!(sent(&out).is_empty());
    assert_eq!(results(&out)[0].status, 408);
    assert!(s.published().is_empty());
}
