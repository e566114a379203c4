//! Every client → hub message decoder (`ClientMsg::decode`): never panics, and what it
//! accepts re-encodes to exactly the same bytes (the encoding is canonical), which
//! decode to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use peerhub::proto::frame::{self, HEADER_LEN};
use peerhub::proto::message::ClientMsg;

fuzz_target!(|payload: &[u8]| {
    let Ok(msg) = ClientMsg::decode(payload) else {
        return;
    };
    let _ = msg.tag();
    let mut out = Vec::new();
    msg.encode(&mut out);
    let (used, again) = frame::try_parse(&out, usize::MAX)
        .expect("an encoded message is a valid frame")
        .expect("an encoded message is one whole frame");
    assert_eq!(used, out.len());
    assert_eq!(again, payload, "re-encoding {msg:?} changed its bytes");
    assert_eq!(ClientMsg::decode(&out[HEADER_LEN..]).as_ref(), Ok(&msg));
});
