//! What passes between a store connection and the hub, as plain values: the events a
//! [`super::storeconn::StoreConn`] reports (the loop hands them to
//! [`super::hub::Hub::on_store_event`]) and the orders the hub answers with
//! ([`super::hub::Action::Store`]), which the loop carries out on that connection.

use crate::proto::codec::StatusError;
use crate::proto::message::{StoreKind, StoreToken};
use crate::proto::status::Status;
use crate::transfer::tree::{RxLimits, TreeItem};
use std::rc::Rc;

/// What happened on a store connection.
#[derive(Debug)]
pub enum StoreEvent {
    /// It presented this ticket.
    Ticket(StoreToken),
    /// The upload under way has written this many bytes in all.
    Progress(u64),
    /// Every item of the upload arrived and was verified: its manifest.
    Received(Rc<[TreeItem]>),
    /// The flush ordered by [`StoreOrder::Flush`] ended: the upload is on the disk
    /// under its final name, or it failed.
    Flushed(Result<(), StatusError>),
    /// The download was sent to its end.
    Served,
    /// Its part failed: an upload broke off (bad data, the disk), or its directory
    /// could not be made or opened. It waits for the hub's answer.
    Failed(StatusError),
    /// The connection is gone, for this reason.
    Closed(String),
}

/// What the hub tells a store connection to do.
#[derive(Debug)]
pub enum StoreOrder {
    /// Refuse the ticket with this status and text, then close.
    Refuse(Status, String),
    /// Receive an upload within `limits` into the fresh, invisible directory of
    /// `version`; say `ready` first.
    Receive { version: String, limits: RxLimits },
    /// The verified upload may stay: flush it to the disk, a slice per turn, and
    /// rename it into place.
    Flush,
    /// Answer the upload of `name` with this outcome, then close.
    Verdict {
        name: String,
        status: Status,
        message: String,
    },
    /// Send the entry of this `kind` from `version`, item by item.
    Send {
        version: String,
        kind: StoreKind,
        items: Vec<TreeItem>,
    },
}
