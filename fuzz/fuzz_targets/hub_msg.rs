//! Every hub → client message decoder (`HubMsg::decode`, reply bodies included): never
//! panics, and what it accepts re-encodes to exactly the same bytes, which decode to
//! the same value. A lookup reply also encodes the same through the hub's borrowed
//! fast path (`encode_holders_reply`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use peerhub::proto::frame::{self, HEADER_LEN};
use peerhub::proto::message::{encode_holders_reply, Body, HolderEntry, HubMsg};

fuzz_target!(|payload: &[u8]| {
    let Ok(msg) = HubMsg::decode(payload) else {
        return;
    };
    let out = msg.to_frame();
    let (used, again) = frame::try_parse(&out, usize::MAX)
        .expect("an encoded message is a valid frame")
        .expect("an encoded message is one whole frame");
    assert_eq!(used, out.len());
    assert_eq!(again, payload, "re-encoding {msg:?} changed its bytes");
    assert_eq!(HubMsg::decode(&out[HEADER_LEN..]).as_ref(), Ok(&msg));
    if let HubMsg::Reply {
        tag,
        status,
        message,
        body: Body::Holders(holders),
    } = &msg
    {
        let mut fast = Vec::new();
        let written = encode_holders_reply(
            &mut fast,
            *tag,
            *status,
            message,
            holders.iter().map(|h| HolderEntry {
                user: &h.user,
                addr: h.addr,
                size: h.size,
                hash: h.hash,
                fingerprint: h.fingerprint,
                ticket: h.ticket.clone(),
            }),
        );
        assert_eq!(written, holders.len());
        assert_eq!(fast, out);
    }
});
