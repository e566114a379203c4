//! Streaming a whole tree (one file, or a directory with everything beneath it) over a
//! store connection, for both directions and both roles: the client's upload and the
//! hub's download use [`TreeSender`]; the hub's upload and the client's download use
//! [`TreeReceiver`].
//!
//! The sender turns a list of items into `Dir` / `File` frames, raw bytes (small files
//! batched through one buffer, large ones with `sendfile` in bounded slices) and `Sum`
//! frames; a hash it does not know yet is computed in slices while the bytes go out.
//! The receiver checks every path with [`check_path`](crate::proto::store::check_path),
//! creates it beneath its root directory with the kernel refusing anything that leaves
//! it (`openat2` `RESOLVE_BENEATH`, no symlinks), writes and hashes the bytes, and
//! compares each file's size and hash before it counts it. A protocol violation is an
//! error with the status to report; nothing is written outside the root.

use super::hash::{HashJob, HashStep};
use super::stream::{write_status, FillError, Filled, Sent, Sink, Source};
use crate::proto::codec::StatusError;
use crate::proto::message::{Hash, StoreKind};
use crate::proto::status::Status;
use crate::proto::store::{self, StoreMsg, MAX_STORE_FRAME};
use crate::sys::{self, OpenFlags};
use mio::net::TcpStream;
use std::collections::HashSet;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

/// Files up to this size travel through the sender's buffer instead of `sendfile`.
const SMALL_FILE: u64 = 64 * 1024;
/// The sender writes its buffer once it holds this much.
const FLUSH_AT: usize = 256 * 1024;
/// Most bytes of a frame a receiver keeps while it waits for the rest.
const FRAME_CAP: usize = 4 + MAX_STORE_FRAME;

/// One item of a tree: its path on the wire (`<entry>/…`), what it is, its size and,
/// when known, its BLAKE3 hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeItem {
    pub path: String,
    pub kind: StoreKind,
    pub size: u64,
    pub hash: Option<Hash>,
}

/// Files, directories and bytes of a tree.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub files: u64,
    pub dirs: u64,
    pub bytes: u64,
}

impl Totals {
    /// The totals of `items`.
    pub fn of<'a>(items: impl IntoIterator<Item = &'a TreeItem>) -> Totals {
        let mut t = Totals::default();
        for item in items {
            match item.kind {
                StoreKind::File => {
                    t.files += 1;
                    t.bytes += item.size;
                }
                StoreKind::Dir => t.dirs += 1,
            }
        }
        t
    }
}

/// Adds one item to a tree digest (see [`tree_digest`]).
fn digest_item(
    h: &mut blake3::Hasher,
    path: &str,
    kind: StoreKind,
    size: u64,
    hash: Option<&Hash>,
) {
    h.update(&(path.len() as u64).to_be_bytes());
    h.update(path.as_bytes());
    h.update(&[kind as u8]);
    h.update(&size.to_be_bytes());
    h.update(hash.unwrap_or(&[0; 32]));
}

/// The BLAKE3 digest of a tree as it travels: every item's path, kind, size and hash in
/// order. The sender of an upload and the store compute the same one, so a client can
/// tell whether the entry the hub holds is the one it sent.
pub fn tree_digest(items: &[TreeItem]) -> Hash {
    let mut h = blake3::Hasher::new();
    for item in items {
        digest_item(&mut h, &item.path, item.kind, item.size, item.hash.as_ref());
    }
    *h.finalize().as_bytes()
}

fn lost(e: &io::Error) -> StatusError {
    StatusError::new(Status::PEER_UNREACHABLE, format!("connection lost: {e}"))
}

/// What the loop must do next for a sender or receiver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Wait for readiness.
    Wait,
    /// The turn's budget is spent with more to do: run again on the next pass.
    Again,
    /// The tree is complete (sender: `End` written; receiver: `End` received and checked).
    Done,
}

/// How a file being sent learns its hash.
enum BodyHash {
    Known(Hash),
    Hashing(Box<HashJob>),
}

/// A large file on its way out.
struct Body {
    path: String,
    source: Source,
    hash: BodyHash,
}

/// Streams a list of items (their contents opened beneath a root directory).
pub struct TreeSender {
    /// Each item and the path of its content beneath the root directory.
    items: Vec<(TreeItem, PathBuf)>,
    next: usize,
    out: Vec<u8>,
    out_pos: usize,
    body: Option<Body>,
    totals: Totals,
    end_queued: bool,
    moved: u64,
    /// The [`tree_digest`] of what was sent so far.
    digest: blake3::Hasher,
}

impl TreeSender {
    /// A sender of `items`, whose contents are at the paired paths beneath the root
    /// directory given to [`TreeSender::turn`]. Directories must come before what is
    /// beneath them.
    pub fn new(items: Vec<(TreeItem, PathBuf)>) -> TreeSender {
        TreeSender {
            items,
            next: 0,
            out: Vec::new(),
            out_pos: 0,
            body: None,
            totals: Totals::default(),
            end_queued: false,
            moved: 0,
            digest: blake3::Hasher::new(),
        }
    }

    /// The [`tree_digest`] of what was sent (the whole tree once [`Step::Done`]).
    pub fn digest(&self) -> Hash {
        *self.digest.finalize().as_bytes()
    }

    /// Bytes of file content handed to the socket so far.
    pub fn moved(&self) -> u64 {
        self.moved
    }

    /// Queue a frame (it goes out with the next flush).
    pub fn queue(&mut self, msg: &StoreMsg) {
        store::encode(msg, &mut self.out);
    }

    /// Write the buffer; false if the socket filled first.
    fn flush(&mut self, stream: &mut TcpStream) -> Result<bool, StatusError> {
        while self.out_pos < self.out.len() {
            match stream.write(&self.out[self.out_pos..]) {
                Ok(0) => return Err(lost(&io::ErrorKind::WriteZero.into())),
                Ok(n) => self.out_pos += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(lost(&e)),
            }
        }
        self.out.clear();
        self.out_pos = 0;
        Ok(true)
    }

    /// Send within `budget` bytes of file content; `hash_slice` bytes are hashed per step.
    pub fn turn(
        &mut self,
        stream: &mut TcpStream,
        root: &File,
        budget: usize,
    ) -> Result<Step, StatusError> {
        let mut spent = 0usize;
        loop {
            if self.body.is_some() {
                if !self.flush(stream)? {
                    return Ok(Step::Wait);
                }
                match self.body_turn(stream, budget, &mut spent)? {
                    Some(step) => return Ok(step),
                    None => continue,
                }
            }
            if spent >= budget {
                return Ok(if self.flush(stream)? {
                    Step::Again
                } else {
                    Step::Wait
                });
            }
            if self.out.len() - self.out_pos >= FLUSH_AT && !self.flush(stream)? {
                return Ok(Step::Wait);
            }
            if let Some((item, source)) = self.items.get(self.next).cloned() {
                self.next += 1;
                spent += self.start_item(item, &source, root)?;
                continue;
            }
            if !self.end_queued {
                self.end_queued = true;
                let t = self.totals;
                self.queue(&StoreMsg::End {
                    files: t.files,
                    dirs: t.dirs,
                    bytes: t.bytes,
                });
            }
            return Ok(if self.flush(stream)? {
                Step::Done
            } else {
                Step::Wait
            });
        }
    }

    /// Put an item's frames (and a small file's bytes) in the buffer; returns the bytes of content added.
    fn start_item(
        &mut self,
        item: TreeItem,
        source: &Path,
        root: &File,
    ) -> Result<usize, StatusError> {
        if item.kind == StoreKind::Dir {
            self.totals.dirs += 1;
            digest_item(&mut self.digest, &item.path, item.kind, 0, None);
            self.queue(&StoreMsg::Dir { path: item.path });
            return Ok(0);
        }
        let cannot = |e: io::Error| {
            StatusError::new(
                Status::NO_FILE,
                format!("cannot read {}: {e}", source.display()),
            )
        };
        let file = sys::open_beneath(root, source, OpenFlags::ReadOnly).map_err(cannot)?;
        let size = file.metadata().map_err(cannot)?.len();
        if size != item.size {
            return Err(StatusError::new(
                Status::INTEGRITY,
                format!(
                    "{} changed since the transfer started ({} bytes, now {size})",
                    source.display(),
                    item.size
                ),
            ));
        }
        self.totals.files += 1;
        self.totals.bytes += size;
        self.queue(&StoreMsg::File {
            path: item.path.clone(),
            size,
        });
        if size <= SMALL_FILE {
            let start = self.out.len();
            let len =
                usize::try_from(size).expect("a file of at most SMALL_FILE bytes fits in memory");
            self.out.resize(start + len, 0);
            let mut reader = &file;
            let data = &mut self.out[start..];
            reader.read_exact(data).map_err(cannot)?;
            let hash = item
                .hash
                .unwrap_or_else(|| *blake3::hash(&self.out[start..]).as_bytes());
            digest_item(&mut self.digest, &item.path, item.kind, size, Some(&hash));
            self.queue(&StoreMsg::Sum { hash });
            self.moved += size;
            return Ok(len);
        }
        let hash = match item.hash {
            Some(h) => BodyHash::Known(h),
            None => {
                let copy = file.try_clone().map_err(cannot)?;
                BodyHash::Hashing(Box::new(HashJob::new(copy).map_err(cannot)?))
            }
        };
        self.body = Some(Body {
            path: item.path,
            source: Source::new(file, 0, size),
            hash,
        });
        Ok(0)
    }

    /// One step of the large file in flight: `None` when it is finished.
    fn body_turn(
        &mut self,
        stream: &mut TcpStream,
        budget: usize,
        spent: &mut usize,
    ) -> Result<Option<Step>, StatusError> {
        let Some(body) = self.body.as_mut() else {
            return Ok(None);
        };
        if let BodyHash::Hashing(job) = &mut body.hash {
            match job.step(budget.max(1)) {
                Ok(HashStep::Progress { .. }) => {}
                Ok(HashStep::Done { hash, .. }) => body.hash = BodyHash::Known(hash),
                Err(e) => {
                    return Err(StatusError::new(
                        Status::INTEGRITY,
                        format!("{}: {e}", body.path),
                    ))
                }
            }
        }
        if !body.source.done() {
            let room = budget.saturating_sub(*spent).max(1);
            let sent = body.source.send(stream, room).map_err(|e| lost(&e))?;
            let n = match sent {
                Sent::Moved(n) | Sent::Blocked(n) => n,
                Sent::Short(_) => {
                    return Err(StatusError::new(
                        Status::INTEGRITY,
                        format!("{} shrank while it was being sent", body.path),
                    ))
                }
            };
            *spent += n;
            self.moved += n as u64;
            if matches!(sent, Sent::Blocked(_)) {
                return Ok(Some(Step::Wait));
            }
        }
        if body.source.done() {
            if let BodyHash::Known(hash) = body.hash {
                let size = body.source.end();
                digest_item(
                    &mut self.digest,
                    &body.path,
                    StoreKind::File,
                    size,
                    Some(&hash),
                );
                self.body = None;
                self.queue(&StoreMsg::Sum { hash });
                return Ok(None);
            }
        }
        // The budget is spent, or the bytes are out and the hash is still being computed.
        Ok(Some(Step::Again))
    }
}

/// What a receiver accepts.
#[derive(Debug, Clone)]
pub struct RxLimits {
    /// The entry's name: every path starts with it.
    pub root: String,
    /// One file, or a directory tree.
    pub kind: StoreKind,
    /// Largest file (0: no limit); over it is 413.
    pub max_file: u64,
    /// Most bytes in all; over it is 413.
    pub max_bytes: u64,
    /// Most items (files and directories); over it is 413.
    pub max_items: u64,
}

enum RxState {
    /// Reading frames.
    Frames,
    /// Reading a file's raw bytes (the sink carries a BLAKE3 hasher, about 2 KiB).
    Body {
        path: String,
        size: u64,
        sink: Box<Sink>,
    },
    /// The file's bytes are in: its `Sum` frame must come next.
    AwaitSum { path: String, size: u64, hash: Hash },
    /// `End` was received and checked.
    Ended,
}

/// Receives a tree beneath a root directory.
pub struct TreeReceiver {
    limits: RxLimits,
    buf: Vec<u8>,
    state: RxState,
    totals: Totals,
    /// Bytes of file content written so far (for progress).
    received: u64,
    dirs: HashSet<String>,
    seen: HashSet<String>,
    items: Vec<TreeItem>,
    /// Start each file's writeback as it is written (see [`Sink::with_write_behind`]).
    write_behind: bool,
}

impl TreeReceiver {
    /// A receiver that accepts what `limits` allow; `pending` are bytes that arrived
    /// already (read with an earlier frame).
    pub fn new(limits: RxLimits, pending: Vec<u8>) -> TreeReceiver {
        TreeReceiver {
            limits,
            buf: pending,
            state: RxState::Frames,
            totals: Totals::default(),
            received: 0,
            dirs: HashSet::new(),
            seen: HashSet::new(),
            items: Vec::new(),
            write_behind: false,
        }
    }

    /// Start each file's writeback while it is received, for a tree that is fsynced
    /// once complete (the hub's store), so the dirty pages stay bounded and the fsync
    /// has little left to do.
    pub fn with_write_behind(mut self) -> TreeReceiver {
        self.write_behind = true;
        self
    }

    /// Totals of what was received and verified.
    pub fn totals(&self) -> Totals {
        self.totals
    }

    /// Bytes of file content written so far.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// Every item received, verified, in the order it came (with its hash).
    pub fn items(&self) -> &[TreeItem] {
        &self.items
    }

    /// Take the items out (once done).
    pub fn take_items(&mut self) -> Vec<TreeItem> {
        std::mem::take(&mut self.items)
    }

    /// Whether `End` was received.
    pub fn ended(&self) -> bool {
        matches!(self.state, RxState::Ended)
    }

    /// Read and take in up to `budget` bytes from `stream` into the tree beneath `root`.
    /// The other side closing before `End` is an error.
    pub fn turn(
        &mut self,
        stream: &mut (impl Read + AsRawFd),
        root: &File,
        scratch: &mut [u8],
        budget: usize,
    ) -> Result<Step, StatusError> {
        if !self.buf.is_empty() {
            self.feed(&[], root)?;
        }
        let mut spent = 0;
        loop {
            if self.ended() {
                return Ok(Step::Done);
            }
            if spent >= budget {
                return Ok(Step::Again);
            }
            if matches!(self.state, RxState::Body { .. }) && self.buf.is_empty() {
                // A file's bytes go straight from the socket to the file.
                match self.fill_body(stream, scratch, budget - spent, &mut spent)? {
                    Some(step) => return Ok(step),
                    None => continue,
                }
            }
            match stream.read(scratch) {
                Ok(0) => return Err(self.closed_early()),
                Ok(n) => {
                    spent += n;
                    self.feed(&scratch[..n], root)?;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Step::Wait),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(lost(&e)),
            }
        }
    }

    /// Pull up to `budget` bytes of the current file's body from `stream` (adding them to
    /// `spent`); `Some` is what the turn returns now, `None` means go on.
    fn fill_body(
        &mut self,
        stream: &mut (impl Read + AsRawFd),
        scratch: &mut [u8],
        budget: usize,
        spent: &mut usize,
    ) -> Result<Option<Step>, StatusError> {
        let RxState::Body { path, sink, .. } = &mut self.state else {
            return Ok(None);
        };
        let before = sink.left();
        let filled = sink.fill_from(stream, scratch, budget);
        let moved = before - sink.left();
        self.received += moved;
        *spent += usize::try_from(moved).unwrap_or(usize::MAX);
        let waiting = match filled {
            Ok(Filled::Moved(_)) => false,
            Ok(Filled::Blocked(_)) => true,
            Ok(Filled::Closed(_)) => return Err(self.closed_early()),
            Err(FillError::Socket(e)) => return Err(lost(&e)),
            Err(FillError::File(e)) => {
                return Err(StatusError::new(
                    write_status(&e),
                    format!("writing {path}: {e}"),
                ))
            }
        };
        self.end_body_if_done();
        Ok(waiting.then_some(Step::Wait))
    }

    /// The error for a connection that closed before `End`.
    fn closed_early(&self) -> StatusError {
        StatusError::new(
            Status::PEER_UNREACHABLE,
            format!(
                "the connection closed before the transfer ended ({} files, {} bytes received)",
                self.totals.files, self.received
            ),
        )
    }

    /// Once a file's last byte is in, its `Sum` frame must come next.
    fn end_body_if_done(&mut self) {
        if let RxState::Body { sink, .. } = &self.state {
            if sink.left() > 0 {
                return;
            }
        }
        if let RxState::Body { path, size, sink } =
            std::mem::replace(&mut self.state, RxState::Frames)
        {
            let hash = (*sink).finish();
            self.state = RxState::AwaitSum { path, size, hash };
        }
    }

    /// Take in bytes (after any kept in the frame buffer).
    pub fn feed(&mut self, mut data: &[u8], root: &File) -> Result<(), StatusError> {
        loop {
            if let RxState::Body { path, sink, .. } = &mut self.state {
                if data.is_empty() {
                    return Ok(());
                }
                let n = sink.write(data).map_err(|e| {
                    StatusError::new(write_status(&e), format!("writing {path}: {e}"))
                })?;
                self.received += n as u64;
                data = &data[n..];
                self.end_body_if_done();
                continue;
            }
            if self.buf.is_empty() {
                if data.is_empty() {
                    return Ok(());
                }
                match store::parse(data)? {
                    Some((used, msg)) => {
                        data = &data[used..];
                        self.on_msg(msg, root)?;
                    }
                    None => {
                        self.buf.extend_from_slice(data);
                        return Ok(());
                    }
                }
            } else {
                // Complete the frame kept in the buffer, taking only its own bytes.
                let need = match self.buf.get(..4) {
                    None => 4 - self.buf.len(),
                    Some(head) => {
                        let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
                        (4 + len.min(MAX_STORE_FRAME + 1)).saturating_sub(self.buf.len())
                    }
                };
                let take = need.min(data.len());
                self.buf.extend_from_slice(&data[..take]);
                data = &data[take..];
                let buf = std::mem::take(&mut self.buf);
                match store::parse(&buf)? {
                    Some((used, msg)) => {
                        let rest = buf[used..].to_vec();
                        self.on_msg(msg, root)?;
                        if !rest.is_empty() {
                            // Only bytes read before an upgrade can lie past one frame.
                            self.feed(&rest, root)?;
                        }
                    }
                    None if buf.len() >= FRAME_CAP => {
                        return Err(StatusError::new(Status::TOO_LARGE, "store frame too large"))
                    }
                    None => {
                        self.buf = buf;
                        if data.is_empty() {
                            return Ok(());
                        }
                    }
                }
            }
        }
    }

    fn protocol(message: impl Into<String>) -> StatusError {
        StatusError::new(Status::BAD_REQUEST, message)
    }

    fn on_msg(&mut self, msg: StoreMsg, root: &File) -> Result<(), StatusError> {
        match (&self.state, msg) {
            (RxState::Ended, _) => Err(Self::protocol("data after the end of the tree")),
            (RxState::Frames, StoreMsg::Dir { path }) => self.on_dir(path, root),
            (RxState::Frames, StoreMsg::File { path, size }) => self.on_file(path, size, root),
            (RxState::AwaitSum { .. }, StoreMsg::Sum { hash }) => {
                let RxState::AwaitSum {
                    path,
                    size,
                    hash: computed,
                } = std::mem::replace(&mut self.state, RxState::Frames)
                else {
                    return Err(Self::protocol("internal: no file awaits its hash"));
                };
                if computed != hash {
                    return Err(StatusError::new(
                        Status::INTEGRITY,
                        format!("{path}: the content does not match its BLAKE3 hash"),
                    ));
                }
                self.totals.files += 1;
                self.totals.bytes += size;
                self.items.push(TreeItem {
                    path,
                    kind: StoreKind::File,
                    size,
                    hash: Some(hash),
                });
                Ok(())
            }
            (RxState::Frames, StoreMsg::End { files, dirs, bytes }) => {
                if self.items.is_empty() {
                    return Err(Self::protocol("the tree is empty"));
                }
                let t = self.totals;
                if (files, dirs, bytes) != (t.files, t.dirs, t.bytes) {
                    return Err(StatusError::new(
                        Status::INTEGRITY,
                        format!(
                            "the totals do not match: {files} files, {dirs} directories, {bytes} bytes \
                             announced; {} files, {} directories, {} bytes received",
                            t.files, t.dirs, t.bytes
                        ),
                    ));
                }
                self.state = RxState::Ended;
                Ok(())
            }
            (RxState::AwaitSum { path, .. }, _) => {
                Err(Self::protocol(format!("expected the hash of {path}")))
            }
            (_, other) => Err(Self::protocol(format!(
                "unexpected store message {}",
                match other {
                    StoreMsg::Begin { .. } => "Begin",
                    StoreMsg::Status { .. } => "Status",
                    StoreMsg::Sum { .. } => "Sum",
                    _ => "in this state",
                }
            ))),
        }
    }

    /// Where an item may go: checked path, shape, duplicates, count.
    fn admit(&mut self, path: &str, kind: StoreKind) -> Result<(), StatusError> {
        store::check_path(path, &self.limits.root)?;
        let is_root = path == self.limits.root;
        let first = self.seen.is_empty();
        if !self.seen.insert(path.to_owned()) {
            return Err(StatusError::new(
                Status::NAME_TAKEN,
                format!("{path} was sent twice"),
            ));
        }
        if first {
            if !is_root || kind != self.limits.kind {
                return Err(Self::protocol(format!(
                    "the tree must start with the {} {:?}",
                    self.limits.kind.as_str(),
                    self.limits.root
                )));
            }
        } else if self.limits.kind == StoreKind::File {
            return Err(Self::protocol("a file entry holds one file"));
        } else {
            let parent = path.rsplit_once('/').map_or("", |(p, _)| p);
            if !self.dirs.contains(parent) {
                return Err(Self::protocol(format!(
                    "{path}: its directory was not sent before it"
                )));
            }
        }
        if self.seen.len() as u64 > self.limits.max_items.max(1) {
            return Err(StatusError::new(
                Status::TOO_LARGE,
                format!("more than {} items", self.limits.max_items),
            ));
        }
        Ok(())
    }

    fn on_dir(&mut self, path: String, root: &File) -> Result<(), StatusError> {
        self.admit(&path, StoreKind::Dir)?;
        sys::mkdir_beneath(root, Path::new(&path)).map_err(|e| {
            StatusError::new(write_status(&e), format!("cannot create {path}: {e}"))
        })?;
        self.dirs.insert(path.clone());
        self.totals.dirs += 1;
        self.items.push(TreeItem {
            path,
            kind: StoreKind::Dir,
            size: 0,
            hash: None,
        });
        Ok(())
    }

    fn on_file(&mut self, path: String, size: u64, root: &File) -> Result<(), StatusError> {
        self.admit(&path, StoreKind::File)?;
        let limits = &self.limits;
        if limits.max_file > 0 && size > limits.max_file {
            return Err(StatusError::new(
                Status::TOO_LARGE,
                format!(
                    "{path}: {size} bytes is over the per-file limit of {} bytes",
                    limits.max_file
                ),
            ));
        }
        if self.totals.bytes.saturating_add(size) > limits.max_bytes {
            return Err(StatusError::new(
                Status::TOO_LARGE,
                format!(
                    "{path}: more bytes than announced ({} in all)",
                    limits.max_bytes
                ),
            ));
        }
        let file =
            sys::open_beneath(root, Path::new(&path), OpenFlags::CreateNew).map_err(|e| {
                let status = match e.kind() {
                    io::ErrorKind::AlreadyExists => Status::NAME_TAKEN,
                    io::ErrorKind::PermissionDenied | io::ErrorKind::InvalidInput => {
                        Status::INVALID_NAME
                    }
                    _ => write_status(&e),
                };
                StatusError::new(status, format!("cannot create {path}: {e}"))
            })?;
        let mut sink = Sink::new(file, size);
        if self.write_behind {
            sink = sink.with_write_behind();
        }
        let sink = Box::new(sink);
        self.state = if size == 0 {
            RxState::AwaitSum {
                path,
                size,
                hash: (*sink).finish(),
            }
        } else {
            RxState::Body { path, size, sink }
        };
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(tag: &str) -> PathBuf {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir =
            std::env::temp_dir().join(format!("peerhub-tree-{tag}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn limits(kind: StoreKind) -> RxLimits {
        RxLimits {
            root: "r".into(),
            kind,
            max_file: 100,
            max_bytes: 150,
            max_items: 10,
        }
    }

    fn frames(msgs: &[StoreMsg]) -> Vec<u8> {
        let mut out = Vec::new();
        for m in msgs {
            store::encode(m, &mut out);
        }
        out
    }

    fn file(path: &str, data: &[u8]) -> Vec<u8> {
        let mut out = frames(&[StoreMsg::File {
            path: path.into(),
            size: data.len() as u64,
        }]);
        out.extend_from_slice(data);
        out.extend(frames(&[StoreMsg::Sum {
            hash: *blake3::hash(data).as_bytes(),
        }]));
        out
    }

    /// Feed `bytes` one byte at a time and all at once; both must agree.
    fn receive(kind: StoreKind, bytes: &[u8]) -> (Result<(), StatusError>, PathBuf, TreeReceiver) {
        let one = temp("one");
        let root = sys::open_dir(&one).unwrap();
        let mut rx = TreeReceiver::new(limits(kind), Vec::new());
        let mut by_byte = Ok(());
        for b in bytes {
            by_byte = rx.feed(std::slice::from_ref(b), &root);
            if by_byte.is_err() {
                break;
            }
        }
        let all = temp("all");
        let root_all = sys::open_dir(&all).unwrap();
        let mut rx_all = TreeReceiver::new(limits(kind), Vec::new());
        let whole = rx_all.feed(bytes, &root_all);
        assert_eq!(by_byte.is_ok(), whole.is_ok(), "{by_byte:?} vs {whole:?}");
        std::fs::remove_dir_all(&all).unwrap();
        (by_byte, one, rx)
    }

    #[test]
    fn the_senders_digest_is_the_receivers() {
        let src = temp("digest-src");
        std::fs::create_dir_all(src.join("r/d")).unwrap();
        std::fs::write(src.join("r/d/a"), b"hello").unwrap();
        let big: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
        std::fs::write(src.join("r/big"), &big).unwrap();
        let item = |path: &str, kind, size| {
            (
                TreeItem {
                    path: path.into(),
                    kind,
                    size,
                    hash: None,
                },
                PathBuf::from(path),
            )
        };
        let items = vec![
            item("r", StoreKind::Dir, 0),
            item("r/d", StoreKind::Dir, 0),
            item("r/d/a", StoreKind::File, 5),
            item("r/big", StoreKind::File, 200_000),
        ];
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut reader = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (w, _) = listener.accept().unwrap();
        w.set_nonblocking(true).unwrap();
        let mut w = TcpStream::from_std(w);
        let drain = std::thread::spawn(move || {
            let mut got = Vec::new();
            reader.read_to_end(&mut got).unwrap();
            got
        });
        let root = sys::open_dir(&src).unwrap();
        let mut tx = TreeSender::new(items);
        while tx.turn(&mut w, &root, 1 << 20).unwrap() != Step::Done {}
        drop(w);
        let bytes = drain.join().unwrap();
        let dst = temp("digest-dst");
        let mut rx = TreeReceiver::new(
            RxLimits {
                root: "r".into(),
                kind: StoreKind::Dir,
                max_file: 0,
                max_bytes: 1 << 20,
                max_items: 10,
            },
            Vec::new(),
        );
        rx.feed(&bytes, &sys::open_dir(&dst).unwrap()).unwrap();
        assert!(rx.ended());
        assert_eq!(tx.digest(), tree_digest(rx.items()));
        // Another content, another digest.
        let mut other = rx.items().to_vec();
        other[2].hash = Some([0; 32]);
        assert_ne!(tx.digest(), tree_digest(&other));
        std::fs::remove_dir_all(&src).unwrap();
        std::fs::remove_dir_all(&dst).unwrap();
    }

    #[test]
    fn a_tree_is_received_verified_and_counted() {
        let mut bytes = frames(&[
            StoreMsg::Dir { path: "r".into() },
            StoreMsg::Dir {
                path: "r/sub dir".into(),
            },
        ]);
        bytes.extend(file("r/sub dir/ü.txt", b"hello"));
        bytes.extend(file("r/empty", b""));
        bytes.extend(frames(&[
            StoreMsg::Dir {
                path: "r/void".into(),
            },
            StoreMsg::End {
                files: 2,
                dirs: 3,
                bytes: 5,
            },
        ]));
        let (result, dir, rx) = receive(StoreKind::Dir, &bytes);
        result.unwrap();
        assert!(rx.ended());
        assert_eq!(
            rx.totals(),
            Totals {
                files: 2,
                dirs: 3,
                bytes: 5
            }
        );
        assert_eq!(
            std::fs::read(dir.join("r/sub dir/ü.txt")).unwrap(),
            b"hello"
        );
        assert_eq!(std::fs::read(dir.join("r/empty")).unwrap(), b"");
        assert!(dir.join("r/void").is_dir());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn hostile_and_broken_trees_are_refused() {
        let good_root = frames(&[StoreMsg::Dir { path: "r".into() }]);
        let with = |rest: Vec<u8>| {
            let mut b = good_root.clone();
            b.extend(rest);
            b
        };
        let cases: Vec<(StoreKind, Vec<u8>, Status)> = vec![
            (StoreKind::Dir, file("r/../x", b"a"), Status::INVALID_NAME),
            (
                StoreKind::Dir,
                with(file("/etc/x", b"a")),
                Status::INVALID_NAME,
            ),
            (
                StoreKind::Dir,
                with(file("r/../../x", b"a")),
                Status::INVALID_NAME,
            ),
            (
                StoreKind::Dir,
                with(file("other/x", b"a")),
                Status::INVALID_NAME,
            ),
            (
                StoreKind::Dir,
                with(file("r/a/b", b"a")),
                Status::BAD_REQUEST,
            ),
            (StoreKind::File, file("r/x", b"a"), Status::BAD_REQUEST),
            (
                StoreKind::File,
                frames(&[StoreMsg::Dir { path: "r".into() }]),
                Status::BAD_REQUEST,
            ),
            (
                StoreKind::Dir,
                with(frames(&[StoreMsg::Dir { path: "r".into() }])),
                Status::NAME_TAKEN,
            ),
            (
                StoreKind::Dir,
                with(file("r/big", &[1; 101])),
                Status::TOO_LARGE,
            ),
            (
                StoreKind::Dir,
                with([file("r/a", &[1; 100]), file("r/b", &[1; 60])].concat()),
                Status::TOO_LARGE,
            ),
            (
                StoreKind::Dir,
                with({
                    let mut b = frames(&[StoreMsg::File {
                        path: "r/x".into(),
                        size: 3,
                    }]);
                    b.extend_from_slice(b"abc");
                    b.extend(frames(&[StoreMsg::Sum { hash: [0; 32] }]));
                    b
                }),
                Status::INTEGRITY,
            ),
            (
                StoreKind::Dir,
                with(frames(&[StoreMsg::End {
                    files: 1,
                    dirs: 1,
                    bytes: 0,
                }])),
                Status::INTEGRITY,
            ),
            (
                StoreKind::Dir,
                with(frames(&[
                    StoreMsg::End {
                        files: 0,
                        dirs: 1,
                        bytes: 0,
                    },
                    StoreMsg::Dir {
                        path: "r/late".into(),
                    },
                ])),
                Status::BAD_REQUEST,
            ),
        ];
        for (kind, bytes, status) in cases {
            let (result, dir, _) = receive(kind, &bytes);
            assert_eq!(result.map_err(|e| e.status), Err(status));
            std::fs::remove_dir_all(&dir).unwrap();
        }
    }

    #[test]
    fn a_symlink_planted_in_the_root_is_not_followed() {
        let dir = temp("symlink");
        let outside = temp("outside");
        std::os::unix::fs::symlink(&outside, dir.join("r")).unwrap();
        let root = sys::open_dir(&dir).unwrap();
        let mut rx = TreeReceiver::new(limits(StoreKind::File), Vec::new());
        let err = rx.feed(&file("r", b"x"), &root).unwrap_err();
        assert_ne!(err.status, Status::OK);
        assert!(std::fs::read_dir(&outside).unwrap().next().is_none());
        std::fs::remove_dir_all(&dir).unwrap();
        std::fs::remove_dir_all(&outside).unwrap();
    }

    #[test]
    fn totals() {
        let items = [
            TreeItem {
                path: "r".into(),
                kind: StoreKind::Dir,
                size: 0,
                hash: None,
            },
            TreeItem {
                path: "r/a".into(),
                kind: StoreKind::File,
                size: 7,
                hash: None,
            },
        ];
        assert_eq!(
            Totals::of(&items),
            Totals {
                files: 1,
                dirs: 1,
                bytes: 7
            }
        );
    }
}
