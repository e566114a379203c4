//! What the hub does for each store connection it handed to the loop: it redeems the
//! ticket the connection presents, names the version an upload goes into, checks a
//! received upload again before it is flushed, commits and announces it once it is on
//! the disk, keeps a version alive while a download reads it, and has every version
//! nobody needs any more removed ([`Action::RemoveVersion`]). It gets the connection's
//! events and answers with orders; the bytes and the files are the loop's. Here: the
//! events dispatched by the connection's job, the ticket redeemed, a download's
//! readers and manifest, what a failure or close lets go of; an upload's own steps
//! are in [`upload`].

use super::{pending, Action, ConnId, Hub, Ticket, TicketOp};
use crate::proto::codec::StatusError;
use crate::proto::message::StoreKind;
use crate::proto::status::Status;
use crate::server::persist::{Answer, Ask, JobId};
use crate::server::store::StoreEntry;
use crate::server::storelink::{StoreEvent, StoreOrder};
use crate::transfer::tree::TreeItem;
use log::debug;
use std::rc::Rc;
use std::time::Instant;

mod upload;

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
            out.push(Action::store(conn, order));
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
                out.push(Action::store(conn, order));
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
}
