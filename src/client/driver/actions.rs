//! Carrying out the session's actions.

use super::Client;
use super::Tick;
use crate::client::outboards;
use crate::client::scan;
use crate::client::session::Action;
use crate::client::store::Work;
use log::warn;
use std::time::Instant;

impl Client {
    /// Carry out every action, and those they cause, until none is left.
    pub(super) fn apply_actions(&mut self) {
        while !self.actions.is_empty() {
            let now = Instant::now();
            for action in std::mem::take(&mut self.actions) {
                self.apply(action, now);
            }
        }
    }

    fn apply(&mut self, action: Action, now: Instant) {
        match action {
            Action::Send(frame) => {
                if let Some(link) = self.hub.as_mut() {
                    if link.conn.queue_bytes(&frame).is_err() {
                        self.hub_failed("too much output queued for the hub", now);
                    }
                }
            }
            Action::Connect => self.connect(now),
            Action::Disconnect => {
                self.flush_hub();
                if let Some(mut old) = self.hub.take() {
                    let _ = self.poll.registry().deregister(old.conn.stream_mut());
                }
            }
            Action::Result(r) => {
                if let Some(tty) = self.tty.as_mut() {
                    tty.learn_result(&r);
                }
                self.emit_result(&r);
            }
            Action::Event(e) => {
                if let Some(tty) = self.tty.as_mut() {
                    tty.learn_event(&e);
                }
                self.emit_event(&e);
            }
            Action::Arm(at) => self.timers.arm(at, Tick::Session),
            Action::Hash { job, local } => self.start_hash(job, &local, now),
            Action::CheckPublished => self.check_published(),
            Action::SavePublished => {
                if let Err(e) = self.session.published().save(&self.share) {
                    warn!("saving the publication list: {e}");
                }
                for hash in self.session.take_orphaned_outboards() {
                    outboards::remove(&self.share_dir, &hash);
                }
            }
            Action::StartDownload(spec) => self.start_download(spec, now),
            Action::StartSwarm(spec) => self.start_swarm(spec, now),
            Action::CancelDownload(job) => self.cancel_download(job),
            Action::ListTransfers(id) => self.list_transfers(id),
            Action::Status(r) => self.status(r),
            Action::SavePartials => {
                if let Err(e) = self.session.partials().save(&self.share) {
                    warn!("saving the record of partial downloads: {e}");
                }
            }
            Action::Exit(code) => {
                if self.exit.is_none() {
                    self.exit = Some(code);
                }
            }
            Action::NameUpload { job, path, name } => {
                let named = scan::upload_name(&path, name.as_deref());
                self.session.on_named(job, path, named, &mut self.actions);
            }
            Action::ScanUpload { job, path, name } => {
                self.start_scan(job, &path, name.as_deref(), now)
            }
            Action::StartStoreUpload { job, token } => self.start_store_upload(job, token, now),
            Action::StartStoreDownload {
                job,
                token,
                name,
                dest,
                in_share,
                kind,
                totals,
            } => {
                let dest = self.download_dest(&dest, in_share);
                self.start_store(job, &name, token, Work::Down { dest, kind, totals }, now)
            }
            Action::DropStoreJob(job) => self.drop_store_job(job),
            Action::CancelStore(job) => self.cancel_store(job),
        }
    }
}
