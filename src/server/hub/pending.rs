//! The hub's requests to persistence: each [`Ask`] goes out as an
//! [`Action::Persist`] under a fresh [`JobId`], and waits with its continuation
//! ([`Then`], one variant per feature, finished by that feature's room) until
//! [`Hub::on_answer`] brings its [`Answer`].

use super::{accounts, chat, operator, reply, store_conns, store_rm, tracker, Action, ConnId, Hub};
use crate::proto::message::Body;
use crate::proto::status::Status;
use crate::server::persist::{Answer, Ask, JobId};
use log::warn;
use std::time::Instant;

/// What the hub does with an answer, by the feature that asked.
#[derive(Debug)]
pub(super) enum Then {
    Account(accounts::Then),
    Chat(chat::Then),
    Console(operator::Then),
    Tracker(tracker::Then),
    Store(store_conns::Then),
    StoreRm(store_rm::Then),
}

/// A reply that waits for an answer: the connection, the session on it when the
/// request came (a connection id is reused after a close), and the request's tag.
#[derive(Debug, Clone, Copy)]
pub(super) struct ReplyTo {
    pub(super) conn: ConnId,
    pub(super) serial: u64,
    pub(super) tag: u32,
}

impl Hub {
    /// Ask the backend; `then` finishes the work when the answer comes.
    pub(super) fn ask(&mut self, ask: Ask, then: Then, out: &mut Vec<Action>) -> JobId {
        let id = self.next_job;
        self.next_job += 1;
        self.pending.insert(id, then);
        out.push(Action::persist(id, ask));
        id
    }

    /// The answer to job `id` (the loop took it from the backend).
    pub fn on_answer(&mut self, id: JobId, answer: Answer, now: Instant, out: &mut Vec<Action>) {
        let Some(then) = self.pending.remove(&id) else {
            warn!("an answer to job {id}, which nobody waits for: {answer:?}");
            return;
        };
        match then {
            Then::Account(then) => self.account_answered(then, answer, now, out),
            Then::Chat(then) => self.chat_answered(then, answer, out),
            Then::Console(then) => self.console_answered(then, answer, now, out),
            Then::Tracker(then) => self.tracker_answered(then, answer, out),
            Then::Store(then) => self.store_answered(id, then, answer, out),
            Then::StoreRm(then) => self.store_rm_answered(then, answer, out),
        }
    }

    /// Whom to reply to later, for a request with `tag` on `conn` (None: no session).
    pub(super) fn reply_to(&self, conn: ConnId, tag: u32) -> Option<ReplyTo> {
        let serial = self.sessions.get(&conn)?.serial;
        Some(ReplyTo { conn, serial, tag })
    }

    /// Whether the session that asked is still on its connection.
    pub(super) fn still_there(&self, to: &ReplyTo) -> bool {
        self.sessions
            .get(&to.conn)
            .is_some_and(|s| s.serial == to.serial)
    }

    /// Send a reply that waited, if the session that asked is still there.
    pub(super) fn send_reply(
        &self,
        to: &ReplyTo,
        (status, text): (Status, String),
        body: Body,
        out: &mut Vec<Action>,
    ) {
        if self.still_there(to) {
            out.push(Action::Send(to.conn, reply(to.tag, status, text, body)));
        }
    }
}
