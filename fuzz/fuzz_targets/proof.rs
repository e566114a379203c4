//! The range-proof decoder (`transfer::verified::decode::RangeDecoder`) on any bytes,
//! for any range of a fixed file (the first two bytes pick it), fed in pieces whose
//! sizes the input also picks: never panics, never takes more bytes than it was given,
//! and every group it hands over is exactly the file's bytes at that offset — nothing
//! unverified passes, whatever the proof says.
#![no_main]

use libfuzzer_sys::fuzz_target;
use peerhub::transfer::verified::decode::RangeDecoder;
use peerhub::transfer::verified::{groups, GROUP};

fn file() -> Vec<u8> {
    (0..6 * GROUP + 100).map(|i| (i * 31 % 251) as u8).collect()
}

fuzz_target!(|data: &[u8]| {
    let [a, b, rest @ ..] = data else {
        return;
    };
    let bytes = file();
    let size = bytes.len() as u64;
    let count = groups(size);
    let start = u64::from(*a) % count;
    let end = (start + 1 + u64::from(*b) % count).min(count);
    let root = *blake3::hash(&bytes).as_bytes();
    let mut decoder = RangeDecoder::new(size, root, start..end);
    // Pieces of 1 to 64 KiB, sized by the input's own bytes.
    let mut input = rest;
    let mut k = 0usize;
    while !input.is_empty() {
        let piece = (1 + usize::from(input[k % input.len()]) * 257).min(input.len());
        k += 1;
        let mut part = &input[..piece];
        loop {
            match decoder.feed(part) {
                Ok((used, group)) => {
                    assert!(used <= part.len());
                    let ended = used == 0 && group.is_none();
                    if let Some(g) = group {
                        let at = g.offset as usize;
                        assert!(g.bytes == &bytes[at..at + g.bytes.len()], "unverified bytes passed");
                        assert!(g.index >= start && g.index < end);
                    }
                    part = &part[used..];
                    if ended {
                        break;
                    }
                }
                Err(_) => return,
            }
        }
        input = &input[piece..];
    }
});
