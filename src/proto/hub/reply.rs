//! Messages the hub sends to a client and the typed body of a reply, one table row each, plus the borrowed fast path for lookup replies.

use super::field::Field;
use crate::proto::codec;
use crate::proto::frame;
use crate::proto::status::Status;
use crate::proto::types::{Hash, Holder, SearchHit, StoreInfo, StoreKind, StoreToken, MAGIC};
use crate::trust::Fingerprint;
use std::net::SocketAddr;

field_enum! {
    /// The typed part of a reply, beside its status and message.
    pub enum Body, unknown "reply body" {
        None = 0,
        /// A login's result: users online now, and the resume token that logs this
        /// account in again without its password (a secret: never shown or logged).
        LoggedIn { online: u32, token: String } = 1,
        /// Names of users (the `users` command).
        Users(users: Vec<String>) = 2,
        // 3 was `Files`, which no hub ever sent: reserved, refused as unknown.
        /// Search results and whether they were cut.
        Search { truncated: bool, hits: Vec<SearchHit> } = 4,
        /// Lookup results: who holds the name now, each with the size and hash announced.
        Holders(holders: Vec<Holder>) = 5,
        /// A store ticket: the token to present on a store connection, and the entry's
        /// kind and totals (for a download: what will arrive; for an upload: as declared).
        Ticket { token: StoreToken, kind: StoreKind, files: u64, bytes: u64 } = 6,
        /// The store listing, whether it was cut to fit one frame, and the asking user's
        /// usage: the bytes of their entries and their quota (0: no limit).
        Store { truncated: bool, used: u64, quota: u64, entries: Vec<StoreInfo> } = 7,
        /// A refusal for a rate limit (429): whole seconds until a retry may succeed.
        RetryAfter(seconds: u32) = 8,
        /// A store entry that was removed: its name, kind and totals.
        Removed { name: String, kind: StoreKind, files: u64, bytes: u64 } = 9,
    }
}

messages! {
    /// Messages the hub sends to a client.
    pub enum HubMsg {
        /// `hub_key`: the hub's public key (DER SubjectPublicKeyInfo), which checks the
        /// fetch tickets of lookup replies.
        Welcome = 0x02 + MAGIC { version: u16, server: String, hub_key: Vec<u8> },
        Reply = 0x40 { tag: u32, status: Status, message: String, body: Body },
        /// Status 203: the hub checks that the client is alive.
        Ping = 0x50 { nonce: u32 },
        Chat = 0x51 { from: String, text: String, history: bool },
        Private = 0x52 { from: String, text: String },
        Join = 0x53 { user: String, online: u32 },
        Leave = 0x54 { user: String, online: u32, reason: String },
        Announce = 0x55 { text: String },
        /// The hub ends this session (kick 200, ban 423) and keeps the connection.
        Kicked = 0x56 { status: Status, reason: String },
        /// The hub closes the connection after this (bad hello 400, full or shutting down 503).
        Bye = 0x57 { status: Status, reason: String },
        /// A store upload completed (sent to everyone online but the uploader).
        Upload = 0x58 { user: String, name: String, files: u64, bytes: u64 },
        /// Several users joined, in order: one notice shared by everyone online. `online`
        /// is the count after the last of them joined.
        Joins = 0x59 { users: Vec<String>, online: u32 },
    }
}

impl HubMsg {
    /// This message as one standalone frame.
    pub fn to_frame(&self) -> Vec<u8> {
        // Most frames are small: one allocation instead of a few growth steps.
        let mut out = Vec::with_capacity(128);
        self.encode(&mut out);
        out
    }
}

/// One holder of a lookup reply, borrowed from the hub's index and sessions, with the
/// ticket made for this reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HolderEntry<'a> {
    pub user: &'a str,
    pub addr: SocketAddr,
    pub size: u64,
    pub hash: Hash,
    pub fingerprint: Fingerprint,
    pub ticket: Vec<u8>,
}

/// Encode a lookup reply straight from borrowed holder data, without building a
/// [`HubMsg`]: the hub's hottest path. The bytes are exactly those of
/// `HubMsg::Reply { tag, status, message, body: Body::Holders(..) }` with the same
/// holders (at most `u16::MAX`). Returns how many holders were written; `tickets`
/// gets where each holder's ticket begins in `out` (its length field), for
/// [`complete_tickets`].
pub fn encode_holders_reply<'a>(
    out: &mut Vec<u8>,
    tag: u32,
    status: Status,
    message: &str,
    holders: impl Iterator<Item = HolderEntry<'a>>,
    tickets: &mut Vec<usize>,
) -> usize {
    // The type bytes of `HubMsg::Reply` and `Body::Holders` in the tables above (the
    // tests check that both encodings agree).
    const REPLY: u8 = 0x40;
    const HOLDERS: u8 = 5;
    let mut written = 0;
    codec::framed(out, |w| {
        w.u8(REPLY);
        w.u32(tag);
        w.u16(status.0);
        w.str(message);
        w.u8(HOLDERS);
        let count_at = w.position();
        w.u16(0);
        for holder in holders.take(u16::MAX as usize) {
            w.str(holder.user);
            holder.addr.put(w);
            w.u64(holder.size);
            w.bytes(&holder.hash);
            w.bytes(holder.fingerprint.bytes());
            tickets.push(w.position());
            let n = w.count(holder.ticket.len());
            w.bytes(&holder.ticket[..n]);
            written += 1;
        }
        w.patch_u16(count_at, written as u16);
    });
    written
}

/// The lookup reply `frame` (one whole frame, as [`encode_holders_reply`] made it) with
/// what `tail(i)` appends to its `i`th ticket, whose length field is at `tickets[i]`
/// (in order): the ticket's and the frame's lengths grow to match. The hub writes each
/// ticket's body at once and its proof and signature when its turn signed them.
pub fn complete_tickets(
    frame: &[u8],
    tickets: &[usize],
    mut tail: impl FnMut(usize, &mut codec::Writer),
) -> Vec<u8> {
    let mut out = Vec::with_capacity(frame.len() + tickets.len() * 512);
    let start = frame::begin(&mut out);
    let mut copied = frame::HEADER_LEN;
    for (i, &at) in tickets.iter().enumerate() {
        let len = u16::from_be_bytes([frame[at], frame[at + 1]]) as usize;
        let end = at + 2 + len;
        let field = out.len() + (at - copied);
        out.extend_from_slice(&frame[copied..end]);
        copied = end;
        tail(i, &mut codec::Writer::new(&mut out));
        let grown = (out.len() - field - 2).min(u16::MAX as usize) as u16;
        out[field..field + 2].copy_from_slice(&grown.to_be_bytes());
    }
    out.extend_from_slice(&frame[copied..]);
    frame::finish(&mut out, start);
    out
}
