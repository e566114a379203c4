//! A holder serves verified ranges (issue #14), seen from a fetcher that is no peerhub
//! client: a `GetRange` gets the range with the tree nodes that prove it, which verify
//! against the published hash group by group; unaligned, empty and out-of-file ranges
//! are refused with 400; a publication whose outboard is missing is hashed again and
//! then served; a file changed in place behind its stamp's back is served as it is
//! (the holder spends no hash on what it sends) and fails at the fetcher, at its first
//! rotten group, with everything before it verified.

mod support;

use peerhub::proto::peer::{self, Request};
use peerhub::transfer::verified::decode::{ProofError, RangeDecoder};
use peerhub::transfer::verified::encode::group_range;
use peerhub::transfer::verified::GROUP;
use std::fs;
use support::fetcher::{fetch_range_with, Fetcher};
use support::{random_bytes, Hub, Peer};

/// The bytes of a `GetRange` for `name`, bytes `start..end`.
fn range_request(name: &str, start: u64, end: u64, ticket: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let request = Request {
        name: name.into(),
        offset: start,
        range_end: Some(end),
        ticket: ticket.to_vec(),
    };
    peer::encode_request(&request, &mut out);
    out
}

/// The verified bytes of a proof, and how it ended.
fn verify(
    size: u64,
    root: [u8; 32],
    start: u64,
    end: u64,
    wire: &[u8],
) -> (Vec<u8>, Result<bool, ProofError>) {
    let groups = group_range(size, start..end).expect("a valid range");
    let mut decoder = RangeDecoder::new(size, root, groups);
    let mut out = Vec::new();
    let mut rest = wire;
    loop {
        match decoder.feed(rest) {
            Ok((used, group)) => {
                let ended = used == 0 && group.is_none();
                if let Some(g) = group {
                    out.extend_from_slice(g.bytes);
                }
                rest = &rest[used..];
                if ended {
                    return (out, Ok(decoder.is_done() && rest.is_empty()));
                }
            }
            Err(e) => return (out, Err(e)),
        }
    }
}

/// Ask `alice`'s client for `start..end` of `name` as `fetcher`: the answer's status,
/// and the proof's bytes on 200.
fn ask(fetcher: &mut Fetcher, alice: &Peer, name: &str, start: u64, end: u64) -> (u16, Vec<u8>) {
    let holder = fetcher.holder(name, "alice");
    let request = range_request(name, start, end, &holder.ticket);
    let (answer, body) = fetch_range_with(
        alice.addr(),
        holder.fingerprint,
        &fetcher.identity,
        &request,
    )
    .expect("an answer");
    (answer.status.0, body)
}

#[test]
fn ranges_come_with_their_proof_and_bad_ranges_are_refused() {
    let hub = Hub::start(&["--auth-rate", "0"]);
    let mut alice = Peer::logged_in(hub.addr(), "alice");
    let data = random_bytes(40 * GROUP as usize + 1234, 7);
    let size = data.len() as u64;
    fs::write(alice.share_dir().join("big.bin"), &data).unwrap();
    assert_eq!(alice.run("publish big.bin")["status"], 202);
    let root = *blake3::hash(&data).as_bytes();
    let mut fred = Fetcher::login(hub.addr(), "fred");

    for (start, end) in [
        (0, size),
        (0, GROUP),
        (5 * GROUP, 17 * GROUP),
        (40 * GROUP, size),
    ] {
        let (status, wire) = ask(&mut fred, &alice, "big.bin", start, end);
        assert_eq!(status, 200, "{start}..{end}");
        let (bytes, ended) = verify(size, root, start, end, &wire);
        assert_eq!(
            ended,
            Ok(true),
            "{start}..{end}: the proof, whole and nothing more"
        );
        assert!(
            bytes == data[start as usize..end as usize],
            "{start}..{end}"
        );
        assert!(wire.len() as u64 > end - start, "the tree nodes come too");
    }
    for (start, end) in [
        (1, GROUP),
        (0, GROUP + 1),
        (0, size + 1),
        (GROUP, GROUP),
        (2 * GROUP, GROUP),
    ] {
        let (status, wire) = ask(&mut fred, &alice, "big.bin", start, end);
        assert_eq!(status, 400, "{start}..{end}");
        assert!(wire.is_empty());
    }
    alice.assert_clean();
}

#[test]
fn a_missing_outboard_is_made_again_and_rot_behind_the_stamp_fails_at_the_fetcher() {
    let hub = Hub::start(&["--auth-rate", "0"]);
    let mut alice = Peer::logged_in(hub.addr(), "alice");
    let data = random_bytes(8 * GROUP as usize, 8);
    let size = data.len() as u64;
    let path = alice.share_dir().join("song.mp3");
    fs::write(&path, &data).unwrap();
    let r = alice.run("publish song.mp3");
    let outboard = alice.share_dir().join(r["outboard"].as_str().unwrap());
    let root = *blake3::hash(&data).as_bytes();
    let mut fred = Fetcher::login(hub.addr(), "fred");

    // As a publication made before outboards were kept: hashed again, then served.
    fs::remove_file(&outboard).unwrap();
    let (status, wire) = ask(&mut fred, &alice, "song.mp3", 0, size);
    assert_eq!(status, 200);
    assert_eq!(verify(size, root, 0, size, &wire).1, Ok(true));
    assert!(outboard.exists(), "the outboard was written again");

    // Rot in group 5 that the stamp does not show: same size, time put back.
    support::rot_in_place(&path, 5 * GROUP as usize + 100);
    let (status, wire) = ask(&mut fred, &alice, "song.mp3", 0, size);
    assert_eq!(status, 200);
    let (bytes, ended) = verify(size, root, 0, size, &wire);
    assert_eq!(
        ended,
        Err(ProofError::Group { index: 5 }),
        "caught at group 5"
    );
    assert_eq!(
        bytes,
        data[..5 * GROUP as usize],
        "the good groups before the rot, and nothing of it"
    );
}

/// Read one answer from `stream` and, on 200, exactly the proof of `start..end`.
fn read_range(
    stream: &mut support::fetcher::PeerStream,
    size: u64,
    start: u64,
    end: u64,
    leftover: &mut Vec<u8>,
) -> (u16, Vec<u8>) {
    use peerhub::transfer::verified::encode::RangePlan;
    use std::io::Read;
    let mut chunk = [0u8; 64 * 1024];
    let (used, answer) = loop {
        if let Some(found) = peer::parse_answer(leftover).expect("an answer") {
            break found;
        }
        let n = stream.read(&mut chunk).expect("the answer");
        assert!(n > 0, "closed before answering");
        leftover.extend_from_slice(&chunk[..n]);
    };
    leftover.drain(..used);
    if answer.status.0 != 200 {
        return (answer.status.0, Vec::new());
    }
    let groups = group_range(size, start..end).unwrap();
    let want = RangePlan::new(size, groups).wire_len() as usize;
    while leftover.len() < want {
        let n = stream.read(&mut chunk).expect("the proof");
        assert!(n > 0, "closed inside the proof");
        leftover.extend_from_slice(&chunk[..n]);
    }
    let proof = leftover.drain(..want).collect();
    (200, proof)
}

/// After a range, the connection stays for the next ones of the same file, without a
/// ticket, up to a bound; a follow-up that is not such a range is refused with 400, and
/// one past the bound with 429.
#[test]
fn one_connection_serves_range_after_range_within_a_bound() {
    use std::io::Write;
    let hub = Hub::start(&["--auth-rate", "0"]);
    let mut alice = Peer::logged_in(hub.addr(), "alice");
    let data = random_bytes(2 * GROUP as usize, 9);
    let size = data.len() as u64;
    fs::write(alice.share_dir().join("two.bin"), &data).unwrap();
    fs::write(alice.share_dir().join("other.bin"), b"other").unwrap();
    assert_eq!(alice.run("publish two.bin")["status"], 202);
    assert_eq!(alice.run("publish other.bin")["status"], 202);
    let root = *blake3::hash(&data).as_bytes();
    let mut fred = Fetcher::login(hub.addr(), "fred");
    let max = peerhub::transfer::upload::max_ranges(size);

    let connect = |fred: &mut Fetcher| {
        let holder = fred.holder("two.bin", "alice");
        let stream =
            support::fetcher::connect(alice.addr(), holder.fingerprint, Some(&fred.identity))
                .expect("a connection");
        (stream, holder.ticket)
    };
    let (mut stream, ticket) = connect(&mut fred);
    let mut leftover = Vec::new();
    for n in 0..max {
        let (start, end) = if n % 2 == 0 {
            (0, GROUP)
        } else {
            (GROUP, size)
        };
        let ticket: &[u8] = if n == 0 { &ticket } else { &[] };
        stream
            .write_all(&range_request("two.bin", start, end, ticket))
            .unwrap();
        stream.flush().unwrap();
        let (status, wire) = read_range(&mut stream, size, start, end, &mut leftover);
        assert_eq!(status, 200, "range {n}");
        let (bytes, ended) = verify(size, root, start, end, &wire);
        assert_eq!(ended, Ok(true));
        assert!(bytes == data[start as usize..end as usize]);
    }
    stream
        .write_all(&range_request("two.bin", 0, GROUP, &[]))
        .unwrap();
    stream.flush().unwrap();
    let (status, _) = read_range(&mut stream, size, 0, GROUP, &mut leftover);
    assert_eq!(status, 429, "past {max} ranges on one connection");

    for (name, ticket_again) in [("other.bin", false), ("two.bin", true)] {
        let (mut stream, ticket) = connect(&mut fred);
        let mut leftover = Vec::new();
        stream
            .write_all(&range_request("two.bin", 0, GROUP, &ticket))
            .unwrap();
        stream.flush().unwrap();
        assert_eq!(
            read_range(&mut stream, size, 0, GROUP, &mut leftover).0,
            200
        );
        let again: &[u8] = if ticket_again { &ticket } else { &[] };
        stream
            .write_all(&range_request(name, 0, GROUP.min(5), again))
            .unwrap();
        stream.flush().unwrap();
        let (status, _) = read_range(&mut stream, size, 0, GROUP, &mut leftover);
        assert_eq!(status, 400, "{name}, ticket again: {ticket_again}");
    }
    alice.assert_clean();
}
