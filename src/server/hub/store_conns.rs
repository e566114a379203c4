//! What the hub does for each store connection it handed to the loop: it redeems the
//! ticket the connection presents, names the version an upload goes into, checks a
//! received upload again before it is flushed, commits and announces it once it is on
//! the disk, keeps a version alive while a download reads it, and has every version
//! nobody needs any more removed ([`Action::RemoveVersion`]). It gets the connection's
//! events and answers with orders; the bytes and the files are the loop's.

use super::{pending, Action, ConnId, Hub, Ticket, TicketOp};
use crate::output::files_and_size;
use crate::output::Event;
use crate::proto::codec::StatusError;
use crate::proto::message::{HubMsg, StoreKind};
use crate::proto::status::Status;
use crate::server::persist::{Answer, Ask, JobId, PersistError};
use crate::server::store::StoreEntry;
use crate::server::storelink::{StoreEvent, StoreOrder};
use crate::transfer::tree::{tree_digest, RxLimits, Totals, TreeItem};
use log::{debug, info, warn};
use std::rc::Rc;
use std::time::Instant;

/// Bytes of randomness in a version's name (24 hex digits).
const VERSION_BYTES: usize = 12;

/// Where a store connection is, as the hub sees it.
#[derive(Debug)]
pub(super) enum StoreJob {
    /// Waiting for its ticket.
    AwaitTicket,
    /// An upload redeemed from `ticket` into `version`; `items` once it was received,
    /// verified and checked again (it is being flushed).
    Upload {
        ticket: Ticket,
        version: String,
        items: Option<Rc<[TreeItem]>>,
    },
    /// An upload on the disk, its record asked for (job `record`): the verdict comes
    /// with that answer.
    Committing { record: JobId },
    /// A download reading `version` (its manifest asked for as job `manifest`, then
    /// being sent). The job ids tell this connection's answers from those of an earlier
    /// one that had the same id.
    Download { version: String, manifest: JobId },
    /// Answered; it closes.
    Done,
}

/// What a store connection's ask waits for.
#[derive(Debug)]
pub(super) enum Then {
    /// The record of the upload on `conn` that makes `entry` visible.
    Recorded { conn: ConnId, entry: StoreEntry },
    /// The manifest of `version`, to send an entry of this `kind` on `conn`.
    Manifest {
        conn: ConnId,
        version: String,
        kind: StoreKind,
    },
}

impl Hub {
    /// Something happened on the store connection `conn` (see [`StoreEvent`]).
    pub fn on_store_event(
        &mut self,
        conn: ConnId,
        event: StoreEvent,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        let Some(job) = self.store_jobs.get_mut(&conn) else {
            return;
        };
        let job = std::mem::replace(job, StoreJob::Done);
        let (next, order) = match (event, job) {
            (StoreEvent::Ticket(token), StoreJob::AwaitTicket) => {
                self.redeem(conn, &token, now, out)
            }
            (StoreEvent::Progress(written), job) => {
                if let StoreJob::Upload { ticket, .. } = &job {
                    self.tickets.progress(&ticket.name, written);
                }
                (job, None)
            }
            (
                StoreEvent::Received(items),
                StoreJob::Upload {
                    ticket, version, ..
                },
            ) => self.check_received(ticket, version, items, out),
            (
                StoreEvent::Flushed(flushed),
                StoreJob::Upload {
                    ticket,
                    version,
                    items,
                },
            ) => {
                let items = items.unwrap_or_else(|| Rc::from(Vec::new()));
                self.commit_upload(conn, &ticket, version, flushed, &items, out)
            }
            (StoreEvent::Served, StoreJob::Download { version, .. }) => {
                self.end_download(&version, out);
                (StoreJob::Done, None)
            }
            (StoreEvent::Failed(e), job) => (StoreJob::Done, Some(self.store_failed(job, e, out))),
            (StoreEvent::Closed(reason), job) => {
                self.store_closed(job, &reason, out);
                self.store_jobs.remove(&conn);
                return;
            }
            (event, job) => {
                debug!("store connection {conn}: {event:?} while {job:?}");
                (job, None)
            }
        };
        self.store_answer(conn, next, order, out);
    }

    /// Put `conn`'s job to `next` and give it `order`.
    fn store_answer(
        &mut self,
        conn: ConnId,
        next: StoreJob,
        order: Option<StoreOrder>,
        out: &mut Vec<Action>,
    ) {
        self.store_jobs.insert(conn, next);
        if let Some(order) = order {
            out.push(Action::Store(conn, order));
        }
    }

    /// A store connection presents `token`: the ticket, if it is known, unexpired and
    /// unused (it is used up now), starts its upload or download. Refusals are 407.
    fn redeem(
        &mut self,
        conn: ConnId,
        token: &[u8; 16],
        now: Instant,
        out: &mut Vec<Action>,
    ) -> (StoreJob, Option<StoreOrder>) {
        let refuse = |status, text: &str| {
            (
                StoreJob::Done,
                Some(StoreOrder::Refuse(status, text.into())),
            )
        };
        if self.shutting_down {
            return refuse(Status::UNAVAILABLE, "the hub is shutting down");
        }
        let Some(ticket) = self.tickets.redeem(token, now) else {
            return refuse(
                Status::NOT_LOGGED_IN,
                "unknown, expired or already used store ticket; ask for a new one",
            );
        };
        match ticket.op {
            TicketOp::Put { .. } => {
                let (job, order) = self.start_upload(ticket);
                (job, Some(order))
            }
            TicketOp::Get => self.start_download(conn, ticket, out),
        }
    }

    /// An upload redeemed: a fresh version for it, received within what it declared.
    fn start_upload(&mut self, ticket: Ticket) -> (StoreJob, StoreOrder) {
        let TicketOp::Put {
            kind,
            files,
            dirs,
            bytes,
            ..
        } = ticket.op
        else {
            return (
                StoreJob::Done,
                StoreOrder::Refuse(Status::BAD_REQUEST, "not an upload ticket".into()),
            );
        };
        let mut random = [0u8; VERSION_BYTES];
        if let Err(e) = self.random.fill(&mut random) {
            self.tickets.upload_ended(&ticket);
            let text = format!("store: no randomness for a version: {e}");
            return (StoreJob::Done, StoreOrder::Refuse(Status::INTERNAL, text));
        }
        let version: String = random.iter().map(|b| format!("{b:02x}")).collect();
        info!(
            "{} is uploading {} ({})",
            ticket.user,
            ticket.name,
            files_and_size(files, bytes)
        );
        let limits = RxLimits {
            root: ticket.name.clone(),
            kind,
            max_file: self.catalogue.max_file(),
            max_bytes: bytes,
            max_items: files.saturating_add(dirs),
        };
        let order = StoreOrder::Receive {
            version: version.clone(),
            limits,
        };
        let job = StoreJob::Upload {
            ticket,
            version,
            items: None,
        };
        (job, order)
    }

    /// A download redeemed: the entry as it is now; its version stays on disk until
    /// the download ends. Its manifest is asked for; the order comes with it.
    fn start_download(
        &mut self,
        conn: ConnId,
        ticket: Ticket,
        out: &mut Vec<Action>,
    ) -> (StoreJob, Option<StoreOrder>) {
        let Some(entry) = self.catalogue.get(&ticket.name) else {
            let text = format!("{} was removed from the store", ticket.name);
            return (
                StoreJob::Done,
                Some(StoreOrder::Refuse(Status::NO_FILE, text)),
            );
        };
        let (version, kind) = (entry.version.clone(), entry.kind);
        debug!("{} is downloading {}", ticket.user, ticket.name);
        self.catalogue.add_reader(&version);
        let ask = Ask::Manifest {
            version: version.clone(),
        };
        let then = Then::Manifest {
            conn,
            version: version.clone(),
            kind,
        };
        let manifest = self.ask(ask, pending::Then::Store(then), out);
        (StoreJob::Download { version, manifest }, None)
    }

    /// The answer to a store connection's ask.
    pub(super) fn store_answered(
        &mut self,
        id: JobId,
        then: Then,
        answer: Answer,
        out: &mut Vec<Action>,
    ) {
        match then {
            Then::Recorded { conn, entry } => {
                let waiting = matches!(
                    self.store_jobs.get(&conn),
                    Some(StoreJob::Committing { record }) if *record == id
                );
                self.recorded(conn, waiting, entry, answer.done(), out)
            }
            Then::Manifest {
                conn,
                version,
                kind,
            } => {
                let reading = matches!(
                    self.store_jobs.get(&conn),
                    Some(StoreJob::Download { manifest, .. }) if *manifest == id
                );
                if !reading {
                    return; // closed meanwhile: its close let go of the version
                }
                let order = match answer.manifest() {
                    Ok(items) => StoreOrder::Send {
                        version,
                        kind,
                        items,
                    },
                    Err(e) => {
                        self.end_download(&version, out);
                        self.store_jobs.insert(conn, StoreJob::Done);
                        StoreOrder::Refuse(Status::INTERNAL, format!("store: {e}"))
                    }
                };
                out.push(Action::Store(conn, order));
            }
        }
    }

    /// Every file of an upload arrived and was verified: check the name, the quota and
    /// the disk again. If it may stay, it is flushed next; the upload keeps its name
    /// and bytes until it is committed.
    fn check_received(
        &mut self,
        ticket: Ticket,
        version: String,
        items: Rc<[TreeItem]>,
        out: &mut Vec<Action>,
    ) -> (StoreJob, Option<StoreOrder>) {
        let (user, name) = (ticket.user.as_str(), ticket.name.as_str());
        let replace = matches!(ticket.op, TicketOp::Put { replace: true, .. });
        let conflict = match self.catalogue.get(name) {
            Some(e) if e.owner != user => Some(format!("{name} belongs to {}", e.owner)),
            Some(_) if !replace => Some(format!("you already have {name} in the store")),
            _ => None,
        };
        // The bytes are on disk already: what must still fit is the entry in the quota,
        // and the reserve beside what other uploads have yet to write.
        let pending = self.tickets.pending_disk(Some(name));
        let refusal = match conflict {
            Some(text) => Err((Status::NAME_TAKEN, text)),
            None => self
                .catalogue
                .check_quota(user, name, Totals::of(items.iter()).bytes, 0)
                .and_then(|()| {
                    self.catalogue
                        .check_disk(0, pending, self.free_space.as_ref())
                }),
        };
        if let Err((status, message)) = refusal {
            self.tickets.upload_ended(&ticket);
            out.push(Action::RemoveVersion(version));
            let order = StoreOrder::Verdict {
                name: ticket.name,
                status,
                message,
            };
            return (StoreJob::Done, Some(order));
        }
        let job = StoreJob::Upload {
            ticket,
            version,
            items: Some(items),
        };
        (job, Some(StoreOrder::Flush))
    }

    /// The checked upload is on the disk (or failed to get there: `flushed`): ask for
    /// its record, which makes the entry visible; the verdict waits for the answer.
    fn commit_upload(
        &mut self,
        conn: ConnId,
        ticket: &Ticket,
        version: String,
        flushed: Result<(), StatusError>,
        items: &[TreeItem],
        out: &mut Vec<Action>,
    ) -> (StoreJob, Option<StoreOrder>) {
        self.tickets.upload_ended(ticket);
        if let Err(e) = flushed {
            warn!("store: commit of {} failed: {}", ticket.name, e.message);
            out.push(Action::RemoveVersion(version));
            let order = StoreOrder::Verdict {
                name: ticket.name.clone(),
                status: e.status,
                message: e.message,
            };
            return (StoreJob::Done, Some(order));
        }
        let entry = self.entry_of(ticket, version, items);
        let ask = Ask::StoreRecord {
            entry: entry.clone(),
            items: items.to_vec(),
        };
        let record = self.ask(
            ask,
            pending::Then::Store(Then::Recorded { conn, entry }),
            out,
        );
        (StoreJob::Committing { record }, None)
    }

    /// The answer to an upload's record: the entry is visible now (the version it
    /// replaced goes), the console and everyone online are told; or it failed and the
    /// new version goes. The connection, if still there (`waiting`), gets the verdict.
    fn recorded(
        &mut self,
        conn: ConnId,
        waiting: bool,
        entry: StoreEntry,
        done: Result<(), PersistError>,
        out: &mut Vec<Action>,
    ) {
        let name = entry.name.clone();
        let (status, message) = match done {
            Ok(()) => {
                let text = format!(
                    "stored {name} ({})",
                    files_and_size(entry.files, entry.bytes)
                );
                self.announce_upload(&entry, out);
                if let Some(old) = self.catalogue.record(entry) {
                    out.push(Action::RemoveVersion(old));
                }
                (Status::OK, text)
            }
            Err(e) => {
                warn!("store: commit of {name} failed: {e}");
                out.push(Action::RemoveVersion(entry.version));
                (Status::INTERNAL, format!("store: {e}"))
            }
        };
        if waiting {
            let verdict = StoreOrder::Verdict {
                name,
                status,
                message,
            };
            self.store_answer(conn, StoreJob::Done, Some(verdict), out);
        }
    }

    /// The entry an upload from `ticket` into `version` makes.
    fn entry_of(&self, ticket: &Ticket, version: String, items: &[TreeItem]) -> StoreEntry {
        let kind = match ticket.op {
            TicketOp::Put { kind, .. } => kind,
            TicketOp::Get => StoreKind::File,
        };
        let totals = Totals::of(items);
        StoreEntry {
            name: ticket.name.clone(),
            owner: ticket.user.clone(),
            kind,
            files: totals.files,
            bytes: totals.bytes,
            created: self.wall,
            version,
            digest: tree_digest(items),
        }
    }

    /// Tell the console and everyone online but the uploader of a committed upload.
    fn announce_upload(&mut self, entry: &StoreEntry, out: &mut Vec<Action>) {
        let (user, name) = (entry.owner.as_str(), entry.name.as_str());
        let what = files_and_size(entry.files, entry.bytes);
        info!("{user} uploaded {name} ({what})");
        out.push(Action::Event(
            Event::new("upload", format!("{user} uploaded {name} ({what})"))
                .field("user", user)
                .field("name", name)
                .field("files", entry.files)
                .field("bytes", entry.bytes),
        ));
        self.flush_joins(out);
        let frame: Rc<[u8]> = HubMsg::Upload {
            user: user.to_owned(),
            name: name.to_owned(),
            files: entry.files,
            bytes: entry.bytes,
        }
        .to_frame()
        .into();
        let me = self.online.get(user).copied();
        for &c in self.online.values() {
            if Some(c) != me {
                out.push(Action::Share(c, Rc::clone(&frame)));
            }
        }
    }

    /// A download ended: a version replaced or removed meanwhile goes once its last
    /// reader is done.
    fn end_download(&mut self, version: &str, out: &mut Vec<Action>) {
        if let Some(gone) = self.catalogue.drop_reader(version) {
            out.push(Action::RemoveVersion(gone));
        }
    }

    /// The connection's part failed (`e`): let go of what its job held; the answer.
    fn store_failed(&mut self, job: StoreJob, e: StatusError, out: &mut Vec<Action>) -> StoreOrder {
        match job {
            StoreJob::Upload {
                ticket, version, ..
            } => {
                self.abort_upload(&ticket, version, &e.message, out);
                StoreOrder::Verdict {
                    name: ticket.name,
                    status: e.status,
                    message: e.message,
                }
            }
            StoreJob::Download { version, .. } => {
                self.end_download(&version, out);
                StoreOrder::Refuse(e.status, e.message)
            }
            StoreJob::AwaitTicket | StoreJob::Committing { .. } | StoreJob::Done => {
                StoreOrder::Refuse(e.status, e.message)
            }
        }
    }

    /// The store connection is gone: an upload that did not commit is thrown away, a
    /// download lets go of its version.
    fn store_closed(&mut self, job: StoreJob, reason: &str, out: &mut Vec<Action>) {
        match job {
            StoreJob::Upload {
                ticket, version, ..
            } => self.abort_upload(&ticket, version, reason, out),
            StoreJob::Download { version, .. } => self.end_download(&version, out),
            // A committing upload is on the disk: its record goes on without it.
            StoreJob::AwaitTicket | StoreJob::Committing { .. } | StoreJob::Done => {}
        }
    }

    /// An upload ended without being committed (failed, cancelled, cut off): its
    /// version directory goes, and the name and the bytes it held are free.
    fn abort_upload(&mut self, ticket: &Ticket, version: String, why: &str, out: &mut Vec<Action>) {
        self.tickets.upload_ended(ticket);
        info!("upload of {} by {} failed: {why}", ticket.name, ticket.user);
        out.push(Action::RemoveVersion(version));
    }
}
