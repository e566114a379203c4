//! What lets a fetcher into a holder's client: the key each login announces, and the
//! fetch ticket a lookup reply carries for each holder, signed with the hub's key (see
//! `proto::ticket`).

use super::{ConnId, Hub};
use crate::proto::ticket::{FetchTicket, TicketBody};
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

    /// A signed ticket, expiring at `expires`, as its bytes.
    pub(super) fn fetch_ticket(&self, expires: u64, t: TicketFor) -> Vec<u8> {
        let body = TicketBody {
            serial: t.serial,
            expires,
            name: t.name.to_owned(),
            holder: t.holder.to_owned(),
            fetcher: t.fetcher.to_owned(),
            fetcher_key: t.fetcher_key,
        };
        let signature = self.signer.sign(&body.signed_message());
        FetchTicket { body, signature }.encode()
    }
}
