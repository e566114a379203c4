//! The web interface's limits are flags (issue #13): `--web-max-conns` turns the next
//! connection away at once while the others are served, `--web-head-timeout` answers a
//! silent connection with its 408 when its time is up, and `--web-max-message` closes
//! a WebSocket that sends a longer message while a second page carries on.

mod support;

use serde_json::Value;
use std::io::Read;
use std::net::TcpStream;
use std::time::{Duration, Instant};
use support::web::page_of;
use support::{Hub, Peer};
use tungstenite::client::IntoClientRequest;
use tungstenite::Message;

const SECS_10: Duration = Duration::from_secs(10);

/// Everything `stream` says until it closes (or 10 s pass).
fn rest_of(mut stream: TcpStream) -> String {
    stream.set_read_timeout(Some(SECS_10)).unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}

#[test]
fn connections_and_head_time_are_bounded_by_their_flags() {
    let hub = Hub::start(&[]);
    let args = ["--web", "--web-max-conns", "2", "--web-head-timeout", "2"];
    let mut peer = Peer::start(hub.addr(), &args);
    let (addr, _) = page_of(&peer.wait_event("web", |_| true, SECS_10));
    let silent: Vec<TcpStream> = (0..2).map(|_| TcpStream::connect(addr).unwrap()).collect();
    let opened = Instant::now();
    // The third is closed at once, unanswered, while the two are held.
    let third = rest_of(TcpStream::connect(addr).unwrap());
    assert_eq!(
        third, "",
        "the connection past --web-max-conns is closed unanswered"
    );
    assert!(
        opened.elapsed() < Duration::from_secs(2),
        "before the heads' time was up"
    );
    for stream in silent {
        let answer = rest_of(stream);
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer:?}");
    }
    assert!(
        opened.elapsed() >= Duration::from_secs(2),
        "not before --web-head-timeout"
    );
    peer.assert_clean();
}

#[test]
fn a_message_past_the_flag_s_limit_closes_that_page_only() {
    let hub = Hub::start(&[]);
    let mut peer = Peer::start(hub.addr(), &["--web", "--web-max-message", "1000"]);
    let (addr, token) = page_of(&peer.wait_event("web", |_| true, SECS_10));
    let open = || {
        let mut request = format!("ws://{addr}/ws").into_client_request().unwrap();
        let cookie = format!("peerhub_token_{}={token}", addr.port());
        request
            .headers_mut()
            .insert("Cookie", cookie.parse().unwrap());
        let origin = format!("http://{addr}").parse().unwrap();
        request.headers_mut().insert("Origin", origin);
        let stream = TcpStream::connect(addr).unwrap();
        stream.set_read_timeout(Some(SECS_10)).unwrap();
        tungstenite::client(request, stream).expect("socket").0
    };
    let (mut big, mut other) = (open(), open());
    big.send(Message::text(format!("say {}", "x".repeat(2000))))
        .unwrap();
    loop {
        match big.read() {
            Ok(Message::Close(_)) => break,
            Ok(_) => continue,
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                panic!("the page that sent a long message is still open after 10 s")
            }
            Err(_) => break,
        }
    }
    other.send(Message::text("help")).unwrap();
    let deadline = Instant::now() + SECS_10;
    loop {
        assert!(Instant::now() < deadline, "no answer for the other page");
        if let Message::Text(text) = other.read().expect("the other page carries on") {
            let v: Value = serde_json::from_str(text.as_str()).unwrap();
            if v["type"] == "result" && v["id"] == 1 {
                assert_eq!(v["ok"], true);
                break;
            }
        }
    }
    peer.assert_clean();
}
