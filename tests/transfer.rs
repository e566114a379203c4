//! End-to-end tests of peer-to-peer transfers: `fetch`, `transfers`, `cancel`, serving
//! from the peer listener, resuming, verification, reports, and bad input on the peer
//! port. Every test starts its own hub and peers as real processes over loopback.

mod support;

use peerhub::proto::peer;
use peerhub::trust::Fingerprint;
use serde_json::Value;
use std::fs;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::Duration;
use support::fetcher::{fetch_with, get_bytes, Fetcher};
use support::{check, random_bytes, Hub, Peer};

const SECS_10: Duration = Duration::from_secs(10);
const SECS_20: Duration = Duration::from_secs(20);

fn hex(data: &[u8]) -> String {
    blake3::hash(data).to_hex().to_string()
}

/// A hub and a logged-in peer per name, each with `extra` flags.
fn peers(hub: &Hub, users: &[(&str, &[&str])]) -> Vec<Peer> {
    users
        .iter()
        .map(|(user, extra)| {
            let mut p = Peer::start(hub.addr(), extra);
            p.register_login(user, "pw");
            p
        })
        .collect()
}

/// Write `data` as `file` in the peer's share dir and publish it as `name`.
fn publish(peer: &mut Peer, file: &str, name: &str, data: &[u8]) {
    fs::write(peer.share_dir().join(file), data).unwrap();
    let r = peer.run(&format!("publish {file} {name}"));
    check(&r, 202, true);
    assert_eq!(r["hash"], hex(data));
}

/// Send a fetch line and wait for its result.
fn fetch(peer: &mut Peer, line: &str, timeout: Duration) -> Value {
    let id = peer.send(line);
    peer.wait_result(id, timeout)
}

/// Poll `transfers` until a download has at least `bytes` bytes.
fn wait_download_progress(peer: &mut Peer, bytes: u64) -> Value {
    support::poll_until(&format!("a download of {bytes} bytes"), SECS_10, || {
        let r = peer.run("transfers");
        check(&r, 200, true);
        r["transfers"]
            .as_array()
            .and_then(|rows| rows.iter().find(|t| t["direction"] == "download"))
            .filter(|row| row["bytes"].as_u64().unwrap_or(0) >= bytes)
            .cloned()
    })
}

/// Poll `users` until `user` is no longer online (the hub dropped it from lookups).
fn wait_offline(peer: &mut Peer, user: &str) {
    support::poll_until(&format!("{user} to go offline"), SECS_10, || {
        let r = peer.run("users");
        let online = r["users"]
            .as_array()
            .is_some_and(|u| u.iter().any(|x| x == user));
        (!online).then_some(())
    });
}

/// A shared library of the system, for a fetch of a real file.
fn system_library() -> Option<std::path::PathBuf> {
    for dir in [
        "/usr/lib/x86_64-linux-gnu",
        "/usr/lib/aarch64-linux-gnu",
        "/usr/lib64",
        "/usr/lib",
        "/lib",
    ] {
        let Ok(entries) = fs::read_dir(dir) else {
            continue;
        };
        let mut libs: Vec<_> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("lib") && n.contains(".so"))
            })
            .filter(|p| {
                fs::symlink_metadata(p)
                    .is_ok_and(|m| m.is_file() && m.len() > 100_000 && m.len() < 20_000_000)
            })
            .collect();
        libs.sort();
        if let Some(lib) = libs.into_iter().next() {
            return Some(lib);
        }
    }
    None
}

#[test]
fn fetch_is_byte_identical_and_refusals_are_clear() {
    let hub = Hub::start(&["--auth-rate", "0", "--chat-rate", "0"]);
    let mut ps = peers(&hub, &[("alice", &[]), ("bob", &[])]);
    let (alice, bob) = match ps.as_mut_slice() {
        [a, b] => (a, b),
        _ => unreachable!(),
    };
    let data = random_bytes(3 * 1024 * 1024 + 17, 1);
    publish(alice, "random.bin", "random.bin", &data);
    let lib = system_library().expect("a shared library under /usr/lib");
    let lib_data = fs::read(&lib).unwrap();
    publish(alice, "lib.so", "lib.so", &lib_data);

    let r = fetch(bob, "fetch random.bin", SECS_20);
    check(&r, 205, true);
    assert_eq!(r["from"], "alice");
    assert_eq!(r["hash"], hex(&data));
    assert_eq!(r["bytes"], data.len() as u64);
    assert_eq!(r["received"], data.len() as u64);
    assert!(r.get("resumed_at").is_none(), "{r}");
    let path = r["path"].as_str().unwrap();
    assert_eq!(Path::new(path), bob.share_dir().join("random.bin"));
    assert!(fs::read(path).unwrap() == data, "random.bin differs");
    assert!(!bob.share_dir().join("random.bin.part").exists());
    let served = alice.wait_event("upload_served", |e| e["name"] == "random.bin", SECS_10);
    assert_eq!(served["to"], "bob");
    assert_eq!(served["bytes"], data.len() as u64);

    let r = fetch(bob, "fetch lib.so --as copy.so", SECS_20);
    check(&r, 205, true);
    assert_eq!(r["hash"], hex(&lib_data));
    assert!(fs::read(bob.share_dir().join("copy.so")).unwrap() == lib_data);

    // Onto an existing file with the same content: 205 at once, nothing moved.
    let r = fetch(bob, "fetch random.bin", SECS_10);
    check(&r, 205, true);
    assert_eq!(r["bytes"], data.len() as u64, "the file on disk");
    assert_eq!(r["received"], 0);
    assert_eq!(r["already"], true);
    // Onto an existing file with other content: 409, the file untouched.
    fs::write(bob.share_dir().join("taken.bin"), b"mine").unwrap();
    let r = fetch(bob, "fetch random.bin --as taken.bin", SECS_10);
    check(&r, 409, false);
    assert_eq!(
        fs::read(bob.share_dir().join("taken.bin")).unwrap(),
        b"mine"
    );

    // Refusals.
    check(&fetch(alice, "fetch random.bin", SECS_10), 400, false);
    check(
        &fetch(bob, "fetch random.bin --from bob", SECS_10),
        400,
        false,
    );
    check(
        &fetch(bob, "fetch random.bin --as ../x", SECS_10),
        408,
        false,
    );
    check(&fetch(bob, "fetch ../etc/passwd", SECS_10), 408, false);
    check(&fetch(bob, "fetch never-published", SECS_10), 406, false);
    check(
        &fetch(bob, "fetch random.bin --from carol", SECS_10),
        406,
        false,
    );
    check(&bob.run("cancel nothing"), 406, false);
    assert!(!bob.share_dir().parent().unwrap().join("x").exists());
}

#[test]
fn two_downloads_from_one_holder_while_it_chats() {
    let hub = Hub::start(&["--auth-rate", "0", "--chat-rate", "0"]);
    let mut ps = peers(
        &hub,
        &[
            ("alice", &["--upload-rate", "4000000"]),
            ("bob", &[]),
            ("carol", &[]),
        ],
    );
    let [alice, bob, carol] = ps.as_mut_slice() else {
        unreachable!()
    };
    let one = random_bytes(6 << 20, 2);
    let two = random_bytes(5 << 20, 3);
    publish(alice, "one.bin", "one.bin", &one);
    publish(alice, "two.bin", "two.bin", &two);
    let fb = bob.send("fetch one.bin");
    let fc = carol.send("fetch two.bin");
    wait_download_progress(bob, 1);
    wait_download_progress(carol, 1);
    // Both are running at once, and alice's chat is answered while they run: each
    // line is said (and heard by carol) with both uploads still listed after it.
    let said = 5;
    for said in 0..said {
        let r = alice.run(&format!("say tick {said}"));
        check(&r, 200, true);
        let heard = format!("tick {said}");
        carol.wait_event("chat", |e| e["text"] == heard.as_str(), SECS_10);
        let r = alice.run("transfers");
        let uploads = r["transfers"].as_array().map_or(0, |t| {
            t.iter().filter(|x| x["direction"] == "upload").count()
        });
        assert_eq!(uploads, 2, "two uploads at once after say {said}: {r}");
    }
    let rb = bob.wait_result(fb, SECS_20);
    let rc = carol.wait_result(fc, SECS_20);
    check(&rb, 205, true);
    check(&rc, 205, true);
    assert_eq!(rb["hash"], hex(&one));
    assert_eq!(rc["hash"], hex(&two));
    assert!(fs::read(bob.share_dir().join("one.bin")).unwrap() == one);
    assert!(fs::read(carol.share_dir().join("two.bin")).unwrap() == two);
    for n in 0..said {
        let text = format!("tick {n}");
        bob.wait_event("chat", |e| e["text"] == text.as_str(), SECS_10);
    }
    alice.wait_event("upload_served", |e| e["to"] == "bob", SECS_10);
    alice.wait_event("upload_served", |e| e["to"] == "carol", SECS_10);
}

/// With `--progress-events` a fetch reports `progress` events under its command's id,
/// at most four a second, its bytes rising towards the size; without the flag, none.
#[test]
fn a_fetch_reports_progress_events_at_most_four_a_second() {
    let hub = Hub::start(&["--auth-rate", "0"]);
    let mut ps = peers(
        &hub,
        &[
            ("alice", &["--upload-rate", "2000000"]),
            ("bob", &["--progress-events"]),
            ("carol", &[]),
        ],
    );
    let [alice, bob, carol] = ps.as_mut_slice() else {
        unreachable!()
    };
    let data = random_bytes(4 << 20, 7);
    publish(alice, "song.bin", "song.bin", &data);
    let started = std::time::Instant::now();
    let fb = bob.send("fetch song.bin");
    let fc = carol.send("fetch song.bin");
    check(&bob.wait_result(fb, SECS_20), 205, true);
    let elapsed = started.elapsed().as_secs_f64();
    check(&carol.wait_result(fc, SECS_20), 205, true);
    let events = bob.events_named("progress");
    assert!(
        events.len() >= 2,
        "{} progress events in {elapsed:.1} s",
        events.len()
    );
    assert!(
        events.len() as f64 <= elapsed * 4.0 + 1.0,
        "{} progress events in {elapsed:.1} s",
        events.len()
    );
    let mut last = None;
    for e in &events {
        assert_eq!(e["id"], fb, "{e}");
        assert_eq!(e["name"], "song.bin", "{e}");
        assert_eq!(e["direction"], "download", "{e}");
        assert_eq!(e["size"], data.len() as u64, "{e}");
        let bytes = e["bytes"].as_u64().unwrap();
        assert!(bytes <= data.len() as u64, "{e}");
        assert!(last.is_none_or(|l| bytes > l), "{e} after {last:?}: moved");
        assert!(e["rate"].as_u64().is_some(), "{e}");
        last = Some(bytes);
    }
    assert!(
        carol.events_named("progress").is_empty(),
        "no flag, no events"
    );
}

#[test]
fn holder_killed_mid_transfer_then_resume_from_another_holder() {
    let hub = Hub::start(&["--auth-rate", "0", "--chat-rate", "0"]);
    let mut ps = peers(
        &hub,
        &[
            ("alice", &["--upload-rate", "3000000"]),
            ("dave", &[]),
            ("bob", &[]),
        ],
    );
    let [alice, dave, bob] = ps.as_mut_slice() else {
        unreachable!()
    };
    let data = random_bytes(12 << 20, 4);
    publish(alice, "movie.mkv", "movie.mkv", &data);
    publish(dave, "movie.mkv", "movie.mkv", &data);

    let id = bob.send("fetch movie.mkv --from alice");
    wait_download_progress(bob, 1 << 20);
    alice.kill9();
    let r = bob.wait_result(id, SECS_10);
    check(&r, 502, false);
    assert!(
        r["message"].as_str().unwrap().contains("resume"),
        "the message says the partial file is kept: {r}"
    );
    let part = bob.share_dir().join("movie.mkv.part");
    assert!(part.exists(), "partial file kept");
    let kept = support::verified_in_record(bob.share_dir(), "movie.mkv");
    assert!(
        kept > 0 && kept < data.len() as u64,
        "{kept} verified bytes"
    );
    assert!(!bob.share_dir().join("movie.mkv").exists());
    wait_offline(bob, "alice");

    let r = fetch(bob, "fetch movie.mkv", SECS_20);
    check(&r, 205, true);
    assert_eq!(r["from"], "dave");
    assert_eq!(r["hash"], hex(&data));
    let resumed = r["resumed"].as_u64().unwrap();
    assert_eq!(resumed, kept, "exactly the verified groups are kept");
    assert_eq!(r["received"].as_u64().unwrap() + resumed, data.len() as u64);
    assert_eq!(r["resumed_at"], resumed);
    assert_eq!(
        r["bytes"],
        data.len() as u64,
        "the whole file, not this call's bytes"
    );
    assert!(fs::read(bob.share_dir().join("movie.mkv")).unwrap() == data);
    assert!(!part.exists());
}

#[test]
fn cancel_keeps_the_partial_file_and_fetch_resumes() {
    let hub = Hub::start(&["--auth-rate", "0", "--chat-rate", "0"]);
    let mut ps = peers(
        &hub,
        &[("alice", &["--upload-rate", "4000000"]), ("bob", &[])],
    );
    let [alice, bob] = ps.as_mut_slice() else {
        unreachable!()
    };
    let data = random_bytes(6 << 20, 5);
    publish(alice, "song.flac", "song.flac", &data);
    let id = bob.send("fetch song.flac --as tune.flac");
    let row = wait_download_progress(bob, 256 << 10);
    assert_eq!(row["name"], "tune.flac");
    assert_eq!(row["peer"], "alice");
    assert_eq!(row["size"], data.len() as u64);
    check(&bob.run("cancel tune.flac"), 200, true);
    let r = bob.wait_result(id, SECS_10);
    check(&r, 400, false);
    assert!(r["message"].as_str().unwrap().contains("cancelled"), "{r}");
    let kept = fs::metadata(bob.share_dir().join("tune.flac.part"))
        .unwrap()
        .len();
    assert!(kept > 0);
    let r = fetch(bob, "fetch song.flac --as tune.flac", SECS_20);
    check(&r, 205, true);
    assert!(r["resumed"].as_u64().unwrap() > 0, "{r}");
    assert!(fs::read(bob.share_dir().join("tune.flac")).unwrap() == data);
}

/// A raw connection to a peer listener.
fn peer_conn(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(SECS_10)).unwrap();
    s
}

/// Everything the peer sends until it closes (bounded by the read timeout).
fn read_to_close(s: &mut TcpStream) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return got,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::ConnectionAborted
                ) =>
            {
                return got
            }
            Err(e) => panic!("the peer did not close: {e} (got {got:?})"),
        }
    }
}

/// Send `bytes` below TLS; the peer answers with an error status (or just closes).
fn refused(addr: SocketAddr, bytes: &[u8]) -> Option<u16> {
    let mut s = peer_conn(addr);
    let _ = s.write_all(bytes);
    let got = read_to_close(&mut s);
    peer::parse_answer(&got)
        .ok()
        .flatten()
        .map(|(_, a)| a.status.0)
}

/// The status the holder at `addr` (whose client shows `key`) answers `request` with,
/// over TLS as `eve`.
fn status_for(addr: SocketAddr, key: Fingerprint, eve: &Fetcher, request: &[u8]) -> u16 {
    let (answer, _) = fetch_with(addr, key, &eve.identity, request).expect("an answer");
    answer.status.0
}

#[test]
fn bad_input_on_the_peer_port_never_disturbs_a_transfer() {
    let hub = Hub::start(&["--auth-rate", "0", "--chat-rate", "0"]);
    let mut ps = peers(
        &hub,
        &[
            (
                "alice",
                &["--upload-rate", "5000000", "--stall-timeout", "1"],
            ),
            ("bob", &[]),
        ],
    );
    let [alice, bob] = ps.as_mut_slice() else {
        unreachable!()
    };
    let addr = alice.addr();
    let data = random_bytes(8 << 20, 6);
    publish(alice, "data.bin", "data.bin", &data);
    fs::write(alice.share_dir().join("secret.txt"), b"not published").unwrap();
    let id = bob.send("fetch data.bin");
    wait_download_progress(bob, 1);

    // Bytes that are no TLS (garbage, huge lengths, text, a plaintext request): closed
    // without an answer, at once or at the handshake deadline (1 s here).
    let junk = random_bytes(300, 7);
    let plain_get = get_bytes("data.bin", 0, &[]);
    for bytes in [&junk[..], &[0xFF; 4], b"GET / HTTP/1.0\r\n\r\n", &plain_get] {
        assert_eq!(refused(addr, bytes), None, "{bytes:?}");
    }
    // Over TLS with a key of its own: names that break the rules are refused before
    // the ticket is looked at (408), anything without a valid ticket with 407 (an
    // unpublished name, a ticket for another name, none), and with one, an offset past
    // the end (400).
    let mut eve = Fetcher::login(hub.addr(), "eve");
    let key = eve.holder("data.bin", "alice").fingerprint;
    assert_eq!(status_for(addr, key, &eve, &get_bytes("..", 0, &[])), 408);
    let escape = get_bytes("../etc/passwd", 0, &[]);
    assert_eq!(status_for(addr, key, &eve, &escape), 408);
    let ticket = eve.holder("data.bin", "alice").ticket;
    let secret = get_bytes("secret.txt", 0, &ticket);
    assert_eq!(status_for(addr, key, &eve, &secret), 407);
    assert_eq!(
        status_for(addr, key, &eve, &get_bytes("never", 0, &[])),
        407
    );
    let past = get_bytes("data.bin", 1 << 40, &ticket);
    assert_eq!(status_for(addr, key, &eve, &past), 400);
    // Half a TLS record is closed after the deadline, with nothing sent.
    let mut half = peer_conn(addr);
    half.write_all(&[0x16, 0x03, 0x01, 0x00]).unwrap();
    assert!(read_to_close(&mut half).is_empty());
    // A client that connects and says nothing is closed too.
    let mut silent = peer_conn(addr);
    assert!(read_to_close(&mut silent).is_empty());

    let r = bob.wait_result(id, SECS_20);
    check(&r, 205, true);
    assert_eq!(r["hash"], hex(&data));
    assert!(fs::read(bob.share_dir().join("data.bin")).unwrap() == data);
    // A well-formed request from elsewhere is served (a raw resume from the middle).
    let ticket = eve.holder("data.bin", "alice").ticket;
    let resume = get_bytes("data.bin", 1000, &ticket);
    let (answer, body) = fetch_with(addr, key, &eve.identity, &resume).expect("served");
    assert_eq!(answer.status.0, 200);
    assert_eq!(answer.size, data.len() as u64);
    assert!(body == data[1000..], "served bytes differ");
    assert!(alice.is_running());
}

#[test]
fn a_file_changed_after_publishing_is_rehashed_before_it_is_served() {
    let hub = Hub::start(&["--auth-rate", "0", "--chat-rate", "0"]);
    let mut ps = peers(&hub, &[("alice", &[]), ("bob", &[])]);
    let [alice, bob] = ps.as_mut_slice() else {
        unreachable!()
    };
    publish(alice, "notes.txt", "notes.txt", b"first version");
    let newer = random_bytes(200_000, 8);
    fs::write(alice.share_dir().join("notes.txt"), &newer).unwrap();
    let r = fetch(bob, "fetch notes.txt", SECS_20);
    check(&r, 205, true);
    assert_eq!(r["hash"], hex(&newer));
    assert!(fs::read(bob.share_dir().join("notes.txt")).unwrap() == newer);
    // The hub was told the new content before it was served.
    let r = bob.run("search notes");
    assert_eq!(r["files"][0]["hash"], hex(&newer), "{r}");
    let r = alice.run("shared");
    assert_eq!(r["files"][0]["hash"], hex(&newer), "{r}");
}

/// A holder whose copy rotted behind its stamp's back serves it (it spends no hash on
/// what it sends); the fetcher catches the first rotten group, keeps what verified,
/// reports the holder (the hub then suggests it no more) and takes the rest from the
/// good holder — or, pinned to the rotten one, fails with 422.
#[test]
fn a_corrupt_holder_is_caught_by_the_group_reported_and_avoided() {
    let hub = Hub::start(&["--auth-rate", "0", "--chat-rate", "0"]);
    let mut ps = peers(&hub, &[("alice", &[]), ("carol", &[]), ("bob", &[])]);
    let [alice, carol, bob] = ps.as_mut_slice() else {
        unreachable!()
    };
    let data = random_bytes(1 << 20, 9);
    publish(alice, "doc.pdf", "doc.pdf", &data);
    publish(carol, "doc.pdf", "doc.pdf", &data);
    // Rot that the size and time stamp do not show: same size, mtime put back.
    support::rot_in_place(&alice.share_dir().join("doc.pdf"), 500_000);

    let r = fetch(bob, "fetch doc.pdf --from alice", SECS_20);
    check(&r, 422, false);
    assert_eq!(r["from"], "alice");
    assert!(
        r["message"].as_str().unwrap().contains("corrupt data"),
        "{r}"
    );
    assert!(!bob.share_dir().join("doc.pdf").exists());
    let kept = support::verified_in_record(bob.share_dir(), "doc.pdf");
    assert!(
        kept > 0 && kept <= 500_000,
        "the groups before the rot: {kept}"
    );
    let dropped = bob.wait_event("source_dropped", |e| e["user"] == "alice", SECS_10);
    assert_eq!(dropped["bad"], true);

    // The report was taken: alice is suggested no more, and the rest comes from carol.
    let r = fetch(bob, "fetch doc.pdf", SECS_20);
    check(&r, 205, true);
    assert_eq!(r["from"], "carol");
    assert_eq!(r["resumed"], kept);
    assert!(fs::read(bob.share_dir().join("doc.pdf")).unwrap() == data);
    assert!(
        bob.events_named("warning").is_empty(),
        "the report was refused"
    );
    let r = fetch(bob, "fetch doc.pdf --from alice --as again.pdf", SECS_10);
    check(&r, 406, false);
}
