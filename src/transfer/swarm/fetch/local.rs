//! The swarm download's local half: an existing destination checked (the same content
//! is a success at once), the partial file opened at the file's size with the record's
//! verified groups kept, the free space checked, and — once every group verified — the
//! partial file renamed into place.

use super::{Phase, SwAction, SwarmFetch};
use crate::proto::status::Status;
use crate::sys::{self, OpenFlags};
use crate::transfer::download::{Ctx, Delivered, Outcome};
use crate::transfer::hash::{HashJob, HashStep};
use crate::transfer::stream::{write_status, Stream};
use crate::transfer::swarm::{GroupSet, Swarm};
use crate::transfer::verified::groups;
use std::io;
use std::path::Path;
use std::time::Instant;

impl<S: Stream> SwarmFetch<S> {
    /// An existing destination with the same content is a success at once; other
    /// content is 409.
    pub(super) fn start(&mut self, ctx: &mut Ctx, out: &mut Vec<SwAction>) -> bool {
        let dest = self.spec.dest.clone();
        match std::fs::symlink_metadata(ctx.share.join(&dest)) {
            Ok(m) if m.is_file() => {
                match sys::open_beneath(ctx.share_dir, Path::new(&dest), OpenFlags::ReadOnly)
                    .and_then(HashJob::new)
                    .map(Box::new)
                {
                    Ok(job) => {
                        self.phase = Phase::CheckExisting(job);
                        true
                    }
                    Err(e) => {
                        self.fail(
                            Status::NAME_TAKEN,
                            format!("{dest} already exists ({e})"),
                            out,
                        );
                        false
                    }
                }
            }
            Ok(_) => {
                let why = format!("{dest} already exists and is not a regular file");
                self.fail(Status::NAME_TAKEN, why, out);
                false
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                self.phase = Phase::Prepare;
                true
            }
            Err(e) => {
                self.fail(Status::INTERNAL, format!("{dest}: {e}"), out);
                false
            }
        }
    }

    pub(super) fn check_existing(
        &mut self,
        mut job: Box<HashJob>,
        ctx: &mut Ctx,
        out: &mut Vec<SwAction>,
    ) -> bool {
        let dest = self.spec.dest.clone();
        match job.step(ctx.hash_slice) {
            Ok(HashStep::Progress { .. }) => {
                self.phase = Phase::CheckExisting(job);
                out.push(SwAction::Again);
            }
            Ok(HashStep::Done { stamp, hash })
                if stamp.size == self.spec.size && hash == self.spec.hash =>
            {
                self.phase = Phase::Finished;
                out.push(SwAction::Done(Outcome::Done(Delivered {
                    path: ctx.share.join(&dest),
                    received: 0,
                    resumed: 0,
                    size: stamp.size,
                    hash,
                    already: true,
                    sources: Box::default(),
                    bad_sources: Box::default(),
                })));
            }
            Ok(HashStep::Done { .. }) => {
                let why =
                    format!("{dest} already exists with other content; fetch it --as another name");
                self.fail(Status::NAME_TAKEN, why, out);
            }
            Err(e) => self.fail(
                Status::NAME_TAKEN,
                format!("{dest} already exists ({e})"),
                out,
            ),
        }
        false
    }

    /// Open the partial file at the file's size, keeping the groups the record says are
    /// verified when it is that long; check the free space.
    pub(super) fn prepare(&mut self, ctx: &mut Ctx, now: Instant, out: &mut Vec<SwAction>) -> bool {
        let part = self.part();
        let file =
            match sys::open_beneath(ctx.share_dir, Path::new(&part), OpenFlags::CreateReadWrite) {
                Ok(f) => f,
                Err(e) => {
                    let why = format!("{part} cannot be used as a partial file ({e})");
                    self.fail(Status::NAME_TAKEN, why, out);
                    return false;
                }
            };
        let len = file.metadata().map(|m| m.len()).unwrap_or(0);
        let count = groups(self.spec.size);
        let verified = if len == self.spec.size {
            GroupSet::of(
                self.spec
                    .verified
                    .iter()
                    .filter(|r| r.start < r.end && r.end <= count)
                    .cloned(),
            )
        } else {
            GroupSet::new()
        };
        self.resumed = self.bytes_of(verified.len());
        let need = self.spec.size.saturating_sub(self.resumed);
        if let Ok(free) = sys::free_space(ctx.share) {
            if free < need {
                let why = format!(
                    "not enough space for {}: {need} bytes needed, {free} free",
                    self.spec.dest
                );
                self.fail(Status::DISK_FULL, why, out);
                return false;
            }
        }
        if len != self.spec.size {
            if let Err(e) = file.set_len(self.spec.size) {
                self.fail(write_status(&e), format!("{part}: {e}"), out);
                return false;
            }
        }
        self.swarm = Swarm::new(self.spec.size, verified, self.spec.sequential);
        self.since = Some(now);
        self.phase = Phase::Run { file };
        true
    }

    /// Every group verified: the partial file takes its name.
    pub(super) fn finish(&mut self, ctx: &mut Ctx, out: &mut Vec<SwAction>) {
        let part = self.part();
        let dest = self.spec.dest.clone();
        match sys::rename_beneath_noreplace(ctx.share_dir, Path::new(&part), Path::new(&dest)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                let why = format!(
                    "{dest} appeared while it was being fetched; the verified copy stays {part}"
                );
                return self.fail(Status::NAME_TAKEN, why, out);
            }
            Err(e) => {
                return self.fail(
                    write_status(&e),
                    format!("renaming {part} to {dest}: {e}"),
                    out,
                )
            }
        }
        self.phase = Phase::Finished;
        let received = self.received();
        out.push(SwAction::Done(Outcome::Done(Delivered {
            path: ctx.share.join(&dest),
            received,
            resumed: self.resumed,
            size: self.spec.size,
            hash: self.spec.hash,
            already: false,
            sources: self.contributions().into(),
            bad_sources: self.bad_sources().into(),
        })));
    }
}
