//! End-to-end tests of the hub's store: `upload`, `download`, `store`, the announcement,
//! the console's `store`/`rm`/`stats`, limits, hostile names and paths, store tickets on
//! raw store connections, a crash mid-upload, and chat staying live during an upload.
//! Every test starts its own hub and peers as real processes over loopback.

mod support;

use peerhub::proto::message::{Body, ClientMsg, Role, StoreKind, StoreToken, VERSION};
use peerhub::proto::store::{self, StoreMsg};
use serde_json::Value;
use std::fs;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};
use support::{check, random_bytes, Hub, Peer, Raw, RawStream};

const SECS_10: Duration = Duration::from_secs(10);
const SECS_30: Duration = Duration::from_secs(30);

/// A big file quickly: a random MiB repeated, each copy with its index stamped in.
fn big_file(path: &Path, mib: usize) {
    let block = random_bytes(1 << 20, 99);
    let mut f = fs::File::create(path).unwrap();
    for i in 0..mib {
        let mut b = block.clone();
        b[..8].copy_from_slice(&(i as u64).to_le_bytes());
        f.write_all(&b).unwrap();
    }
}

/// Every entry beneath `root`: relative path, `d`/`f`/`l`, and a file's BLAKE3.
fn shape(root: &Path) -> Vec<(String, char, String)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let t = entry.file_type().unwrap();
            if t.is_symlink() {
                out.push((rel, 'l', String::new()));
            } else if t.is_dir() {
                out.push((rel, 'd', String::new()));
                stack.push(path);
            } else {
                let data = fs::read(&path).unwrap();
                out.push((rel, 'f', blake3::hash(&data).to_hex().to_string()));
            }
        }
    }
    out.sort();
    out
}

/// A logged-in peer per name.
fn peers(hub: &Hub, users: &[&str]) -> Vec<Peer> {
    Peer::logged_in_each(hub, users)
}

/// Send a line and wait for its result.
fn run(peer: &mut Peer, line: &str, timeout: Duration) -> Value {
    let id = peer.send(line);
    peer.wait_result(id, timeout)
}

/// The console result of `line`.
fn console(hub: &mut Hub, line: &str) -> Value {
    let id = hub.console(line);
    hub.wait_result(id, SECS_10)
}

#[test]
fn a_tree_round_trips_byte_identical_and_is_announced() {
    let mut hub = Hub::start(&[]);
    let mut ps = peers(&hub, &["alice", "bob"]);
    let (alice, rest) = ps.split_first_mut().unwrap();
    let bob = &mut rest[0];

    let work = alice.work_dir();
    let tree = work.join("my tree");
    fs::create_dir_all(tree.join("sub dir/deeper/ünïcödé ✓")).unwrap();
    fs::create_dir_all(tree.join("empty dir")).unwrap();
    fs::write(tree.join("a.txt"), b"hello store\n").unwrap();
    fs::write(tree.join("empty file"), b"").unwrap();
    fs::write(tree.join("sub dir/big.bin"), random_bytes(3 << 20, 1)).unwrap();
    fs::write(
        tree.join("sub dir/deeper/ünïcödé ✓/naïve résumé.txt"),
        random_bytes(70_000, 2),
    )
    .unwrap();
    // A symlink out of the tree must be skipped, never followed.
    let outside = work.join("outside");
    fs::create_dir_all(&outside).unwrap();
    fs::write(outside.join("secret"), b"do not upload").unwrap();
    std::os::unix::fs::symlink(&outside, tree.join("escape")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", tree.join("sub dir/passwd")).unwrap();

    let r = run(alice, "upload \"my tree\" photos", SECS_30);
    check(&r, 200, true);
    assert_eq!(r["files"], 4);
    assert_eq!(r["bytes"], 12 + (3 << 20) + 70_000);
    let skipped = alice.events_named("skipped");
    assert_eq!(skipped.len(), 2, "{skipped:?}");
    assert!(skipped.iter().any(|e| e["path"] == "escape"));

    // Others hear of it; so does the hub's console.
    let e = bob.wait_event("upload", |e| e["name"] == "photos", SECS_10);
    assert_eq!(e["user"], "alice");
    assert_eq!(e["files"], 4);
    assert_eq!(e["bytes"], r["bytes"]);
    let e = hub.wait_event("upload", |e| e["name"] == "photos", SECS_10);
    assert_eq!(e["user"], "alice");

    let r = run(bob, "store", SECS_10);
    check(&r, 200, true);
    let entries = r["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["name"], "photos");
    assert_eq!(entries[0]["owner"], "alice");
    assert_eq!(entries[0]["files"], 4);
    assert_eq!(entries[0]["kind"], "dir");
    assert!(entries[0]["time"].as_u64().unwrap() > 1_600_000_000);

    let r = run(bob, "download photos", SECS_30);
    check(&r, 205, true);
    assert_eq!(r["files"], 4);
    // No destination: it lands in the share dir, not the working directory.
    let got = bob.share_dir().join("photos");
    assert_eq!(r["path"], got.to_str().unwrap(), "{r}");
    assert!(!bob.work_dir().join("photos").exists());
    let mut want = shape(&tree);
    want.retain(|(p, kind, _)| *kind != 'l' && !p.starts_with("escape"));
    assert_eq!(shape(&got), want);
    assert!(!got.join("escape").exists());
    // Nothing hidden is left next to it.
    let names: Vec<String> = fs::read_dir(bob.share_dir())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with(".peerhub-"))
        .collect();
    assert_eq!(names, vec!["photos".to_string()]);

    // A download onto an existing destination is refused; into a new one it works.
    let r = run(bob, "download photos", SECS_10);
    check(&r, 409, false);
    // The error shows the resolved path.
    assert!(
        r["message"]
            .as_str()
            .unwrap()
            .contains(got.to_str().unwrap()),
        "{r}"
    );
    let r = run(bob, "download photos \"copy two\"", SECS_30);
    check(&r, 205, true);
    assert_eq!(shape(&bob.work_dir().join("copy two")), want);
}

#[test]
fn a_single_file_round_trips_and_replace_is_for_the_owner_only() {
    let hub = Hub::start(&[]);
    let mut ps = peers(&hub, &["alice", "bob"]);
    let (alice, rest) = ps.split_first_mut().unwrap();
    let bob = &mut rest[0];
    let first = random_bytes(200_000, 3);
    fs::write(alice.work_dir().join("report.pdf"), &first).unwrap();
    let r = run(alice, "upload report.pdf", SECS_30);
    check(&r, 200, true);
    assert_eq!(
        (r["files"].as_u64(), r["bytes"].as_u64()),
        (Some(1), Some(200_000))
    );
    let e = bob.wait_event("upload", |e| e["name"] == "report.pdf", SECS_10);
    assert_eq!(
        (e["files"].as_u64(), e["bytes"].as_u64()),
        (Some(1), Some(200_000))
    );

    let r = run(bob, "download report.pdf got.pdf", SECS_30);
    check(&r, 205, true);
    assert_eq!(fs::read(bob.work_dir().join("got.pdf")).unwrap(), first);

    // Another user's name: 409, and the entry is untouched.
    fs::write(bob.work_dir().join("mine.pdf"), b"bob's").unwrap();
    let r = run(bob, "upload mine.pdf report.pdf --replace", SECS_10);
    check(&r, 409, false);
    // My own without --replace: 409; with it: replaced.
    let second = random_bytes(50_000, 4);
    fs::write(alice.work_dir().join("report.pdf"), &second).unwrap();
    let r = run(alice, "upload report.pdf", SECS_10);
    check(&r, 409, false);
    let r = run(alice, "upload report.pdf --replace", SECS_30);
    check(&r, 200, true);
    let r = run(bob, "download report.pdf again.pdf", SECS_30);
    check(&r, 205, true);
    assert_eq!(fs::read(bob.work_dir().join("again.pdf")).unwrap(), second);
    let r = run(bob, "store", SECS_10);
    assert_eq!(r["entries"].as_array().map(Vec::len), Some(1));
    assert_eq!(r["entries"][0]["bytes"], 50_000);
}

#[test]
fn hostile_names_limits_and_the_console() {
    let mut hub = Hub::start(&["--store-max-file", "500", "--store-quota", "1000"]);
    let mut ps = peers(&hub, &["alice"]);
    let alice = &mut ps[0];
    let w = alice.work_dir();
    fs::write(w.join("small"), [7u8; 400]).unwrap();
    fs::write(w.join("big"), [7u8; 600]).unwrap();
    for (line, status) in [
        ("upload small ../evil", 408),
        ("upload small /abs", 408),
        ("upload small ..", 408),
        ("upload small a/b", 408),
        ("download ../etc", 408),
        ("download /etc/passwd", 408),
        ("download nothing-here", 406),
        ("upload no-such-path", 406),
        ("upload big", 413),
    ] {
        let r = run(alice, line, SECS_10);
        check(&r, status, false);
    }
    for name in ["one", "two"] {
        let r = run(alice, &format!("upload small {name}"), SECS_10);
        check(&r, 200, true);
    }
    let r = run(alice, "upload small three", SECS_10);
    check(&r, 414, false);

    // The console: store, stats, rm (names with spaces, quoted or not).
    let r = run(alice, "upload small \"with space\" --replace", SECS_10);
    check(&r, 414, false);
    let r = console(&mut hub, "store");
    check(&r, 200, true);
    assert_eq!(r["entries"].as_array().map(Vec::len), Some(2));
    let r = console(&mut hub, "stats");
    assert_eq!(
        (r["store_entries"].as_u64(), r["store_bytes"].as_u64()),
        (Some(2), Some(800))
    );
    let r = console(&mut hub, "rm one");
    check(&r, 200, true);
    let r = console(&mut hub, "rm one");
    check(&r, 406, false);
    let r = run(alice, "upload small \"with space\"", SECS_10);
    check(&r, 200, true);
    let r = console(&mut hub, "rm \"with space\"");
    check(&r, 200, true);
    let r = console(&mut hub, "stats");
    assert_eq!(
        (r["store_entries"].as_u64(), r["store_bytes"].as_u64()),
        (Some(1), Some(400))
    );
    let r = run(alice, "download one", SECS_10);
    check(&r, 406, false);
}

/// Hello as a store connection and `Begin` with `token`, over TLS.
fn store_conn(addr: SocketAddr, token: StoreToken) -> RawStream {
    let mut s = RawStream::tls(addr);
    let mut out = Vec::new();
    ClientMsg::Hello {
        version: VERSION,
        role: Role::Store,
    }
    .encode(&mut out);
    store::encode(&StoreMsg::Begin { token }, &mut out);
    s.write_all(&out).unwrap();
    s
}

/// The next store frame on `s`; `None` at EOF.
fn read_store(s: &mut RawStream, buf: &mut Vec<u8>) -> Option<StoreMsg> {
    loop {
        if let Some((used, msg)) = store::parse(buf).unwrap() {
            buf.drain(..used);
            return Some(msg);
        }
        let mut chunk = [0u8; 4096];
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// The status the hub answers on a store connection, then that it closes.
#[track_caller]
fn expect_status_and_close(s: &mut RawStream, status: u16) -> String {
    let mut buf = Vec::new();
    let msg = read_store(s, &mut buf);
    let Some(StoreMsg::Status {
        status: got,
        message,
    }) = msg
    else {
        panic!("expected a status {status}, got {msg:?}");
    };
    assert_eq!(got.0, status, "{message}");
    assert!(read_store(s, &mut buf).is_none(), "the hub should close");
    message
}

/// A ticket for a put (or a get when `kind` is `None`) over a raw logged-in session.
fn ticket(raw: &mut Raw, tag: u32, name: &str, put: Option<(StoreKind, u64)>) -> StoreToken {
    let msg = match put {
        Some((kind, bytes)) => ClientMsg::StorePut {
            tag,
            name: name.into(),
            replace: false,
            kind,
            files: 1,
            dirs: u64::from(kind == StoreKind::Dir),
            bytes,
            largest: bytes,
        },
        None => ClientMsg::StoreGet {
            tag,
            name: name.into(),
        },
    };
    let r = raw.request(&msg);
    assert_eq!(r.status, 200, "{r:?}");
    match r.body {
        Body::Ticket { token, .. } => token,
        other => panic!("no ticket: {other:?}"),
    }
}

#[test]
fn raw_store_connections_with_bad_tickets_or_hostile_paths_are_refused() {
    let hub = Hub::start(&["--store-ticket-ttl", "0.5"]);
    let mut ps = peers(&hub, &["carol"]);
    let carol = &mut ps[0];
    let mut raw = Raw::login_as(hub.addr(), "mallory", "pw", 1);

    // A made-up ticket.
    let mut s = store_conn(hub.addr(), [0xAB; 16]);
    let why = expect_status_and_close(&mut s, 407);
    assert!(why.contains("ticket"), "{why}");

    // A ticket used twice: the second time it is gone.
    let token = ticket(&mut raw, 10, "t1", Some((StoreKind::File, 3)));
    let mut s = store_conn(hub.addr(), token);
    let mut buf = Vec::new();
    assert!(
        matches!(read_store(&mut s, &mut buf), Some(StoreMsg::Status { status, .. }) if status.0 == 200)
    );
    let mut s2 = store_conn(hub.addr(), token);
    expect_status_and_close(&mut s2, 407);

    // A hostile path on the first: 408 and close; nothing escapes the store.
    let mut bytes = Vec::new();
    store::encode(
        &StoreMsg::File {
            path: "t1/../../../../tmp/peerhub-escape".into(),
            size: 3,
        },
        &mut bytes,
    );
    s.write_all(&bytes).unwrap();
    expect_status_and_close(&mut s, 408);
    assert!(!Path::new("/tmp/peerhub-escape").exists());
    for path in ["/abs/path", "other/x", "t1/a\\b"] {
        let token = ticket(&mut raw, 11, "t2", Some((StoreKind::Dir, 3)));
        let mut s = store_conn(hub.addr(), token);
        let mut buf = Vec::new();
        assert!(
            matches!(read_store(&mut s, &mut buf), Some(StoreMsg::Status { status, .. }) if status.0 == 200)
        );
        let mut bytes = Vec::new();
        store::encode(&StoreMsg::Dir { path: path.into() }, &mut bytes);
        s.write_all(&bytes).unwrap();
        expect_status_and_close(&mut s, 408);
    }
    // A ticket that expired.
    // Its upload ticket reserves "t3" (409 to a second put) until the 0.5 s lifetime
    // runs out; the hub's own answer to that second put shows the expiry.
    let token = ticket(&mut raw, 12, "t3", Some((StoreKind::File, 3)));
    let mut tag = 100;
    let refused = support::poll_until("the ticket for t3 to expire", SECS_10, || {
        tag += 1;
        let r = raw.request(&ClientMsg::StorePut {
            tag,
            name: "t3".into(),
            replace: false,
            kind: StoreKind::File,
            files: 1,
            dirs: 0,
            bytes: 3,
            largest: 3,
        });
        (r.status != 409).then_some(r)
    });
    // Expired unused: the name is in its cool-down (429), or already past it (200).
    assert!(matches!(refused.status, 429 | 200), "{refused:?}");
    let mut s = store_conn(hub.addr(), token);
    expect_status_and_close(&mut s, 407);
    // A wrong hash: 422, and nothing becomes visible.
    let token = ticket(&mut raw, 13, "t4", Some((StoreKind::File, 3)));
    let mut s = store_conn(hub.addr(), token);
    let mut buf = Vec::new();
    read_store(&mut s, &mut buf);
    let mut bytes = Vec::new();
    store::encode(
        &StoreMsg::File {
            path: "t4".into(),
            size: 3,
        },
        &mut bytes,
    );
    bytes.extend_from_slice(b"abc");
    store::encode(&StoreMsg::Sum { hash: [0; 32] }, &mut bytes);
    s.write_all(&bytes).unwrap();
    expect_status_and_close(&mut s, 422);

    // Everyone else carried on.
    let r = run(carol, "store", SECS_10);
    check(&r, 200, true);
    assert_eq!(r["entries"], serde_json::json!([]));
    let r = run(carol, "users", SECS_10);
    check(&r, 200, true);
}

#[test]
fn a_hub_killed_mid_upload_shows_nothing_and_a_retry_succeeds() {
    let mut hub = Hub::start(&[]);
    let mut raw = Raw::login_as(hub.addr(), "dave", "pw", 1);
    let size = 8u64 << 20;
    let token = ticket(&mut raw, 20, "half.bin", Some((StoreKind::File, size)));
    let mut s = store_conn(hub.addr(), token);
    let mut buf = Vec::new();
    assert!(
        matches!(read_store(&mut s, &mut buf), Some(StoreMsg::Status { status, .. }) if status.0 == 200)
    );
    let mut bytes = Vec::new();
    store::encode(
        &StoreMsg::File {
            path: "half.bin".into(),
            size,
        },
        &mut bytes,
    );
    bytes.extend(random_bytes(1 << 20, 5));
    s.write_all(&bytes).unwrap();
    // The hub has begun writing the upload before it dies.
    let incoming = hub.data_dir().join("store");
    support::poll_until("an upload directory", SECS_10, || {
        fs::read_dir(&incoming)
            .unwrap()
            .flatten()
            .any(|e| e.file_name().to_string_lossy().starts_with(".incoming-"))
            .then_some(())
    });
    hub.restart();
    drop(s);
    // The restarted hub sweeps them a slice per turn of its loop, soon after its start.
    support::poll_until("unfinished versions swept", SECS_10, || {
        fs::read_dir(&incoming)
            .unwrap()
            .next()
            .is_none()
            .then_some(())
    });

    let mut dave = Peer::start(hub.addr(), &[]);
    dave.login("dave", "pw");
    let dave = &mut dave;
    let r = run(dave, "store", SECS_10);
    assert_eq!(r["entries"], serde_json::json!([]));
    let data = random_bytes(size as usize, 6);
    fs::write(dave.work_dir().join("half.bin"), &data).unwrap();
    let r = run(dave, "upload half.bin", SECS_30);
    check(&r, 200, true);
    // Completed uploads survive a crash.
    hub.restart();
    let mut ps = peers(&hub, &["erin"]);
    let erin = &mut ps[0];
    let r = run(erin, "download half.bin", SECS_30);
    check(&r, 205, true);
    assert_eq!(fs::read(erin.share_dir().join("half.bin")).unwrap(), data);
}

#[test]
fn chat_stays_live_during_a_large_upload_and_transfers_lists_it() {
    let hub = Hub::start(&["--chat-rate", "0"]);
    let mut ps = peers(&hub, &["frank", "gina", "hank"]);
    let (frank, rest) = ps.split_first_mut().unwrap();
    let (gina, rest) = rest.split_first_mut().unwrap();
    let hank = &mut rest[0];
    big_file(&frank.work_dir().join("large.bin"), 192);
    let id = frank.send("upload large.bin");
    let uploading = |frank: &mut Peer| {
        let r = run(frank, "transfers", SECS_10);
        r["transfers"].as_array().is_some_and(|rows| {
            rows.iter()
                .any(|t| t["name"] == "large.bin" && t["direction"] == "upload")
        })
    };
    // The upload is under way before the first chat line is said ...
    support::poll_until("transfers to list the upload", SECS_30, || {
        uploading(frank).then_some(())
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut during = 0;
    let result = loop {
        if let Some(r) =
            frank.try_wait_line(Duration::ZERO, |v| v["type"] == "result" && v["id"] == id)
        {
            break r;
        }
        assert!(Instant::now() < deadline, "the upload did not finish");
        let r = run(gina, "say ping", SECS_10);
        check(&r, 200, true);
        hank.wait_event("chat", |e| e["from"] == "gina", SECS_10);
        // ... and still under way after the line went round: chat was not held up.
        if uploading(frank) {
            during += 1;
        }
    };
    check(&result, 200, true);
    assert_eq!(result["bytes"], 192u64 << 20);
    eprintln!("{during} chat round trip(s) completed while transfers listed the upload");
    assert!(
        during >= 1,
        "no chat round trip completed while the upload was in flight"
    );
}

/// Threads of process `pid`, from `/proc/<pid>/task`.
fn threads(pid: u32) -> usize {
    fs::read_dir(format!("/proc/{pid}/task")).unwrap().count()
}

#[test]
fn the_hub_stays_one_thread_while_it_receives_and_flushes_an_upload() {
    let hub = Hub::start(&[]);
    let mut ps = peers(&hub, &["ivy"]);
    let ivy = &mut ps[0];
    // Many files make a long flush (each one fsynced), a big one a long write-behind.
    let tree = ivy.work_dir().join("many");
    for d in 0..20 {
        let dir = tree.join(format!("d{d}"));
        fs::create_dir_all(&dir).unwrap();
        for f in 0..40 {
            fs::write(dir.join(format!("f{f}")), random_bytes(2048, d * 100 + f)).unwrap();
        }
    }
    big_file(&tree.join("big.bin"), 24);
    let pid = hub.pid();
    assert_eq!(threads(pid), 1, "the hub has threads before any upload");
    let id = ivy.send("upload many");
    let t0 = Instant::now();
    let mut samples = 0u64;
    let result = loop {
        if let Some(r) =
            ivy.try_wait_line(Duration::ZERO, |v| v["type"] == "result" && v["id"] == id)
        {
            break r;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "the upload did not finish"
        );
        let n = threads(pid);
        assert_eq!(n, 1, "the hub ran {n} threads during an upload");
        samples += 1;
    };
    check(&result, 200, true);
    assert_eq!(result["files"], 801);
    assert!(samples > 0);
    assert_eq!(threads(pid), 1);
}

/// A store `Status` frame from `s` (the first frame must be one).
#[track_caller]
fn expect_status(s: &mut RawStream, buf: &mut Vec<u8>, status: u16) -> String {
    match read_store(s, buf) {
        Some(StoreMsg::Status {
            status: got,
            message,
        }) => {
            assert_eq!(got.0, status, "{message}");
            message
        }
        other => panic!("expected a status {status}, got {other:?}"),
    }
}

/// Upload one file `name` with `data` on a raw store connection; the hub's verdict.
fn raw_upload(addr: SocketAddr, token: StoreToken, name: &str, data: &[u8]) -> (u16, String) {
    let mut s = store_conn(addr, token);
    let mut buf = Vec::new();
    expect_status(&mut s, &mut buf, 200);
    let mut bytes = Vec::new();
    store::encode(
        &StoreMsg::File {
            path: name.into(),
            size: data.len() as u64,
        },
        &mut bytes,
    );
    bytes.extend_from_slice(data);
    store::encode(
        &StoreMsg::Sum {
            hash: *blake3::hash(data).as_bytes(),
        },
        &mut bytes,
    );
    store::encode(
        &StoreMsg::End {
            files: 1,
            dirs: 0,
            bytes: data.len() as u64,
        },
        &mut bytes,
    );
    s.write_all(&bytes).unwrap();
    match read_store(&mut s, &mut buf) {
        Some(StoreMsg::Status { status, message }) => (status.0, message),
        other => panic!("no verdict: {other:?}"),
    }
}

/// A put ticket request's reply.
fn put(raw: &mut Raw, tag: u32, name: &str, bytes: u64) -> support::RawReply {
    raw.request(&ClientMsg::StorePut {
        tag,
        name: name.into(),
        replace: false,
        kind: StoreKind::File,
        files: 1,
        dirs: 0,
        bytes,
        largest: bytes,
    })
}

#[test]
fn uploads_under_way_count_against_the_quota_and_the_commit_checks_again() {
    let mut hub = Hub::start(&["--store-quota", "1000"]);
    let mut raw = Raw::login_as(hub.addr(), "quinn", "pw", 1);
    // Five 800-byte uploads asked for at once: only the first fits the quota.
    let first = put(&mut raw, 30, "q0", 800);
    assert_eq!(first.status, 200, "{first:?}");
    for n in 1..5 {
        let r = put(&mut raw, 30 + n, &format!("q{n}"), 800);
        assert_eq!(r.status, 414, "upload {n}: {r:?}");
        assert!(r.message.contains("being uploaded"), "{r:?}");
    }
    let Body::Ticket { token, .. } = first.body else {
        panic!("no ticket");
    };
    let data = random_bytes(800, 30);
    let (status, message) = raw_upload(hub.addr(), token, "q0", &data);
    assert_eq!(status, 200, "{message}");
    // Committed, it still counts; a small one fits beside it.
    let r = put(&mut raw, 40, "q5", 800);
    assert_eq!(r.status, 414, "{r:?}");
    let r = put(&mut raw, 41, "q6", 200);
    assert_eq!(r.status, 200, "{r:?}");
    let r = console(&mut hub, "stats");
    assert_eq!(r["store_bytes"], 800);
}

#[test]
fn open_tickets_per_user_are_limited_with_a_retry_after() {
    let hub = Hub::start(&["--store-max-tickets", "2"]);
    let mut eve = Raw::login_as(hub.addr(), "eve", "pw", 1);
    let mut bob = Raw::login_as(hub.addr(), "bob", "pw", 1);
    assert_eq!(put(&mut eve, 50, "s0", 1).status, 200);
    assert_eq!(put(&mut eve, 51, "s1", 1).status, 200);
    let r = put(&mut eve, 52, "s2", 1);
    assert_eq!(r.status, 429, "{r:?}");
    match r.body {
        Body::RetryAfter(secs) => assert!((1..=30).contains(&secs), "retry_after {secs}"),
        other => panic!("a 429 without retry_after: {other:?}"),
    }
    // Squatted names stay taken only while their tickets live; others are unaffected.
    let r = put(&mut bob, 53, "s0", 1);
    assert_eq!(r.status, 409, "{r:?}");
    assert_eq!(put(&mut bob, 54, "s2", 1).status, 200);
}

/// Read a download on `s` up to the start of the first file's bytes: its size.
fn download_until_bytes(s: &mut RawStream, buf: &mut Vec<u8>) -> u64 {
    expect_status(s, buf, 200);
    loop {
        match read_store(s, buf) {
            Some(StoreMsg::Dir { .. }) => {}
            Some(StoreMsg::File { size, .. }) => return size,
            other => panic!("expected a file, got {other:?}"),
        }
    }
}

/// Read the rest of a download whose first file's bytes start in `buf`: the BLAKE3 of
/// every file's content, in order.
fn finish_download(s: &mut RawStream, buf: &mut Vec<u8>, mut size: u64) -> Vec<String> {
    let mut sums = Vec::new();
    loop {
        let mut hasher = blake3::Hasher::new();
        while size > 0 {
            if buf.is_empty() {
                let mut chunk = vec![0u8; 1 << 16];
                let n = s.read(&mut chunk).unwrap();
                assert!(n > 0, "the download was cut off");
                buf.extend_from_slice(&chunk[..n]);
            }
            let take = (size as usize).min(buf.len());
            hasher.update(&buf[..take]);
            buf.drain(..take);
            size -= take as u64;
        }
        sums.push(hasher.finalize().to_hex().to_string());
        match read_store(s, buf) {
            Some(StoreMsg::Sum { .. }) => {}
            other => panic!("expected a sum, got {other:?}"),
        }
        loop {
            match read_store(s, buf) {
                Some(StoreMsg::Dir { .. }) => {}
                Some(StoreMsg::File { size: next, .. }) => {
                    size = next;
                    break;
                }
                Some(StoreMsg::End { .. }) => return sums,
                other => panic!("expected more of the tree, got {other:?}"),
            }
        }
    }
}

#[test]
fn a_download_in_flight_survives_the_replacement_and_removal_of_its_entry() {
    let hub = Hub::start(&[]);
    let mut ps = peers(&hub, &["olga"]);
    let olga = &mut ps[0];
    let tree = olga.work_dir().join("tree");
    fs::create_dir_all(&tree).unwrap();
    // Far more than the sockets buffer, so the download is still in its first file.
    big_file(&tree.join("a-big"), 48);
    fs::write(tree.join("b-small"), b"old second file").unwrap();
    let old = shape(&tree);
    check(&run(olga, "upload tree", SECS_30), 200, true);

    let mut raw = Raw::login_as(hub.addr(), "reader", "pw", 1);
    let token = ticket(&mut raw, 60, "tree", None);
    let mut first = store_conn(hub.addr(), token);
    let mut first_buf = Vec::new();
    let first_size = download_until_bytes(&mut first, &mut first_buf);

    // Replace it while the first download waits, then start a second download.
    fs::write(tree.join("b-small"), b"new second file").unwrap();
    fs::write(tree.join("a-big"), b"now small").unwrap();
    let new = shape(&tree);
    check(&run(olga, "upload --replace tree", SECS_30), 200, true);
    let token = ticket(&mut raw, 61, "tree", None);
    let mut second = store_conn(hub.addr(), token);
    let mut second_buf = Vec::new();
    let second_size = download_until_bytes(&mut second, &mut second_buf);
    // Its owner removes it while the second is under way (the console's `rm` takes the
    // same path).
    check(&run(olga, "rm tree", SECS_10), 200, true);

    let sums = finish_download(&mut first, &mut first_buf, first_size);
    let want: Vec<String> = old
        .iter()
        .filter(|e| e.1 == 'f')
        .map(|e| e.2.clone())
        .collect();
    assert_eq!(sums, want, "the first download changed under its reader");
    let sums = finish_download(&mut second, &mut second_buf, second_size);
    let want: Vec<String> = new
        .iter()
        .filter(|e| e.1 == 'f')
        .map(|e| e.2.clone())
        .collect();
    assert_eq!(sums, want);
    // Once both readers are done, nothing of either version is left.
    drop((first, second));
    let store_dir = hub.data_dir().join("store");
    support::poll_until("the old versions' removal", SECS_10, || {
        fs::read_dir(&store_dir)
            .unwrap()
            .next()
            .is_none()
            .then_some(())
    });
}

/// Hello as a store connection over TLS, nothing more.
fn bare_store_conn(addr: SocketAddr) -> RawStream {
    let mut s = RawStream::tls(addr);
    let mut out = Vec::new();
    ClientMsg::Hello {
        version: VERSION,
        role: Role::Store,
    }
    .encode(&mut out);
    s.write_all(&out).unwrap();
    s
}

/// Ask `stats` until `store_connections` is `want` (the hub counts at its own pace).
fn wait_store_conns(hub: &mut Hub, want: u64) -> Value {
    support::poll_until(&format!("store_connections = {want}"), SECS_10, || {
        let r = console(hub, "stats");
        (r["store_connections"] == want).then_some(r)
    })
}

#[test]
fn store_connections_are_counted_and_limited_apart_from_clients() {
    let mut hub = Hub::start(&["--max-store-conns", "2", "--max-clients", "2"]);
    let r = console(&mut hub, "stats");
    assert_eq!(r["store_connections"], 0, "{r}");
    let _a = bare_store_conn(hub.addr());
    let _b = bare_store_conn(hub.addr());
    wait_store_conns(&mut hub, 2);
    // The third store connection is refused with a store status 503, and closed.
    let mut c = bare_store_conn(hub.addr());
    let why = expect_status_and_close(&mut c, 503);
    assert!(why.contains("store connections"), "{why}");
    // Closing one frees its place.
    drop(_a);
    wait_store_conns(&mut hub, 1);
    let _d = bare_store_conn(hub.addr());
    wait_store_conns(&mut hub, 2);
    // Two store connections leave both client places free (a connection counts as a
    // client until its hello says it is a store connection).
    let mut p = Peer::start(hub.addr(), &[]);
    check(&p.register_login("pia", "pw"), 200, true);
    let _q = Raw::login_as(hub.addr(), "quentin", "pw", 1);
    let r = console(&mut hub, "stats");
    assert_eq!(
        (r["connections"].as_u64(), r["store_connections"].as_u64()),
        (Some(2), Some(2)),
        "{r}"
    );
}
