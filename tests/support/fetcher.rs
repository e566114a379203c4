//! A fetcher that is no peerhub client, for the tests of the peer path: a hub session
//! ([`Raw`]) logged in with a key of its own, which looks names up for their holders'
//! keys and fetch tickets, and blocking TLS connections to a holder's peer listener
//! that show that key (or another, or none) and send any `Get`.

use super::{Raw, RUN_TIMEOUT};
use peerhub::proto::message::{Body, ClientMsg, Holder};
use peerhub::proto::peer::{self, Answer, Request};
use peerhub::trust::{self, Fingerprint, Identity, ServerKeyVerifier};
use rustls::pki_types::ServerName;
use rustls::{ClientConnection, StreamOwned};
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// A hub session with a key of its own.
pub struct Fetcher {
    pub raw: Raw,
    pub identity: Identity,
    pub user: String,
}

impl Fetcher {
    /// Register `user` (an existing account is fine) and log in, announcing a fresh
    /// key and a peer port nobody listens on.
    pub fn login(hub: SocketAddr, user: &str) -> Fetcher {
        let identity = Identity::generate().expect("a key pair");
        let raw = login_announcing(hub, user, 1, identity.fingerprint());
        Fetcher {
            raw,
            identity,
            user: user.to_owned(),
        }
    }

    /// The holders of `name`, with their keys and tickets (the lookup must find some).
    pub fn lookup(&mut self, name: &str) -> Vec<Holder> {
        let r = self.raw.request(&ClientMsg::Lookup {
            tag: 40,
            name: name.into(),
        });
        match r.body {
            Body::Holders(holders) if r.status == 204 => holders,
            _ => panic!("lookup {name}: {r:?}"),
        }
    }

    /// The holder `user` of `name`, as a lookup returns it now.
    pub fn holder(&mut self, name: &str, user: &str) -> Holder {
        self.lookup(name)
            .into_iter()
            .find(|h| h.user == user)
            .unwrap_or_else(|| panic!("{user} does not hold {name}"))
    }
}

/// A raw session of `user` logged in announcing `peer_port` and `key`.
pub fn login_announcing(hub: SocketAddr, user: &str, peer_port: u16, key: Fingerprint) -> Raw {
    login_on(Raw::connect_hello(hub), user, peer_port, key)
}

/// Register `user` on `raw` (hello said; an existing account is fine) and log in
/// announcing `peer_port` and `key`.
pub fn login_on(mut raw: Raw, user: &str, peer_port: u16, key: Fingerprint) -> Raw {
    let r = raw.request(&ClientMsg::Register {
        tag: 1,
        user: user.into(),
        password: "pw".into(),
    });
    assert!(matches!(r.status, 201 | 404), "register {user}: {r:?}");
    let r = raw.request(&ClientMsg::Login {
        tag: 2,
        user: user.into(),
        password: "pw".into(),
        peer_port,
        fingerprint: key,
    });
    assert_eq!(r.status, 200, "login {user}: {r:?}");
    raw
}

/// A TLS connection to a peer listener.
pub type PeerStream = StreamOwned<ClientConnection, TcpStream>;

/// Connect to the peer listener at `addr`, trusting exactly `holder_key` and showing
/// `shows`' certificate (or none), and finish the handshake (on this side: a listener
/// that refuses the certificate says so on the first read).
pub fn connect(
    addr: SocketAddr,
    holder_key: Fingerprint,
    shows: Option<&Identity>,
) -> io::Result<PeerStream> {
    let verifier = ServerKeyVerifier::exactly(&trust::provider(), holder_key);
    let config = trust::client_config(verifier, shows).map_err(io::Error::other)?;
    let socket = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    socket.set_read_timeout(Some(RUN_TIMEOUT))?;
    let name = ServerName::from(addr.ip());
    let tls = ClientConnection::new(config, name).map_err(io::Error::other)?;
    let mut stream = StreamOwned::new(tls, socket);
    while stream.conn.is_handshaking() {
        stream.conn.complete_io(&mut stream.sock)?;
    }
    Ok(stream)
}

/// The bytes of a `Get` for `name` from `offset` with `ticket`.
pub fn get_bytes(name: &str, offset: u64, ticket: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let request = Request {
        name: name.into(),
        offset,
        range_end: None,
        ticket: ticket.to_vec(),
    };
    peer::encode_request(&request, &mut out);
    out
}

/// Connect as `shows` to the holder whose client shows `holder_key`, ask for one
/// range (a `GetRange`) and say it is the last — a TLS close notice: a holder keeps a
/// connection that was served a range open for the next one until then — and take
/// the answer and the proof.
pub fn fetch_range_with(
    addr: SocketAddr,
    holder_key: Fingerprint,
    shows: &Identity,
    request: &[u8],
) -> io::Result<(Answer, Vec<u8>)> {
    let mut stream = connect(addr, holder_key, Some(shows))?;
    stream.write_all(request)?;
    stream.conn.send_close_notify();
    stream.flush()?;
    answer_of(&mut stream)
}

/// Send `request` on `stream`, then read until the holder closes: its answer and the
/// bytes after it, or the error the connection ended with.
pub fn ask(stream: &mut PeerStream, request: &[u8]) -> io::Result<(Answer, Vec<u8>)> {
    stream.write_all(request)?;
    stream.flush()?;
    answer_of(stream)
}

/// Read until the holder closes: its answer and the bytes after it, or the error the
/// connection ended with.
pub fn answer_of(stream: &mut PeerStream) -> io::Result<(Answer, Vec<u8>)> {
    let got = read_to_close(stream)?;
    let (used, answer) = peer::parse_answer(&got)
        .map_err(|e| io::Error::other(format!("not an answer: {e} ({got:?})")))?
        .ok_or_else(|| io::Error::other(format!("half an answer: {got:?}")))?;
    Ok((answer, got[used..].to_vec()))
}

/// Connect as `shows` to the holder whose client shows `holder_key`, ask, and take the
/// answer (connecting and the handshake must work).
pub fn fetch_with(
    addr: SocketAddr,
    holder_key: Fingerprint,
    shows: &Identity,
    request: &[u8],
) -> io::Result<(Answer, Vec<u8>)> {
    let mut stream = connect(addr, holder_key, Some(shows))?;
    ask(&mut stream, request)
}

/// Everything until the peer closes (a close without a close notice counts).
fn read_to_close(stream: &mut PeerStream) -> io::Result<Vec<u8>> {
    let mut got = Vec::new();
    let mut buf = [0u8; 64 * 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return Ok(got),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(got),
            Err(e) => return Err(e),
        }
    }
}
