//! Tests of a store connection over an in-memory stream: a whole upload and its
//! download, short reads and `WouldBlock` at every step, a bad ticket frame, and an
//! upload cut off early (reported, and its version removed as the hub orders).

use super::*;
use crate::proto::message::StoreKind;
use crate::testing::TempDir;
use crate::transfer::stream::memory::MemoryStream;
use crate::transfer::tree::RxLimits;
use std::collections::VecDeque;

const TOKEN: [u8; 16] = [5; 16];

fn frames(msgs: &[StoreMsg]) -> Vec<u8> {
    let mut out = Vec::new();
    for m in msgs {
        store::encode(m, &mut out);
    }
    out
}

/// What a client sends to upload `data` as the file `name`: the ticket, then the tree.
fn upload_bytes(name: &str, data: &[u8]) -> Vec<u8> {
    let mut out = frames(&[
        StoreMsg::Begin { token: TOKEN },
        StoreMsg::File {
            path: name.into(),
            size: data.len() as u64,
        },
    ]);
    out.extend_from_slice(data);
    out.extend(frames(&[
        StoreMsg::Sum {
            hash: *blake3::hash(data).as_bytes(),
        },
        StoreMsg::End {
            files: 1,
            dirs: 0,
            bytes: data.len() as u64,
        },
    ]));
    out
}

fn limits(name: &str, bytes: u64) -> RxLimits {
    RxLimits {
        root: name.into(),
        kind: StoreKind::File,
        max_file: 0,
        max_bytes: bytes,
        max_items: 1,
    }
}

/// The statuses written at the front of `bytes`, and the bytes after them.
fn statuses(mut bytes: &[u8], most: usize) -> (Vec<(u16, String)>, Vec<u8>) {
    let mut found = Vec::new();
    while found.len() < most {
        let Ok(Some((used, StoreMsg::Status { status, message }))) = store::parse(bytes) else {
            break;
        };
        found.push((status.0, message));
        bytes = &bytes[used..];
    }
    (found, bytes.to_vec())
}

/// One turn of `conn` at `now` (1,000 bytes a turn, no stall in sight): its step and
/// what it reported.
fn turn(
    conn: &mut StoreConn<MemoryStream>,
    disk: &StoreDisk,
    scratch: &mut [u8],
    now: Instant,
) -> (StoreStep, Vec<StoreEvent>) {
    let config = StoreConnConfig {
        slice: 1000,
        stall: Duration::from_secs(60),
        begin_timeout: Duration::from_secs(60),
    };
    let mut env = StoreEnv {
        config: &config,
        scratch,
        root: disk.root_dir(),
    };
    let mut events = Vec::new();
    let step = conn.turn(&mut env, now, &mut events);
    (step, events)
}

/// Run `conn` until it closes, answering each event as `answer` says (as the hub
/// would); the peer closes once the connection closed its writing side. The events,
/// and why it closed.
fn drive(
    conn: &mut StoreConn<MemoryStream>,
    disk: &StoreDisk,
    peer: &MemoryStream,
    mut answer: impl FnMut(&StoreEvent) -> Option<StoreOrder>,
) -> (Vec<StoreEvent>, String) {
    let mut scratch = vec![0u8; 512];
    let now = Instant::now();
    let mut seen = Vec::new();
    for _ in 0..200_000 {
        let (step, events) = turn(conn, disk, &mut scratch, now);
        let mut queue: VecDeque<StoreEvent> = events.into();
        while let Some(event) = queue.pop_front() {
            if let Some(order) = answer(&event) {
                queue.extend(conn.order(order, disk, now));
            }
            seen.push(event);
        }
        if let StoreStep::Close(reason) = step {
            return (seen, reason);
        }
        if peer.write_closed() {
            peer.close();
        }
    }
    panic!("the connection never closed: {seen:?}");
}

/// The hub's answers to a good upload into `version`.
fn accept_upload(
    version: &str,
    name: &str,
    bytes: u64,
) -> impl FnMut(&StoreEvent) -> Option<StoreOrder> {
    let (version, name) = (version.to_owned(), name.to_owned());
    move |event| match event {
        StoreEvent::Ticket(token) => {
            assert_eq!(token, &TOKEN);
            Some(StoreOrder::Receive {
                version: version.clone(),
                limits: limits(&name, bytes),
            })
        }
        StoreEvent::Received(_) => Some(StoreOrder::Flush),
        StoreEvent::Flushed(result) => {
            assert!(result.is_ok(), "{result:?}");
            Some(StoreOrder::Verdict {
                name: name.clone(),
                status: Status::OK,
                message: "stored".into(),
            })
        }
        _ => None,
    }
}

fn streams() -> Vec<(&'static str, MemoryStream)> {
    vec![
        ("whole", MemoryStream::new()),
        ("in threes", MemoryStream::new().chunked(3)),
        (
            "blocking every other call",
            MemoryStream::new().stuttering(),
        ),
        (
            "a byte at a time, blocking",
            MemoryStream::new().chunked(1).stuttering(),
        ),
    ]
}

#[test]
fn an_upload_is_received_flushed_and_answered_then_downloaded_whole() {
    let data: Vec<u8> = (0..5000u32).map(|i| (i * 7 % 251) as u8).collect();
    for (how, peer) in streams() {
        let dir = TempDir::new("storeconn");
        let disk = StoreDisk::open(dir.path()).unwrap();
        peer.send(&upload_bytes("a.bin", &data));
        let mut conn = StoreConn::new(peer.clone(), how.into(), Vec::new(), Instant::now());
        let answer = accept_upload("v1", "a.bin", data.len() as u64);
        let (events, reason) = drive(&mut conn, &disk, &peer, answer);
        assert!(
            reason.contains("upload of a.bin: 200 stored"),
            "{how}: {reason}"
        );
        let received = events.iter().find_map(|e| match e {
            StoreEvent::Received(items) => Some(items.clone()),
            _ => None,
        });
        let items = received.unwrap_or_else(|| panic!("{how}: {events:?}"));
        assert_eq!((items.len(), items[0].size), (1, 5000));
        let progress = events.iter().filter_map(|e| match e {
            StoreEvent::Progress(n) => Some(*n),
            _ => None,
        });
        assert_eq!(progress.max(), Some(5000), "{how}");
        let (said, rest) = statuses(&peer.take_written(), 2);
        assert_eq!(
            said,
            [(200, "ready".into()), (200, "stored".into())],
            "{how}"
        );
        assert!(rest.is_empty());
        let stored = dir.join("store/v1/a.bin");
        assert_eq!(std::fs::read(&stored).unwrap(), data, "{how}");
        assert!(!dir.join("store/.incoming-v1").exists());
        download(&disk, &items, &data, how);
    }
}

/// Download version `v1` (holding `items`) over a fresh stream and check its bytes.
fn download(disk: &StoreDisk, items: &[TreeItem], data: &[u8], how: &str) {
    let peer = MemoryStream::new().chunked(700).stuttering();
    peer.send(&frames(&[StoreMsg::Begin { token: TOKEN }]));
    let mut conn = StoreConn::new(peer.clone(), how.into(), Vec::new(), Instant::now());
    let items = items.to_vec();
    let (events, reason) = drive(&mut conn, disk, &peer, |event| match event {
        StoreEvent::Ticket(_) => Some(StoreOrder::Send {
            version: "v1".into(),
            kind: StoreKind::File,
            items: items.clone(),
        }),
        _ => None,
    });
    assert_eq!(reason, "download served", "{how}");
    assert!(events.iter().any(|e| matches!(e, StoreEvent::Served)));
    let (said, tree) = statuses(&peer.take_written(), 1);
    assert_eq!(said, [(200, "ready: file".into())]);
    let got = TempDir::new("storeconn-got");
    let root = crate::sys::open_dir(got.path()).unwrap();
    let mut rx = TreeReceiver::new(limits("a.bin", data.len() as u64), Vec::new());
    rx.feed(&tree, &root).unwrap();
    assert!(rx.ended());
    assert_eq!(std::fs::read(got.join("a.bin")).unwrap(), data);
}

#[test]
fn an_upload_cut_off_early_is_reported_and_its_version_removed() {
    let data = vec![9u8; 3000];
    for (how, peer) in streams() {
        let dir = TempDir::new("storeconn-cut");
        let mut disk = StoreDisk::open(dir.path()).unwrap();
        let bytes = upload_bytes("cut.bin", &data);
        peer.send(&bytes[..bytes.len() / 2]);
        peer.close();
        let mut conn = StoreConn::new(peer.clone(), how.into(), Vec::new(), Instant::now());
        let mut accept = accept_upload("v2", "cut.bin", data.len() as u64);
        let (events, reason) = drive(&mut conn, &disk, &peer, |event| match event {
            StoreEvent::Failed(e) => Some(StoreOrder::Verdict {
                name: "cut.bin".into(),
                status: e.status,
                message: e.message.clone(),
            }),
            other => accept(other),
        });
        let failed = events.iter().find_map(|e| match e {
            StoreEvent::Failed(e) => Some(e.status),
            _ => None,
        });
        assert_eq!(failed, Some(Status::PEER_UNREACHABLE), "{how}: {events:?}");
        assert!(
            reason.starts_with("upload of cut.bin: 502"),
            "{how}: {reason}"
        );
        assert!(
            dir.join("store/.incoming-v2").exists(),
            "until the hub says"
        );
        disk.remove_version("v2");
        disk.remove_all();
        assert_eq!(std::fs::read_dir(dir.join("store")).unwrap().count(), 0);
    }
}

#[test]
fn a_first_frame_that_is_not_a_ticket_is_refused() {
    let dir = TempDir::new("storeconn-bad");
    let disk = StoreDisk::open(dir.path()).unwrap();
    let peer = MemoryStream::new().chunked(2).stuttering();
    peer.send(&frames(&[StoreMsg::End {
        files: 0,
        dirs: 0,
        bytes: 0,
    }]));
    let mut conn = StoreConn::new(peer.clone(), "bad".into(), Vec::new(), Instant::now());
    let (events, reason) = drive(&mut conn, &disk, &peer, |_| None);
    assert!(events.is_empty());
    assert_eq!(reason, "400 expected a Begin with a ticket");
    let (said, _) = statuses(&peer.take_written(), 1);
    assert_eq!(said[0].0, 400);
    // A connection that closes before its ticket just goes.
    let peer = MemoryStream::new();
    peer.send(&frames(&[StoreMsg::Begin { token: TOKEN }])[..5]);
    peer.close();
    let mut conn = StoreConn::new(peer.clone(), "short".into(), Vec::new(), Instant::now());
    let (_, reason) = drive(&mut conn, &disk, &peer, |_| None);
    assert_eq!(reason, "closed before its ticket");
}

#[test]
fn closing_while_flushing_finishes_the_flush_and_reports_it() {
    let dir = TempDir::new("storeconn-flush");
    let disk = StoreDisk::open(dir.path()).unwrap();
    let peer = MemoryStream::new();
    peer.send(&upload_bytes("f.bin", b"flush me"));
    let mut conn = StoreConn::new(peer.clone(), "flush".into(), Vec::new(), Instant::now());
    let mut scratch = vec![0u8; 512];
    let now = Instant::now();
    let mut answer = accept_upload("v3", "f.bin", 8);
    let mut flushing = false;
    for _ in 0..100 {
        let (_, events) = turn(&mut conn, &disk, &mut scratch, now);
        for event in events {
            flushing |= matches!(event, StoreEvent::Received(_));
            if let Some(order) = answer(&event) {
                assert!(conn.order(order, &disk, now).is_none());
            }
        }
        if flushing {
            break;
        }
    }
    assert!(flushing);
    assert!(!dir.join("store/v3").exists(), "not flushed yet");
    let event = conn.close(disk.root_dir(), "shutdown");
    assert!(
        matches!(event, Some(StoreEvent::Flushed(Ok(())))),
        "{event:?}"
    );
    assert_eq!(
        std::fs::read(dir.join("store/v3/f.bin")).unwrap(),
        b"flush me"
    );
}
