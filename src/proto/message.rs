//! Every message of the hub protocol as an enum variant, with its encoding and decoding.
//!
//! A message is one frame; its first payload byte is the message type. Integers are
//! big-endian; strings are a u16 byte length then UTF-8; lists are a u16 count.

use super::codec::{self, Dialect, ReadError};
use super::frame;
use super::status::Status;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The four bytes that open every hello, both ways.
pub const MAGIC: [u8; 4] = *b"PHUB";
/// The protocol version this build speaks.
pub const VERSION: u16 = 1;
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

/// A peer that holds a file: who, where to reach it, and what it announced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub user: String,
    pub addr: SocketAddr,
    pub size: u64,
    pub hash: Hash,
}

/// The typed part of a reply, beside its status and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    None,
    /// Users online now (login result).
    Online(u32),
    /// Names of users (the `users` command).
    Users(Vec<String>),
    /// Files (what I published, a user's files).
    Files(Vec<FileInfo>),
    /// Search results and whether they were cut.
    Search {
        hits: Vec<SearchHit>,
        truncated: bool,
    },
    /// Lookup results: who holds the name now, each with the size and hash announced.
    Holders(Vec<Holder>),
    /// A store ticket: the token to present on a store connection, and the entry's
    /// kind and totals (for a download: what will arrive; for an upload: as declared).
    Ticket {
        token: StoreToken,
        kind: StoreKind,
        files: u64,
        bytes: u64,
    },
    /// The store listing, whether it was cut to fit one frame, and the asking user's
    /// usage: the bytes of their entries and their quota (0: no limit).
    Store {
        entries: Vec<StoreInfo>,
        truncated: bool,
        used: u64,
        quota: u64,
    },
    /// A store entry that was removed: its name, kind and totals.
    Removed {
        name: String,
        kind: StoreKind,
        files: u64,
        bytes: u64,
    },
    /// A refusal for a rate limit (429): whole seconds until a retry may succeed.
    RetryAfter(u32),
}

/// Messages a client sends to the hub. `tag` is chosen by the client and echoed in the reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientMsg {
    Hello {
        version: u16,
        role: Role,
    },
    Register {
        tag: u32,
        user: String,
        password: String,
    },
    Login {
        tag: u32,
        user: String,
        password: String,
        peer_port: u16,
    },
    Logout {
        tag: u32,
    },
    Passwd {
        tag: u32,
        old: String,
        new: String,
    },
    Users {
        tag: u32,
    },
    /// The cheapest request: answered 200 at once (benchmarks, keep-alive).
    Echo {
        tag: u32,
    },
    /// The answer to the hub's [`HubMsg::Ping`].
    Pong {
        nonce: u32,
    },
    /// Announce a file; `replace` re-announces a name whose content changed.
    Publish {
        tag: u32,
        file: FileInfo,
        replace: bool,
    },
    Unpublish {
        tag: u32,
        name: String,
    },
    /// My whole publication list (at login), in chunks; `first` clears the hub's copy.
    Sync {
        tag: u32,
        files: Vec<FileInfo>,
        first: bool,
    },
    Search {
        tag: u32,
        text: String,
    },
    Lookup {
        tag: u32,
        name: String,
    },
    /// A holder served data that failed verification: stop suggesting it for `name`.
    Report {
        tag: u32,
        holder: String,
        name: String,
        hash: Hash,
    },
    Say {
        tag: u32,
        text: String,
    },
    Msg {
        tag: u32,
        to: String,
        text: String,
    },
    /// Ask for a ticket to upload `name` (a file or a tree of `files` files and `dirs`
    /// directories, `bytes` in all, the largest file `largest` bytes). The hub checks
    /// the name, ownership and every limit before it answers with [`Body::Ticket`].
    StorePut {
        tag: u32,
        name: String,
        replace: bool,
        kind: StoreKind,
        files: u64,
        dirs: u64,
        bytes: u64,
        largest: u64,
    },
    /// Ask for a ticket to download the store entry `name`.
    StoreGet {
        tag: u32,
        name: String,
    },
    /// List the store.
    StoreList {
        tag: u32,
    },
    /// Before walking a tree: may I upload under `name` (with `replace` or not)? The
    /// hub answers 200 or the refusal `StorePut` would give for the name (408, 409).
    StoreName {
        tag: u32,
        name: String,
        replace: bool,
    },
    /// Remove my own store entry `name`; the reply carries [`Body::Removed`].
    StoreRm {
        tag: u32,
        name: String,
    },
}

/// Messages the hub sends to a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HubMsg {
    Welcome {
        version: u16,
        server: String,
    },
    Reply {
        tag: u32,
        status: Status,
        message: String,
        body: Body,
    },
    /// Status 203: the hub checks that the client is alive.
    Ping {
        nonce: u32,
    },
    Chat {
        from: String,
        text: String,
        history: bool,
    },
    Private {
        from: String,
        text: String,
    },
    Join {
        user: String,
        online: u32,
    },
    /// Several users joined, in order: one notice shared by everyone online. `online`
    /// is the count after the last of them joined.
    Joins {
        users: Vec<String>,
        online: u32,
    },
    Leave {
        user: String,
        online: u32,
        reason: String,
    },
    Announce {
        text: String,
    },
    /// The hub ends this session (kick 200, ban 423) and keeps the connection.
    Kicked {
        status: Status,
        reason: String,
    },
    /// The hub closes the connection after this (bad hello 400, full or shutting down 503).
    Bye {
        status: Status,
        reason: String,
    },
    /// A store upload completed (sent to everyone online but the uploader).
    Upload {
        user: String,
        name: String,
        files: u64,
        bytes: u64,
    },
}

/// Why a payload could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    Truncated,
    UnknownType(u8),
    BadUtf8,
    BadMagic,
    BadValue(&'static str),
    TrailingBytes,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Truncated => f.write_str("message truncated"),
            DecodeError::UnknownType(t) => write!(f, "unknown message type {t:#04x}"),
            DecodeError::BadUtf8 => f.write_str("text is not valid UTF-8"),
            DecodeError::BadMagic => f.write_str("not a peerhub hello"),
            DecodeError::BadValue(what) => write!(f, "bad value for {what}"),
            DecodeError::TrailingBytes => f.write_str("trailing bytes after message"),
        }
    }
}

impl std::error::Error for DecodeError {}

mod kind {
    pub const HELLO: u8 = 0x01;
    pub const WELCOME: u8 = 0x02;
    pub const REGISTER: u8 = 0x10;
    pub const LOGIN: u8 = 0x11;
    pub const LOGOUT: u8 = 0x12;
    pub const PASSWD: u8 = 0x13;
    pub const USERS: u8 = 0x14;
    pub const ECHO: u8 = 0x15;
    pub const PONG: u8 = 0x16;
    pub const PUBLISH: u8 = 0x20;
    pub const UNPUBLISH: u8 = 0x21;
    pub const SYNC: u8 = 0x22;
    pub const SEARCH: u8 = 0x23;
    pub const LOOKUP: u8 = 0x24;
    pub const REPORT: u8 = 0x25;
    pub const SAY: u8 = 0x30;
    pub const MSG: u8 = 0x31;
    pub const STORE_PUT: u8 = 0x26;
    pub const STORE_GET: u8 = 0x27;
    pub const STORE_LIST: u8 = 0x28;
    pub const STORE_NAME: u8 = 0x29;
    pub const STORE_RM: u8 = 0x2A;
    pub const REPLY: u8 = 0x40;
    pub const PING: u8 = 0x50;
    pub const CHAT: u8 = 0x51;
    pub const PRIVATE: u8 = 0x52;
    pub const JOIN: u8 = 0x53;
    pub const LEAVE: u8 = 0x54;
    pub const ANNOUNCE: u8 = 0x55;
    pub const KICKED: u8 = 0x56;
    pub const BYE: u8 = 0x57;
    pub const UPLOAD: u8 = 0x58;
    pub const JOINS: u8 = 0x59;
}

mod body {
    pub const NONE: u8 = 0;
    pub const ONLINE: u8 = 1;
    pub const USERS: u8 = 2;
    pub const FILES: u8 = 3;
    pub const SEARCH: u8 = 4;
    pub const HOLDERS: u8 = 5;
    pub const TICKET: u8 = 6;
    pub const STORE: u8 = 7;
    pub const RETRY_AFTER: u8 = 8;
    pub const REMOVED: u8 = 9;
}

/// Appends fields to a frame being built.
struct Writer<'a>(&'a mut Vec<u8>);

impl Writer<'_> {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u16(&mut self, v: u16) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    /// Strings longer than u16::MAX bytes are cut at a character boundary; callers
    /// validate lengths long before that.
    fn str(&mut self, s: &str) {
        codec::put_str(self.0, s, u16::MAX as usize);
    }
    /// The u16 count of a list of `len` items. A list holds at most `u16::MAX` items:
    /// returns how many the caller writes (the first ones), so count and items agree.
    fn count(&mut self, len: usize) -> usize {
        let n = len.min(u16::MAX as usize);
        self.u16(n as u16);
        n
    }
    fn strs(&mut self, items: &[String]) {
        let n = self.count(items.len());
        for s in &items[..n] {
            self.str(s);
        }
    }
    fn file(&mut self, f: &FileInfo) {
        self.str(&f.name);
        self.u64(f.size);
        self.0.extend_from_slice(&f.hash);
    }
    fn holder(&mut self, user: &str, addr: &SocketAddr, size: u64, hash: &Hash) {
        self.str(user);
        self.addr(addr);
        self.u64(size);
        self.0.extend_from_slice(hash);
    }
    fn addr(&mut self, a: &SocketAddr) {
        match a.ip() {
            IpAddr::V4(ip) => {
                self.u8(4);
                self.0.extend_from_slice(&ip.octets());
            }
            IpAddr::V6(ip) => {
                self.u8(6);
                self.0.extend_from_slice(&ip.octets());
            }
        }
        self.u16(a.port());
    }
}

impl Dialect for DecodeError {
    type Error = DecodeError;
    fn error(e: ReadError) -> DecodeError {
        match e {
            ReadError::Truncated => DecodeError::Truncated,
            ReadError::BadUtf8 => DecodeError::BadUtf8,
            ReadError::Trailing => DecodeError::TrailingBytes,
        }
    }
}

/// Reads fields from a hub message, never past its end.
type Reader<'a> = codec::Reader<'a, DecodeError>;

/// The hub protocol's own compound fields.
impl Reader<'_> {
    fn bool(&mut self) -> Result<bool, DecodeError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(DecodeError::BadValue("flag")),
        }
    }
    fn strs(&mut self) -> Result<Vec<String>, DecodeError> {
        let n = self.count(2)?;
        (0..n).map(|_| self.str()).collect()
    }
    fn file(&mut self) -> Result<FileInfo, DecodeError> {
        Ok(FileInfo {
            name: self.str()?,
            size: self.u64()?,
            hash: self.hash()?,
        })
    }
    fn files(&mut self) -> Result<Vec<FileInfo>, DecodeError> {
        let n = self.count(MIN_FILE_BYTES)?;
        (0..n).map(|_| self.file()).collect()
    }
    fn addr(&mut self) -> Result<SocketAddr, DecodeError> {
        let ip = match self.u8()? {
            4 => IpAddr::V4(Ipv4Addr::from(self.array::<4>()?)),
            6 => IpAddr::V6(Ipv6Addr::from(self.array::<16>()?)),
            _ => return Err(DecodeError::BadValue("address family")),
        };
        Ok(SocketAddr::new(ip, self.u16()?))
    }
    fn kind(&mut self) -> Result<StoreKind, DecodeError> {
        match self.u8()? {
            0 => Ok(StoreKind::File),
            1 => Ok(StoreKind::Dir),
            _ => Err(DecodeError::BadValue("store kind")),
        }
    }
}

/// Build one frame: prefix, type byte, then whatever `fields` writes.
fn framed(out: &mut Vec<u8>, ty: u8, fields: impl FnOnce(&mut Writer)) {
    let start = frame::begin(out);
    let mut w = Writer(out);
    w.u8(ty);
    fields(&mut w);
    frame::finish(out, start);
}

/// Encode a lookup reply straight from borrowed holder data, without building a
/// [`HubMsg`]: the hub's hottest path. The bytes are exactly those of
/// `HubMsg::Reply { tag, status, message, body: Body::Holders(..) }` with the same
/// holders (at most `u16::MAX`). Returns how many holders were written.
pub fn encode_holders_reply<'a>(
    out: &mut Vec<u8>,
    tag: u32,
    status: Status,
    message: &str,
    holders: impl Iterator<Item = (&'a str, SocketAddr, u64, Hash)>,
) -> usize {
    let mut written = 0;
    framed(out, kind::REPLY, |w| {
        w.u32(tag);
        w.u16(status.0);
        w.str(message);
        w.u8(body::HOLDERS);
        let count_at = w.0.len();
        w.u16(0);
        for (user, addr, size, hash) in holders.take(u16::MAX as usize) {
            w.holder(user, &addr, size, &hash);
            written += 1;
        }
        let count = (written as u16).to_be_bytes();
        w.0[count_at..count_at + 2].copy_from_slice(&count);
    });
    written
}

impl ClientMsg {
    /// Append this message as one frame to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        use ClientMsg::*;
        match self {
            Hello { version, role } => framed(out, kind::HELLO, |w| {
                w.0.extend_from_slice(&MAGIC);
                w.u16(*version);
                w.u8(*role as u8);
            }),
            Register {
                tag,
                user,
                password,
            } => framed(out, kind::REGISTER, |w| {
                w.u32(*tag);
                w.str(user);
                w.str(password);
            }),
            Login {
                tag,
                user,
                password,
                peer_port,
            } => framed(out, kind::LOGIN, |w| {
                w.u32(*tag);
                w.str(user);
                w.str(password);
                w.u16(*peer_port);
            }),
            Logout { tag } => framed(out, kind::LOGOUT, |w| w.u32(*tag)),
            Passwd { tag, old, new } => framed(out, kind::PASSWD, |w| {
                w.u32(*tag);
                w.str(old);
                w.str(new);
            }),
            Users { tag } => framed(out, kind::USERS, |w| w.u32(*tag)),
            Echo { tag } => framed(out, kind::ECHO, |w| w.u32(*tag)),
            Pong { nonce } => framed(out, kind::PONG, |w| w.u32(*nonce)),
            Publish { tag, file, replace } => framed(out, kind::PUBLISH, |w| {
                w.u32(*tag);
                w.file(file);
                w.u8(*replace as u8);
            }),
            Unpublish { tag, name } => framed(out, kind::UNPUBLISH, |w| {
                w.u32(*tag);
                w.str(name);
            }),
            Sync { tag, files, first } => framed(out, kind::SYNC, |w| {
                w.u32(*tag);
                w.u8(*first as u8);
                let n = w.count(files.len());
                files[..n].iter().for_each(|f| w.file(f));
            }),
            Search { tag, text } => framed(out, kind::SEARCH, |w| {
                w.u32(*tag);
                w.str(text);
            }),
            Lookup { tag, name } => framed(out, kind::LOOKUP, |w| {
                w.u32(*tag);
                w.str(name);
            }),
            Report {
                tag,
                holder,
                name,
                hash,
            } => framed(out, kind::REPORT, |w| {
                w.u32(*tag);
                w.str(holder);
                w.str(name);
                w.0.extend_from_slice(hash);
            }),
            Say { tag, text } => framed(out, kind::SAY, |w| {
                w.u32(*tag);
                w.str(text);
            }),
            Msg { tag, to, text } => framed(out, kind::MSG, |w| {
                w.u32(*tag);
                w.str(to);
                w.str(text);
            }),
            StorePut {
                tag,
                name,
                replace,
                kind: k,
                files,
                dirs,
                bytes,
                largest,
            } => framed(out, kind::STORE_PUT, |w| {
                w.u32(*tag);
                w.str(name);
                w.u8(*replace as u8);
                w.u8(*k as u8);
                w.u64(*files);
                w.u64(*dirs);
                w.u64(*bytes);
                w.u64(*largest);
            }),
            StoreGet { tag, name } => framed(out, kind::STORE_GET, |w| {
                w.u32(*tag);
                w.str(name);
            }),
            StoreList { tag } => framed(out, kind::STORE_LIST, |w| w.u32(*tag)),
            StoreName { tag, name, replace } => framed(out, kind::STORE_NAME, |w| {
                w.u32(*tag);
                w.str(name);
                w.u8(*replace as u8);
            }),
            StoreRm { tag, name } => framed(out, kind::STORE_RM, |w| {
                w.u32(*tag);
                w.str(name);
            }),
        }
    }

    /// Decode one frame payload.
    pub fn decode(payload: &[u8]) -> Result<ClientMsg, DecodeError> {
        use ClientMsg::*;
        let mut r = Reader::new(payload);
        let msg = match r.u8()? {
            kind::HELLO => {
                if r.take(4).map_err(|_| DecodeError::BadMagic)? != MAGIC {
                    return Err(DecodeError::BadMagic);
                }
                let version = r.u16()?;
                let role = match r.u8()? {
                    0 => Role::Session,
                    1 => Role::Store,
                    _ => return Err(DecodeError::BadValue("role")),
                };
                Hello { version, role }
            }
            kind::REGISTER => Register {
                tag: r.u32()?,
                user: r.str()?,
                password: r.str()?,
            },
            kind::LOGIN => Login {
                tag: r.u32()?,
                user: r.str()?,
                password: r.str()?,
                peer_port: r.u16()?,
            },
            kind::LOGOUT => Logout { tag: r.u32()? },
            kind::PASSWD => Passwd {
                tag: r.u32()?,
                old: r.str()?,
                new: r.str()?,
            },
            kind::USERS => Users { tag: r.u32()? },
            kind::ECHO => Echo { tag: r.u32()? },
            kind::PONG => Pong { nonce: r.u32()? },
            kind::PUBLISH => Publish {
                tag: r.u32()?,
                file: r.file()?,
                replace: r.bool()?,
            },
            kind::UNPUBLISH => Unpublish {
                tag: r.u32()?,
                name: r.str()?,
            },
            kind::SYNC => {
                let tag = r.u32()?;
                let first = r.bool()?;
                Sync {
                    tag,
                    first,
                    files: r.files()?,
                }
            }
            kind::SEARCH => Search {
                tag: r.u32()?,
                text: r.str()?,
            },
            kind::LOOKUP => Lookup {
                tag: r.u32()?,
                name: r.str()?,
            },
            kind::REPORT => Report {
                tag: r.u32()?,
                holder: r.str()?,
                name: r.str()?,
                hash: r.hash()?,
            },
            kind::SAY => Say {
                tag: r.u32()?,
                text: r.str()?,
            },
            kind::MSG => Msg {
                tag: r.u32()?,
                to: r.str()?,
                text: r.str()?,
            },
            kind::STORE_PUT => StorePut {
                tag: r.u32()?,
                name: r.str()?,
                replace: r.bool()?,
                kind: r.kind()?,
                files: r.u64()?,
                dirs: r.u64()?,
                bytes: r.u64()?,
                largest: r.u64()?,
            },
            kind::STORE_GET => StoreGet {
                tag: r.u32()?,
                name: r.str()?,
            },
            kind::STORE_LIST => StoreList { tag: r.u32()? },
            kind::STORE_NAME => StoreName {
                tag: r.u32()?,
                name: r.str()?,
                replace: r.bool()?,
            },
            kind::STORE_RM => StoreRm {
                tag: r.u32()?,
                name: r.str()?,
            },
            other => return Err(DecodeError::UnknownType(other)),
        };
        r.end()?;
        Ok(msg)
    }

    /// The tag of a request, if it carries one.
    pub fn tag(&self) -> Option<u32> {
        use ClientMsg::*;
        match self {
            Hello { .. } | Pong { .. } => None,
            Register { tag, .. }
            | Login { tag, .. }
            | Logout { tag }
            | Passwd { tag, .. }
            | Users { tag }
            | Echo { tag }
            | Publish { tag, .. }
            | Unpublish { tag, .. }
            | Sync { tag, .. }
            | Search { tag, .. }
            | Lookup { tag, .. }
            | Report { tag, .. }
            | Say { tag, .. }
            | Msg { tag, .. }
            | StorePut { tag, .. }
            | StoreGet { tag, .. }
            | StoreList { tag }
            | StoreName { tag, .. }
            | StoreRm { tag, .. } => Some(*tag),
        }
    }
}

impl HubMsg {
    /// Append this message as one frame to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        use HubMsg::*;
        match self {
            Welcome { version, server } => framed(out, kind::WELCOME, |w| {
                w.0.extend_from_slice(&MAGIC);
                w.u16(*version);
                w.str(server);
            }),
            Reply {
                tag,
                status,
                message,
                body,
            } => framed(out, kind::REPLY, |w| {
                w.u32(*tag);
                w.u16(status.0);
                w.str(message);
                encode_body(w, body);
            }),
            Ping { nonce } => framed(out, kind::PING, |w| w.u32(*nonce)),
            Chat {
                from,
                text,
                history,
            } => framed(out, kind::CHAT, |w| {
                w.str(from);
                w.str(text);
                w.u8(*history as u8);
            }),
            Private { from, text } => framed(out, kind::PRIVATE, |w| {
                w.str(from);
                w.str(text);
            }),
            Join { user, online } => framed(out, kind::JOIN, |w| {
                w.str(user);
                w.u32(*online);
            }),
            Joins { users, online } => framed(out, kind::JOINS, |w| {
                w.strs(users);
                w.u32(*online);
            }),
            Leave {
                user,
                online,
                reason,
            } => framed(out, kind::LEAVE, |w| {
                w.str(user);
                w.u32(*online);
                w.str(reason);
            }),
            Announce { text } => framed(out, kind::ANNOUNCE, |w| w.str(text)),
            Kicked { status, reason } => framed(out, kind::KICKED, |w| {
                w.u16(status.0);
                w.str(reason);
            }),
            Bye { status, reason } => framed(out, kind::BYE, |w| {
                w.u16(status.0);
                w.str(reason);
            }),
            Upload {
                user,
                name,
                files,
                bytes,
            } => framed(out, kind::UPLOAD, |w| {
                w.str(user);
                w.str(name);
                w.u64(*files);
                w.u64(*bytes);
            }),
        }
    }

    /// This message as one standalone frame.
    pub fn to_frame(&self) -> Vec<u8> {
        // Most frames are small: one allocation instead of a few growth steps.
        let mut out = Vec::with_capacity(128);
        self.encode(&mut out);
        out
    }

    /// Decode one frame payload.
    pub fn decode(payload: &[u8]) -> Result<HubMsg, DecodeError> {
        use HubMsg::*;
        let mut r = Reader::new(payload);
        let msg = match r.u8()? {
            kind::WELCOME => {
                if r.take(4).map_err(|_| DecodeError::BadMagic)? != MAGIC {
                    return Err(DecodeError::BadMagic);
                }
                Welcome {
                    version: r.u16()?,
                    server: r.str()?,
                }
            }
            kind::REPLY => Reply {
                tag: r.u32()?,
                status: Status(r.u16()?),
                message: r.str()?,
                body: decode_body(&mut r)?,
            },
            kind::PING => Ping { nonce: r.u32()? },
            kind::CHAT => Chat {
                from: r.str()?,
                text: r.str()?,
                history: r.bool()?,
            },
            kind::PRIVATE => Private {
                from: r.str()?,
                text: r.str()?,
            },
            kind::JOIN => Join {
                user: r.str()?,
                online: r.u32()?,
            },
            kind::JOINS => Joins {
                users: r.strs()?,
                online: r.u32()?,
            },
            kind::LEAVE => Leave {
                user: r.str()?,
                online: r.u32()?,
                reason: r.str()?,
            },
            kind::ANNOUNCE => Announce { text: r.str()? },
            kind::KICKED => Kicked {
                status: Status(r.u16()?),
                reason: r.str()?,
            },
            kind::BYE => Bye {
                status: Status(r.u16()?),
                reason: r.str()?,
            },
            kind::UPLOAD => Upload {
                user: r.str()?,
                name: r.str()?,
                files: r.u64()?,
                bytes: r.u64()?,
            },
            other => return Err(DecodeError::UnknownType(other)),
        };
        r.end()?;
        Ok(msg)
    }
}

fn encode_body(w: &mut Writer, body: &Body) {
    match body {
        Body::None => w.u8(body::NONE),
        Body::Online(n) => {
            w.u8(body::ONLINE);
            w.u32(*n);
        }
        Body::Users(users) => {
            w.u8(body::USERS);
            w.strs(users);
        }
        Body::Files(files) => {
            w.u8(body::FILES);
            let n = w.count(files.len());
            files[..n].iter().for_each(|f| w.file(f));
        }
        Body::Search { hits, truncated } => {
            w.u8(body::SEARCH);
            w.u8(*truncated as u8);
            let n = w.count(hits.len());
            for hit in &hits[..n] {
                w.file(&hit.file);
                w.strs(&hit.owners);
            }
        }
        Body::Holders(holders) => {
            w.u8(body::HOLDERS);
            let n = w.count(holders.len());
            for h in &holders[..n] {
                w.holder(&h.user, &h.addr, h.size, &h.hash);
            }
        }
        Body::Ticket {
            token,
            kind: k,
            files,
            bytes,
        } => {
            w.u8(body::TICKET);
            w.0.extend_from_slice(token);
            w.u8(*k as u8);
            w.u64(*files);
            w.u64(*bytes);
        }
        Body::Store {
            entries,
            truncated,
            used,
            quota,
        } => {
            w.u8(body::STORE);
            w.u8(*truncated as u8);
            w.u64(*used);
            w.u64(*quota);
            let n = w.count(entries.len());
            for e in &entries[..n] {
                w.str(&e.name);
                w.str(&e.owner);
                w.u8(e.kind as u8);
                w.u64(e.files);
                w.u64(e.bytes);
                w.u64(e.created);
                w.0.extend_from_slice(&e.digest);
            }
        }
        Body::RetryAfter(seconds) => {
            w.u8(body::RETRY_AFTER);
            w.u32(*seconds);
        }
        Body::Removed {
            name,
            kind: k,
            files,
            bytes,
        } => {
            w.u8(body::REMOVED);
            w.str(name);
            w.u8(*k as u8);
            w.u64(*files);
            w.u64(*bytes);
        }
    }
}

/// Smallest encoded file entry: empty name (2) + size (8) + hash (32).
const MIN_FILE_BYTES: usize = 42;

fn decode_body(r: &mut Reader) -> Result<Body, DecodeError> {
    Ok(match r.u8()? {
        body::NONE => Body::None,
        body::ONLINE => Body::Online(r.u32()?),
        body::USERS => Body::Users(r.strs()?),
        body::FILES => Body::Files(r.files()?),
        body::SEARCH => {
            let truncated = r.bool()?;
            let n = r.count(MIN_FILE_BYTES + 2)?;
            let hits = (0..n)
                .map(|_| {
                    Ok(SearchHit {
                        file: r.file()?,
                        owners: r.strs()?,
                    })
                })
                .collect::<Result<_, DecodeError>>()?;
            Body::Search { hits, truncated }
        }
        body::HOLDERS => {
            let n = r.count(2 + 7 + 8 + 32)?;
            let holders = (0..n)
                .map(|_| {
                    Ok(Holder {
                        user: r.str()?,
                        addr: r.addr()?,
                        size: r.u64()?,
                        hash: r.hash()?,
                    })
                })
                .collect::<Result<_, DecodeError>>()?;
            Body::Holders(holders)
        }
        body::TICKET => Body::Ticket {
            token: r.array()?,
            kind: r.kind()?,
            files: r.u64()?,
            bytes: r.u64()?,
        },
        body::STORE => {
            let truncated = r.bool()?;
            let (used, quota) = (r.u64()?, r.u64()?);
            let n = r.count(2 + 2 + 1 + 24 + 32)?;
            let entries = (0..n)
                .map(|_| {
                    Ok(StoreInfo {
                        name: r.str()?,
                        owner: r.str()?,
                        kind: r.kind()?,
                        files: r.u64()?,
                        bytes: r.u64()?,
                        created: r.u64()?,
                        digest: r.hash()?,
                    })
                })
                .collect::<Result<_, DecodeError>>()?;
            Body::Store {
                entries,
                truncated,
                used,
                quota,
            }
        }
        body::RETRY_AFTER => Body::RetryAfter(r.u32()?),
        body::REMOVED => Body::Removed {
            name: r.str()?,
            kind: r.kind()?,
            files: r.u64()?,
            bytes: r.u64()?,
        },
        _ => return Err(DecodeError::BadValue("reply body")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload_of(frame_bytes: &[u8]) -> &[u8] {
        let (used, payload) = frame::try_parse(frame_bytes, usize::MAX).unwrap().unwrap();
        assert_eq!(used, frame_bytes.len());
        payload
    }

    fn file(name: &str) -> FileInfo {
        FileInfo {
            name: name.into(),
            size: 1234,
            hash: [7; 32],
        }
    }

    fn client_samples() -> Vec<ClientMsg> {
        use ClientMsg::*;
        vec![
            Hello {
                version: VERSION,
                role: Role::Session,
            },
            Register {
                tag: 1,
                user: "alice".into(),
                password: "pass word ü".into(),
            },
            Login {
                tag: 2,
                user: "alice".into(),
                password: "pw".into(),
                peer_port: 40000,
            },
            Logout { tag: 3 },
            Passwd {
                tag: 4,
                old: "a".into(),
                new: "b".into(),
            },
            Users { tag: 5 },
            Echo { tag: u32::MAX },
            Pong { nonce: 9 },
            Publish {
                tag: 6,
                file: file("report.pdf"),
                replace: true,
            },
            Unpublish {
                tag: 7,
                name: "x".into(),
            },
            Sync {
                tag: 8,
                files: vec![file("a"), file("b c")],
                first: true,
            },
            Search {
                tag: 9,
                text: "rep".into(),
            },
            Lookup {
                tag: 10,
                name: "report.pdf".into(),
            },
            Report {
                tag: 13,
                holder: "bob".into(),
                name: "x".into(),
                hash: [9; 32],
            },
            Say {
                tag: 11,
                text: "hello all".into(),
            },
            Msg {
                tag: 12,
                to: "bob".into(),
                text: "psst".into(),
            },
            Hello {
                version: VERSION,
                role: Role::Store,
            },
            StorePut {
                tag: 14,
                name: "photos ü".into(),
                replace: true,
                kind: StoreKind::Dir,
                files: 3,
                dirs: 2,
                bytes: 1 << 33,
                largest: 1 << 32,
            },
            StoreGet {
                tag: 15,
                name: "report.pdf".into(),
            },
            StoreList { tag: 16 },
            StoreName {
                tag: 17,
                name: "photos ü".into(),
                replace: false,
            },
            StoreRm {
                tag: 18,
                name: "a b".into(),
            },
        ]
    }

    fn hub_samples() -> Vec<HubMsg> {
        use HubMsg::*;
        let reply = |body| Reply {
            tag: 3,
            status: Status::OK,
            message: "fine".into(),
            body,
        };
        vec![
            Welcome {
                version: VERSION,
                server: "peerhub 0.1".into(),
            },
            reply(Body::None),
            reply(Body::Online(3)),
            reply(Body::Users(vec!["a".into(), "b".into()])),
            reply(Body::Files(vec![file("a"), file("b")])),
            reply(Body::Search {
                hits: vec![SearchHit {
                    file: file("a"),
                    owners: vec!["bob".into()],
                }],
                truncated: true,
            }),
            reply(Body::Holders(vec![
                Holder {
                    user: "bob".into(),
                    addr: "127.0.0.1:4000".parse().unwrap(),
                    size: 10,
                    hash: [1; 32],
                },
                Holder {
                    user: "carol".into(),
                    addr: "[::1]:5000".parse().unwrap(),
                    size: 11,
                    hash: [2; 32],
                },
            ])),
            Ping { nonce: 77 },
            Chat {
                from: "a".into(),
                text: "hi".into(),
                history: true,
            },
            Private {
                from: "a".into(),
                text: "hi".into(),
            },
            Join {
                user: "a".into(),
                online: 2,
            },
            Joins {
                users: vec!["a".into(), "b".into()],
                online: 5,
            },
            reply(Body::RetryAfter(42)),
            Leave {
                user: "a".into(),
                online: 1,
                reason: "quit".into(),
            },
            Announce {
                text: "maint".into(),
            },
            Kicked {
                status: Status::BANNED,
                reason: "spam".into(),
            },
            Bye {
                status: Status::UNAVAILABLE,
                reason: "shutting down".into(),
            },
            Upload {
                user: "alice".into(),
                name: "report.pdf".into(),
                files: 3,
                bytes: 2_100_000,
            },
            reply(Body::Ticket {
                token: [5; 16],
                kind: StoreKind::File,
                files: 1,
                bytes: 10,
            }),
            reply(Body::Store {
                entries: vec![StoreInfo {
                    name: "a b".into(),
                    owner: "alice".into(),
                    kind: StoreKind::Dir,
                    files: 2,
                    bytes: 20,
                    created: 1_700_000_000,
                    digest: [9; 32],
                }],
                truncated: false,
                used: 20,
                quota: 1 << 40,
            }),
            reply(Body::Removed {
                name: "a b".into(),
                kind: StoreKind::Dir,
                files: 2,
                bytes: 20,
            }),
        ]
    }

    #[test]
    fn borrowed_holders_reply_matches_the_message_encoding() {
        let holders = vec![
            Holder {
                user: "bob".into(),
                addr: "127.0.0.1:4000".parse().unwrap(),
                size: 10,
                hash: [1; 32],
            },
            Holder {
                user: "carol".into(),
                addr: "[::1]:5000".parse().unwrap(),
                size: 11,
                hash: [2; 32],
            },
        ];
        let expected = HubMsg::Reply {
            tag: 9,
            status: Status::FOUND,
            message: "found".into(),
            body: Body::Holders(holders.clone()),
        }
        .to_frame();
        let mut out = Vec::new();
        let n = encode_holders_reply(
            &mut out,
            9,
            Status::FOUND,
            "found",
            holders
                .iter()
                .map(|h| (h.user.as_str(), h.addr, h.size, h.hash)),
        );
        assert_eq!(n, 2);
        assert_eq!(out, expected);
    }

    #[test]
    fn client_round_trips() {
        for msg in client_samples() {
            let mut out = Vec::new();
            msg.encode(&mut out);
            assert_eq!(ClientMsg::decode(payload_of(&out)), Ok(msg));
        }
    }

    #[test]
    fn hub_round_trips() {
        for msg in hub_samples() {
            let out = msg.to_frame();
            assert_eq!(HubMsg::decode(payload_of(&out)), Ok(msg));
        }
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        for msg in client_samples() {
            let mut out = Vec::new();
            msg.encode(&mut out);
            let payload = payload_of(&out);
            for cut in 0..payload.len() {
                assert!(
                    ClientMsg::decode(&payload[..cut]).is_err(),
                    "{msg:?} cut {cut}"
                );
            }
        }
        for msg in hub_samples() {
            let out = msg.to_frame();
            let payload = payload_of(&out);
            for cut in 0..payload.len() {
                assert!(
                    HubMsg::decode(&payload[..cut]).is_err(),
                    "{msg:?} cut {cut}"
                );
            }
        }
    }

    #[test]
    fn unknown_type_bad_utf8_trailing_and_magic() {
        assert_eq!(
            ClientMsg::decode(&[0xEE]),
            Err(DecodeError::UnknownType(0xEE))
        );
        let bad_utf8 = [kind::SAY, 0, 0, 0, 1, 0, 2, 0xC3, 0x28];
        assert_eq!(ClientMsg::decode(&bad_utf8), Err(DecodeError::BadUtf8));
        assert_eq!(
            ClientMsg::decode(&[kind::USERS, 0, 0, 0, 1, 9]),
            Err(DecodeError::TrailingBytes)
        );
        assert_eq!(
            ClientMsg::decode(&[kind::HELLO, b'H', b'T', b'T', b'P', 0, 1, 0]),
            Err(DecodeError::BadMagic)
        );
    }

    #[test]
    fn lying_list_count_reserves_nothing() {
        // A users reply claiming 65535 names in a few bytes.
        let payload = [
            kind::REPLY,
            0,
            0,
            0,
            1,
            0,
            200,
            0,
            0,
            body::USERS,
            0xFF,
            0xFF,
        ];
        assert_eq!(HubMsg::decode(&payload), Err(DecodeError::Truncated));
    }

    #[test]
    fn store_name_rm_and_removed_refuse_bad_flags_kinds_and_trailing_bytes() {
        // StoreName { tag 1, name "a", replace 2 }: a flag is 0 or 1.
        let bad_flag = [kind::STORE_NAME, 0, 0, 0, 1, 0, 1, b'a', 2];
        assert_eq!(
            ClientMsg::decode(&bad_flag),
            Err(DecodeError::BadValue("flag"))
        );
        let no_flag = [kind::STORE_NAME, 0, 0, 0, 1, 0, 1, b'a'];
        assert_eq!(ClientMsg::decode(&no_flag), Err(DecodeError::Truncated));
        // A name length pointing past the end, and a byte after the name.
        let long = [kind::STORE_RM, 0, 0, 0, 1, 0xFF, 0xFF, b'a'];
        assert_eq!(ClientMsg::decode(&long), Err(DecodeError::Truncated));
        let trailing = [kind::STORE_RM, 0, 0, 0, 1, 0, 1, b'a', 0];
        assert_eq!(
            ClientMsg::decode(&trailing),
            Err(DecodeError::TrailingBytes)
        );
        // A Removed body of kind 7: neither file nor dir.
        let mut frame = HubMsg::Reply {
            tag: 1,
            status: Status::OK,
            message: String::new(),
            body: Body::Removed {
                name: "a".into(),
                kind: StoreKind::File,
                files: 1,
                bytes: 1,
            },
        }
        .to_frame();
        let at = frame.len() - 17;
        assert_eq!(frame[at], 0);
        frame[at] = 7;
        assert_eq!(
            HubMsg::decode(payload_of(&frame)),
            Err(DecodeError::BadValue("store kind"))
        );
        // A store listing whose usage fields are cut short.
        let short = [
            kind::REPLY,
            0,
            0,
            0,
            1,
            0,
            200,
            0,
            0,
            body::STORE,
            0,
            0,
            0,
            0,
        ];
        assert_eq!(HubMsg::decode(&short), Err(DecodeError::Truncated));
    }

    #[test]
    fn the_documented_store_rm_example() {
        let mut request = Vec::new();
        ClientMsg::StoreRm {
            tag: 5,
            name: "a".into(),
        }
        .encode(&mut request);
        assert_eq!(request, b"\x00\x00\x00\x08\x2a\x00\x00\x00\x05\x00\x01a");
        let reply = HubMsg::Reply {
            tag: 5,
            status: Status::OK,
            message: "removed a (3 B) from the store".into(),
            body: Body::Removed {
                name: "a".into(),
                kind: StoreKind::File,
                files: 1,
                bytes: 3,
            },
        }
        .to_frame();
        let mut want = b"\x00\x00\x00\x3c\x40\x00\x00\x00\x05\x00\xc8\x00\x1e".to_vec();
        want.extend_from_slice(b"removed a (3 B) from the store\x09\x00\x01a\x00");
        want.extend_from_slice(&1u64.to_be_bytes());
        want.extend_from_slice(&3u64.to_be_bytes());
        assert_eq!(reply, want);
    }

    #[test]
    fn a_list_longer_than_u16_max_is_cut_to_its_first_65535_items() {
        let files: Vec<FileInfo> = (0..70_000).map(|i| file(&i.to_string())).collect();
        let kept = &files[..u16::MAX as usize];
        let mut out = Vec::new();
        ClientMsg::Sync {
            tag: 1,
            first: true,
            files: files.clone(),
        }
        .encode(&mut out);
        assert_eq!(
            ClientMsg::decode(payload_of(&out)),
            Ok(ClientMsg::Sync {
                tag: 1,
                first: true,
                files: kept.to_vec(),
            })
        );
        let reply = |body| HubMsg::Reply {
            tag: 2,
            status: Status::OK,
            message: String::new(),
            body,
        };
        let holder = Holder {
            user: "bob".into(),
            addr: "127.0.0.1:4000".parse().unwrap(),
            size: 1,
            hash: [1; 32],
        };
        let hit = SearchHit {
            file: file("a"),
            owners: vec!["bob".into(); 70_000],
        };
        let cases = [
            (Body::Files(files.clone()), Body::Files(kept.to_vec())),
            (
                Body::Holders(vec![holder.clone(); 70_000]),
                Body::Holders(vec![holder; u16::MAX as usize]),
            ),
            (
                Body::Search {
                    truncated: false,
                    hits: vec![hit],
                },
                Body::Search {
                    truncated: false,
                    hits: vec![SearchHit {
                        file: file("a"),
                        owners: vec!["bob".into(); u16::MAX as usize],
                    }],
                },
            ),
            (
                Body::Users(vec!["a".into(); 70_000]),
                Body::Users(vec!["a".into(); u16::MAX as usize]),
            ),
        ];
        for (long, cut) in cases {
            let frame = reply(long).to_frame();
            assert_eq!(HubMsg::decode(payload_of(&frame)), Ok(reply(cut)));
        }
    }
}
