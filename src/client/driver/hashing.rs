//! Files hashed for the session a slice per turn, and the publications compared with
//! the disk.

use super::Client;
use super::Hashing;
use crate::client::outboards::OutboardFile;
use crate::client::session::Hashed;
use crate::client::session::OnDisk;
use crate::proto::status::Status;
use crate::proto::types::hash_hex;
use crate::sys;
use crate::sys::OpenFlags;
use crate::transfer::hash::HashJob;
use crate::transfer::hash::HashStep;
use log::debug;
use std::io;
use std::path::Path;
use std::path::PathBuf;
use std::time::Instant;

impl Client {
    /// Resolve a local path (relative paths resolve in the share dir) to a path beneath it.
    pub(super) fn beneath_share(&self, local: &str) -> Result<PathBuf, (Status, String)> {
        let candidate = Path::new(local);
        let full = if candidate.is_absolute() {
            candidate.to_path_buf()
        } else {
            self.share.join(candidate)
        };
        let canonical = full
            .canonicalize()
            .map_err(|e| (Status::NO_FILE, format!("{}: {e}", full.display())))?;
        canonical
            .strip_prefix(&self.share)
            .map(Path::to_path_buf)
            .map_err(|_| {
                let share = self.share.display();
                (
                    Status::BAD_REQUEST,
                    format!("{local} is not beneath the share dir {share}"),
                )
            })
    }

    pub(super) fn start_hash(&mut self, job: u64, local: &str, now: Instant) {
        let opened = self.beneath_share(local).and_then(|rel| {
            let file =
                sys::open_beneath(&self.share_dir, &rel, OpenFlags::ReadOnly).map_err(|e| {
                    let status = if e.kind() == io::ErrorKind::InvalidInput {
                        Status::BAD_REQUEST
                    } else {
                        Status::NO_FILE
                    };
                    (status, format!("{local}: {e}"))
                })?;
            let hasher =
                HashJob::new(file).map_err(|e| (Status::NO_FILE, format!("{local}: {e}")))?;
            let outboard = OutboardFile::create(&self.share_dir, job, hasher.size())
                .map_err(|e| (Status::INTERNAL, format!("{local}: its outboard: {e}")))?;
            Ok((rel.to_string_lossy().into_owned(), hasher, outboard))
        });
        match opened {
            Ok((path, hasher, outboard)) => {
                debug!("hashing {path} ({} bytes)", hasher.size());
                self.hashing.push(Hashing {
                    job,
                    path,
                    hasher,
                    outboard,
                });
            }
            Err(e) => self.session.on_hashed(job, Err(e), now, &mut self.actions),
        }
    }

    /// One slice of every hash job: big files take many turns, and the loop stays live.
    pub(super) fn hash_turn(&mut self, now: Instant) {
        let slice = self.hash_slice;
        let mut ended = Vec::new();
        for (i, h) in self.hashing.iter_mut().enumerate() {
            if let Some(result) = h.step(slice) {
                ended.push((i, result));
            }
        }
        let mut finished = Vec::new();
        for (i, result) in ended.into_iter().rev() {
            let h = self.hashing.remove(i);
            let job = h.job;
            finished.push((job, h.end(&self.share_dir, result)));
        }
        for (job, result) in finished.into_iter().rev() {
            self.session.on_hashed(job, result, now, &mut self.actions);
        }
    }

    /// Look at each publication's file for the session: gone, changed, or as hashed.
    pub(super) fn check_published(&mut self) {
        let looks = self
            .session
            .published()
            .iter()
            .map(|p| {
                let found = match std::fs::symlink_metadata(self.share.join(&p.path)) {
                    Ok(m) if m.is_file() => OnDisk::File {
                        size: m.len(),
                        modified: m.modified().ok(),
                    },
                    _ => OnDisk::Gone,
                };
                (p.name.clone(), found)
            })
            .collect();
        self.session.on_looked(looks, &mut self.actions);
    }
}

type HashResult = Result<Hashed, (Status, String)>;

impl Hashing {
    /// One slice, its outboard parents written as they come: the result once it ended.
    fn step(&mut self, slice: usize) -> Option<HashResult> {
        let step = self.hasher.step(slice);
        let written = self.outboard.append(&self.hasher.take_parents());
        let path = &self.path;
        match (step, written) {
            (Ok(HashStep::Progress { .. }), Ok(())) => None,
            (Ok(HashStep::Done { stamp, hash }), Ok(())) => Some(Ok(Hashed {
                path: path.clone(),
                size: stamp.size,
                hash,
                modified: stamp.modified,
            })),
            (Err(e), _) => Some(Err((Status::INTERNAL, format!("{path}: {e}")))),
            (_, Err(e)) => Some(Err((
                Status::INTERNAL,
                format!("{path}: its outboard: {e}"),
            ))),
        }
    }

    /// A job that ended well names its outboard after the hash; one that failed
    /// leaves none.
    fn end(self, share: &std::fs::File, result: HashResult) -> HashResult {
        match result {
            Ok(hashed) => match self.outboard.finish(share, &hash_hex(&hashed.hash)) {
                Ok(_) => Ok(hashed),
                Err(e) => Err((
                    Status::INTERNAL,
                    format!("{}: its outboard: {e}", self.path),
                )),
            },
            Err(e) => {
                self.outboard.abandon(share);
                Err(e)
            }
        }
    }
}
