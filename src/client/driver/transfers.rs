//! The slab of transfers: running a turn of one, closing, the stall sweep, progress
//! bars, the `transfers` and `status` listings, and the downloads the session starts.

use super::Client;
use super::Tick;
use super::Transfer;
use super::DOWNLOAD_BUDGET;
use super::STORE_BUDGET;
use crate::client::progress;
use crate::client::store::StoreStep;
use crate::client::terminal;
use crate::output::transfers_result;
use crate::output::Row;
use crate::proto::status::Status;
use crate::transfer::download::Ctx;
use crate::transfer::download::DlStep;
use crate::transfer::download::Download;
use crate::transfer::download::DownloadSpec;
use crate::transfer::download::Outcome;
use log::debug;
use mio::net::TcpStream;
use mio::Interest;
use std::time::Duration;
use std::time::Instant;

impl Transfer {
    /// The session's job number of a peer download.
    pub(super) fn download_job(&self) -> Option<u64> {
        match self {
            Transfer::Down(dl) => Some(dl.job()),
            Transfer::Swarm(sw) => Some(sw.job()),
            _ => None,
        }
    }

    /// The session's job number of a store transfer.
    pub(super) fn store_job(&self) -> Option<u64> {
        match self {
            Transfer::Store(st) => Some(st.job()),
            _ => None,
        }
    }
}

impl Client {
    /// One turn of a transfer: read, send or receive within its budget.
    pub(super) fn run_transfer(&mut self, key: usize, now: Instant) {
        if self.closing.contains(&key) {
            return;
        }
        match self.transfers.get_mut(key) {
            Some(Transfer::Up(up)) => {
                let step = up.turn(&mut self.scratch, &self.upload_config, now);
                self.upload_step(key, step);
            }
            Some(Transfer::Down(dl)) => {
                let mut ctx = Ctx {
                    share: &self.share,
                    share_dir: &self.share_dir,
                    buf: &mut self.download_buf,
                    hash_slice: self.hash_slice,
                    read_budget: DOWNLOAD_BUDGET,
                };
                let step = dl.turn(&mut ctx, now);
                self.download_step(key, step, now);
            }
            Some(Transfer::Swarm(_)) => self.run_swarm(key, now),
            Some(Transfer::Leg { swarm }) => {
                let swarm = *swarm;
                if !self.closing.contains(&swarm) {
                    self.run_swarm(swarm, now);
                }
            }
            Some(Transfer::Store(st)) => {
                let step = st.turn(&mut self.download_buf, STORE_BUDGET, now);
                match step {
                    StoreStep::Wait => {}
                    StoreStep::Again => self.ready.push(key),
                    StoreStep::Done(result) => self.finish_store(key, result, now),
                }
            }
            None => {}
        }
    }

    pub(super) fn download_step(&mut self, key: usize, step: DlStep, now: Instant) {
        match step {
            DlStep::Wait => {}
            DlStep::Again => self.ready.push(key),
            DlStep::Connect(addr) => {
                if let Some(Transfer::Down(dl)) = self.transfers.get_mut(key) {
                    // TLS that trusts exactly the key the hub vouches for the holder.
                    let key_shown = dl.spec().holder.fingerprint;
                    let (tls, identity) = (&mut self.peer_tls, &self.identity);
                    let wire = TcpStream::connect(addr)
                        .and_then(|socket| tls.dialled(socket, addr, key_shown, identity));
                    let step = dl.dialled(wire, now);
                    self.download_step(key, step, now);
                }
            }
            DlStep::Register => {
                let registered = match self.transfers.get_mut(key) {
                    Some(Transfer::Down(dl)) => dl.stream_mut().map(|stream| {
                        self.poll.registry().register(
                            stream,
                            mio::Token(key),
                            Interest::READABLE | Interest::WRITABLE,
                        )
                    }),
                    _ => None,
                };
                if let Some(Err(e)) = registered {
                    let outcome = Outcome::Failed {
                        status: Status::INTERNAL,
                        message: format!("register: {e}"),
                        report: false,
                        partial: crate::transfer::download::PartialFate::None,
                        size: 0,
                        hash: [0; 32],
                    };
                    self.finish_download(key, outcome, now);
                }
            }
            DlStep::Done(outcome) => self.finish_download(key, outcome, now),
        }
    }

    pub(super) fn finish_download(&mut self, key: usize, outcome: Outcome, now: Instant) {
        if let Some(job) = self.end_transfer(key, Transfer::download_job) {
            self.session
                .on_download_done(job, outcome, now, &mut self.actions);
        }
    }

    pub(super) fn start_download(&mut self, spec: DownloadSpec, now: Instant) {
        let entry = self.transfers.vacant_entry();
        let key = entry.key();
        entry.insert(Transfer::Down(Box::new(Download::new(
            spec,
            &self.share,
            now,
        ))));
        self.ready.push(key);
    }

    pub(super) fn cancel_download(&mut self, job: u64) {
        if let Some(key) = self.slot_running(job, Transfer::download_job) {
            self.record_swarm(key);
            self.end_transfer(key, Transfer::download_job);
        }
    }

    /// The slot of the transfer that runs session job `job` (as `job_of` reads it).
    pub(super) fn slot_running(
        &self,
        job: u64,
        job_of: fn(&Transfer) -> Option<u64>,
    ) -> Option<usize> {
        self.transfers
            .iter()
            .find(|(_, t)| job_of(t) == Some(job))
            .map(|(key, _)| key)
    }

    /// Close transfer `key` and redraw; the session job it ran, as `job_of` reads it
    /// (`None`, and nothing closed, when it is no transfer of that kind).
    pub(super) fn end_transfer(
        &mut self,
        key: usize,
        job_of: fn(&Transfer) -> Option<u64>,
    ) -> Option<u64> {
        let job = self.transfers.get(key).and_then(job_of)?;
        self.close_transfer(key);
        self.redraw();
        Some(job)
    }

    /// Mark a transfer closed: its socket leaves the poll now, the slot after the batch.
    pub(super) fn close_transfer(&mut self, key: usize) {
        if self.closing.contains(&key) {
            return;
        }
        let registry = self.poll.registry();
        let _ = match self.transfers.get_mut(key) {
            Some(Transfer::Up(up)) => registry.deregister(up.stream_mut()),
            Some(Transfer::Down(dl)) => match dl.stream_mut() {
                Some(stream) => registry.deregister(stream),
                None => Ok(()),
            },
            Some(Transfer::Store(st)) => registry.deregister(st.stream_mut()),
            Some(Transfer::Swarm(sw)) => {
                for (token, stream) in sw.connections() {
                    let _ = registry.deregister(stream);
                    if !self.closing.contains(&token) {
                        self.closing.push(token);
                    }
                }
                Ok(())
            }
            Some(Transfer::Leg { .. }) => Ok(()),
            None => return,
        };
        self.closing.push(key);
    }

    pub(super) fn free_closed(&mut self) {
        for key in std::mem::take(&mut self.closing) {
            if self.transfers.contains(key) {
                self.transfers.remove(key);
                self.peer_addrs.release(key);
            }
        }
    }

    /// Close what stalled or never said its handshake.
    pub(super) fn sweep(&mut self, now: Instant) {
        let mut expired_uploads = Vec::new();
        let mut failed_downloads = Vec::new();
        let mut failed_store = Vec::new();
        for (key, t) in self.transfers.iter_mut() {
            match t {
                Transfer::Up(up) => {
                    let limit = if up.pending().is_some() {
                        self.stall + self.handshake
                    } else {
                        self.stall
                    };
                    if let Some(why) = up.expired(now, self.handshake, limit) {
                        expired_uploads.push((key, up.who(), why));
                    }
                }
                Transfer::Down(dl) => {
                    if let Some(outcome) = dl.expired(now, self.stall) {
                        failed_downloads.push((key, outcome));
                    }
                }
                Transfer::Store(st) => {
                    if let Some(failure) = st.expired(now, self.stall) {
                        failed_store.push((key, failure));
                    }
                }
                Transfer::Swarm(_) | Transfer::Leg { .. } => {}
            }
        }
        self.sweep_swarms(now);
        for (key, failure) in failed_store {
            self.finish_store(key, Err(failure), now);
        }
        for (key, who, why) in expired_uploads {
            debug!("peer {who}: {why}; closing");
            self.close_transfer(key);
        }
        for (key, outcome) in failed_downloads {
            self.finish_download(key, outcome, now);
        }
    }

    /// Keep the sweep and redraw deadlines armed while there are transfers.
    pub(super) fn arm_transfer_timers(&mut self, now: Instant) {
        if self.transfers.is_empty() {
            return;
        }
        if !self.sweep_armed {
            let every = (self.handshake.min(self.stall) / 4)
                .clamp(Duration::from_millis(50), Duration::from_secs(1));
            self.timers.arm(now + every, Tick::Sweep);
            self.sweep_armed = true;
        }
        if self.tty.is_some() && !self.redraw_armed {
            self.timers.arm(now + progress::REDRAW_EVERY, Tick::Redraw);
            self.redraw_armed = true;
        }
        self.arm_progress(now);
    }

    /// Draw a bar for each running download and store transfer.
    pub(super) fn redraw(&mut self) {
        let Some(tty) = self.tty.as_mut() else {
            return;
        };
        let now = Instant::now();
        let width = terminal::width();
        let lines = self
            .transfers
            .iter()
            .filter(|(key, _)| !self.closing.contains(key))
            .filter_map(|(_, t)| match t {
                Transfer::Down(dl) => dl.progress().map(|_| dl.row(now)),
                Transfer::Swarm(sw) => sw.receiving().then(|| Client::swarm_row(sw, now)),
                Transfer::Store(st) => st.progress().map(|_| st.row(now)),
                Transfer::Up(_) | Transfer::Leg { .. } => None,
            })
            .map(|row| progress::bar_line(&row, width))
            .collect();
        tty.set_status(lines);
    }

    /// Complete and print a `status` result: the hub's address and the transfers.
    pub(super) fn status(&mut self, r: crate::output::CommandResult) {
        let rows = self.transfer_rows();
        let mut listed = transfers_result(r.id, &rows);
        let transfers = listed.fields.remove("transfers").unwrap_or_default();
        let hub_key = self.hub.as_ref().and_then(|link| link.key);
        let wire = match (&self.hub_trust, hub_key) {
            (None, _) => "PLAINTEXT (--insecure-plaintext)".to_owned(),
            (Some(_), Some(key)) => format!("TLS, key {key}"),
            (Some(_), None) => "TLS, not connected".to_owned(),
        };
        let mut r = r
            .field("hub", self.hub_addr.to_string())
            .field("tls", self.hub_trust.is_some())
            .field("hub_key", hub_key.map(|key| key.to_string()))
            .field("share", self.share.to_string_lossy().into_owned())
            .field("fingerprint", self.identity.fingerprint().to_string())
            .field("transfers", transfers);
        r.detail
            .insert(0, format!("hub: {} ({wire})", self.hub_addr));
        r.detail
            .insert(1, format!("identity: {}", self.identity.fingerprint()));
        r.detail.push(format!("transfers: {}", listed.message));
        r.detail
            .extend(listed.detail.into_iter().map(|line| format!("  {line}")));
        self.emit_result(&r);
    }

    pub(super) fn transfer_rows(&self) -> Vec<Row> {
        let now = Instant::now();
        self.transfers
            .iter()
            .filter(|(key, _)| !self.closing.contains(key))
            .filter_map(|(_, t)| match t {
                Transfer::Down(dl) => Some(dl.row(now)),
                Transfer::Swarm(sw) => Some(Client::swarm_row(sw, now)),
                Transfer::Up(up) => up.row(now),
                Transfer::Store(st) => Some(st.row(now)),
                Transfer::Leg { .. } => None,
            })
            .collect()
    }

    pub(super) fn list_transfers(&mut self, id: u64) {
        let rows = self.transfer_rows();
        self.emit_result(&transfers_result(id, &rows));
    }
}
