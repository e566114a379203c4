//! The fetch ticket decoder (`proto::ticket::FetchTicket::decode`), which a holder runs
//! on whatever a peer's `Get` carries: never panics, accepts only tickets within the
//! size bound whose names follow the name rules, and what it accepts re-encodes to
//! exactly the same bytes — the part the signature covers being those bytes up to the
//! signature, behind the context string.
#![no_main]

use libfuzzer_sys::fuzz_target;
use peerhub::proto::names;
use peerhub::proto::ticket::{FetchTicket, MAX_TICKET, SIGNATURE_LEN};

fuzz_target!(|data: &[u8]| {
    let Ok(ticket) = FetchTicket::decode(data) else {
        return;
    };
    assert!(data.len() <= MAX_TICKET);
    let body = &ticket.body;
    assert!(names::check_file_name(&body.name).is_ok(), "{ticket:?}");
    assert!(names::check_user(&body.holder).is_ok(), "{ticket:?}");
    assert!(names::check_user(&body.fetcher).is_ok(), "{ticket:?}");
    assert_eq!(
        ticket.encode(),
        data,
        "re-encoding {ticket:?} changed its bytes"
    );
    let signed = body.signed_message();
    let unsigned = &data[..data.len() - SIGNATURE_LEN];
    assert!(signed.ends_with(unsigned));
    assert_eq!(&data[data.len() - SIGNATURE_LEN..], &ticket.signature);
});
