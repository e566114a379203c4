//! The fetch ticket decoder (`proto::ticket::FetchTicket::decode`), which a holder runs
//! on whatever a peer's `Get` carries: never panics, accepts only tickets within the
//! size bound whose names follow the name rules, and what it accepts re-encodes to
//! exactly the same bytes: the body first (what its leaf hashes), then its proof (no
//! deeper than any tree) and the signature, which covers the root they lead to.
#![no_main]

use libfuzzer_sys::fuzz_target;
use peerhub::proto::names;
use peerhub::proto::ticket::tree::{self, MAX_DEPTH};
use peerhub::proto::ticket::{signed_root, FetchTicket, MAX_TICKET, SIGNATURE_LEN};

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
    let encoded = body.encode();
    assert!(data.starts_with(&encoded));
    let depth = ticket.proof.depth();
    assert!(depth <= MAX_DEPTH && (ticket.proof.leaf as usize) < 1 << depth);
    let root = ticket.proof.root(tree::leaf(&encoded));
    assert_eq!(ticket.signed_message(), signed_root(depth, &root));
    assert_eq!(&data[data.len() - SIGNATURE_LEN..], &ticket.signature);
});
