//! The hub's side of the store: tickets asked for on the session connection (checked
//! against the name, the owner, the quota and the disk with every upload under way
//! counted, and the per-user ticket limit), their redemption on a store connection,
//! commits, downloads that keep their version alive while they read it, and the count
//! of store connections.

use super::{Action, Hub, Ticket, TicketOp, MAX_REPLY_BODY};
use crate::output::Event;
use crate::proto::message::{Body, HubMsg, StoreInfo, StoreKind};
use crate::proto::names;
use crate::proto::status::Status;
use crate::proto::store::{self as wire, StoreMsg};
use crate::server::store::{Held, Incoming, Store, StoreEntry};
use crate::server::storesync::{SyncSlice, Syncing};
use crate::server::tickets::Refusal;
use crate::transfer::tree::{Totals, TreeItem};
use log::{debug, info, warn};
use std::fs::File;
use std::rc::Rc;
use std::time::Instant;

/// A download about to be served: the entry, its manifest and its version directory
/// (kept on disk until [`Hub::end_download`], even if the entry is replaced or removed).
pub struct Outgoing {
    pub entry: StoreEntry,
    pub items: Vec<TreeItem>,
    pub dir: File,
}

/// An upload's `StorePut`: the entry's name, whether it may replace one, and what the
/// client declared of its tree.
#[derive(Debug, Clone, Copy)]
pub(super) struct PutRequest<'a> {
    pub name: &'a str,
    pub replace: bool,
    pub kind: StoreKind,
    pub declared: Totals,
    pub largest: u64,
}

/// What a ticket request is answered: status, text, body.
type Answer = (Status, String, Body);

fn refused(r: Refusal) -> Answer {
    let body = r.retry_after.map_or(Body::None, Body::RetryAfter);
    (r.status, r.text, body)
}

impl Hub {
    /// The store (the loop opens upload and download directories through it).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// A connection said hello as a store connection: hand it to the loop, or refuse
    /// it with a store `Status` 503 when `--max-store-conns` are open.
    pub(super) fn store_hello(&mut self, conn: super::ConnId, out: &mut Vec<Action>) {
        let max = self.config.max_store_conns;
        if max > 0 && self.store_conns >= max {
            info!("refusing a store connection: {max} are open");
            let mut frame = Vec::new();
            wire::encode(
                &StoreMsg::Status {
                    status: Status::UNAVAILABLE,
                    message: format!("too many store connections ({max} open); try again soon"),
                },
                &mut frame,
            );
            out.push(Action::Send(conn, frame));
            out.push(Action::Close(conn));
            return;
        }
        self.sessions.remove(&conn);
        self.store_conns += 1;
        out.push(Action::Upgrade(conn));
    }

    /// A store connection the hub handed over is gone.
    pub fn store_conn_closed(&mut self) {
        self.store_conns = self.store_conns.saturating_sub(1);
    }

    /// Store connections open now.
    pub fn store_connections(&self) -> usize {
        self.store_conns
    }

    /// A ticket to upload `name` as declared, once every check passed.
    pub(super) fn store_put(&mut self, user: &str, put: PutRequest, now: Instant) -> Answer {
        let PutRequest {
            name,
            replace,
            kind,
            declared,
            largest,
        } = put;
        let refuse = |status: Status, text: String| (status, text, Body::None);
        if let Err(e) = names::check_file_name(name) {
            return refuse(Status::INVALID_NAME, e.to_string());
        }
        let shape_ok = match kind {
            StoreKind::File => declared.files == 1 && declared.dirs == 0,
            StoreKind::Dir => declared.dirs >= 1,
        };
        if !shape_ok || largest > declared.bytes {
            return refuse(
                Status::BAD_REQUEST,
                format!("the declared {} is inconsistent", kind.as_str()),
            );
        }
        let items = declared.files.saturating_add(declared.dirs);
        if items > self.config.store_max_items {
            return refuse(
                Status::TOO_LARGE,
                format!(
                    "{items} files and directories are more than the store takes in one entry ({})",
                    self.config.store_max_items
                ),
            );
        }
        if let Err(r) = self.tickets.admit(user, Some(name), now) {
            return refused(r);
        }
        let held = Held {
            reserved: self.tickets.user_reserved(user),
            pending: self.tickets.pending_disk(None),
        };
        if let Err((status, text)) =
            self.store
                .check_upload(&self.db, user, name, replace, declared.bytes, largest, held)
        {
            return refuse(status, text);
        }
        let ticket = Ticket {
            user: user.to_owned(),
            name: name.to_owned(),
            op: TicketOp::Put {
                replace,
                kind,
                files: declared.files,
                dirs: declared.dirs,
                bytes: declared.bytes,
            },
            expires: now + self.tickets.ttl(),
        };
        match self.issue(ticket) {
            Ok(token) => {
                debug!("{user}: upload ticket for {name}");
                (
                    Status::OK,
                    format!("upload of {name} accepted"),
                    Body::Ticket {
                        token,
                        kind,
                        files: declared.files,
                        bytes: declared.bytes,
                    },
                )
            }
            Err((status, text)) => refuse(status, text),
        }
    }

    fn issue(&mut self, ticket: Ticket) -> Result<[u8; 16], (Status, String)> {
        let mut token = [0u8; 16];
        self.random
            .fill(&mut token)
            .map_err(|e| (Status::INTERNAL, format!("no randomness for a ticket: {e}")))?;
        self.tickets.insert(token, ticket);
        Ok(token)
    }

    /// A ticket to download `name`.
    pub(super) fn store_get(&mut self, user: &str, name: &str, now: Instant) -> Answer {
        if let Err(e) = names::check_file_name(name) {
            return (Status::INVALID_NAME, e.to_string(), Body::None);
        }
        if let Err(r) = self.tickets.admit(user, None, now) {
            return refused(r);
        }
        let entry = match self.store.get(&self.db, name) {
            Ok(Some(entry)) => entry,
            Ok(None) => {
                return (
                    Status::NO_FILE,
                    format!("no store entry named {name:?}"),
                    Body::None,
                )
            }
            Err(e) => return (Status::INTERNAL, e.to_string(), Body::None),
        };
        let ticket = Ticket {
            user: user.to_owned(),
            name: name.to_owned(),
            op: TicketOp::Get,
            expires: now + self.tickets.ttl(),
        };
        match self.issue(ticket) {
            Ok(token) => (
                Status::OK,
                format!("download of {name} accepted"),
                Body::Ticket {
                    token,
                    kind: entry.kind,
                    files: entry.files,
                    bytes: entry.bytes,
                },
            ),
            Err((status, text)) => (status, text, Body::None),
        }
    }

    /// May `user` upload under `name` (asked before the client walks its tree)? The
    /// name checks of [`Hub::store_put`], without reserving anything: 408, 409, or 200.
    pub(super) fn store_name(&self, user: &str, name: &str, replace: bool) -> (Status, String) {
        if let Err(refusal) = self.store.check_name(&self.db, user, name, replace) {
            return refusal;
        }
        if self.tickets.is_reserved(name) {
            return (
                Status::NAME_TAKEN,
                format!("{name} is being uploaded right now"),
            );
        }
        (Status::OK, format!("{name} may be uploaded"))
    }

    /// The `StoreList` reply: the listing cut to fit one reply frame, with `user`'s
    /// usage and quota.
    pub(super) fn store_listing(&self, user: &str) -> Answer {
        let (entries, used) = match (
            self.store.list(&self.db),
            self.store.usage(&self.db, user, ""),
        ) {
            (Ok(list), Ok(used)) => (list, used),
            (Err(e), _) | (_, Err(e)) => {
                warn!("store listing: {e}");
                return (Status::INTERNAL, format!("store: {e}"), Body::None);
            }
        };
        let (entries, truncated) = fit_listing(entries);
        let text = format!(
            "{} store entr{}{}",
            entries.len(),
            if entries.len() == 1 { "y" } else { "ies" },
            if truncated { " (truncated)" } else { "" }
        );
        let body = Body::Store {
            entries,
            truncated,
            used,
            quota: self.store.quota(),
        };
        (Status::OK, text, body)
    }

    /// A store connection presents `token`: the ticket, if it is known, unexpired and
    /// unused (it is used up now). Refusals are 407. A redeemed upload ends with
    /// [`Hub::commit_upload`] or [`Hub::abort_upload`].
    pub fn redeem(&mut self, token: &[u8; 16], now: Instant) -> Result<Ticket, (Status, String)> {
        if self.shutting_down {
            return Err((Status::UNAVAILABLE, "the hub is shutting down".into()));
        }
        self.tickets.redeem(token, now).ok_or_else(|| {
            (
                Status::NOT_LOGGED_IN,
                "unknown, expired or already used store ticket; ask for a new one".to_owned(),
            )
        })
    }

    /// Start an upload redeemed from `ticket`: its invisible version directory.
    pub fn begin_upload(&mut self, ticket: &Ticket) -> Result<Incoming, (Status, String)> {
        self.store.begin().map_err(|e| {
            self.tickets.upload_ended(ticket);
            (
                crate::transfer::stream::write_status(&e),
                format!("store: {e}"),
            )
        })
    }

    /// An upload under way has written `written` bytes (they left the disk's free
    /// space, so they are no longer counted as promised).
    pub fn upload_progress(&mut self, ticket: &Ticket, written: u64) {
        self.tickets.progress(&ticket.name, written);
    }

    /// Open a download redeemed from `ticket`: the entry as it is now, its manifest and
    /// directory. The version stays on disk until [`Hub::end_download`].
    pub fn open_download(&mut self, ticket: &Ticket) -> Result<Outgoing, (Status, String)> {
        let internal = |e: std::io::Error| (Status::INTERNAL, format!("store: {e}"));
        let entry = self
            .store
            .get(&self.db, &ticket.name)
            .map_err(internal)?
            .ok_or_else(|| {
                (
                    Status::NO_FILE,
                    format!("{} was removed from the store", ticket.name),
                )
            })?;
        let items = self
            .store
            .manifest(&self.db, &entry.version)
            .map_err(internal)?;
        let dir = self.store.version_dir(&entry.version).map_err(internal)?;
        self.store.add_reader(&entry.version);
        Ok(Outgoing { entry, items, dir })
    }

    /// A download opened with [`Hub::open_download`] ended: a version replaced or removed
    /// meanwhile goes once its last reader is done.
    pub fn end_download(&mut self, version: &str) {
        self.store.drop_reader(version);
    }

    /// An upload ended without being committed (failed, cancelled, cut off): throw its
    /// version directory away and free the name and the bytes it held.
    pub fn abort_upload(&mut self, ticket: &Ticket, incoming: Incoming, why: &str) {
        self.tickets.upload_ended(ticket);
        info!("upload of {} by {} failed: {why}", ticket.name, ticket.user);
        if let Err(e) = self.store.abort(incoming) {
            warn!("store: could not remove an unfinished upload: {e}");
        }
    }

    /// Every file of an upload arrived and was verified: check the name, the quota and
    /// the disk again. If it may stay, it is flushed to the disk next, a slice per turn
    /// ([`Hub::sync_upload`]); the upload keeps its name and bytes until
    /// [`Hub::commit_upload`].
    pub fn end_upload(
        &mut self,
        ticket: &Ticket,
        incoming: Incoming,
        items: &[TreeItem],
    ) -> Result<Incoming, (Status, String)> {
        let pending = self.tickets.pending_disk(Some(&ticket.name));
        let fail = |hub: &mut Hub, incoming: Incoming, refusal: (Status, String)| {
            hub.tickets.upload_ended(ticket);
            if let Err(e) = hub.store.abort(incoming) {
                warn!(
                    "store: could not remove the refused upload of {}: {e}",
                    ticket.name
                );
            }
            Err(refusal)
        };
        let TicketOp::Put { replace, .. } = ticket.op else {
            return fail(
                self,
                incoming,
                (Status::BAD_REQUEST, "not an upload ticket".into()),
            );
        };
        let (user, name) = (ticket.user.as_str(), ticket.name.as_str());
        let conflict = match self.store.get(&self.db, name) {
            Ok(Some(e)) if e.owner != user => Some(format!("{name} belongs to {}", e.owner)),
            Ok(Some(_)) if !replace => Some(format!("you already have {name} in the store")),
            _ => None,
        };
        if let Some(text) = conflict {
            return fail(self, incoming, (Status::NAME_TAKEN, text));
        }
        // The bytes are on disk already: what must still fit is the entry in the quota,
        // and the reserve beside what other uploads have yet to write.
        let room = self
            .store
            .check_quota(&self.db, user, name, Totals::of(items).bytes, 0)
            .and_then(|()| self.store.check_disk(0, pending));
        if let Err(refusal) = room {
            return fail(self, incoming, refusal);
        }
        Ok(incoming)
    }

    /// One slice of flushing a verified upload to the disk (see [`Syncing::turn`]);
    /// true once it is done and [`Hub::commit_upload`] may point the database at it.
    pub fn sync_upload(
        &self,
        incoming: &Incoming,
        items: &[TreeItem],
        syncing: &mut Syncing,
        slice: SyncSlice,
    ) -> std::io::Result<bool> {
        syncing.turn(self.store.root_dir(), incoming, items, slice)
    }

    /// The upload checked by [`Hub::end_upload`] is on the disk (or failed to get
    /// there: `flushed`): make the entry visible, tell the console and everyone online.
    pub fn commit_upload(
        &mut self,
        ticket: &Ticket,
        incoming: Incoming,
        flushed: std::io::Result<()>,
        items: &[TreeItem],
        out: &mut Vec<Action>,
    ) -> Result<StoreEntry, (Status, String)> {
        self.tickets.upload_ended(ticket);
        let kind = match ticket.op {
            TicketOp::Put { kind, .. } => kind,
            TicketOp::Get => StoreKind::File,
        };
        let (user, name) = (ticket.user.as_str(), ticket.name.as_str());
        let totals = Totals::of(items);
        let entry = StoreEntry {
            name: name.to_owned(),
            owner: user.to_owned(),
            kind,
            files: totals.files,
            bytes: totals.bytes,
            created: crate::server::store::unix_now(),
            version: incoming.version.clone(),
            digest: crate::transfer::tree::tree_digest(items),
        };
        if let Err(e) = self
            .store
            .record(&mut self.db, incoming, flushed, &entry, items)
        {
            warn!("store: commit of {name} failed: {e}");
            return Err((
                crate::transfer::stream::write_status(&e),
                format!("store: {e}"),
            ));
        }
        let what = crate::transfer::files_and_size(totals.files, totals.bytes);
        info!("{user} uploaded {name} ({what})");
        out.push(Action::Event(
            Event::new("upload", format!("{user} uploaded {name} ({what})"))
                .field("user", user)
                .field("name", name)
                .field("files", totals.files)
                .field("bytes", totals.bytes),
        ));
        self.flush_joins(out);
        let frame: Rc<[u8]> = HubMsg::Upload {
            user: user.to_owned(),
            name: name.to_owned(),
            files: totals.files,
            bytes: totals.bytes,
        }
        .to_frame()
        .into();
        let me = self.online.get(user).copied();
        for &c in self.online.values() {
            if Some(c) != me {
                out.push(Action::Share(c, Rc::clone(&frame)));
            }
        }
        Ok(entry)
    }
}

/// The listing cut to fit one reply frame, and whether it was cut.
fn fit_listing(entries: Vec<StoreEntry>) -> (Vec<StoreInfo>, bool) {
    let mut out = Vec::new();
    let mut bytes = 0;
    for e in entries {
        bytes += 2 + e.name.len() + 2 + e.owner.len() + 25 + 32;
        if bytes > MAX_REPLY_BODY {
            return (out, true);
        }
        out.push(StoreInfo {
            name: e.name,
            owner: e.owner,
            kind: e.kind,
            files: e.files,
            bytes: e.bytes,
            created: e.created,
            digest: e.digest,
        });
    }
    (out, false)
}
