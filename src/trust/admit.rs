//! A holder's decision on the fetch ticket a peer brings (issue #12, "only hub
//! members fetch"), on plain values: the hub's signature, the holder and the name it
//! names, its expiry by the wall clock, the key of the client certificate the
//! connection showed, and whether it was used already on another connection
//! ([`UsedTickets`], remembered until it expires, bounded).

use super::{Fingerprint, TicketCheck};
use crate::proto::status::Status;
use crate::proto::ticket::FetchTicket;
use std::collections::HashMap;

/// Tickets remembered as used at most (about 48 bytes each): at the default TTL of a
/// minute, a thousand fetch connections a second.
pub const MAX_USED_TICKETS: usize = 65_536;

/// What a peer's `Get` brings, and what its connection showed.
#[derive(Debug, Clone, Copy)]
pub struct Claim<'a> {
    /// The ticket's bytes (empty: none).
    pub ticket: &'a [u8],
    /// The published name asked for.
    pub name: &'a str,
    /// What the connection showed of the fetcher's client.
    pub shown: Shown,
}

/// The certificate a peer connection showed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shown {
    /// A TLS connection, with the key of the client certificate it showed (`None`: it
    /// showed none, which the listener does not let happen).
    Tls(Option<Fingerprint>),
    /// A plaintext connection (`--insecure-plaintext`): nothing to check.
    Plaintext,
}

/// The holder's side: who it is, the hub key that checks tickets (none before the hub
/// sent a usable one), and the wall clock in Unix seconds.
#[derive(Clone, Copy)]
pub struct Holder<'a> {
    pub me: &'a str,
    pub hub_key: Option<&'a dyn TicketCheck>,
    pub wall: u64,
}

/// Why a ticket is refused: the status of the peer `Answer` (407, or 503 when the
/// holder cannot check any) and a sentence for the fetcher.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: Status,
    pub message: String,
}

/// Refused with 407, the fault of the ticket.
fn refuse(message: String) -> Refusal {
    Refusal {
        status: Status::NOT_LOGGED_IN,
        message: format!("no valid fetch ticket: {message}"),
    }
}

/// The user the ticket lets in, once every check passed; the ticket is then used.
pub fn admit(claim: Claim, holder: Holder, used: &mut UsedTickets) -> Result<String, Refusal> {
    let Some(hub_key) = holder.hub_key else {
        return Err(Refusal {
            status: Status::UNAVAILABLE,
            message: "this client has no usable key of the hub yet, so it cannot check fetch \
                      tickets; try again once it reached the hub"
                .to_owned(),
        });
    };
    if claim.ticket.is_empty() {
        return Err(refuse(
            "none was sent; look the file up on the hub first".into(),
        ));
    }
    let ticket = FetchTicket::decode(claim.ticket).map_err(|e| refuse(e.to_string()))?;
    let body = &ticket.body;
    if !hub_key.verifies(&ticket.signed_message(), &ticket.signature) {
        return Err(refuse("it is not signed by the hub's key".into()));
    }
    if body.holder != holder.me {
        return Err(refuse(format!(
            "it is for {}'s client, not {}'s",
            body.holder, holder.me
        )));
    }
    if body.name != claim.name {
        return Err(refuse(format!(
            "it is for {:?}, not {:?}",
            body.name, claim.name
        )));
    }
    if holder.wall > body.expires {
        return Err(refuse(format!(
            "it expired {} s ago",
            holder.wall - body.expires
        )));
    }
    match claim.shown {
        Shown::Tls(Some(shown)) if shown == body.fetcher_key => {}
        Shown::Tls(Some(_)) => {
            return Err(refuse(format!(
                "it was issued to {}'s client, and this connection shows another key",
                body.fetcher
            )))
        }
        Shown::Tls(None) => {
            return Err(refuse(
                "this connection showed no client certificate".into(),
            ))
        }
        Shown::Plaintext => {}
    }
    used.take(claim.ticket, body.expires, holder.wall)?;
    Ok(body.fetcher.clone())
}

/// The tickets used already, each until it expires.
#[derive(Debug)]
pub struct UsedTickets {
    /// The BLAKE3 of a ticket's bytes, and when it expires.
    seen: HashMap<[u8; 32], u64>,
    max: usize,
}

impl Default for UsedTickets {
    fn default() -> UsedTickets {
        UsedTickets::new(MAX_USED_TICKETS)
    }
}

impl UsedTickets {
    /// A record of at most `max` tickets.
    pub fn new(max: usize) -> UsedTickets {
        UsedTickets {
            seen: HashMap::new(),
            max,
        }
    }

    /// Tickets remembered now.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.seen.len()
    }

    /// Mark `ticket` (expiring at `expires`) used at `wall`: refused if it was, or if
    /// the record is full of tickets that have not expired (503, try again later).
    fn take(&mut self, ticket: &[u8], expires: u64, wall: u64) -> Result<(), Refusal> {
        let id = *blake3::hash(ticket).as_bytes();
        if self.seen.contains_key(&id) {
            return Err(refuse(
                "it was used already, on another connection (a ticket lets in one); fetch again"
                    .into(),
            ));
        }
        if self.seen.len() >= self.max {
            self.seen.retain(|_, &mut until| until >= wall);
        }
        if self.seen.len() >= self.max {
            return Err(Refusal {
                status: Status::UNAVAILABLE,
                message: "busy: too many fetch tickets in use; try again later".to_owned(),
            });
        }
        self.seen.insert(id, expires);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::ticket::tree::{self, Proof, Tree};
    use crate::proto::ticket::{signed_root, TicketBody, SIGNATURE_LEN};
    use crate::trust::ticket::FakeSigner;
    use crate::trust::TicketSigner;

    const WALL: u64 = 1_000_000;

    fn key(user: &str) -> Fingerprint {
        Fingerprint::of_spki(user.as_bytes())
    }

    fn body() -> TicketBody {
        TicketBody {
            serial: 1,
            expires: WALL + 60,
            name: "x.bin".into(),
            holder: "bob".into(),
            fetcher: "alice".into(),
            fetcher_key: key("alice"),
        }
    }

    /// A ticket signed alone: a tree of one leaf.
    fn signed(body: TicketBody) -> Vec<u8> {
        let mut ticket = FetchTicket {
            body,
            proof: Proof::default(),
            signature: [0; SIGNATURE_LEN],
        };
        ticket.signature = FakeSigner.sign(&ticket.signed_message());
        ticket.encode()
    }

    /// Tickets for `bodies`, signed together as one turn signs them.
    fn signed_together(bodies: Vec<TicketBody>) -> Vec<Vec<u8>> {
        let leaves: Vec<_> = bodies.iter().map(|b| tree::leaf(&b.encode())).collect();
        let tree = Tree::new(&leaves);
        let signature = FakeSigner.sign(&signed_root(tree.depth(), &tree.root()));
        bodies
            .into_iter()
            .enumerate()
            .map(|(i, body)| {
                let proof = tree.proof(i as u16);
                FetchTicket {
                    body,
                    proof,
                    signature,
                }
                .encode()
            })
            .collect()
    }

    fn claim(ticket: &[u8]) -> Claim<'_> {
        Claim {
            ticket,
            name: "x.bin",
            shown: Shown::Tls(Some(key("alice"))),
        }
    }

    fn bob() -> Holder<'static> {
        Holder {
            me: "bob",
            hub_key: Some(&FakeSigner),
            wall: WALL,
        }
    }

    /// The message of a refusal with 407.
    fn refused(result: Result<String, Refusal>) -> String {
        match result {
            Err(Refusal { status, message }) if status == Status::NOT_LOGGED_IN => message,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_ticket_of_the_hub_for_me_this_file_and_this_client_lets_its_fetcher_in_once() {
        let ticket = signed(body());
        let mut used = UsedTickets::default();
        assert_eq!(admit(claim(&ticket), bob(), &mut used), Ok("alice".into()));
        assert_eq!(used.len(), 1);
        let again = refused(admit(claim(&ticket), bob(), &mut used));
        assert!(again.contains("used already"), "{again}");
        // Up to its last second, by the wall clock.
        let other = signed(TicketBody {
            serial: 2,
            ..body()
        });
        let last = Holder {
            wall: WALL + 60,
            ..bob()
        };
        assert_eq!(admit(claim(&other), last, &mut used), Ok("alice".into()));
    }

    #[test]
    fn each_ticket_of_a_turn_s_tree_is_good_and_a_bent_path_is_not() {
        let bodies: Vec<_> = (0..5)
            .map(|serial| TicketBody { serial, ..body() })
            .collect();
        let tickets = signed_together(bodies);
        for ticket in &tickets {
            let mut used = UsedTickets::default();
            assert_eq!(admit(claim(ticket), bob(), &mut used), Ok("alice".into()));
        }
        let mut bent = tickets[2].clone();
        // The first sibling's first byte: after the body, the leaf index and the depth.
        let at = body().encode().len() + 3;
        bent[at] ^= 1;
        let mut used = UsedTickets::default();
        let refusal = refused(admit(claim(&bent), bob(), &mut used));
        assert!(refusal.contains("not signed by the hub's key"), "{refusal}");
        // Another ticket's place in the tree does not fit this body either.
        let mut moved = FetchTicket::decode(&tickets[2]).unwrap();
        moved.proof.leaf = 3;
        let refusal = refused(admit(claim(&moved.encode()), bob(), &mut used));
        assert!(refusal.contains("not signed by the hub's key"), "{refusal}");
    }

    #[test]
    fn every_other_ticket_is_refused_with_its_reason() {
        let forged = {
            let mut t = FetchTicket::decode(&signed(body())).unwrap();
            t.body.fetcher = "mallory".into();
            t.encode()
        };
        let cases: [(Vec<u8>, Claim, Holder, &str); 8] = [
            (Vec::new(), claim(&[]), bob(), "none was sent"),
            (
                b"junk".to_vec(),
                claim(&[]),
                bob(),
                "malformed fetch ticket",
            ),
            (forged, claim(&[]), bob(), "not signed by the hub"),
            (
                signed(body()),
                claim(&[]),
                Holder {
                    me: "carol",
                    ..bob()
                },
                "it is for bob's client, not carol's",
            ),
            (
                signed(body()),
                Claim {
                    name: "y.bin",
                    ..claim(&[])
                },
                bob(),
                "it is for \"x.bin\", not \"y.bin\"",
            ),
            (
                signed(body()),
                claim(&[]),
                Holder {
                    wall: WALL + 63,
                    ..bob()
                },
                "it expired 3 s ago",
            ),
            (
                signed(body()),
                Claim {
                    shown: Shown::Tls(Some(key("mallory"))),
                    ..claim(&[])
                },
                bob(),
                "issued to alice's client, and this connection shows another key",
            ),
            (
                signed(body()),
                Claim {
                    shown: Shown::Tls(None),
                    ..claim(&[])
                },
                bob(),
                "showed no client certificate",
            ),
        ];
        for (ticket, c, holder, why) in cases {
            let mut used = UsedTickets::default();
            let c = Claim {
                ticket: &ticket,
                ..c
            };
            let message = refused(admit(c, holder, &mut used));
            assert!(message.starts_with("no valid fetch ticket: "), "{message}");
            assert!(message.contains(why), "{why:?} in {message:?}");
            assert_eq!(used.len(), 0, "a refused ticket is not used: {why}");
        }
    }

    #[test]
    fn a_plaintext_connection_shows_no_key_and_still_needs_a_ticket() {
        let ticket = signed(body());
        let mut used = UsedTickets::default();
        let plain = Claim {
            shown: Shown::Plaintext,
            ..claim(&ticket)
        };
        assert_eq!(admit(plain, bob(), &mut used), Ok("alice".into()));
        let none = Claim {
            ticket: &[],
            ..plain
        };
        assert!(refused(admit(none, bob(), &mut used)).contains("none was sent"));
    }

    #[test]
    fn without_the_hub_s_key_nothing_is_checked_and_the_fetcher_hears_so() {
        let ticket = signed(body());
        let keyless = Holder {
            hub_key: None,
            ..bob()
        };
        let got = admit(claim(&ticket), keyless, &mut UsedTickets::default()).unwrap_err();
        assert_eq!(got.status, Status::UNAVAILABLE);
        assert!(
            got.message.contains("no usable key of the hub"),
            "{}",
            got.message
        );
    }

    #[test]
    fn the_record_forgets_expired_tickets_when_full_and_is_bounded() {
        let mut used = UsedTickets::new(2);
        let ticket = |serial, expires| {
            signed(TicketBody {
                serial,
                expires,
                ..body()
            })
        };
        let at = |wall| Holder { wall, ..bob() };
        let (a, b, c, d) = (
            ticket(1, WALL),
            ticket(2, WALL + 60),
            ticket(3, WALL + 60),
            ticket(4, WALL + 60),
        );
        assert!(admit(claim(&a), at(WALL), &mut used).is_ok());
        assert!(admit(claim(&b), at(WALL), &mut used).is_ok());
        // Full of live tickets: 503, and the ticket stays unused.
        let full = admit(claim(&c), at(WALL), &mut used).unwrap_err();
        assert_eq!(full.status, Status::UNAVAILABLE);
        // Once the first expired, its room is taken back.
        assert!(admit(claim(&c), at(WALL + 1), &mut used).is_ok());
        assert_eq!(used.len(), 2);
        assert_eq!(
            admit(claim(&d), at(WALL + 1), &mut used)
                .unwrap_err()
                .status,
            Status::UNAVAILABLE
        );
    }
}
