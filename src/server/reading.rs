//! Reading a hub connection: frames cut and decoded into requests for the hub, one
//! small frame at a time before its login, within the connection's budget per turn.

use super::{Server, Slot, APPLY_EVERY, PRE_LOGIN_FRAME, READS_PER_TURN, SCRATCH_BYTES};
use crate::net::conn::ReadStatus;
use crate::net::tls;
use crate::proto::frame::FrameError;
use crate::proto::message::ClientMsg;
use crate::proto::status::Status;
use crate::server::hub::{ConnId, Request};
use std::time::Instant;

impl Server {
    pub(super) fn read(&mut self, key: ConnId, now: Instant) {
        if self.closing.iter().any(|(k, _)| *k == key)
            || self.draining.iter().any(|(k, _)| *k == key)
        {
            return;
        }
        if matches!(self.conns.get(key), Some(Slot::Hub(_))) && self.hub.knows(key) {
            // What waits from earlier turns goes first; while some still waits, its
            // further bytes stay in the socket and the ready list brings it back.
            self.hub.resume(key, now, &mut self.actions);
            if self.hub.room(key) == 0 {
                self.ready.push(key);
                return;
            }
        }
        let room = self.hub.room(key);
        let conn = match self.conns.get_mut(key) {
            // A connection the hub handed over waits, unread, for its upgrade.
            Some(Slot::Hub(conn)) if self.hub.knows(key) => conn,
            Some(Slot::Store(_)) => return self.store_turn(key, now),
            Some(Slot::Refused(_)) => return self.refused_turn(key),
            _ => return,
        };
        let mut msgs = std::mem::take(&mut self.inbox);
        // Before its login, read one small frame at a time: a store connection's next
        // bytes are not hub requests and go to it whole, and a login decides how big
        // the next frame may be.
        let pre_login = !self.hub.logged_in(key);
        let (max_frames, read_size) = if pre_login {
            conn.set_max_frame(PRE_LOGIN_FRAME.min(self.config.max_frame));
            (1, PRE_LOGIN_FRAME)
        } else {
            conn.set_max_frame(self.config.max_frame);
            (room, SCRATCH_BYTES)
        };
        let status = conn.read_frames_upto(
            &mut self.scratch[..read_size],
            READS_PER_TURN,
            max_frames,
            &mut msgs,
            decode_request,
        );
        if conn.stream().is_tls() {
            // The read may have moved the handshake on, whose answer the stream holds.
            self.dirty.push(key);
        }
        for req in msgs.drain(..) {
            self.hub.on_request(key, req, now, &mut self.actions);
        }
        self.inbox = msgs;
        if self.actions.len() >= APPLY_EVERY {
            // Replies wait as actions until queued: queue them now, under the output
            // budget, rather than hold a whole turn's replies to everyone in memory.
            self.apply_actions(now);
        }
        match status {
            ReadStatus::Drained if self.hub.room(key) == 0 => self.ready.push(key),
            ReadStatus::Drained => {}
            ReadStatus::Budget => self.ready.push(key),
            ReadStatus::Closed => self.closing.push((key, "connection closed".into())),
            ReadStatus::Failed(e) => {
                if let Some(failure) = tls::failure_of(&e) {
                    self.hub
                        .warn("TLS handshake", format_args!("connection {key}: {failure}"));
                }
                self.closing.push((key, format!("read error: {e}")))
            }
            ReadStatus::BadFrame(FrameError::TooLarge { len, .. })
                if pre_login && starts_tls(len) =>
            {
                // A TLS client on a plaintext hub: a plaintext answer is what it can name.
                let why = "this hub runs with --insecure-plaintext and the client speaks TLS: \
                           use that flag on both sides or on neither";
                self.hub
                    .on_bad_frame(key, Status::BAD_REQUEST, why, &mut self.actions)
            }
            ReadStatus::BadFrame(e) => {
                let status = match e {
                    FrameError::TooLarge { .. } => Status::TOO_LARGE,
                    FrameError::Empty => Status::BAD_REQUEST,
                };
                self.hub
                    .on_bad_frame(key, status, &e.to_string(), &mut self.actions)
            }
        }
    }
}

/// Whether a frame's length header, read as bytes, opens a TLS ClientHello.
fn starts_tls(len: usize) -> bool {
    u32::try_from(len).is_ok_and(|len| tls::looks_like_tls_client_hello(&len.to_be_bytes()))
}

/// Decode a request; on failure keep the tag (bytes 1..5) so the reply can name it.
fn decode_request(payload: &[u8]) -> Request {
    match ClientMsg::decode(payload) {
        Ok(msg) => Request::Msg(msg),
        Err(e) => Request::Bad {
            tag: payload
                .get(1..5)
                .and_then(|b| b.try_into().ok())
                .map(u32::from_be_bytes),
            why: e.to_string(),
        },
    }
}
