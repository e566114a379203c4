//! The hub codec's tests: every variant round-trips, every truncation fails, strict decoding, the documented example bytes and the list cap.

use super::reply::{complete_tickets, encode_holders_reply, Body, HolderEntry, HubMsg};
use super::request::ClientMsg;
use super::samples::{client_samples, file, holders, hub_samples, payload_of};
use super::DecodeError;
use crate::proto::status::Status;
use crate::proto::types::{FileInfo, Holder, Role, SearchHit, StoreKind, VERSION};
use crate::trust::Fingerprint;

#[test]
fn borrowed_holders_reply_matches_the_message_encoding() {
    let holders = holders();
    let expected = HubMsg::Reply {
        tag: 9,
        status: Status::FOUND,
        message: "found".into(),
        body: Body::Holders(holders.clone()),
    }
    .to_frame();
    let mut out = Vec::new();
    let n = encode_holders_reply(
        &mut out,
        9,
        Status::FOUND,
        "found",
        holders.iter().map(|h| HolderEntry {
            user: &h.user,
            addr: h.addr,
            size: h.size,
            hash: h.hash,
            fingerprint: h.fingerprint,
            ticket: h.ticket.clone(),
        }),
        &mut Vec::new(),
    );
    assert_eq!(n, 2);
    assert_eq!(out, expected);
}

#[test]
fn tickets_completed_later_make_the_reply_they_would_have_made_whole() {
    let whole: Vec<Holder> = holders()
        .into_iter()
        .enumerate()
        .map(|(i, mut h)| {
            h.ticket = vec![i as u8 + 1; 100 + i];
            h
        })
        .collect();
    let entries = |cut: usize| {
        whole.iter().map(move |h| HolderEntry {
            user: &h.user,
            addr: h.addr,
            size: h.size,
            hash: h.hash,
            fingerprint: h.fingerprint,
            ticket: h.ticket[..h.ticket.len() - cut].to_vec(),
        })
    };
    let (mut expected, mut whole_tickets) = (Vec::new(), Vec::new());
    encode_holders_reply(
        &mut expected,
        9,
        Status::FOUND,
        "found",
        entries(0),
        &mut whole_tickets,
    );
    // Each ticket begun without its last 2 bytes, which come later.
    let (mut begun, mut tickets) = (Vec::new(), Vec::new());
    encode_holders_reply(
        &mut begun,
        9,
        Status::FOUND,
        "found",
        entries(2),
        &mut tickets,
    );
    assert_eq!(tickets.len(), 2);
    let completed = complete_tickets(&begun, &tickets, |i, w| {
        let t = &whole[i].ticket;
        w.bytes(&t[t.len() - 2..]);
    });
    assert_eq!(completed, expected);
    // Nothing to add: the same frame.
    assert_eq!(
        complete_tickets(&expected, &whole_tickets, |_, _| {}),
        expected
    );
}

#[test]
fn client_round_trips() {
    for msg in client_samples() {
        let mut out = Vec::new();
        msg.encode(&mut out);
        assert_eq!(ClientMsg::decode(payload_of(&out)), Ok(msg));
    }
}

#[test]
fn hub_round_trips() {
    for msg in hub_samples() {
        let out = msg.to_frame();
        assert_eq!(HubMsg::decode(payload_of(&out)), Ok(msg));
    }
}

#[test]
fn every_truncation_is_an_error_not_a_panic() {
    for msg in client_samples() {
        let mut out = Vec::new();
        msg.encode(&mut out);
        let payload = payload_of(&out);
        for cut in 0..payload.len() {
            assert!(
                ClientMsg::decode(&payload[..cut]).is_err(),
                "{msg:?} cut {cut}"
            );
        }
    }
    for msg in hub_samples() {
        let out = msg.to_frame();
        let payload = payload_of(&out);
        for cut in 0..payload.len() {
            assert!(
                HubMsg::decode(&payload[..cut]).is_err(),
                "{msg:?} cut {cut}"
            );
        }
    }
}

#[test]
fn unknown_type_bad_utf8_trailing_and_magic() {
    assert_eq!(
        ClientMsg::decode(&[0xEE]),
        Err(DecodeError::UnknownType(0xEE))
    );
    let bad_utf8 = [0x30, 0, 0, 0, 1, 0, 2, 0xC3, 0x28];
    assert_eq!(ClientMsg::decode(&bad_utf8), Err(DecodeError::BadUtf8));
    assert_eq!(
        ClientMsg::decode(&[0x14, 0, 0, 0, 1, 9]),
        Err(DecodeError::TrailingBytes)
    );
    assert_eq!(
        ClientMsg::decode(&[0x01, b'H', b'T', b'T', b'P', 0, 1, 0]),
        Err(DecodeError::BadMagic)
    );
}

#[test]
fn lying_list_count_reserves_nothing() {
    // A users reply claiming 65535 names in a few bytes.
    let payload = [0x40, 0, 0, 0, 1, 0, 200, 0, 0, 2, 0xFF, 0xFF];
    assert_eq!(HubMsg::decode(&payload), Err(DecodeError::Truncated));
}

#[test]
fn store_name_rm_and_removed_refuse_bad_flags_kinds_and_trailing_bytes() {
    // StoreName { tag 1, name "a", replace 2 }: a flag is 0 or 1.
    let bad_flag = [0x29, 0, 0, 0, 1, 0, 1, b'a', 2];
    assert_eq!(
        ClientMsg::decode(&bad_flag),
        Err(DecodeError::BadValue("flag"))
    );
    let no_flag = [0x29, 0, 0, 0, 1, 0, 1, b'a'];
    assert_eq!(ClientMsg::decode(&no_flag), Err(DecodeError::Truncated));
    // A name length pointing past the end, and a byte after the name.
    let long = [0x2A, 0, 0, 0, 1, 0xFF, 0xFF, b'a'];
    assert_eq!(ClientMsg::decode(&long), Err(DecodeError::Truncated));
    let trailing = [0x2A, 0, 0, 0, 1, 0, 1, b'a', 0];
    assert_eq!(
        ClientMsg::decode(&trailing),
        Err(DecodeError::TrailingBytes)
    );
    // A Removed body of kind 7: neither file nor dir.
    let mut frame = HubMsg::Reply {
        tag: 1,
        status: Status::OK,
        message: String::new(),
        body: Body::Removed {
            name: "a".into(),
            kind: StoreKind::File,
            files: 1,
            bytes: 1,
        },
    }
    .to_frame();
    let at = frame.len() - 17;
    assert_eq!(frame[at], 0);
    frame[at] = 7;
    assert_eq!(
        HubMsg::decode(payload_of(&frame)),
        Err(DecodeError::BadValue("store kind"))
    );
    // A store listing whose usage fields are cut short.
    let short = [0x40, 0, 0, 0, 1, 0, 200, 0, 0, 7, 0, 0, 0, 0];
    assert_eq!(HubMsg::decode(&short), Err(DecodeError::Truncated));
}

#[test]
fn the_documented_store_rm_example() {
    let mut request = Vec::new();
    ClientMsg::StoreRm {
        tag: 5,
        name: "a".into(),
    }
    .encode(&mut request);
    assert_eq!(request, b"\x00\x00\x00\x08\x2a\x00\x00\x00\x05\x00\x01a");
    let reply = HubMsg::Reply {
        tag: 5,
        status: Status::OK,
        message: "removed a (3 B) from the store".into(),
        body: Body::Removed {
            name: "a".into(),
            kind: StoreKind::File,
            files: 1,
            bytes: 3,
        },
    }
    .to_frame();
    let mut want = b"\x00\x00\x00\x3c\x40\x00\x00\x00\x05\x00\xc8\x00\x1e".to_vec();
    want.extend_from_slice(b"removed a (3 B) from the store\x09\x00\x01a\x00");
    want.extend_from_slice(&1u64.to_be_bytes());
    want.extend_from_slice(&3u64.to_be_bytes());
    assert_eq!(reply, want);
}

/// Every sample above, encoded one after the other.
fn all_sample_bytes() -> Vec<u8> {
    let mut all = Vec::new();
    client_samples().iter().for_each(|m| m.encode(&mut all));
    hub_samples().iter().for_each(|m| m.encode(&mut all));
    all
}

#[test]
fn the_samples_encode_to_the_bytes_of_the_hand_written_codec() {
    // BLAKE3 of `all_sample_bytes()` as the codec wrote them before the tables (commit
    // 8791489, one encode arm per variant): the table-driven codec is byte-identical.
    // (The digest was 9689e833… with the sample of the `Files` body, which was removed
    // as never sent; this one is of the same bytes without that sample's frame, then
    // d289fa2e… until the hello and welcome samples went to protocol version 2, whose
    // two bytes are all that changed, then ed540fdc… until `Login` carried the
    // client's key, `Welcome` the hub's and each holder its key and fetch ticket:
    // fields appended to those samples, the rest of the bytes unchanged; then cefc7edf…
    // until the login reply's `Online` body became `LoggedIn` with a resume token and
    // `Resume` was added: with those two frames as they were and without the new one,
    // today's samples still give cefc7edf….)
    let got = blake3::hash(&all_sample_bytes()).to_hex();
    assert_eq!(
        got.as_str(),
        "fd0717384e987a8bc7e357cf6b0e94637157142fe01d5520aca76964ec3bd859"
    );
}

#[test]
fn every_type_byte_in_the_tables_has_a_sample() {
    let sampled =
        |frames: Vec<Vec<u8>>| -> Vec<u8> { frames.iter().map(|f| payload_of(f)[0]).collect() };
    let client = sampled(
        client_samples()
            .iter()
            .map(|m| {
                let mut out = Vec::new();
                m.encode(&mut out);
                out
            })
            .collect(),
    );
    let hub = sampled(hub_samples().iter().map(HubMsg::to_frame).collect());
    let bodies: Vec<u8> = hub_samples()
        .iter()
        .filter(|m| matches!(m, HubMsg::Reply { .. }))
        .map(|m| payload_of(&m.to_frame())[1 + 4 + 2 + 2 + 4])
        .collect();
    for ty in 0..=u8::MAX {
        if ClientMsg::decode(&[ty]) != Err(DecodeError::UnknownType(ty)) {
            assert!(client.contains(&ty), "no client sample of type {ty:#04x}");
        }
        if HubMsg::decode(&[ty]) != Err(DecodeError::UnknownType(ty)) {
            assert!(hub.contains(&ty), "no hub sample of type {ty:#04x}");
        }
        // A reply with message "fine" and body type `ty`, nothing after it.
        let mut reply = vec![0x40, 0, 0, 0, 3, 0, 200, 0, 4];
        reply.extend_from_slice(b"fine");
        reply.push(ty);
        if HubMsg::decode(&reply) != Err(DecodeError::BadValue("reply body")) {
            assert!(bodies.contains(&ty), "no sample of body type {ty}");
        }
    }
}

#[test]
fn a_list_longer_than_u16_max_is_cut_to_its_first_65535_items() {
    let files: Vec<FileInfo> = (0..70_000).map(|i| file(&i.to_string())).collect();
    let kept = &files[..u16::MAX as usize];
    let mut out = Vec::new();
    ClientMsg::Sync {
        tag: 1,
        first: true,
        files: files.clone(),
    }
    .encode(&mut out);
    assert_eq!(
        ClientMsg::decode(payload_of(&out)),
        Ok(ClientMsg::Sync {
            tag: 1,
            first: true,
            files: kept.to_vec(),
        })
    );
    let reply = |body| HubMsg::Reply {
        tag: 2,
        status: Status::OK,
        message: String::new(),
        body,
    };
    let holder = Holder {
        user: "bob".into(),
        addr: "127.0.0.1:4000".parse().unwrap(),
        size: 1,
        hash: [1; 32],
        fingerprint: Fingerprint::from_bytes([2; 32]),
        ticket: Vec::new(),
    };
    let hit = SearchHit {
        file: file("a"),
        owners: vec!["bob".into(); 70_000],
    };
    let cases = [
        (
            Body::Users(vec!["bob".into(); 70_000]),
            Body::Users(vec!["bob".into(); u16::MAX as usize]),
        ),
        (
            Body::Holders(vec![holder.clone(); 70_000]),
            Body::Holders(vec![holder; u16::MAX as usize]),
        ),
        (
            Body::Search {
                truncated: false,
                hits: vec![hit],
            },
            Body::Search {
                truncated: false,
                hits: vec![SearchHit {
                    file: file("a"),
                    owners: vec!["bob".into(); u16::MAX as usize],
                }],
            },
        ),
        (
            Body::Users(vec!["a".into(); 70_000]),
            Body::Users(vec!["a".into(); u16::MAX as usize]),
        ),
    ];
    for (long, cut) in cases {
        let frame = reply(long).to_frame();
        assert_eq!(HubMsg::decode(payload_of(&frame)), Ok(reply(cut)));
    }
}

/// The bytes of one line of docs/PROTOCOL.md's worked examples: hex pairs and quoted text.
fn doc_bytes(line: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, part) in line.split('"').enumerate() {
        if i % 2 == 1 {
            out.extend_from_slice(part.as_bytes());
        } else {
            let hex = part.split_whitespace();
            out.extend(hex.map(|h| u8::from_str_radix(h, 16).unwrap()));
        }
    }
    out
}

#[test]
fn the_documented_worked_examples() {
    let client = |msg: ClientMsg, doc: &str| {
        let mut out = Vec::new();
        msg.encode(&mut out);
        assert_eq!(out, doc_bytes(doc), "{msg:?}");
        assert_eq!(ClientMsg::decode(payload_of(&out)), Ok(msg));
    };
    let hub = |msg: HubMsg, doc: &str| {
        assert_eq!(msg.to_frame(), doc_bytes(doc), "{msg:?}");
        assert_eq!(HubMsg::decode(payload_of(&msg.to_frame())), Ok(msg));
    };
    let reply = |tag, status, message: &str| HubMsg::Reply {
        tag,
        status,
        message: message.into(),
        body: Body::None,
    };
    client(
        ClientMsg::Hello {
            version: VERSION,
            role: Role::Session,
        },
        "00 00 00 08  01  50 48 55 42  00 02  00",
    );
    hub(
        HubMsg::Welcome {
            version: VERSION,
            server: "peerhub 0.1.0".into(),
            hub_key: vec![0x30, 0x59],
        },
        r#"00 00 00 1a  02  50 48 55 42  00 02  00 0d "peerhub 0.1.0"  00 02  30 59"#,
    );
    client(ClientMsg::Echo { tag: 9 }, "00 00 00 05  15  00 00 00 09");
    hub(
        reply(9, Status::OK, "pong"),
        r#"00 00 00 0e  40  00 00 00 09  00 c8  00 04 "pong"  00"#,
    );
    let stray = doc_bytes("00 00 00 06  14  00 00 00 07  09");
    assert_eq!(
        ClientMsg::decode(payload_of(&stray)),
        Err(DecodeError::TrailingBytes)
    );
    hub(
        reply(
            7,
            Status::BAD_REQUEST,
            "bad request: trailing bytes after message",
        ),
        r#"00 00 00 33  40  00 00 00 07  01 90  00 29 "bad request: trailing bytes after message"  00"#,
    );
    hub(
        HubMsg::Bye {
            status: Status::BAD_REQUEST,
            reason: "not a peerhub client: expected a peerhub hello".into(),
        },
        r#"00 00 00 33  57  01 90  00 2e "not a peerhub client: expected a peerhub hello""#,
    );
}
