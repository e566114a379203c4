//! End-to-end tests of the foundation: accounts, presence, console, liveness, bad input.
//! Every test starts its own hub and peers as real processes over loopback.

mod support;

use std::fs;
use std::time::Duration;
use support::{
    check, contains_bytes, files_under, frame, tagged, users_of, Hub, Input, Peer, PeerOpts, Raw,
};

const SECS_5: Duration = Duration::from_secs(5);
const SECS_10: Duration = Duration::from_secs(10);

/// `users` answers 200 (before `Peer::run`'s deadline: a stalled hub fails it) and
/// lists `who`.
#[track_caller]
fn users_answered(peer: &mut Peer, who: &str) {
    let r = peer.run("users");
    check(&r, 200, true);
    assert!(users_of(&r).iter().any(|u| u == who), "{who} not in {r}");
}

// ---------------------------------------------------------------------------
// Status codes
// ---------------------------------------------------------------------------

#[test]
fn status_codes_of_accounts_and_sessions() {
    let mut hub = Hub::start(&["--auth-rate", "0"]);
    let mut a = Peer::start(hub.addr(), &[]);

    check(&a.run("users"), 407, false);
    check(&a.run("register alice pw1"), 201, true);
    check(&a.run("register alice pw1"), 404, false);
    check(&a.run("login nobody pw"), 401, false);
    check(&a.run("login alice wrong"), 402, false);
    check(&a.run("register bad/name pw"), 408, false);
    check(&a.run("login 'x pw"), 408, false);

    // An unknown command is 400, and the session goes on.
    let r = a.run("frobnicate now");
    check(&r, 400, false);
    assert_eq!(r["command"], "frobnicate");
    check(&a.run("help"), 200, true);

    let r = a.run("login alice pw1");
    check(&r, 200, true);
    assert_eq!(r["online"], 1);
    assert_eq!(r["command"], "login");
    hub.wait_event("login", |e| e["user"] == "alice", SECS_5);

    // The same account from another client: 403; from the same client too.
    let mut b = Peer::start(hub.addr(), &[]);
    check(&b.run("login alice pw1"), 403, false);
    check(&a.run("login alice pw1"), 403, false);
    check(&b.run("users"), 407, false);

    check(&a.run("users"), 200, true);
    let r = a.run("logout");
    check(&r, 405, true);
    assert_eq!(r["command"], "logout");
    check(&a.run("users"), 407, false);
    hub.wait_event("leave", |e| e["user"] == "alice", SECS_5);

    // After logout, b can take the account; a quits cleanly.
    check(&b.run("login alice pw1"), 200, true);
    let id = a.send("quit");
    let r = a.wait_result(id, SECS_10);
    check(&r, 405, true);
    assert_eq!(r["command"], "quit");
    assert_eq!(a.expect_exit(SECS_10), 0);

    // quit while logged in: the hub sees a leave.
    let id = b.send("quit");
    check(&b.wait_result(id, SECS_10), 405, true);
    assert_eq!(b.expect_exit(SECS_10), 0);
    let leaves = hub.wait_event("leave", |e| e["user"] == "alice", SECS_5);
    assert!(leaves["reason"].is_string(), "{leaves}");
}

#[test]
fn failed_logins_are_rate_limited() {
    let hub = Hub::start(&["--auth-rate", "2"]);
    let mut a = Peer::start(hub.addr(), &[]);
    check(&a.run("login ghost pw"), 401, false);
    check(&a.run("login ghost pw"), 401, false);
    check(&a.run("login ghost pw"), 429, false);
    // Registrations from the same address are limited too, from another connection as well.
    let mut b = Peer::start(hub.addr(), &[]);
    check(&b.run("register newbie pw"), 429, false);
    // Requests that need no authentication still work.
    check(&b.run("help"), 200, true);
    check(&b.run("users"), 407, false);
}

#[test]
fn ban_refuses_login_until_unban() {
    let mut hub = Hub::start(&["--auth-rate", "0"]);
    let mut bob = Peer::logged_in(hub.addr(), "bob");
    let mut carol = Peer::logged_in(hub.addr(), "carol");

    let r = hub.run("ban bob");
    check(&r, 200, true);
    assert_eq!(r["command"], "ban");
    let k = bob.wait_event("kicked", |_| true, SECS_5);
    assert_eq!(k["status"], 423, "{k}");
    assert!(k["reason"].is_string());
    carol.wait_event("leave", |e| e["user"] == "bob", SECS_5);

    check(&bob.run("users"), 407, false);
    let r = bob.run("login bob pw");
    check(&r, 423, false);
    // A ban holds for a fresh client too.
    let mut bob2 = Peer::start(hub.addr(), &[]);
    check(&bob2.run("login bob pw"), 423, false);

    check(&hub.run("unban bob"), 200, true);
    check(&bob.run("login bob pw"), 200, true);
    carol.wait_event("join", |e| e["user"] == "bob", SECS_5);
    check(&bob2.run("login bob pw"), 403, false);
}

#[test]
fn passwd_changes_the_password() {
    let hub = Hub::start(&["--auth-rate", "0"]);
    let mut a = Peer::start(hub.addr(), &[]);
    check(&a.run("passwd old new"), 407, false);
    a.register_login("pat", "first");
    check(&a.run("passwd wrong second"), 402, false);
    check(&a.run("passwd first \"second one\""), 200, true);
    check(&a.run("logout"), 405, true);
    check(&a.run("login pat first"), 402, false);
    check(&a.run("login pat \"second one\""), 200, true);
}

#[test]
fn chat_status_codes() {
    let hub = Hub::start(&["--auth-rate", "0", "--chat-rate", "1"]);
    let mut a = Peer::start(hub.addr(), &[]);
    check(&a.run("say too early"), 407, false);
    a.register_login("alice", "pw");
    let mut b = Peer::logged_in(hub.addr(), "bob");

    check(&a.run("say hello  everyone"), 200, true);
    let c = b.wait_event("chat", |_| true, SECS_5);
    assert_eq!(c["from"], "alice");
    assert_eq!(c["text"], "hello  everyone");
    check(&a.run("msg bob psst"), 200, true);
    let m = b.wait_event("private", |_| true, SECS_5);
    assert_eq!(
        (m["from"].as_str(), m["text"].as_str()),
        (Some("alice"), Some("psst"))
    );
    // Nobody gets their own chat back (the users reply is a barrier).
    a.run("users");
    assert!(a.events_named("chat").is_empty());

    check(&a.run("msg carol hi"), 401, false);
    check(&a.run("msg bad/name hi"), 408, false);
    check(&a.run(&format!("say {}", "x".repeat(5000))), 413, false);
    // --chat-rate 1: a burst of five, then 429.
    let statuses: Vec<u64> = (0..8)
        .map(|i| a.run(&format!("say flood {i}"))["status"].as_u64().unwrap())
        .collect();
    assert!(statuses.contains(&429), "{statuses:?}");
    assert!(
        statuses.iter().all(|s| matches!(s, 200 | 429)),
        "{statuses:?}"
    );
}

// ---------------------------------------------------------------------------
// Persistence
// ---------------------------------------------------------------------------

/// No file under the data dir holds the password's bytes.
#[track_caller]
fn assert_no_plaintext(hub: &Hub, password: &str) {
    let files = files_under(&hub.data_dir());
    assert!(
        files
            .iter()
            .any(|f| f.file_name().is_some_and(|n| n == "peerhub.db")),
        "no database in {files:?}"
    );
    for f in &files {
        let bytes = fs::read(f).unwrap_or_else(|e| panic!("read {}: {e}", f.display()));
        assert!(
            !contains_bytes(&bytes, password.as_bytes()),
            "{} holds the plaintext password",
            f.display()
        );
    }
}

#[test]
fn accounts_survive_kill9_and_passwords_are_hashed() {
    const PASSWORD: &str = "Plain-Text-Canary-7f3a";
    let mut hub = Hub::start(&["--auth-rate", "0"]);
    let mut a = Peer::start(hub.addr(), &[]);
    check(&a.run(&format!("register dora {PASSWORD}")), 201, true);
    check(&a.run(&format!("register eve {PASSWORD}x")), 201, true);
    a.kill9();

    hub.kill9();
    // Right after the crash (a -wal file may still be there).
    assert_no_plaintext(&hub, PASSWORD);

    hub.restart();
    let mut b = Peer::start(hub.addr(), &[]);
    check(&b.run(&format!("login dora {PASSWORD}")), 200, true);
    check(&b.run("register dora other"), 404, false);
    let mut c = Peer::start(hub.addr(), &[]);
    check(&c.run("login eve wrong"), 402, false);
    check(&c.run(&format!("login eve {PASSWORD}x")), 200, true);
    let r = hub.run("stats");
    check(&r, 200, true);
    assert_eq!(r["accounts"], 2, "{r}");
    assert_no_plaintext(&hub, PASSWORD);
}

// ---------------------------------------------------------------------------
// Client input and leaving
// ---------------------------------------------------------------------------

#[test]
fn script_from_a_regular_file() {
    let hub = Hub::start(&["--auth-rate", "0"]);
    let dir = support::TempDir::new("script");
    let script = dir.path().join("script.txt");
    let lines = [
        "register sam pw",     // 1
        "login sam pw",        // 2
        "",                    // 3: blank, no result
        "# a comment",         // 4: no result
        "users",               // 5
        "frob",                // 6
        "say hello from file", // 7
        "logout",              // 8
    ];
    fs::write(&script, lines.join("\n") + "\n").expect("write script");
    let mut p = Peer::spawn(PeerOpts::new(hub.addr()).input(Input::File(script)));
    assert_eq!(p.expect_exit(SECS_10), 0);
    let results = p.results();
    let mut ids: Vec<u64> = results.iter().map(|r| r["id"].as_u64().unwrap()).collect();
    ids.sort_unstable();
    assert_eq!(
        ids,
        vec![1, 2, 5, 6, 7, 8],
        "one result per command: {results:?}"
    );
    let by_id = |id: u64| results.iter().find(|r| r["id"] == id).unwrap().clone();
    check(&by_id(1), 201, true);
    check(&by_id(2), 200, true);
    check(&by_id(5), 200, true);
    assert_eq!(users_of(&by_id(5)), vec!["sam"]);
    check(&by_id(6), 400, false);
    check(&by_id(7), 200, true);
    check(&by_id(8), 405, true);
}

#[test]
fn end_of_input_logs_out_and_exits_zero() {
    let mut hub = Hub::start(&["--auth-rate", "0"]);
    let mut p = Peer::logged_in(hub.addr(), "ivy");
    p.close_stdin();
    assert_eq!(p.expect_exit(SECS_10), 0);
    hub.wait_event("leave", |e| e["user"] == "ivy", SECS_5);
}

#[test]
fn sigint_leaves_cleanly() {
    let mut hub = Hub::start(&["--auth-rate", "0"]);
    let mut a = Peer::logged_in(hub.addr(), "alice");
    let mut b = Peer::logged_in(hub.addr(), "bob");
    let j = a.wait_event("join", |e| e["user"] == "bob", SECS_5);
    assert_eq!(j["online"], 2);

    a.signal(libc::SIGINT);
    assert_eq!(a.expect_exit(SECS_10), 0);
    let l = hub.wait_event("leave", |e| e["user"] == "alice", SECS_5);
    assert!(l["reason"].is_string(), "{l}");
    let l = b.wait_event("leave", |e| e["user"] == "alice", SECS_5);
    assert_eq!(l["online"], 1, "{l}");
    let r = b.run("users");
    assert_eq!(users_of(&r), vec!["bob"]);
}

// ---------------------------------------------------------------------------
// Losing the hub
// ---------------------------------------------------------------------------

#[test]
fn console_shutdown_disconnects_clients() {
    let mut hub = Hub::start(&["--auth-rate", "0"]);
    let mut a = Peer::logged_in(hub.addr(), "alice");
    let mut b = Peer::start(hub.addr(), &["--reconnect-for", "1"]);
    b.register_login("bob", "pw");

    let id = hub.console("shutdown");
    check(&hub.wait_result(id, SECS_5), 200, true);
    assert_eq!(hub.expect_exit(SECS_10), 0);

    a.wait_event("disconnected", |e| e["reason"].is_string(), SECS_5);
    b.wait_event("disconnected", |_| true, SECS_5);
    // Without --serve and with the hub gone for good, b gives up (--reconnect-for 1)
    // and exits 1, while a (60 s by default) is still trying.
    assert_eq!(b.expect_exit(SECS_10), 1);
    assert!(b.events_named("reconnected").is_empty());
    // a is still trying (60 s by default); Ctrl-C ends it cleanly.
    assert!(a.is_running());
    a.signal(libc::SIGINT);
    assert_eq!(a.expect_exit(SECS_10), 0);
}

#[test]
fn hub_signals_are_a_graceful_shutdown() {
    for sig in [libc::SIGTERM, libc::SIGINT] {
        let mut hub = Hub::start(&["--auth-rate", "0"]);
        let mut a = Peer::start(hub.addr(), &["--reconnect-for", "0.5"]);
        a.register_login("alice", "pw");
        hub.signal(sig);
        assert_eq!(hub.expect_exit(SECS_10), 0, "hub after signal {sig}");
        let d = a.wait_event("disconnected", |_| true, SECS_5);
        assert!(d["reason"].as_str().unwrap().contains("503"), "{d}");
        assert_eq!(a.expect_exit(SECS_10), 1);
    }
}

#[test]
fn client_without_a_hub_exits_one() {
    let refusing = support::RefusingPort::bind();
    let addr = refusing.addr;
    let mut p = Peer::start(addr, &[]);
    assert_eq!(p.expect_exit(SECS_10), 1);
    let d = p.events_named("disconnected");
    assert_eq!(d.len(), 1, "{d:?}");
}

#[test]
fn usage_error_exits_two() {
    let out = std::process::Command::new(support::BIN)
        .args(["client", "--no-such-flag"])
        .output()
        .expect("run peerhub");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        out.stdout.is_empty(),
        "{:?}",
        String::from_utf8_lossy(&out.stdout)
    );
    let out = std::process::Command::new(support::BIN)
        .args(["server", "--listen", "not-an-address"])
        .output()
        .expect("run peerhub");
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn client_reconnects_to_a_restarted_hub() {
    let mut hub = Hub::start(&["--auth-rate", "0"]);
    let mut a = Peer::logged_in(hub.addr(), "alice");
    let addr = hub.addr();

    hub.kill9();
    a.wait_event("disconnected", |_| true, SECS_5);
    hub.restart_same_addr(SECS_10);
    assert_eq!(hub.addr(), addr);
    let r = a.wait_event("reconnected", |_| true, SECS_10);
    assert_eq!(r["status"], 200, "logged in again: {r}");
    hub.wait_event("login", |e| e["user"] == "alice", SECS_5);
    let r = a.run("users");
    check(&r, 200, true);
    assert_eq!(users_of(&r), vec!["alice"]);
    // A second client sees alice online on the new hub.
    let mut b = Peer::logged_in(hub.addr(), "bob");
    assert_eq!(users_of(&b.run("users")), vec!["alice", "bob"]);
}

#[test]
fn liveness_pings_and_drops_a_frozen_client() {
    let mut hub = Hub::start(&[
        "--auth-rate",
        "0",
        "--ping-interval",
        "0.3",
        "--ping-timeout",
        "1",
    ]);
    let mut a = Peer::logged_in(hub.addr(), "alice");
    let mut b = Peer::logged_in(hub.addr(), "bob");

    // A quiet client is pinged (203) and answers.
    let p = a.wait_event("ping", |_| true, SECS_5);
    assert_eq!(p["status"], 203);
    let r = hub.run("ping alice");
    check(&r, 200, true);
    assert_eq!(r["state"], "alive");
    assert_eq!(r["alive"], true);
    assert!(r["rtt_ms"].as_f64().is_some_and(|ms| ms >= 0.0), "{r}");
    let r = hub.run("ping nobody");
    check(&r, 401, false);
    assert_eq!(r["state"], "offline");
    assert_eq!(r["message"], "no such user \"nobody\"", "{r}");

    // A frozen client: the console ping gets no answer, then the hub drops it.
    a.signal(libc::SIGSTOP);
    let id = hub.console("ping alice");
    let r = hub.wait_result(id, SECS_5);
    check(&r, 504, false);
    assert_eq!(r["state"], "no_answer");
    let l = hub.wait_event("leave", |e| e["user"] == "alice", SECS_5);
    assert_eq!(l["reason"], "timeout", "{l}");
    b.wait_event("leave", |e| e["user"] == "alice", SECS_5);
    assert_eq!(users_of(&b.run("users")), vec!["bob"]);

    // Thawed, it notices, reconnects and logs in again.
    a.signal(libc::SIGCONT);
    a.wait_event("disconnected", |_| true, SECS_5);
    let r = a.wait_event("reconnected", |_| true, SECS_10);
    assert_eq!(r["status"], 200, "{r}");
    b.wait_event("join", |e| e["user"] == "alice", SECS_5);
    assert_eq!(users_of(&a.run("users")), vec!["alice", "bob"]);
}

// ---------------------------------------------------------------------------
// Console
// ---------------------------------------------------------------------------

#[test]
fn console_kick() {
    let mut hub = Hub::start(&["--auth-rate", "0"]);
    let mut a = Peer::logged_in(hub.addr(), "alice");
    let mut b = Peer::logged_in(hub.addr(), "bob");

    let r = hub.run("kick alice");
    check(&r, 200, true);
    assert_eq!(r["command"], "kick");
    let k = a.wait_event("kicked", |_| true, SECS_5);
    assert!(k["reason"].is_string(), "{k}");
    let l = b.wait_event("leave", |e| e["user"] == "alice", SECS_5);
    assert_eq!(l["online"], 1);
    hub.wait_event("leave", |e| e["user"] == "alice", SECS_5);

    // Kicked: logged out, and no automatic login (the reply below is a barrier).
    check(&a.run("users"), 407, false);
    assert!(a.events_named("reconnected").is_empty());
    assert!(a.events_named("disconnected").is_empty());
    check(&hub.run("kick alice"), 410, false);

    check(&a.run("login alice pw"), 200, true);
    b.wait_event("join", |e| e["user"] == "alice", SECS_5);
    assert_eq!(users_of(&a.run("users")), vec!["alice", "bob"]);
}

#[test]
fn console_users_stats_help_and_numbering() {
    let mut hub = Hub::start(&["--auth-rate", "0"]);
    let r = hub.run("stats");
    check(&r, 200, true);
    assert_eq!(r["connections"], 0, "{r}");
    assert_eq!(r["users_online"], 0, "{r}");
    assert_eq!(r["accounts"], 0, "{r}");

    let mut a = Peer::logged_in(hub.addr(), "alice");
    let mut b = Peer::start(hub.addr(), &[]);
    check(&b.run("register bob pw"), 201, true);

    let r = hub.run("users");
    check(&r, 200, true);
    assert_eq!(users_of(&r), vec!["alice"]);
    let r = hub.run("stats");
    check(&r, 200, true);
    assert_eq!(r["connections"], 2, "{r}");
    assert_eq!(r["users_online"], 1, "{r}");
    assert_eq!(r["accounts"], 2, "{r}");
    let r = hub.run("help");
    check(&r, 200, true);
    assert_eq!(r["command"], "help");
    let r = hub.run("frob");
    check(&r, 400, false);
    check(&hub.run("kick"), 400, false);

    // An announcement reaches everyone logged in.
    let r = hub.run("say maintenance at  noon");
    check(&r, 200, true);
    let e = a.wait_event("announce", |_| true, SECS_5);
    assert_eq!(e["text"], "maintenance at  noon");
    b.run("help");
    assert!(b.events_named("announce").is_empty(), "b is not logged in");

    // Lines are numbered from 1 in the order written, blank and comment lines included.
    let before = hub.lines_sent();
    hub.console("");
    hub.console("# a note");
    let id = hub.console("users");
    assert_eq!(id, before + 3);
    let r = hub.wait_result(id, SECS_5);
    assert_eq!(r["command"], "users");
    assert_eq!(
        hub.results().len() as u64,
        before + 1,
        "blank lines have no result"
    );

    // The hub reports connects and logins.
    let c = hub.events_named("connect");
    assert!(c.len() >= 2, "{c:?}");
    assert!(c
        .iter()
        .all(|e| e["addr"].as_str().unwrap().starts_with("127.0.0.1:")));
    assert_eq!(hub.events_named("login").len(), 1);
}

#[test]
fn console_end_of_input_does_not_stop_the_hub() {
    for input in [Input::Piped, Input::Null] {
        let closed_pipe = matches!(input, Input::Piped);
        let mut hub = Hub::start_with(&["--auth-rate", "0"], input);
        if closed_pipe {
            hub.close_stdin();
        }
        let _alice = Peer::logged_in(hub.addr(), "alice"); // stays online for `users`
        let mut b = Peer::logged_in(hub.addr(), "bob");
        assert_eq!(users_of(&b.run("users")), vec!["alice", "bob"]);
        assert!(hub.is_running(), "hub exited at end of console input");
        hub.wait_event("login", |e| e["user"] == "bob", SECS_5);
    }
}

// ---------------------------------------------------------------------------
// Bad input
// ---------------------------------------------------------------------------

#[test]
fn bad_input_is_refused_without_disturbing_others() {
    let mut hub = Hub::start(&[
        "--auth-rate",
        "0",
        "--hello-timeout",
        "1",
        "--idle-timeout",
        "2",
    ]);
    let mut a = Peer::logged_in(hub.addr(), "alice");

    // Connections that stall: never a hello; half a length prefix before and after hello.
    let mut silent = Raw::connect(hub.addr());
    let mut half_before = Raw::connect(hub.addr());
    half_before.send(&[0, 0, 0]).unwrap();
    let mut half_after = Raw::connect_hello(hub.addr());
    half_after.send(&[0, 0, 0]).unwrap();
    users_answered(&mut a, "alice");

    // Garbage (an HTTP request) instead of a hello: a Bye, then close. (The exact
    // status, 400, is checked by `garbage_before_hello_gets_bye_400`.)
    let mut http = Raw::connect(hub.addr());
    http.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let frames = http.expect_closed(SECS_5);
    let byes: Vec<_> = frames
        .iter()
        .filter_map(|f| support::decode_bye(f))
        .collect();
    assert_eq!(byes.len(), 1, "frames {frames:?}");
    assert!(matches!(byes[0].0, 400 | 413), "bye {byes:?}");
    // A wrong magic in a well-formed first frame: 400.
    let mut magic = Raw::connect(hub.addr());
    magic.send(&frame(b"\x01HTTP\x00\x01\x00")).unwrap();
    let frames = magic.expect_closed(SECS_5);
    let byes: Vec<_> = frames
        .iter()
        .filter_map(|f| support::decode_bye(f))
        .collect();
    assert_eq!(byes.len(), 1, "frames {frames:?}");
    assert_eq!(byes[0].0, 400, "bye {byes:?}");
    // A hello of an unknown protocol version: 400.
    let mut v9 = Raw::connect(hub.addr());
    v9.send(&frame(b"\x01PHUB\x00\x09\x00")).unwrap();
    let (status, reason) = v9.expect_bye(SECS_5);
    assert_eq!(status, 400, "{reason}");
    v9.expect_closed(SECS_5);
    users_answered(&mut a, "alice");

    // A 4 GiB length prefix after hello: closed (a Bye may come first), nothing allocated.
    let mut huge = Raw::connect_hello(hub.addr());
    huge.send(&[0xFF, 0xFF, 0xFF, 0xFF]).unwrap();
    let frames = huge.expect_closed(SECS_5);
    assert!(
        frames.iter().all(|f| support::decode_bye(f).is_some()),
        "{frames:?}"
    );
    users_answered(&mut a, "alice");

    // A bad message inside a good frame: 400, and that connection carries on.
    let mut odd = Raw::connect_hello(hub.addr());
    odd.send(&frame(&[0xEE, 0, 0, 0, 9])).unwrap();
    let p = odd.read_frame(SECS_5).expect("reply to a bad message");
    assert_eq!(support::decode_reply(&p), Some((9, 400)), "{p:?}");
    odd.send(&tagged(support::kind::ECHO, 10)).unwrap();
    let p = odd.read_frame(SECS_5).expect("reply to echo");
    assert_eq!(support::decode_reply(&p), Some((10, 200)), "{p:?}");
    odd.send(&tagged(support::kind::USERS, 11)).unwrap();
    let p = odd.read_frame(SECS_5).expect("reply to users");
    assert_eq!(support::decode_reply(&p), Some((11, 407)), "{p:?}");

    // The stalled ones are closed by their deadlines (hello 1 s, idle 2 s), in that
    // order: when the hello deadline has closed the first two, the one that said hello
    // has had no Bye yet.
    for (name, raw) in [
        ("silent", &mut silent),
        ("half frame before hello", &mut half_before),
        ("half frame after hello", &mut half_after),
    ] {
        if name == "half frame after hello" {
            let early = raw.frames_arrived();
            assert!(
                early.is_empty(),
                "closed with the hello deadline: {early:?}"
            );
        }
        let frames = raw.expect_closed(SECS_5);
        let byes: Vec<_> = frames
            .iter()
            .filter_map(|f| support::decode_bye(f))
            .collect();
        assert_eq!(byes.len(), 1, "{name}: {frames:?}");
        assert_eq!(byes[0].0, 504, "{name}: {byes:?}");
        users_answered(&mut a, "alice");
    }

    // The one that sent a bad message but stayed valid is closed for idling too.
    let (status, _) = odd.expect_bye(SECS_5);
    assert_eq!(status, 504);
    odd.expect_closed(SECS_5);

    // The hub is fine and counts only what is left: alice.
    let r = hub.run("stats");
    assert_eq!(r["connections"], 1, "{r}");
    assert_eq!(r["users_online"], 1, "{r}");
    assert!(hub.is_running());
}

/// An HTTP request sent to the hub port is "not a peerhub client": Bye 400, even though
/// its first four bytes ("GET ") read as a 1.2 GB length prefix.
#[test]
fn garbage_before_hello_gets_bye_400() {
    let hub = Hub::start(&[]);
    let mut http = Raw::connect(hub.addr());
    http.send(b"GET / HTTP/1.1\r\n\r\n").unwrap();
    let (status, reason) = http.expect_bye(SECS_5);
    assert_eq!(status, 400, "{reason}");
    http.expect_closed(SECS_5);
}

#[test]
fn max_clients_and_hello_deadline() {
    let hub = Hub::start(&["--max-clients", "2", "--hello-timeout", "1"]);
    let mut first = Raw::connect_hello(hub.addr());
    let mut second = Raw::connect(hub.addr());

    // Over the limit: a Bye 503 and a close.
    let mut third = Raw::connect(hub.addr());
    let frames = third.expect_closed(SECS_5);
    let byes: Vec<_> = frames
        .iter()
        .filter_map(|f| support::decode_bye(f))
        .collect();
    assert_eq!(byes.len(), 1, "{frames:?}");
    assert_eq!(byes[0].0, 503, "{byes:?}");

    // The one that never says hello is closed after about a second, with 504.
    let (status, _) = second.expect_bye(SECS_5);
    assert_eq!(status, 504);
    second.expect_closed(SECS_5);

    // Its slot is free again: a full client gets in.
    let mut p = Peer::start(hub.addr(), &[]);
    check(&p.run("register zed pw"), 201, true);
    check(&p.run("login zed pw"), 200, true);
    // The first one, which said hello, is still served.
    first.send(&tagged(support::kind::ECHO, 5)).unwrap();
    let f = first.read_frame(SECS_5).expect("echo reply");
    assert_eq!(support::decode_reply(&f), Some((5, 200)));
}

// ---------------------------------------------------------------------------
// IPv6
// ---------------------------------------------------------------------------

#[test]
fn ipv6_hub_serves_a_client() {
    if std::net::TcpListener::bind("[::1]:0").is_err() {
        eprintln!("skipping: cannot bind [::1]");
        return;
    }
    let mut hub = match Hub::try_start_on("[::1]:0", &["--auth-rate", "0"]) {
        Ok(hub) => hub,
        Err(e) => panic!("::1 can be bound but the hub did not start on it: {e}"),
    };
    assert!(hub.addr().is_ipv6(), "{}", hub.addr());
    let mut a = Peer::start(hub.addr(), &[]);
    assert!(a.addr().is_ipv6(), "peer listener {}", a.addr());
    a.register_login("six", "pw");
    assert_eq!(users_of(&a.run("users")), vec!["six"]);
    let c = hub.wait_event("connect", |_| true, SECS_5);
    assert!(c["addr"].as_str().unwrap().starts_with("[::1]:"), "{c}");
    let r = hub.run("users");
    assert_eq!(users_of(&r), vec!["six"]);
}
