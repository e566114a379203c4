//! Each upload's steps as its connection reports them, and the decision on its
//! request: the fetch ticket it must bring, then what the session says.

use super::Client;
use super::Tick;
use super::Transfer;
use crate::client::outboards;
use crate::client::session::Action;
use crate::client::session::{OnDisk, PeerRequest, Serving};
use crate::output::Event;
use crate::proto::status::Status;
use crate::proto::types::hash_hex;
use crate::sys;
use crate::sys::OpenFlags;
use crate::transfer::hash::Stamp;
use crate::transfer::upload::UpStep;
use crate::trust::admit::{self, Claim, Shown};
use crate::trust::TicketCheck;
use log::debug;
use log::info;
use log::warn;
use mio::Interest;
use std::io;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

/// The wall clock, in Unix seconds (0 before 1970): what fetch tickets expire by.
fn wall_clock() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Client {
    pub(super) fn upload_step(&mut self, key: usize, step: UpStep) {
        match step {
            UpStep::Wait => self.sync_upload(key),
            UpStep::Again => {
                self.ready.push(key);
                self.sync_upload(key);
            }
            UpStep::Sleep(at) => self.timers.arm(at, Tick::Transfer(key)),
            UpStep::Decide => self.decide_upload(key),
            UpStep::Served { bytes } => {
                if let Some(Transfer::Up(up)) = self.transfers.get(key) {
                    let to = up.who();
                    let name = up.name().unwrap_or("").to_owned();
                    info!("{to} fetched {name} ({bytes} bytes)");
                    self.actions.push(Action::Event(
                        Event::new(
                            "upload_served",
                            format!(
                                "{to} fetched {name} from you ({})",
                                crate::output::human_size(bytes)
                            ),
                        )
                        .field("to", to)
                        .field("name", name)
                        .field("bytes", bytes),
                    ));
                }
                self.close_transfer(key);
            }
            UpStep::Changed => {
                if let Some(Transfer::Up(up)) = self.transfers.get(key) {
                    if let Some(name) = up.name().map(str::to_owned) {
                        warn!("{name} changed on disk while being served; connection closed");
                        self.session.refresh(&name, &mut self.actions);
                    }
                }
                self.close_transfer(key);
            }
            UpStep::Closed(reason) => {
                if let Some(Transfer::Up(up)) = self.transfers.get(key) {
                    debug!("peer {}: {reason}", up.who());
                }
                self.close_transfer(key);
            }
        }
    }

    pub(super) fn sync_upload(&mut self, key: usize) {
        if let Some(Transfer::Up(up)) = self.transfers.get_mut(key) {
            let interest = Interest::READABLE | Interest::WRITABLE;
            let armed = if up.arm_writable() {
                (self.poll.registry()).reregister(up.stream_mut(), mio::Token(key), interest)
            } else {
                Ok(())
            };
            if let Err(e) = armed {
                debug!("peer connection: {e}");
                self.close_transfer(key);
            }
        }
    }

    /// Answer a peer's request as the session decides from the publication list and
    /// what is on disk.
    pub(super) fn decide_upload(&mut self, key: usize) {
        let serving = self
            .transfers
            .iter()
            .filter(|(k, t)| *k != key && matches!(t, Transfer::Up(u) if u.holds_slot()))
            .count();
        let Some(Transfer::Up(up)) = self.transfers.get_mut(key) else {
            return;
        };
        let Some((request, asked)) = up.pending() else {
            return;
        };
        let (name, offset, range_end) = (request.name.clone(), request.offset, request.range_end);
        if !self.ticket_admits(key) {
            return self.ready.push(key);
        }
        let Some(Transfer::Up(up)) = self.transfers.get_mut(key) else {
            return;
        };
        let request = PeerRequest {
            name: &name,
            offset,
            range_end,
            asked,
            serving,
        };
        let mut opened = None;
        let share_dir = &self.share_dir;
        let look = |path: &str| {
            let file = sys::open_beneath(share_dir, Path::new(path), OpenFlags::ReadOnly)
                .and_then(|f| Stamp::of(&f).map(|stamp| (f, stamp)));
            match file {
                Ok((f, stamp)) => {
                    let (size, modified) = (stamp.size, Some(stamp.modified));
                    opened = Some((f, stamp));
                    OnDisk::File { size, modified }
                }
                Err(e) => {
                    debug!("{name}: {e}");
                    match e.kind() {
                        io::ErrorKind::NotFound => OnDisk::Gone,
                        _ => OnDisk::Unreadable,
                    }
                }
            }
        };
        let verdict = self
            .session
            .decide_serving(request, look, &mut self.actions);
        debug!(
            "peer {} asks for {name} from {offset}: {verdict:?}",
            up.who()
        );
        match (verdict, opened) {
            (Serving::Serve { size, hash }, Some((file, stamp))) if range_end.is_none() => {
                up.serve(file, None, stamp, size, hash)
            }
            (Serving::Serve { size, hash }, Some((file, stamp))) => {
                match outboards::open(&self.share_dir, &hash_hex(&hash), size) {
                    Ok(outboard) => up.serve(file, Some(outboard), stamp, size, hash),
                    // Published before outboards were kept, or its outboard was lost:
                    // hashing it again writes one, then the request is decided again.
                    Err(e) if !asked => {
                        debug!("{name}: no outboard ({e}): hashing it again");
                        up.asked_refresh();
                        self.session.refresh(&name, &mut self.actions);
                        return self.parked.push((key, name));
                    }
                    Err(e) => {
                        let why = format!("{name} has no outboard to prove it with: {e}");
                        up.refuse(Status::UNAVAILABLE, &why)
                    }
                }
            }
            (Serving::Serve { .. }, None) => up.refuse(Status::INTERNAL, "internal error"),
            (Serving::Refuse(status, text), _) => up.refuse(status, &text),
            (Serving::Refresh, _) => {
                up.asked_refresh();
                return self.parked.push((key, name));
            }
            (Serving::Wait, _) => return self.parked.push((key, name)),
        }
        self.ready.push(key);
    }

    /// Whether upload `key`'s request brings a fetch ticket that lets its fetcher in
    /// (checked once per connection); if not, the upload is set to refuse it.
    fn ticket_admits(&mut self, key: usize) -> bool {
        let Some(Transfer::Up(up)) = self.transfers.get_mut(key) else {
            return false;
        };
        let Some((request, _)) = up.pending() else {
            return false;
        };
        if up.fetcher().is_some() {
            return true;
        }
        let shown = match up.stream().as_tls() {
            Some(tls) => Shown::Tls(tls.peer_fingerprint()),
            None => Shown::Plaintext,
        };
        let claim = Claim {
            ticket: &request.ticket,
            name: &request.name,
            shown,
        };
        let holder = admit::Holder {
            me: self.session.known_as(),
            hub_key: self.session.hub_key().map(|k| k as &dyn TicketCheck),
            wall: wall_clock(),
        };
        match admit::admit(claim, holder, &mut self.used_tickets) {
            Ok(fetcher) => {
                up.admit(fetcher);
                true
            }
            Err(refusal) => {
                let name = &request.name;
                info!("peer {} asks for {name}: {}", up.who(), refusal.message);
                up.refuse(refusal.status, &refusal.message);
                false
            }
        }
    }

    /// Decide again the uploads that waited for a refresh that has finished.
    pub(super) fn recheck_parked(&mut self) {
        if self.parked.is_empty() {
            return;
        }
        for key in self.session.parked_due(&mut self.parked) {
            self.decide_upload(key);
        }
    }
}
