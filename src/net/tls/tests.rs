//! TLS streams over memory streams the test shuttles bytes between: handshakes a byte
//! at a time with `WouldBlock` at every step, bulk data both ways, early closes,
//! garbage and plaintext peers, refused keys, a fetcher without a certificate, resumed
//! sessions, the close notice, and a hub pinned on first use that changes its key.

use super::*;
use crate::proto::frame::framed;
use crate::proto::message::ClientMsg;
use crate::proto::types::{Role, VERSION};
use crate::transfer::stream::memory::{pattern, MemoryStream};
use crate::transfer::stream::Stream;
use crate::trust::{self, Identity, ServerKeyVerifier};

/// Two ends of a connection and the memory streams under them.
struct Pair {
    client: TlsStream<MemoryStream>,
    server: TlsStream<MemoryStream>,
    client_wire: MemoryStream,
    server_wire: MemoryStream,
}

/// How a test's client is set up.
struct Setup {
    server: Arc<ServerConfig>,
    server_identity: Identity,
    verifier: Arc<ServerKeyVerifier>,
    client_identity: Option<Identity>,
    client: Arc<ClientConfig>,
}

impl Setup {
    /// A hub and a client that accepts exactly its key.
    fn hub() -> Setup {
        let server_identity = Identity::generate().unwrap();
        let verifier =
            ServerKeyVerifier::exactly(&trust::provider(), server_identity.fingerprint());
        Setup {
            server: trust::hub_server_config(&server_identity).unwrap(),
            client: trust::client_config(verifier.clone(), None).unwrap(),
            verifier,
            server_identity,
            client_identity: None,
        }
    }

    /// The client accepts what `verifier` accepts.
    fn trusting(mut self, verifier: Arc<ServerKeyVerifier>) -> Setup {
        self.client =
            trust::client_config(verifier.clone(), self.client_identity.as_ref()).unwrap();
        self.verifier = verifier;
        self
    }

    /// A peer listener and a fetcher with (or without) an identity of its own.
    fn peer(fetcher_has_identity: bool) -> Setup {
        let mut setup = Setup::hub();
        setup.server = trust::peer_server_config(&setup.server_identity).unwrap();
        setup.client_identity = fetcher_has_identity.then(|| Identity::generate().unwrap());
        let verifier = setup.verifier.clone();
        setup.trusting(verifier)
    }

    /// A connection over fresh memory streams shaped by `wire`.
    fn connect(&self, wire: impl Fn(MemoryStream) -> MemoryStream) -> Pair {
        let config = self.client.clone();
        let (client_wire, server_wire) = (wire(MemoryStream::new()), wire(MemoryStream::new()));
        let name = ServerName::try_from("peerhub").unwrap();
        Pair {
            client: TlsStream::client(config, name, client_wire.clone()).unwrap(),
            server: TlsStream::server(self.server.clone(), server_wire.clone()).unwrap(),
            client_wire,
            server_wire,
        }
    }
}

impl Setup {
    /// The fingerprint of the server's key, as a connection names it.
    fn server_key(&self) -> Option<Fingerprint> {
        Some(self.server_identity.fingerprint())
    }

    /// A connection whose handshake ended well on both sides.
    fn connected(&self, wire: impl Fn(MemoryStream) -> MemoryStream) -> Pair {
        let mut pair = self.connect(wire);
        let (client, server) = pair.handshake();
        client.unwrap();
        server.unwrap();
        pair
    }
}

impl Pair {
    /// Hand each side what the other wrote.
    fn shuttle(&self) {
        self.server_wire.send(&self.client_wire.take_written());
        self.client_wire.send(&self.server_wire.take_written());
    }

    /// Drive both handshakes to their end, or the first error of each side.
    fn handshake(&mut self) -> (io::Result<()>, io::Result<()>) {
        let (mut client, mut server) = (Ok(false), Ok(false));
        for _ in 0..100_000 {
            match client {
                Ok(false) => client = self.client.handshake(),
                _ => drop(self.client.push()),
            }
            self.shuttle();
            match server {
                Ok(false) => server = self.server.handshake(),
                _ => drop(self.server.push()),
            }
            self.shuttle();
            let done = |side: &io::Result<bool>, tls: &TlsStream<MemoryStream>| match side {
                Ok(done) => *done && !tls.wants_write(),
                Err(_) => true,
            };
            if done(&client, &self.client) && done(&server, &self.server) {
                return (client.map(|_| ()), server.map(|_| ()));
            }
        }
        panic!("the handshake did not end");
    }
}

/// Everything `from` can read now, until `WouldBlock` or the end (`true` at the end).
fn read_now(from: &mut impl Read, into: &mut Vec<u8>) -> io::Result<bool> {
    let mut buf = [0; 4096];
    loop {
        match from.read(&mut buf) {
            Ok(0) => return Ok(true),
            Ok(n) => into.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
            Err(e) => return Err(e),
        }
    }
}

/// The failure inside an error, or a panic saying what it was instead.
fn failure(result: io::Result<impl fmt::Debug>) -> (TlsFailure, String) {
    let error = result.expect_err("expected a failure");
    let message = error.to_string();
    match error
        .into_inner()
        .and_then(|inner| inner.downcast::<TlsFailure>().ok())
    {
        Some(failure) => (*failure, message),
        None => panic!("not a TLS failure: {message}"),
    }
}

#[test]
fn a_handshake_a_byte_at_a_time_with_would_block_at_every_step_ends() {
    let setup = Setup::hub();
    let pair = setup.connected(|wire| wire.chunked(1).stuttering());
    assert!(!pair.client.is_handshaking() && !pair.server.is_handshaking());
    assert_eq!(pair.client.peer_fingerprint(), setup.server_key());
    assert_eq!(
        pair.server.peer_fingerprint(),
        None,
        "the hub asks for no certificate"
    );
    assert_eq!(
        setup.verifier.presented(),
        Some(setup.server_identity.fingerprint())
    );
}

#[test]
fn bulk_data_crosses_both_ways_in_short_stuttering_reads() {
    let setup = Setup::hub();
    let mut pair = setup.connect(|wire| wire.chunked(5000).stuttering());
    let up = pattern(1 << 20);
    let down: Vec<u8> = up.iter().rev().copied().collect();
    let (mut sent_up, mut sent_down) = (0, 0);
    let (mut got_up, mut got_down) = (Vec::new(), Vec::new());
    for _ in 0..100_000 {
        if got_up.len() == up.len() && got_down.len() == down.len() {
            break;
        }
        crate::transfer::stream::write_out(&mut pair.client, &up, &mut sent_up).unwrap();
        crate::transfer::stream::write_out(&mut pair.server, &down, &mut sent_down).unwrap();
        pair.shuttle();
        read_now(&mut pair.server, &mut got_up).unwrap();
        read_now(&mut pair.client, &mut got_down).unwrap();
        pair.client.push().unwrap();
        pair.server.push().unwrap();
        pair.shuttle();
    }
    assert!(got_up == up, "client to server");
    assert!(got_down == down, "server to client");
}

#[test]
fn what_is_written_during_the_handshake_is_sent_after_it() {
    let setup = Setup::hub();
    let mut pair = setup.connect(|wire| wire);
    assert_eq!(pair.client.write(b"hello").unwrap(), 5);
    pair.shuttle();
    assert!(pair.server_wire.unread() > 0);
    let (client, server) = pair.handshake();
    client.unwrap();
    server.unwrap();
    let mut got = Vec::new();
    read_now(&mut pair.server, &mut got).unwrap();
    assert_eq!(got, b"hello");
}

#[test]
fn a_close_mid_handshake_is_a_clear_error_on_both_sides() {
    let setup = Setup::hub();
    let mut pair = setup.connect(|wire| wire.chunked(40));
    assert!(!pair.client.handshake().unwrap());
    pair.shuttle();
    pair.server_wire.close();
    let (server, message) = failure(read_now(&mut pair.server, &mut Vec::new()));
    assert!(
        matches!(server, TlsFailure::ClosedInHandshake),
        "{server:?}"
    );
    assert!(message.contains("during the TLS handshake"), "{message}");

    let mut pair = setup.connect(|wire| wire);
    pair.client.handshake().unwrap();
    pair.client_wire.close();
    let (client, _) = failure(pair.client.handshake());
    assert!(
        matches!(client, TlsFailure::ClosedInHandshake),
        "{client:?}"
    );
}

#[test]
fn garbage_instead_of_a_client_hello_is_not_tls() {
    let setup = Setup::hub();
    let mut pair = setup.connect(|wire| wire.chunked(3));
    pair.server_wire.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    let (server, message) = failure(read_now(&mut pair.server, &mut Vec::new()));
    assert!(matches!(server, TlsFailure::NotTls { .. }), "{server:?}");
    assert!(
        message.contains("does not speak TLS") && message.contains("47 45 54"),
        "{message}"
    );
}

#[test]
fn a_plaintext_hello_to_a_tls_side_names_the_plaintext_flag() {
    let setup = Setup::hub();
    let mut pair = setup.connect(|wire| wire.chunked(1));
    let mut hello = Vec::new();
    ClientMsg::Hello {
        version: VERSION,
        role: Role::Session,
    }
    .encode(&mut hello);
    pair.server_wire.send(&hello);
    let (server, message) = failure(pair.server.handshake());
    assert!(matches!(server, TlsFailure::Plaintext), "{server:?}");
    assert!(message.contains("--insecure-plaintext"), "{message}");

    // A TLS client answered by a plaintext hub (its Bye to what it could not parse).
    let mut pair = setup.connect(|wire| wire);
    pair.client.handshake().unwrap();
    pair.client_wire.send(&framed(&[0x7f, 0, 0, 0, 0]));
    let (client, message) = failure(pair.client.handshake());
    assert!(matches!(client, TlsFailure::Plaintext), "{client:?}");
    assert!(message.contains("--insecure-plaintext"), "{message}");
}

#[test]
fn a_client_hello_is_told_from_a_plaintext_frame() {
    let setup = Setup::hub();
    let mut pair = setup.connect(|wire| wire);
    pair.client.handshake().unwrap();
    let client_hello = pair.client_wire.take_written();
    let mut hello = Vec::new();
    ClientMsg::Hello {
        version: VERSION,
        role: Role::Store,
    }
    .encode(&mut hello);
    assert!(looks_like_tls_client_hello(&client_hello));
    assert!(looks_like_tls_client_hello(&client_hello[..3]));
    assert!(!looks_like_plaintext_frame(&client_hello));
    assert!(looks_like_plaintext_frame(&hello));
    assert!(!looks_like_tls_client_hello(&hello));
    for other in [
        &b""[..],
        b"\x16",
        b"\x16\x03",
        b"GET /",
        b"\x16\x03\x01\x00\x05\x02",
        b"\x17\x03\x03",
    ] {
        assert!(!looks_like_tls_client_hello(other), "{other:?}");
    }
    assert!(
        looks_like_plaintext_frame(&[0]),
        "no TLS record begins with 0"
    );
    assert!(looks_like_plaintext_frame(&hello[..3]));
    assert!(
        !looks_like_plaintext_frame(&[0, 0, 0, 0, 1]),
        "a zero length is no frame"
    );
    assert!(!looks_like_plaintext_frame(b""));
}

#[test]
fn a_server_whose_key_is_not_the_pinned_one_gets_nothing() {
    let pinned = Identity::generate().unwrap().fingerprint();
    let setup = Setup::hub().trusting(ServerKeyVerifier::exactly(&trust::provider(), pinned));
    let mut pair = setup.connect(|wire| wire.chunked(100).stuttering());
    pair.client.write_all(b"password").unwrap();
    let (client, server) = pair.handshake();
    let got = setup.server_identity.fingerprint();
    let (client, message) = failure(client);
    assert!(
        matches!(client, TlsFailure::KeyRefused(KeyRefused { got: g }) if g == got),
        "{client:?}"
    );
    assert!(message.contains(&got.to_string()), "{message}");
    let (server, _) = failure(server);
    assert!(matches!(server, TlsFailure::RefusedByPeer(_)), "{server:?}");
    assert_eq!(setup.verifier.presented(), Some(got));
    let again = pair.client.read(&mut [0; 8]).unwrap_err();
    assert!(
        matches!(failure_of(&again), Some(TlsFailure::KeyRefused(_))),
        "{again}"
    );
    let again = pair.client.write(b"more").unwrap_err();
    assert!(
        matches!(failure_of(&again), Some(TlsFailure::KeyRefused(_))),
        "{again}"
    );
}

#[test]
fn a_fetcher_without_a_certificate_is_refused_by_a_peer_listener() {
    let setup = Setup::peer(false);
    let mut pair = setup.connect(|wire| wire.chunked(64));
    let (_client, server) = pair.handshake();
    let (server, message) = failure(server);
    assert!(
        matches!(server, TlsFailure::NoClientCertificate),
        "{server:?}"
    );
    assert!(message.contains("no client certificate"), "{message}");
}

#[test]
fn mutual_tls_shows_each_side_the_other_key() {
    let setup = Setup::peer(true);
    let pair = setup.connected(|wire| wire.chunked(1).stuttering());
    let fetcher = setup.client_identity.as_ref().map(Identity::fingerprint);
    assert_eq!(pair.server.peer_fingerprint(), fetcher);
    assert_eq!(pair.client.peer_fingerprint(), setup.server_key());
}

#[test]
fn a_second_connection_resumes_and_still_names_the_server_key() {
    let setup = Setup::hub();
    let mut first = setup.connected(|wire| wire);
    assert!(!first.client.resumed());
    // The server's session tickets arrive after the handshake.
    first.server.write_all(b"welcome").unwrap();
    first.shuttle();
    let mut got = Vec::new();
    read_now(&mut first.client, &mut got).unwrap();
    assert_eq!(got, b"welcome");

    let second = setup.connected(|wire| wire.chunked(9));
    assert!(second.client.resumed() && second.server.resumed());
    assert_eq!(second.client.peer_fingerprint(), setup.server_key());
}

#[test]
fn closing_the_sending_side_sends_a_close_notice_then_the_fin() {
    let setup = Setup::hub();
    let mut pair = setup.connected(|wire| wire);
    assert!(Stream::zero_copy_fd(&pair.client).is_none());
    assert!(Stream::established(&pair.client).unwrap());
    pair.client.write_all(b"last words").unwrap();
    Stream::close_write(&mut pair.client).unwrap();
    assert!(pair.client_wire.write_closed());
    pair.shuttle();
    let mut got = Vec::new();
    assert!(
        read_now(&mut pair.server, &mut got).unwrap(),
        "the notice ends the stream"
    );
    assert_eq!(got, b"last words");
}

#[test]
fn a_transport_cut_after_the_handshake_reads_as_the_end() {
    let setup = Setup::hub();
    let mut pair = setup.connected(|wire| wire);
    pair.server_wire.close();
    assert!(read_now(&mut pair.server, &mut Vec::new()).unwrap());
}

#[test]
fn interest_follows_what_waits_to_be_written() {
    let setup = Setup::hub();
    let mut pair = setup.connect(|wire| wire.window(10));
    assert!(pair.client.wants_write(), "the client hello waits");
    assert_eq!(
        pair.client.interest(),
        mio::Interest::READABLE | mio::Interest::WRITABLE
    );
    assert!(!pair.client.handshake().unwrap());
    assert!(
        pair.client.wants_write(),
        "a window of 10 bytes holds back the hello"
    );
    let pair = setup.connected(|wire| wire);
    assert_eq!(pair.client.interest(), mio::Interest::READABLE);
    assert!(pair.client.wants_read());
}

#[test]
fn a_peer_that_does_not_read_fills_a_bounded_buffer() {
    let setup = Setup::hub();
    let mut pair = setup.connected(|wire| wire.window(16 * 1024));
    let _ = pair.client_wire.take_written();
    let data = pattern(1 << 20);
    let mut written = 0;
    assert!(!crate::transfer::stream::write_out(&mut pair.client, &data, &mut written).unwrap());
    assert!(
        written > 0 && written <= BUFFER_LIMIT + 16 * 1024,
        "{written} bytes taken"
    );
    assert_eq!(
        pair.client.write(b"more").unwrap_err().kind(),
        io::ErrorKind::WouldBlock
    );
}

#[test]
fn a_hub_pinned_on_first_use_is_refused_when_its_key_changes() {
    let addr = "hub.lan:7000";
    let known = Arc::new(std::sync::Mutex::new(trust::KnownHubs::default()));
    let rule = known.clone();
    let verifier = ServerKeyVerifier::new(&trust::provider(), move |key| {
        rule.lock().unwrap().decide(addr, None, *key).accepted()
    });
    let first = Setup::hub().trusting(verifier.clone());
    let pair = first.connected(|wire| wire.chunked(50));
    let shown = pair.client.peer_fingerprint().unwrap();
    let decision = known.lock().unwrap().decide(addr, None, shown);
    assert_eq!(
        decision,
        trust::Trust::AcceptAndPin {
            pin: shown,
            replaced: None
        }
    );
    assert!(known.lock().unwrap().pin(addr, shown));

    // The same address now answers with another key (a fresh --data): refused before
    // anything is sent, and the loop can name both keys.
    let second = Setup::hub().trusting(verifier.clone());
    let mut pair = second.connect(|wire| wire);
    pair.client.write_all(b"login alice secret").unwrap();
    let (client, _server) = pair.handshake();
    let (failure, _) = failure(client);
    let got = second.server_identity.fingerprint();
    assert!(matches!(failure, TlsFailure::KeyRefused(KeyRefused { got: g }) if g == got));
    assert_eq!(verifier.presented(), Some(got));
    assert_eq!(
        known.lock().unwrap().decide(addr, None, got),
        trust::Trust::Mismatch {
            expected: shown,
            got
        }
    );
}

#[test]
fn a_bulk_read_takes_many_records_at_once_and_keeps_no_buffer_once_dry() {
    let setup = Setup::hub();
    let mut pair = setup.connected(|wire| wire);
    let data = pattern(600 * 1024);
    let mut sent = 0;
    while sent < data.len() {
        crate::transfer::stream::write_out(&mut pair.client, &data, &mut sent).unwrap();
        pair.client.push().unwrap();
    }
    pair.shuttle();
    let mut buf = vec![0; 2 * BULK_READ];
    let (mut got, mut reads) = (Vec::new(), 0);
    loop {
        match pair.server.read(&mut buf) {
            Ok(n) if n > 0 => {
                got.extend_from_slice(&buf[..n]);
                reads += 1;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(got == data);
    // About 38 records of 16 KiB: each read hands back a whole inbox of them (the
    // records of one 64 KiB transport read), not one.
    assert!(
        reads <= data.len().div_ceil(INBOX_BYTES) + 1,
        "{reads} reads"
    );
    assert!(
        pair.server.inbox.bytes.is_empty(),
        "the read-ahead buffer is freed once the transport runs dry"
    );
}

#[test]
fn a_bulk_read_sees_the_transport_end_without_a_close_notice() {
    let setup = Setup::hub();
    let mut pair = setup.connected(|wire| wire);
    let mut sent = 0;
    let data = pattern(40_000);
    crate::transfer::stream::write_out(&mut pair.client, &data, &mut sent).unwrap();
    pair.client.push().unwrap();
    pair.shuttle();
    // The holder was killed: its bytes arrived, then the connection ended.
    pair.server_wire.close();
    let mut buf = vec![0; BULK_READ];
    let mut got = Vec::new();
    let end = loop {
        match pair.server.read(&mut buf) {
            Ok(0) => break Ok(()),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => break Err(e),
        }
    };
    end.expect("the end of the stream, not WouldBlock");
    assert_eq!(got.len(), sent);
}
