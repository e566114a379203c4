//! One store connection on the hub's port, after its `Hello` of role store: redeem the
//! ticket (`Begin`), then receive an upload into an invisible version directory
//! (writeback started as it comes), flush it to the disk and commit it once every file
//! is verified, or stream a download from the entry's version directory. Bytes move,
//! and files are flushed, in bounded slices per loop turn (see
//! [`crate::transfer::tree`], [`super::storesync`]); the [`Hub`] decides (tickets,
//! limits, commit, events).

use super::hub::{Action, Hub, Ticket, TicketOp};
use super::store::{Incoming, StoreEntry};
use super::storesync::{SyncSlice, Syncing};
use crate::proto::codec::StatusError;
use crate::proto::status::Status;
use crate::proto::store::{self, StoreMsg, MAX_STORE_FRAME};
use crate::transfer::files_and_size;
use crate::transfer::tree::{RxLimits, Step, TreeItem, TreeReceiver, TreeSender};
use log::{debug, info};
use mio::net::TcpStream;
use std::fs::File;
use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// What the hub's store transfers are allowed.
#[derive(Debug, Clone, Copy)]
pub struct StoreConnConfig {
    /// Largest single file (0: no limit), checked again as the bytes arrive.
    pub max_file: u64,
    /// Bytes moved per connection per loop turn.
    pub slice: usize,
    /// A connection that moves nothing for this long is closed (an upload is aborted).
    pub stall: Duration,
    /// Time to present the ticket after the hello.
    pub begin_timeout: Duration,
}

/// How long a closing connection may take to read its last status.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

enum State {
    /// Waiting for `Begin`; `buf` holds the bytes read so far.
    AwaitBegin { buf: Vec<u8> },
    /// Receiving an upload.
    Upload {
        ticket: Ticket,
        incoming: Incoming,
        rx: Box<TreeReceiver>,
    },
    /// A verified upload being flushed to the disk, a slice per turn, before it is
    /// committed.
    Syncing {
        ticket: Ticket,
        incoming: Incoming,
        items: Vec<TreeItem>,
        syncing: Syncing,
    },
    /// Streaming a download of `version` (kept on disk while it is read).
    Download {
        tx: Box<TreeSender>,
        dir: File,
        version: String,
    },
    /// Writing the last status, then reading (and dropping) what the client still
    /// sends until it closes, so the status is not lost to a reset.
    Closing { reason: String, since: Instant },
}

/// What the loop must do after a turn.
#[derive(Debug, PartialEq, Eq)]
pub enum StoreStep {
    /// Wait for readiness (or the sweep).
    Wait,
    /// More to do: run again on the next pass.
    Again,
    /// Close the connection now.
    Close(String),
}

/// A store connection.
pub struct StoreConn {
    stream: TcpStream,
    who: String,
    state: State,
    out: Vec<u8>,
    out_pos: usize,
    opened: Instant,
    last_progress: Instant,
}

impl StoreConn {
    /// Take over a connection that said hello as a store connection; `pending` are the
    /// bytes that followed the hello.
    pub fn new(stream: TcpStream, pending: Vec<u8>, now: Instant) -> StoreConn {
        let who = stream
            .peer_addr()
            .map_or_else(|_| "?".to_owned(), |a| a.to_string());
        StoreConn {
            stream,
            who,
            state: State::AwaitBegin { buf: pending },
            out: Vec::new(),
            out_pos: 0,
            opened: now,
            last_progress: now,
        }
    }

    /// The socket, for registration.
    pub fn stream_mut(&mut self) -> &mut TcpStream {
        &mut self.stream
    }

    /// Why it must close now, if it must.
    pub fn expired(&self, now: Instant, config: &StoreConnConfig) -> Option<String> {
        match &self.state {
            State::AwaitBegin { .. }
                if now.saturating_duration_since(self.opened) >= config.begin_timeout =>
            {
                Some("no ticket in time".to_owned())
            }
            State::Closing { reason, since }
                if now.saturating_duration_since(*since) >= CLOSE_GRACE =>
            {
                Some(reason.clone())
            }
            State::Upload { .. } | State::Download { .. }
                if now.saturating_duration_since(self.last_progress) >= config.stall =>
            {
                Some(format!("stalled: nothing moved for {:?}", config.stall))
            }
            _ => None,
        }
    }

    /// The connection is going away: an upload that did not commit is thrown away, a
    /// download lets go of its version.
    pub fn close(self, hub: &mut Hub, reason: &str) {
        debug!("store connection {}: {reason}", self.who);
        match self.state {
            State::Upload {
                ticket, incoming, ..
            } => hub.abort_upload(&ticket, incoming, reason),
            State::Download { version, .. } => hub.end_download(&version),
            // Verified and on its way to the disk: it is committed whatever happens here
            // (only a shutdown closes a connection in this state), the rest of the
            // flush done at once.
            State::Syncing {
                ticket,
                incoming,
                items,
                mut syncing,
            } => {
                let flushed = hub
                    .sync_upload(&incoming, &items, &mut syncing, SyncSlice::ALL)
                    .map(|_| ());
                let mut ignored = Vec::new();
                let _ = hub.commit_upload(&ticket, incoming, flushed, &items, &mut ignored);
            }
            State::AwaitBegin { .. } | State::Closing { .. } => {}
        }
        hub.store_conn_closed();
    }

    fn queue(&mut self, msg: &StoreMsg) {
        store::encode(msg, &mut self.out);
    }

    /// Write the status bytes; false if the socket is full.
    fn flush(&mut self) -> io::Result<bool> {
        while self.out_pos < self.out.len() {
            match self.stream.write(&self.out[self.out_pos..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.out_pos += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.out.clear();
        self.out_pos = 0;
        Ok(true)
    }

    /// Answer an error, then close.
    fn refuse(&mut self, status: Status, message: &str, now: Instant) {
        info!(
            "store connection {}: refused {} {message}",
            self.who, status.0
        );
        self.queue(&StoreMsg::Status {
            status,
            message: message.to_owned(),
        });
        self.state = State::Closing {
            reason: format!("{} {message}", status.0),
            since: now,
        };
    }

    /// Do what can be done now.
    pub fn turn(
        &mut self,
        hub: &mut Hub,
        config: &StoreConnConfig,
        scratch: &mut [u8],
        now: Instant,
        out: &mut Vec<Action>,
    ) -> StoreStep {
        loop {
            let next = match &mut self.state {
                State::AwaitBegin { .. } => self.await_begin(hub, config, scratch, now),
                State::Upload { .. } => self.upload(hub, config, scratch, now),
                State::Syncing { .. } => self.syncing(hub, now, out),
                State::Download { .. } => self.download(hub, config, now),
                State::Closing { .. } => self.closing(scratch),
            };
            if let Some(step) = next {
                return step;
            }
        }
    }

    fn await_begin(
        &mut self,
        hub: &mut Hub,
        config: &StoreConnConfig,
        scratch: &mut [u8],
        now: Instant,
    ) -> Option<StoreStep> {
        let State::AwaitBegin { buf } = &mut self.state else {
            return None;
        };
        debug!(
            "store connection {}: {} byte(s) before the ticket",
            self.who,
            buf.len()
        );
        let parsed = loop {
            match store::parse(buf) {
                Ok(Some(found)) => break Ok(found),
                Ok(None) => {}
                Err(e) => break Err(e),
            }
            let room = (4 + MAX_STORE_FRAME).saturating_sub(buf.len()).max(1);
            let chunk = scratch.get_mut(..room.min(scratch.len()))?;
            match self.stream.read(chunk) {
                Ok(0) => return Some(StoreStep::Close("closed before its ticket".into())),
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Some(StoreStep::Wait),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Some(StoreStep::Close(e.to_string())),
            }
        };
        let (used, token) = match parsed {
            Ok((used, StoreMsg::Begin { token })) => (used, token),
            Ok(_) => {
                self.refuse(Status::BAD_REQUEST, "expected a Begin with a ticket", now);
                return None;
            }
            Err(e) => {
                self.refuse(e.status, &e.message, now);
                return None;
            }
        };
        let rest = buf.split_off(used.min(buf.len()));
        self.last_progress = now;
        let ticket = match hub.redeem(&token, now) {
            Ok(t) => t,
            Err((status, text)) => {
                self.refuse(status, &text, now);
                return None;
            }
        };
        match ticket.op.clone() {
            TicketOp::Put {
                kind,
                files,
                dirs,
                bytes,
                ..
            } => {
                let incoming = match hub.begin_upload(&ticket) {
                    Ok(i) => i,
                    Err((status, text)) => {
                        self.refuse(status, &text, now);
                        return None;
                    }
                };
                info!(
                    "{} is uploading {} ({})",
                    ticket.user,
                    ticket.name,
                    files_and_size(files, bytes)
                );
                let limits = RxLimits {
                    root: ticket.name.clone(),
                    kind,
                    max_file: config.max_file,
                    max_bytes: bytes,
                    max_items: files.saturating_add(dirs),
                };
                self.queue(&StoreMsg::Status {
                    status: Status::OK,
                    message: "ready".into(),
                });
                self.state = State::Upload {
                    ticket,
                    incoming,
                    rx: Box::new(TreeReceiver::new(limits, rest).with_write_behind()),
                };
            }
            TicketOp::Get => {
                let outgoing = match hub.open_download(&ticket) {
                    Ok(o) => o,
                    Err((status, text)) => {
                        self.refuse(status, &text, now);
                        return None;
                    }
                };
                debug!("{} is downloading {}", ticket.user, ticket.name);
                let items = outgoing
                    .items
                    .into_iter()
                    .map(|item| {
                        let source = PathBuf::from(&item.path);
                        (item, source)
                    })
                    .collect();
                let mut tx = TreeSender::new(items);
                tx.queue(&StoreMsg::Status {
                    status: Status::OK,
                    message: format!("ready: {}", outgoing.entry.kind.as_str()),
                });
                self.state = State::Download {
                    tx: Box::new(tx),
                    dir: outgoing.dir,
                    version: outgoing.entry.version,
                };
            }
        }
        None
    }

    fn upload(
        &mut self,
        hub: &mut Hub,
        config: &StoreConnConfig,
        scratch: &mut [u8],
        now: Instant,
    ) -> Option<StoreStep> {
        if let Err(e) = self.flush() {
            return Some(StoreStep::Close(format!("write: {e}")));
        }
        let State::Upload {
            ticket,
            incoming,
            rx,
        } = &mut self.state
        else {
            return None;
        };
        let before = rx.received();
        let step = rx.turn(&mut self.stream, &incoming.dir, scratch, config.slice);
        if rx.received() != before {
            self.last_progress = now;
            hub.upload_progress(ticket, rx.received());
        }
        let failure = match step {
            Ok(Step::Wait) => return Some(StoreStep::Wait),
            Ok(Step::Again) => return Some(StoreStep::Again),
            Ok(Step::Done) => None,
            Err(e) => Some(e),
        };
        let State::Upload {
            ticket,
            incoming,
            mut rx,
        } = std::mem::replace(
            &mut self.state,
            State::Closing {
                reason: String::new(),
                since: now,
            },
        )
        else {
            return None;
        };
        match failure {
            Some(e) => {
                hub.abort_upload(&ticket, incoming, &e.message);
                self.verdict(&ticket, Err(e), now);
            }
            None => {
                let items = rx.take_items();
                match hub.end_upload(&ticket, incoming, &items) {
                    Ok(incoming) => {
                        self.state = State::Syncing {
                            ticket,
                            incoming,
                            items,
                            syncing: Syncing::new(),
                        };
                    }
                    Err((status, message)) => {
                        self.verdict(&ticket, Err(StatusError::new(status, message)), now)
                    }
                }
            }
        }
        None
    }

    /// An upload being flushed: one slice this turn; once the disk has all of it,
    /// commit it and answer.
    fn syncing(&mut self, hub: &mut Hub, now: Instant, out: &mut Vec<Action>) -> Option<StoreStep> {
        let State::Syncing {
            incoming,
            items,
            syncing,
            ..
        } = &mut self.state
        else {
            return None;
        };
        let flushed = match hub.sync_upload(incoming, items, syncing, SyncSlice::TURN) {
            Ok(false) => return Some(StoreStep::Again),
            Ok(true) => Ok(()),
            Err(e) => Err(e),
        };
        let State::Syncing {
            ticket,
            incoming,
            items,
            ..
        } = std::mem::replace(
            &mut self.state,
            State::Closing {
                reason: String::new(),
                since: now,
            },
        )
        else {
            return None;
        };
        let result = hub
            .commit_upload(&ticket, incoming, flushed, &items, out)
            .map_err(|(status, message)| StatusError::new(status, message));
        self.verdict(&ticket, result, now);
        None
    }

    /// Answer an upload's outcome, then close.
    fn verdict(&mut self, ticket: &Ticket, result: Result<StoreEntry, StatusError>, now: Instant) {
        let (status, message) = match result {
            Ok(entry) => (
                Status::OK,
                format!(
                    "stored {} ({})",
                    entry.name,
                    files_and_size(entry.files, entry.bytes)
                ),
            ),
            Err(e) => (e.status, e.message),
        };
        self.queue(&StoreMsg::Status {
            status,
            message: message.clone(),
        });
        self.state = State::Closing {
            reason: format!("upload of {}: {} {message}", ticket.name, status.0),
            since: now,
        };
    }

    fn download(
        &mut self,
        hub: &mut Hub,
        config: &StoreConnConfig,
        now: Instant,
    ) -> Option<StoreStep> {
        let State::Download { tx, dir, version } = &mut self.state else {
            return None;
        };
        let before = tx.moved();
        let step = tx.turn(&mut self.stream, dir, config.slice);
        if tx.moved() != before {
            self.last_progress = now;
        }
        match step {
            Ok(Step::Wait) => Some(StoreStep::Wait),
            Ok(Step::Again) => Some(StoreStep::Again),
            Ok(Step::Done) => {
                hub.end_download(version);
                self.state = State::Closing {
                    reason: "download served".into(),
                    since: now,
                };
                None
            }
            // Raw bytes may be in flight: no status can be framed now; closing says it.
            Err(e) => Some(StoreStep::Close(format!("download failed: {e}"))),
        }
    }

    fn closing(&mut self, scratch: &mut [u8]) -> Option<StoreStep> {
        let State::Closing { reason, .. } = &self.state else {
            return None;
        };
        let reason = reason.clone();
        match self.flush() {
            Ok(true) => {}
            Ok(false) => return Some(StoreStep::Wait),
            Err(e) => return Some(StoreStep::Close(format!("{reason} (write: {e})"))),
        }
        let _ = self.stream.shutdown(Shutdown::Write);
        for _ in 0..16 {
            match self.stream.read(scratch) {
                Ok(0) => return Some(StoreStep::Close(reason)),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Some(StoreStep::Wait),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Some(StoreStep::Close(reason)),
            }
        }
        Some(StoreStep::Again)
    }
}
