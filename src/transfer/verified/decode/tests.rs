//! The decoder against proofs the encoder made: every range of many files verifies in
//! any piece size and yields exactly its bytes; a flipped data byte, a flipped node
//! byte, another range's proof, a wrong root, a truncated proof and bytes past the end
//! are each caught, and nothing after the fault is handed over.

use super::super::encode::group_range;
use super::super::fixtures::{build, data, encode};
use super::super::{groups, GROUP};
use super::*;

/// Feed `wire` in pieces of `piece`; the bytes verified (offset order checked), or
/// the error with the bytes verified before it.
fn decode(
    size: u64,
    root: Hash,
    range: Range<u64>,
    wire: &[u8],
    piece: usize,
) -> (Vec<u8>, Result<u64, ProofError>, RangeDecoder) {
    let mut d = RangeDecoder::new(size, root, range.clone());
    let mut out = Vec::new();
    let mut next_offset = range.start * GROUP;
    let mut used_total = 0u64;
    // An empty file's proof is no bytes at all: one empty piece then.
    let pieces: Vec<&[u8]> = match wire.len() {
        0 => vec![&[]],
        _ => wire.chunks(piece.max(1)).collect(),
    };
    for part in pieces {
        let mut part = part;
        loop {
            match d.feed(part) {
                Ok((used, verified)) => {
                    let ended = used == 0 && verified.is_none();
                    if let Some(v) = verified {
                        assert_eq!(v.offset, next_offset, "in order");
                        next_offset += v.bytes.len() as u64;
                        out.extend_from_slice(v.bytes);
                    }
                    used_total += used as u64;
                    part = &part[used..];
                    if ended {
                        break;
                    }
                }
                Err(e) => return (out, Err(e), d),
            }
        }
    }
    (out, Ok(used_total), d)
}

const SIZES: [u64; 9] = [
    0,
    1,
    GROUP - 1,
    GROUP,
    GROUP + 1,
    3 * GROUP,
    5 * GROUP + 3,
    17 * GROUP + 999,
    64 * GROUP,
];

#[test]
fn every_range_verifies_in_any_piece_size_and_gives_exactly_its_bytes() {
    for size in SIZES {
        let bytes = data(size as usize, 3);
        let (root, outboard) = build(&bytes, 7000);
        let count = groups(size);
        let mut ranges = vec![0..count, 0..1, count - 1..count];
        if count > 3 {
            ranges.extend([1..count - 1, count / 2..count / 2 + 1, 1..3]);
        }
        for range in ranges {
            let wire = encode(&bytes, &outboard, range.clone());
            for piece in [1, 63, 64, 65, 4096, GROUP as usize + 5, usize::MAX] {
                if piece < 64 && wire.len() > 200_000 {
                    continue;
                }
                let (out, used, d) = decode(size, root, range.clone(), &wire, piece);
                let start = (range.start * GROUP) as usize;
                let end = ((range.end * GROUP) as usize).min(bytes.len());
                assert_eq!(out, bytes[start..end], "{size} {range:?} by {piece}");
                assert_eq!(used, Ok(wire.len() as u64));
                assert!(d.is_done(), "{size} {range:?}");
                assert_eq!(d.remaining(), 0);
            }
        }
    }
}

#[test]
fn a_flipped_byte_anywhere_is_caught_where_it_lies_and_nothing_after_it_passes() {
    let size = 9 * GROUP + 77;
    let bytes = data(size as usize, 4);
    let (root, outboard) = build(&bytes, 100_000);
    let range = 2..7;
    let wire = encode(&bytes, &outboard, range.clone());
    let parents_len = wire.len() - (5 * GROUP) as usize;
    // Flip one byte at a time across the proof (a stride keeps it quick).
    for at in (0..wire.len())
        .step_by(997)
        .chain([0, parents_len - 1, parents_len, wire.len() - 1])
    {
        let mut bad = wire.clone();
        bad[at] ^= 0x40;
        let (out, result, _) = decode(size, root, range.clone(), &bad, 5000);
        let err = result.expect_err(&format!("byte {at} flipped"));
        // What verified is a prefix of the true bytes, and stops at the fault.
        let start = (range.start * GROUP) as usize;
        assert_eq!(out, bytes[start..start + out.len()], "byte {at}");
        match err {
            ProofError::Group { index } => {
                assert_eq!(start as u64 + out.len() as u64, index * GROUP, "byte {at}")
            }
            ProofError::Parent { .. } => {}
        }
    }
}

#[test]
fn another_range_s_proof_a_wrong_root_truncation_and_extra_bytes_are_caught() {
    let size = 12 * GROUP;
    let bytes = data(size as usize, 5);
    let (root, outboard) = build(&bytes, 100_000);
    let other = encode(&bytes, &outboard, 4..8);
    let (_, result, _) = decode(size, root, 0..4, &other, 100);
    assert!(result.is_err(), "a proof of groups 4..8 for 0..4");

    let wire = encode(&bytes, &outboard, 0..12);
    let mut wrong_root = root;
    wrong_root[0] ^= 1;
    let (out, result, _) = decode(size, wrong_root, 0..12, &wire, 100);
    assert_eq!(result, Err(ProofError::Parent { groups: 0..12 }));
    assert!(out.is_empty());

    let (out, result, d) = decode(size, root, 0..12, &wire[..wire.len() - 1], 1000);
    assert!(result.is_ok());
    assert_eq!(
        out.len() as u64,
        11 * GROUP,
        "the last group never verified"
    );
    assert!(!d.is_done());
    assert_eq!(d.remaining(), 1);

    let mut long = wire.clone();
    long.extend_from_slice(b"more");
    let (out, used, d) = decode(size, root, 0..12, &long, usize::MAX);
    assert_eq!(out, bytes);
    assert_eq!(
        used,
        Ok(wire.len() as u64),
        "bytes past the proof are not taken"
    );
    assert!(d.is_done());
}

#[test]
fn a_range_from_group_range_of_bytes_round_trips() {
    let size = 6 * GROUP + 5;
    let bytes = data(size as usize, 6);
    let (root, outboard) = build(&bytes, 100_000);
    let range = group_range(size, 4 * GROUP..size).unwrap();
    let wire = encode(&bytes, &outboard, range.clone());
    let (out, _, d) = decode(size, root, range, &wire, 333);
    assert_eq!(out, bytes[4 * GROUP as usize..]);
    assert!(d.is_done());
}
