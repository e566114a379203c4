//! [`TreeSender`]: a list of items to `Dir` / `File` frames, raw bytes and `Sum` frames,
//! small files batched through one buffer, large ones streamed by a [`Source`] in bounded
//! slices (`sendfile` on a plain socket), over any [`Stream`].

use super::{digest_item, lost, Step, Totals, TreeItem};
use crate::proto::codec::StatusError;
use crate::proto::message::{Hash, StoreKind};
use crate::proto::status::Status;
use crate::proto::store::{self, StoreMsg};
use crate::sys::{self, OpenFlags};
use crate::transfer::hash::{HashJob, HashStep};
use crate::transfer::stream::{write_out, Sent, Source, Stream};
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Files up to this size travel through the sender's buffer instead of `sendfile`.
const SMALL_FILE: u64 = 64 * 1024;
/// The sender writes its buffer once it holds this much.
const FLUSH_AT: usize = 256 * 1024;

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
    /// The [`tree_digest`](super::tree_digest) of what was sent so far.
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

    /// The [`tree_digest`](super::tree_digest) of what was sent (the whole tree once
    /// [`Step::Done`]).
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
    fn flush(&mut self, stream: &mut impl Stream) -> Result<bool, StatusError> {
        if !write_out(stream, &self.out, &mut self.out_pos).map_err(|e| lost(&e))? {
            return Ok(false);
        }
        self.out.clear();
        self.out_pos = 0;
        Ok(true)
    }

    /// [`TreeSender::turn`], setting `last_progress` to `now` when bytes moved (for the
    /// caller's stall deadline).
    pub fn turn_noting_progress(
        &mut self,
        stream: &mut impl Stream,
        root: &File,
        budget: usize,
        last_progress: &mut Instant,
        now: Instant,
    ) -> Result<Step, StatusError> {
        let before = self.moved();
        let step = self.turn(stream, root, budget);
        if self.moved() != before {
            *last_progress = now;
        }
        step
    }

    /// Send within `budget` bytes of file content; `hash_slice` bytes are hashed per step.
    pub fn turn(
        &mut self,
        stream: &mut impl Stream,
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
        stream: &mut impl Stream,
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
