//! The peer listener: accepting peers (over TLS unless `--insecure-plaintext`), and
//! refusing those it cannot take with a 503 — inside TLS for a few at a time, closed
//! beyond that.

use super::Client;
use super::Transfer;
use crate::client::session::peer_refusal;
use crate::net::tokens;
use crate::proto::peer::{self, Answer};
use crate::proto::status::Status;
use crate::transfer::upload::Upload;
use log::{debug, warn};
use mio::net::TcpStream;
use mio::Interest;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::time::Instant;

/// Refused peers answered inside TLS at once (each a handshake and a connection slot
/// until its answer is out); those beyond are closed without an answer.
const MAX_TLS_REFUSALS: usize = 64;

/// Tell a peer that is not taken why (503), best effort on a fresh plaintext socket
/// whose buffer is empty (a small frame fits); dropping the stream then closes it.
fn refuse_plain(stream: &mut TcpStream, reason: &str, me: &str) {
    let mut frame = Vec::new();
    peer::encode_answer(&Answer::refuse(Status::UNAVAILABLE, reason, me), &mut frame);
    let _ = stream.write(&frame);
}

impl Client {
    pub(super) fn accept_peers(&mut self, now: Instant) {
        loop {
            match self.listener.accept() {
                Ok((stream, addr)) => self.accepted(stream, addr, now),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    warn!("peer listener: {e}");
                    return;
                }
            }
        }
    }

    /// A peer connected from `addr`: take it, or refuse it.
    fn accepted(&mut self, mut stream: TcpStream, addr: SocketAddr, now: Instant) {
        let (waiting, refusing) = self.peer_counts();
        let key = self.transfers.vacant_key();
        if key >= tokens::FIRST_RESERVED {
            return;
        }
        let peer_addrs = &mut self.peer_addrs;
        let refusal = peer_refusal(waiting, || peer_addrs.admit(key, addr.ip()));
        if let Some(reason) = refusal {
            debug!("peer {addr} refused: {reason}");
            if !self.peer_tls.is_tls() {
                return refuse_plain(&mut stream, reason, self.session.known_as());
            }
            if refusing >= MAX_TLS_REFUSALS {
                return;
            }
        }
        // A TLS handshake may have records to send when the socket is full.
        let interest = if self.peer_tls.is_tls() {
            Interest::READABLE | Interest::WRITABLE
        } else {
            Interest::READABLE
        };
        let registered = (self.poll.registry()).register(&mut stream, mio::Token(key), interest);
        let wire = match registered.and_then(|()| self.peer_tls.accepted(stream)) {
            Ok(wire) => wire,
            Err(e) => {
                warn!("peer {addr}: {e}");
                return self.peer_addrs.release(key);
            }
        };
        debug!("peer {addr} connected");
        let mut up = Upload::new(wire, addr, self.session.known_as(), now);
        if let Some(reason) = refusal {
            // Refused inside TLS: the answer goes once the handshake is done.
            up.refuse(Status::UNAVAILABLE, reason);
        }
        self.transfers.insert(Transfer::Up(up));
    }

    /// Peer connections that have not sent their request yet, and those being refused.
    fn peer_counts(&self) -> (usize, usize) {
        let uploads = || {
            self.transfers.iter().filter_map(|(_, t)| match t {
                Transfer::Up(up) => Some(up),
                _ => None,
            })
        };
        let waiting = uploads().filter(|up| up.awaiting_request()).count();
        (waiting, uploads().filter(|up| up.refusing()).count())
    }
}
