//! One store connection on the hub's port, after its `Hello` of role store: a byte
//! mover. It reads the ticket (`Begin`) and reports it; then, as the hub orders (see
//! [`super::storelink`]), receives an upload into an invisible version directory
//! (writeback started as it comes), flushes it to the disk once verified, or streams a
//! download from a version directory — in bounded slices per loop turn (see
//! [`crate::transfer::tree`], [`super::storesync`]) — and reports what became of it.
//! The hub decides (tickets, limits, commit); the connection never calls it.

use super::store::disk::StoreDisk;
use super::store::Incoming;
use super::storelink::{StoreEvent, StoreOrder};
use super::storesync::{SyncSlice, Syncing};
use crate::proto::codec::StatusError;
use crate::proto::message::StoreKind;
use crate::proto::status::Status;
use crate::proto::store::{self, StoreMsg, MAX_STORE_FRAME};
use crate::transfer::stream::{read_some, write_out, write_status, Stream};
use crate::transfer::tree::{Step, TreeItem, TreeReceiver, TreeSender};
use log::{debug, info};
use std::fs::File;
use std::io;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// What the hub's store transfers are allowed.
#[derive(Debug, Clone, Copy)]
pub struct StoreConnConfig {
    /// Bytes moved per connection per loop turn.
    pub slice: usize,
    /// A connection that moves nothing for this long is closed (an upload is aborted).
    pub stall: Duration,
    /// Time to present the ticket after the hello.
    pub begin_timeout: Duration,
}

/// What a turn works with beside the connection: its limits, the shared receive
/// buffer, and the store's root directory (an upload's flush renames beneath it).
pub struct StoreEnv<'a> {
    pub config: &'a StoreConnConfig,
    pub scratch: &'a mut [u8],
    pub root: &'a File,
}

/// How long a closing connection may take to read its last status.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// What a connection holds while it waits for the hub's order.
enum Held {
    /// The bytes read after the ticket (the start of an upload).
    Rest(Vec<u8>),
    /// A received, verified upload.
    Verified {
        incoming: Incoming,
        items: Rc<[TreeItem]>,
    },
    /// Nothing (its upload failed or its flush ended).
    Nothing,
}

enum State {
    /// Waiting for `Begin`; `buf` holds the bytes read so far.
    AwaitBegin { buf: Vec<u8> },
    /// An event was reported; the hub's order comes next.
    AwaitOrder(Held),
    /// Receiving an upload.
    Upload {
        incoming: Incoming,
        rx: Box<TreeReceiver>,
    },
    /// A verified upload being flushed to the disk, a slice per turn.
    Syncing {
        incoming: Incoming,
        items: Rc<[TreeItem]>,
        syncing: Syncing,
    },
    /// Streaming a download from its version directory.
    Download { tx: Box<TreeSender>, dir: File },
    /// Writing the last status, then reading (and dropping) what the client still
    /// sends until it closes, so the status is not lost to a reset.
    Closing { reason: String, since: Instant },
}

/// What the loop must do after a turn.
#[derive(Debug, PartialEq, Eq)]
pub enum StoreStep {
    /// Wait for readiness, an order of the hub (or the sweep).
    Wait,
    /// More to do: run again on the next pass.
    Again,
    /// Close the connection now.
    Close(String),
}

/// A store connection over a stream (a socket on a running hub).
pub struct StoreConn<S> {
    stream: S,
    who: String,
    state: State,
    out: Vec<u8>,
    out_pos: usize,
    opened: Instant,
    last_progress: Instant,
    /// File bytes received (an upload's) and sent (a download's) so far.
    moved: (u64, u64),
}

/// An I/O error of the store's disk as the status a client is told.
fn disk_error(e: &io::Error) -> StatusError {
    StatusError::new(write_status(e), format!("store: {e}"))
}

impl<S: Stream> StoreConn<S> {
    /// Take over a connection from `who` that said hello as a store connection;
    /// `pending` are the bytes that followed the hello.
    pub fn new(stream: S, who: String, pending: Vec<u8>, now: Instant) -> StoreConn<S> {
        StoreConn {
            stream,
            who,
            state: State::AwaitBegin { buf: pending },
            out: Vec::new(),
            out_pos: 0,
            opened: now,
            last_progress: now,
            moved: (0, 0),
        }
    }

    /// File bytes received and sent so far (for the hub's `/metrics`).
    pub fn moved(&self) -> (u64, u64) {
        self.moved
    }

    /// The stream (the loop registers its socket).
    pub fn stream_mut(&mut self) -> &mut S {
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

    /// The connection is going away. An upload being flushed is verified and on its
    /// way to the disk: it is committed whatever happens here (only a shutdown closes a
    /// connection in this state), so the rest of its flush is done at once and
    /// reported. The hub learns of the close itself from the loop.
    pub fn close(self, root: &File, reason: &str) -> Option<StoreEvent> {
        debug!("store connection {}: {reason}", self.who);
        let State::Syncing {
            incoming,
            items,
            mut syncing,
        } = self.state
        else {
            return None;
        };
        let flushed = syncing.turn(root, &incoming, &items, SyncSlice::ALL);
        Some(StoreEvent::Flushed(
            flushed.map(|_| ()).map_err(|e| disk_error(&e)),
        ))
    }

    fn queue(&mut self, msg: &StoreMsg) {
        store::encode(msg, &mut self.out);
    }

    /// Write the status bytes; false if the socket is full.
    fn flush(&mut self) -> io::Result<bool> {
        if !write_out(&mut self.stream, &self.out, &mut self.out_pos)? {
            return Ok(false);
        }
        self.out.clear();
        self.out_pos = 0;
        Ok(true)
    }

    /// Queue the last status; the connection closes once it is written.
    fn finish(&mut self, status: Status, message: String, reason: String, now: Instant) {
        self.queue(&StoreMsg::Status { status, message });
        self.state = State::Closing { reason, since: now };
    }

    /// Answer an error, then close.
    fn refuse(&mut self, status: Status, message: String, now: Instant) {
        info!(
            "store connection {}: refused {} {message}",
            self.who, status.0
        );
        let reason = format!("{} {message}", status.0);
        self.finish(status, message, reason, now);
    }

    /// Carry out the hub's order; an event if it could not be (its directory could
    /// not be made or opened). The loop runs the connection next.
    pub fn order(
        &mut self,
        order: StoreOrder,
        disk: &StoreDisk,
        now: Instant,
    ) -> Option<StoreEvent> {
        let held = match std::mem::replace(&mut self.state, State::AwaitOrder(Held::Nothing)) {
            State::AwaitOrder(held) => held,
            other => {
                debug!("store connection {}: an order out of turn", self.who);
                self.state = other;
                return None;
            }
        };
        match (order, held) {
            (StoreOrder::Refuse(status, message), _) => self.refuse(status, message, now),
            (
                StoreOrder::Verdict {
                    name,
                    status,
                    message,
                },
                _,
            ) => {
                let reason = format!("upload of {name}: {} {message}", status.0);
                self.finish(status, message, reason, now);
            }
            (StoreOrder::Receive { version, limits }, Held::Rest(rest)) => {
                let incoming = match disk.begin(&version) {
                    Ok(incoming) => incoming,
                    Err(e) => return Some(StoreEvent::Failed(disk_error(&e))),
                };
                self.receive(incoming, TreeReceiver::new(limits, rest), now);
            }
            (StoreOrder::Flush, Held::Verified { incoming, items }) => {
                self.state = State::Syncing {
                    incoming,
                    items,
                    syncing: Syncing::new(),
                };
            }
            (
                StoreOrder::Send {
                    version,
                    kind,
                    items,
                },
                _,
            ) => {
                let dir = match disk.open_version(&version) {
                    Ok(dir) => dir,
                    Err(e) => {
                        let e = StatusError::new(Status::INTERNAL, format!("store: {e}"));
                        return Some(StoreEvent::Failed(e));
                    }
                };
                self.send(dir, kind, items, now);
            }
            (order, held) => {
                debug!("store connection {}: {order:?} does not fit", self.who);
                self.state = State::AwaitOrder(held);
            }
        }
        None
    }

    /// Say `ready`, then receive an upload into `incoming`, writing behind.
    fn receive(&mut self, incoming: Incoming, rx: TreeReceiver, now: Instant) {
        self.queue(&StoreMsg::Status {
            status: Status::OK,
            message: "ready".into(),
        });
        self.last_progress = now;
        self.state = State::Upload {
            incoming,
            rx: Box::new(rx.with_write_behind()),
        };
    }

    /// Say `ready: <kind>`, then send `items` from the version directory `dir`.
    fn send(&mut self, dir: File, kind: StoreKind, items: Vec<TreeItem>, now: Instant) {
        let items = items
            .into_iter()
            .map(|item| {
                let source = PathBuf::from(&item.path);
                (item, source)
            })
            .collect();
        let mut tx = TreeSender::new(items);
        tx.queue(&StoreMsg::Status {
            status: Status::OK,
            message: format!("ready: {}", kind.as_str()),
        });
        self.last_progress = now;
        self.state = State::Download {
            tx: Box::new(tx),
            dir,
        };
    }

    /// Do what can be done now; what happened goes to `events`.
    pub fn turn(
        &mut self,
        env: &mut StoreEnv,
        now: Instant,
        events: &mut Vec<StoreEvent>,
    ) -> StoreStep {
        loop {
            let next = match &mut self.state {
                State::AwaitBegin { .. } => self.await_begin(env.scratch, now, events),
                State::AwaitOrder(_) => Some(StoreStep::Wait),
                State::Upload { .. } => self.upload(env, now, events),
                State::Syncing { .. } => self.syncing(env.root, events),
                State::Download { .. } => self.download(env.config, now, events),
                State::Closing { .. } => self.closing(env.scratch),
            };
            if let Some(step) = next {
                return step;
            }
        }
    }

    fn await_begin(
        &mut self,
        scratch: &mut [u8],
        now: Instant,
        events: &mut Vec<StoreEvent>,
    ) -> Option<StoreStep> {
        let State::AwaitBegin { buf } = &mut self.state else {
            return None;
        };
        let parsed = loop {
            match store::parse(buf) {
                Ok(Some(found)) => break Ok(found),
                Ok(None) => {}
                Err(e) => break Err(e),
            }
            let room = (4 + MAX_STORE_FRAME).saturating_sub(buf.len()).max(1);
            let chunk = scratch.get_mut(..room.min(scratch.len()))?;
            match read_some(&mut self.stream, chunk) {
                Ok(Some(0)) => return Some(StoreStep::Close("closed before its ticket".into())),
                Ok(Some(n)) => buf.extend_from_slice(&chunk[..n]),
                Ok(None) => return Some(StoreStep::Wait),
                Err(e) => return Some(StoreStep::Close(e.to_string())),
            }
        };
        match parsed {
            Ok((used, StoreMsg::Begin { token })) => {
                let rest = buf.split_off(used.min(buf.len()));
                self.last_progress = now;
                self.state = State::AwaitOrder(Held::Rest(rest));
                events.push(StoreEvent::Ticket(token));
                Some(StoreStep::Wait)
            }
            Ok(_) => {
                let text = "expected a Begin with a ticket".to_owned();
                self.refuse(Status::BAD_REQUEST, text, now);
                None
            }
            Err(e) => {
                self.refuse(e.status, e.message, now);
                None
            }
        }
    }

    fn upload(
        &mut self,
        env: &mut StoreEnv,
        now: Instant,
        events: &mut Vec<StoreEvent>,
    ) -> Option<StoreStep> {
        if let Err(e) = self.flush() {
            return Some(StoreStep::Close(format!("write: {e}")));
        }
        let State::Upload { incoming, rx } = &mut self.state else {
            return None;
        };
        let before = rx.received();
        let step = rx.turn(
            &mut self.stream,
            &incoming.dir,
            env.scratch,
            env.config.slice,
        );
        if rx.received() != before {
            self.moved.0 += rx.received() - before;
            self.last_progress = now;
            events.push(StoreEvent::Progress(rx.received()));
        }
        let event = match step {
            Ok(Step::Wait) => return Some(StoreStep::Wait),
            Ok(Step::Again) => return Some(StoreStep::Again),
            Ok(Step::Done) => None,
            Err(e) => Some(StoreEvent::Failed(e)),
        };
        let State::Upload { incoming, mut rx } =
            std::mem::replace(&mut self.state, State::AwaitOrder(Held::Nothing))
        else {
            return None;
        };
        let event = event.unwrap_or_else(|| {
            let items: Rc<[TreeItem]> = rx.take_items().into();
            self.state = State::AwaitOrder(Held::Verified {
                incoming,
                items: Rc::clone(&items),
            });
            StoreEvent::Received(items)
        });
        events.push(event);
        Some(StoreStep::Wait)
    }

    /// An upload being flushed: one slice this turn; once it ended, report it.
    fn syncing(&mut self, root: &File, events: &mut Vec<StoreEvent>) -> Option<StoreStep> {
        let State::Syncing {
            incoming,
            items,
            syncing,
        } = &mut self.state
        else {
            return None;
        };
        let flushed = match syncing.turn(root, incoming, items, SyncSlice::TURN) {
            Ok(false) => return Some(StoreStep::Again),
            Ok(true) => Ok(()),
            Err(e) => Err(disk_error(&e)),
        };
        self.state = State::AwaitOrder(Held::Nothing);
        events.push(StoreEvent::Flushed(flushed));
        Some(StoreStep::Wait)
    }

    fn download(
        &mut self,
        config: &StoreConnConfig,
        now: Instant,
        events: &mut Vec<StoreEvent>,
    ) -> Option<StoreStep> {
        let State::Download { tx, dir } = &mut self.state else {
            return None;
        };
        let before = tx.moved();
        let step = tx.turn_noting_progress(
            &mut self.stream,
            dir,
            config.slice,
            &mut self.last_progress,
            now,
        );
        self.moved.1 += tx.moved() - before;
        match step {
            Ok(Step::Wait) => Some(StoreStep::Wait),
            Ok(Step::Again) => Some(StoreStep::Again),
            Ok(Step::Done) => {
                events.push(StoreEvent::Served);
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
        let _ = self.stream.close_write();
        for _ in 0..16 {
            match read_some(&mut self.stream, scratch) {
                Ok(Some(0)) | Err(_) => return Some(StoreStep::Close(reason)),
                Ok(Some(_)) => {}
                Ok(None) => return Some(StoreStep::Wait),
            }
        }
        Some(StoreStep::Again)
    }
}

#[cfg(test)]
mod tests;
