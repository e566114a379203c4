//! End-to-end tests of the chat hub (issue 4): broadcast, private messages, join/leave
//! notices, history, order per sender, slow consumers, flood limits, bad text, and the
//! console's say, kick and ban. Every test starts its own hub and peers as real
//! processes over loopback.

mod support;

use peerhub::proto::message::{ClientMsg, HubMsg};
use serde_json::Value;
use std::time::Duration;
use support::{check, frame, rss_bytes, users_of, Hub, Peer, Raw};

const SECS_5: Duration = Duration::from_secs(5);
const SECS_10: Duration = Duration::from_secs(10);

/// (from, text) of every `chat` event seen so far that satisfies `pred`.
fn chats(peer: &mut Peer, mut pred: impl FnMut(&Value) -> bool) -> Vec<(String, String)> {
    peer.events_named("chat")
        .into_iter()
        .filter(|e| pred(e))
        .map(|e| {
            (
                e["from"].as_str().expect("from").to_owned(),
                e["text"].as_str().expect("text").to_owned(),
            )
        })
        .collect()
}

/// (user, online) of every event `name` seen so far.
fn presence(peer: &mut Peer, name: &str) -> Vec<(String, u64)> {
    peer.events_named(name)
        .into_iter()
        .map(|e| {
            (
                e["user"].as_str().expect("user").to_owned(),
                e["online"].as_u64().expect("online"),
            )
        })
        .collect()
}

fn pair(user: &str, n: u64) -> (String, u64) {
    (user.to_owned(), n)
}

/// A round trip to the hub: everything the hub queued for `peer` before this reply
/// has arrived (replies and pushed messages share one ordered queue).
fn barrier(peer: &mut Peer) {
    check(&peer.run("users"), 200, true);
}

// ---------------------------------------------------------------------------
// Broadcast and private messages
// ---------------------------------------------------------------------------

#[test]
fn broadcast_reaches_everyone_else_and_private_only_its_target() {
    let hub = Hub::start(&["--auth-rate", "0"]);
    let names = ["alice", "bob", "carol", "dave"];
    let mut peers: Vec<Peer> = names
        .iter()
        .map(|n| {
            let mut p = Peer::start(hub.addr(), &[]);
            p.register_login(n, "pw");
            p
        })
        .collect();
    let mut eve = Peer::start(hub.addr(), &[]);
    check(&eve.run("register eve pw"), 201, true);

    let r = peers[0].run("say hello  everyone, ünïcödé\ttab");
    check(&r, 200, true);
    assert_eq!(r["command"], "say");
    for p in &mut peers[1..] {
        let c = p.wait_event("chat", |_| true, SECS_5);
        assert_eq!(c["from"], "alice", "{c}");
        assert_eq!(c["text"], "hello  everyone, ünïcödé\ttab", "{c}");
        assert!(c["history"].is_null() || c["history"] == false, "{c}");
    }
    // The sender gets no chat of its own; an anonymous connection gets nothing.
    barrier(&mut peers[0]);
    assert!(peers[0].events_named("chat").is_empty());
    check(&eve.run("users"), 407, false);
    assert!(eve.events_named("chat").is_empty());

    // A private message reaches only its target.
    let r = peers[0].run("msg bob just for you");
    check(&r, 200, true);
    let m = peers[1].wait_event("private", |_| true, SECS_5);
    assert_eq!(m["from"], "alice", "{m}");
    assert_eq!(m["text"], "just for you", "{m}");
    for p in peers.iter_mut().skip(2) {
        barrier(p);
        assert!(p.events_named("private").is_empty());
    }
    barrier(&mut peers[0]);
    assert!(peers[0].events_named("private").is_empty());

    // Replies go both ways; a user offline gets 410, a name no account has 401.
    check(&peers[1].run("msg alice got it"), 200, true);
    let m = peers[0].wait_event("private", |_| true, SECS_5);
    assert_eq!(
        (m["from"].as_str(), m["text"].as_str()),
        (Some("bob"), Some("got it"))
    );
    check(&peers[0].run("msg eve are you there"), 410, false);
    let r = peers[0].run("msg nobody hi");
    check(&r, 401, false);
    assert_eq!(r["message"], "no such user \"nobody\"", "{r}");
    // Each receiver got exactly the one broadcast.
    for p in &mut peers[1..] {
        barrier(p);
        assert_eq!(p.events_named("chat").len(), 1);
    }
}

// ---------------------------------------------------------------------------
// Join and leave notices
// ---------------------------------------------------------------------------

#[test]
fn join_and_leave_notices_carry_the_online_count() {
    let mut hub = Hub::start(&["--auth-rate", "0"]);
    let mut a = Peer::start(hub.addr(), &[]);
    let r = a.register_login("alice", "pw");
    assert_eq!(r["online"], 1, "{r}");
    let mut b = Peer::start(hub.addr(), &[]);
    let r = b.register_login("bob", "pw");
    assert_eq!(r["online"], 2, "{r}");
    let mut c = Peer::start(hub.addr(), &[]);
    let r = c.register_login("carol", "pw");
    assert_eq!(r["online"], 3, "{r}");

    a.wait_event("join", |e| e["user"] == "bob", SECS_5);
    a.wait_event("join", |e| e["user"] == "carol", SECS_5);
    b.wait_event("join", |e| e["user"] == "carol", SECS_5);

    // carol quits; bob logs out.
    let id = c.send("quit");
    check(&c.wait_result(id, SECS_10), 405, true);
    assert_eq!(c.expect_exit(SECS_10), 0);
    let l = a.wait_event("leave", |e| e["user"] == "carol", SECS_5);
    assert_eq!(l["online"], 2, "{l}");
    assert!(l["reason"].is_string(), "{l}");
    b.wait_event("leave", |e| e["user"] == "carol", SECS_5);
    check(&b.run("logout"), 405, true);
    let l = a.wait_event("leave", |e| e["user"] == "bob", SECS_5);
    assert_eq!(l["online"], 1, "{l}");
    assert_eq!(l["reason"], "logout", "{l}");
    hub.wait_event("leave", |e| e["user"] == "bob", SECS_5);

    // bob back in: a join with the new count; bob's login says 2.
    let r = b.login("bob", "pw");
    assert_eq!(r["online"], 2, "{r}");
    a.wait_event("join", |e| e["user"] == "bob", SECS_5);

    barrier(&mut a);
    barrier(&mut b);
    // Exactly these notices, in this order; nobody got one about themselves.
    assert_eq!(
        presence(&mut a, "join"),
        [pair("bob", 2), pair("carol", 3), pair("bob", 2)]
    );
    assert_eq!(
        presence(&mut a, "leave"),
        [pair("carol", 2), pair("bob", 1)]
    );
    assert_eq!(presence(&mut b, "join"), [pair("carol", 3)]);
    assert_eq!(presence(&mut b, "leave"), [pair("carol", 2)]);
    assert_eq!(presence(&mut c, "join"), []);
    assert_eq!(users_of(&a.run("users")), ["alice", "bob"]);
}

// ---------------------------------------------------------------------------
// History
// ---------------------------------------------------------------------------

#[test]
fn a_joining_user_gets_the_last_messages_as_history() {
    let hub = Hub::start(&["--auth-rate", "0", "--history", "3"]);
    let mut a = Peer::logged_in(hub.addr(), "alice");
    let mut b = Peer::logged_in(hub.addr(), "bob");
    for i in 1..=5 {
        let who = if i % 2 == 0 { &mut b } else { &mut a };
        check(&who.run(&format!("say message {i}")), 200, true);
    }
    b.wait_event("chat", |e| e["text"] == "message 5", SECS_5);

    let mut c = Peer::logged_in(hub.addr(), "carol");
    barrier(&mut c);
    let history = chats(&mut c, |e| e["history"] == true);
    assert_eq!(
        history,
        [
            ("alice".to_string(), "message 3".to_string()),
            ("bob".to_string(), "message 4".to_string()),
            ("alice".to_string(), "message 5".to_string()),
        ]
    );
    assert_eq!(c.events_named("chat").len(), 3, "nothing else replayed");
    // Live messages afterwards are not marked as history; nobody else gets a replay.
    check(&a.run("say live one"), 200, true);
    let e = c.wait_event("chat", |e| e["text"] == "live one", SECS_5);
    assert!(e["history"].is_null() || e["history"] == false, "{e}");
    barrier(&mut b);
    assert!(chats(&mut b, |e| e["history"] == true).is_empty());
}

// ---------------------------------------------------------------------------
// Order per sender under load
// ---------------------------------------------------------------------------

#[test]
fn every_recipient_sees_each_senders_messages_in_order() {
    const N: usize = 200;
    let hub = Hub::start(&["--auth-rate", "0", "--chat-rate", "0"]);
    let mut a = Peer::logged_in(hub.addr(), "alice");
    let mut b = Peer::logged_in(hub.addr(), "bob");
    let mut c = Peer::logged_in(hub.addr(), "carol");
    let mut d = Peer::logged_in(hub.addr(), "dave");

    // Both senders pipe their lines at once, interleaved.
    let mut ids = (Vec::new(), Vec::new());
    for i in 0..N {
        ids.0
            .push(a.send(&format!("say a {i:04} {}", "x".repeat(i % 50))));
        ids.1
            .push(b.send(&format!("say b {i:04} {}", "y".repeat(i % 70))));
    }
    for id in ids.0 {
        check(&a.wait_result(id, SECS_10), 200, true);
    }
    for id in ids.1 {
        check(&b.wait_result(id, SECS_10), 200, true);
    }
    let expect = |tag: &str| -> Vec<String> {
        (0..N)
            .map(|i| {
                let pad = if tag == "a" {
                    "x".repeat(i % 50)
                } else {
                    "y".repeat(i % 70)
                };
                format!("{tag} {i:04} {pad}")
            })
            .collect()
    };
    let (from_a, from_b) = (expect("a"), expect("b"));
    let last_a = from_a[N - 1].clone();
    let last_b = from_b[N - 1].clone();
    for (p, wants_a, wants_b) in [
        (&mut a, false, true),
        (&mut b, true, false),
        (&mut c, true, true),
        (&mut d, true, true),
    ] {
        if wants_a {
            p.wait_event("chat", |e| e["text"] == last_a.as_str(), SECS_10);
            let got: Vec<String> = chats(p, |e| e["from"] == "alice")
                .into_iter()
                .map(|(_, t)| t)
                .collect();
            assert_eq!(got, from_a, "{}: alice's messages out of order", p.label());
        }
        if wants_b {
            p.wait_event("chat", |e| e["text"] == last_b.as_str(), SECS_10);
            let got: Vec<String> = chats(p, |e| e["from"] == "bob")
                .into_iter()
                .map(|(_, t)| t)
                .collect();
            assert_eq!(got, from_b, "{}: bob's messages out of order", p.label());
        }
    }
    barrier(&mut a);
    barrier(&mut b);
    assert!(chats(&mut a, |e| e["from"] == "alice").is_empty());
    assert!(chats(&mut b, |e| e["from"] == "bob").is_empty());
}

// ---------------------------------------------------------------------------
// Slow consumers
// ---------------------------------------------------------------------------

#[test]
fn a_reader_that_does_not_read_is_dropped_and_memory_stays_bounded() {
    const MESSAGES: usize = 20_000;
    /// Messages the sender may be ahead of the slowest live receiver. This keeps the
    /// live receivers' queues well under --max-output, whatever the scheduling, while
    /// the sloth's queue fills (see the report on per-turn bursts in the hub).
    const WINDOW: usize = 24;
    const RSS_LIMIT: u64 = 64 << 20;
    let mut hub = Hub::start(&[
        "--auth-rate",
        "0",
        "--chat-rate",
        "0",
        "--max-output",
        "65536",
    ]);
    let mut a = Peer::logged_in(hub.addr(), "alice");
    let mut b = Peer::logged_in(hub.addr(), "bob");
    let mut c = Peer::logged_in(hub.addr(), "carol");
    // Logs in, then never reads again.
    let sloth = Raw::login_as(hub.addr(), "sloth", "pw", 1);
    for p in [&mut a, &mut b, &mut c] {
        p.wait_event("join", |e| e["user"] == "sloth", SECS_5);
    }
    let rss_start = rss_bytes(hub.pid()).expect("hub VmRSS");

    let text = |i: usize| format!("{i:05} {}", "z".repeat(1000));
    let mut rss_max = rss_start;
    // Per live receiver: a cursor into its output and the next message number expected.
    let mut progress = [(0usize, 0usize), (0usize, 0usize)];
    let receive_up_to =
        |b: &mut Peer, c: &mut Peer, progress: &mut [(usize, usize); 2], n: usize| {
            for (p, (cursor, next)) in [b, c].into_iter().zip(progress.iter_mut()) {
                while *next < n {
                    let e = p
                        .next_event(cursor, "chat", SECS_10)
                        .unwrap_or_else(|| p.fail(&format!("no chat #{next}")));
                    assert_eq!(e["from"], "alice", "{e:.80}");
                    let t = e["text"].as_str().expect("text");
                    assert!(
                        t.starts_with(&format!("{:05} ", *next)),
                        "{}: expected #{next}, got {t:.10}",
                        p.label()
                    );
                    assert_eq!(t.len(), 1006);
                    *next += 1;
                }
            }
        };
    for i in 0..MESSAGES {
        if i >= WINDOW && i % 8 == 0 {
            receive_up_to(&mut b, &mut c, &mut progress, i - WINDOW);
        }
        if i % 500 == 0 {
            rss_max = rss_max.max(rss_bytes(hub.pid()).expect("hub VmRSS"));
        }
        a.send(&format!("say {}", text(i)));
    }
    // Every live receiver got everything, in order.
    receive_up_to(&mut b, &mut c, &mut progress, MESSAGES);
    rss_max = rss_max.max(rss_bytes(hub.pid()).expect("hub VmRSS"));

    // The sloth was dropped as a slow consumer, and the others were told.
    let l = hub.wait_event("leave", |e| e["user"] == "sloth", SECS_5);
    assert_eq!(l["reason"], "slow consumer", "{l}");
    for p in [&mut a, &mut b, &mut c] {
        let l = p.wait_event("leave", |e| e["user"] == "sloth", SECS_5);
        assert_eq!(l["online"], 3, "{l}");
        assert_eq!(p.events_named("leave").len(), 1, "only the sloth left");
    }
    assert_eq!(users_of(&hub.run("users")), ["alice", "bob", "carol"]);
    eprintln!(
        "hub RSS {} KiB at start, at most {} KiB",
        rss_start >> 10,
        rss_max >> 10
    );
    assert!(rss_max < RSS_LIMIT, "hub RSS grew to {} KiB", rss_max >> 10);
    drop(sloth);
    // Every message was accepted.
    let last = a.lines_sent();
    check(&a.wait_result(last, SECS_10), 200, true);
    let says = a
        .results()
        .iter()
        .filter(|r| r["command"] == "say" && r["status"] == 200)
        .count();
    assert_eq!(says, MESSAGES);
}

// ---------------------------------------------------------------------------
// Flood limit
// ---------------------------------------------------------------------------

#[test]
fn flood_limit_refuses_the_excess_and_relays_only_what_it_accepts() {
    let hub = Hub::start(&["--auth-rate", "0", "--chat-rate", "5"]);
    let mut a = Peer::logged_in(hub.addr(), "alice");
    let mut b = Peer::logged_in(hub.addr(), "bob");
    let mut c = Peer::logged_in(hub.addr(), "carol");

    let ids: Vec<u64> = (0..30).map(|i| a.send(&format!("say burst {i}"))).collect();
    let mut accepted = Vec::new();
    let mut statuses = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        let r = a.wait_result(*id, SECS_10);
        let status = r["status"].as_u64().unwrap();
        statuses.push(status);
        match status {
            200 => {
                check(&r, 200, true);
                accepted.push(format!("burst {i}"));
            }
            429 => check(&r, 429, false),
            _ => panic!("unexpected {r}"),
        }
    }
    // A burst allowance (max(2 × rate, 5) = 10), then refusals.
    assert_eq!(statuses[..10], [200; 10], "{statuses:?}");
    assert!(statuses.contains(&429), "{statuses:?}");
    assert!(accepted.len() <= 20, "{statuses:?}");
    // Others receive exactly the accepted messages, in order.
    let last = accepted.last().unwrap().clone();
    for p in [&mut b, &mut c] {
        p.wait_event("chat", |e| e["text"] == last.as_str(), SECS_5);
        barrier(p);
        let got: Vec<String> = chats(p, |_| true).into_iter().map(|(_, t)| t).collect();
        assert_eq!(got, accepted, "{}", p.label());
    }
    // The limit is per user: bob can still talk.
    check(&b.run("say bob is fine"), 200, true);
    c.wait_event("chat", |e| e["text"] == "bob is fine", SECS_5);
}

// ---------------------------------------------------------------------------
// Bad text over a raw socket
// ---------------------------------------------------------------------------

/// A Say frame carrying `text` as raw bytes (possibly not UTF-8).
fn say_bytes(tag: u32, text: &[u8]) -> Vec<u8> {
    let mut p = vec![0x30];
    p.extend_from_slice(&tag.to_be_bytes());
    p.extend_from_slice(&(text.len() as u16).to_be_bytes());
    p.extend_from_slice(text);
    frame(&p)
}

#[test]
fn bad_text_is_refused_and_the_connection_goes_on() {
    let hub = Hub::start(&["--auth-rate", "0", "--chat-rate", "0"]);
    let mut b = Peer::logged_in(hub.addr(), "bob");
    let mut raw = Raw::login_as(hub.addr(), "rawuser", "pw", 1);
    let mut others: Vec<HubMsg> = Vec::new();

    // Invalid UTF-8 in a well-formed frame: 400 with the tag, and the connection goes on.
    for (tag, bytes) in [
        (21u32, &b"\xff\xfe bad"[..]),
        (22, &b"ok then \xc3"[..]),
        (23, &b"\xed\xa0\x80 surrogate"[..]),
    ] {
        raw.send(&say_bytes(tag, bytes)).unwrap();
        let r = raw.reply_to(tag, SECS_5, &mut others);
        assert_eq!(r.status, 400, "{bytes:?}: {r:?}");
        assert!(r.message.contains("UTF-8"), "{r:?}");
    }
    let r = raw.request(&ClientMsg::Echo { tag: 24 });
    assert_eq!(r.status, 200, "{r:?}");
    // A private message with invalid UTF-8 too.
    let mut p = vec![0x31];
    p.extend_from_slice(&25u32.to_be_bytes());
    p.extend_from_slice(&3u16.to_be_bytes());
    p.extend_from_slice(b"bob");
    p.extend_from_slice(&2u16.to_be_bytes());
    p.extend_from_slice(b"\xc0\xaf");
    raw.send(&frame(&p)).unwrap();
    assert_eq!(raw.reply_to(25, SECS_5, &mut others).status, 400);

    // Control characters (other than tab): 400; empty: 400.
    let say = |tag: u32, text: &str| ClientMsg::Say {
        tag,
        text: text.to_owned(),
    };
    for (tag, text) in [
        (30, "bell\u{7}"),
        (31, "new\nline"),
        (32, "esc\u{1b}[2J"),
        (33, "del\u{7f}"),
        (34, ""),
    ] {
        let r = raw.request(&say(tag, text));
        assert_eq!(r.status, 400, "{text:?}: {r:?}");
    }
    let r = raw.request(&ClientMsg::Msg {
        tag: 35,
        to: "bob".into(),
        text: "psst\r".into(),
    });
    assert_eq!(r.status, 400, "{r:?}");
    // Longer than 4096 bytes: 413 (counted in bytes, not characters).
    let r = raw.request(&say(40, &"x".repeat(4097)));
    assert_eq!(r.status, 413, "{r:?}");
    let r = raw.request(&say(41, &"é".repeat(2049)));
    assert_eq!(r.status, 413, "{r:?}");
    let r = raw.request(&ClientMsg::Msg {
        tag: 42,
        to: "bob".into(),
        text: "y".repeat(5000),
    });
    assert_eq!(r.status, 413, "{r:?}");

    // The limits themselves are fine: 4096 bytes, and a tab.
    let longest = "w".repeat(4096);
    assert_eq!(raw.request(&say(50, &longest)).status, 200);
    assert_eq!(raw.request(&say(51, "tab\there")).status, 200);
    // bob got exactly the two good messages.
    b.wait_event("chat", |e| e["text"] == "tab\there", SECS_5);
    barrier(&mut b);
    let got = chats(&mut b, |_| true);
    assert_eq!(
        got,
        [
            ("rawuser".to_string(), longest.clone()),
            ("rawuser".to_string(), "tab\there".to_string())
        ]
    );
    assert!(b.events_named("private").is_empty());
    // Nothing unexpected came to the raw session either (no chat of its own; a
    // batched Joins that names rawuser itself holds nothing new for it).
    assert!(
        others.iter().all(|m| match m {
            HubMsg::Ping { .. } => true,
            HubMsg::Joins { users, .. } => users.last().is_some_and(|u| u == "rawuser"),
            _ => false,
        }),
        "{others:?}"
    );
}

// ---------------------------------------------------------------------------
// Console: say, kick, ban
// ---------------------------------------------------------------------------

#[test]
fn console_announce_kick_and_ban() {
    let mut hub = Hub::start(&["--auth-rate", "0"]);
    let mut a = Peer::logged_in(hub.addr(), "alice");
    let mut b = Peer::logged_in(hub.addr(), "bob");
    let mut c = Peer::logged_in(hub.addr(), "carol");

    let r = hub.run("say the hub restarts at  noon");
    check(&r, 200, true);
    for p in [&mut a, &mut b, &mut c] {
        let e = p.wait_event("announce", |_| true, SECS_5);
        assert_eq!(e["text"], "the hub restarts at  noon", "{e}");
        assert!(p.events_named("chat").is_empty());
    }

    // kick: the kicked client is told; the others see a leave.
    check(&hub.run("kick alice"), 200, true);
    let k = a.wait_event("kicked", |_| true, SECS_5);
    assert!(k["reason"].is_string(), "{k}");
    for p in [&mut b, &mut c] {
        let l = p.wait_event("leave", |e| e["user"] == "alice", SECS_5);
        assert_eq!(l["online"], 2, "{l}");
        assert_eq!(l["reason"], "kicked", "{l}");
    }
    check(&a.run("say am I here"), 407, false);
    // Kicked alone, alice may come straight back.
    check(&a.run("login alice pw"), 200, true);
    b.wait_event("join", |e| e["user"] == "alice", SECS_5);

    // ban: told with 423, the others see a leave, and no automatic reconnect.
    check(&hub.run("ban bob 5"), 200, true);
    let k = b.wait_event("kicked", |_| true, SECS_5);
    assert_eq!(k["status"], 423, "{k}");
    assert!(k["reason"].as_str().unwrap().contains("banned"), "{k}");
    let l = c.wait_event("leave", |e| e["user"] == "bob", SECS_5);
    assert_eq!(l["online"], 2, "{l}");
    assert_eq!(l["reason"], "banned", "{l}");
    let bans = hub.run("bans");
    check(&bans, 200, true);
    assert_eq!(bans["bans"][0]["user"], "bob", "{bans}");
    let r = b.run("login bob pw");
    check(&r, 423, false);
    check(&b.run("users"), 407, false);
    assert!(b.events_named("disconnected").is_empty());
    assert!(b.events_named("reconnected").is_empty());
    // The others carry on; bob is not back.
    check(&c.run("say still here"), 200, true);
    a.wait_event("chat", |e| e["text"] == "still here", SECS_5);
    check(&b.run("users"), 407, false);
    assert!(
        b.events_named("chat").is_empty(),
        "a banned user gets no chat"
    );
    assert_eq!(users_of(&c.run("users")), ["alice", "carol"]);
    // unban: back in; a second unban says there is no ban.
    check(&hub.run("unban bob"), 200, true);
    let r = hub.run("unban bob");
    check(&r, 400, false);
    assert_eq!(r["message"], "bob is not banned", "{r}");
    check(&b.run("login bob pw"), 200, true);
    c.wait_event("join", |e| e["user"] == "bob", SECS_5);
}
