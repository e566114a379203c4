//! Swarm downloads end to end (issue #14): a file taken from several holders at once,
//! each 16 KiB group verified against the published root before it is written; the
//! `transfers` row and the result name every source; a fetcher killed mid-way resumes
//! from its verified groups only; `--sequential` grows the verified prefix in order;
//! and a holder that misbehaves — corrupt data, a wrong tree node, a range nobody asked
//! for, bytes past the range, a proof cut short, a stall — is dropped (and reported
//! when it sent bad data) while the file still comes whole from the others.

mod support;

use serde_json::Value;
use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::Duration;
use support::mallory::{Mallory, Misdeed};
use support::{check, random_bytes, Hub, Peer, PeerOpts};

const SECS_10: Duration = Duration::from_secs(10);
const SECS_60: Duration = Duration::from_secs(60);
const MIB: usize = 1 << 20;

/// Send a line and wait up to `timeout` for its result.
fn run_for(peer: &mut Peer, line: &str, timeout: Duration) -> Value {
    let id = peer.send(line);
    peer.wait_result(id, timeout)
}

fn sha256(path: &Path) -> String {
    let out = Command::new("sha256sum")
        .arg(path)
        .output()
        .expect("sha256sum");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_owned()
}

fn sha256_of(data: &[u8], dir: &Path) -> String {
    let path = dir.join("expected.bin");
    fs::write(&path, data).unwrap();
    let sum = sha256(&path);
    fs::remove_file(path).unwrap();
    sum
}

/// Logged-in holders of `data` as `name`, each with `extra` flags.
fn holders(hub: &Hub, users: &[&str], name: &str, data: &[u8], extra: &[&str]) -> Vec<Peer> {
    users
        .iter()
        .map(|user| {
            let mut p = Peer::start(hub.addr(), extra);
            p.register_login(user, "pw");
            fs::write(p.share_dir().join(name), data).unwrap();
            check(&p.run(&format!("publish {name}")), 202, true);
            p
        })
        .collect()
}

/// The users of a result's `sources`, and the bytes they sum to.
fn sources_of(r: &Value) -> (Vec<String>, u64) {
    let list = r["sources"].as_array().cloned().unwrap_or_default();
    let users = list
        .iter()
        .map(|s| s["user"].as_str().unwrap_or_default().to_owned())
        .collect();
    let bytes = list.iter().map(|s| s["bytes"].as_u64().unwrap_or(0)).sum();
    (users, bytes)
}

#[test]
fn three_holders_serve_one_64_mib_file_and_every_one_is_named() {
    let hub = Hub::start(&["--auth-rate", "0"]);
    let data = random_bytes(64 * MIB, 21);
    // Rate-limited so that no one holder finishes before the others start.
    let _holders = holders(
        &hub,
        &["alice", "carol", "dave"],
        "film.mkv",
        &data,
        &["--upload-rate", "12000000"],
    );
    let mut bob = Peer::logged_in(hub.addr(), "bob");
    let id = bob.send("fetch film.mkv");
    // One row for the file, naming the holders that gave it bytes so far.
    let row = support::poll_until("a row with two sources or more", SECS_60, || {
        let r = bob.run("transfers");
        let rows = r["transfers"].as_array().cloned().unwrap_or_default();
        let downloads: Vec<&Value> = rows
            .iter()
            .filter(|t| t["direction"] == "download")
            .collect();
        assert!(downloads.len() <= 1, "one row per file: {r}");
        downloads
            .first()
            .filter(|row| row["sources"].as_array().is_some_and(|s| s.len() >= 2))
            .map(|row| (*row).clone())
    });
    assert_eq!(row["name"], "film.mkv");
    assert!(row["verified_prefix"].as_u64().is_some(), "{row}");

    let r = bob.wait_result(id, SECS_60);
    check(&r, 205, true);
    let (mut users, bytes) = sources_of(&r);
    assert_eq!(
        bytes,
        data.len() as u64,
        "every verified byte counted once: {r}"
    );
    let from = r["from"].as_str().unwrap().to_owned();
    assert_eq!(users[0], from, "the main source gave the most");
    users.sort();
    assert_eq!(users, ["alice", "carol", "dave"], "{r}");
    assert_eq!(r["bad_sources"], serde_json::json!([]));
    let got = bob.share_dir().join("film.mkv");
    assert_eq!(sha256(&got), sha256_of(&data, &bob.work_dir()));
    assert!(!bob.share_dir().join("film.mkv.part").exists());
}

#[test]
fn a_killed_fetcher_resumes_from_its_verified_groups_only() {
    let hub = Hub::start(&["--auth-rate", "0"]);
    let data = random_bytes(24 * MIB, 22);
    let _holders = holders(
        &hub,
        &["alice", "carol"],
        "disk.img",
        &data,
        &["--upload-rate", "3000000"],
    );
    let mut bob = Peer::logged_in(hub.addr(), "bob");
    let share = bob.share_dir().to_path_buf();
    bob.send("fetch disk.img");
    support::poll_until("2 MiB verified in the record", SECS_60, || {
        (support::verified_in_record(&share, "disk.img") >= 2 * MIB as u64).then_some(())
    });
    bob.kill9();
    let kept = support::verified_in_record(&share, "disk.img");
    assert!(kept < data.len() as u64);

    let mut opts = PeerOpts::new(hub.addr());
    opts.share = Some(share.clone());
    let mut again = Peer::spawn(opts);
    check(&again.login("bob", "pw"), 200, true);
    let r = run_for(&mut again, "fetch disk.img", SECS_60);
    check(&r, 205, true);
    assert_eq!(
        r["resumed"], kept,
        "exactly the verified groups are kept: {r}"
    );
    assert_eq!(r["received"].as_u64().unwrap(), data.len() as u64 - kept);
    assert!(fs::read(share.join("disk.img")).unwrap() == data);
}

#[test]
fn sequential_grows_the_verified_prefix_from_the_start() {
    let hub = Hub::start(&["--auth-rate", "0"]);
    let data = random_bytes(12 * MIB, 23);
    let _holders = holders(
        &hub,
        &["alice", "carol"],
        "talk.mp4",
        &data,
        &["--upload-rate", "4000000"],
    );
    let mut bob = Peer::start(hub.addr(), &["--progress-events"]);
    bob.register_login("bob", "pw");
    let r = run_for(&mut bob, "fetch talk.mp4 --sequential", SECS_60);
    check(&r, 205, true);
    assert!(fs::read(bob.share_dir().join("talk.mp4")).unwrap() == data);
    let events = bob.events_named("progress");
    assert!(events.len() >= 3, "{events:?}");
    let mut last = 0;
    for e in &events {
        let prefix = e["verified_prefix"].as_u64().expect("a verified prefix");
        let bytes = e["bytes"].as_u64().unwrap();
        assert!(prefix >= last, "the prefix only grows: {events:?}");
        // Only the 1 MiB segments in flight (one per holder) lie beyond it.
        assert!(bytes - prefix <= 2 * MIB as u64, "{e}");
        last = prefix;
    }
    assert!(last > 0);
}

/// Everything a fetch beside a misbehaving holder leaves running, for what comes next.
struct Beside {
    bob: Peer,
    _holders: (Vec<Peer>, Mallory),
    _hub: Hub,
    data: Vec<u8>,
}

/// Fetch `doc.pdf` from alice and `mallory` (who plays `misdeed`): the result, and the
/// processes, all still up.
fn fetch_beside(misdeed: Misdeed, bob_flags: &[&str]) -> (Value, Beside) {
    let hub = Hub::start(&["--auth-rate", "0"]);
    let data = random_bytes(8 * MIB, 24);
    let honest = holders(
        &hub,
        &["alice"],
        "doc.pdf",
        &data,
        &["--upload-rate", "8000000"],
    );
    let mallory = Mallory::start(hub.addr(), "mallory", "doc.pdf", &data, misdeed);
    let mut bob = Peer::start(hub.addr(), bob_flags);
    bob.register_login("bob", "pw");
    let r = run_for(&mut bob, "fetch doc.pdf", SECS_60);
    let beside = Beside {
        bob,
        _holders: (honest, mallory),
        _hub: hub,
        data,
    };
    (r, beside)
}

#[test]
fn a_holder_that_sends_bad_data_is_dropped_and_reported_and_the_file_still_verifies() {
    for misdeed in [
        Misdeed::CorruptGroup,
        Misdeed::WrongNode,
        Misdeed::UnaskedRange,
        Misdeed::MoreBytes,
    ] {
        // Kept whole: the hub and the holders must outlive what is asked below.
        let (r, mut beside) = fetch_beside(misdeed, &[]);
        let (bob, data) = (&mut beside.bob, &beside.data);
        check(&r, 205, true);
        assert_eq!(
            r["bad_sources"],
            serde_json::json!(["mallory"]),
            "{misdeed:?}: {r}"
        );
        assert_eq!(r["from"], "alice", "{misdeed:?}: {r}");
        let (_, bytes) = sources_of(&r);
        assert_eq!(bytes, data.len() as u64, "{misdeed:?}: {r}");
        assert!(
            fs::read(bob.share_dir().join("doc.pdf")).unwrap() == *data,
            "{misdeed:?}: nothing unverified was written"
        );
        let dropped = bob.wait_event("source_dropped", |e| e["user"] == "mallory", SECS_10);
        assert_eq!(dropped["bad"], true, "{dropped}");
        // The report was taken: while alice holds it, the hub offers mallory to bob no
        // more (mallory is still online).
        let r = bob.run("fetch doc.pdf --from mallory --as again.pdf");
        check(&r, 406, false);
    }
}

#[test]
fn a_holder_that_cuts_a_proof_short_or_stalls_is_dropped_without_blame() {
    for (misdeed, flags) in [
        (Misdeed::Truncated, &[][..]),
        (Misdeed::Stall, &["--stall-timeout", "1"][..]),
    ] {
        let (r, mut beside) = fetch_beside(misdeed, flags);
        let (bob, data) = (&mut beside.bob, &beside.data);
        check(&r, 205, true);
        assert_eq!(r["bad_sources"], serde_json::json!([]), "{misdeed:?}: {r}");
        assert!(fs::read(bob.share_dir().join("doc.pdf")).unwrap() == *data);
        let dropped = bob.wait_event("source_dropped", |e| e["user"] == "mallory", SECS_10);
        assert_eq!(dropped["bad"], false, "{dropped}");
    }
}
