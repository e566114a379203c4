//! End-to-end tests of the client's store commands beside `upload`/`download`: `rm` of
//! my own entry (and the refusals for someone else's or a missing one), my usage and
//! quota in `store`, and an upload to a taken name refused before its tree is read.
//! Every test starts its own hub and peers as real processes over loopback.

mod support;

use serde_json::Value;
use std::ffi::CString;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::Duration;
use support::{check, Hub, Peer};

const SECS_10: Duration = Duration::from_secs(10);
const SECS_30: Duration = Duration::from_secs(30);

/// A logged-in peer per name.
fn peers(hub: &Hub, users: &[&str]) -> Vec<Peer> {
    Peer::logged_in_each(hub, users)
}

/// Send a line and wait for its result.
fn run(peer: &mut Peer, line: &str, timeout: Duration) -> Value {
    let id = peer.send(line);
    peer.wait_result(id, timeout)
}

#[test]
fn rm_removes_my_own_entry_only_and_store_shows_my_usage_against_the_quota() {
    let hub = Hub::start(&["--store-quota", "10000"]);
    let mut ps = peers(&hub, &["alice", "bob"]);
    let (alice, rest) = ps.split_first_mut().unwrap();
    let bob = &mut rest[0];
    let tree = alice.work_dir().join("my tree");
    fs::create_dir_all(tree.join("sub")).unwrap();
    fs::write(tree.join("a"), [1u8; 1000]).unwrap();
    fs::write(tree.join("sub/b"), [2u8; 2000]).unwrap();
    fs::write(tree.join("sub/c"), [3u8; 500]).unwrap();
    check(&run(alice, "upload \"my tree\"", SECS_30), 200, true);
    fs::write(bob.work_dir().join("bobs"), [4u8; 700]).unwrap();
    check(&run(bob, "upload bobs", SECS_30), 200, true);

    let r = run(alice, "store", SECS_10);
    check(&r, 200, true);
    assert_eq!(
        (r["used"].as_u64(), r["quota"].as_u64()),
        (Some(3500), Some(10000))
    );
    let r = run(bob, "store", SECS_10);
    assert_eq!(
        (r["used"].as_u64(), r["quota"].as_u64()),
        (Some(700), Some(10000))
    );

    // Someone else's entry: refused, and it stays; a missing one: 406.
    let r = run(alice, "rm bobs", SECS_10);
    check(&r, 409, false);
    assert!(
        r["message"].as_str().unwrap().contains("belongs to bob"),
        "{r}"
    );
    let r = run(alice, "rm nothing-here", SECS_10);
    check(&r, 406, false);
    let r = run(alice, "rm ../x", SECS_10);
    check(&r, 408, false);

    // My own tree: removed whole, and I am told what went.
    let r = run(alice, "rm \"my tree\"", SECS_10);
    check(&r, 200, true);
    assert_eq!(r["name"], "my tree");
    assert_eq!(r["kind"], "dir");
    assert_eq!(
        (r["files"].as_u64(), r["bytes"].as_u64()),
        (Some(3), Some(3500))
    );
    assert!(r["message"].as_str().unwrap().contains("3 files"), "{r}");

    let r = run(alice, "store", SECS_10);
    assert_eq!(r["used"], 0);
    let names: Vec<&str> = r["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["name"].as_str())
        .collect();
    assert_eq!(names, ["bobs"]);
    check(&run(bob, "download \"my tree\"", SECS_10), 406, false);
    check(&run(alice, "rm \"my tree\"", SECS_10), 406, false);
    // Nothing of the version is left on the hub's disk.
    assert_eq!(
        fs::read_dir(hub.data_dir().join("store")).unwrap().count(),
        1
    );
}

#[test]
fn store_without_a_quota_says_so() {
    let hub = Hub::start(&["--store-quota", "0"]);
    let mut ps = peers(&hub, &["carol"]);
    let r = run(&mut ps[0], "store", SECS_10);
    check(&r, 200, true);
    assert_eq!(
        (r["used"].as_u64(), r["quota"].as_u64()),
        (Some(0), Some(0))
    );
}

/// A directory whose walk fails: nested deeper than the store takes (413).
fn too_deep(root: &Path) {
    let mut deep = root.to_path_buf();
    for _ in 0..140 {
        deep.push("d");
    }
    fs::create_dir_all(&deep).unwrap();
}

/// A directory whose walk reports a `skipped` event: it holds a fifo.
fn with_fifo(root: &Path) {
    fs::create_dir_all(root).unwrap();
    fs::write(root.join("file"), b"content").unwrap();
    let fifo = CString::new(root.join("pipe").as_os_str().as_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path; mkfifo only creates a node.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
}

#[test]
fn an_upload_to_a_taken_name_is_refused_before_its_tree_is_read() {
    let hub = Hub::start(&[]);
    let mut ps = peers(&hub, &["alice", "bob"]);
    let (alice, rest) = ps.split_first_mut().unwrap();
    let bob = &mut rest[0];
    fs::write(alice.work_dir().join("small"), b"taken").unwrap();
    check(&run(alice, "upload small tree", SECS_30), 200, true);
    let taken = run(alice, "upload small tree", SECS_10);
    check(&taken, 409, false);

    // Walking this tree would fail with 413: the name refusal comes first.
    too_deep(&alice.work_dir().join("tree"));
    let r = run(alice, "upload tree", SECS_10);
    check(&r, 409, false);
    assert_eq!(r["message"], taken["message"], "not the name refusal");
    let r = run(alice, "upload tree tree", SECS_10);
    check(&r, 409, false);

    // Walking this one would report its fifo as skipped: it is not walked either.
    // Another user's name is refused at once, even with --replace.
    with_fifo(&bob.work_dir().join("tree"));
    let r = run(bob, "upload tree --replace", SECS_10);
    check(&r, 409, false);
    assert!(
        r["message"].as_str().unwrap().contains("belongs to alice"),
        "{r}"
    );
    let r = run(bob, "upload tree", SECS_10);
    check(&r, 409, false);
    assert!(
        bob.events_named("skipped").is_empty(),
        "the tree was walked"
    );

    // Under a free name the trees are walked as before.
    let r = run(bob, "upload tree other", SECS_30);
    check(&r, 200, true);
    let skipped = bob.events_named("skipped");
    assert_eq!(skipped.len(), 1, "{skipped:?}");
    assert_eq!(skipped[0]["path"], "pipe");
    check(&run(alice, "upload tree other2", SECS_10), 413, false);
}
