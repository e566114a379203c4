//! The tree's tests: a sender's digest equals its receiver's; trees received,
//! verified and counted; hostile and broken trees refused.

use super::*;
use crate::proto::store::{frames, StoreMsg};
use crate::sys;
use crate::testing::TempDir;
use crate::transfer::stream::memory::{pattern, MemoryStream};
use mio::net::TcpStream;
use std::fs::File;
use std::io::Read;
use std::path::PathBuf;

fn limits(kind: StoreKind) -> RxLimits {
    RxLimits {
        root: "r".into(),
        kind,
        max_file: 100,
        max_bytes: 150,
        max_items: 10,
    }
}

fn file(path: &str, data: &[u8]) -> Vec<u8> {
    let mut out = frames(&[StoreMsg::File {
        path: path.into(),
        size: data.len() as u64,
    }]);
    out.extend_from_slice(data);
    out.extend(frames(&[StoreMsg::Sum {
        hash: *blake3::hash(data).as_bytes(),
    }]));
    out
}

/// Feed `bytes` one byte at a time and all at once; both must agree.
fn receive(kind: StoreKind, bytes: &[u8]) -> (Result<(), StatusError>, TempDir, TreeReceiver) {
    let one = TempDir::new("tree-one");
    let root = sys::open_dir(one.path()).unwrap();
    let mut rx = TreeReceiver::new(limits(kind), Vec::new());
    let mut by_byte = Ok(());
    for b in bytes {
        by_byte = rx.feed(std::slice::from_ref(b), &root);
        if by_byte.is_err() {
            break;
        }
    }
    let all = TempDir::new("tree-all");
    let root_all = sys::open_dir(all.path()).unwrap();
    let mut rx_all = TreeReceiver::new(limits(kind), Vec::new());
    let whole = rx_all.feed(bytes, &root_all);
    assert_eq!(by_byte.is_ok(), whole.is_ok(), "{by_byte:?} vs {whole:?}");
    (by_byte, one, rx)
}

#[test]
fn the_senders_digest_is_the_receivers() {
    let src = TempDir::new("tree-digest-src");
    let items = sample_tree(src.path());
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut reader = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (w, _) = listener.accept().unwrap();
    w.set_nonblocking(true).unwrap();
    let mut w = TcpStream::from_std(w);
    let drain = std::thread::spawn(move || {
        let mut got = Vec::new();
        reader.read_to_end(&mut got).unwrap();
        got
    });
    let root = sys::open_dir(src.path()).unwrap();
    let mut tx = TreeSender::new(items);
    while tx.turn(&mut w, &root, 1 << 20).unwrap() != Step::Done {}
    drop(w);
    let bytes = drain.join().unwrap();
    let dst = TempDir::new("tree-digest-dst");
    let mut rx = TreeReceiver::new(wide_limits(), Vec::new());
    rx.feed(&bytes, &sys::open_dir(dst.path()).unwrap())
        .unwrap();
    assert!(rx.ended());
    assert_eq!(tx.digest(), tree_digest(rx.items()));
    // Another content, another digest.
    let mut other = rx.items().to_vec();
    other[2].hash = Some([0; 32]);
    assert_ne!(tx.digest(), tree_digest(&other));
}

#[test]
fn a_tree_is_received_verified_and_counted() {
    let mut bytes = frames(&[
        StoreMsg::Dir { path: "r".into() },
        StoreMsg::Dir {
            path: "r/sub dir".into(),
        },
    ]);
    bytes.extend(file("r/sub dir/ü.txt", b"hello"));
    bytes.extend(file("r/empty", b""));
    bytes.extend(frames(&[
        StoreMsg::Dir {
            path: "r/void".into(),
        },
        StoreMsg::End {
            files: 2,
            dirs: 3,
            bytes: 5,
        },
    ]));
    let (result, dir, rx) = receive(StoreKind::Dir, &bytes);
    result.unwrap();
    assert!(rx.ended());
    assert_eq!(
        rx.totals(),
        Totals {
            files: 2,
            dirs: 3,
            bytes: 5
        }
    );
    assert_eq!(
        std::fs::read(dir.join("r/sub dir/ü.txt")).unwrap(),
        b"hello"
    );
    assert_eq!(std::fs::read(dir.join("r/empty")).unwrap(), b"");
    assert!(dir.join("r/void").is_dir());
}

/// Bytes that begin with the root directory `r`, then `rest`.
fn after_root(rest: Vec<u8>) -> Vec<u8> {
    let mut b = frames(&[StoreMsg::Dir { path: "r".into() }]);
    b.extend(rest);
    b
}

/// Each tree is refused with its status, fed byte by byte and at once.
fn refused(cases: Vec<(StoreKind, Vec<u8>, Status)>) {
    for (kind, bytes, status) in cases {
        let (result, _, _) = receive(kind, &bytes);
        assert_eq!(result.map_err(|e| e.status), Err(status));
    }
}

#[test]
fn hostile_paths_and_shapes_are_refused() {
    let cases: Vec<(StoreKind, Vec<u8>, Status)> = vec![
        (StoreKind::Dir, file("r/../x", b"a"), Status::INVALID_NAME),
        (
            StoreKind::Dir,
            after_root(file("/etc/x", b"a")),
            Status::INVALID_NAME,
        ),
        (
            StoreKind::Dir,
            after_root(file("r/../../x", b"a")),
            Status::INVALID_NAME,
        ),
        (
            StoreKind::Dir,
            after_root(file("other/x", b"a")),
            Status::INVALID_NAME,
        ),
        (
            StoreKind::Dir,
            after_root(file("r/a/b", b"a")),
            Status::BAD_REQUEST,
        ),
        (StoreKind::File, file("r/x", b"a"), Status::BAD_REQUEST),
        (
            StoreKind::File,
            frames(&[StoreMsg::Dir { path: "r".into() }]),
            Status::BAD_REQUEST,
        ),
        (
            StoreKind::Dir,
            after_root(frames(&[StoreMsg::Dir { path: "r".into() }])),
            Status::NAME_TAKEN,
        ),
    ];
    refused(cases);
}

#[test]
fn trees_over_the_limits_or_broken_are_refused() {
    let cases: Vec<(StoreKind, Vec<u8>, Status)> = vec![
        (
            StoreKind::Dir,
            after_root(file("r/big", &[1; 101])),
            Status::TOO_LARGE,
        ),
        (
            StoreKind::Dir,
            after_root([file("r/a", &[1; 100]), file("r/b", &[1; 60])].concat()),
            Status::TOO_LARGE,
        ),
        (
            StoreKind::Dir,
            after_root({
                let mut b = frames(&[StoreMsg::File {
                    path: "r/x".into(),
                    size: 3,
                }]);
                b.extend_from_slice(b"abc");
                b.extend(frames(&[StoreMsg::Sum { hash: [0; 32] }]));
                b
            }),
            Status::INTEGRITY,
        ),
        (
            StoreKind::Dir,
            after_root(frames(&[StoreMsg::End {
                files: 1,
                dirs: 1,
                bytes: 0,
            }])),
            Status::INTEGRITY,
        ),
        (
            StoreKind::Dir,
            after_root(frames(&[
                StoreMsg::End {
                    files: 0,
                    dirs: 1,
                    bytes: 0,
                },
                StoreMsg::Dir {
                    path: "r/late".into(),
                },
            ])),
            Status::BAD_REQUEST,
        ),
    ];
    refused(cases);
}

#[test]
fn a_symlink_planted_in_the_root_is_not_followed() {
    let dir = TempDir::new("tree-symlink");
    let outside = TempDir::new("tree-outside");
    std::os::unix::fs::symlink(outside.path(), dir.join("r")).unwrap();
    let root = sys::open_dir(dir.path()).unwrap();
    let mut rx = TreeReceiver::new(limits(StoreKind::File), Vec::new());
    let err = rx.feed(&file("r", b"x"), &root).unwrap_err();
    assert_ne!(err.status, Status::OK);
    assert!(std::fs::read_dir(outside.path()).unwrap().next().is_none());
}

#[test]
fn totals() {
    let items = [
        TreeItem {
            path: "r".into(),
            kind: StoreKind::Dir,
            size: 0,
            hash: None,
        },
        TreeItem {
            path: "r/a".into(),
            kind: StoreKind::File,
            size: 7,
            hash: None,
        },
    ];
    assert_eq!(
        Totals::of(&items),
        Totals {
            files: 1,
            dirs: 1,
            bytes: 7
        }
    );
}

/// A source tree `r/` holding `r/d/a` (small) and `r/big` (sent in slices), and its items.
fn sample_tree(src: &std::path::Path) -> Vec<(TreeItem, PathBuf)> {
    std::fs::create_dir_all(src.join("r/d")).unwrap();
    std::fs::write(src.join("r/d/a"), b"hello").unwrap();
    std::fs::write(src.join("r/big"), pattern(200_000)).unwrap();
    [
        ("r", StoreKind::Dir, 0),
        ("r/d", StoreKind::Dir, 0),
        ("r/d/a", StoreKind::File, 5),
        ("r/big", StoreKind::File, 200_000),
    ]
    .into_iter()
    .map(|(path, kind, size)| {
        let item = TreeItem {
            path: path.into(),
            kind,
            size,
            hash: None,
        };
        (item, PathBuf::from(path))
    })
    .collect()
}

/// Send the whole tree over `stream`, the peer taking what is written after every
/// turn; bounded.
fn send_all(tx: &mut TreeSender, stream: &mut MemoryStream, root: &File) -> Vec<u8> {
    let mut got = Vec::new();
    for _ in 0..1_000_000 {
        let step = tx.turn(stream, root, 10_000).unwrap();
        got.extend(stream.take_written());
        if step == Step::Done {
            return got;
        }
    }
    panic!("the sender made no progress");
}

/// Receive from `stream` until the tree ends or fails; bounded.
fn receive_all(
    rx: &mut TreeReceiver,
    stream: &mut MemoryStream,
    root: &File,
) -> Result<(), StatusError> {
    let mut scratch = [0u8; 11];
    for _ in 0..1_000_000 {
        if rx.turn(stream, root, &mut scratch, 1000)? == Step::Done {
            return Ok(());
        }
    }
    panic!("the receiver made no progress");
}

fn wide_limits() -> RxLimits {
    RxLimits {
        root: "r".into(),
        kind: StoreKind::Dir,
        max_file: 0,
        max_bytes: 1 << 20,
        max_items: 10,
    }
}

#[test]
fn a_tree_crosses_memory_streams_byte_by_byte_and_stuttering() {
    let src = TempDir::new("tree-memory-src");
    let items = sample_tree(src.path());
    let root = sys::open_dir(src.path()).unwrap();
    let streams = || {
        [
            MemoryStream::new().chunked(1),
            MemoryStream::new().stuttering().window(1000),
            MemoryStream::new().chunked(3).stuttering(),
        ]
    };
    for (mut out, mut inbound) in streams().into_iter().zip(streams()) {
        let mut tx = TreeSender::new(items.clone());
        let bytes = send_all(&mut tx, &mut out, &root);
        inbound.send(&bytes);
        let dst = TempDir::new("tree-memory-dst");
        let mut rx = TreeReceiver::new(wide_limits(), Vec::new());
        receive_all(&mut rx, &mut inbound, &sys::open_dir(dst.path()).unwrap()).unwrap();
        assert_eq!(tx.digest(), tree_digest(rx.items()));
        assert_eq!(std::fs::read(dst.join("r/big")).unwrap(), pattern(200_000));
        assert_eq!(std::fs::read(dst.join("r/d/a")).unwrap(), b"hello");
    }
}

#[test]
fn a_tree_cut_short_is_an_error_not_a_hang() {
    let src = TempDir::new("tree-cut-src");
    let root = sys::open_dir(src.path()).unwrap();
    let mut tx = TreeSender::new(sample_tree(src.path()));
    let bytes = send_all(&mut tx, &mut MemoryStream::new(), &root);
    let big_starts = bytes.windows(5).position(|w| w == b"hello").unwrap() + 100;
    // In a frame's length, in a frame, in a file's bytes, before `End`.
    for cut in [2, 7, big_starts, bytes.len() - 3] {
        let mut inbound = MemoryStream::new().chunked(5).stuttering();
        inbound.send(&bytes[..cut]);
        inbound.close();
        let dst = TempDir::new("tree-cut-dst");
        let mut rx = TreeReceiver::new(wide_limits(), Vec::new());
        let err = receive_all(&mut rx, &mut inbound, &sys::open_dir(dst.path()).unwrap());
        let err = err.unwrap_err();
        assert_eq!(
            err.status,
            Status::PEER_UNREACHABLE,
            "cut at {cut}: {err:?}"
        );
        assert!(err.message.contains("closed before the transfer ended"));
    }
    // A receiver gone mid-tree: the sender's error, not a hang.
    let mut gone = MemoryStream::new().window(50_000);
    let mut tx = TreeSender::new(sample_tree(src.path()));
    while tx.turn(&mut gone, &root, 10_000).unwrap() == Step::Again {}
    gone.hang_up();
    let err = tx.turn(&mut gone, &root, 10_000).unwrap_err();
    assert_eq!(err.status, Status::PEER_UNREACHABLE);
}
