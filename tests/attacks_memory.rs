//! Adversarial end-to-end tests of the memory and slot bounds (issue 10, items 9, 10
//! and 13): the hub-wide output budget drops the biggest queues first, one address
//! cannot take every slot, an anonymous connection expires whatever it sends, silent
//! peer connections take no upload slot, and at the open-file limit a new connection
//! gets 503 instead of hanging. Limits are proven with small flags and bounded counts.

mod support;

use peerhub::proto::message::{ClientMsg, FileInfo};
use peerhub::trust::{Fingerprint, Identity};
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::fetcher;
use support::{check, decode_bye, kind, random_bytes, tagged, Hub, Peer, Raw, RawEnd, BIN};

const SECS_5: Duration = Duration::from_secs(5);
const SECS_20: Duration = Duration::from_secs(20);

/// The hub's `stats` figure of bytes queued toward all connections.
fn queued_output(hub: &mut Hub) -> u64 {
    let r = hub.run("stats");
    r["queued_output_bytes"]
        .as_u64()
        .unwrap_or_else(|| panic!("no queued_output_bytes in {r}"))
}

/// Publish 100 files with long names under `pub`, so that a search for "x" has a
/// reply of about 25 KB.
fn big_index(addr: SocketAddr) -> Raw {
    let mut publisher = Raw::login_as(addr, "pub", "pw", 4000);
    let files = (0..100u8)
        .map(|i| FileInfo {
            name: format!("x{i:03}-{}", "a".repeat(180)),
            size: 1000 + u64::from(i),
            hash: [i; 32],
        })
        .collect();
    let r = publisher.request(&ClientMsg::Sync {
        tag: 7,
        files,
        first: true,
    });
    assert_eq!(r.status, 200, "sync: {r:?}");
    publisher
}

/// Send `count` searches for "x" without reading anything.
fn searches(raw: &mut Raw, first_tag: u32, count: u32) {
    let mut bytes = Vec::new();
    for tag in first_tag..first_tag + count {
        ClientMsg::Search {
            tag,
            text: "x".into(),
        }
        .encode(&mut bytes);
    }
    raw.send(&bytes).expect("send searches");
}

#[test]
fn the_biggest_output_queues_are_dropped_first_while_an_honest_client_carries_on() {
    let limit: u64 = 6_000_000;
    let mut hub = Hub::start(&[
        "--max-output",
        "0",
        "--max-output-total",
        &limit.to_string(),
    ]);
    let _publisher = big_index(hub.addr());
    let mut honest = Peer::logged_in(hub.addr(), "honest");
    // `a` fills its queue to over half of the budget, in steps, and stops.
    let mut a = Raw::login_as(hub.addr(), "a", "pw", 4001);
    let mut tag = 10;
    let mut steps = 0;
    while queued_output(&mut hub) < limit * 6 / 10 {
        steps += 1;
        assert!(steps <= 300, "the queue of a non-reader never grew");
        searches(&mut a, tag, 20);
        tag += 20;
    }
    // `b` then floods far past the budget: when all queues together pass it, `a`'s
    // is the biggest and goes first; `b`'s goes when it alone passes it.
    let mut b = Raw::login_as(hub.addr(), "b", "pw", 4002);
    searches(&mut b, 10, 1200);
    let r = honest.run("search x");
    check(&r, 200, true);
    let first = hub.wait_event("leave", |e| e["user"] == "a" || e["user"] == "b", SECS_20);
    assert_eq!(first["user"], "a", "the biggest queue goes first: {first}");
    assert_eq!(
        first["reason"], "output over the hub-wide budget",
        "{first}"
    );
    let second = hub.wait_event("leave", |e| e["user"] == "b", SECS_20);
    assert_eq!(
        second["reason"], "output over the hub-wide budget",
        "{second}"
    );
    // The honest client was never dropped and is still served.
    let r = honest.run("search x");
    check(&r, 200, true);
    assert!(hub
        .events_named("leave")
        .iter()
        .all(|e| e["user"] != "honest" && e["user"] != "pub"));
    assert!(queued_output(&mut hub) <= limit);
}

#[test]
fn one_address_gets_at_most_max_per_address_connections() {
    let hub = Hub::start(&["--max-per-address", "3"]);
    let mut held: Vec<Raw> = (0..3).map(|_| Raw::connect_hello(hub.addr())).collect();
    let mut fourth = Raw::connect(hub.addr());
    let (status, reason) = fourth.expect_bye(SECS_5);
    assert_eq!(status, 503, "{reason}");
    assert!(reason.contains("address"), "{reason}");
    fourth.expect_closed(SECS_5);
    // A slot given back is a slot free again.
    let mut gone = held.pop().expect("a held connection");
    gone.shutdown_write();
    gone.expect_closed(SECS_5);
    let deadline = Instant::now() + SECS_5;
    loop {
        let mut again = Raw::connect(hub.addr());
        again.send(&support::hello_bytes()).expect("hello");
        match again.read_frame(SECS_5) {
            Ok(p) if p.first() == Some(&kind::WELCOME) => break,
            Ok(p) if decode_bye(&p).is_some_and(|(s, _)| s == 503) => {
                // The hub has not reaped the closed one yet: bounded retries.
                assert!(Instant::now() < deadline, "the freed slot never came back");
            }
            other => panic!("expected a welcome, got {other:?}"),
        }
    }
}

#[test]
fn an_anonymous_connection_that_keeps_echoing_expires_at_the_idle_timeout() {
    let hub = Hub::start(&["--idle-timeout", "1.5"]);
    let mut raw = Raw::connect_hello(hub.addr());
    let mut answered = 0;
    for tag in 1..=40u32 {
        // The attack: an echo every 0.2 s, far more often than the idle timeout.
        std::thread::sleep(Duration::from_millis(200));
        if raw.send(&tagged(kind::ECHO, tag)).is_err() {
            break;
        }
        match raw.read_frame(SECS_5) {
            Ok(p) if p.first() == Some(&kind::REPLY) => answered += 1,
            Ok(p) => {
                let (status, reason) = decode_bye(&p).unwrap_or_else(|| panic!("{p:?}"));
                assert_eq!(status, 504, "{reason}");
                assert!(answered >= 2, "echoes were answered until then");
                raw.expect_closed(SECS_5);
                return;
            }
            Err(RawEnd::Closed) => panic!("closed without a Bye"),
            Err(e) => panic!("{e:?}"),
        }
    }
    panic!("an anonymous connection echoing every 0.2 s outlived a 1.5 s idle timeout");
}

#[test]
fn an_anonymous_connection_cannot_hold_a_full_frame() {
    let hub = Hub::start(&[]);
    let mut raw = Raw::connect_hello(hub.addr());
    // A frame of 60,000 bytes announced before login: refused at its header.
    raw.send(&60_000u32.to_be_bytes()).expect("header");
    raw.send(&[kind::ECHO; 100]).expect("a first few bytes");
    let (status, reason) = raw.expect_bye(SECS_5);
    assert_eq!(status, 413, "{reason}");
    // Logged in, a frame of that size is read and answered, the connection kept.
    let mut user = Raw::login_as(hub.addr(), "u", "pw", 4000);
    user.send_msg(&ClientMsg::Search {
        tag: 77,
        text: "y".repeat(50_000),
    })
    .expect("big search");
    user.reply_to(77, SECS_5, &mut Vec::new());
    let r = user.request(&ClientMsg::Echo { tag: 78 });
    assert_eq!(r.status, 200, "{r:?}");
}

/// A connection to a peer listener that sends nothing.
fn silent(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).expect("connect to the peer listener");
    s.set_read_timeout(Some(SECS_5)).expect("timeout");
    s
}

#[test]
fn silent_peer_connections_take_no_upload_slot() {
    let hub = Hub::start(&[]);
    let mut holder = Peer::start(
        hub.addr(),
        &["--max-uploads", "2", "--peer-max-per-address", "0"],
    );
    holder.register_login("holder", "pw");
    let data = random_bytes(200_000, 3);
    std::fs::write(holder.share_dir().join("f.bin"), &data).unwrap();
    check(&holder.run("publish f.bin"), 202, true);
    let _silent: Vec<TcpStream> = (0..20).map(|_| silent(holder.addr())).collect();
    let mut fetcher = Peer::logged_in(hub.addr(), "fetcher");
    // Make sure the holder has accepted the silent ones before the fetch.
    let r = holder.run("transfers");
    check(&r, 200, true);
    let r = fetcher.run("fetch f.bin");
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(
        std::fs::read(fetcher.share_dir().join("f.bin")).unwrap(),
        data
    );
}

#[test]
fn the_peer_listener_limits_connections_per_address() {
    let hub = Hub::start(&[]);
    let mut holder = Peer::start(hub.addr(), &["--peer-max-per-address", "3"]);
    holder.register_login("holder", "pw");
    let key: Fingerprint = holder.run("status")["fingerprint"]
        .as_str()
        .and_then(|f| f.parse().ok())
        .expect("the holder's fingerprint");
    let _held: Vec<TcpStream> = (0..3).map(|_| silent(holder.addr())).collect();
    // The fourth is told why inside TLS, once the handshake is done.
    let me = Identity::generate().expect("a key pair");
    let mut fourth = fetcher::connect(holder.addr(), key, Some(&me)).expect("a handshake");
    let (answer, _) = fetcher::answer_of(&mut fourth).expect("an answer");
    assert_eq!(answer.status.0, 503, "{answer:?}");
    assert!(answer.message.contains("address"), "{answer:?}");
    assert_eq!(answer.user, "holder");
}

#[test]
fn at_the_open_file_limit_a_plaintext_hub_answers_503_not_a_hang() {
    at_the_open_file_limit(Wire::Plain);
}

#[test]
fn at_the_open_file_limit_a_tls_hub_closes_at_once_not_a_hang() {
    at_the_open_file_limit(Wire::Tls);
}

#[derive(Clone, Copy, PartialEq)]
enum Wire {
    Plain,
    Tls,
}

/// Connect until one is refused for lack of descriptors; none may hang. A plaintext
/// hub says 503 on the fresh socket; a TLS hub cannot spare the descriptor for a
/// handshake then, so it closes (the client reports "hub full or unreachable").
fn at_the_open_file_limit(wire: Wire) {
    let dir = support::TempDir::new("nofile");
    let mut cmd = Command::new(BIN);
    cmd.args(["server", "--listen", "127.0.0.1:0", "--json", "--data"])
        .arg(dir.subdir("data"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if wire == Wire::Plain {
        cmd.arg("--insecure-plaintext");
    }
    // SAFETY: setrlimit is async-signal-safe; nothing else runs in the child here.
    unsafe {
        cmd.pre_exec(|| {
            let lim = libc::rlimit {
                rlim_cur: 40,
                rlim_max: 40,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().expect("spawn the hub");
    let _stdin = child.stdin.take();
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    out.read_line(&mut line).expect("listening line");
    let event: serde_json::Value = serde_json::from_str(&line).expect("json");
    let addr: SocketAddr = event["addr"].as_str().expect("addr").parse().expect("addr");
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    let connect = || match wire {
        Wire::Plain => Raw::connect_plain(addr),
        Wire::Tls => Raw::connect(addr),
    };
    // Ok(true): welcome; Ok(false): refused as this wire refuses.
    let hello = |raw: &mut Raw| -> Result<bool, String> {
        let answer = raw
            .send(&support::hello_bytes())
            .map_err(|e| format!("{e}"))
            .map(|()| raw.read_frame(SECS_5));
        match (wire, answer) {
            (_, Ok(Ok(p))) if p.first() == Some(&kind::WELCOME) => Ok(true),
            (Wire::Plain, Ok(Ok(p))) => {
                let (status, reason) = decode_bye(&p).expect("a Bye");
                assert_eq!(status, 503, "{reason}");
                assert!(reason.contains("file descriptors"), "{reason}");
                Ok(false)
            }
            (Wire::Tls, Ok(Err(RawEnd::Closed))) | (Wire::Tls, Err(_)) => Ok(false),
            (_, other) => Err(format!("{other:?}")),
        }
    };
    let mut held = Vec::new();
    let mut refused = false;
    for _ in 0..60 {
        let mut raw = connect();
        match hello(&mut raw) {
            Ok(true) => held.push(raw),
            Ok(false) => {
                refused = true;
                break;
            }
            Err(e) => panic!("connection {} got no answer: {e}", held.len() + 1),
        }
    }
    assert!(refused, "the open-file limit was never reached");
    // Descriptors given back: new connections are welcome again (after the pause).
    held.truncate(held.len().saturating_sub(5));
    let deadline = Instant::now() + SECS_20;
    loop {
        let mut raw = connect();
        match hello(&mut raw) {
            Ok(true) => break,
            Ok(false) => assert!(Instant::now() < deadline, "never welcome again"),
            Err(e) => panic!("no answer after descriptors were freed: {e}"),
        }
    }
    let _ = child.kill();
    let _ = child.wait();
}
