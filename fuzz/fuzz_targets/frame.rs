//! The frame decoder (`proto::frame::try_parse`): never panics, never reads past the
//! buffer, honours the limit before the body arrives, and a parsed frame re-encodes to
//! the very bytes it came from. A buffer of back-to-back frames parses the same whole
//! as split at any point.
#![no_main]

use libfuzzer_sys::fuzz_target;
use peerhub::proto::frame::{self, FrameError, HEADER_LEN};
use peerhub::proto::{peer, store};

fn check(buf: &[u8], max: usize) {
    let announced = buf
        .get(..HEADER_LEN)
        .map(|h| u32::from_be_bytes([h[0], h[1], h[2], h[3]]) as usize);
    match frame::try_parse(buf, max) {
        Ok(Some((used, payload))) => {
            assert_eq!(used, HEADER_LEN + payload.len());
            assert!(used <= buf.len());
            assert!(!payload.is_empty() && payload.len() <= max);
            assert_eq!(announced, Some(payload.len()));
            assert_eq!(payload, &buf[HEADER_LEN..used]);
            let mut out = Vec::new();
            let start = frame::begin(&mut out);
            out.extend_from_slice(payload);
            frame::finish(&mut out, start);
            assert_eq!(out, &buf[..used]);
            // Every shorter prefix of a whole frame waits for more.
            assert_eq!(frame::try_parse(&buf[..used - 1], max), Ok(None));
        }
        Ok(None) => match announced {
            None => assert!(buf.len() < HEADER_LEN),
            Some(len) => {
                assert!(len >= 1 && len <= max);
                assert!(buf.len() < HEADER_LEN + len);
            }
        },
        Err(FrameError::TooLarge { len, max: m }) => {
            assert_eq!(m, max);
            assert_eq!(Some(len), announced);
            assert!(len > max);
        }
        Err(FrameError::Empty) => assert_eq!(announced, Some(0)),
    }
}

/// Every whole frame at the start of `buf`, in order, and whether the rest was an error.
fn frames(buf: &[u8], max: usize) -> (Vec<&[u8]>, bool) {
    let mut out = Vec::new();
    let mut rest = buf;
    loop {
        match frame::try_parse(rest, max) {
            Ok(Some((used, payload))) => {
                out.push(payload);
                rest = &rest[used..];
            }
            Ok(None) => return (out, false),
            Err(_) => return (out, true),
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((head, buf)) = data.split_first_chunk::<2>() else {
        return;
    };
    let chosen = u16::from_be_bytes(*head) as usize;
    for max in [
        chosen,
        frame::DEFAULT_MAX_FRAME,
        peer::MAX_PEER_FRAME,
        store::MAX_STORE_FRAME,
    ] {
        check(buf, max);
    }
    // Reading a stream frame by frame: a split anywhere only delays frames, it never
    // changes them (the bytes before the split are kept and completed, as a
    // connection's input buffer does).
    let max = chosen.max(1);
    let (whole, whole_err) = frames(buf, max);
    let cut = chosen % (buf.len() + 1);
    let (first, first_err) = frames(&buf[..cut], max);
    assert!(first.len() <= whole.len());
    assert_eq!(first, whole[..first.len()]);
    if first_err {
        assert!(whole_err);
        assert_eq!(first.len(), whole.len());
    }
});
