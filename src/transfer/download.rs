//! Receiving one file from a holder into `<share>/<dest>.part`: check an existing
//! destination, hash a partial file to resume from, connect, send the `Get`, check the
//! answer, write and hash the bytes as they come, and rename into place only when the
//! size and BLAKE3 hash match.
//!
//! The decisions ([`resume_plan`], [`check_answer`], [`verdict`]) are pure functions;
//! [`Download`] strings them together and moves the bytes, a bounded amount per turn.

use super::hash::{HashJob, HashStep};
use super::identity::{identify, Answered};
use super::stream::{write_status, FillError, Filled, Sink};
use super::Row;
use crate::proto::message::{hash_hex, Hash, Holder};
use crate::proto::peer::{self, Answer, Request};
use crate::proto::status::Status;
use crate::sys::{self, OpenFlags};
use log::{debug, info};
use mio::net::TcpStream;
use std::fs::File;
use std::io::{self, Read, Write};
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
    /// Our user name, told to the holder (shown in its `upload_served` event).
    pub me: String,
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

/// How a download ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The file is in place under its final name, verified.
    Done {
        /// Where it is.
        path: PathBuf,
        /// Bytes received by this fetch (0 when the destination already matched).
        received: u64,
        /// Bytes taken from a partial file (resumed).
        resumed: u64,
        size: u64,
        hash: Hash,
        /// The destination already existed with this content: nothing was transferred.
        already: bool,
    },
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

/// How to start, given what is on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// No usable partial file: start at byte 0 (an unusable one is truncated).
    Fresh,
    /// Hash the partial file's `n` bytes, then ask for the rest.
    Resume(u64),
}

/// Resume only from a partial file downloaded for the same content that is not longer
/// than the file.
pub fn resume_plan(partial_len: Option<u64>, same_content: bool, size: u64) -> Plan {
    match partial_len {
        Some(n) if n > 0 && same_content && n <= size => Plan::Resume(n),
        _ => Plan::Fresh,
    }
}

/// What a holder's answer means for the download.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnswerCheck {
    /// As announced by the hub: receive.
    Receive,
    /// The holder re-announced changed content and nothing was received yet: take
    /// its new size and hash and receive.
    Adopt { size: u64, hash: Hash },
    /// The holder serves other content than the partial file holds: start over at 0.
    Restart,
    /// A refusal or a nonsensical answer.
    Fail(Status, String),
}

/// Check a holder's answer against what was expected, for a request from `offset`.
pub fn check_answer(
    answer: &Answer,
    holder: &str,
    size: u64,
    hash: &Hash,
    offset: u64,
) -> AnswerCheck {
    if answer.status != Status::OK {
        let status = if answer.status.0 >= 400 && answer.status.0 < 600 {
            answer.status
        } else {
            Status::PEER_UNREACHABLE
        };
        return AnswerCheck::Fail(status, format!("{holder} refused: {}", answer.message));
    }
    if answer.size == size && answer.hash == *hash {
        AnswerCheck::Receive
    } else if offset == 0 {
        AnswerCheck::Adopt {
            size: answer.size,
            hash: answer.hash,
        }
    } else {
        AnswerCheck::Restart
    }
}

/// Whether the received content is what was announced.
pub fn verdict(received: u64, size: u64, computed: &Hash, expected: &Hash) -> bool {
    received == size && computed == expected
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
    /// A new socket was opened: register it (READABLE | WRITABLE), then wait.
    Register,
    /// Finished.
    Done(Outcome),
}

enum State {
    Start,
    CheckExisting(HashJob),
    Prepare,
    HashPartial {
        file: File,
        hasher: blake3::Hasher,
        done: u64,
        len: u64,
    },
    Connect {
        hasher: blake3::Hasher,
    },
    Connecting {
        stream: TcpStream,
        hasher: blake3::Hasher,
        request: Vec<u8>,
        sent: usize,
        connected: bool,
    },
    Answer {
        stream: TcpStream,
        hasher: blake3::Hasher,
        buf: Vec<u8>,
    },
    Receiving {
        stream: TcpStream,
        sink: Sink,
    },
    Finished,
}

/// One download, from the existing-file check to the rename.
pub struct Download {
    spec: DownloadSpec,
    share: PathBuf,
    state: State,
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

impl Download {
    /// A download about to start, into the share dir `share` (canonical).
    pub fn new(spec: DownloadSpec, share: &Path, now: Instant) -> Download {
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

    /// The socket, once there is one, for registration.
    pub fn stream_mut(&mut self) -> Option<&mut TcpStream> {
        match &mut self.state {
            State::Connecting { stream, .. }
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
        Row::new(
            "download",
            &self.spec.dest,
            &self.spec.holder.user,
            self.received,
            self.size,
            self.received - self.offset,
            self.receiving_since,
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
            State::Connecting { .. } | State::Answer { .. } | State::Receiving { .. }
        );
        if !waiting || now.saturating_duration_since(self.last_progress) < stall {
            return None;
        }
        let holder = self.spec.holder.user.clone();
        let secs = stall.as_secs_f64();
        let unreachable = matches!(
            self.state,
            State::Connecting {
                connected: false,
                ..
            }
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
        loop {
            let next = match std::mem::replace(&mut self.state, State::Finished) {
                State::Start => self.start(ctx),
                State::CheckExisting(job) => self.check_existing(job, ctx),
                State::Prepare => self.prepare(ctx),
                State::HashPartial {
                    file,
                    hasher,
                    done,
                    len,
                } => self.hash_partial(file, hasher, done, len, ctx),
                State::Connect { hasher } => self.connect(hasher, now),
                State::Connecting {
                    stream,
                    hasher,
                    request,
                    sent,
                    connected,
                } => self.connecting(stream, hasher, request, sent, connected, now),
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

    /// An existing destination is hashed: the same content succeeds at once, other content is 409.
    fn start(&mut self, ctx: &mut Ctx) -> Next {
        let dest = self.spec.dest.clone();
        match std::fs::symlink_metadata(ctx.share.join(&dest)) {
            Ok(m) if m.is_file() => {
                let opened =
                    sys::open_beneath(ctx.share_dir, Path::new(&dest), OpenFlags::ReadOnly)
                        .and_then(HashJob::new);
                match opened {
                    Ok(job) => {
                        self.state = State::CheckExisting(job);
                        None
                    }
                    Err(e) => {
                        Some(self.fail(Status::NAME_TAKEN, format!("{dest} already exists ({e})")))
                    }
                }
            }
            Ok(_) => Some(self.fail(
                Status::NAME_TAKEN,
                format!("{dest} already exists and is not a regular file"),
            )),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                self.state = State::Prepare;
                None
            }
            Err(e) => Some(self.fail(Status::INTERNAL, format!("{dest}: {e}"))),
        }
    }

    fn check_existing(&mut self, mut job: HashJob, ctx: &mut Ctx) -> Next {
        let dest = self.spec.dest.clone();
        match job.step(ctx.hash_slice) {
            Ok(HashStep::Progress { .. }) => {
                self.state = State::CheckExisting(job);
                Some(DlStep::Again)
            }
            Ok(HashStep::Done { stamp, hash })
                if verdict(stamp.size, self.size, &hash, &self.hash) =>
            {
                self.state = State::Finished;
                Some(DlStep::Done(Outcome::Done {
                    path: ctx.share.join(&dest),
                    received: 0,
                    resumed: 0,
                    size: stamp.size,
                    hash,
                    already: true,
                }))
            }
            Ok(HashStep::Done { .. }) => Some(self.fail(
                Status::NAME_TAKEN,
                format!("{dest} already exists with other content; fetch it --as another name"),
            )),
            Err(e) => Some(self.fail(Status::NAME_TAKEN, format!("{dest} already exists ({e})"))),
        }
    }

    /// Decide between resuming and starting over, and check the free space.
    fn prepare(&mut self, ctx: &mut Ctx) -> Next {
        let part = self.part();
        let existing = match sys::open_beneath(ctx.share_dir, Path::new(&part), OpenFlags::ReadOnly)
        {
            Ok(file) => match file.metadata() {
                Ok(m) => Some((file, m.len())),
                Err(e) => return Some(self.fail(Status::INTERNAL, format!("{part}: {e}"))),
            },
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => {
                return Some(self.fail(
                    Status::NAME_TAKEN,
                    format!("{part} exists and cannot be used as a partial file ({e})"),
                ))
            }
        };
        let plan = resume_plan(
            existing.as_ref().map(|(_, n)| *n),
            self.spec.resume,
            self.size,
        );
        let offset = match plan {
            Plan::Resume(n) => n,
            Plan::Fresh => 0,
        };
        if let Some(step) = self.check_space(ctx, offset) {
            return Some(step);
        }
        match (plan, existing) {
            (Plan::Resume(len), Some((file, _))) => {
                debug!("resuming {part} from byte {len}");
                self.state = State::HashPartial {
                    file,
                    hasher: blake3::Hasher::new(),
                    done: 0,
                    len,
                };
            }
            _ => {
                self.offset = 0;
                self.received = 0;
                self.state = State::Connect {
                    hasher: blake3::Hasher::new(),
                };
            }
        }
        None
    }

    /// 507 unless the file system holds what is still to come.
    fn check_space(&mut self, ctx: &mut Ctx, offset: u64) -> Next {
        let need = self.size.saturating_sub(offset);
        match sys::free_space(ctx.share) {
            Ok(free) if free < need => Some(self.fail(
                Status::DISK_FULL,
                format!(
                    "not enough space for {}: {need} bytes needed, {free} free",
                    self.spec.dest
                ),
            )),
            _ => None,
        }
    }

    fn hash_partial(
        &mut self,
        mut file: File,
        mut hasher: blake3::Hasher,
        mut done: u64,
        len: u64,
        ctx: &mut Ctx,
    ) -> Next {
        let mut spent = 0;
        while done < len && spent < ctx.hash_slice {
            let want = usize::try_from(len - done)
                .unwrap_or(usize::MAX)
                .min(ctx.buf.len())
                .min(ctx.hash_slice - spent);
            let Some(chunk) = ctx.buf.get_mut(..want) else {
                break;
            };
            match file.read(chunk) {
                Ok(0) => break,
                Ok(n) => {
                    hasher.update(chunk.get(..n).unwrap_or_default());
                    done += n as u64;
                    spent += n;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    return Some(self.fail(Status::INTERNAL, format!("{}: {e}", self.part())))
                }
            }
            if spent == 0 {
                break;
            }
        }
        if done >= len {
            self.offset = len;
            self.received = len;
            self.state = State::Connect { hasher };
            return None;
        }
        if spent == 0 {
            // The partial file shrank under us: start over.
            self.offset = 0;
            self.received = 0;
            self.state = State::Connect {
                hasher: blake3::Hasher::new(),
            };
            return None;
        }
        self.state = State::HashPartial {
            file,
            hasher,
            done,
            len,
        };
        Some(DlStep::Again)
    }

    fn connect(&mut self, hasher: blake3::Hasher, now: Instant) -> Next {
        let holder = &self.spec.holder;
        let stream = match TcpStream::connect(holder.addr) {
            Ok(s) => s,
            Err(e) => {
                let msg = format!("{} at {} is unreachable: {e}", holder.user, holder.addr);
                return Some(self.fail(Status::PEER_UNREACHABLE, msg));
            }
        };
        let mut request = Vec::new();
        peer::encode_request(
            &Request {
                name: self.spec.name.clone(),
                offset: self.offset,
                user: self.spec.me.clone(),
            },
            &mut request,
        );
        self.last_progress = now;
        self.state = State::Connecting {
            stream,
            hasher,
            request,
            sent: 0,
            connected: false,
        };
        Some(DlStep::Register)
    }

    fn connecting(
        &mut self,
        mut stream: TcpStream,
        hasher: blake3::Hasher,
        request: Vec<u8>,
        mut sent: usize,
        mut connected: bool,
        now: Instant,
    ) -> Next {
        let holder = self.spec.holder.user.clone();
        let addr = self.spec.holder.addr;
        if !connected {
            match (stream.take_error(), stream.peer_addr()) {
                (Ok(None), Ok(_)) => {
                    connected = true;
                    self.last_progress = now;
                }
                (Ok(Some(e)), _) | (Err(e), _) => {
                    return Some(self.fail(
                        Status::PEER_UNREACHABLE,
                        format!("{holder} at {addr} is unreachable: {e}"),
                    ))
                }
                (Ok(None), Err(e)) if e.kind() == io::ErrorKind::NotConnected => {
                    self.state = State::Connecting {
                        stream,
                        hasher,
                        request,
                        sent,
                        connected,
                    };
                    return Some(DlStep::Wait);
                }
                (Ok(None), Err(e)) => {
                    return Some(self.fail(
                        Status::PEER_UNREACHABLE,
                        format!("{holder} at {addr} is unreachable: {e}"),
                    ))
                }
            }
        }
        while sent < request.len() {
            match stream.write(request.get(sent..).unwrap_or_default()) {
                Ok(0) => {
                    return Some(self.fail(
                        Status::PEER_UNREACHABLE,
                        format!("{holder} closed the connection"),
                    ))
                }
                Ok(n) => sent += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.state = State::Connecting {
                        stream,
                        hasher,
                        request,
                        sent,
                        connected,
                    };
                    return Some(DlStep::Wait);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    return Some(self.fail(
                        Status::PEER_UNREACHABLE,
                        format!("{holder} at {addr} is unreachable: {e}"),
                    ))
                }
            }
        }
        self.state = State::Answer {
            stream,
            hasher,
            buf: Vec::new(),
        };
        None
    }

    fn answer(
        &mut self,
        mut stream: TcpStream,
        hasher: blake3::Hasher,
        mut buf: Vec<u8>,
        ctx: &mut Ctx,
        now: Instant,
    ) -> Next {
        let holder = self.spec.holder.user.clone();
        let parsed = loop {
            match identify(&buf, self.spec.holder.addr, &holder) {
                Answered::Holder(used, answer) => break (used, answer),
                Answered::Pending => {}
                // Not the holder's bytes: fail without blaming it (no report).
                Answered::Stranger(why) => return Some(self.fail(Status::PEER_UNREACHABLE, why)),
            }
            match stream.read(ctx.buf) {
                Ok(0) => {
                    return Some(self.fail(
                        Status::PEER_UNREACHABLE,
                        format!("{holder} closed the connection without answering"),
                    ))
                }
                Ok(n) => {
                    buf.extend_from_slice(ctx.buf.get(..n).unwrap_or_default());
                    self.last_progress = now;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.state = State::Answer {
                        stream,
                        hasher,
                        buf,
                    };
                    return Some(DlStep::Wait);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    return Some(self.fail(
                        Status::PEER_UNREACHABLE,
                        format!("{holder} failed before answering: {e}"),
                    ))
                }
            }
        };
        let (used, answer) = parsed;
        match check_answer(&answer, &holder, self.size, &self.hash, self.offset) {
            AnswerCheck::Receive => {}
            AnswerCheck::Adopt { size, hash } => {
                info!(
                    "{holder} re-announced {}: now {size} bytes, hash {}",
                    self.spec.name,
                    hash_hex(&hash)
                );
                self.size = size;
                self.hash = hash;
                if let Some(step) = self.check_space(ctx, 0) {
                    return Some(step);
                }
            }
            AnswerCheck::Restart if !self.restarted => {
                info!(
                    "{holder} serves other content than the partial file of {}: starting over",
                    self.spec.dest
                );
                self.restarted = true;
                self.offset = 0;
                self.received = 0;
                self.state = State::Connect {
                    hasher: blake3::Hasher::new(),
                };
                return None;
            }
            AnswerCheck::Restart => {
                return Some(self.fail(
                    Status::PEER_UNREACHABLE,
                    format!("{holder} keeps changing the content of {}", self.spec.name),
                ))
            }
            AnswerCheck::Fail(status, message) => return Some(self.fail(status, message)),
        }
        let part = self.part();
        let file =
            match sys::open_beneath(ctx.share_dir, Path::new(&part), OpenFlags::CreateReadWrite) {
                Ok(f) => f,
                Err(e) => return Some(self.fail(write_status(&e), format!("{part}: {e}"))),
            };
        // The partial file holds exactly `offset` bytes from here on. Truncate only when
        // it does not: on ext4 a truncate arms a flush of the whole file at close
        // (auto_da_alloc), which costs a fresh download a fifth of its speed.
        let truncated = file.metadata().and_then(|m| {
            if m.len() == self.offset {
                Ok(())
            } else {
                file.set_len(self.offset)
            }
        });
        if let Err(e) = truncated {
            return Some(self.fail(write_status(&e), format!("{part}: {e}")));
        }
        self.receiving_since = Some(now);
        let mut sink = Sink::resume(file, hasher, self.received, self.size - self.received);
        // File bytes that came in the same read as the answer.
        if let Err(step) = self.absorb(&mut sink, buf.get(used..).unwrap_or_default()) {
            return Some(step);
        }
        self.state = State::Receiving { stream, sink };
        None
    }

    /// Write and hash what of `data` is still expected; a failed write ends the download.
    fn absorb(&mut self, sink: &mut Sink, data: &[u8]) -> Result<(), DlStep> {
        match sink.write(data) {
            Ok(n) => {
                self.received += n as u64;
                Ok(())
            }
            Err(e) => Err(self.fail(write_status(&e), format!("writing {}: {e}", self.part()))),
        }
    }

    fn receive(
        &mut self,
        mut stream: TcpStream,
        mut sink: Sink,
        ctx: &mut Ctx,
        now: Instant,
    ) -> Next {
        let holder = self.spec.holder.user.clone();
        let before = sink.left();
        let filled = sink.fill_from(&mut stream, ctx.buf, ctx.read_budget);
        self.received += before - sink.left();
        if sink.left() < before {
            self.last_progress = now;
        }
        match filled {
            Ok(_) if sink.left() == 0 => {}
            Ok(Filled::Moved(_)) => {
                self.state = State::Receiving { stream, sink };
                return Some(DlStep::Again);
            }
            Ok(Filled::Blocked(_)) => {
                self.state = State::Receiving { stream, sink };
                return Some(DlStep::Wait);
            }
            Ok(Filled::Closed(_)) => {
                let msg = format!(
                    "{holder} closed the connection after {} of {} bytes",
                    self.received, self.size
                );
                return Some(self.fail(Status::PEER_UNREACHABLE, msg));
            }
            Err(FillError::Socket(e)) => {
                let msg = format!(
                    "the connection to {holder} failed after {} of {} bytes: {e}",
                    self.received, self.size
                );
                return Some(self.fail(Status::PEER_UNREACHABLE, msg));
            }
            Err(FillError::File(e)) => {
                let msg = format!("writing {}: {e}", self.part());
                return Some(self.fail(write_status(&e), msg));
            }
        }
        drop(stream);
        Some(self.finish(&sink.finish(), ctx))
    }

    /// Every byte is in: verify, then rename into place.
    fn finish(&mut self, computed: &Hash, ctx: &mut Ctx) -> DlStep {
        let part = self.part();
        let dest = self.spec.dest.clone();
        let holder = self.spec.holder.user.clone();
        if !verdict(self.received, self.size, computed, &self.hash) {
            let _ = std::fs::remove_file(ctx.share.join(&part));
            // Only a holder that sent every byte can be blamed: a resumed file mixes sources.
            let report = self.offset == 0;
            let blame = if report {
                format!("; {holder} is reported to the hub")
            } else {
                String::new()
            };
            let msg = format!(
                "integrity failure: {} from {holder} does not match its hash{blame}; \
                 the partial file was deleted",
                self.spec.name
            );
            return self.finish_failed(Status::INTEGRITY, msg, report, PartialFate::Deleted);
        }
        if std::fs::symlink_metadata(ctx.share.join(&dest)).is_ok() {
            return self.fail(
                Status::NAME_TAKEN,
                format!(
                    "{dest} appeared while it was being fetched; the verified copy stays {part}"
                ),
            );
        }
        if let Err(e) = sys::rename_beneath(ctx.share_dir, Path::new(&part), Path::new(&dest)) {
            return self.fail(write_status(&e), format!("renaming {part} to {dest}: {e}"));
        }
        self.state = State::Finished;
        DlStep::Done(Outcome::Done {
            path: ctx.share.join(&dest),
            received: self.received - self.offset,
            resumed: self.offset,
            size: self.size,
            hash: *computed,
            already: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans() {
        assert_eq!(resume_plan(None, true, 10), Plan::Fresh);
        assert_eq!(resume_plan(Some(0), true, 10), Plan::Fresh);
        assert_eq!(resume_plan(Some(4), true, 10), Plan::Resume(4));
        assert_eq!(resume_plan(Some(10), true, 10), Plan::Resume(10));
        assert_eq!(resume_plan(Some(11), true, 10), Plan::Fresh);
        assert_eq!(resume_plan(Some(4), false, 10), Plan::Fresh);
    }

    #[test]
    fn answers() {
        let ok = Answer {
            status: Status::OK,
            message: "ok".into(),
            size: 10,
            hash: [1; 32],
            user: "bob".into(),
        };
        assert_eq!(
            check_answer(&ok, "bob", 10, &[1; 32], 4),
            AnswerCheck::Receive
        );
        assert_eq!(
            check_answer(&ok, "bob", 9, &[2; 32], 0),
            AnswerCheck::Adopt {
                size: 10,
                hash: [1; 32]
            }
        );
        assert_eq!(
            check_answer(&ok, "bob", 9, &[2; 32], 3),
            AnswerCheck::Restart
        );
        let no = Answer::refuse(Status::NO_FILE, "not published", "bob");
        assert!(matches!(
            check_answer(&no, "bob", 10, &[1; 32], 0),
            AnswerCheck::Fail(Status::NO_FILE, m) if m.contains("bob refused: not published")
        ));
        let odd = Answer::refuse(Status(250), "what", "bob");
        assert!(matches!(
            check_answer(&odd, "bob", 10, &[1; 32], 0),
            AnswerCheck::Fail(Status::PEER_UNREACHABLE, _)
        ));
    }

    #[test]
    fn verdicts() {
        assert!(verdict(10, 10, &[1; 32], &[1; 32]));
        assert!(!verdict(9, 10, &[1; 32], &[1; 32]));
        assert!(!verdict(10, 10, &[1; 32], &[2; 32]));
    }
}
