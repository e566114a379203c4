//! End-to-end tests of over-long input (issue 10, item 2): a line whose text or names
//! are too long for the wire is refused by the client with its maximum, and the
//! connection (and every command queued beside it) carries on; the hub answers an
//! over-long field inside a valid frame with a status, never by dropping the session.

mod support;

use peerhub::proto::message::ClientMsg;
use std::time::Duration;
use support::{check, Hub, Peer, Raw};

const SECS_10: Duration = Duration::from_secs(10);

#[test]
fn over_long_lines_are_refused_locally_and_the_session_carries_on() {
    let hub = Hub::start(&["--auth-rate", "0"]);
    let mut alice = Peer::logged_in(hub.addr(), "alice");
    let mut bob = Peer::logged_in(hub.addr(), "bob");
    let huge = "x".repeat(70_000);
    let long_name = "n".repeat(300);
    let long_pw = "p".repeat(300);
    let lines: Vec<(String, u64)> = vec![
        (format!("say {huge}"), 413),
        (format!("msg bob {huge}"), 413),
        (format!("msg {long_name} hi"), 408),
        (format!("register {long_name} pw"), 408),
        (format!("login alice {long_pw}"), 413),
        (format!("passwd pw {long_pw}"), 413),
        (format!("publish f.bin {long_name}"), 408),
        (format!("unpublish {huge}"), 408),
        (format!("search {huge}"), 413),
        (format!("fetch {huge}"), 408),
        (format!("fetch f.bin --as {long_name}"), 408),
        (format!("upload . {long_name}"), 408),
        (format!("download {huge}"), 408),
    ];
    // Everything typed in one go, with honest commands in between and behind.
    let mut ids = Vec::new();
    for (line, status) in &lines {
        ids.push((alice.send(line), *status, line.len()));
        ids.push((alice.send("say still here"), 200, 0));
    }
    let users = alice.send("users");
    for (id, status, len) in ids {
        let r = alice.wait_result(id, SECS_10);
        let message = r["message"].as_str().unwrap_or_default();
        let shown: String = message.chars().take(300).collect();
        assert_eq!(r["status"], status, "line {id} ({len} bytes): {shown}");
        assert!(
            message.len() < 300,
            "line {id}: the text is not echoed: {shown}"
        );
        if status == 413 {
            assert!(message.contains("at most"), "names the maximum: {shown}");
        }
    }
    check(&alice.wait_result(users, SECS_10), 200, true);
    let chat = bob.wait_event("chat", |e| e["text"] == "still here", SECS_10);
    assert_eq!(chat["from"], "alice");
    assert!(alice.events_named("disconnected").is_empty());
    assert!(alice.events_named("reconnected").is_empty());
    // The longest chat line that fits is still sent.
    let max = "y".repeat(4096);
    check(&alice.run(&format!("say {max}")), 200, true);
    bob.wait_event("chat", |e| e["text"] == max.as_str(), SECS_10);
}

#[test]
fn the_hub_answers_over_long_fields_in_a_valid_frame_and_keeps_the_session() {
    let hub = Hub::start(&["--auth-rate", "0"]);
    let mut raw = Raw::login_as(hub.addr(), "alice", "pw", 4000);
    let r = raw.request(&ClientMsg::Say {
        tag: 3,
        text: "x".repeat(60_000),
    });
    assert_eq!(r.status, 413, "{r:?}");
    let r = raw.request(&ClientMsg::Msg {
        tag: 4,
        to: "alice".into(),
        text: "x".repeat(60_000),
    });
    assert_eq!(r.status, 413, "{r:?}");
    let r = raw.request(&ClientMsg::Search {
        tag: 5,
        text: "s".repeat(60_000),
    });
    assert_eq!(r.status, 413, "{r:?}");
    assert!(r.message.len() < 200, "{r:?}");
    let r = raw.request(&ClientMsg::Unpublish {
        tag: 6,
        name: "n".repeat(60_000),
    });
    assert_eq!(r.status, 408, "{r:?}");
    assert!(
        r.message.len() < 200,
        "the name is not echoed in full: {r:?}"
    );
    let r = raw.request(&ClientMsg::Echo { tag: 7 });
    assert_eq!(r.status, 200, "the session goes on: {r:?}");
}
