//! Serving a peer: whether a peer that connects is taken, whether a valid request gets
//! an upload slot, what to answer it from
//! the publication list and what the loop found on disk, which parked uploads to decide
//! again, and the publications compared with the disk before a sync.

use super::{Action, Session};
use crate::client::published::Publication;
use crate::proto::message::Hash;
use crate::proto::status::Status;
use crate::transfer::upload::{self, Decision, Disk};
use std::time::SystemTime;

/// Most peer connections that have not sent their request yet; the next gets 503.
pub const MAX_AWAITING_REQUEST: usize = 1024;

/// Why a peer that has just connected is refused (503), if it is: `awaiting` peers
/// have not sent their request yet; `admit_address` takes a connection slot for its
/// address and says whether there was one (it is asked only if the first check passes).
pub fn peer_refusal(awaiting: usize, admit_address: impl FnOnce() -> bool) -> Option<&'static str> {
    if awaiting >= MAX_AWAITING_REQUEST {
        Some("busy: too many peers connecting")
    } else if !admit_address() {
        Some("busy: too many connections from your address")
    } else {
        None
    }
}

/// What the loop found of a publication's file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnDisk {
    /// A regular file of this size, modified then (`None`: the time cannot be read).
    File {
        size: u64,
        modified: Option<SystemTime>,
    },
    /// Deleted from disk.
    Gone,
    /// There, but not a regular file or not to be opened beneath the share dir.
    Unreadable,
}

/// A peer's valid request, as the loop saw it.
#[derive(Debug, Clone, Copy)]
pub struct PeerRequest<'a> {
    pub name: &'a str,
    pub offset: u64,
    /// The end of a `GetRange`'s range (`None`: a `Get`, to the end).
    pub range_end: Option<u64>,
    /// This upload already asked for a refresh of the publication.
    pub asked: bool,
    /// Other uploads holding a slot now.
    pub serving: usize,
}

/// What the loop does with an upload whose request was decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Serving {
    /// Answer 200 with this size and hash, and stream the file the loop opened.
    Serve { size: u64, hash: Hash },
    /// Answer this error and close.
    Refuse(Status, String),
    /// A refresh of the publication was started for it: remember that it asked, and
    /// park it until the refresh ends.
    Refresh,
    /// A refresh is under way: park it until it ends.
    Wait,
}

/// Whether the file is as it was hashed.
fn compare(p: &Publication, disk: OnDisk) -> Disk {
    match disk {
        OnDisk::File {
            size,
            modified: Some(t),
        } if p.matches(size, t) => Disk::Same,
        OnDisk::File { .. } => Disk::Changed,
        OnDisk::Gone | OnDisk::Unreadable => Disk::Missing,
    }
}

impl Session {
    /// Decide a peer's request. `look` finds the file of the publication asked for (its
    /// path beneath the share dir); it is called only when the request takes a slot and
    /// names a publication. A file deleted from disk is withdrawn (so the hub sends
    /// nobody else); a changed one is hashed again before it is served.
    pub fn decide_serving(
        &mut self,
        request: PeerRequest,
        look: impl FnOnce(&str) -> OnDisk,
        out: &mut Vec<Action>,
    ) -> Serving {
        // A slot is taken only once the request is valid: silent connections take none.
        if request.serving >= self.config.max_uploads {
            return Serving::Refuse(Status::UNAVAILABLE, "busy: too many uploads".into());
        }
        let name = request.name;
        let publication = self.published.get(name).cloned();
        let disk = match &publication {
            None => Disk::Missing,
            Some(p) => {
                let found = look(&p.path);
                if found == OnDisk::Gone {
                    self.withdraw_gone(name, out);
                }
                compare(p, found)
            }
        };
        let decision = upload::decide(
            name,
            request.offset,
            request.range_end,
            publication.as_ref().map(|p| p.size),
            disk,
            self.refreshing(name),
            request.asked,
        );
        match (decision, publication) {
            (Decision::Serve, Some(p)) => Serving::Serve {
                size: p.size,
                hash: p.hash_bytes(),
            },
            (Decision::Serve, None) => Serving::Refuse(Status::INTERNAL, "internal error".into()),
            (Decision::Refuse(status, text), _) => Serving::Refuse(status, text),
            (Decision::Refresh, _) => {
                self.refresh(name, out);
                Serving::Refresh
            }
            (Decision::Wait, _) => Serving::Wait,
        }
    }

    /// Of the uploads parked for a refresh (`(key, name asked for)`), take out and
    /// return those whose refresh has ended: they are decided again.
    pub fn parked_due(&self, parked: &mut Vec<(usize, String)>) -> Vec<usize> {
        let mut due = Vec::new();
        parked.retain(|(key, name)| {
            let waiting = self.refreshing(name);
            if !waiting {
                due.push(*key);
            }
            waiting
        });
        due
    }

    /// The publications to announce, after the loop looked at each one's file (by name):
    /// gone or unreadable ones are withdrawn, changed ones hashed again and re-announced.
    pub fn on_looked(&mut self, looks: Vec<(String, OnDisk)>, out: &mut Vec<Action>) {
        let mut vanished = Vec::new();
        let mut changed = Vec::new();
        for (name, disk) in looks {
            match self.published.get(&name).map(|p| compare(p, disk)) {
                Some(Disk::Same) | None => {}
                Some(Disk::Changed) => changed.push(name),
                Some(Disk::Missing) => vanished.push(name),
            }
        }
        self.on_checked(vanished, changed, out);
    }
}

#[cfg(test)]
mod tests;
