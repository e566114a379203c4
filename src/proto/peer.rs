//! The peer-to-peer handshake: a downloader's `Get` frame (with the hub's fetch ticket)
//! or `GetRange` frame (a range of the file, sent with the tree nodes that prove it),
//! and the holder's `Answer` frame (which names the holder's user, so a downloader can
//! tell whose client it reached).
//!
//! Sans-IO: functions turn values into bytes and bytes into values, nothing else.
//! After an `Answer` with status 200 the holder streams the file's raw bytes, from the
//! requested offset to the announced size, unframed; see `docs/PROTOCOL.md`.
//! Frames use the hub protocol's length prefix (u32 BE) but a much smaller limit.

use super::codec::{self, Dialect, ReadError, StatusError};
use super::frame;
use super::names;
use super::status::Status;
use super::ticket::MAX_TICKET;
use super::types::{Hash, MAGIC};

/// The peer protocol version this build speaks (2: the `Answer` names the holder's
/// user; 3: the `Get` carries a fetch ticket instead of the user it claims).
pub const PEER_VERSION: u16 = 3;
/// Largest handshake payload either side accepts, in bytes (a name is at most 255).
pub const MAX_PEER_FRAME: usize = 1024;

/// Message types of the peer protocol (they do not overlap the hub protocol's).
mod kind {
    pub const GET: u8 = 0x60;
    pub const ANSWER: u8 = 0x61;
    pub const GET_RANGE: u8 = 0x62;
}

/// A downloader asks for a published file from `offset` on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The published name (validated like every file name).
    pub name: String,
    /// First byte wanted; the length of the downloader's partial file.
    pub offset: u64,
    /// `Some(end)`: a `GetRange` — the bytes `offset..end` (on chunk-group boundaries,
    /// the file's end counting as one) in the verified encoding, each group preceded by
    /// the tree nodes that prove it against the file's hash. `None`: a `Get` — the raw
    /// bytes from `offset` to the end.
    pub range_end: Option<u64>,
    /// The hub's fetch ticket for this holder (`proto::ticket`'s bytes; empty: none),
    /// decoded and checked by the holder, who refuses the request without a valid one.
    pub ticket: Vec<u8>,
}

/// The holder's answer: a status and, on 200, the size and hash of what follows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: Status,
    /// A short human sentence (`ok`, `not published`, …).
    pub message: String,
    /// The whole file's size (0 on refusals).
    pub size: u64,
    /// The whole file's BLAKE3 hash (zeros on refusals).
    pub hash: Hash,
    /// The user the holder's client is logged in as, or was last (empty if never): the
    /// downloader checks it is the holder the hub named.
    pub user: String,
}

impl Answer {
    /// A refusal by `user`'s client: status and reason, no file.
    pub fn refuse(status: Status, message: impl Into<String>, user: &str) -> Answer {
        Answer {
            status,
            message: message.into(),
            size: 0,
            hash: [0; 32],
            user: user.to_owned(),
        }
    }
}

/// Longest string a handshake carries (half a frame).
const MAX_STR: usize = MAX_PEER_FRAME / 2;

/// Append `request` as one frame.
pub fn encode_request(request: &Request, out: &mut Vec<u8>) {
    codec::framed(out, |w| {
        w.u8(if request.range_end.is_some() {
            kind::GET_RANGE
        } else {
            kind::GET
        });
        w.bytes(&MAGIC);
        w.u16(PEER_VERSION);
        w.str_max(&request.name, MAX_STR);
        w.u64(request.offset);
        if let Some(end) = request.range_end {
            w.u64(end);
        }
        let n = w.count(request.ticket.len().min(MAX_TICKET));
        w.bytes(&request.ticket[..n]);
    });
}

/// Append `answer` as one frame.
pub fn encode_answer(answer: &Answer, out: &mut Vec<u8>) {
    codec::framed(out, |w| {
        w.u8(kind::ANSWER);
        w.bytes(&MAGIC);
        w.u16(PEER_VERSION);
        w.u16(answer.status.0);
        w.str_max(&answer.message, MAX_STR);
        w.u64(answer.size);
        w.bytes(&answer.hash);
        w.str_max(&answer.user, MAX_STR);
    });
}

/// How a handshake's short, non-UTF-8 or overlong fields are refused: 400.
enum Handshake {}

impl Dialect for Handshake {
    type Error = StatusError;
    fn error(e: ReadError) -> StatusError {
        StatusError::bad(match e {
            ReadError::Truncated => "handshake truncated",
            ReadError::BadUtf8 => "text is not valid UTF-8",
            ReadError::Trailing => "trailing bytes after the handshake",
        })
    }
}

type Reader<'a> = codec::Reader<'a, Handshake>;

impl Reader<'_> {
    /// Type byte (one of `want`), magic and version, checked: the type.
    fn head(&mut self, want: &[u8]) -> Result<u8, StatusError> {
        let ty = self.u8()?;
        if self.take(4).ok() != Some(&MAGIC[..]) || !want.contains(&ty) {
            return Err(StatusError::bad("not a peerhub peer handshake"));
        }
        let version = self.u16()?;
        if version != PEER_VERSION {
            return Err(StatusError::bad(format!(
                "peer protocol version {version} is not supported (this peer speaks {PEER_VERSION})"
            )));
        }
        Ok(ty)
    }
}

/// Look for a whole `Get` or `GetRange` frame at the start of `buf`.
///
/// `Ok(None)`: more bytes are needed. `Ok(Some((consumed, request)))`: a valid request,
/// its name checked against the file-name rules (408) and its ticket no longer than
/// any ticket (400; what it says is for the holder to check). Every other problem is an
/// error carrying the status to answer with (413 for an oversized length, 400 for the rest).
pub fn parse_request(buf: &[u8]) -> Result<Option<(usize, Request)>, StatusError> {
    let Some((used, payload)) = frame::try_parse(buf, MAX_PEER_FRAME)? else {
        return Ok(None);
    };
    let mut r = Reader::new(payload);
    let ty = r.head(&[kind::GET, kind::GET_RANGE])?;
    let name = r.str()?;
    let offset = r.u64()?;
    let range_end = if ty == kind::GET_RANGE {
        Some(r.u64()?)
    } else {
        None
    };
    let len = usize::from(r.u16()?);
    if len > MAX_TICKET {
        return Err(StatusError::bad(
            "the fetch ticket is longer than any ticket",
        ));
    }
    let ticket = r.take(len)?.to_vec();
    r.end()?;
    names::check_file_name(&name).map_err(|e| StatusError::new(Status::INVALID_NAME, e.0))?;
    Ok(Some((
        used,
        Request {
            name,
            offset,
            range_end,
            ticket,
        },
    )))
}

/// Look for a whole `Answer` frame at the start of `buf` (see [`parse_request`]).
pub fn parse_answer(buf: &[u8]) -> Result<Option<(usize, Answer)>, StatusError> {
    let Some((used, payload)) = frame::try_parse(buf, MAX_PEER_FRAME)? else {
        return Ok(None);
    };
    let mut r = Reader::new(payload);
    r.head(&[kind::ANSWER])?;
    let answer = Answer {
        status: Status(r.u16()?),
        message: r.str()?,
        size: r.u64()?,
        hash: r.hash()?,
        user: r.str()?,
    };
    r.end()?;
    if !answer.user.is_empty() {
        names::check_user(&answer.user).map_err(|e| StatusError::bad(e.0))?;
    }
    Ok(Some((used, answer)))
}

/// The version a peer `Answer` frame at the start of `buf` is in, whatever it is, if
/// `buf` holds one whole such frame: tells a peer of another version apart from
/// something that is no peerhub peer at all.
pub fn answer_version(buf: &[u8]) -> Option<u16> {
    let (_, payload) = frame::try_parse(buf, MAX_PEER_FRAME).ok()??;
    let mut r = Reader::new(payload);
    if r.u8().ok()? != kind::ANSWER || r.take(4).ok()? != &MAGIC[..] {
        return None;
    }
    r.u16().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::frame::framed;

    fn request() -> Request {
        Request {
            name: "song ü.mp3".into(),
            offset: 123_456_789_012,
            range_end: None,
            ticket: vec![0xA5; 300],
        }
    }

    fn answer() -> Answer {
        Answer {
            status: Status::OK,
            message: "ok".into(),
            size: 1 << 40,
            hash: [0xAB; 32],
            user: "carol".into(),
        }
    }

    #[test]
    fn round_trips() {
        let mut out = Vec::new();
        encode_request(&request(), &mut out);
        assert_eq!(parse_request(&out), Ok(Some((out.len(), request()))));
        // No ticket is a valid request: the holder refuses it (407), not the codec.
        let bare = Request {
            ticket: Vec::new(),
            ..request()
        };
        let mut out = Vec::new();
        encode_request(&bare, &mut out);
        assert_eq!(parse_request(&out), Ok(Some((out.len(), bare))));
        // The longest ticket and the longest name fit one frame.
        let longest = Request {
            name: "n".repeat(names::MAX_FILE_NAME_BYTES),
            offset: u64::MAX,
            range_end: None,
            ticket: vec![1; MAX_TICKET],
        };
        let mut out = Vec::new();
        encode_request(&longest, &mut out);
        assert!(out.len() <= 4 + MAX_PEER_FRAME, "{}", out.len());
        assert_eq!(parse_request(&out), Ok(Some((out.len(), longest.clone()))));
        // A range request is a Get with its end: the longest fits one frame too.
        let range = Request {
            range_end: Some(u64::MAX),
            ..longest
        };
        let mut out = Vec::new();
        encode_request(&range, &mut out);
        assert_eq!(out[4], kind::GET_RANGE);
        assert!(out.len() <= 4 + MAX_PEER_FRAME, "{}", out.len());
        assert_eq!(parse_request(&out), Ok(Some((out.len(), range))));

        let mut out = Vec::new();
        encode_answer(&answer(), &mut out);
        // File bytes may follow the answer in the same read: only the frame is consumed.
        let frame_len = out.len();
        out.extend_from_slice(b"file bytes");
        assert_eq!(parse_answer(&out), Ok(Some((frame_len, answer()))));
        let refusal = Answer::refuse(Status::NO_FILE, "not published", "carol");
        let mut out = Vec::new();
        encode_answer(&refusal, &mut out);
        assert_eq!(parse_answer(&out), Ok(Some((out.len(), refusal))));
        // A client that never logged in answers with no user name.
        let anon = Answer::refuse(Status::UNAVAILABLE, "busy", "");
        let mut out = Vec::new();
        encode_answer(&anon, &mut out);
        assert_eq!(parse_answer(&out), Ok(Some((out.len(), anon))));
    }

    #[test]
    fn an_answer_names_a_valid_user_or_none() {
        let mut out = Vec::new();
        encode_answer(
            &Answer {
                user: "two words".into(),
                ..answer()
            },
            &mut out,
        );
        assert_eq!(parse_answer(&out).unwrap_err().status, Status::BAD_REQUEST);
    }

    #[test]
    fn the_version_of_an_answer_is_told_apart_from_anything_else() {
        let mut out = Vec::new();
        encode_answer(&answer(), &mut out);
        assert_eq!(answer_version(&out), Some(PEER_VERSION));
        // A version 1 answer (no user field) is not parsed, but its version is known.
        let mut old = vec![kind::ANSWER];
        old.extend_from_slice(&MAGIC);
        old.extend_from_slice(&1u16.to_be_bytes());
        old.extend_from_slice(&Status::OK.0.to_be_bytes());
        old.extend_from_slice(&[0, 2, b'o', b'k']);
        old.extend_from_slice(&12u64.to_be_bytes());
        old.extend_from_slice(&[0; 32]);
        let old = framed(&old);
        assert!(parse_answer(&old)
            .unwrap_err()
            .message
            .contains("version 1 is not supported"));
        assert_eq!(answer_version(&old), Some(1));
        // A request, half a frame, a hub frame or text: not an answer of any version.
        let mut req = Vec::new();
        encode_request(&request(), &mut req);
        assert_eq!(answer_version(&req), None);
        assert_eq!(answer_version(&out[..out.len() - 1]), None);
        assert_eq!(answer_version(&[0, 0, 0, 3, 0x57, 1, 0x90]), None);
        assert_eq!(answer_version(b"HTTP/1.1 400 Bad Request\r\n"), None);
    }

    #[test]
    fn the_documented_example_bytes() {
        let mut out = Vec::new();
        let req = Request {
            name: "a.txt".into(),
            offset: 0,
            range_end: None,
            ticket: vec![0xEE; 3],
        };
        encode_request(&req, &mut out);
        assert_eq!(
            out[..11],
            [0, 0, 0, 0x1b, 0x60, b'P', b'H', b'U', b'B', 0, 3]
        );
        assert_eq!(out.len(), 4 + 0x1b);
        assert_eq!(out[out.len() - 5..], [0, 3, 0xEE, 0xEE, 0xEE]);
        let mut out = Vec::new();
        let ans = Answer {
            status: Status::OK,
            message: "ok".into(),
            size: 12,
            hash: [0; 32],
            user: "alice".into(),
        };
        encode_answer(&ans, &mut out);
        assert_eq!(
            out[..11],
            [0, 0, 0, 0x3c, 0x61, b'P', b'H', b'U', b'B', 0, 3]
        );
        assert_eq!(out.len(), 4 + 0x3c);
        assert_eq!(out[out.len() - 7..], [0, 5, b'a', b'l', b'i', b'c', b'e']);
    }

    #[test]
    fn every_truncation_waits_or_fails_without_panic() {
        let mut out = Vec::new();
        encode_request(&request(), &mut out);
        for cut in 0..out.len() {
            assert_eq!(parse_request(&out[..cut]), Ok(None), "cut {cut}");
        }
        // A frame whose length is honest but whose fields are cut short is an error.
        let payload_len = out.len() - 4;
        for cut in 1..payload_len {
            let short = framed(&out[4..4 + cut]);
            let got = parse_request(&short);
            assert!(
                matches!(
                    got,
                    Err(StatusError {
                        status: Status::BAD_REQUEST,
                        ..
                    })
                ),
                "cut {cut}: {got:?}"
            );
        }
        let mut out = Vec::new();
        encode_answer(&answer(), &mut out);
        for cut in 1..out.len() - 4 {
            let short = framed(&out[4..4 + cut]);
            assert!(parse_answer(&short).is_err(), "cut {cut}");
        }
    }

    #[test]
    fn oversize_and_empty_lengths_are_refused_before_buffering() {
        let got = parse_request(&[0xFF, 0xFF, 0xFF, 0xFF]).unwrap_err();
        assert_eq!(got.status, Status::TOO_LARGE);
        let got = parse_request(&[0, 0, 0x04, 0x01]).unwrap_err();
        assert_eq!(got.status, Status::TOO_LARGE);
        let got = parse_request(&[0, 0, 0, 0]).unwrap_err();
        assert_eq!(got.status, Status::BAD_REQUEST);
        assert!(parse_answer(&[0xFF, 0xFF, 0xFF, 0xFF]).is_err());
    }

    #[test]
    fn bad_magic_type_version_and_trailing_bytes() {
        let mut out = Vec::new();
        encode_request(&request(), &mut out);
        let mut bad_magic = out.clone();
        bad_magic[5] = b'X';
        assert_eq!(
            parse_request(&bad_magic).unwrap_err().status,
            Status::BAD_REQUEST
        );
        let mut bad_type = out.clone();
        bad_type[4] = kind::ANSWER;
        assert!(parse_request(&bad_type).is_err());
        let mut bad_version = out.clone();
        bad_version[10] = 9;
        assert!(parse_request(&bad_version)
            .unwrap_err()
            .message
            .contains("version 9"));
        // An answer is not a request and vice versa.
        let mut ans = Vec::new();
        encode_answer(&answer(), &mut ans);
        assert!(parse_request(&ans).is_err());
        assert!(parse_answer(&out).is_err());
        // One byte too many inside the frame.
        let mut trailing = out.clone();
        trailing.push(0);
        let len = (trailing.len() - 4) as u32;
        trailing[..4].copy_from_slice(&len.to_be_bytes());
        assert!(parse_request(&trailing)
            .unwrap_err()
            .message
            .contains("trailing"));
        // Text protocols read as huge lengths.
        assert_eq!(
            parse_request(b"GET / HTTP/1.0\r\n\r\n").unwrap_err().status,
            Status::TOO_LARGE
        );
    }

    #[test]
    fn names_are_checked() {
        for (name, status) in [
            ("..", Status::INVALID_NAME),
            ("../etc/passwd", Status::INVALID_NAME),
            ("a/b", Status::INVALID_NAME),
            ("", Status::INVALID_NAME),
            ("nl\n", Status::INVALID_NAME),
        ] {
            let mut out = Vec::new();
            let req = Request {
                name: name.into(),
                ..request()
            };
            encode_request(&req, &mut out);
            assert_eq!(parse_request(&out).unwrap_err().status, status, "{name:?}");
        }
        // A ticket length past any ticket is refused before it is read.
        let mut payload = vec![kind::GET];
        payload.extend_from_slice(&MAGIC);
        payload.extend_from_slice(&PEER_VERSION.to_be_bytes());
        payload.extend_from_slice(&[0, 1, b'x']);
        payload.extend_from_slice(&0u64.to_be_bytes());
        payload.extend_from_slice(&(MAX_TICKET as u16 + 1).to_be_bytes());
        payload.extend(vec![0; MAX_TICKET + 1]);
        let got = parse_request(&framed(&payload)).unwrap_err();
        assert_eq!(got.status, Status::BAD_REQUEST);
        assert!(got.message.contains("longer than any ticket"), "{got:?}");
    }

    #[test]
    fn bad_utf8_is_an_error() {
        let mut payload = vec![kind::GET];
        payload.extend_from_slice(&MAGIC);
        payload.extend_from_slice(&PEER_VERSION.to_be_bytes());
        payload.extend_from_slice(&[0, 2, 0xC3, 0x28]);
        payload.extend_from_slice(&0u64.to_be_bytes());
        payload.extend_from_slice(&[0, 0]);
        assert!(parse_request(&framed(&payload))
            .unwrap_err()
            .message
            .contains("UTF-8"));
    }
}
