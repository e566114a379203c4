//! One store transfer of the client, on its own connection to the hub's port: say hello
//! as a store connection, present the ticket the session obtained, then stream a tree
//! up ([`TreeSender`]) and wait for the hub's verdict, or receive one
//! ([`TreeReceiver`]) into a hidden directory next to the destination that is renamed
//! into place only once every file and the totals are verified. It runs over any
//! [`Stream`] the loop connects.

mod landing;
#[cfg(test)]
mod tests;

use super::scan::Prepared;
use super::session::StoreDone;
use crate::output::{Flow, Row};
use crate::proto::codec::StatusError;
use crate::proto::message::{ClientMsg, Role, StoreKind, StoreToken, VERSION};
use crate::proto::status::Status;
use crate::proto::store::{self, StoreMsg, MAX_STORE_FRAME};
use crate::transfer::stream::{read_some, write_out, Stream};
use crate::transfer::tree::{RxLimits, Step, Totals, TreeReceiver, TreeSender};
use landing::Landing;
use std::fs::File;
use std::io;
use std::time::{Duration, Instant};

/// What a store transfer does.
pub enum Work {
    /// Upload a walked tree.
    Up(Prepared),
    /// Download entry `name` (of this kind and totals) into `dest`.
    Down {
        dest: String,
        kind: StoreKind,
        totals: Totals,
    },
}

enum State {
    Connecting {
        connected: bool,
    },
    /// Waiting for the hub's `Status` after `Begin`.
    AwaitReady,
    Sending(Box<TreeSender>),
    /// Everything was sent: waiting for the hub's verdict.
    AwaitVerdict,
    Receiving(Box<TreeReceiver>),
    Finished,
}

/// What the loop must do next.
#[derive(Debug)]
pub enum StoreStep {
    Wait,
    Again,
    /// Finished, well or not (the partial directory of a failed download is gone).
    Done(Result<StoreDone, (Status, String)>),
}

/// One `upload` or `download` in flight, over a stream to the hub.
pub struct StoreTransfer<S> {
    job: u64,
    name: String,
    upload: bool,
    kind: StoreKind,
    stream: S,
    state: State,
    /// The hello and `Begin`, until written.
    out: Vec<u8>,
    out_pos: usize,
    /// Frame bytes read (the hub's statuses; the start of a download).
    inbuf: Vec<u8>,
    sender: Option<Box<TreeSender>>,
    root: Option<File>,
    landing: Option<Landing>,
    totals: Totals,
    since: Option<Instant>,
    last_progress: Instant,
    /// The tree digest of an upload, once everything was sent.
    digest: Option<crate::proto::message::Hash>,
}

fn lost(e: &io::Error) -> (Status, String) {
    (
        Status::UNAVAILABLE,
        format!("the connection to the hub's store failed: {e}"),
    )
}

impl<S: Stream> StoreTransfer<S> {
    /// Prepare `work` for `job`, then connect to the hub with `dial` (which begins a
    /// connection without blocking; register the stream READABLE | WRITABLE after this).
    pub fn start(
        job: u64,
        name: &str,
        token: StoreToken,
        work: Work,
        dial: impl FnOnce() -> io::Result<S>,
        now: Instant,
    ) -> Result<StoreTransfer<S>, (Status, String)> {
        let (sender, root, landing, kind, totals) = match work {
            Work::Up(prepared) => {
                let tree: Vec<_> = prepared.items.iter().map(|(i, _)| i.clone()).collect();
                let totals = Totals::of(&tree);
                let kind = tree.first().map_or(StoreKind::File, |i| i.kind);
                let sender = Box::new(TreeSender::new(prepared.items));
                (Some(sender), Some(prepared.root), None, kind, totals)
            }
            Work::Down { dest, kind, totals } => {
                let landing = Landing::prepare(&dest)?;
                (None, None, Some(landing), kind, totals)
            }
        };
        let stream = match dial() {
            Ok(s) => s,
            Err(e) => {
                if let Some(l) = &landing {
                    l.discard();
                }
                return Err(lost(&e));
            }
        };
        let mut out = Vec::new();
        ClientMsg::Hello {
            version: VERSION,
            role: Role::Store,
        }
        .encode(&mut out);
        store::encode(&StoreMsg::Begin { token }, &mut out);
        Ok(StoreTransfer {
            job,
            name: name.to_owned(),
            upload: sender.is_some(),
            kind,
            stream,
            state: State::Connecting { connected: false },
            out,
            out_pos: 0,
            inbuf: Vec::new(),
            sender,
            root,
            landing,
            totals,
            since: None,
            last_progress: now,
            digest: None,
        })
    }

    /// The session's handle.
    pub fn job(&self) -> u64 {
        self.job
    }

    /// The stream, for registration.
    pub fn stream_mut(&mut self) -> &mut S {
        &mut self.stream
    }

    /// Bytes moved and the total, while bytes move.
    pub fn progress(&self) -> Option<(u64, u64)> {
        match &self.state {
            State::Sending(tx) => Some((tx.moved(), self.totals.bytes)),
            State::Receiving(rx) => Some((rx.received(), self.totals.bytes)),
            _ => None,
        }
    }

    /// The entry's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The `transfers` row.
    pub fn row(&self, now: Instant) -> Row {
        let (moved, size) = self.progress().unwrap_or((0, self.totals.bytes));
        let direction = if self.upload { "upload" } else { "download" };
        let flow = Flow {
            bytes: moved,
            size,
            moved,
            since: self.since,
        };
        Row::new(direction, &self.name, "store", flow, now)
    }

    /// Stop now (cancel, signal): a download's partial directory is removed; the hub
    /// throws an unfinished upload away when the connection drops.
    pub fn abandon(&mut self) {
        self.state = State::Finished;
        if let Some(l) = self.landing.take() {
            l.discard();
        }
    }

    /// Why it must end now: nothing moved for `stall`.
    pub fn expired(&mut self, now: Instant, stall: Duration) -> Option<(Status, String)> {
        if matches!(self.state, State::Finished)
            || now.saturating_duration_since(self.last_progress) < stall
        {
            return None;
        }
        let failure = (
            Status::TIMEOUT,
            format!(
                "the store transfer of {} stalled: nothing moved for {} s",
                self.name,
                stall.as_secs_f64()
            ),
        );
        self.abandon();
        Some(failure)
    }

    fn fail(&mut self, failure: (Status, String)) -> StoreStep {
        self.abandon();
        StoreStep::Done(Err(failure))
    }

    /// Do what can be done now.
    pub fn turn(&mut self, buf: &mut [u8], budget: usize, now: Instant) -> StoreStep {
        loop {
            let next = match &mut self.state {
                State::Connecting { .. } => self.connecting(now),
                State::AwaitReady => self.await_status(buf, now),
                State::Sending(_) => self.sending(buf, budget, now),
                State::AwaitVerdict => self.await_status(buf, now),
                State::Receiving(_) => self.receiving(buf, budget, now),
                State::Finished => Some(StoreStep::Wait),
            };
            if let Some(step) = next {
                return step;
            }
        }
    }

    fn connecting(&mut self, now: Instant) -> Option<StoreStep> {
        let State::Connecting { connected } = &mut self.state else {
            return None;
        };
        if !*connected {
            match self.stream.established() {
                Ok(true) => *connected = true,
                Ok(false) => return Some(StoreStep::Wait),
                Err(e) => return Some(self.fail(lost(&e))),
            }
        }
        match write_out(&mut self.stream, &self.out, &mut self.out_pos) {
            Ok(true) => {}
            Ok(false) => return Some(StoreStep::Wait),
            Err(e) => return Some(self.fail(lost(&e))),
        }
        self.last_progress = now;
        self.state = State::AwaitReady;
        None
    }

    /// Read the hub's next `Status` (after `Begin`, or the verdict on an upload).
    fn await_status(&mut self, buf: &mut [u8], now: Instant) -> Option<StoreStep> {
        let (status, message) = match self.read_status(buf) {
            Ok(Some(found)) => found,
            Ok(None) => return Some(StoreStep::Wait),
            // Everything was sent and the connection broke before the verdict: the hub may
            // well have stored it. The session asks the hub before it reports.
            Err((Status::UNAVAILABLE, why)) if matches!(self.state, State::AwaitVerdict) => {
                self.state = State::Finished;
                return Some(StoreStep::Done(Ok(StoreDone {
                    name: self.name.clone(),
                    path: None,
                    files: self.totals.files,
                    bytes: self.totals.bytes,
                    message: String::new(),
                    digest: self.digest,
                    lost: Some(why),
                })));
            }
            Err(failure) => return Some(self.fail(failure)),
        };
        self.last_progress = now;
        if status != Status::OK {
            return Some(self.fail((status, format!("the hub refused: {message}"))));
        }
        match self.state {
            State::AwaitReady => {
                self.since = Some(now);
                if let Some(sender) = self.sender.take() {
                    self.state = State::Sending(sender);
                } else {
                    let limits = RxLimits {
                        root: self.name.clone(),
                        kind: self.kind,
                        max_file: 0,
                        max_bytes: self.totals.bytes,
                        max_items: u64::MAX,
                    };
                    let pending = std::mem::take(&mut self.inbuf);
                    self.state = State::Receiving(Box::new(TreeReceiver::new(limits, pending)));
                }
                None
            }
            _ => {
                self.state = State::Finished;
                Some(StoreStep::Done(Ok(StoreDone {
                    name: self.name.clone(),
                    path: None,
                    files: self.totals.files,
                    bytes: self.totals.bytes,
                    message,
                    digest: self.digest,
                    lost: None,
                })))
            }
        }
    }

    /// One `Status` frame from the hub, if a whole one is there.
    fn read_status(
        &mut self,
        buf: &mut [u8],
    ) -> Result<Option<(Status, String)>, (Status, String)> {
        loop {
            match store::parse(&self.inbuf) {
                Ok(Some((used, StoreMsg::Status { status, message }))) => {
                    self.inbuf.drain(..used.min(self.inbuf.len()));
                    return Ok(Some((status, message)));
                }
                Ok(Some(_)) => {
                    return Err((
                        Status::UNAVAILABLE,
                        "the hub sent something other than a status".into(),
                    ))
                }
                Ok(None) => {}
                Err(e) => return Err((Status::UNAVAILABLE, format!("the hub sent nonsense: {e}"))),
            }
            // Only a status is awaited here; a download's first bytes may follow it.
            let room = (4 + MAX_STORE_FRAME)
                .saturating_sub(self.inbuf.len())
                .max(1);
            let chunk = buf.get_mut(..room.min(buf.len())).unwrap_or_default();
            match read_some(&mut self.stream, chunk).map_err(|e| lost(&e))? {
                Some(0) => {
                    return Err((
                        Status::UNAVAILABLE,
                        "the hub closed the store connection".into(),
                    ))
                }
                Some(n) => self
                    .inbuf
                    .extend_from_slice(chunk.get(..n).unwrap_or_default()),
                None => return Ok(None),
            }
        }
    }

    fn sending(&mut self, buf: &mut [u8], budget: usize, now: Instant) -> Option<StoreStep> {
        // The hub may refuse mid-way (a limit, a bad hash): its status ends the upload.
        match self.read_status(buf) {
            Ok(Some((status, message))) => {
                let status = if status == Status::OK {
                    Status::UNAVAILABLE
                } else {
                    status
                };
                return Some(self.fail((status, format!("the hub refused: {message}"))));
            }
            Ok(None) => {}
            Err(failure) => return Some(self.fail(failure)),
        }
        let (State::Sending(tx), Some(root)) = (&mut self.state, self.root.as_ref()) else {
            return Some(self.fail((Status::INTERNAL, "nothing to send".into())));
        };
        let step =
            tx.turn_noting_progress(&mut self.stream, root, budget, &mut self.last_progress, now);
        match step {
            Ok(Step::Wait) => Some(StoreStep::Wait),
            Ok(Step::Again) => Some(StoreStep::Again),
            Ok(Step::Done) => {
                self.last_progress = now;
                self.digest = Some(tx.digest());
                self.state = State::AwaitVerdict;
                None
            }
            Err(StatusError { status, message }) => Some(self.fail((status, message))),
        }
    }

    fn receiving(&mut self, buf: &mut [u8], budget: usize, now: Instant) -> Option<StoreStep> {
        let (State::Receiving(rx), Some(landing)) = (&mut self.state, self.landing.as_ref()) else {
            return Some(self.fail((Status::INTERNAL, "nowhere to receive".into())));
        };
        let before = rx.received();
        let step = rx.turn(&mut self.stream, &landing.part_dir, buf, budget);
        if rx.received() != before {
            self.last_progress = now;
        }
        match step {
            Ok(Step::Wait) => return Some(StoreStep::Wait),
            Ok(Step::Again) => return Some(StoreStep::Again),
            Ok(Step::Done) => {}
            Err(StatusError { status, message }) => {
                let status = if status == Status::PEER_UNREACHABLE {
                    Status::UNAVAILABLE
                } else {
                    status
                };
                return Some(self.fail((status, format!("download of {}: {message}", self.name))));
            }
        }
        let got = rx.totals();
        if (got.files, got.bytes) != (self.totals.files, self.totals.bytes) {
            let text = format!(
                "integrity failure: {} files and {} bytes arrived, the store lists {} and {}",
                got.files, got.bytes, self.totals.files, self.totals.bytes
            );
            return Some(self.fail((Status::INTEGRITY, text)));
        }
        if let Err(failure) = landing.commit(&self.name) {
            return Some(self.fail(failure));
        }
        let path = landing.shown.clone();
        self.landing = None;
        self.state = State::Finished;
        Some(StoreStep::Done(Ok(StoreDone {
            name: self.name.clone(),
            path: Some(path),
            files: got.files,
            bytes: got.bytes,
            message: String::new(),
            digest: None,
            lost: None,
        })))
    }
}
