//! Files hashed for the session a slice per turn, and the publications compared with
//! the disk.

use super::Client;
use super::Hashing;
use crate::client::session::Hashed;
use crate::client::session::OnDisk;
use crate::proto::status::Status;
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
            Ok((rel.to_string_lossy().into_owned(), hasher))
        });
        match opened {
            Ok((path, hasher)) => {
                debug!("hashing {path} ({} bytes)", hasher.size());
                self.hashing.push(Hashing { job, path, hasher });
            }
            Err(e) => self.session.on_hashed(job, Err(e), now, &mut self.actions),
        }
    }

    /// One slice of every hash job: big files take many turns, and the loop stays live.
    pub(super) fn hash_turn(&mut self, now: Instant) {
        let slice = self.hash_slice;
        let mut finished = Vec::new();
        self.hashing.retain_mut(|h| match h.hasher.step(slice) {
            Ok(HashStep::Progress { .. }) => true,
            Ok(HashStep::Done { stamp, hash }) => {
                let hashed = Hashed {
                    path: h.path.clone(),
                    size: stamp.size,
                    hash,
                    modified: stamp.modified,
                };
                finished.push((h.job, Ok(hashed)));
                false
            }
            Err(e) => {
                finished.push((h.job, Err((Status::INTERNAL, format!("{}: {e}", h.path)))));
                false
            }
        });
        for (job, result) in finished {
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
