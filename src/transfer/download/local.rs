//! The download's local half: an existing destination checked, a partial file
//! hashed to resume from (or started over), the free space checked, and the verified
//! file renamed into place.

use super::{
    resume_plan, verdict, Ctx, Delivered, DlStep, Download, Next, Outcome, Partial, PartialFate,
    Plan, State,
};
use crate::proto::message::Hash;
use crate::proto::status::Status;
use crate::sys::{self, OpenFlags};
use crate::transfer::hash::{HashJob, HashStep};
use crate::transfer::stream::{write_status, Stream};
use log::debug;
use std::io::{self, Read};
use std::path::Path;

impl<S: Stream> Download<S> {
    /// An existing destination is hashed: the same content succeeds at once, other content is 409.
    pub(super) fn start(&mut self, ctx: &mut Ctx) -> Next {
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

    pub(super) fn check_existing(&mut self, mut job: HashJob, ctx: &mut Ctx) -> Next {
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
                Some(DlStep::Done(Outcome::Done(Delivered {
                    path: ctx.share.join(&dest),
                    received: 0,
                    resumed: 0,
                    size: stamp.size,
                    hash,
                    already: true,
                    sources: Box::default(),
                    bad_sources: Box::default(),
                })))
            }
            Ok(HashStep::Done { .. }) => Some(self.fail(
                Status::NAME_TAKEN,
                format!("{dest} already exists with other content; fetch it --as another name"),
            )),
            Err(e) => Some(self.fail(Status::NAME_TAKEN, format!("{dest} already exists ({e})"))),
        }
    }

    /// Decide between resuming and starting over, and check the free space.
    pub(super) fn prepare(&mut self, ctx: &mut Ctx) -> Next {
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
                self.state = State::HashPartial(Partial {
                    file,
                    hasher: blake3::Hasher::new(),
                    done: 0,
                    len,
                });
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
    pub(super) fn check_space(&mut self, ctx: &mut Ctx, offset: u64) -> Next {
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

    /// Hash a slice of the partial file; once it is all hashed, connect.
    pub(super) fn hash_partial(&mut self, mut partial: Partial, ctx: &mut Ctx) -> Next {
        let Partial {
            file,
            hasher,
            done,
            len,
        } = &mut partial;
        let len = *len;
        let mut spent = 0;
        while *done < len && spent < ctx.hash_slice {
            let want = usize::try_from(len - *done)
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
                    *done += n as u64;
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
        if *done >= len {
            self.offset = len;
            self.received = len;
            self.state = State::Connect {
                hasher: partial.hasher,
            };
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
        self.state = State::HashPartial(partial);
        Some(DlStep::Again)
    }

    /// Every byte is in: verify, then rename into place.
    pub(super) fn finish(&mut self, computed: &Hash, ctx: &mut Ctx) -> DlStep {
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
        DlStep::Done(Outcome::Done(Delivered {
            path: ctx.share.join(&dest),
            received: self.received - self.offset,
            resumed: self.offset,
            size: self.size,
            hash: *computed,
            already: false,
            sources: Box::new([(self.spec.holder.user.clone(), self.received - self.offset)]),
            bad_sources: Box::default(),
        }))
    }
}
