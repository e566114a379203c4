//! Length-prefixed framing: a big-endian u32 payload length, then the payload.
//! The parser checks the length against the limit before anything is reserved.

use byteorder::{BigEndian, ByteOrder};
use std::fmt;

/// Bytes of the length prefix.
pub const HEADER_LEN: usize = 4;
/// Default largest payload a hub connection accepts (64 KiB).
pub const DEFAULT_MAX_FRAME: usize = 64 * 1024;

/// A framing error: the connection cannot be trusted any further.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameError {
    /// The announced payload length exceeds the limit.
    TooLarge { len: usize, max: usize },
    /// A zero-length payload (every message has at least a type byte).
    Empty,
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::TooLarge { len, max } => {
                write!(f, "frame of {len} bytes exceeds the limit of {max}")
            }
            FrameError::Empty => f.write_str("empty frame"),
        }
    }
}

impl std::error::Error for FrameError {}

/// Look for one whole frame at the start of `buf`.
///
/// Returns `Ok(None)` when more bytes are needed, or `Ok(Some((consumed, payload)))`.
pub fn try_parse(buf: &[u8], max: usize) -> Result<Option<(usize, &[u8])>, FrameError> {
    if buf.len() < HEADER_LEN {
        return Ok(None);
    }
    let len = BigEndian::read_u32(&buf[..HEADER_LEN]) as usize;
    if len > max {
        return Err(FrameError::TooLarge { len, max });
    }
    if len == 0 {
        return Err(FrameError::Empty);
    }
    let end = HEADER_LEN + len;
    match buf.get(HEADER_LEN..end) {
        Some(payload) => Ok(Some((end, payload))),
        None => Ok(None),
    }
}

/// Start a frame in `out`: reserves the length prefix, to be filled by [`finish`].
pub fn begin(out: &mut Vec<u8>) -> usize {
    let start = out.len();
    out.extend_from_slice(&[0; HEADER_LEN]);
    start
}

/// Fill in the length prefix of the frame begun at `start`.
pub fn finish(out: &mut [u8], start: usize) {
    let len = (out.len() - start - HEADER_LEN) as u32;
    BigEndian::write_u32(&mut out[start..start + HEADER_LEN], len);
}

/// One frame holding `payload` (tests build whole, cut and malformed frames with it).
#[cfg(test)]
pub fn framed(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let start = begin(&mut out);
    out.extend_from_slice(payload);
    finish(&mut out, start);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_and_partial() {
        let bytes = framed(b"hello");
        assert_eq!(try_parse(&bytes, 100), Ok(Some((9, &b"hello"[..]))));
        for cut in 0..bytes.len() {
            assert_eq!(try_parse(&bytes[..cut], 100), Ok(None), "cut at {cut}");
        }
    }

    #[test]
    fn two_frames_back_to_back() {
        let mut bytes = framed(b"one");
        bytes.extend(framed(b"two"));
        let (used, first) = try_parse(&bytes, 100).unwrap().unwrap();
        assert_eq!(first, b"one");
        let (_, second) = try_parse(&bytes[used..], 100).unwrap().unwrap();
        assert_eq!(second, b"two");
    }

    #[test]
    fn oversized_length_is_refused_before_the_body_arrives() {
        let huge = [0xFF, 0xFF, 0xFF, 0xFF];
        assert_eq!(
            try_parse(&huge, DEFAULT_MAX_FRAME),
            Err(FrameError::TooLarge {
                len: u32::MAX as usize,
                max: DEFAULT_MAX_FRAME
            })
        );
        assert_eq!(try_parse(&[0, 0, 0, 0], 10), Err(FrameError::Empty));
    }
}
