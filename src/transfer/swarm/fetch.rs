//! One file fetched from several holders at once: the existing destination checked,
//! the partial file opened at its full size (its verified groups, from the record,
//! kept), a [`Leg`] per holder that the [`Swarm`] gives a segment, and — once every
//! group is verified — the partial file renamed into place (the local half in
//! `fetch/local.rs`; here the holders). Every group was checked
//! against the published root on its way in, so nothing is hashed again at the end.
//!
//! The loop connects and registers what [`SwAction`]s ask for; what a holder did wrong
//! comes out as [`SwAction::Dropped`] (and is reported when it sent bad data).

pub use super::leg::Fault;
use super::leg::{Leg, LegEnd, LegIo, LegStep};
use super::{GroupSet, SourceId, Swarm};
use crate::proto::message::{Hash, Holder};
use crate::proto::status::Status;
use crate::transfer::download::{Ctx, Outcome, PartialFate, PART_SUFFIX};
use crate::transfer::hash::HashJob;
use crate::transfer::stream::Stream;
use crate::transfer::verified::GROUP;
use std::fs::File;
use std::io;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How often, at most, the record of verified groups is saved between segments.
const RECORD_EVERY: Duration = Duration::from_secs(1);

/// What to fetch, from whom, and where to put it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SwarmSpec {
    /// The session's handle for this download.
    pub job: u64,
    /// The published name asked of the holders.
    pub name: String,
    /// The file name it is saved under in the share dir.
    pub dest: String,
    pub size: u64,
    pub hash: Hash,
    /// Holders of exactly this content, the main one (the user's choice) first; never
    /// this client's own user.
    pub holders: Vec<Holder>,
    /// Segments in file order, small, so the verified prefix grows from the start.
    pub sequential: bool,
    /// Groups of the partial file verified by earlier fetches of this content.
    pub verified: Vec<Range<u64>>,
}

/// What the loop must do for a swarm download.
#[derive(Debug)]
pub enum SwAction {
    /// Connect to holder `source` (without blocking) and hand the stream, with a token
    /// for it, to [`SwarmFetch::dialled`].
    Connect {
        source: SourceId,
    },
    /// Register the stream of holder `source` under its token (READABLE | WRITABLE).
    Register {
        source: SourceId,
    },
    /// The connection under `token` is gone (its stream dropped): free the token.
    Close {
        token: usize,
    },
    /// Run again on the next pass.
    Again,
    /// The groups verified now, for the partial file's record.
    Record(Vec<Range<u64>>),
    /// A holder was dropped for this file (reported when `fault` is [`Fault::Bad`]).
    Dropped {
        user: String,
        why: String,
        fault: Fault,
    },
    Done(Outcome),
}

enum Phase {
    Start,
    CheckExisting(Box<HashJob>),
    Prepare,
    Run { file: File },
    Finished,
}

/// Each holder's part in the download.
#[derive(Debug, Clone, Default)]
struct Source {
    /// A leg was started for it (its ticket is spent after that).
    started: bool,
    /// Why it was dropped, and whether for bad data.
    dropped: Option<(String, bool)>,
    /// Verified bytes it contributed.
    bytes: u64,
}

/// One file from several holders.
pub struct SwarmFetch<S> {
    spec: SwarmSpec,
    share: PathBuf,
    phase: Phase,
    swarm: Swarm,
    sources: Vec<Source>,
    legs: Vec<Leg<S>>,
    /// Bytes verified before this fetch began.
    resumed: u64,
    since: Option<Instant>,
    last_failure: Option<Status>,
    /// When the record was last told what is verified, and how much it was.
    recorded: (Option<Instant>, u64),
}

impl<S: Stream> SwarmFetch<S> {
    /// A download about to start, into the share dir `share` (canonical).
    pub fn new(spec: SwarmSpec, share: &Path) -> SwarmFetch<S> {
        let swarm = Swarm::new(spec.size, GroupSet::new(), spec.sequential);
        SwarmFetch {
            sources: vec![Source::default(); spec.holders.len()],
            spec,
            share: share.to_path_buf(),
            phase: Phase::Start,
            swarm,
            legs: Vec::new(),
            resumed: 0,
            since: None,
            last_failure: None,
            recorded: (None, 0),
        }
    }

    pub fn job(&self) -> u64 {
        self.spec.job
    }

    pub fn spec(&self) -> &SwarmSpec {
        &self.spec
    }

    /// The holder behind `source`.
    pub fn holder(&self, source: SourceId) -> Option<&Holder> {
        self.spec.holders.get(source)
    }

    /// The token of holder `source`'s connection, once it has one.
    pub fn tokens_of(&self, source: SourceId) -> Option<usize> {
        self.legs
            .iter()
            .find(|l| l.source == source && l.token != usize::MAX)
            .map(|l| l.token)
    }

    /// Every connection it holds, with its token (to deregister them all).
    pub fn connections(&mut self) -> impl Iterator<Item = (usize, &mut S)> {
        self.legs
            .iter_mut()
            .filter(|l| l.token != usize::MAX)
            .filter_map(|l| {
                let token = l.token;
                l.stream_mut().map(|s| (token, s))
            })
    }

    /// The stream of holder `source`, for registration.
    pub fn stream_mut(&mut self, source: SourceId) -> Option<&mut S> {
        self.legs
            .iter_mut()
            .find(|l| l.source == source)
            .and_then(Leg::stream_mut)
    }

    /// The groups verified so far.
    pub fn verified_ranges(&self) -> Vec<Range<u64>> {
        self.swarm.verified().ranges().to_vec()
    }

    /// Verified bytes in the partial file.
    pub fn verified_bytes(&self) -> u64 {
        self.bytes_of(self.swarm.verified().len())
    }

    /// Bytes of the file from its start that are verified.
    pub fn verified_prefix(&self) -> u64 {
        self.bytes_of(self.swarm.verified().prefix())
    }

    fn bytes_of(&self, groups: u64) -> u64 {
        (groups * GROUP).min(self.spec.size)
    }

    /// Whether bytes are flowing (for progress).
    pub fn receiving(&self) -> bool {
        matches!(self.phase, Phase::Run { .. })
    }

    /// When bytes began to flow, and the bytes this call received.
    pub fn flow(&self) -> (Option<Instant>, u64) {
        (self.since, self.received())
    }

    fn received(&self) -> u64 {
        self.sources.iter().map(|s| s.bytes).sum::<u64>()
            + self.legs.iter().map(|l| l.bytes).sum::<u64>()
    }

    /// The users contributing now, the most verified bytes first.
    pub fn source_users(&self) -> Vec<String> {
        self.contributions()
            .into_iter()
            .map(|(user, _)| user)
            .collect()
    }

    /// Each holder that contributed verified bytes, with how many, the most first.
    fn contributions(&self) -> Vec<(String, u64)> {
        let mut out: Vec<(String, u64)> = Vec::new();
        for (i, h) in self.spec.holders.iter().enumerate() {
            let leg: u64 = self
                .legs
                .iter()
                .filter(|l| l.source == i)
                .map(|l| l.bytes)
                .sum();
            let bytes = self.sources.get(i).map_or(0, |s| s.bytes) + leg;
            if bytes > 0 {
                out.push((h.user.clone(), bytes));
            }
        }
        out.sort_by_key(|(_, bytes)| std::cmp::Reverse(*bytes));
        out
    }

    fn bad_sources(&self) -> Vec<String> {
        let bad = |(i, s): (usize, &Source)| {
            matches!(s.dropped, Some((_, true)))
                .then(|| self.spec.holders.get(i).map(|h| h.user.clone()))
                .flatten()
        };
        self.sources.iter().enumerate().filter_map(bad).collect()
    }

    fn part(&self) -> String {
        format!("{}{PART_SUFFIX}", self.spec.dest)
    }

    /// The loop's connection to holder `source` under `token`, or why it could not
    /// begin one.
    pub fn dialled(
        &mut self,
        source: SourceId,
        token: usize,
        stream: io::Result<S>,
        now: Instant,
        out: &mut Vec<SwAction>,
    ) {
        let (name, size) = (self.spec.name.clone(), self.spec.size);
        let Some(leg) = self.legs.iter_mut().find(|l| l.source == source) else {
            return;
        };
        match stream {
            Ok(stream) => {
                leg.token = token;
                leg.dialled(stream, &name, size, now);
                out.push(SwAction::Register { source });
            }
            Err(e) => {
                let why = format!(
                    "{} at {} is unreachable: {e}",
                    leg.user(),
                    self.spec.holders[source].addr
                );
                self.drop_gone(source, why, out);
                out.push(SwAction::Again);
            }
        }
    }

    /// Do what can be done now.
    pub fn turn(&mut self, ctx: &mut Ctx, now: Instant, out: &mut Vec<SwAction>) {
        loop {
            let again = match std::mem::replace(&mut self.phase, Phase::Finished) {
                Phase::Start => self.start(ctx, out),
                Phase::CheckExisting(job) => self.check_existing(job, ctx, out),
                Phase::Prepare => self.prepare(ctx, now, out),
                Phase::Run { file } => return self.run(file, ctx, now, out),
                Phase::Finished => return,
            };
            if !again {
                return;
            }
        }
    }

    /// End with a failure; the partial file is kept with what is verified.
    fn fail(&mut self, status: Status, message: String, out: &mut Vec<SwAction>) {
        self.phase = Phase::Finished;
        let verified = self.verified_bytes();
        let kept =
            std::fs::symlink_metadata(self.share.join(self.part())).is_ok_and(|m| m.is_file());
        let (message, partial) = if kept && verified > 0 {
            out.push(SwAction::Record(self.swarm.verified().ranges().to_vec()));
            (
                format!(
                    "{message}; the partial file ({verified} verified bytes) is kept: fetch again to resume"
                ),
                PartialFate::Kept(verified),
            )
        } else {
            (message, PartialFate::None)
        };
        out.push(SwAction::Done(Outcome::Failed {
            status,
            message,
            report: false,
            partial,
            size: self.spec.size,
            hash: self.spec.hash,
        }));
    }

    /// Start the holders that have work, run every leg, and finish when all is verified.
    fn run(&mut self, file: File, ctx: &mut Ctx, now: Instant, out: &mut Vec<SwAction>) {
        for source in 0..self.sources.len() {
            if self.sources[source].started || self.sources[source].dropped.is_some() {
                continue;
            }
            let Some(range) = self.swarm.assign(source, now) else {
                break;
            };
            self.sources[source].started = true;
            let holder = self.spec.holders[source].clone();
            self.legs
                .push(Leg::new(source, usize::MAX, holder, range, now));
            out.push(SwAction::Connect { source });
        }
        let mut ended = Vec::new();
        let mut io = LegIo {
            file: &file,
            swarm: &mut self.swarm,
            name: &self.spec.name,
            size: self.spec.size,
            hash: &self.spec.hash,
            buf: ctx.buf,
            budget: ctx.read_budget,
        };
        let mut record = false;
        for leg in &mut self.legs {
            match leg.turn(&mut io, now) {
                LegStep::Wait => {}
                LegStep::Again => out.push(SwAction::Again),
                LegStep::Segment => {
                    record = true;
                    out.push(SwAction::Again);
                }
                LegStep::Ended(end) => ended.push((leg.source, end)),
            }
        }
        let mut write_failure = None;
        for (source, end) in ended {
            if let LegEnd::Write(status, why) = &end {
                write_failure = Some((*status, why.clone()));
            }
            self.end_leg(source, end, out);
            record = true;
            // Its segment is free: an idle holder may take it on the next turn.
            out.push(SwAction::Again);
        }
        // After a segment, and at least every second while groups verify (a killed
        // client loses at most that much).
        let verified = self.swarm.verified().len();
        let stale = self
            .recorded
            .0
            .is_none_or(|at| now.saturating_duration_since(at) >= RECORD_EVERY);
        if record || (stale && verified != self.recorded.1) {
            self.recorded = (Some(now), verified);
            out.push(SwAction::Record(self.verified_ranges()));
        }
        if let Some((status, why)) = write_failure {
            self.close_legs(out);
            return self.fail(status, why, out);
        }
        if self.swarm.is_done() {
            drop(file);
            self.close_legs(out);
            return self.finish(ctx, out);
        }
        let can_start = (0..self.sources.len())
            .any(|s| !self.sources[s].started && self.sources[s].dropped.is_none());
        if self.legs.is_empty() && !can_start {
            return self.give_up(out);
        }
        if self.legs.is_empty() && can_start {
            out.push(SwAction::Again);
        }
        self.phase = Phase::Run { file };
    }

    /// Holder `source`'s leg ended: its bytes are kept, its unfinished segment is free.
    fn end_leg(&mut self, source: SourceId, end: LegEnd, out: &mut Vec<SwAction>) {
        self.swarm.release(source);
        let Some(i) = self.legs.iter().position(|l| l.source == source) else {
            return;
        };
        let leg = self.legs.remove(i);
        if leg.token != usize::MAX {
            out.push(SwAction::Close { token: leg.token });
        }
        let user = leg.user().to_owned();
        let Some(state) = self.sources.get_mut(source) else {
            return;
        };
        state.bytes += leg.bytes;
        if let LegEnd::Dropped { why, fault } = end {
            self.last_failure = Some(match fault {
                Fault::Bad => Status::INTEGRITY,
                Fault::Gone => Status::PEER_UNREACHABLE,
                Fault::Changed => Status::NO_FILE,
                Fault::WrongPeer => Status::WRONG_PEER,
            });
            state.dropped = Some((why.clone(), fault == Fault::Bad));
            out.push(SwAction::Dropped { user, why, fault });
        }
    }

    /// Holder `source` went away (unreachable, stalled): dropped without blame.
    fn drop_gone(&mut self, source: SourceId, why: String, out: &mut Vec<SwAction>) {
        let fault = Fault::Gone;
        self.end_leg(source, LegEnd::Dropped { why, fault }, out);
    }

    fn close_legs(&mut self, out: &mut Vec<SwAction>) {
        for leg in std::mem::take(&mut self.legs) {
            if let Some(state) = self.sources.get_mut(leg.source) {
                state.bytes += leg.bytes;
            }
            if leg.token != usize::MAX {
                out.push(SwAction::Close { token: leg.token });
            }
        }
    }

    /// No holder is left to fetch the rest from.
    fn give_up(&mut self, out: &mut Vec<SwAction>) {
        let whys: Vec<String> = self
            .sources
            .iter()
            .filter_map(|s| s.dropped.as_ref().map(|(why, _)| why.clone()))
            .collect();
        let status = self.last_failure.unwrap_or(Status::PEER_UNREACHABLE);
        let left = self.spec.size - self.verified_bytes();
        let message = match whys.as_slice() {
            // One holder: its own reason says it all.
            [why] if self.sources.len() == 1 => why.clone(),
            [] => format!("no holder could serve {}", self.spec.name),
            _ => format!(
                "no holder left for the rest of {} ({left} bytes): {}",
                self.spec.name,
                whys.join("; ")
            ),
        };
        self.fail(status, message, out);
    }

    /// Drop the holders that sent nothing for `stall` (their segments go to others).
    pub fn expire(&mut self, now: Instant, stall: Duration, out: &mut Vec<SwAction>) {
        let secs = stall.as_secs_f64();
        let stalled: Vec<(SourceId, String, Status)> = self
            .legs
            .iter()
            .filter(|l| !l.idle() && now.saturating_duration_since(l.last_progress) >= stall)
            .map(|l| {
                if l.reached() {
                    let why = format!(
                        "the transfer from {} stalled: nothing for {secs} s",
                        l.user()
                    );
                    (l.source, why, Status::TIMEOUT)
                } else {
                    let why = format!("{} is unreachable: no connection within {secs} s", l.user());
                    (l.source, why, Status::PEER_UNREACHABLE)
                }
            })
            .collect();
        if stalled.is_empty() {
            return;
        }
        for (source, why, status) in stalled {
            self.drop_gone(source, why, out);
            self.last_failure = Some(status);
        }
        out.push(SwAction::Again);
    }
}

mod local;
#[cfg(test)]
mod tests;
