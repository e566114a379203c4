//! The link to the hub as the loop sees it: connect, read frames into the session,
//! failures, and the flush before each poll.

use super::Client;
use super::HubLink;
use super::MAX_HUB_FRAME;
use super::MAX_HUB_OUTPUT;
use super::READS_PER_TURN;
use crate::client::session::Session;
use crate::net::conn::Conn;
use crate::net::conn::ReadStatus;
use crate::net::tokens;
use crate::proto::message::HubMsg;
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
        let mut conn = Conn::connecting(stream, MAX_HUB_FRAME, MAX_HUB_OUTPUT);
        // The hello goes first, ahead of anything typed while connecting.
        let _ = conn.queue_bytes(&Session::hello());
        self.hub = Some(HubLink {
            conn,
            connected: false,
        });
        debug!("connecting to {}", self.hub_addr);
    }

    pub(super) fn hub_event(&mut self, writable: bool, now: Instant) {
        let Some(link) = self.hub.as_mut() else {
            return;
        };
        if !link.connected && writable {
            let stream = link.conn.stream();
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
            let stream = link.conn.stream();
            if let Ok(Some(e)) | Err(e) = stream.take_error() {
                return self.hub_failed(&e.to_string(), now);
            }
            return;
        }
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
            ReadStatus::BadFrame(e) => {
                self.hub_failed(&format!("bad frame from the hub: {e}"), now)
            }
            ReadStatus::Failed(e) => self.hub_failed(&e.to_string(), now),
        }
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
