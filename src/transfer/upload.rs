//! Serving one published file to one peer: read its `Get`, answer, then stream the
//! bytes (`sendfile` on a plain socket), a bounded slice per loop turn (and an
//! optional rate), over any [`Stream`] the loop accepted — or, for a `GetRange`, the
//! range with the tree nodes that prove it (`stream::ProofSource`). After a range the
//! connection stays open for the fetcher's next `GetRange` of the same file (no ticket:
//! the connection was admitted once), up to [`max_ranges`] of them.
//!
//! What to answer is decided by the pure [`decide`] from the publication list and the
//! file's current stamp, the pace by the pure [`allowance`]; the [`Upload`] connection
//! only moves bytes.

use super::hash::Stamp;
use super::stream::{read_some, write_out, ProofSource, Sent, Source, Stream};
use super::verified::encode::group_range;
use crate::output::{Flow, Row};
use crate::proto::message::Hash;
use crate::proto::peer::{self, Answer, Request, MAX_PEER_FRAME};
use crate::proto::status::Status;
use std::fs::File;
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

#[cfg(test)]
mod tests;

/// Limits of every upload.
#[derive(Debug, Clone, Copy)]
pub struct UploadConfig {
    /// Bytes sent per upload per loop turn, so uploads share fairly and commands stay live.
    pub slice: usize,
    /// Bytes per second per upload (0: unlimited).
    pub rate: u64,
}

/// The publication asked for and how its file is on disk now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disk {
    /// Size and modification time match what was hashed.
    Same,
    /// The file changed since it was hashed.
    Changed,
    /// The file is gone or cannot be opened beneath the share dir.
    Missing,
}

/// What to do with a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Answer 200 and stream.
    Serve,
    /// Answer this error and close.
    Refuse(Status, String),
    /// Ask the session to hash the file again and re-announce it, then decide again.
    Refresh,
    /// A refresh is under way: decide again when it is done.
    Wait,
}

/// Decide a request for `name` from `offset` (to `range_end`, for a `GetRange`).
///
/// `published`: the publication's size, if `name` is in the list. `refreshing`: the
/// session is hashing or re-announcing it now. `asked`: this upload already asked for
/// a refresh (so a file still changed afterwards could not be re-announced).
pub fn decide(
    name: &str,
    offset: u64,
    range_end: Option<u64>,
    published: Option<u64>,
    disk: Disk,
    refreshing: bool,
    asked: bool,
) -> Decision {
    let Some(size) = published else {
        return Decision::Refuse(Status::NO_FILE, format!("{name} is not published here"));
    };
    match disk {
        Disk::Missing => Decision::Refuse(
            Status::NO_FILE,
            format!("{name} is no longer available here"),
        ),
        Disk::Changed if refreshing => Decision::Wait,
        Disk::Changed if !asked => Decision::Refresh,
        Disk::Changed => Decision::Refuse(
            Status::UNAVAILABLE,
            format!("{name} changed on disk and could not be re-announced; try again later"),
        ),
        Disk::Same if offset > size => Decision::Refuse(
            Status::BAD_REQUEST,
            format!("offset {offset} is beyond the end of {name} ({size} bytes)"),
        ),
        Disk::Same => match range_end.map(|end| group_range(size, offset..end)) {
            Some(Err(e)) => Decision::Refuse(Status::BAD_REQUEST, format!("{name}: {e}")),
            _ => Decision::Serve,
        },
    }
}

/// Most ranges one connection may ask for, for a file of `size` bytes: twice its groups
/// (a fetcher asks for each group once, and once more at most when it hands a slow
/// holder's tail to a faster one), and a few more for a tiny file.
pub fn max_ranges(size: u64) -> u64 {
    2 * super::verified::groups(size) + 16
}

/// Why a follow-up request on a connection that was served a range is refused, if it is:
/// it must be a `GetRange` of the same file, without a ticket.
fn follow_up_refusal(request: &Request, name: Option<&str>) -> Option<&'static str> {
    if request.range_end.is_none() {
        Some("after a range, only another range of the same file may be asked for")
    } else if name != Some(request.name.as_str()) {
        Some("a connection serves ranges of one file only")
    } else if !request.ticket.is_empty() {
        Some("a follow-up range carries no ticket: the connection was admitted once")
    } else {
        None
    }
}

/// What the loop must do next for an upload.
#[derive(Debug, PartialEq, Eq)]
pub enum UpStep {
    /// Wait for readiness (or a deadline).
    Wait,
    /// The slice is spent with more to send: run again on the next pass.
    Again,
    /// Rate-limited: run again at this instant.
    Sleep(Instant),
    /// A request arrived: decide it, then call [`Upload::serve`], [`Upload::refuse`] or
    /// leave it waiting for a refresh.
    Decide,
    /// Every byte was sent and the connection closed (after its last range, by the
    /// fetcher).
    Served { bytes: u64 },
    /// The file changed while it was being served: the connection is closed and the
    /// publication must be hashed again before it is served again.
    Changed,
    /// The connection ended otherwise (refused, bad input, peer gone).
    Closed(String),
}

/// The file part of an upload: the raw bytes (`Get`) or a range with its proof
/// (`GetRange`), and the stamp the file must keep while it is sent.
struct Body {
    bytes: BodyBytes,
    stamp: Stamp,
    start: u64,
    /// Bytes of the file it carries (a range's, without its proof).
    data: u64,
}

enum BodyBytes {
    Raw(Source),
    Proof(Box<ProofSource>),
}

impl Body {
    fn file(&self) -> &File {
        match &self.bytes {
            BodyBytes::Raw(source) => source.file(),
            BodyBytes::Proof(proof) => proof.file(),
        }
    }

    fn done(&self) -> bool {
        match &self.bytes {
            BodyBytes::Raw(source) => source.done(),
            BodyBytes::Proof(proof) => proof.done(),
        }
    }

    /// Bytes sent so far.
    fn moved(&self) -> u64 {
        match &self.bytes {
            BodyBytes::Raw(source) => source.offset() - self.start,
            BodyBytes::Proof(proof) => proof.moved(),
        }
    }

    /// Bytes it sends in all.
    fn total(&self) -> u64 {
        match &self.bytes {
            BodyBytes::Raw(source) => source.end() - self.start,
            BodyBytes::Proof(proof) => proof.total(),
        }
    }

    fn send(&mut self, out: &mut impl Stream, budget: usize) -> io::Result<Sent> {
        match &mut self.bytes {
            BodyBytes::Raw(source) => source.send(out, budget),
            BodyBytes::Proof(proof) => proof.send(out, budget),
        }
    }
}

enum State {
    /// Reading the `Get` frame.
    Request { buf: Vec<u8> },
    /// Waiting for the loop's decision (possibly for a refresh).
    Deciding { request: Request, asked: bool },
    /// Writing the answer, then the body if any; `None` closes after the answer.
    Sending {
        head: Vec<u8>,
        written: usize,
        body: Option<Body>,
        refusal: Option<String>,
    },
    /// Closed.
    Done,
}

/// How many bytes an upload may send now: its slice, within its rate when it has one
/// (`sent` bytes since `since`, a burst of one slice or one second's worth). `Err` is
/// when to try again: the rate allows nothing before it.
pub fn allowance(
    config: &UploadConfig,
    since: Instant,
    sent: u64,
    now: Instant,
) -> Result<usize, Instant> {
    let budget = config.slice.max(1);
    if config.rate == 0 {
        return Ok(budget);
    }
    let burst = (config.slice as u64).min(config.rate).max(1);
    let elapsed = now.saturating_duration_since(since).as_secs_f64();
    let allowed = (config.rate as f64 * elapsed) as u64 + burst;
    let left = allowed.saturating_sub(sent);
    if left == 0 {
        // Wake when a twentieth of a second's worth is allowed again.
        let at = (sent + config.rate / 20 + 1).saturating_sub(burst) as f64 / config.rate as f64;
        return Err(since + Duration::from_secs_f64(at));
    }
    Ok(budget.min(usize::try_from(left).unwrap_or(usize::MAX)))
}

/// One peer connection on the peer listener, over the stream the loop accepted.
pub struct Upload<S> {
    stream: S,
    peer: SocketAddr,
    state: State,
    opened: Instant,
    last_progress: Instant,
    streaming_since: Option<Instant>,
    name: Option<String>,
    /// The user the request's fetch ticket was issued to, once the holder admitted it.
    fetcher: Option<String>,
    /// Our own user name, named in every answer (see [`Answer::user`]).
    me: String,
    writable_armed: bool,
    /// Ranges served on this connection so far, the file bytes they carried, and the
    /// bytes they took on the wire (proof included: what the rate counts).
    ranges: u64,
    served: u64,
    sent_before: u64,
    /// Bytes read after the request's frame (a fetcher's next range, pipelined).
    early: Vec<u8>,
}

impl<S: Stream> Upload<S> {
    /// A connection just accepted (registered READABLE) by the client of user `me` (the
    /// one it is logged in as, or was last; empty if never).
    pub fn new(stream: S, peer: SocketAddr, me: &str, now: Instant) -> Upload<S> {
        Upload {
            stream,
            peer,
            state: State::Request { buf: Vec::new() },
            opened: now,
            last_progress: now,
            streaming_since: None,
            name: None,
            fetcher: None,
            me: me.to_owned(),
            writable_armed: false,
            ranges: 0,
            served: 0,
            sent_before: 0,
            early: Vec::new(),
        }
    }

    /// The stream, for registration.
    pub fn stream_mut(&mut self) -> &mut S {
        &mut self.stream
    }

    /// The stream (for what its TLS session showed).
    pub fn stream(&self) -> &S {
        &self.stream
    }

    /// The request waiting for a decision, and whether a refresh was already asked for.
    pub fn pending(&self) -> Option<(&Request, bool)> {
        match &self.state {
            State::Deciding { request, asked } => Some((request, *asked)),
            _ => None,
        }
    }

    /// Remember that a refresh was asked for this request.
    pub fn asked_refresh(&mut self) {
        if let State::Deciding { asked, .. } = &mut self.state {
            *asked = true;
        }
    }

    /// Who the peer is: the user its fetch ticket names once admitted, else its address.
    pub fn who(&self) -> String {
        match &self.fetcher {
            Some(fetcher) => fetcher.clone(),
            None => self.peer.to_string(),
        }
    }

    /// The user admitted by the request's ticket, if it was.
    pub fn fetcher(&self) -> Option<&str> {
        self.fetcher.as_deref()
    }

    /// The request's ticket let `fetcher` in (it is decided once, however often the
    /// request is decided again after a refresh).
    pub fn admit(&mut self, fetcher: String) {
        self.fetcher = Some(fetcher);
    }

    /// The published name asked for, once known.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// Whether this connection takes an upload slot: only once its request is valid
    /// (waiting for the decision, or being served), not while it has sent nothing.
    pub fn holds_slot(&self) -> bool {
        matches!(
            self.state,
            State::Deciding { .. } | State::Sending { body: Some(_), .. }
        )
    }

    /// Whether the first request has not arrived yet.
    pub fn awaiting_request(&self) -> bool {
        matches!(self.state, State::Request { .. }) && self.ranges == 0
    }

    /// Whether it is answering a refusal, to close after it.
    pub fn refusing(&self) -> bool {
        matches!(self.state, State::Sending { body: None, .. })
    }

    /// Answer 200 with `size` and `hash`, then stream `file` from the request's offset
    /// — for a `GetRange`, the range with its proof, its parents read from `outboard`
    /// (the stored outboard of this content; required then).
    pub fn serve(
        &mut self,
        file: File,
        outboard: Option<File>,
        stamp: Stamp,
        size: u64,
        hash: Hash,
    ) {
        let (offset, range_end) = match &self.state {
            State::Deciding { request, .. } => (request.offset, request.range_end),
            _ => return,
        };
        if range_end.is_some() && self.ranges >= max_ranges(size) {
            let why = format!("more than {} ranges on one connection", max_ranges(size));
            return self.refuse(Status::RATE_LIMITED, &why);
        }
        let data = range_end.unwrap_or(size).saturating_sub(offset);
        let bytes = match (range_end, outboard) {
            (None, _) => BodyBytes::Raw(Source::new(file, offset, size)),
            (Some(end), Some(outboard)) => match group_range(size, offset..end) {
                Ok(groups) => {
                    let proof = ProofSource::new(file, outboard, size, groups);
                    BodyBytes::Proof(Box::new(proof))
                }
                Err(e) => return self.refuse(Status::BAD_REQUEST, &e.to_string()),
            },
            (Some(_), None) => return self.refuse(Status::INTERNAL, "no outboard"),
        };
        let mut head = Vec::new();
        peer::encode_answer(
            &Answer {
                status: Status::OK,
                message: "ok".to_owned(),
                size,
                hash,
                user: self.me.clone(),
            },
            &mut head,
        );
        self.state = State::Sending {
            head,
            written: 0,
            body: Some(Body {
                bytes,
                stamp,
                start: offset,
                data,
            }),
            refusal: None,
        };
    }

    /// Answer an error and close.
    pub fn refuse(&mut self, status: Status, message: &str) {
        let mut head = Vec::new();
        peer::encode_answer(&Answer::refuse(status, message, &self.me), &mut head);
        self.state = State::Sending {
            head,
            written: 0,
            body: None,
            refusal: Some(format!("refused: {} {message}", status.0)),
        };
    }

    /// Whether the loop must ask for WRITABLE now: true once, when there is first
    /// something to write.
    pub fn arm_writable(&mut self) -> bool {
        let want = matches!(self.state, State::Sending { .. }) && !self.writable_armed;
        self.writable_armed |= want;
        want
    }

    /// Why this upload should be closed now, if it should: no handshake by
    /// `handshake` after the connect, or no byte accepted for `stall`.
    pub fn expired(&self, now: Instant, handshake: Duration, stall: Duration) -> Option<String> {
        match &self.state {
            State::Request { .. }
                if self.ranges > 0
                    && now.saturating_duration_since(self.last_progress) >= stall =>
            {
                Some("the fetcher asked for no further range in time".to_owned())
            }
            State::Request { .. }
                if self.ranges == 0 && now.saturating_duration_since(self.opened) >= handshake =>
            {
                Some("no handshake in time".to_owned())
            }
            State::Sending { .. } if now.saturating_duration_since(self.last_progress) >= stall => {
                Some("the peer stopped reading".to_owned())
            }
            _ => None,
        }
    }

    /// The `transfers` row, once bytes flow.
    pub fn row(&self, now: Instant) -> Option<Row> {
        match &self.state {
            State::Sending {
                body: Some(body), ..
            } if matches!(body.bytes, BodyBytes::Raw(_)) => Some(self.row_of(
                body.start + body.moved(),
                body.start + body.total(),
                body.moved(),
                now,
            )),
            // A connection of ranges: the file bytes it served, between ranges too.
            State::Sending { body, .. } => {
                let moved = body.as_ref().map_or(0, |b| b.moved().min(b.data));
                let size = self.served + body.as_ref().map_or(0, |b| b.data);
                Some(self.row_of(self.served + moved, size, self.served + moved, now))
            }
            State::Request { .. } | State::Deciding { .. } if self.ranges > 0 => {
                Some(self.row_of(self.served, self.served, self.served, now))
            }
            _ => None,
        }
    }

    fn row_of(&self, bytes: u64, size: u64, moved: u64, now: Instant) -> Row {
        let flow = Flow {
            bytes,
            size,
            moved,
            since: self.streaming_since,
        };
        Row::new(
            "upload",
            self.name.as_deref().unwrap_or(""),
            &self.who(),
            flow,
            now,
        )
    }

    /// Do what can be done now: read the request, or send within the slice and the rate.
    pub fn turn(&mut self, scratch: &mut [u8], config: &UploadConfig, now: Instant) -> UpStep {
        // What the stream holds itself (a TLS stream's handshake records) goes out on
        // any wake-up, the WRITABLE one after a full socket included.
        let _ = self.stream.flush();
        match &mut self.state {
            State::Request { .. } => self.read_request(scratch),
            State::Deciding { .. } => UpStep::Wait,
            State::Sending { .. } => self.send(config, now),
            State::Done => UpStep::Closed("closed".to_owned()),
        }
    }

    fn read_request(&mut self, scratch: &mut [u8]) -> UpStep {
        let State::Request { buf } = &mut self.state else {
            return UpStep::Wait;
        };
        // A whole request fits in this cap, so reading to it (or to WouldBlock) is bounded.
        let cap = 4 + MAX_PEER_FRAME;
        let mut eof = false;
        while buf.len() < cap {
            let want = (cap - buf.len()).min(scratch.len());
            let Some(chunk) = scratch.get_mut(..want) else {
                return UpStep::Closed("no read buffer".to_owned());
            };
            match read_some(&mut self.stream, chunk) {
                Ok(Some(0)) => {
                    eof = true;
                    break;
                }
                Ok(Some(n)) => buf.extend_from_slice(chunk.get(..n).unwrap_or_default()),
                Ok(None) => break,
                Err(e) => return UpStep::Closed(e.to_string()),
            }
        }
        match peer::parse_request(buf) {
            Ok(Some((used, request))) => {
                self.early = buf.split_off(used.min(buf.len()));
                if self.ranges > 0 {
                    if let Some(why) = follow_up_refusal(&request, self.name.as_deref()) {
                        self.refuse(Status::BAD_REQUEST, why);
                        return UpStep::Again;
                    }
                }
                self.name = Some(request.name.clone());
                self.state = State::Deciding {
                    request,
                    asked: false,
                };
                UpStep::Decide
            }
            // The fetcher is done with its ranges.
            Ok(None) if eof && self.ranges > 0 && buf.is_empty() => {
                UpStep::Served { bytes: self.served }
            }
            Ok(None) if eof => UpStep::Closed("closed before the handshake".to_owned()),
            Ok(None) => UpStep::Wait,
            Err(e) => {
                self.refuse(e.status, &e.message);
                UpStep::Again
            }
        }
    }

    fn send(&mut self, config: &UploadConfig, now: Instant) -> UpStep {
        let State::Sending {
            head,
            written,
            body,
            refusal,
        } = &mut self.state
        else {
            return UpStep::Wait;
        };
        // A refusal made at once (a peer the listener cannot take) waits for the
        // stream's handshake: written before it, the answer would be lost at the close.
        match self.stream.handshake() {
            Ok(true) => {}
            Ok(false) => return UpStep::Wait,
            Err(e) => return UpStep::Closed(e.to_string()),
        }
        match write_out(&mut self.stream, head, written) {
            Ok(true) => {}
            Ok(false) => return UpStep::Wait,
            Err(e) if e.kind() == io::ErrorKind::WriteZero => {
                return UpStep::Closed("the peer went away".to_owned())
            }
            Err(e) => return UpStep::Closed(e.to_string()),
        }
        let Some(body) = body.as_ref() else {
            let why = refusal.take().unwrap_or_else(|| "refused".to_owned());
            let _ = self.stream.close_write();
            self.state = State::Done;
            return UpStep::Closed(why);
        };
        // The rate counts every range of the connection since its first.
        let since = *self.streaming_since.get_or_insert(now);
        match allowance(config, since, self.sent_before + body.moved(), now) {
            Ok(budget) => self.send_body(budget, now),
            Err(at) => {
                self.last_progress = now;
                UpStep::Sleep(at)
            }
        }
    }

    /// Send up to `budget` bytes of the file, unless it changed since it was stamped.
    fn send_body(&mut self, budget: usize, now: Instant) -> UpStep {
        let State::Sending {
            body: Some(body), ..
        } = &mut self.state
        else {
            return UpStep::Wait;
        };
        if !body.done() {
            // A file that changed since it was stamped must not be served under the old hash.
            match Stamp::of(body.file()) {
                Ok(stamp) if stamp == body.stamp => {}
                _ => {
                    self.state = State::Done;
                    return UpStep::Changed;
                }
            }
        }
        match body.send(&mut self.stream, budget) {
            // The file is shorter than announced.
            Ok(Sent::Short(_)) => {
                self.state = State::Done;
                return UpStep::Changed;
            }
            Ok(sent) => {
                if matches!(sent, Sent::Moved(n) | Sent::Blocked(n) if n > 0) {
                    self.last_progress = now;
                }
                if matches!(sent, Sent::Blocked(_)) {
                    return UpStep::Wait;
                }
            }
            Err(e) => return UpStep::Closed(format!("the peer went away: {e}")),
        }
        if body.done() {
            let bytes = body.total();
            if matches!(body.bytes, BodyBytes::Proof(_)) {
                // The connection stays for the fetcher's next range.
                self.ranges += 1;
                self.served += body.data;
                self.sent_before += bytes;
                self.last_progress = now;
                self.state = State::Request {
                    buf: std::mem::take(&mut self.early),
                };
                return UpStep::Again;
            }
            let _ = self.stream.close_write();
            self.state = State::Done;
            return UpStep::Served { bytes };
        }
        UpStep::Again
    }
}
