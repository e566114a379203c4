//! The peer listener: accepting peers, and each upload's steps as its connection
//! reports them.

use super::Client;
use super::Tick;
use super::Transfer;
use crate::client::session::Action;
use crate::client::session::{peer_refusal, OnDisk, PeerRequest, Serving};
use crate::net::tokens;
use crate::output::Event;
use crate::proto::peer;
use crate::proto::peer::Answer;
use crate::proto::status::Status;
use crate::sys;
use crate::sys::OpenFlags;
use crate::transfer::hash::Stamp;
use crate::transfer::upload::UpStep;
use crate::transfer::upload::Upload;
use log::debug;
use log::info;
use log::warn;
use mio::net::TcpStream;
use mio::Interest;
use std::io;
use std::io::Write;
use std::path::Path;
use std::time::Instant;

/// Tell a peer that is not taken why (503), best effort on a fresh socket whose buffer
/// is empty (a small frame fits); dropping the stream then closes it.
fn refuse_peer(stream: &mut TcpStream, reason: &str, me: &str) {
    let mut frame = Vec::new();
    peer::encode_answer(&Answer::refuse(Status::UNAVAILABLE, reason, me), &mut frame);
    let _ = stream.write(&frame);
}

impl Client {
    pub(super) fn accept_peers(&mut self, now: Instant) {
        loop {
            match self.listener.accept() {
                Ok((mut stream, addr)) => {
                    let waiting = self
                        .transfers
                        .iter()
                        .filter(|(_, t)| matches!(t, Transfer::Up(up) if up.awaiting_request()))
                        .count();
                    let key = self.transfers.vacant_key();
                    if key >= tokens::FIRST_RESERVED {
                        continue;
                    }
                    let peer_addrs = &mut self.peer_addrs;
                    let refusal = peer_refusal(waiting, || peer_addrs.admit(key, addr.ip()));
                    if let Some(reason) = refusal {
                        debug!("peer {addr} refused: {reason}");
                        refuse_peer(&mut stream, reason, self.session.known_as());
                        continue;
                    }
                    if let Err(e) = self.poll.registry().register(
                        &mut stream,
                        mio::Token(key),
                        Interest::READABLE,
                    ) {
                        warn!("peer {addr}: register: {e}");
                        self.peer_addrs.release(key);
                        continue;
                    }
                    let entry = self.transfers.vacant_entry();
                    debug!("peer {addr} connected");
                    let me = self.session.known_as();
                    entry.insert(Transfer::Up(Upload::new(stream, addr, me, now)));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    warn!("peer listener: {e}");
                    return;
                }
            }
        }
    }

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
        let (name, offset) = (request.name.clone(), request.offset);
        let request = PeerRequest {
            name: &name,
            offset,
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
            (Serving::Serve { size, hash }, Some((file, stamp))) => {
                up.serve(file, stamp, size, hash)
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
