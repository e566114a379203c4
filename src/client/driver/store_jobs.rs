//! Store `upload` and `download` transfers: starting, finishing and cancelling them.

use super::Client;
use super::Transfer;
use super::{MAX_UPLOAD_ITEMS, SCAN_SLICE};
use crate::client::scan::{Scan, ScanStep};
use crate::client::session;
use crate::client::store::StoreTransfer;
use crate::client::store::Work;
use crate::net::tls::TlsStream;
use crate::net::wire::Wire;
use crate::proto::message::StoreToken;
use crate::proto::status::Status;
use mio::net::TcpStream;
use mio::Interest;
use std::io;
use std::path::PathBuf;
use std::time::Instant;

impl Client {
    /// Start walking what an upload was given; [`Client::scan_turn`] walks on.
    pub(super) fn start_scan(&mut self, job: u64, path: &str, name: Option<&str>, now: Instant) {
        match Scan::start(path, name, MAX_UPLOAD_ITEMS) {
            Ok(scan) => self.scans.push((job, scan)),
            Err(e) => self.session.on_scanned(job, Err(e), now, &mut self.actions),
        }
    }

    /// One slice of every walk: a big tree takes many turns, and the loop stays live.
    pub(super) fn scan_turn(&mut self, now: Instant) {
        let mut finished = Vec::new();
        self.scans
            .retain_mut(|(job, scan)| match scan.step(SCAN_SLICE) {
                ScanStep::Walking => true,
                ScanStep::Done(walked) => {
                    finished.push((*job, walked));
                    false
                }
            });
        for (job, walked) in finished {
            let result = walked.map(|(scanned, prepared)| {
                self.prepared.insert(job, prepared);
                scanned
            });
            self.session.on_scanned(job, result, now, &mut self.actions);
        }
    }

    /// Forget the walk or the walked tree of `job` (refused or cancelled).
    pub(super) fn drop_store_job(&mut self, job: u64) {
        self.scans.retain(|(j, _)| *j != job);
        self.prepared.remove(&job);
    }

    /// Upload the tree walked for `job`.
    pub(super) fn start_store_upload(&mut self, job: u64, token: StoreToken, now: Instant) {
        match self.prepared.remove(&job) {
            Some(prepared) => {
                let name = prepared
                    .items
                    .first()
                    .map(|(i, _)| i.path.clone())
                    .unwrap_or_default();
                self.start_store(job, &name, token, Work::Up(prepared), now)
            }
            None => self.session.on_store_done(
                job,
                Err((Status::INTERNAL, "the walked tree is gone".into())),
                now,
                &mut self.actions,
            ),
        }
    }

    pub(super) fn finish_store(
        &mut self,
        key: usize,
        result: Result<session::StoreDone, (Status, String)>,
        now: Instant,
    ) {
        if let Some(job) = self.end_transfer(key, Transfer::store_job) {
            self.session
                .on_store_done(job, result, now, &mut self.actions);
        }
    }

    /// Open a store transfer's connection and run it.
    pub(super) fn start_store(
        &mut self,
        job: u64,
        name: &str,
        token: [u8; 16],
        work: Work,
        now: Instant,
    ) {
        let hub = self.hub_addr;
        let trust = self.hub_trust.as_ref();
        let dial = || {
            let socket = TcpStream::connect(hub)?;
            // The same trust as the session's link (and its TLS session, resumed).
            match trust {
                None => Ok(Wire::Plain(socket)),
                Some(trust) => TlsStream::client(trust.config(), trust.server_name(), socket)
                    .map(Wire::tls)
                    .map_err(io::Error::other),
            }
        };
        let started = StoreTransfer::start(job, name, token, work, dial, now);
        let mut st = match started {
            Ok(st) => Box::new(st),
            Err(failure) => {
                return self
                    .session
                    .on_store_done(job, Err(failure), now, &mut self.actions)
            }
        };
        let entry = self.transfers.vacant_entry();
        let key = entry.key();
        if let Err(e) = self.poll.registry().register(
            st.stream_mut(),
            mio::Token(key),
            Interest::READABLE | Interest::WRITABLE,
        ) {
            st.abandon();
            let failure = (Status::INTERNAL, format!("register: {e}"));
            return self
                .session
                .on_store_done(job, Err(failure), now, &mut self.actions);
        }
        entry.insert(Transfer::Store(st));
        self.ready.push(key);
    }

    pub(super) fn cancel_store(&mut self, job: u64) {
        self.drop_store_job(job);
        if let Some(key) = self.slot_running(job, Transfer::store_job) {
            if let Some(Transfer::Store(st)) = self.transfers.get_mut(key) {
                st.abandon();
            }
            self.end_transfer(key, Transfer::store_job);
        }
    }

    /// Where a store download lands, as a full path (so that errors show it): the share
    /// dir when no destination was typed, else relative to the working directory.
    pub(super) fn download_dest(&self, dest: &str, in_share: bool) -> String {
        let path = if in_share {
            self.share.join(dest)
        } else {
            match std::env::current_dir() {
                Ok(cwd) => cwd.join(dest),
                Err(_) => PathBuf::from(dest),
            }
        };
        path.to_string_lossy().into_owned()
    }
}
