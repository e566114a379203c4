//! [`TreeReceiver`]: frames and bytes in, every path checked and created beneath the
//! root, each file written, hashed and verified before it counts, within [`RxLimits`].

use super::{lost, Step, Totals, TreeItem};
use crate::proto::codec::StatusError;
use crate::proto::message::{Hash, StoreKind};
use crate::proto::status::Status;
use crate::proto::store::{self, StoreMsg, MAX_STORE_FRAME};
use crate::sys::{self, OpenFlags};
use crate::transfer::stream::{read_some, write_status, FillError, Filled, Sink, Stream};
use std::collections::HashSet;
use std::fs::File;
use std::io;
use std::path::Path;

/// Most bytes of a frame a receiver keeps while it waits for the rest.
const FRAME_CAP: usize = 4 + MAX_STORE_FRAME;

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
        stream: &mut impl Stream,
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
            match read_some(stream, scratch).map_err(|e| lost(&e))? {
                Some(0) => return Err(self.closed_early()),
                Some(n) => {
                    spent += n;
                    self.feed(&scratch[..n], root)?;
                }
                None => return Ok(Step::Wait),
            }
        }
    }

    /// Pull up to `budget` bytes of the current file's body from `stream` (adding them to
    /// `spent`); `Some` is what the turn returns now, `None` means go on.
    fn fill_body(
        &mut self,
        stream: &mut impl Stream,
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
