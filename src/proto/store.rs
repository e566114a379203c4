//! The store-connection protocol: what flows on a connection opened with a `Hello` of
//! role [`Role::Store`](super::message::Role::Store) after it, both ways.
//!
//! Sans-IO: functions turn values into bytes and bytes into values, nothing else.
//! The client presents a ticket (`Begin`), the hub answers with a `Status`; then the
//! sender streams a tree as `Dir` frames and `File` frames, each file's raw bytes
//! (unframed, exactly `size` of them) and a `Sum` frame with its BLAKE3 hash, and an
//! `End` frame with the totals. See `docs/PROTOCOL.md`.

use super::codec::{self, Dialect, ReadError, StatusError};
use super::frame;
use super::names;
use super::status::Status;
use super::types::{Hash, StoreToken};

/// Largest frame on a store connection (a path is at most [`MAX_PATH_BYTES`]).
pub const MAX_STORE_FRAME: usize = 8 * 1024;
/// Longest relative path of an item in a tree, in bytes.
pub const MAX_PATH_BYTES: usize = 4096;
/// Deepest item in a tree, in path components (the entry's own name included).
pub const MAX_DEPTH: usize = 128;

/// Message types of the store protocol (they do not overlap the hub or peer protocols).
mod kind {
    pub const BEGIN: u8 = 0x70;
    pub const STATUS: u8 = 0x71;
    pub const DIR: u8 = 0x72;
    pub const FILE: u8 = 0x73;
    pub const SUM: u8 = 0x74;
    pub const END: u8 = 0x75;
}

/// One frame of a store connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreMsg {
    /// Client → hub, first after the hello: the ticket this connection redeems.
    Begin { token: StoreToken },
    /// Hub → client: 200 `ready` after `Begin`, 200 at the end of an upload, or an
    /// error after which the hub closes.
    Status { status: Status, message: String },
    /// A directory of the tree (sent before anything beneath it).
    Dir { path: String },
    /// A regular file: `size` raw bytes follow this frame, then a [`StoreMsg::Sum`].
    File { path: String, size: u64 },
    /// The BLAKE3 hash of the file whose bytes just ended.
    Sum { hash: Hash },
    /// The tree is complete: its totals.
    End { files: u64, dirs: u64, bytes: u64 },
}

/// Longest string a store frame carries (half a frame).
const MAX_STR: usize = MAX_STORE_FRAME / 2;

/// `msgs` as frames, one after another (what a test feeds a store stream).
#[cfg(test)]
pub fn frames(msgs: &[StoreMsg]) -> Vec<u8> {
    let mut out = Vec::new();
    for m in msgs {
        encode(m, &mut out);
    }
    out
}

/// Append `msg` as one frame to `out`.
pub fn encode(msg: &StoreMsg, out: &mut Vec<u8>) {
    codec::framed(out, |w| match msg {
        StoreMsg::Begin { token } => {
            w.u8(kind::BEGIN);
            w.bytes(token);
        }
        StoreMsg::Status { status, message } => {
            w.u8(kind::STATUS);
            w.u16(status.0);
            w.str_max(message, MAX_STR);
        }
        StoreMsg::Dir { path } => {
            w.u8(kind::DIR);
            w.str_max(path, MAX_STR);
        }
        StoreMsg::File { path, size } => {
            w.u8(kind::FILE);
            w.str_max(path, MAX_STR);
            w.u64(*size);
        }
        StoreMsg::Sum { hash } => {
            w.u8(kind::SUM);
            w.bytes(hash);
        }
        StoreMsg::End { files, dirs, bytes } => {
            w.u8(kind::END);
            w.u64(*files);
            w.u64(*dirs);
            w.u64(*bytes);
        }
    });
}

/// How a store frame's short, non-UTF-8 or overlong fields are refused (a string that
/// is not UTF-8 is an invalid path: 408).
enum StoreFrame {}

impl Dialect for StoreFrame {
    type Error = StatusError;
    fn error(e: ReadError) -> StatusError {
        match e {
            ReadError::Truncated => StatusError::bad("store frame truncated"),
            ReadError::BadUtf8 => {
                StatusError::new(Status::INVALID_NAME, "a path is not valid UTF-8")
            }
            ReadError::Trailing => StatusError::bad("trailing bytes after a store message"),
        }
    }
}

/// Look for one whole store frame at the start of `buf`.
///
/// `Ok(None)`: more bytes are needed. `Ok(Some((consumed, msg)))`: a message (paths are
/// not yet checked: see [`check_path`]). Errors carry the status to answer with.
pub fn parse(buf: &[u8]) -> Result<Option<(usize, StoreMsg)>, StatusError> {
    let Some((used, payload)) = frame::try_parse(buf, MAX_STORE_FRAME)? else {
        return Ok(None);
    };
    let mut r = codec::Reader::<StoreFrame>::new(payload);
    let msg = match r.u8()? {
        kind::BEGIN => StoreMsg::Begin { token: r.array()? },
        kind::STATUS => StoreMsg::Status {
            status: Status(r.u16()?),
            message: r.str()?,
        },
        kind::DIR => StoreMsg::Dir { path: r.str()? },
        kind::FILE => StoreMsg::File {
            path: r.str()?,
            size: r.u64()?,
        },
        kind::SUM => StoreMsg::Sum { hash: r.array()? },
        kind::END => StoreMsg::End {
            files: r.u64()?,
            dirs: r.u64()?,
            bytes: r.u64()?,
        },
        other => {
            return Err(StatusError::bad(format!(
                "unknown store message type {other:#04x}"
            )))
        }
    };
    r.end()?;
    Ok(Some((used, msg)))
}

/// Check the relative path of an item in the tree of entry `root`: `/`-separated
/// components, each a valid name (no empty, `.` or `..` component, no `\`, no control
/// character), the first one `root` itself, at most [`MAX_PATH_BYTES`] bytes and
/// [`MAX_DEPTH`] components. Refusals are 408.
pub fn check_path(path: &str, root: &str) -> Result<(), StatusError> {
    let refuse = |why: &str| {
        Err(StatusError::new(
            Status::INVALID_NAME,
            format!("invalid path {path:?} in the tree: {why}"),
        ))
    };
    if path.len() > MAX_PATH_BYTES {
        return refuse("it is too long");
    }
    let mut depth = 0;
    for (i, part) in path.split('/').enumerate() {
        depth += 1;
        if let Err(e) = names::check_file_name(part) {
            return refuse(&e.0);
        }
        if i == 0 && part != root {
            return refuse(&format!("it is not beneath the entry {root:?}"));
        }
    }
    if depth > MAX_DEPTH {
        return refuse("it is nested too deeply");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::frame::framed;

    fn samples() -> Vec<StoreMsg> {
        vec![
            StoreMsg::Begin { token: [3; 16] },
            StoreMsg::Status {
                status: Status::OK,
                message: "ready".into(),
            },
            StoreMsg::Dir {
                path: "photos/été 2024".into(),
            },
            StoreMsg::File {
                path: "photos/a b.jpg".into(),
                size: 1 << 40,
            },
            StoreMsg::Sum { hash: [9; 32] },
            StoreMsg::End {
                files: 3,
                dirs: 2,
                bytes: 12345,
            },
        ]
    }

    #[test]
    fn round_trips_and_raw_bytes_may_follow() {
        for msg in samples() {
            let mut out = Vec::new();
            encode(&msg, &mut out);
            let len = out.len();
            out.extend_from_slice(b"raw file bytes");
            assert_eq!(parse(&out), Ok(Some((len, msg))));
        }
    }

    #[test]
    fn truncations_wait_or_fail_without_panic() {
        for msg in samples() {
            let mut out = Vec::new();
            encode(&msg, &mut out);
            for cut in 0..out.len() {
                assert_eq!(parse(&out[..cut]), Ok(None));
            }
            for cut in 1..out.len() - 4 {
                assert!(
                    parse(&framed(&out[4..4 + cut])).is_err(),
                    "{msg:?} cut {cut}"
                );
            }
        }
    }

    #[test]
    fn oversize_unknown_and_trailing_are_errors() {
        assert_eq!(
            parse(&[0xFF, 0xFF, 0xFF, 0xFF]).unwrap_err().status,
            Status::TOO_LARGE
        );
        assert_eq!(
            parse(&[0, 0, 0, 1, 0x99]).unwrap_err().status,
            Status::BAD_REQUEST
        );
        let mut out = Vec::new();
        encode(&StoreMsg::Sum { hash: [0; 32] }, &mut out);
        out.push(0);
        let len = (out.len() - 4) as u32;
        out[..4].copy_from_slice(&len.to_be_bytes());
        assert!(parse(&out).unwrap_err().message.contains("trailing"));
    }

    #[test]
    fn paths() {
        for ok in ["r", "r/a", "r/a b/ü.txt", "r/..x", "r/x.."] {
            assert_eq!(check_path(ok, "r"), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "/r",
            "r/",
            "r//a",
            "r/./a",
            "r/../x",
            "..",
            "x/a",
            "r/a\\b",
            "r/a\nb",
            "rr",
            &format!("r/{}", "x/".repeat(200)),
            &format!("r/{}", "y".repeat(5000)),
        ] {
            let e = check_path(bad, "r").unwrap_err();
            assert_eq!(e.status, Status::INVALID_NAME, "{bad:?}");
        }
    }
}
