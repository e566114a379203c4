//! The shared vocabulary of the wire: the hello magic and version, hashes, store tokens and kinds, and the records lists carry.

use crate::trust::Fingerprint;
use std::net::SocketAddr;

/// The four bytes that open every hello, both ways.
pub const MAGIC: [u8; 4] = *b"PHUB";
/// The protocol version this build speaks (2: every connection is TLS, issue #12).
pub const VERSION: u16 = 2;
/// A BLAKE3 content hash.
pub type Hash = [u8; 32];

/// A hash as 64 lowercase hex digits (as `b3sum` prints it).
pub fn hash_hex(hash: &Hash) -> String {
    hash.iter().map(|b| format!("{b:02x}")).collect()
}

/// What kind of connection a hello opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A person's (or script's) session: accounts, chat, index.
    Session = 0,
    /// A store transfer (upload or download) redeeming a ticket; see `proto::store`.
    Store = 1,
}

/// The token that authenticates one store connection: issued to a logged-in session,
/// short-lived and single-use.
pub type StoreToken = [u8; 16];

/// What a store entry holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    /// One regular file.
    File = 0,
    /// A directory tree.
    Dir = 1,
}

impl StoreKind {
    /// `file` or `dir`, as listings show it.
    pub fn as_str(self) -> &'static str {
        match self {
            StoreKind::File => "file",
            StoreKind::Dir => "dir",
        }
    }
}

/// One store entry as the `store` listing carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreInfo {
    pub name: String,
    pub owner: String,
    pub kind: StoreKind,
    /// Regular files in the entry.
    pub files: u64,
    /// Bytes of all its files.
    pub bytes: u64,
    /// Unix seconds of the upload.
    pub created: u64,
    /// BLAKE3 over the entry's manifest (`transfer::tree::tree_digest`): tells one
    /// version from another.
    pub digest: Hash,
}

/// A published file as the index knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileInfo {
    pub name: String,
    pub size: u64,
    pub hash: Hash,
}

/// One search hit: a name and hash with the users online who hold it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchHit {
    pub file: FileInfo,
    pub owners: Vec<String>,
}

/// A peer that holds a file: who, where to reach it, what it announced, the key its
/// client must show, and the hub's ticket that lets the asking client fetch from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub user: String,
    pub addr: SocketAddr,
    pub size: u64,
    pub hash: Hash,
    /// The fingerprint of the key the holder's client announced at login.
    pub fingerprint: Fingerprint,
    /// A fetch ticket ([`super::ticket::FetchTicket`]'s bytes), handed on to the holder.
    pub ticket: Vec<u8>,
}
