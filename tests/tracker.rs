//! End-to-end tests of the tracker (issue 3): publish, unpublish, shared, search, the
//! hub's lookups, console `discover` and `ping`, liveness, ghost sessions, publications
//! surviving restarts, and hashing that never holds up the loop.
//! Every test starts its own hub and peers as real processes over loopback.

mod support;

use peerhub::proto::message::{Body, ClientMsg, FileInfo, Holder};
use serde_json::Value;
use std::collections::BTreeSet;
use std::fs;
use std::io::Write;
use std::time::{Duration, Instant};
use support::{blake3_hex, check, users_of, Hub, Peer, Raw, TempDir};

const SECS_5: Duration = Duration::from_secs(5);
const SECS_10: Duration = Duration::from_secs(10);

/// One search hit as (name, size, hash, owners sorted).
type Hit = (String, u64, String, Vec<String>);

/// The hits of a `search` result, sorted; the result must be a 200 with `truncated` false.
#[track_caller]
fn hits(r: &Value) -> Vec<Hit> {
    check(r, 200, true);
    assert_eq!(r["truncated"], false, "{r}");
    hits_any(r)
}

#[track_caller]
fn hits_any(r: &Value) -> Vec<Hit> {
    let files = r["files"]
        .as_array()
        .unwrap_or_else(|| panic!("no files array in {r}"));
    let mut out: Vec<Hit> = files
        .iter()
        .map(|f| {
            let mut owners: Vec<String> = f["owners"]
                .as_array()
                .unwrap_or_else(|| panic!("no owners in {f}"))
                .iter()
                .map(|o| o.as_str().expect("owner name").to_owned())
                .collect();
            owners.sort();
            (
                f["name"].as_str().expect("name").to_owned(),
                f["size"].as_u64().expect("size"),
                f["hash"].as_str().expect("hash").to_owned(),
                owners,
            )
        })
        .collect();
    out.sort();
    out
}

/// Expected hits, in the order [`hits`] returns them.
fn sorted(mut v: Vec<Hit>) -> Vec<Hit> {
    v.sort();
    v
}

fn hit(name: &str, data: &[u8], owners: &[&str]) -> Hit {
    (
        name.to_owned(),
        data.len() as u64,
        blake3_hex(data),
        owners.iter().map(|o| o.to_string()).collect(),
    )
}

/// (name, size, hash) of a `files` array (`shared`, `discover`), sorted by name.
#[track_caller]
fn files_of(r: &Value) -> Vec<(String, u64, String)> {
    let mut out: Vec<(String, u64, String)> = r["files"]
        .as_array()
        .unwrap_or_else(|| panic!("no files array in {r}"))
        .iter()
        .map(|f| {
            (
                f["name"].as_str().expect("name").to_owned(),
                f["size"].as_u64().expect("size"),
                f["hash"].as_str().expect("hash").to_owned(),
            )
        })
        .collect();
    out.sort();
    out
}

fn entry(name: &str, data: &[u8]) -> (String, u64, String) {
    (name.to_owned(), data.len() as u64, blake3_hex(data))
}

/// A `publish` that must succeed with the right name, size and hash.
#[track_caller]
fn publish_ok(peer: &mut Peer, line: &str, name: &str, data: &[u8]) {
    let r = peer.run(line);
    check(&r, 202, true);
    assert_eq!(r["name"], name, "{r}");
    assert_eq!(r["size"], data.len() as u64, "{r}");
    assert_eq!(r["hash"], blake3_hex(data), "{r}");
}

/// Quit a peer cleanly (405, exit 0).
fn quit(peer: &mut Peer) {
    let id = peer.send("quit");
    check(&peer.wait_result(id, SECS_10), 405, true);
    assert_eq!(peer.expect_exit(SECS_10), 0);
}

/// A lookup over a raw session: (status, holders sorted by user).
fn lookup(raw: &mut Raw, tag: u32, name: &str) -> (u16, Vec<Holder>) {
    let r = raw.request(&ClientMsg::Lookup {
        tag,
        name: name.into(),
    });
    let Body::Holders(mut holders) = r.body else {
        panic!("lookup {name}: no Holders body in {r:?}");
    };
    holders.sort_by(|a, b| a.user.cmp(&b.user));
    (r.status, holders)
}

// ---------------------------------------------------------------------------
// publish / unpublish / shared / search
// ---------------------------------------------------------------------------

#[test]
fn publish_shared_search_across_three_clients() {
    let mut hub = Hub::start(&["--auth-rate", "0"]);
    let mut a = Peer::logged_in(hub.addr(), "alice");
    let mut b = Peer::logged_in(hub.addr(), "bob");
    let mut c = Peer::logged_in(hub.addr(), "carol");

    let report = b"quarterly report, version one\n".repeat(300);
    let other = b"something else entirely".to_vec();
    let carols = b"carol's own report".to_vec();
    fs::write(a.share_dir().join("Report.txt"), &report).unwrap();
    fs::write(a.share_dir().join("other.txt"), &other).unwrap();
    fs::write(b.share_dir().join("copy.txt"), &report).unwrap();
    fs::write(c.share_dir().join("mine.txt"), &carols).unwrap();

    publish_ok(&mut a, "publish Report.txt", "Report.txt", &report);
    let e = hub.wait_event("publish", |e| e["user"] == "alice", SECS_5);
    assert_eq!(e["name"], "Report.txt", "{e}");
    // The same name with the same content again is not a duplicate.
    publish_ok(&mut a, "publish Report.txt", "Report.txt", &report);
    // The same name with other content is.
    let r = a.run("publish other.txt Report.txt");
    check(&r, 409, false);
    publish_ok(&mut a, "publish other.txt notes.md", "notes.md", &other);
    let r = a.run("shared");
    check(&r, 200, true);
    assert_eq!(
        files_of(&r),
        vec![entry("Report.txt", &report), entry("notes.md", &other)]
    );

    // bob holds the same content under the same name; carol other content.
    publish_ok(&mut b, "publish copy.txt Report.txt", "Report.txt", &report);
    publish_ok(&mut c, "publish mine.txt Report.txt", "Report.txt", &carols);
    check(&b.run("shared"), 200, true);

    // One hit per name and hash, with its owners; matching ignores case.
    let expect_all = sorted(vec![
        hit("Report.txt", &report, &["alice", "bob"]),
        hit("Report.txt", &carols, &["carol"]),
    ]);
    for (peer, text) in [(&mut a, "report"), (&mut b, "REPORT"), (&mut c, "rEpOrT.T")] {
        let r = peer.run(&format!("search {text}"));
        assert_eq!(hits(&r), expect_all, "search {text}: {r}");
    }
    assert_eq!(
        hits(&c.run("search NOTES")),
        vec![hit("notes.md", &other, &["alice"])]
    );
    assert_eq!(hits(&c.run("search zzz-nothing")), vec![]);

    // unpublish: 200, then 406 for a name I do not publish.
    check(&a.run("unpublish notes.md"), 200, true);
    check(&a.run("unpublish notes.md"), 406, false);
    check(&a.run("unpublish never-published"), 406, false);
    assert_eq!(
        files_of(&a.run("shared")),
        vec![entry("Report.txt", &report)]
    );
    assert_eq!(hits(&b.run("search notes")), vec![]);

    // An owner who quits disappears from the results at once.
    quit(&mut b);
    hub.wait_event("leave", |e| e["user"] == "bob", SECS_5);
    assert_eq!(
        hits(&c.run("search report")),
        sorted(vec![
            hit("Report.txt", &report, &["alice"]),
            hit("Report.txt", &carols, &["carol"]),
        ])
    );
    quit(&mut a);
    hub.wait_event("leave", |e| e["user"] == "alice", SECS_5);
    assert_eq!(
        hits(&c.run("search report")),
        vec![hit("Report.txt", &carols, &["carol"])]
    );
    // Not logged in: 407.
    check(&c.run("logout"), 405, true);
    check(&c.run("search report"), 407, false);
}

#[test]
fn search_is_bounded_and_says_truncated() {
    let hub = Hub::start(&["--auth-rate", "0"]);
    let mut a = Peer::logged_in(hub.addr(), "alice");
    const N: usize = 105;
    for i in 0..N {
        fs::write(
            a.share_dir().join(format!("bulk-{i:03}.dat")),
            format!("file number {i}"),
        )
        .unwrap();
    }
    // All at once: each publish finishes on its own.
    let ids: Vec<u64> = (0..N)
        .map(|i| a.send(&format!("publish bulk-{i:03}.dat")))
        .collect();
    for id in ids {
        check(&a.wait_result(id, SECS_10), 202, true);
    }
    let mut b = Peer::logged_in(hub.addr(), "bob");
    let r = b.run("search BULK");
    check(&r, 200, true);
    assert_eq!(r["truncated"], true, "{}", r["message"]);
    let got = hits_any(&r);
    assert_eq!(got.len(), 100, "{}", r["message"]);
    assert!(got.iter().all(|h| h.3 == vec!["alice".to_string()]));
    // A narrower search is complete.
    let r = b.run("search bulk-01");
    let got = hits(&r);
    let names: Vec<&str> = got.iter().map(|h| h.0.as_str()).collect();
    let want: Vec<String> = (10..20).map(|i| format!("bulk-{i:03}.dat")).collect();
    assert_eq!(names, want);
}

#[test]
fn publish_refuses_bad_names_and_paths() {
    let mut hub = Hub::start(&["--auth-rate", "0"]);
    let mut a = Peer::logged_in(hub.addr(), "alice");
    let share = a.share_dir().to_path_buf();

    // Outside the share dir: relative with .., absolute, and a symlink pointing out.
    fs::write(a.work_dir().join("outside.txt"), b"not shared").unwrap();
    let r = a.run("publish ../work/outside.txt");
    assert_eq!(r["ok"], false, "{r}");
    assert_eq!(r["status"], 400, "{r}");
    let elsewhere = TempDir::new("elsewhere");
    let abs = elsewhere.path().join("secret.txt");
    fs::write(&abs, b"secret").unwrap();
    let r = a.run(&format!("publish \"{}\"", abs.display()));
    assert_eq!(r["ok"], false, "{r}");
    assert_eq!(r["status"], 400, "{r}");
    std::os::unix::fs::symlink(&abs, share.join("link.txt")).unwrap();
    let r = a.run("publish link.txt");
    assert_eq!(r["ok"], false, "a symlink out of the share dir: {r}");

    // Bad published names: 408.
    let data = b"fine content".to_vec();
    fs::write(share.join("f"), &data).unwrap();
    check(&a.run("publish f \"a/b\""), 408, false);
    check(&a.run("publish f \"a\\\\b\""), 408, false);
    check(&a.run("publish f .."), 408, false);
    check(
        &a.run(&format!("publish f {}", "n".repeat(256))),
        408,
        false,
    );
    // A missing local file: 406.
    check(&a.run("publish missing.txt"), 406, false);
    check(&a.run("publish nodir/missing.txt"), 406, false);

    // The longest valid name, spaces and non-ASCII are fine; an absolute path inside
    // the share dir too.
    let long = "n".repeat(255);
    publish_ok(&mut a, &format!("publish f {long}"), &long, &data);
    publish_ok(
        &mut a,
        "publish f \"with space ünï\"",
        "with space ünï",
        &data,
    );
    publish_ok(
        &mut a,
        &format!("publish \"{}\" abs-inside", share.join("f").display()),
        "abs-inside",
        &data,
    );

    // Only the good ones reached the index.
    let r = a.run("shared");
    let names: BTreeSet<String> = files_of(&r).into_iter().map(|f| f.0).collect();
    let want: BTreeSet<String> = [long.clone(), "with space ünï".into(), "abs-inside".into()]
        .into_iter()
        .collect();
    assert_eq!(names, want);
    let r = hub.run("stats");
    assert_eq!(r["published_files"], 3, "{r}");
}

// ---------------------------------------------------------------------------
// Lookups (the first step of fetch), over a raw session
// ---------------------------------------------------------------------------

#[test]
fn lookups_list_online_holders_with_their_addresses() {
    let mut hub = Hub::start(&["--auth-rate", "0"]);
    let song = b"la la la, a song".repeat(1000);
    let cover = b"a cover version".to_vec();
    let mut a = Peer::logged_in(hub.addr(), "alice");
    let mut b = Peer::logged_in(hub.addr(), "bob");
    let mut c = Peer::logged_in(hub.addr(), "carol");
    fs::write(a.share_dir().join("song.ogg"), &song).unwrap();
    fs::write(b.share_dir().join("song.ogg"), &song).unwrap();
    fs::write(c.share_dir().join("cover.ogg"), &cover).unwrap();
    fs::write(c.share_dir().join("solo.txt"), b"only carol").unwrap();
    publish_ok(&mut a, "publish song.ogg", "song.ogg", &song);
    publish_ok(&mut b, "publish song.ogg", "song.ogg", &song);
    publish_ok(&mut c, "publish cover.ogg song.ogg", "song.ogg", &cover);
    check(&c.run("publish solo.txt"), 202, true);

    let r = hub.run("stats");
    assert_eq!(r["published_files"], 4, "{r}");
    assert_eq!(r["lookups"], 0, "{r}");

    let mut raw = Raw::login_as(hub.addr(), "rawuser", "pw", 4321);
    let mut lookups = 0;
    let mut tag = 100;
    let mut look = |raw: &mut Raw, name: &str| {
        lookups += 1;
        tag += 1;
        lookup(raw, tag, name)
    };

    // 204 with every online holder: the address the hub sees plus the reported port,
    // and the size and hash each announced.
    let (status, holders) = look(&mut raw, "song.ogg");
    assert_eq!(status, 204, "{holders:?}");
    let users: Vec<&str> = holders.iter().map(|h| h.user.as_str()).collect();
    assert_eq!(users, ["alice", "bob", "carol"]);
    for (h, peer, data) in [
        (&holders[0], &a, &song),
        (&holders[1], &b, &song),
        (&holders[2], &c, &cover),
    ] {
        assert_eq!(h.addr, peer.addr(), "{h:?}");
        assert_eq!(h.size, data.len() as u64, "{h:?}");
        assert_eq!(h.hash, *blake3::hash(data).as_bytes(), "{h:?}");
    }

    // 406 for a name nobody publishes, with an empty list.
    let (status, holders) = look(&mut raw, "nothing.here");
    assert_eq!((status, holders.len()), (406, 0));

    // The raw session publishes a file itself: its holder address is the hub-seen IP
    // plus the port it announced at login, never anything else.
    let file = FileInfo {
        name: "raw.bin".into(),
        size: 3,
        hash: [7; 32],
    };
    let publish = |raw: &mut Raw, tag: u32, file: &FileInfo, replace: bool| {
        raw.request(&ClientMsg::Publish {
            tag,
            file: file.clone(),
            replace,
        })
        .status
    };
    assert_eq!(publish(&mut raw, 10, &file, false), 202);
    assert_eq!(publish(&mut raw, 11, &file, false), 202, "same again");
    let changed = FileInfo {
        hash: [8; 32],
        ..file.clone()
    };
    assert_eq!(publish(&mut raw, 12, &changed, false), 409, "duplicate");
    assert_eq!(publish(&mut raw, 13, &changed, true), 202, "replace");
    let (status, holders) = look(&mut raw, "raw.bin");
    assert_eq!(status, 204);
    assert_eq!(holders.len(), 1);
    assert_eq!(holders[0].user, "rawuser");
    assert_eq!(holders[0].addr, "127.0.0.1:4321".parse().unwrap());
    assert_eq!(holders[0].hash, [8; 32]);
    // The hub checks names too.
    for bad in [
        "a/b",
        "a\\b",
        "..",
        ".",
        "",
        "bad\u{1}name",
        &"x".repeat(256),
    ] {
        let f = FileInfo {
            name: bad.into(),
            ..file.clone()
        };
        assert_eq!(publish(&mut raw, 14, &f, false), 408, "{bad:?}");
    }
    let r = raw.request(&ClientMsg::Unpublish {
        tag: 15,
        name: "raw.bin".into(),
    });
    assert_eq!(r.status, 200, "{r:?}");
    let r = raw.request(&ClientMsg::Unpublish {
        tag: 16,
        name: "raw.bin".into(),
    });
    assert_eq!(r.status, 406, "{r:?}");
    let (status, _) = look(&mut raw, "raw.bin");
    assert_eq!(status, 406);

    // A holder who quits or dies is dropped from lookups at once.
    quit(&mut b);
    hub.wait_event("leave", |e| e["user"] == "bob", SECS_5);
    let (_, holders) = look(&mut raw, "song.ogg");
    let users: Vec<&str> = holders.iter().map(|h| h.user.as_str()).collect();
    assert_eq!(users, ["alice", "carol"]);
    // A holder whose process dies: gone from lookups once the hub has seen its
    // connection close (which it reports as a leave).
    a.kill9();
    hub.wait_event("leave", |e| e["user"] == "alice", SECS_5);
    let (status, holders) = look(&mut raw, "song.ogg");
    assert_eq!(status, 204);
    let users: Vec<&str> = holders.iter().map(|h| h.user.as_str()).collect();
    assert_eq!(users, ["carol"]);
    let (status, _) = look(&mut raw, "solo.txt");
    assert_eq!(status, 204);
    c.kill9();
    hub.wait_event("leave", |e| e["user"] == "carol", SECS_5);
    let (status, holders) = look(&mut raw, "solo.txt");
    assert_eq!((status, holders.len()), (406, 0), "the only holder is gone");
    let (status, _) = look(&mut raw, "song.ogg");
    assert_eq!(status, 406);

    // stats counts the lookups served and every published entry (offline owners too).
    let r = hub.run("stats");
    check(&r, 200, true);
    assert_eq!(r["lookups"], lookups, "{r}");
    assert_eq!(r["published_files"], 4, "{r}");
    // Lookups are not printed one by one on the console.
    assert!(hub.events_named("lookup").is_empty());
}

/// A client killed with SIGKILL (no logout): the hub sees the connection close and at
/// once reports the leave on its console and to everyone else, and drops the holder.
#[test]
fn a_client_that_dies_is_reported_at_once() {
    let mut hub = Hub::start(&["--auth-rate", "0"]);
    let mut a = Peer::logged_in(hub.addr(), "alice");
    let mut b = Peer::logged_in(hub.addr(), "bob");
    fs::write(a.share_dir().join("doomed.txt"), b"doomed").unwrap();
    check(&a.run("publish doomed.txt"), 202, true);
    a.kill9();
    let l = hub.wait_event("leave", |e| e["user"] == "alice", SECS_5);
    assert_eq!(l["reason"], "connection closed", "{l}");
    let l = b.wait_event("leave", |e| e["user"] == "alice", SECS_5);
    assert_eq!(l["online"], 1, "{l}");
    assert_eq!(hits(&b.run("search doomed")), vec![]);
    let mut raw = Raw::login_as(hub.addr(), "looker", "pw", 1);
    assert_eq!(lookup(&mut raw, 1, "doomed.txt").0, 406);
}

// ---------------------------------------------------------------------------
// Console: discover and ping
// ---------------------------------------------------------------------------

#[test]
fn console_discover_lists_files_online_or_not() {
    let mut hub = Hub::start(&["--auth-rate", "0"]);
    let mut a = Peer::logged_in(hub.addr(), "alice");
    let mut b = Peer::start(hub.addr(), &[]);
    check(&b.run("register bob pw"), 201, true);
    let one = b"first file".to_vec();
    let two = b"second file, longer".repeat(50);
    fs::write(a.share_dir().join("one.txt"), &one).unwrap();
    fs::write(a.share_dir().join("two.bin"), &two).unwrap();
    check(&a.run("publish one.txt"), 202, true);
    check(&a.run("publish two.bin"), 202, true);

    let r = hub.run("discover alice");
    check(&r, 200, true);
    assert_eq!(r["command"], "discover");
    assert_eq!(r["user"], "alice");
    assert_eq!(r["online"], true);
    assert_eq!(
        files_of(&r),
        vec![entry("one.txt", &one), entry("two.bin", &two)]
    );

    // An account without files, offline.
    let r = hub.run("discover bob");
    check(&r, 200, true);
    assert_eq!(r["online"], false);
    assert_eq!(files_of(&r), vec![]);

    // Still listed while the owner is offline.
    quit(&mut a);
    hub.wait_event("leave", |e| e["user"] == "alice", SECS_5);
    let r = hub.run("discover alice");
    check(&r, 200, true);
    assert_eq!(r["online"], false);
    assert_eq!(
        files_of(&r),
        vec![entry("one.txt", &one), entry("two.bin", &two)]
    );

    check(&hub.run("discover nobody"), 401, false);
    check(&hub.run("discover"), 400, false);
}

#[test]
fn console_ping_alive_offline_and_no_answer() {
    let mut hub = Hub::start(&["--auth-rate", "0", "--ping-timeout", "1"]);
    let mut a = Peer::logged_in(hub.addr(), "alice");
    let mut b = Peer::start(hub.addr(), &[]);
    check(&b.run("register bob pw"), 201, true);

    let r = hub.run("ping alice");
    check(&r, 200, true);
    assert_eq!(r["command"], "ping");
    assert_eq!(r["user"], "alice");
    assert_eq!(r["state"], "alive");
    assert_eq!(r["alive"], true);
    let rtt = r["rtt_ms"].as_f64().expect("rtt_ms");
    assert!((0.0..1000.0).contains(&rtt), "{r}");
    let p = a.wait_event("ping", |_| true, SECS_5);
    assert_eq!(p["status"], 203);

    // Registered but not online (410), and no such account (401): offline.
    for (who, status) in [("bob", 410), ("nobody", 401)] {
        let r = hub.run(&format!("ping {who}"));
        check(&r, status, false);
        assert_eq!(r["state"], "offline", "{r}");
        assert_eq!(r["alive"], false, "{r}");
    }

    // A frozen client: no answer, once the ping timeout is over. The ping waits for
    // it: a console command typed after it is answered first.
    a.signal(libc::SIGSTOP);
    let id = hub.console("ping alice");
    check(&hub.run("stats"), 200, true);
    assert!(
        hub.try_wait_line(Duration::ZERO, |v| v["type"] == "result" && v["id"] == id)
            .is_none(),
        "the ping was answered before the timeout"
    );
    let r = hub.wait_result(id, SECS_5);
    a.signal(libc::SIGCONT);
    check(&r, 504, false);
    assert_eq!(r["state"], "no_answer");
    assert_eq!(r["alive"], false);
    // A console ping does not end the session: thawed, it answers again.
    let r = hub.run("ping alice");
    check(&r, 200, true);
    assert_eq!(r["state"], "alive");
    a.wait_event("ping", |_| true, SECS_5);
    assert!(hub.events_named("leave").is_empty());
}

// ---------------------------------------------------------------------------
// Liveness and ghost sessions
// ---------------------------------------------------------------------------

#[test]
fn liveness_drops_a_stopped_client_from_the_index() {
    let mut hub = Hub::start(&[
        "--auth-rate",
        "0",
        "--ping-interval",
        "0.5",
        "--ping-timeout",
        "1",
    ]);
    let mut a = Peer::logged_in(hub.addr(), "alice");
    let mut b = Peer::logged_in(hub.addr(), "bob");
    let data = b"alive and well".to_vec();
    fs::write(a.share_dir().join("live.txt"), &data).unwrap();
    check(&a.run("publish live.txt"), 202, true);
    assert_eq!(
        hits(&b.run("search live")),
        vec![hit("live.txt", &data, &["alice"])]
    );

    a.signal(libc::SIGSTOP);
    let l = hub.wait_event("leave", |e| e["user"] == "alice", SECS_5);
    assert_eq!(l["reason"], "timeout", "{l}");
    let l = b.wait_event("leave", |e| e["user"] == "alice", SECS_5);
    assert_eq!(l["reason"], "timeout", "{l}");
    assert_eq!(l["online"], 1, "{l}");
    assert_eq!(hits(&b.run("search live")), vec![]);
    let mut raw = Raw::login_as(hub.addr(), "looker", "pw", 1);
    let (status, holders) = lookup(&mut raw, 1, "live.txt");
    assert_eq!((status, holders.len()), (406, 0));
    drop(raw);
    // The hub still knows what alice publishes.
    let r = hub.run("discover alice");
    assert_eq!(r["online"], false);
    assert_eq!(files_of(&r), vec![entry("live.txt", &data)]);

    // Thawed, the client reconnects, logs in and announces its files again.
    a.signal(libc::SIGCONT);
    a.wait_event("disconnected", |_| true, SECS_5);
    let r = a.wait_event("reconnected", |_| true, SECS_10);
    assert_eq!(r["status"], 200, "{r}");
    check(&a.run("users"), 200, true);
    assert_eq!(
        hits(&b.run("search live")),
        vec![hit("live.txt", &data, &["alice"])]
    );
}

#[test]
fn ghost_session_is_replaced_but_a_live_one_is_not() {
    let mut hub = Hub::start(&["--auth-rate", "0", "--ping-timeout", "1"]);
    let mut a = Peer::logged_in(hub.addr(), "alice");
    let mut c = Peer::logged_in(hub.addr(), "carol");

    // alice's client freezes; a second login for alice waits for the ghost check.
    a.signal(libc::SIGSTOP);
    let mut b = Peer::start(hub.addr(), &[]);
    let id = b.send("login alice pw");
    // The login waits for the ghost check: carol's command, typed after it, is
    // answered first.
    check(&c.run("users"), 200, true);
    assert!(
        b.try_wait_line(Duration::ZERO, |v| v["type"] == "result" && v["id"] == id)
            .is_none(),
        "the login did not wait for the ghost check"
    );
    let r = b.wait_result(id, SECS_10);
    check(&r, 200, true);
    let l = hub.wait_event("leave", |e| e["user"] == "alice", SECS_5);
    assert_eq!(l["reason"], "timeout", "{l}");
    hub.wait_event("login", |e| e["user"] == "alice", SECS_5);
    hub.wait_event("login", |e| e["user"] == "alice", SECS_5);
    c.wait_event("leave", |e| e["user"] == "alice", SECS_5);
    let j = c.wait_event("join", |e| e["user"] == "alice", SECS_5);
    assert_eq!(j["online"], 2, "{j}");
    assert_eq!(users_of(&b.run("users")), ["alice", "carol"]);

    // A live session is not replaced: 403.
    let mut d = Peer::start(hub.addr(), &[]);
    check(&d.run("login carol pw"), 403, false);
    check(&c.run("users"), 200, true);

    // The old client, thawed, finds its connection gone; its own login again meets a
    // live session (b answers the check) and gets 403; b keeps the account.
    a.signal(libc::SIGCONT);
    a.wait_event("disconnected", |_| true, SECS_5);
    let r = a.wait_event("reconnected", |_| true, SECS_10);
    assert_eq!(r["status"], 403, "{r}");
    assert_eq!(users_of(&b.run("users")), ["alice", "carol"]);
    assert!(b.events_named("kicked").is_empty());
    assert!(b.events_named("disconnected").is_empty());
}

// ---------------------------------------------------------------------------
// Publications survive restarts
// ---------------------------------------------------------------------------

#[test]
fn publications_survive_a_client_restart() {
    let mut hub = Hub::start(&["--auth-rate", "0"]);
    let share = TempDir::new("kept-share");
    let share_arg = share.path().to_str().expect("utf-8 temp path").to_owned();
    let keep = b"this one stays".to_vec();
    let gone = b"this one will be deleted".to_vec();
    fs::write(share.path().join("keep.txt"), &keep).unwrap();
    fs::write(share.path().join("gone.txt"), &gone).unwrap();

    let mut a = Peer::start(hub.addr(), &["--share", &share_arg]);
    a.register_login("alice", "pw");
    publish_ok(&mut a, "publish keep.txt", "keep.txt", &keep);
    publish_ok(&mut a, "publish gone.txt", "gone.txt", &gone);
    quit(&mut a);
    hub.wait_event("leave", |e| e["user"] == "alice", SECS_5);

    let mut b = Peer::logged_in(hub.addr(), "bob");
    assert_eq!(hits(&b.run("search .txt")), vec![], "alice is offline");
    let r = hub.run("discover alice");
    assert_eq!(r["online"], false);
    assert_eq!(
        files_of(&r),
        vec![entry("gone.txt", &gone), entry("keep.txt", &keep)]
    );

    // A new client process on the same share dir: what it published is announced again.
    let mut a2 = Peer::start(hub.addr(), &["--share", &share_arg]);
    a2.login("alice", "pw");
    check(&a2.run("users"), 200, true); // the announcement went before this request
    assert_eq!(
        files_of(&a2.run("shared")),
        vec![entry("gone.txt", &gone), entry("keep.txt", &keep)]
    );
    assert_eq!(
        hits(&b.run("search .TXT")),
        vec![
            hit("gone.txt", &gone, &["alice"]),
            hit("keep.txt", &keep, &["alice"]),
        ]
    );
    quit(&mut a2);
    hub.wait_event("leave", |e| e["user"] == "alice", SECS_5);

    // A published file deleted while the client is down is withdrawn at the next login.
    fs::remove_file(share.path().join("gone.txt")).unwrap();
    let mut a3 = Peer::start(hub.addr(), &["--share", &share_arg]);
    a3.login("alice", "pw");
    let u = a3.wait_event("unpublished", |_| true, SECS_5);
    assert_eq!(u["name"], "gone.txt", "{u}");
    check(&a3.run("users"), 200, true);
    assert_eq!(files_of(&a3.run("shared")), vec![entry("keep.txt", &keep)]);
    assert_eq!(
        hits(&b.run("search .txt")),
        vec![hit("keep.txt", &keep, &["alice"])]
    );
    let r = hub.run("discover alice");
    assert_eq!(r["online"], true);
    assert_eq!(files_of(&r), vec![entry("keep.txt", &keep)]);
    assert_eq!(a3.events_named("unpublished").len(), 1);
}

#[test]
fn publications_survive_a_hub_restart() {
    let mut hub = Hub::start(&["--auth-rate", "0"]);
    let mut a = Peer::logged_in(hub.addr(), "alice");
    let p1 = b"persisted one".to_vec();
    let p2 = b"persisted two".repeat(100);
    fs::write(a.share_dir().join("p1.txt"), &p1).unwrap();
    fs::write(a.share_dir().join("p2.txt"), &p2).unwrap();
    check(&a.run("publish p1.txt"), 202, true);
    check(&a.run("publish p2.txt"), 202, true);

    // Keep the client from logging in again until discover has been checked.
    a.signal(libc::SIGSTOP);
    hub.restart_same_addr(SECS_10);
    let r = hub.run("discover alice");
    check(&r, 200, true);
    assert_eq!(r["online"], false);
    assert_eq!(
        files_of(&r),
        vec![entry("p1.txt", &p1), entry("p2.txt", &p2)]
    );

    a.signal(libc::SIGCONT);
    a.wait_event("disconnected", |_| true, SECS_5);
    let r = a.wait_event("reconnected", |_| true, SECS_10);
    assert_eq!(r["status"], 200, "{r}");
    check(&a.run("users"), 200, true); // the announcement went before this request

    let mut b = Peer::logged_in(hub.addr(), "bob");
    assert_eq!(
        hits(&b.run("search p")),
        vec![
            hit("p1.txt", &p1, &["alice"]),
            hit("p2.txt", &p2, &["alice"])
        ]
    );
    let mut raw = Raw::login_as(hub.addr(), "looker", "pw", 1);
    let (status, holders) = lookup(&mut raw, 1, "p2.txt");
    assert_eq!(status, 204);
    assert_eq!(holders.len(), 1);
    assert_eq!(holders[0].addr, a.addr());
    let r = hub.run("discover alice");
    assert_eq!(r["online"], true);
}

// ---------------------------------------------------------------------------
// Hashing never holds up the loop
// ---------------------------------------------------------------------------

/// Write `mib` MiB of non-repeating data to `path`; its BLAKE3 hex.
fn write_big_file(path: &std::path::Path, mib: usize) -> String {
    let mut chunk = vec![0u8; 1 << 20];
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for b in chunk.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
    let mut file = fs::File::create(path).unwrap();
    let mut hasher = blake3::Hasher::new();
    for i in 0..mib {
        chunk[..8].copy_from_slice(&(i as u64).to_be_bytes());
        file.write_all(&chunk).unwrap();
        hasher.update(&chunk);
    }
    file.sync_data().ok();
    hasher.finalize().to_hex().to_string()
}

#[test]
fn a_big_publish_does_not_hold_up_later_commands() {
    let hub = Hub::start(&["--auth-rate", "0"]);
    let mut a = Peer::start(hub.addr(), &["--hash-slice", "4096"]);
    a.register_login("alice", "pw");
    let mut b = Peer::logged_in(hub.addr(), "bob");
    const MIB: usize = 256;
    let hash = write_big_file(&a.share_dir().join("big.bin"), MIB);

    let t = Instant::now();
    let publish = a.send("publish big.bin");
    let say = a.send("say hi while hashing");
    let users = a.send("users");
    check(&a.wait_result(say, SECS_10), 200, true);
    check(&a.wait_result(users, SECS_10), 200, true);
    a.pump();
    assert!(
        !a.results().iter().any(|r| r["id"] == publish),
        "the publish finished before the commands typed after it"
    );
    let answered = t.elapsed();
    let c = b.wait_event("chat", |_| true, SECS_5);
    assert_eq!(c["text"], "hi while hashing");

    let r = a.wait_result(publish, Duration::from_secs(40));
    eprintln!(
        "say and users answered after {answered:?}, the {MIB} MiB publish after {:?}",
        t.elapsed()
    );
    check(&r, 202, true);
    assert_eq!(r["size"], (MIB as u64) << 20);
    assert_eq!(r["hash"], hash);
    // Results came in the order the commands finished: say, users, then publish.
    let order: Vec<u64> = a
        .results()
        .iter()
        .filter_map(|r| r["id"].as_u64())
        .filter(|id| [publish, say, users].contains(id))
        .collect();
    assert_eq!(order, [say, users, publish]);
}
