//! One holder's connection in a swarm download: the `GetRange` for the segment the
//! [`Swarm`] gave it (the first with the hub's ticket, the next on the same connection
//! without), the holder's answer checked, and the proof read a bounded amount per turn
//! through a [`RangeDecoder`] — each group written into the partial file only once it
//! verified, and counted to the holder. What goes wrong ends the leg with a [`LegEnd`]
//! that says whether the holder sent bad data (it is reported) or only went away.

use super::{SourceId, Swarm};
use crate::proto::message::Holder;
use crate::proto::peer::{self, Request};
use crate::proto::status::Status;
use crate::proto::types::Hash;
use crate::sys;
use crate::transfer::download::connection_failure;
use crate::transfer::identity::{identify, Answered};
use crate::transfer::stream::{read_some, write_out, write_status, Stream};
use crate::transfer::verified::decode::RangeDecoder;
use crate::transfer::verified::{group_len, GROUP};
use std::fs::File;
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::time::Instant;

/// What a leg's turn needs from its download.
pub struct LegIo<'a> {
    /// The partial file, as long as the file.
    pub file: &'a File,
    pub swarm: &'a mut Swarm,
    /// The published name, its size and hash.
    pub name: &'a str,
    pub size: u64,
    pub hash: &'a Hash,
    /// Shared receive buffer.
    pub buf: &'a mut [u8],
    /// Bytes received per turn.
    pub budget: usize,
}

/// How a leg ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LegEnd {
    /// Nothing more for this holder: the connection was closed cleanly.
    Finished,
    /// The holder is dropped for this file, for `why`.
    Dropped { why: String, fault: Fault },
    /// Writing the partial file failed: the whole download fails with this status.
    Write(Status, String),
}

/// Why a holder was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// It went away, stalled, or refused (nothing it is blamed for).
    Gone,
    /// It sent data that failed verification or broke the protocol: it is reported.
    Bad,
    /// It serves other content than the hub announced (its file changed on disk).
    Changed,
    /// What listens at its address is not its client (another key).
    WrongPeer,
}

/// What the loop does after a leg's turn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LegStep {
    Wait,
    /// The budget ran out with bytes still coming: run again next pass.
    Again,
    /// A segment was finished (the record of verified groups may be saved).
    Segment,
    Ended(LegEnd),
}

enum State<S> {
    /// The loop is connecting.
    Dialling,
    /// Sending the request (after waiting for the connection, the first time).
    Asking {
        stream: S,
        request: Vec<u8>,
        sent: usize,
    },
    /// Reading the holder's answer.
    Answer {
        stream: S,
        buf: Vec<u8>,
    },
    /// Reading the range's proof.
    Proof {
        stream: S,
        decoder: Box<RangeDecoder>,
    },
    /// Nothing to fetch for now, but the download is not done: the connection is kept
    /// (the hub's ticket let it in once) for groups another holder gives back.
    Idle {
        stream: S,
    },
    Closed,
}

/// One holder's connection.
pub struct Leg<S> {
    pub source: SourceId,
    /// The loop's token for the connection.
    pub token: usize,
    holder: Holder,
    state: State<S>,
    /// The range being fetched (groups).
    range: Range<u64>,
    connected: bool,
    /// Verified bytes this holder contributed.
    pub bytes: u64,
    /// Ranges asked on this connection.
    asked: u64,
    pub last_progress: Instant,
}

impl<S: Stream> Leg<S> {
    /// A leg about to connect to `holder` for groups `range`.
    pub fn new(
        source: SourceId,
        token: usize,
        holder: Holder,
        range: Range<u64>,
        now: Instant,
    ) -> Leg<S> {
        Leg {
            source,
            token,
            holder,
            state: State::Dialling,
            range,
            connected: false,
            bytes: 0,
            asked: 0,
            last_progress: now,
        }
    }

    pub fn user(&self) -> &str {
        &self.holder.user
    }

    /// Whether the connection was seen established (for the stall message).
    pub fn reached(&self) -> bool {
        self.connected
    }

    /// Whether it waits for work (no stall can be blamed on the holder).
    pub fn idle(&self) -> bool {
        matches!(self.state, State::Idle { .. })
    }

    /// The stream, once the loop handed one over.
    pub fn stream_mut(&mut self) -> Option<&mut S> {
        match &mut self.state {
            State::Asking { stream, .. }
            | State::Answer { stream, .. }
            | State::Proof { stream, .. }
            | State::Idle { stream } => Some(stream),
            State::Dialling | State::Closed => None,
        }
    }

    /// The loop's connection (begun without blocking), for the request of `name`.
    pub fn dialled(&mut self, stream: S, name: &str, size: u64, now: Instant) {
        self.last_progress = now;
        let request = self.request(name, size);
        self.state = State::Asking {
            stream,
            request,
            sent: 0,
        };
    }

    /// The `GetRange` of this leg's range; the hub's ticket on the first only.
    fn request(&mut self, name: &str, size: u64) -> Vec<u8> {
        let ticket = if self.asked == 0 {
            self.holder.ticket.clone()
        } else {
            Vec::new()
        };
        self.asked += 1;
        let mut out = Vec::new();
        let request = Request {
            name: name.to_owned(),
            offset: self.range.start * GROUP,
            range_end: Some((self.range.end * GROUP).min(size)),
            ticket,
        };
        peer::encode_request(&request, &mut out);
        out
    }

    /// Do what can be done now.
    pub fn turn(&mut self, io: &mut LegIo, now: Instant) -> LegStep {
        if let Some(stream) = self.stream_mut() {
            let _ = stream.flush();
        }
        loop {
            let step = match std::mem::replace(&mut self.state, State::Closed) {
                State::Dialling => {
                    self.state = State::Dialling;
                    return LegStep::Wait;
                }
                State::Asking {
                    stream,
                    request,
                    sent,
                } => self.ask(stream, request, sent, now),
                State::Answer { stream, buf } => self.answer(stream, buf, io, now),
                State::Proof { stream, decoder } => self.proof(stream, decoder, io, now),
                State::Idle { stream } => self.next_range(stream, io, now, true),
                State::Closed => return LegStep::Wait,
            };
            if let Some(step) = step {
                return step;
            }
        }
    }

    /// The connection failed: a key that is not the holder's is named as such.
    fn broken(&mut self, e: &std::io::Error, otherwise: String) -> Option<LegStep> {
        let (status, why) = connection_failure(e, &self.holder, otherwise);
        let fault = if status == Status::WRONG_PEER {
            Fault::WrongPeer
        } else {
            Fault::Gone
        };
        self.dropped(why, fault)
    }

    fn dropped(&mut self, why: String, fault: Fault) -> Option<LegStep> {
        self.state = State::Closed;
        Some(LegStep::Ended(LegEnd::Dropped { why, fault }))
    }

    fn ask(
        &mut self,
        mut stream: S,
        request: Vec<u8>,
        mut sent: usize,
        now: Instant,
    ) -> Option<LegStep> {
        let user = self.holder.user.clone();
        if !self.connected {
            match stream.established() {
                Ok(true) => {
                    self.connected = true;
                    self.last_progress = now;
                }
                Ok(false) => {
                    self.state = State::Asking {
                        stream,
                        request,
                        sent,
                    };
                    return Some(LegStep::Wait);
                }
                Err(e) => return self.broken(&e, format!("{user} is unreachable: {e}")),
            }
        }
        match write_out(&mut stream, &request, &mut sent) {
            Ok(true) => {
                self.state = State::Answer {
                    stream,
                    buf: Vec::new(),
                };
                None
            }
            Ok(false) => {
                self.state = State::Asking {
                    stream,
                    request,
                    sent,
                };
                Some(LegStep::Wait)
            }
            Err(e) => self.broken(&e, format!("the connection to {user} failed: {e}")),
        }
    }

    fn answer(
        &mut self,
        mut stream: S,
        mut buf: Vec<u8>,
        io: &mut LegIo,
        now: Instant,
    ) -> Option<LegStep> {
        let user = self.holder.user.clone();
        let (used, answer) = loop {
            match identify(&buf, self.holder.addr, &user) {
                Answered::Holder(used, answer) => break (used, answer),
                Answered::Pending => {}
                // After a range, the connection is known to be the holder's: what is
                // not an answer is bytes it was not asked for.
                Answered::Stranger(why) if self.asked > 1 => return self.dropped(why, Fault::Bad),
                Answered::Stranger(why) => return self.dropped(why, Fault::Gone),
            }
            match read_some(&mut stream, io.buf) {
                Ok(Some(0)) => {
                    return self.dropped(format!("{user} closed the connection"), Fault::Gone)
                }
                Ok(Some(n)) => {
                    buf.extend_from_slice(io.buf.get(..n).unwrap_or_default());
                    self.last_progress = now;
                }
                Ok(None) => {
                    self.state = State::Answer { stream, buf };
                    return Some(LegStep::Wait);
                }
                Err(e) => return self.broken(&e, format!("{user} failed before answering: {e}")),
            }
        };
        // Every range asked for fits the announced file: a holder that finds it does
        // not (400) has other content now, as has one that announces another hash.
        if answer.status == Status::BAD_REQUEST {
            let why = format!(
                "{user} has other content as {} now ({})",
                io.name, answer.message
            );
            return self.dropped(why, Fault::Changed);
        }
        if !answer.status.is_success() {
            let why = format!("{user} refused: {} {}", answer.status.0, answer.message);
            return self.dropped(why, Fault::Gone);
        }
        if answer.size != io.size || answer.hash != *io.hash {
            let why = format!("{user} has other content as {} now", io.name);
            return self.dropped(why, Fault::Changed);
        }
        let mut decoder = Box::new(RangeDecoder::new(io.size, *io.hash, self.range.clone()));
        // Proof bytes that came with the answer.
        if let Err(step) = self.absorb(&mut decoder, buf.get(used..).unwrap_or_default(), io, now) {
            self.state = State::Closed;
            return Some(step);
        }
        self.state = State::Proof { stream, decoder };
        None
    }

    /// Feed `input` to the decoder: each group that verifies is written and counted;
    /// input past the range's end is bytes the holder was not asked for. The verified
    /// groups that lie in `input` (between the parents) and follow each other in the
    /// file go to disk in one `pwritev`, not one write each; a group is counted
    /// verified only once it is written.
    fn absorb(
        &mut self,
        decoder: &mut RangeDecoder,
        input: &[u8],
        io: &mut LegIo,
        now: Instant,
    ) -> Result<(), LegStep> {
        let user = self.holder.user.clone();
        let base = input.as_ptr() as usize;
        let mut run = Run::default();
        let mut at = 0;
        while at < input.len() {
            if decoder.remaining() == 0 {
                self.flush(&mut run, input, io, now)?;
                let why = format!("{user} sent more than the range it was asked for");
                return Err(LegStep::Ended(LegEnd::Dropped {
                    why,
                    fault: Fault::Bad,
                }));
            }
            let (used, group) = match decoder.feed(&input[at..]) {
                Ok(fed) => fed,
                Err(e) => {
                    self.flush(&mut run, input, io, now)?;
                    let why = format!("{user} sent {e}");
                    return Err(LegStep::Ended(LegEnd::Dropped {
                        why,
                        fault: Fault::Bad,
                    }));
                }
            };
            if let Some(group) = group {
                let start = (group.bytes.as_ptr() as usize).wrapping_sub(base);
                let in_input = start <= input.len() && group.bytes.len() <= input.len() - start;
                if in_input && run.follows(group.offset) {
                    run.push(start..start + group.bytes.len(), group.offset, group.index);
                } else {
                    // A group gathered across reads lives in the decoder: written now.
                    let (index, offset) = (group.index, group.offset);
                    let gathered = (!in_input).then_some(group.bytes);
                    let pending = std::mem::take(&mut run);
                    if let Some(bytes) = gathered {
                        self.write_groups(&pending, input, io, now)?;
                        self.write_at(bytes, offset, index, io, now)?;
                    } else {
                        self.write_groups(&pending, input, io, now)?;
                        run.push(start..start + group_len(io.size, index), offset, index);
                    }
                }
            }
            at += used;
        }
        self.flush(&mut run, input, io, now)
    }

    fn flush(
        &mut self,
        run: &mut Run,
        input: &[u8],
        io: &mut LegIo,
        now: Instant,
    ) -> Result<(), LegStep> {
        let pending = std::mem::take(run);
        self.write_groups(&pending, input, io, now)
    }

    /// Write `run`'s groups (slices of `input`) and count them verified.
    fn write_groups(
        &mut self,
        run: &Run,
        input: &[u8],
        io: &mut LegIo,
        now: Instant,
    ) -> Result<(), LegStep> {
        if run.pieces.is_empty() {
            return Ok(());
        }
        let pieces: Vec<&[u8]> = run
            .pieces
            .iter()
            .filter_map(|r| input.get(r.clone()))
            .collect();
        if let Err(e) = sys::write_all_vectored_at(io.file, run.offset, &pieces) {
            let why = format!("writing the partial file of {}: {e}", io.name);
            return Err(LegStep::Ended(LegEnd::Write(write_status(&e), why)));
        }
        for index in run.groups.clone() {
            self.bytes += group_len(io.size, index) as u64;
            io.swarm.on_group(self.source, index, now);
        }
        Ok(())
    }

    /// Write one group's `bytes` at `offset` and count it verified.
    fn write_at(
        &mut self,
        bytes: &[u8],
        offset: u64,
        index: u64,
        io: &mut LegIo,
        now: Instant,
    ) -> Result<(), LegStep> {
        if let Err(e) = io.file.write_all_at(bytes, offset) {
            let why = format!("writing the partial file of {}: {e}", io.name);
            return Err(LegStep::Ended(LegEnd::Write(write_status(&e), why)));
        }
        self.bytes += bytes.len() as u64;
        io.swarm.on_group(self.source, index, now);
        Ok(())
    }

    fn proof(
        &mut self,
        mut stream: S,
        mut decoder: Box<RangeDecoder>,
        io: &mut LegIo,
        now: Instant,
    ) -> Option<LegStep> {
        let user = self.holder.user.clone();
        let mut spent = 0;
        while decoder.remaining() > 0 {
            if spent >= io.budget {
                self.state = State::Proof { stream, decoder };
                return Some(LegStep::Again);
            }
            // Never read past the range: what follows is the holder's next answer.
            let want = usize::try_from(decoder.remaining())
                .unwrap_or(usize::MAX)
                .min(io.buf.len());
            let n = match read_some(&mut stream, &mut io.buf[..want]) {
                Ok(Some(0)) => {
                    let why = format!(
                        "{user} closed the connection with {} bytes of the range still to come",
                        decoder.remaining()
                    );
                    return self.dropped(why, Fault::Gone);
                }
                Ok(Some(n)) => n,
                Ok(None) => {
                    self.state = State::Proof { stream, decoder };
                    return Some(LegStep::Wait);
                }
                Err(e) => return self.broken(&e, format!("the connection to {user} failed: {e}")),
            };
            spent += n;
            self.last_progress = now;
            let data = std::mem::take(&mut io.buf);
            let fed = self.absorb(&mut decoder, &data[..n], io, now);
            io.buf = data;
            if let Err(step) = fed {
                self.state = State::Closed;
                return Some(step);
            }
        }
        self.next_range(stream, io, now, false)
    }

    /// The range is whole (or the leg was idle): ask for the next segment on the same
    /// connection, wait idle while others finish theirs, or close once the file is done.
    fn next_range(
        &mut self,
        mut stream: S,
        io: &mut LegIo,
        now: Instant,
        was_idle: bool,
    ) -> Option<LegStep> {
        // Bytes already here before the next request are bytes nobody asked for.
        let mut probe = [0u8; 1];
        if let Ok(Some(n)) = read_some(&mut stream, &mut probe) {
            let why = if n == 0 {
                // A holder that closes after the range is done with us: not bad.
                self.state = State::Closed;
                return Some(LegStep::Ended(LegEnd::Finished));
            } else {
                format!(
                    "{} sent more than the range it was asked for",
                    self.holder.user
                )
            };
            return self.dropped(why, Fault::Bad);
        }
        match io.swarm.assign(self.source, now) {
            Some(range) => {
                self.range = range;
                let request = self.request(io.name, io.size);
                self.state = State::Asking {
                    stream,
                    request,
                    sent: 0,
                };
                Some(LegStep::Segment)
            }
            None if io.swarm.is_done() => {
                let _ = stream.close_write();
                self.state = State::Closed;
                Some(LegStep::Ended(LegEnd::Finished))
            }
            None => {
                self.state = State::Idle { stream };
                Some(if was_idle {
                    LegStep::Wait
                } else {
                    LegStep::Segment
                })
            }
        }
    }
}

/// Verified groups waiting to be written at once: slices of the input, next to each
/// other in the file from `offset`, groups `groups`.
#[derive(Default)]
struct Run {
    pieces: Vec<Range<usize>>,
    offset: u64,
    end: u64,
    groups: Range<u64>,
}

impl Run {
    /// Whether a group at file `offset` may join (the run is empty, or ends there).
    fn follows(&self, offset: u64) -> bool {
        self.pieces.is_empty() || self.end == offset
    }

    fn push(&mut self, piece: Range<usize>, offset: u64, index: u64) {
        if self.pieces.is_empty() {
            self.offset = offset;
            self.groups = index..index;
        }
        self.end = offset + (piece.end - piece.start) as u64;
        self.groups.end = index + 1;
        self.pieces.push(piece);
    }
}
