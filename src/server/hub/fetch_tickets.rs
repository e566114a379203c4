//! What lets a fetcher into a holder's client: the key each login announces, and the
//! fetch ticket a lookup reply carries for each holder (see `proto::ticket`).
//!
//! A turn's tickets share one signature. A lookup writes each ticket's body into its
//! reply and the reply is held; at the turn's end ([`Hub::sign_tickets`]) the hub
//! builds the tree over every body of the turn, signs its root once, and completes and
//! sends the held replies in the order they were made. Once a connection has a reply
//! held, its further requests of the turn wait for the next (lookups excepted, whose
//! replies are held behind it), so its replies still come in the order it asked.

use super::{Action, ConnId, Hub};
use crate::proto::message::complete_tickets;
use crate::proto::ticket::tree::{self, Digest, Tree};
use crate::proto::ticket::{signed_root, TicketBody};
use crate::trust::Fingerprint;

/// The fields of one ticket that change from holder to holder.
pub(super) struct TicketFor<'a> {
    /// Its serial.
    pub(super) serial: u64,
    pub(super) name: &'a str,
    pub(super) holder: &'a str,
    pub(super) fetcher: &'a str,
    pub(super) fetcher_key: Fingerprint,
}

/// The tickets of this turn, waiting for its one signature, and the replies they are in.
#[derive(Debug, Default)]
pub(super) struct TurnTickets {
    /// The leaf of every ticket issued this turn, in order.
    leaves: Vec<Digest>,
    /// The replies held until the turn signs, in the order they were made.
    held: Vec<Held>,
}

/// A lookup reply held for the turn's signature.
#[derive(Debug)]
struct Held {
    conn: ConnId,
    /// The session the reply is for (a connection id is reused after a close).
    serial: u64,
    frame: Vec<u8>,
    /// Where each of its tickets begins in `frame` (see `encode_holders_reply`).
    tickets: Vec<usize>,
    /// The leaf index of its first ticket (the others follow).
    first_leaf: usize,
}

impl Hub {
    /// A login on `conn` announces that its client shows peers the key `fingerprint`.
    pub(super) fn claim_key(&mut self, conn: ConnId, fingerprint: Fingerprint) {
        if let Some(session) = self.sessions.get_mut(&conn) {
            session.fingerprint = Some(fingerprint);
        }
    }

    /// The key the client logged in on `conn` announced.
    pub(super) fn key_of(&self, conn: ConnId) -> Option<Fingerprint> {
        self.sessions.get(&conn)?.fingerprint
    }

    /// The Unix second after which a ticket issued in this turn is refused.
    pub(super) fn ticket_expiry(&self) -> u64 {
        self.wall
            .saturating_add(self.config.fetch_ticket_ttl.as_secs())
    }

    /// A ticket's body, expiring at `expires`, as its bytes, and its leaf.
    pub(super) fn ticket_body(expires: u64, t: TicketFor) -> (Vec<u8>, Digest) {
        let body = TicketBody {
            serial: t.serial,
            expires,
            name: t.name.to_owned(),
            holder: t.holder.to_owned(),
            fetcher: t.fetcher.to_owned(),
            fetcher_key: t.fetcher_key,
        }
        .encode();
        let leaf = tree::leaf(&body);
        (body, leaf)
    }

    /// A lookup reply for `conn`: held with its tickets (whose leaves these are, in
    /// order) until the turn signs, or sent now if it has none and nothing of `conn`
    /// is held.
    pub(super) fn send_lookup_reply(
        &mut self,
        conn: ConnId,
        frame: Vec<u8>,
        tickets: Vec<usize>,
        leaves: Vec<Digest>,
        out: &mut Vec<Action>,
    ) {
        let turn = self.turn;
        let Some(session) = self.sessions.get_mut(&conn) else {
            return;
        };
        if tickets.is_empty() && !session.used.holds(turn) {
            return out.push(Action::Send(conn, frame));
        }
        session.used.hold(turn);
        let serial = session.serial;
        let first_leaf = self.turn_tickets.leaves.len();
        self.turn_tickets.leaves.extend(leaves);
        self.turn_tickets.held.push(Held {
            conn,
            serial,
            frame,
            tickets,
            first_leaf,
        });
    }

    /// The turn ends: sign the root of its tickets' tree once, and send every held
    /// reply, its tickets completed with their proofs and the signature.
    pub(super) fn sign_tickets(&mut self, out: &mut Vec<Action>) {
        let TurnTickets { leaves, held } = std::mem::take(&mut self.turn_tickets);
        if held.is_empty() {
            return;
        }
        let signed = (!leaves.is_empty()).then(|| {
            let tree = Tree::new(&leaves);
            let signature = self.signer.sign(&signed_root(tree.depth(), &tree.root()));
            (tree, signature)
        });
        for reply in held {
            let Some(session) = self.sessions.get_mut(&reply.conn) else {
                continue;
            };
            if session.serial != reply.serial {
                continue;
            }
            session.used.release();
            let frame = match &signed {
                Some((tree, signature)) if !reply.tickets.is_empty() => {
                    complete_tickets(&reply.frame, &reply.tickets, |i, w| {
                        tree.proof((reply.first_leaf + i) as u16).put(w);
                        w.bytes(signature);
                    })
                }
                _ => reply.frame,
            };
            out.push(Action::Send(reply.conn, frame));
        }
    }
}
