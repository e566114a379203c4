//! Messages a client sends to the hub, one table row each: type byte, name, fields in wire order.

use crate::proto::types::{FileInfo, Hash, Role, StoreKind, MAGIC};
use crate::trust::Fingerprint;

messages! {
    /// Messages a client sends to the hub. `tag` is chosen by the client and echoed in the reply.
    pub enum ClientMsg with tag() {
        Hello = 0x01 + MAGIC { version: u16, role: Role },
        Register = 0x10, tag { user: String, password: String },
        /// `fingerprint`: the key this client's certificate shows to peers.
        Login = 0x11, tag {
            user: String,
            password: String,
            peer_port: u16,
            fingerprint: Fingerprint,
        },
        /// Log in again with the resume token a login reply gave, instead of the
        /// password: after the hub was lost (also a restarted hub), without a hash.
        /// `peer_port` and `fingerprint` as in `Login`.
        Resume = 0x17, tag { token: String, peer_port: u16, fingerprint: Fingerprint },
        Logout = 0x12, tag {},
        Passwd = 0x13, tag { old: String, new: String },
        Users = 0x14, tag {},
        /// The cheapest request: answered 200 at once (benchmarks, keep-alive).
        Echo = 0x15, tag {},
        /// The answer to the hub's [`HubMsg::Ping`](super::reply::HubMsg::Ping).
        Pong = 0x16 { nonce: u32 },
        /// Announce a file; `replace` re-announces a name whose content changed.
        Publish = 0x20, tag { file: FileInfo, replace: bool },
        Unpublish = 0x21, tag { name: String },
        /// My whole publication list (at login), in chunks; `first` clears the hub's copy.
        Sync = 0x22, tag { first: bool, files: Vec<FileInfo> },
        Search = 0x23, tag { text: String },
        Lookup = 0x24, tag { name: String },
        /// A holder served data that failed verification: stop suggesting it for `name`.
        Report = 0x25, tag { holder: String, name: String, hash: Hash },
        /// Ask for a ticket to upload `name` (a file or a tree of `files` files and `dirs`
        /// directories, `bytes` in all, the largest file `largest` bytes). The hub checks
        /// the name, ownership and every limit before it answers with
        /// [`Body::Ticket`](super::reply::Body::Ticket).
        StorePut = 0x26, tag {
            name: String,
            replace: bool,
            kind: StoreKind,
            files: u64,
            dirs: u64,
            bytes: u64,
            largest: u64,
        },
        /// Ask for a ticket to download the store entry `name`.
        StoreGet = 0x27, tag { name: String },
        /// List the store.
        StoreList = 0x28, tag {},
        /// Before walking a tree: may I upload under `name` (with `replace` or not)? The
        /// hub answers 200 or the refusal `StorePut` would give for the name (408, 409).
        StoreName = 0x29, tag { name: String, replace: bool },
        /// Remove my own store entry `name`; the reply carries
        /// [`Body::Removed`](super::reply::Body::Removed).
        StoreRm = 0x2A, tag { name: String },
        Say = 0x30, tag { text: String },
        Msg = 0x31, tag { to: String, text: String },
    }
}
