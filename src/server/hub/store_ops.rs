//! The hub's store requests on the session connection: tickets (checked against the
//! name, the owner, the quota and the disk with every upload under way counted, and the
//! per-user ticket limit), the name check, the listing, and the store connections'
//! hello and count. What a store connection does with its ticket is in
//! `store_conns.rs`.

use super::store_conns::StoreJob;
use super::{Action, Hub, Ticket, TicketOp, MAX_REPLY_BODY};
use crate::proto::message::{Body, StoreInfo, StoreKind};
use crate::proto::names;
use crate::proto::status::Status;
use crate::proto::store::{self as wire, StoreMsg};
use crate::server::store::{Claim, Held, StoreEntry};
use crate::server::tickets::Refusal;
use crate::transfer::tree::Totals;
use log::{debug, info};
use std::time::Instant;

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
    /// A connection said hello as a store connection: hand it to the loop, or refuse
    /// it with a store `Status` 503 when `--max-store-conns` are open.
    pub(super) fn store_hello(&mut self, conn: super::ConnId, out: &mut Vec<Action>) {
        let max = self.config.max_store_conns;
        if max > 0 && self.store_jobs.len() >= max {
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
        self.store_jobs.insert(conn, StoreJob::AwaitTicket);
        out.push(Action::Upgrade(conn));
    }

    /// Store connections open now.
    pub fn store_connections(&self) -> usize {
        self.store_jobs.len()
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
        if let Err((status, text)) = self.check_declared(put) {
            return refuse(status, text);
        }
        if let Err(r) = self.tickets.admit(user, Some(name), now) {
            return refused(r);
        }
        let held = Held {
            reserved: self.tickets.user_reserved(user),
            pending: self.tickets.pending_disk(None),
        };
        let claim = Claim {
            user,
            name,
            replace,
            bytes: declared.bytes,
            largest,
        };
        if let Err((status, text)) =
            self.catalogue
                .check_upload(claim, held, self.free_space.as_ref())
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

    /// The checks of an upload's declaration alone: a valid name (408), a shape that
    /// fits its kind (400), not more items than an entry takes (413).
    fn check_declared(&self, put: PutRequest) -> Result<(), (Status, String)> {
        let PutRequest {
            name,
            kind,
            declared,
            largest,
            ..
        } = put;
        // A `.peerhub-` name would land on a client's own files when downloaded.
        names::check_published_name(name).map_err(|e| (Status::INVALID_NAME, e.to_string()))?;
        let shape_ok = match kind {
            StoreKind::File => declared.files == 1 && declared.dirs == 0,
            StoreKind::Dir => declared.dirs >= 1,
        };
        if !shape_ok || largest > declared.bytes {
            return Err((
                Status::BAD_REQUEST,
                format!("the declared {} is inconsistent", kind.as_str()),
            ));
        }
        let items = declared.files.saturating_add(declared.dirs);
        let most = self.config.store_max_items;
        if items > most {
            return Err((
                Status::TOO_LARGE,
                format!(
                    "{items} files and directories are more than the store takes in one entry ({most})"
                ),
            ));
        }
        Ok(())
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
        let Some(entry) = self.catalogue.get(name) else {
            return (
                Status::NO_FILE,
                format!("no store entry named {name:?}"),
                Body::None,
            );
        };
        let (kind, files, bytes) = (entry.kind, entry.files, entry.bytes);
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
                    kind,
                    files,
                    bytes,
                },
            ),
            Err((status, text)) => (status, text, Body::None),
        }
    }

    /// May `user` upload under `name` (asked before the client walks its tree)? The
    /// name checks of [`Hub::store_put`], without reserving anything: 408, 409, or 200.
    pub(super) fn store_name(&self, user: &str, name: &str, replace: bool) -> (Status, String) {
        if let Err(refusal) = self.catalogue.check_name(user, name, replace) {
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
        let used = self.catalogue.usage(user, "");
        let (entries, truncated) = fit_listing(self.catalogue.list());
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
            quota: self.catalogue.quota(),
        };
        (Status::OK, text, body)
    }
}

/// The listing cut to fit one reply frame, and whether it was cut.
fn fit_listing<'a>(entries: impl Iterator<Item = &'a StoreEntry>) -> (Vec<StoreInfo>, bool) {
    let mut out = Vec::new();
    let mut bytes = 0;
    for e in entries {
        bytes += 2 + e.name.len() + 2 + e.owner.len() + 25 + 32;
        if bytes > MAX_REPLY_BODY {
            return (out, true);
        }
        out.push(e.info());
    }
    (out, false)
}
