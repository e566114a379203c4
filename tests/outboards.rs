//! Outboards of published files (issue #14) through real processes: `publish` writes
//! `<share>/.peerhub-outboards/<hash>.obao` in its hash pass and names it in its
//! result, and the stored outboard proves every byte of the file against the published
//! hash; a file changed after publishing gets a new outboard when it is hashed again
//! and the old one goes; `unpublish` removes it; a client started anew sweeps the
//! outboards no publication needs and the parts a dead pass left.

mod support;

use peerhub::transfer::verified::decode::RangeDecoder;
use peerhub::transfer::verified::encode::{Item, RangePlan};
use peerhub::transfer::verified::outboard::Header;
use peerhub::transfer::verified::{groups, outboard_len, PARENT};
use serde_json::Value;
use std::fs;
use std::path::Path;
use std::time::Duration;
use support::{random_bytes, Hub, Peer, PeerOpts};

const SECS_20: Duration = Duration::from_secs(20);

fn hex(data: &[u8]) -> String {
    blake3::hash(data).to_hex().to_string()
}

/// That the outboard at `share/path` is the one of `data`: its header, its length,
/// and a proof of the whole file built from it that verifies against the hash.
fn assert_proves(share: &Path, path: &str, data: &[u8]) {
    let stored = fs::read(share.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
    let size = data.len() as u64;
    assert_eq!(Header::parse(&stored), Some(Header { size }));
    let parents = &stored[Header::LEN..];
    assert_eq!(parents.len() as u64, outboard_len(size));
    let mut wire = Vec::new();
    for item in RangePlan::new(size, 0..groups(size)) {
        match item {
            Item::Parent { index } => {
                let at = index as usize * PARENT;
                wire.extend_from_slice(&parents[at..at + PARENT]);
            }
            Item::Group { offset, len, .. } => {
                wire.extend_from_slice(&data[offset as usize..offset as usize + len])
            }
        }
    }
    let root = *blake3::hash(data).as_bytes();
    let mut decoder = RangeDecoder::new(size, root, 0..groups(size));
    let mut rest = &wire[..];
    let mut verified = 0;
    loop {
        let (used, group) = decoder
            .feed(rest)
            .expect("the stored outboard proves the file");
        let ended = used == 0 && group.is_none();
        verified += group.map_or(0, |g| g.bytes.len());
        rest = &rest[used..];
        if ended {
            break;
        }
    }
    assert!(decoder.is_done());
    assert_eq!(verified, data.len());
}

fn publish(peer: &mut Peer, file: &str, data: &[u8]) -> Value {
    fs::write(peer.share_dir().join(file), data).unwrap();
    let r = peer.run(&format!("publish {file}"));
    assert_eq!(r["status"], 202, "{r}");
    assert_eq!(r["hash"], hex(data));
    r
}

#[test]
fn publishing_writes_an_outboard_that_proves_the_file_and_follows_it() {
    let hub = Hub::start(&["--auth-rate", "0"]);
    let mut alice = Peer::logged_in(hub.addr(), "alice");
    let mut bob = Peer::logged_in(hub.addr(), "bob");
    let share = alice.share_dir().to_path_buf();
    let first = random_bytes(5 * 16_384 + 777, 1);
    let r = publish(&mut alice, "song.mp3", &first);
    let old = format!(".peerhub-outboards/{}.obao", hex(&first));
    assert_eq!(r["outboard"], old.as_str(), "{r}");
    assert_proves(&share, &old, &first);
    // The same content under a second name shares the outboard.
    let r = publish(&mut alice, "copy.mp3", &first);
    assert_eq!(r["outboard"], old.as_str());

    // Changed on disk: a fetch makes alice hash it again, with a new outboard.
    let second = random_bytes(3 << 20, 2);
    fs::write(share.join("song.mp3"), &second).unwrap();
    let id = bob.send("fetch song.mp3");
    let got = bob.wait_result(id, SECS_20);
    assert_eq!(got["hash"], hex(&second), "{got}");
    let new = format!(".peerhub-outboards/{}.obao", hex(&second));
    assert_proves(&share, &new, &second);
    assert!(
        share.join(&old).exists(),
        "copy.mp3 still needs the first one"
    );

    assert_eq!(alice.run("unpublish copy.mp3")["ok"], true);
    assert!(
        !share.join(&old).exists(),
        "no publication needs it any more"
    );
    assert!(share.join(&new).exists());
    assert_eq!(alice.run("unpublish song.mp3")["ok"], true);
    assert!(!share.join(&new).exists());
    alice.assert_clean();
}

#[test]
fn a_client_started_anew_sweeps_the_outboards_nobody_needs() {
    let hub = Hub::start(&["--auth-rate", "0"]);
    let mut alice = Peer::logged_in(hub.addr(), "alice");
    let share = alice.share_dir().to_path_buf();
    let data = random_bytes(40_000, 3);
    let r = publish(&mut alice, "kept.bin", &data);
    let kept = r["outboard"].as_str().unwrap().to_owned();
    let dir = share.join(".peerhub-outboards");
    let stray = dir.join(format!("{}.obao", "ab".repeat(32)));
    fs::write(&stray, b"left by an older run").unwrap();
    fs::write(dir.join(".3.part"), b"a pass that died").unwrap();
    alice.close_stdin();
    assert_eq!(alice.expect_exit(SECS_20), 0);

    let opts = PeerOpts {
        share: Some(share.clone()),
        ..PeerOpts::new(hub.addr())
    };
    let mut again = Peer::spawn(opts);
    again.login("alice", "pw");
    assert!(share.join(&kept).exists());
    assert!(!stray.exists(), "an outboard no publication needs");
    assert!(!dir.join(".3.part").exists(), "a dead pass's part");
    assert_proves(&share, &kept, &data);
}
