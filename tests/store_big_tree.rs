//! End-to-end: chat keeps flowing while a big store tree is walked and while one is
//! deleted, because neither is done in one turn of a loop — the client walks what
//! `upload` was given 512 entries a turn, the hub deletes a removed version 256
//! entries a turn. Every test starts its own hub and peers as real processes over
//! loopback and checks the order of what they print, never how long anything took.

mod support;

use serde_json::Value;
use std::fs::{self, File};
use std::path::Path;
use std::time::{Duration, Instant};
use support::{check, files_under, poll_until, Hub, Peer};

const SECS_10: Duration = Duration::from_secs(10);
const SECS_60: Duration = Duration::from_secs(60);

/// Top-level directories of the big tree, subdirectories in each, empty files in each
/// subdirectory: 40,000 files in 420 directories.
const TOP: usize = 20;
const SUB: usize = 20;
const FILES: usize = 100;

/// The big tree under `root`: `dNN/eMM/fKKK`, every file empty.
fn big_tree(root: &Path) -> usize {
    for d in 0..TOP {
        for e in 0..SUB {
            let dir = root.join(format!("d{d:02}/e{e:02}"));
            fs::create_dir_all(&dir).unwrap();
            for f in 0..FILES {
                File::create(dir.join(format!("f{f:03}"))).unwrap();
            }
        }
    }
    TOP * SUB * FILES
}

/// The result of input line `id` has been printed by now.
fn has_result(peer: &mut Peer, id: u64) -> bool {
    peer.pump();
    peer.results().iter().any(|r| r["id"] == id)
}

/// One round of chat between `a` and `b`: `a` says a line to everyone and `b` sees
/// it, then `b` sends `a` a private line and `a` sees it. The texts carry `round`.
fn chat_round(a: &mut Peer, b: &mut Peer, round: usize) {
    let (a_name, b_name) = (name_of(a), name_of(b));
    let text = format!("{a_name} round {round}");
    reaches(a, b, &format!("say {text}"), "chat", &text);
    let text = format!("{b_name} answers round {round}");
    reaches(b, a, &format!("msg {a_name} {text}"), "private", &text);
}

/// `from` types `line`, which is answered 200, and `to` prints `text` from `from` as
/// the event `event`.
fn reaches(from: &mut Peer, to: &mut Peer, line: &str, event: &str, text: &str) {
    check(&from.run(line), 200, true);
    let sender = name_of(from);
    to.wait_event(event, |e| e["from"] == sender && e["text"] == text, SECS_10);
}

/// The user a peer logged in as (its label is `peer <user>`).
fn name_of(peer: &Peer) -> String {
    peer.label().trim_start_matches("peer ").to_owned()
}

/// The hub's count of open store connections (its console's `stats`).
fn store_connections(hub: &mut Hub) -> u64 {
    let r = hub.run("stats");
    check(&r, 200, true);
    r["store_connections"].as_u64().expect("store_connections")
}

/// The directories in the hub's store (versions, incoming or committed).
fn store_dirs(hub: &Hub) -> usize {
    fs::read_dir(hub.data_dir().join("store")).unwrap().count()
}

/// Every temporary directory (the hub's data and store, the peers' directories, the
/// tree) in memory where the system has a tmpfs at `/dev/shm`: the hub flushes every
/// file of an upload, and a disk busy with other work would make those 40,000 flushes
/// the length of this test (the loops' slicing is what it is about, not the disk).
fn temp_in_memory() {
    if Path::new("/dev/shm").is_dir() {
        std::env::set_var("TMPDIR", "/dev/shm");
    }
}

/// (a) While alice's client walks a tree of 40,000 files for `upload`, alice and bob
/// chat both ways, several rounds, and every line arrives before alice's upload has
/// its result — and before the hub even has its store connection: the client opens it
/// only once the walk is done (the walk's totals go into the ticket's request), so a
/// hub with no store connection after the chat means the chat ran while the walk was
/// still under way. A walk done in one turn would keep alice's client from reading
/// her input and bob's lines until it ended and then ask for the ticket at once: the
/// store connection would be open before the last round of chat went round (and the
/// test fails so when the walk's slice is made unbounded).
///
/// (b) Then alice removes the entry. Her `rm` is answered once the database forgot
/// it; its 40,000 files leave the disk afterwards, a slice a turn. Chat between bob
/// and carol, sent after the `rm` was answered, goes round while the version's
/// directory is still on the disk; the deletion's end is seen later, when the store
/// directory is empty. A deletion done in one turn would have finished before the
/// hub read bob's line, so the directory would be gone by the time carol saw it (the
/// test fails so when the removal's slice is made unbounded).
#[test]
fn chat_flows_while_a_big_tree_is_walked_for_upload_and_while_it_is_deleted() {
    temp_in_memory();
    let mut hub = Hub::start(&["--auth-rate", "0"]);
    let mut ps = Peer::logged_in_each(&hub, &["alice", "bob", "carol"]);
    let [alice, bob, carol] = &mut ps[..] else {
        unreachable!("three peers");
    };
    let made = Instant::now();
    let files = big_tree(&alice.work_dir().join("big"));
    eprintln!("tree of {files} files made in {:?}", made.elapsed());

    // (a) The walk.
    let started = Instant::now();
    let upload = alice.send("upload big");
    for round in 0..3 {
        chat_round(alice, bob, round);
        chat_round(bob, alice, round);
    }
    let chatted = started.elapsed();
    assert!(
        !has_result(alice, upload),
        "the upload ended before the chat went round"
    );
    assert_eq!(
        store_connections(&mut hub),
        0,
        "the walk ended before the chat went round"
    );
    let r = alice.wait_result(upload, SECS_60);
    check(&r, 200, true);
    assert_eq!(r["files"].as_u64(), Some(files as u64), "{r}");
    eprintln!(
        "chat went round in {chatted:?}; the upload took {:?}",
        started.elapsed()
    );

    // (b) The deletion.
    let removing = Instant::now();
    let r = alice.run("rm big");
    check(&r, 200, true);
    assert_eq!(
        store_dirs(&hub),
        1,
        "the version is there when rm is answered"
    );
    for round in 0..3 {
        chat_round(bob, carol, round);
    }
    let chatted = removing.elapsed();
    assert_eq!(
        store_dirs(&hub),
        1,
        "the deletion ended before the chat went round"
    );
    let left = files_under(&hub.data_dir().join("store")).len();
    assert!(left < files, "the deletion has not begun");
    let r = bob.run("store");
    let entries: &Vec<Value> = r["entries"].as_array().expect("entries");
    assert!(entries.is_empty(), "{r}");
    poll_until("the version deleted from the disk", SECS_60, || {
        (store_dirs(&hub) == 0).then_some(())
    });
    eprintln!(
        "chat went round in {chatted:?} with {left} files left; the deletion took {:?}",
        removing.elapsed()
    );
}
