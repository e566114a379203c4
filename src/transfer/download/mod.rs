//! Receiving one file from a holder into `<share>/<dest>.part`: check an existing
//! destination, hash a partial file to resume from, have the loop connect, send the
//! `Get`, check the answer, write and hash the bytes as they come, and rename into
//! place only when the size and BLAKE3 hash match.
//!
//! The decisions ([`resume_plan`], [`check_answer`], [`verdict`], in `plan.rs`) are
//! pure functions; [`Download`] strings them together and moves the bytes over any
//! [`Stream`], a bounded amount per turn: the local half (the existing file, the
//! partial file, the final rename) in `local.rs`, the holder's half (request, answer,
//! bytes) in `wire.rs`, and here the state they share.

mod local;
mod plan;
#[cfg(test)]
mod tests;
mod wire;

pub use plan::{check_answer, resume_plan, verdict, AnswerCheck, Plan};
pub use wire::connection_failure;

use super::hash::HashJob;
use super::stream::{Sink, Stream};
use crate::output::{Flow, Row};
use crate::proto::message::{Hash, Holder};
use crate::proto::status::Status;
use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The suffix of a partial file: `<dest>.part`.
pub const PART_SUFFIX: &str = ".part";

/// What to fetch, from whom, and where to put it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownloadSpec {
    /// The session's handle for this download.
    pub job: u64,
    /// The published name asked of the holder.
    pub name: String,
    /// The file name it is saved under in the share dir.
    pub dest: String,
    /// The holder, with the size and hash the hub announced for it.
    pub holder: Holder,
    /// Whether a partial file of `dest` was downloaded for this same hash (else it is
    /// started over).
    pub resume: bool,
}

/// What became of the partial file after a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartialFate {
    /// No partial file exists.
    None,
    /// Kept for a later resume, with this many bytes.
    Kept(u64),
    /// Deleted (its content failed verification).
    Deleted,
}

/// A download that ended well: the file is in place under its final name, verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    /// Where it is.
    pub path: PathBuf,
    /// Bytes received by this fetch (0 when the destination already matched).
    pub received: u64,
    /// Bytes taken from a partial file (resumed).
    pub resumed: u64,
    pub size: u64,
    pub hash: Hash,
    /// The destination already existed with this content: nothing was transferred.
    pub already: bool,
    /// Each holder that contributed verified bytes, with how many, the most first.
    /// (Boxed slices, to keep every step of a download small.)
    pub sources: Box<[(String, u64)]>,
    /// Holders dropped for data that failed verification.
    pub bad_sources: Box<[String]>,
}

/// How a download ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The file is in place under its final name, verified.
    Done(Delivered),
    /// It failed; the partial file is as `partial` says.
    Failed {
        status: Status,
        message: String,
        /// Report the holder to the hub (it served data that failed verification).
        report: bool,
        partial: PartialFate,
        /// The content the partial file belongs to (the holder's, if it re-announced).
        size: u64,
        hash: Hash,
    },
}

/// Everything a download's turn needs from the loop.
pub struct Ctx<'a> {
    pub share: &'a Path,
    pub share_dir: &'a File,
    /// Shared receive buffer.
    pub buf: &'a mut [u8],
    /// Bytes hashed per turn (existing and partial files).
    pub hash_slice: usize,
    /// Bytes received per turn.
    pub read_budget: usize,
}

/// What the loop must do next for a download.
#[derive(Debug)]
pub enum DlStep {
    /// Wait for readiness or a deadline.
    Wait,
    /// More to do at once (hashing, or the read budget ran out): run again next pass.
    Again,
    /// Connect to the holder at this address (without blocking) and hand the stream,
    /// or the failure, to [`Download::dialled`].
    Connect(SocketAddr),
    /// The stream handed over is the download's now: register it (READABLE |
    /// WRITABLE), then wait.
    Register,
    /// Finished.
    Done(Outcome),
}

/// A partial file being hashed before the download resumes after its bytes.
struct Partial {
    file: File,
    hasher: blake3::Hasher,
    /// Bytes hashed so far.
    done: u64,
    /// Bytes to hash.
    len: u64,
}

/// The request on its way to the holder, once the loop handed a stream over.
struct Handshake<S> {
    stream: S,
    hasher: blake3::Hasher,
    request: Vec<u8>,
    sent: usize,
    /// Whether the connection is known to be established.
    connected: bool,
}

enum State<S> {
    Start,
    CheckExisting(HashJob),
    Prepare,
    HashPartial(Partial),
    Connect {
        hasher: blake3::Hasher,
    },
    /// The loop is connecting: [`Download::dialled`] comes next.
    Dialling {
        hasher: blake3::Hasher,
        request: Vec<u8>,
    },
    Connecting(Handshake<S>),
    Answer {
        stream: S,
        hasher: blake3::Hasher,
        buf: Vec<u8>,
    },
    Receiving {
        stream: S,
        sink: Sink,
    },
    Finished,
}

/// One download, from the existing-file check to the rename.
pub struct Download<S> {
    spec: DownloadSpec,
    share: PathBuf,
    state: State<S>,
    size: u64,
    hash: Hash,
    /// Bytes of the partial file this run started from.
    offset: u64,
    /// Bytes in the partial file now (offset + received by this run).
    received: u64,
    restarted: bool,
    last_progress: Instant,
    receiving_since: Option<Instant>,
}

/// A handler's verdict: `None` means the state was set and the next one runs at once.
type Next = Option<DlStep>;

impl<S: Stream> Download<S> {
    /// A download about to start, into the share dir `share` (canonical).
    pub fn new(spec: DownloadSpec, share: &Path, now: Instant) -> Download<S> {
        Download {
            size: spec.holder.size,
            hash: spec.holder.hash,
            spec,
            share: share.to_path_buf(),
            state: State::Start,
            offset: 0,
            received: 0,
            restarted: false,
            last_progress: now,
            receiving_since: None,
        }
    }

    /// The session's handle.
    pub fn job(&self) -> u64 {
        self.spec.job
    }

    /// What is being fetched.
    pub fn spec(&self) -> &DownloadSpec {
        &self.spec
    }

    /// The stream, once there is one, for registration.
    pub fn stream_mut(&mut self) -> Option<&mut S> {
        match &mut self.state {
            State::Connecting(Handshake { stream, .. })
            | State::Answer { stream, .. }
            | State::Receiving { stream, .. } => Some(stream),
            _ => None,
        }
    }

    /// Bytes present and the size, while bytes are being received.
    pub fn progress(&self) -> Option<(u64, u64)> {
        matches!(self.state, State::Receiving { .. }).then_some((self.received, self.size))
    }

    /// The `transfers` row.
    pub fn row(&self, now: Instant) -> Row {
        let flow = Flow {
            bytes: self.received,
            size: self.size,
            moved: self.received - self.offset,
            since: self.receiving_since,
        };
        Row::new(
            "download",
            &self.spec.dest,
            &self.spec.holder.user,
            flow,
            now,
        )
    }

    fn part(&self) -> String {
        format!("{}{PART_SUFFIX}", self.spec.dest)
    }

    /// End with a failure; the partial file, if any, is kept.
    fn fail(&mut self, status: Status, message: impl Into<String>) -> DlStep {
        let partial = match std::fs::symlink_metadata(self.share.join(self.part())) {
            Ok(m) if m.is_file() => PartialFate::Kept(m.len()),
            _ => PartialFate::None,
        };
        self.finish_failed(status, message.into(), false, partial)
    }

    fn finish_failed(
        &mut self,
        status: Status,
        message: String,
        report: bool,
        partial: PartialFate,
    ) -> DlStep {
        self.state = State::Finished;
        let message = match partial {
            PartialFate::Kept(n) if n > 0 => {
                format!("{message}; the partial file ({n} bytes) is kept: fetch again to resume")
            }
            _ => message,
        };
        DlStep::Done(Outcome::Failed {
            status,
            message,
            report,
            partial,
            size: self.size,
            hash: self.hash,
        })
    }

    /// Why this download must end now, if it must: no progress for `stall`.
    pub fn expired(&mut self, now: Instant, stall: Duration) -> Option<Outcome> {
        let waiting = matches!(
            self.state,
            State::Connecting(_) | State::Answer { .. } | State::Receiving { .. }
        );
        if !waiting || now.saturating_duration_since(self.last_progress) < stall {
            return None;
        }
        let holder = self.spec.holder.user.clone();
        let secs = stall.as_secs_f64();
        let unreachable = matches!(
            self.state,
            State::Connecting(Handshake {
                connected: false,
                ..
            })
        );
        let step = if unreachable {
            self.fail(
                Status::PEER_UNREACHABLE,
                format!("{holder} is unreachable: no connection within {secs} s"),
            )
        } else {
            self.fail(
                Status::TIMEOUT,
                format!("the transfer from {holder} stalled: nothing for {secs} s"),
            )
        };
        match step {
            DlStep::Done(outcome) => Some(outcome),
            _ => None,
        }
    }

    /// Do what can be done now.
    pub fn turn(&mut self, ctx: &mut Ctx, now: Instant) -> DlStep {
        // What the stream holds itself (a TLS stream's records: the handshake's end,
        // the request) goes out on any wake-up, the WRITABLE one after a full socket
        // included.
        if let Some(stream) = self.stream_mut() {
            let _ = stream.flush();
        }
        loop {
            let next = match std::mem::replace(&mut self.state, State::Finished) {
                State::Start => self.start(ctx),
                State::CheckExisting(job) => self.check_existing(job, ctx),
                State::Prepare => self.prepare(ctx),
                State::HashPartial(partial) => self.hash_partial(partial, ctx),
                State::Connect { hasher } => self.connect(hasher),
                dialling @ State::Dialling { .. } => {
                    self.state = dialling;
                    Some(DlStep::Wait)
                }
                State::Connecting(handshake) => self.connecting(handshake, now),
                State::Answer {
                    stream,
                    hasher,
                    buf,
                } => self.answer(stream, hasher, buf, ctx, now),
                State::Receiving { stream, sink } => self.receive(stream, sink, ctx, now),
                State::Finished => return DlStep::Wait,
            };
            if let Some(step) = next {
                return step;
            }
        }
    }
}
