//! The store-connection frame decoder (`proto::store::parse`): never panics, consumes
//! exactly one frame (raw file bytes may follow it), refuses with 400, 408 or 413 only,
//! and what it accepts re-encodes to the same bytes (a text longer than the encoder
//! writes comes back cut at a character boundary, and then parses the same again).
#![no_main]

use libfuzzer_sys::fuzz_target;
use peerhub::proto::frame::HEADER_LEN;
use peerhub::proto::status::Status;
use peerhub::proto::store::{self, StoreMsg, MAX_STORE_FRAME};

/// The longest text the store encoder writes.
const MAX_TEXT: usize = MAX_STORE_FRAME / 2;

fn text(msg: &StoreMsg) -> Option<&str> {
    match msg {
        StoreMsg::Status { message, .. } => Some(message),
        StoreMsg::Dir { path } | StoreMsg::File { path, .. } => Some(path),
        _ => None,
    }
}

fuzz_target!(|data: &[u8]| {
    match store::parse(data) {
        Ok(Some((used, msg))) => {
            assert!(used > HEADER_LEN && used <= data.len());
            assert!(used <= HEADER_LEN + MAX_STORE_FRAME);
            let len = u32::from_be_bytes([data[0], data[1], data[2], data[3]]) as usize;
            assert_eq!(used, HEADER_LEN + len);
            let mut out = Vec::new();
            store::encode(&msg, &mut out);
            let (n, again) = store::parse(&out)
                .expect("an encoded store message parses")
                .expect("an encoded store message is one whole frame");
            assert_eq!(n, out.len());
            match text(&msg) {
                Some(t) if t.len() > MAX_TEXT => {
                    let cut = text(&again).expect("the same kind of message");
                    assert!(t.starts_with(cut) && cut.len() <= MAX_TEXT);
                    assert_eq!(std::mem::discriminant(&msg), std::mem::discriminant(&again));
                }
                _ => {
                    assert_eq!(out, &data[..used], "re-encoding {msg:?} changed its bytes");
                    assert_eq!(again, msg);
                }
            }
        }
        Ok(None) => {}
        Err(e) => assert!(
            [Status::BAD_REQUEST, Status::INVALID_NAME, Status::TOO_LARGE].contains(&e.status),
            "unexpected refusal {e:?}"
        ),
    }
});
