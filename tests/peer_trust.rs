//! End-to-end tests of the peer path's trust (issue 12): fetches run over mutual TLS,
//! each side knowing the other by the key the hub vouches for; a holder serves only a
//! fetcher with a valid fetch ticket from the hub (its signature, holder, file, expiry,
//! fetcher key, one connection), answering 407 otherwise; a listener whose key is not
//! the holder's is skipped for the next holder (421). Real processes over loopback.

mod support;

use peerhub::proto::ticket::FetchTicket;
use peerhub::trust::Identity;
use serde_json::Value;
use std::fs;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use support::fetcher::{self, fetch_with, get_bytes, Fetcher};
use support::{check, poll_until, random_bytes, Hub, Peer};

const SECS_20: Duration = Duration::from_secs(20);

/// `peer` publishes `data` as `name`.
fn publish(peer: &mut Peer, name: &str, data: &[u8]) {
    fs::write(peer.share_dir().join(name), data).unwrap();
    check(&peer.run(&format!("publish {name}")), 202, true);
}

fn fetch(peer: &mut Peer, line: &str) -> Value {
    let id = peer.send(line);
    peer.wait_result(id, SECS_20)
}

fn message(v: &Value) -> &str {
    v["message"].as_str().unwrap_or_default()
}

/// A 407 answer's message, for `request` sent over TLS by `as_who` to `holder` of `name`.
fn refused_407(
    addr: SocketAddr,
    holder: &peerhub::proto::message::Holder,
    as_who: &Fetcher,
    request: &[u8],
) -> String {
    let (answer, body) =
        fetch_with(addr, holder.fingerprint, &as_who.identity, request).expect("an answer");
    assert_eq!(answer.status.0, 407, "{answer:?}");
    assert!(body.is_empty());
    answer.message
}

#[test]
fn a_fetch_runs_over_tls_and_the_holder_names_whom_it_served() {
    let hub = Hub::start(&[]);
    let mut bob = Peer::logged_in(hub.addr(), "bob");
    let mut alice = Peer::logged_in(hub.addr(), "alice");
    let data = random_bytes(3 << 20, 21);
    publish(&mut bob, "big.bin", &data);
    let r = fetch(&mut alice, "fetch big.bin");
    check(&r, 205, true);
    assert_eq!(fs::read(alice.share_dir().join("big.bin")).unwrap(), data);
    let served = bob.wait_event("upload_served", |e| e["name"] == "big.bin", SECS_20);
    assert_eq!(served["to"], "alice", "{served}");
    // The hub's ticket key was usable on both sides.
    assert!(alice.events_named("hub_key_unusable").is_empty());
    assert!(bob.events_named("hub_key_unusable").is_empty());
    // Bob's listener speaks TLS only: a plaintext request gets no peerhub answer.
    let mut plain = TcpStream::connect(bob.addr()).unwrap();
    plain.set_read_timeout(Some(SECS_20)).unwrap();
    plain.write_all(&get_bytes("big.bin", 0, &[])).unwrap();
    let mut got = Vec::new();
    let _ = plain.read_to_end(&mut got);
    let answered = peerhub::proto::peer::parse_answer(&got);
    assert!(!matches!(answered, Ok(Some(_))), "{got:?}");
}

#[test]
fn a_holder_whose_listener_shows_another_key_is_skipped_for_the_next_holder() {
    let hub = Hub::start(&[]);
    let mut bob = Peer::logged_in(hub.addr(), "bob");
    let data = random_bytes(100_000, 22);
    // mallory announces bob's listener with a key of her own, and publishes first, so
    // she is the first holder offered.
    let key = Identity::generate().unwrap().fingerprint();
    let mut mallory = fetcher::login_announcing(hub.addr(), "mallory", bob.addr().port(), key);
    let r = mallory.request(&peerhub::proto::message::ClientMsg::Publish {
        tag: 3,
        file: peerhub::proto::message::FileInfo {
            name: "doc.bin".into(),
            size: data.len() as u64,
            hash: *blake3::hash(&data).as_bytes(),
        },
        replace: false,
    });
    assert_eq!(r.status, 202, "{r:?}");
    publish(&mut bob, "doc.bin", &data);
    let mut alice = Peer::logged_in(hub.addr(), "alice");
    let r = fetch(&mut alice, "fetch doc.bin");
    check(&r, 205, true);
    assert_eq!(r["from"], "bob", "{r}");
    assert_eq!(fs::read(alice.share_dir().join("doc.bin")).unwrap(), data);
    let skipped = alice.wait_event("holder_skipped", |_| true, SECS_20);
    assert_eq!(skipped["status"], 421, "{skipped}");
    assert_eq!(skipped["from"], "mallory");
    assert_eq!(skipped["next"], "bob");
    let want = format!(
        "that address is not mallory's client: {} shows the key",
        bob.addr()
    );
    assert!(message(&skipped).starts_with(&want), "{skipped}");
    // With nobody else to try, the fetch fails 421 with the same cause.
    let r = fetch(&mut alice, "fetch doc.bin --from mallory --as again.bin");
    check(&r, 421, false);
    assert!(
        message(&r).starts_with("that address is not mallory's client"),
        "{r}"
    );
    // mallory was not reported: nothing told the hub she served bad data.
    assert!(
        !hub.stderr_tail().contains("reports that"),
        "{}",
        hub.stderr_tail()
    );
}

#[test]
fn a_connection_without_a_ticket_is_refused_with_407_and_the_holder_carries_on() {
    let hub = Hub::start(&[]);
    let mut bob = Peer::logged_in(hub.addr(), "bob");
    publish(&mut bob, "a.txt", b"some text");
    let mut eve = Fetcher::login(hub.addr(), "eve");
    let holder = eve.holder("a.txt", "bob");
    let why = refused_407(bob.addr(), &holder, &eve, &get_bytes("a.txt", 0, &[]));
    assert_eq!(
        why,
        "no valid fetch ticket: none was sent; look the file up on the hub first"
    );
    let junk = refused_407(bob.addr(), &holder, &eve, &get_bytes("a.txt", 0, b"junk"));
    assert!(
        junk.starts_with("no valid fetch ticket: malformed fetch ticket"),
        "{junk}"
    );
    // The refusal names bob's client, and bob serves the next one with a ticket.
    let ok = get_bytes("a.txt", 0, &holder.ticket);
    let (answer, body) = fetch_with(bob.addr(), holder.fingerprint, &eve.identity, &ok).unwrap();
    assert_eq!((answer.status.0, answer.user.as_str()), (200, "bob"));
    assert_eq!(body, b"some text");
    let served = bob.wait_event("upload_served", |_| true, SECS_20);
    assert_eq!(served["to"], "eve", "{served}");
}

#[test]
fn tickets_for_another_fetcher_or_file_used_or_expired_are_refused() {
    let hub = Hub::start(&["--fetch-ticket-ttl", "1"]);
    let mut bob = Peer::logged_in(hub.addr(), "bob");
    publish(&mut bob, "a.txt", b"text a");
    publish(&mut bob, "b.txt", b"text b");
    let mut eve = Fetcher::login(hub.addr(), "eve");
    let frank = Fetcher::login(hub.addr(), "frank");
    let addr = bob.addr();

    // Eve's ticket, shown by frank's client.
    let holder = eve.holder("a.txt", "bob");
    let request = get_bytes("a.txt", 0, &holder.ticket);
    let why = refused_407(addr, &holder, &frank, &request);
    assert!(
        why.contains("issued to eve's client, and this connection shows another key"),
        "{why}"
    );
    // A ticket for a.txt, asking for b.txt.
    let other = get_bytes("b.txt", 0, &holder.ticket);
    let why = refused_407(addr, &holder, &eve, &other);
    assert!(why.contains("it is for \"a.txt\", not \"b.txt\""), "{why}");
    // Refused tickets were not used: eve's goes through once, then never again.
    let (answer, _) = fetch_with(addr, holder.fingerprint, &eve.identity, &request).unwrap();
    assert_eq!(answer.status.0, 200, "{answer:?}");
    let why = refused_407(addr, &holder, &eve, &request);
    assert!(why.contains("used already"), "{why}");

    // A fresh ticket, kept until the wall clock is past its expiry.
    let holder = eve.holder("a.txt", "bob");
    let expires = FetchTicket::decode(&holder.ticket).unwrap().body.expires;
    poll_until("the ticket to expire", Duration::from_secs(5), || {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).ok()?.as_secs();
        (now > expires).then_some(())
    });
    let late = get_bytes("a.txt", 0, &holder.ticket);
    let why = refused_407(addr, &holder, &eve, &late);
    assert!(why.contains("expired"), "{why}");
}

#[test]
fn a_peer_that_shows_no_certificate_is_refused_and_told_so() {
    let hub = Hub::start(&[]);
    let mut bob = Peer::logged_in(hub.addr(), "bob");
    publish(&mut bob, "a.txt", b"text");
    let mut eve = Fetcher::login(hub.addr(), "eve");
    let holder = eve.holder("a.txt", "bob");
    // TLS 1.3: the client's side of the handshake ends first; the listener's refusal
    // comes as an alert on the first read.
    let request = get_bytes("a.txt", 0, &holder.ticket);
    let refused = fetcher::connect(bob.addr(), holder.fingerprint, None)
        .and_then(|mut s| fetcher::ask(&mut s, &request));
    let err = refused.expect_err("no certificate, no answer");
    assert!(err.to_string().contains("CertificateRequired"), "{err}");
    // The ticket was not used up, and bob carries on.
    let (answer, body) =
        fetch_with(bob.addr(), holder.fingerprint, &eve.identity, &request).unwrap();
    assert_eq!(answer.status.0, 200, "{answer:?}");
    assert_eq!(body, b"text");
}

#[test]
fn plaintext_peers_fetch_in_the_clear_but_still_need_a_ticket() {
    let hub = Hub::start(&["--insecure-plaintext"]);
    let plain = ["--insecure-plaintext"];
    let mut bob = Peer::start(hub.addr(), &plain);
    bob.register_login("bob", "pw");
    let mut alice = Peer::start(hub.addr(), &plain);
    alice.register_login("alice", "pw");
    publish(&mut bob, "a.txt", b"clear text");
    let r = fetch(&mut alice, "fetch a.txt");
    check(&r, 205, true);
    assert_eq!(
        fs::read(alice.share_dir().join("a.txt")).unwrap(),
        b"clear text"
    );
    let mut s = TcpStream::connect(bob.addr()).unwrap();
    s.set_read_timeout(Some(SECS_20)).unwrap();
    s.write_all(&get_bytes("a.txt", 0, &[])).unwrap();
    let mut got = Vec::new();
    let _ = s.read_to_end(&mut got);
    let (_, answer) = peerhub::proto::peer::parse_answer(&got).unwrap().unwrap();
    assert_eq!(
        (answer.status.0, answer.user.as_str()),
        (407, "bob"),
        "{answer:?}"
    );
    assert!(answer.message.contains("none was sent"), "{answer:?}");
}
