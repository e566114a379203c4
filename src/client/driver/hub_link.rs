//! The link to the hub as the loop sees it: connect, read frames into the session,
//! failures, and the flush before each poll.

use super::Client;
use super::HubLink;
use super::MAX_HUB_FRAME;
use super::MAX_HUB_OUTPUT;
use super::READS_PER_TURN;
use crate::client::session::{Action, Session};
use crate::net::conn::Conn;
use crate::net::conn::ReadStatus;
use crate::net::tls::{self, TlsFailure, TlsStream};
use crate::net::tokens;
use crate::net::wire::Wire;
use crate::proto::frame::FrameError;
use crate::proto::message::HubMsg;
use crate::trust::Fingerprint;
use log::debug;
use log::warn;
use mio::net::TcpStream;
use mio::Interest;
use std::io;
use std::time::Instant;

impl Client {
    pub(super) fn connect(&mut self, now: Instant) {
        if let Some(mut old) = self.hub.take() {
            let _ = self.poll.registry().deregister(old.conn.stream_mut());
        }
        let mut stream = match TcpStream::connect(self.hub_addr) {
            Ok(s) => s,
            Err(e) => {
                let reason = format!("connect to {}: {e}", self.hub_addr);
                return self
                    .session
                    .on_connect_failed(&reason, now, &mut self.actions);
            }
        };
        if let Err(e) = self.poll.registry().register(
            &mut stream,
            tokens::HUB,
            Interest::READABLE | Interest::WRITABLE,
        ) {
            return self.session.on_connect_failed(
                &format!("register: {e}"),
                now,
                &mut self.actions,
            );
        }
        let wire = match &self.hub_trust {
            None => Wire::Plain(stream),
            Some(trust) => match TlsStream::client(trust.config(), trust.server_name(), stream) {
                Ok(tls) => Wire::tls(tls),
                Err(e) => {
                    let reason = format!("TLS: {e}");
                    return self
                        .session
                        .on_connect_failed(&reason, now, &mut self.actions);
                }
            },
        };
        let judged = !wire.is_tls();
        // Until a TLS handshake shows the hub's key, no key is known for this link.
        self.session.on_link_key(None);
        let mut conn = Conn::connecting(wire, MAX_HUB_FRAME, MAX_HUB_OUTPUT);
        // The hello goes first, ahead of anything typed while connecting (over TLS it
        // leaves only once the hub's key is trusted).
        let _ = conn.queue_bytes(&Session::hello());
        self.hub = Some(HubLink {
            conn,
            connected: false,
            judged,
            key: None,
        });
        debug!("connecting to {}", self.hub_addr);
    }

    pub(super) fn hub_event(&mut self, writable: bool, now: Instant) {
        let Some(link) = self.hub.as_mut() else {
            return;
        };
        if !link.connected && writable {
            let stream = link.conn.stream().socket();
            match (stream.take_error(), stream.peer_addr()) {
                (Ok(None), Ok(_)) => {
                    link.connected = true;
                    debug!("connected to the hub; waiting for its welcome");
                }
                (Ok(Some(e)), _) | (Err(e), _) => return self.hub_failed(&e.to_string(), now),
                (Ok(None), Err(e)) if e.kind() == io::ErrorKind::NotConnected => return,
                (Ok(None), Err(e)) => return self.hub_failed(&e.to_string(), now),
            }
        }
        if !link.connected {
            // A readable edge before the connect finished: the connect failed.
            let stream = link.conn.stream().socket();
            if let Ok(Some(e)) | Err(e) = stream.take_error() {
                return self.hub_failed(&e.to_string(), now);
            }
            return;
        }
        if !link.judged {
            match link.conn.stream_mut().handshake() {
                Ok(false) => return,
                Ok(true) => {
                    link.judged = true;
                    let presented = link.conn.stream().peer_fingerprint();
                    link.key = presented;
                    if !self.judge_hub_key(presented, now) {
                        return;
                    }
                    // The Welcome's ticket key must be this one.
                    self.session.on_link_key(presented);
                }
                Err(e) => return self.hub_wire_failed(&e, now),
            }
        }
        let Some(link) = self.hub.as_mut() else {
            return;
        };
        let mut msgs = Vec::new();
        let status =
            link.conn
                .read_frames(&mut self.scratch, READS_PER_TURN, &mut msgs, HubMsg::decode);
        for msg in msgs {
            match msg {
                Ok(msg) => self.session.on_message(msg, now, &mut self.actions),
                Err(e) => warn!("bad message from the hub: {e}"),
            }
        }
        match status {
            ReadStatus::Drained => {}
            // Edge-triggered: bytes left unread raise no new event, so come back.
            ReadStatus::Budget => self.hub_ready = true,
            ReadStatus::Closed => self.hub_failed("the hub closed the connection", now),
            ReadStatus::BadFrame(FrameError::TooLarge { len, .. }) if starts_tls_record(len) => {
                self.hub_failed(
                    "the hub speaks TLS and this client runs with --insecure-plaintext: \
                     use that flag on both sides or on neither",
                    now,
                )
            }
            ReadStatus::BadFrame(e) => {
                self.hub_failed(&format!("bad frame from the hub: {e}"), now)
            }
            ReadStatus::Failed(e) => self.hub_wire_failed(&e, now),
        }
    }

    /// The TLS handshake showed the hub's key (`None`: a session resumed under a key
    /// already judged): pin it or refuse it. False when the client gives up on the hub.
    fn judge_hub_key(&mut self, presented: Option<Fingerprint>, now: Instant) -> bool {
        let (Some(trust), Some(presented)) = (&self.hub_trust, presented) else {
            return true;
        };
        let outcome = match trust.judge(presented) {
            Ok(outcome) => outcome,
            Err(e) => {
                // A pin that cannot be written would be asked again next time: say so.
                warn!("could not record the hub's key: {e}");
                return true;
            }
        };
        if let Some(event) = outcome.event {
            self.actions.push(Action::Event(event));
        }
        if outcome.refuse {
            self.refuse_hub(now);
            return false;
        }
        true
    }

    /// The hub link failed in its transport: a key our verifier refused is judged (the
    /// client exits 1, having sent nothing); anything else is a lost link, named.
    fn hub_wire_failed(&mut self, error: &io::Error, now: Instant) {
        match tls::failure_of(error) {
            Some(TlsFailure::KeyRefused(refused)) => {
                let got = refused.got;
                if self.judge_hub_key(Some(got), now) {
                    self.hub_failed(&error.to_string(), now);
                }
            }
            Some(TlsFailure::ClosedInHandshake) => self.hub_failed(
                "hub full or unreachable: it closed the connection during the TLS handshake",
                now,
            ),
            Some(failure) => {
                let reason = failure.to_string();
                self.hub_failed(&reason, now)
            }
            None => self.hub_failed(&error.to_string(), now),
        }
    }

    /// Give up on a hub whose key is not trusted: drop the link, exit 1.
    fn refuse_hub(&mut self, _now: Instant) {
        if let Some(mut old) = self.hub.take() {
            let _ = self.poll.registry().deregister(old.conn.stream_mut());
        }
        self.actions.push(Action::Exit(1));
    }

    pub(super) fn hub_failed(&mut self, reason: &str, now: Instant) {
        // A connect that failed names the address it tried.
        let reason = match &self.hub {
            Some(link) if !link.connected => format!("connect to {}: {reason}", self.hub_addr),
            _ => reason.to_owned(),
        };
        let reason = reason.as_str();
        if let Some(mut old) = self.hub.take() {
            let _ = self.poll.registry().deregister(old.conn.stream_mut());
        }
        if self.session.reconnecting() {
            self.session
                .on_connect_failed(reason, now, &mut self.actions);
        } else {
            self.session.on_lost(reason, now, &mut self.actions);
        }
    }

    pub(super) fn flush_hub(&mut self) {
        let Some(link) = self.hub.as_mut() else {
            return;
        };
        if !link.connected {
            return;
        }
        let result = link
            .conn
            .flush()
            .and_then(|_| link.conn.sync_interest(self.poll.registry(), tokens::HUB));
        if let Err(e) = result {
            self.hub_failed(&format!("write to the hub: {e}"), Instant::now());
        }
    }
}

/// Whether a frame's length header, read as bytes, opens a TLS record (a TLS hub's
/// answer, or its alert, to a plaintext client).
fn starts_tls_record(len: usize) -> bool {
    u32::try_from(len).is_ok_and(|len| matches!(len.to_be_bytes(), [0x14..=0x18, 0x03, ..]))
}
