//! The peer handshake decoders (`proto::peer::parse_request` / `parse_answer`): never
//! panic, consume exactly one frame, refuse with 400, 408 or 413 only; an accepted
//! request carries a valid file name and a ticket no longer than any ticket, an
//! accepted answer a valid user name or none. What they accept re-encodes to the same bytes (a text
//! longer than the encoder writes comes back cut at a character boundary, and then
//! parses the same again).
#![no_main]

use libfuzzer_sys::fuzz_target;
use peerhub::proto::codec::StatusError;
use peerhub::proto::frame::HEADER_LEN;
use peerhub::proto::names;
use peerhub::proto::peer::{self, MAX_PEER_FRAME};
use peerhub::proto::status::Status;
use peerhub::proto::ticket::MAX_TICKET;

/// The longest text the peer encoder writes.
const MAX_TEXT: usize = MAX_PEER_FRAME / 2;

fn refusal_is_known(e: &StatusError) {
    assert!(
        [Status::BAD_REQUEST, Status::INVALID_NAME, Status::TOO_LARGE].contains(&e.status),
        "unexpected refusal {e:?}"
    );
}

fn consumed_one_frame(data: &[u8], used: usize) {
    assert!(used > HEADER_LEN && used <= data.len() && used <= HEADER_LEN + MAX_PEER_FRAME);
    let len = u32::from_be_bytes([data[0], data[1], data[2], data[3]]) as usize;
    assert_eq!(used, HEADER_LEN + len);
}

fn request(data: &[u8]) {
    match peer::parse_request(data) {
        Ok(Some((used, req))) => {
            consumed_one_frame(data, used);
            assert!(names::check_file_name(&req.name).is_ok(), "{req:?}");
            assert!(req.ticket.len() <= MAX_TICKET, "{req:?}");
            let mut out = Vec::new();
            peer::encode_request(&req, &mut out);
            assert_eq!(out, &data[..used], "re-encoding {req:?} changed its bytes");
        }
        Ok(None) => {}
        Err(e) => refusal_is_known(&e),
    }
}

fn answer(data: &[u8]) {
    match peer::parse_answer(data) {
        Ok(Some((used, ans))) => {
            consumed_one_frame(data, used);
            assert!(ans.user.is_empty() || names::check_user(&ans.user).is_ok());
            let mut out = Vec::new();
            peer::encode_answer(&ans, &mut out);
            let (len, again) = peer::parse_answer(&out)
                .expect("an encoded answer parses")
                .expect("an encoded answer is one whole frame");
            assert_eq!(len, out.len());
            if ans.message.len() <= MAX_TEXT {
                assert_eq!(out, &data[..used], "re-encoding {ans:?} changed its bytes");
                assert_eq!(again, ans);
            } else {
                assert!(ans.message.starts_with(&again.message));
                assert!(again.message.len() <= MAX_TEXT);
                assert_eq!(
                    (again.status, again.size, again.hash, &again.user),
                    (ans.status, ans.size, ans.hash, &ans.user)
                );
            }
        }
        Ok(None) => {}
        Err(e) => refusal_is_known(&e),
    }
}

fuzz_target!(|data: &[u8]| {
    request(data);
    answer(data);
});
