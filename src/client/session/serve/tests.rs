//! Tests of serve.rs: plain values in, a verdict and actions out.

use super::super::tests::{logged_in, sent};
use super::super::{Action, Session};
use super::{peer_refusal, OnDisk, PeerRequest, Serving, MAX_AWAITING_REQUEST};
use crate::client::published::Publication;
use crate::proto::message::ClientMsg;
use crate::proto::status::Status;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// When the file `f` (3 bytes) was hashed.
fn hashed_at() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_000)
}

/// A logged-in session publishing `f`, allowed two uploads at once.
fn publishing() -> Session {
    let mut s = logged_in(false);
    s.config.max_uploads = 2;
    s.published
        .insert(Publication::new("f", "dir/f", 3, &[7; 32], hashed_at()));
    s
}

fn ask(name: &str, offset: u64) -> PeerRequest<'_> {
    PeerRequest {
        name,
        offset,
        range_end: None,
        asked: false,
        serving: 0,
    }
}

fn as_hashed() -> OnDisk {
    OnDisk::File {
        size: 3,
        modified: Some(hashed_at()),
    }
}

fn withdrawn(out: &[Action]) -> bool {
    out.iter()
        .any(|a| matches!(a, Action::Event(e) if e.name == "unpublished"))
}

#[test]
fn a_file_as_hashed_is_served_from_the_path_it_was_published_from() {
    let mut s = publishing();
    let mut out = Vec::new();
    let mut looked = None;
    let verdict = s.decide_serving(
        ask("f", 1),
        |path| {
            looked = Some(path.to_owned());
            as_hashed()
        },
        &mut out,
    );
    assert_eq!(
        verdict,
        Serving::Serve {
            size: 3,
            hash: [7; 32]
        }
    );
    assert_eq!(looked.as_deref(), Some("dir/f"));
    assert!(out.is_empty());
}

#[test]
fn a_request_past_the_slots_is_refused_before_the_disk_is_looked_at() {
    let mut s = publishing();
    let mut out = Vec::new();
    let busy = PeerRequest {
        serving: 2,
        ..ask("f", 0)
    };
    let verdict = s.decide_serving(busy, |_| panic!("looked at the disk"), &mut out);
    assert_eq!(
        verdict,
        Serving::Refuse(Status::UNAVAILABLE, "busy: too many uploads".into())
    );
    let one_free = PeerRequest {
        serving: 1,
        ..ask("f", 0)
    };
    let verdict = s.decide_serving(one_free, |_| as_hashed(), &mut out);
    assert!(matches!(verdict, Serving::Serve { .. }), "{verdict:?}");
}

#[test]
fn unknown_names_gone_files_and_offsets_past_the_end_are_refused() {
    let mut s = publishing();
    let mut out = Vec::new();
    let verdict = s.decide_serving(ask("nope", 0), |_| panic!("no file"), &mut out);
    assert_eq!(
        verdict,
        Serving::Refuse(Status::NO_FILE, "nope is not published here".into())
    );
    let verdict = s.decide_serving(ask("f", 4), |_| as_hashed(), &mut out);
    assert!(matches!(verdict, Serving::Refuse(Status::BAD_REQUEST, _)));
    assert!(out.is_empty());
    // Unreadable: refused, still published.
    let verdict = s.decide_serving(ask("f", 0), |_| OnDisk::Unreadable, &mut out);
    assert!(matches!(verdict, Serving::Refuse(Status::NO_FILE, _)));
    assert!(s.published().get("f").is_some() && out.is_empty());
    // Deleted: refused and withdrawn, so the hub sends nobody else.
    let verdict = s.decide_serving(ask("f", 0), |_| OnDisk::Gone, &mut out);
    assert!(matches!(verdict, Serving::Refuse(Status::NO_FILE, _)));
    assert!(s.published().get("f").is_none());
    assert!(withdrawn(&out));
    assert!(sent(&out)
        .iter()
        .any(|m| matches!(m, ClientMsg::Unpublish { name, .. } if name == "f")));
}

#[test]
fn a_changed_file_is_refreshed_once_waited_for_then_refused_if_still_changed() {
    let mut s = publishing();
    let changed = OnDisk::File {
        size: 4,
        modified: Some(hashed_at()),
    };
    let mut out = Vec::new();
    assert_eq!(
        s.decide_serving(ask("f", 0), |_| changed, &mut out),
        Serving::Refresh
    );
    assert!(out
        .iter()
        .any(|a| matches!(a, Action::Hash { local, .. } if local == "dir/f")));
    // A second peer while the refresh runs waits; so do the parked ones.
    assert_eq!(
        s.decide_serving(ask("f", 0), |_| changed, &mut Vec::new()),
        Serving::Wait
    );
    let mut parked = vec![(4, "f".to_owned())];
    assert!(s.parked_due(&mut parked).is_empty());
    assert_eq!(parked.len(), 1);
    // The refresh fails (the file cannot be hashed): the parked upload is due.
    let job = match out.iter().find(|a| matches!(a, Action::Hash { .. })) {
        Some(Action::Hash { job, .. }) => *job,
        _ => unreachable!(),
    };
    let failed = Err((Status::INTERNAL, "dir/f: gone".into()));
    s.on_hashed(job, failed, std::time::Instant::now(), &mut Vec::new());
    assert_eq!(s.parked_due(&mut parked), [4]);
    assert!(parked.is_empty());
    // An upload that asked already is refused when the file is still changed.
    s.published
        .insert(Publication::new("f", "dir/f", 3, &[7; 32], hashed_at()));
    let asked = PeerRequest {
        asked: true,
        ..ask("f", 0)
    };
    let verdict = s.decide_serving(asked, |_| changed, &mut Vec::new());
    assert!(matches!(verdict, Serving::Refuse(Status::UNAVAILABLE, _)));
}

#[test]
fn the_looks_before_a_sync_withdraw_vanished_and_rehash_changed_files() {
    let mut s = publishing();
    let at = hashed_at();
    s.published
        .insert(Publication::new("g", "g", 5, &[8; 32], at));
    s.published
        .insert(Publication::new("h", "h", 6, &[9; 32], at));
    s.published
        .insert(Publication::new("t", "t", 6, &[9; 32], at));
    let looks = vec![
        ("f".to_owned(), as_hashed()),
        ("g".to_owned(), OnDisk::Gone),
        (
            "h".to_owned(),
            OnDisk::File {
                size: 6,
                modified: Some(at + Duration::from_secs(1)),
            },
        ),
        // A time that cannot be read counts as changed.
        (
            "t".to_owned(),
            OnDisk::File {
                size: 6,
                modified: None,
            },
        ),
    ];
    let mut out = Vec::new();
    s.on_looked(looks, &mut out);
    assert!(s.published().get("g").is_none() && withdrawn(&out));
    let rehashed: Vec<&str> = out
        .iter()
        .filter_map(|a| match a {
            Action::Hash { local, .. } => Some(local.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(rehashed, ["h", "t"]);
    let synced: Vec<String> = sent(&out)
        .into_iter()
        .flat_map(|m| match m {
            ClientMsg::Sync { files, .. } => files.into_iter().map(|f| f.name).collect(),
            _ => Vec::new(),
        })
        .collect();
    assert_eq!(synced, ["f"]);
}

#[test]
fn a_connecting_peer_is_taken_below_both_limits_and_told_which_it_hit() {
    let busy = peer_refusal(MAX_AWAITING_REQUEST, || panic!("address counted"));
    assert_eq!(busy, Some("busy: too many peers connecting"));
    let crowded = peer_refusal(MAX_AWAITING_REQUEST - 1, || false);
    assert_eq!(
        crowded,
        Some("busy: too many connections from your address")
    );
    assert_eq!(peer_refusal(0, || true), None);
}
