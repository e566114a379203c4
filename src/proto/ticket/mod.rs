//! Fetch tickets: the hub's signed leave for one user's client — named by its key's
//! fingerprint — to fetch one published file from one holder until an expiry. A lookup
//! reply carries one per holder (opaque bytes to the fetcher, see `Holder::ticket`),
//! the fetcher hands it to the holder in its peer `Get`, and the holder checks the
//! signature against the hub's key (`trust::ticket`) and every field against the
//! connection (`trust::admit`).
//!
//! The hub signs once per turn of its loop: the root of a hash tree over the bodies of
//! every ticket that turn issued ([`tree`]). Each ticket carries its place in that
//! tree, so a holder checks one body, one path and one signature.
//!
//! Sans-IO: the body's encoding, what the signature covers, and a strict decoder.
//!
//! ```text
//! ticket = body, proof, 64 bytes signature
//! body   = u8 format = 2, u64 serial, u64 expires (Unix seconds),
//!          str name, str holder, str fetcher, 32 bytes fetcher key
//! proof  = u16 leaf, u8 depth (at most 9), depth × 32 bytes siblings (leaf up)
//! signed = "peerhub fetch tickets\0" || u8 depth || root (tree::Proof::root)
//! ```

pub mod tree;

use super::codec::{self, Dialect, ReadError, Writer};
use super::names::{self, MAX_FILE_NAME_BYTES, MAX_USER_LEN};
use crate::trust::Fingerprint;
use std::fmt;
use tree::{Digest, Proof, MAX_PROOF};

/// Bytes of a signature: ECDSA P-256 over SHA-256, `r` then `s`, 32 bytes each.
pub const SIGNATURE_LEN: usize = 64;
/// The only ticket format there is (1 was signed ticket by ticket).
const FORMAT: u8 = 2;
/// Prefixed to what the hub signs, so that no other signature its key makes (TLS
/// handshakes sign their own context strings) can pass for a ticket's.
const CONTEXT: &[u8] = b"peerhub fetch tickets\0";
/// The longest body: the longest name and user names.
const MAX_BODY: usize = 1 + 8 + 8 + (2 + MAX_FILE_NAME_BYTES) + 2 * (2 + MAX_USER_LEN) + 32;
/// The longest ticket: the longest body, the deepest proof.
pub const MAX_TICKET: usize = MAX_BODY + MAX_PROOF + SIGNATURE_LEN;

/// What a ticket says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketBody {
    /// The hub's count of tickets issued: two tickets never have the same bytes.
    pub serial: u64,
    /// Unix seconds after which the holder refuses it.
    pub expires: u64,
    /// The published name it lets the fetcher ask for.
    pub name: String,
    /// The user whose client may serve it.
    pub holder: String,
    /// The user it was issued to.
    pub fetcher: String,
    /// The key the fetcher's client announced at login: the certificate it must show.
    pub fetcher_key: Fingerprint,
}

/// A ticket with its place in its turn's tree and the hub's signature of that tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchTicket {
    pub body: TicketBody,
    pub proof: Proof,
    pub signature: [u8; SIGNATURE_LEN],
}

/// What the hub signs for a turn's tickets: a context string, the tree's depth, its root.
pub fn signed_root(depth: u8, root: &Digest) -> Vec<u8> {
    let mut out = Vec::with_capacity(CONTEXT.len() + 1 + root.len());
    out.extend_from_slice(CONTEXT);
    out.push(depth);
    out.extend_from_slice(root);
    out
}

impl TicketBody {
    fn put(&self, w: &mut Writer) {
        w.u8(FORMAT);
        w.u64(self.serial);
        w.u64(self.expires);
        w.str(&self.name);
        w.str(&self.holder);
        w.str(&self.fetcher);
        w.bytes(self.fetcher_key.bytes());
    }

    /// The body's bytes: how a ticket begins, and what its leaf hashes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(MAX_BODY);
        self.put(&mut Writer::new(&mut out));
        out
    }
}

impl FetchTicket {
    /// The ticket's bytes, as a lookup reply and a peer `Get` carry them.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = self.body.encode();
        let mut w = Writer::new(&mut out);
        self.proof.put(&mut w);
        w.bytes(&self.signature);
        out
    }

    /// The bytes the hub's signature must cover for this ticket to be good: those of
    /// the root its proof and body lead to.
    pub fn signed_message(&self) -> Vec<u8> {
        let root = self.proof.root(tree::leaf(&self.body.encode()));
        signed_root(self.proof.depth(), &root)
    }

    /// Strictly: the one format, every field whole, names that follow the name rules,
    /// a proof no deeper than any tree, nothing after the signature. The signature is
    /// not checked here.
    pub fn decode(bytes: &[u8]) -> Result<FetchTicket, TicketError> {
        if bytes.len() > MAX_TICKET {
            return Err(TicketError("longer than any ticket"));
        }
        let mut r = Reader::new(bytes);
        if r.u8()? != FORMAT {
            return Err(TicketError("not a fetch ticket of format 2"));
        }
        let body = TicketBody {
            serial: r.u64()?,
            expires: r.u64()?,
            name: r.str()?,
            holder: r.str()?,
            fetcher: r.str()?,
            fetcher_key: Fingerprint::from_bytes(r.array()?),
        };
        let proof = Proof::read(&mut r)?;
        let signature = r.array()?;
        r.end()?;
        names::check_file_name(&body.name).map_err(|_| TicketError("bad file name"))?;
        names::check_user(&body.holder).map_err(|_| TicketError("bad holder name"))?;
        names::check_user(&body.fetcher).map_err(|_| TicketError("bad fetcher name"))?;
        Ok(FetchTicket {
            body,
            proof,
            signature,
        })
    }
}

/// Why bytes are not a ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TicketError(pub &'static str);

impl fmt::Display for TicketError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "malformed fetch ticket: {}", self.0)
    }
}

impl std::error::Error for TicketError {}

impl Dialect for TicketError {
    type Error = TicketError;
    fn error(e: ReadError) -> TicketError {
        TicketError(match e {
            ReadError::Truncated => "truncated",
            ReadError::BadUtf8 => "text is not valid UTF-8",
            ReadError::Trailing => "trailing bytes",
        })
    }
}

pub(crate) type Reader<'a> = codec::Reader<'a, TicketError>;

#[cfg(test)]
mod tests {
    use super::*;

    fn ticket() -> FetchTicket {
        FetchTicket {
            body: TicketBody {
                serial: 7,
                expires: 1_700_000_060,
                name: "song ü.mp3".into(),
                holder: "bob".into(),
                fetcher: "alice".into(),
                fetcher_key: Fingerprint::from_bytes([0xA5; 32]),
            },
            proof: Proof {
                leaf: 1,
                siblings: vec![[3; 32], [4; 32]],
            },
            signature: [0x5A; SIGNATURE_LEN],
        }
    }

    #[test]
    fn round_trips_and_the_signature_covers_the_root_the_body_and_proof_lead_to() {
        let t = ticket();
        let bytes = t.encode();
        assert_eq!(FetchTicket::decode(&bytes), Ok(t.clone()));
        let body = t.body.encode();
        assert!(bytes.starts_with(&body));
        assert_eq!(&bytes[body.len()..body.len() + 3], &[0, 1, 2]);
        let signed = t.signed_message();
        assert!(signed.starts_with(b"peerhub fetch tickets\0"));
        let root = t.proof.root(tree::leaf(&body));
        assert_eq!(&signed[CONTEXT.len()..], &[&[2][..], &root[..]].concat());
        assert_eq!(bytes[0], FORMAT);
        assert_eq!(&bytes[1..9], &7u64.to_be_bytes());
        // Another body, another place or another depth: another message.
        let mut other = t.clone();
        other.body.serial = 8;
        assert_ne!(other.signed_message(), signed);
        other = t.clone();
        other.proof.leaf = 0;
        assert_ne!(other.signed_message(), signed);
        other = t.clone();
        other.proof.siblings.pop();
        assert_ne!(other.signed_message(), signed);
    }

    #[test]
    fn the_longest_ticket_fits_its_bound() {
        let mut t = ticket();
        t.body.name = "n".repeat(MAX_FILE_NAME_BYTES);
        t.body.holder = "h".repeat(MAX_USER_LEN);
        t.body.fetcher = "f".repeat(MAX_USER_LEN);
        t.proof = Proof {
            leaf: 511,
            siblings: vec![[1; 32]; tree::MAX_DEPTH as usize],
        };
        let bytes = t.encode();
        assert_eq!(bytes.len(), MAX_TICKET);
        assert_eq!(FetchTicket::decode(&bytes), Ok(t));
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(
            FetchTicket::decode(&longer),
            Err(TicketError("longer than any ticket"))
        );
    }

    #[test]
    fn every_cut_and_every_extra_byte_is_refused() {
        let bytes = ticket().encode();
        for cut in 0..bytes.len() {
            assert!(FetchTicket::decode(&bytes[..cut]).is_err(), "cut {cut}");
        }
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert_eq!(
            FetchTicket::decode(&trailing),
            Err(TicketError("trailing bytes"))
        );
    }

    #[test]
    fn another_format_bad_names_and_bad_text_are_refused() {
        let mut other = ticket().encode();
        other[0] = 1;
        assert_eq!(
            FetchTicket::decode(&other),
            Err(TicketError("not a fetch ticket of format 2"))
        );
        for (name, holder, fetcher, why) in [
            ("../x", "bob", "alice", "bad file name"),
            ("x", "two words", "alice", "bad holder name"),
            ("x", "bob", "", "bad fetcher name"),
        ] {
            let mut t = ticket();
            t.body.name = name.into();
            t.body.holder = holder.into();
            t.body.fetcher = fetcher.into();
            assert_eq!(FetchTicket::decode(&t.encode()), Err(TicketError(why)));
        }
        let mut t = ticket();
        t.body.name = "ab".into();
        let mut bytes = t.encode();
        // The name's two bytes sit after format, serial, expires and its length.
        bytes[19] = 0xC3;
        bytes[20] = 0x28;
        assert_eq!(
            FetchTicket::decode(&bytes),
            Err(TicketError("text is not valid UTF-8"))
        );
    }
}
