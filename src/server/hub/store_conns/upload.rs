//! The upload half of a store connection, as the hub decides it: the version a
//! redeemed upload is received into, the checks again once every file arrived, the
//! record asked for once it is flushed, the verdict and the announcement with the
//! answer, and an upload that ends without a commit let go of.

use super::{StoreJob, Then};
use crate::output::files_and_size;
use crate::output::Event;
use crate::proto::codec::StatusError;
use crate::proto::message::{HubMsg, StoreKind};
use crate::proto::status::Status;
use crate::server::hub::{pending, Action, ConnId, Hub, Ticket, TicketOp};
use crate::server::persist::{Ask, PersistError};
use crate::server::store::StoreEntry;
use crate::server::storelink::StoreOrder;
use crate::transfer::tree::{tree_digest, RxLimits, Totals, TreeItem};
use log::{info, warn};
use std::rc::Rc;

/// Bytes of randomness in a version's name (24 hex digits).
const VERSION_BYTES: usize = 12;

impl Hub {
    /// An upload redeemed: a fresh version for it, received within what it declared.
    pub(super) fn start_upload(&mut self, ticket: Ticket) -> (StoreJob, StoreOrder) {
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

    /// Every file of an upload arrived and was verified: check the name, the quota and
    /// the disk again. If it may stay, it is flushed next; the upload keeps its name
    /// and bytes until it is committed.
    pub(super) fn check_received(
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
    pub(super) fn commit_upload(
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
    pub(super) fn recorded(
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
        out.push(Action::event(
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

    /// An upload ended without being committed (failed, cancelled, cut off): its
    /// version directory goes, and the name and the bytes it held are free.
    pub(super) fn abort_upload(
        &mut self,
        ticket: &Ticket,
        version: String,
        why: &str,
        out: &mut Vec<Action>,
    ) {
        self.tickets.upload_ended(ticket);
        info!("upload of {} by {} failed: {why}", ticket.name, ticket.user);
        out.push(Action::RemoveVersion(version));
    }
}
