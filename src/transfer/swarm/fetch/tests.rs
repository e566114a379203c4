//! A swarm download over in-memory streams, each holder played by the test: the file
//! from two holders, a corrupt holder dropped (reported) with the file still whole and
//! nothing unverified written, a resume that asks only for the missing groups, and a
//! stalled holder dropped by the deadline.

use super::*;
use crate::proto::peer::{self, Answer};
use crate::sys;
use crate::testing::TempDir;
use crate::transfer::stream::memory::MemoryStream;
use crate::transfer::verified::encode::group_range;
use crate::transfer::verified::fixtures;
use std::collections::HashMap;

#[derive(Clone, Copy, PartialEq)]
enum Play {
    Honest,
    Corrupt,
    Silent,
}

struct Harness {
    share: TempDir,
    dir: File,
    fetch: SwarmFetch<MemoryStream>,
    data: Vec<u8>,
    outboard: Vec<u8>,
    peers: HashMap<SourceId, (MemoryStream, Vec<u8>, Play)>,
    /// Every range each holder was asked for, as bytes.
    asked: HashMap<SourceId, Vec<(u64, u64)>>,
    actions: Vec<SwAction>,
    buf: Vec<u8>,
}

fn holder(user: &str) -> Holder {
    Holder {
        user: user.into(),
        addr: "127.0.0.1:4000".parse().unwrap(),
        size: 0,
        hash: [0; 32],
        fingerprint: crate::trust::Fingerprint::from_bytes([1; 32]),
        ticket: b"ticket".to_vec(),
    }
}

impl Harness {
    fn new(len: usize, plays: &[Play], verified: Vec<Range<u64>>) -> Harness {
        let data = fixtures::data(len, 3);
        let (root, outboard) = fixtures::build(&data, 1 << 20);
        let share = TempDir::new("swarm");
        let dir = sys::open_dir(share.path()).unwrap();
        let holders = (0..plays.len()).map(|i| holder(&format!("h{i}"))).collect();
        let spec = SwarmSpec {
            job: 1,
            name: "f".into(),
            dest: "f".into(),
            size: len as u64,
            hash: root,
            holders,
            sequential: false,
            verified,
        };
        let fetch = SwarmFetch::new(spec, share.path());
        let peers = plays
            .iter()
            .enumerate()
            .map(|(i, p)| (i, (MemoryStream::new(), Vec::new(), *p)))
            .collect();
        Harness {
            share,
            dir,
            fetch,
            data,
            outboard,
            peers,
            asked: HashMap::new(),
            actions: Vec::new(),
            buf: vec![0; 64 * 1024],
        }
    }

    /// One turn of the download, the connections it asks for made, and every holder's
    /// requests answered as it plays.
    fn turn(&mut self, now: Instant) {
        let mut ctx = Ctx {
            share: self.share.path(),
            share_dir: &self.dir,
            buf: &mut self.buf,
            hash_slice: 1 << 20,
            read_budget: 100_000,
        };
        let mut out = Vec::new();
        self.fetch.turn(&mut ctx, now, &mut out);
        let connects: Vec<SourceId> = out
            .iter()
            .filter_map(|a| match a {
                SwAction::Connect { source } => Some(*source),
                _ => None,
            })
            .collect();
        for source in connects {
            let stream = self.peers[&source].0.clone();
            self.fetch
                .dialled(source, 100 + source, Ok(stream), now, &mut out);
        }
        self.actions.extend(out);
        self.serve();
    }

    fn serve(&mut self) {
        let size = self.data.len() as u64;
        for (source, (stream, pending, play)) in self.peers.iter_mut() {
            pending.extend(stream.take_written());
            while let Ok(Some((used, request))) = peer::parse_request(pending) {
                pending.drain(..used);
                let end = request.range_end.unwrap();
                self.asked
                    .entry(*source)
                    .or_default()
                    .push((request.offset, end));
                if *play == Play::Silent {
                    continue;
                }
                let mut out = Vec::new();
                let answer = Answer {
                    status: Status::OK,
                    message: "ok".into(),
                    size,
                    hash: self.fetch.spec().hash,
                    user: format!("h{source}"),
                };
                peer::encode_answer(&answer, &mut out);
                let groups = group_range(size, request.offset..end).unwrap();
                let mut proof = fixtures::encode(&self.data, &self.outboard, groups);
                if *play == Play::Corrupt {
                    *proof.last_mut().unwrap() ^= 1;
                }
                out.extend(proof);
                stream.send(&out);
            }
        }
    }

    fn run(&mut self) -> Outcome {
        let now = Instant::now();
        for _ in 0..10_000 {
            self.turn(now);
            if let Some(outcome) = self.outcome() {
                return outcome;
            }
        }
        panic!("no outcome: {:?}", self.actions);
    }

    fn outcome(&mut self) -> Option<Outcome> {
        self.actions.iter().find_map(|a| match a {
            SwAction::Done(o) => Some(o.clone()),
            _ => None,
        })
    }

    fn dropped(&self) -> Vec<(String, Fault)> {
        self.actions
            .iter()
            .filter_map(|a| match a {
                SwAction::Dropped { user, fault, .. } => Some((user.clone(), *fault)),
                _ => None,
            })
            .collect()
    }
}

const MIB: usize = 1 << 20;

#[test]
fn two_holders_share_the_file_and_both_are_counted() {
    let mut h = Harness::new(6 * MIB + 100, &[Play::Honest, Play::Honest], Vec::new());
    let Outcome::Done(d) = h.run() else {
        panic!("{:?}", h.actions)
    };
    assert_eq!(std::fs::read(h.share.path().join("f")).unwrap(), h.data);
    assert_eq!(d.sources.len(), 2, "{:?}", d.sources);
    assert_eq!(
        d.sources.iter().map(|s| s.1).sum::<u64>(),
        h.data.len() as u64
    );
    assert!(d.bad_sources.is_empty());
    // The first request of each connection carries the ticket; the next ones do not
    // (the holder parses them either way: every one was answered).
    assert!(h.asked.values().all(|a| !a.is_empty()));
}

#[test]
fn a_corrupt_holder_is_dropped_and_nothing_it_sent_is_written() {
    let mut h = Harness::new(6 * MIB, &[Play::Corrupt, Play::Honest], Vec::new());
    let Outcome::Done(d) = h.run() else {
        panic!("{:?}", h.actions)
    };
    assert_eq!(h.dropped(), [("h0".to_owned(), Fault::Bad)]);
    assert_eq!(&*d.bad_sources, ["h0".to_owned()]);
    assert_eq!(std::fs::read(h.share.path().join("f")).unwrap(), h.data);
    // h0's verified groups (all but the last of its segment) count to it.
    assert!(d.sources.iter().all(|(u, _)| u == "h1" || u == "h0"));

    // Alone, a corrupt holder fails the fetch with 422, the verified groups recorded.
    let mut h = Harness::new(6 * MIB, &[Play::Corrupt], Vec::new());
    let Outcome::Failed {
        status, partial, ..
    } = h.run()
    else {
        panic!()
    };
    assert_eq!(status, Status::INTEGRITY);
    let recorded = h.actions.iter().rev().find_map(|a| match a {
        SwAction::Record(r) => Some(r.clone()),
        _ => None,
    });
    let verified: u64 = recorded.unwrap().iter().map(|r| r.end - r.start).sum();
    assert_eq!(partial, PartialFate::Kept(verified * GROUP));
    let part = std::fs::read(h.share.path().join("f.part")).unwrap();
    let good = (verified * GROUP) as usize;
    assert_eq!(
        part[..good],
        h.data[..good],
        "the verified groups, in place"
    );
    assert!(
        part[good..].iter().all(|&b| b == 0),
        "nothing unverified written"
    );
}

#[test]
fn a_resume_asks_only_for_the_groups_not_verified() {
    let len = 6 * MIB;
    let share_data = fixtures::data(len, 3);
    let mut h = Harness::new(len, &[Play::Honest], vec![0..100, 200..384]);
    // The partial file as a killed fetch left it: verified groups in place.
    let mut part = vec![0u8; len];
    part[..100 * GROUP as usize].copy_from_slice(&share_data[..100 * GROUP as usize]);
    part[200 * GROUP as usize..].copy_from_slice(&share_data[200 * GROUP as usize..]);
    std::fs::write(h.share.path().join("f.part"), part).unwrap();
    let Outcome::Done(d) = h.run() else {
        panic!("{:?}", h.actions)
    };
    assert_eq!(d.resumed, 284 * GROUP);
    assert_eq!(d.received, 100 * GROUP);
    assert_eq!(
        h.asked[&0],
        [(100 * GROUP, 164 * GROUP), (164 * GROUP, 200 * GROUP)]
    );
    assert_eq!(std::fs::read(h.share.path().join("f")).unwrap(), h.data);
}

#[test]
fn a_silent_holder_is_dropped_at_the_deadline_and_the_other_finishes() {
    let mut h = Harness::new(6 * MIB, &[Play::Silent, Play::Honest], Vec::new());
    let t0 = Instant::now();
    // Long enough for h1 to fetch everything but h0's segment and fall idle.
    for _ in 0..500 {
        h.turn(t0);
    }
    let mut out = Vec::new();
    h.fetch.expire(
        t0 + Duration::from_secs(31),
        Duration::from_secs(30),
        &mut out,
    );
    h.actions.extend(out);
    assert_eq!(h.dropped(), [("h0".to_owned(), Fault::Gone)]);
    let Outcome::Done(d) = h.run() else {
        panic!("{:?}", h.actions)
    };
    assert_eq!(
        d.sources.iter().map(|s| s.0.as_str()).collect::<Vec<_>>(),
        ["h1"]
    );
    assert_eq!(std::fs::read(h.share.path().join("f")).unwrap(), h.data);
}
