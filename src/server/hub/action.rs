//! What the hub asks of its loop: the [`Action`]s every handler returns — frames to
//! queue, closes, timers, console output, asks of the persistence backend, orders for
//! store connections and store versions to remove.

use super::ConnId;
use crate::output::{CommandResult, Event};
use crate::server::persist::{Ask, JobId};
use crate::server::storelink::StoreOrder;
use std::rc::Rc;
use std::time::Instant;

/// What the loop must do after the hub handled something.
#[derive(Debug)]
pub enum Action {
    /// Queue a frame for one connection.
    Send(ConnId, Vec<u8>),
    /// Queue a frame encoded once and shared among recipients.
    Share(ConnId, Rc<[u8]>),
    /// Close a connection once its queued bytes are flushed (or at once if they cannot be).
    Close(ConnId),
    /// Call [`Hub::on_timer`](super::Hub::on_timer) for this connection at this instant.
    Arm(Instant, ConnId, u64),
    /// Print a console result.
    Result(Box<CommandResult>),
    /// Print a console notification.
    Event(Box<Event>),
    /// Everyone was told; exit the loop once queues are flushed.
    Exit,
    /// The connection said hello as a store connection: the loop takes it over (the hub
    /// forgot it) and reports what happens on it to [`Hub::on_store_event`](super::Hub::on_store_event).
    Upgrade(ConnId),
    /// Hand this request to the persistence backend; its answer goes to
    /// [`Hub::on_answer`](super::Hub::on_answer) with the same id.
    Persist(JobId, Box<Ask>),
    /// Carry out this order on the store connection.
    Store(ConnId, Box<StoreOrder>),
    /// Remove this store version from the disk (committed or still incoming), a slice
    /// per turn.
    RemoveVersion(String),
}

/// The rare, big payloads are boxed: an action is moved for every reply the hub sends,
/// so it stays as small as a frame's (see the test `an_action_is_as_small_as_a_send`).
impl Action {
    pub fn result(result: CommandResult) -> Action {
        Action::Result(Box::new(result))
    }

    pub fn event(event: Event) -> Action {
        Action::Event(Box::new(event))
    }

    pub(crate) fn persist(id: JobId, ask: Ask) -> Action {
        Action::Persist(id, Box::new(ask))
    }

    pub(crate) fn store(conn: ConnId, order: StoreOrder) -> Action {
        Action::Store(conn, Box::new(order))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An action is moved for every reply: no variant may be bigger than a `Send`'s.
    #[test]
    fn an_action_is_as_small_as_a_send() {
        let send = std::mem::size_of::<(ConnId, Vec<u8>)>();
        assert!(
            std::mem::size_of::<Action>() <= send + std::mem::size_of::<usize>(),
            "Action is {} bytes; box the variant that grew it",
            std::mem::size_of::<Action>()
        );
    }
}
