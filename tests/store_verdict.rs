//! An upload whose verdict is lost after the hub committed it (issue 10, item 6): the
//! client must find out the real outcome from the hub and report it, not a 503.
//!
//! The client reaches the hub through a relay that forwards every byte except, on a
//! store connection, anything the hub sends after its first frame ("ready"): the
//! upload's verdict. The relay closes both sides instead, exactly when the hub has
//! committed the upload and its answer is on the way — the moment a `kill -9` of the
//! hub hits only by luck. The relay reads frames, so hub and clients speak plaintext
//! (`--insecure-plaintext`): the client logic under test is the same over TLS.

mod support;

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use support::{check, Hub, Peer};

const SECS_30: Duration = Duration::from_secs(30);

/// The type byte of a store `Status` frame (the first frame of a store connection).
const STORE_STATUS: u8 = 0x71;

/// A loopback relay to the hub that swallows store verdicts; counts the cuts.
struct VerdictCutter {
    addr: SocketAddr,
    cuts: Arc<AtomicUsize>,
}

impl VerdictCutter {
    fn start(hub: SocketAddr) -> VerdictCutter {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the relay");
        let addr = listener.local_addr().expect("relay address");
        let cuts = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&cuts);
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let counter = Arc::clone(&counter);
                std::thread::spawn(move || relay(client, hub, &counter));
            }
        });
        VerdictCutter { addr, cuts }
    }
}

/// Relay one connection; on a store connection, cut it at the hub's second frame.
fn relay(client: TcpStream, hub: SocketAddr, cuts: &AtomicUsize) {
    let Ok(server) = TcpStream::connect(hub) else {
        return;
    };
    let (Ok(mut up_from), Ok(mut up_to)) = (client.try_clone(), server.try_clone()) else {
        return;
    };
    std::thread::spawn(move || {
        let _ = io::copy(&mut up_from, &mut up_to);
        let _ = up_to.shutdown(Shutdown::Write);
    });
    let (mut from_hub, mut to_client) = (server, client);
    let Ok(first) = read_frame(&mut from_hub) else {
        return;
    };
    if to_client.write_all(&first).is_err() {
        return;
    }
    if first.get(4) == Some(&STORE_STATUS) {
        // A store connection: whatever comes next is the verdict of an upload.
        let mut byte = [0u8; 1];
        if matches!(from_hub.read(&mut byte), Ok(1)) {
            cuts.fetch_add(1, Ordering::SeqCst);
        }
        let _ = to_client.shutdown(Shutdown::Both);
        let _ = from_hub.shutdown(Shutdown::Both);
    } else {
        let _ = io::copy(&mut from_hub, &mut to_client);
        let _ = to_client.shutdown(Shutdown::Write);
    }
}

/// One whole frame, its length prefix included.
fn read_frame(stream: &mut TcpStream) -> io::Result<Vec<u8>> {
    let mut frame = vec![0u8; 4];
    stream.read_exact(&mut frame)?;
    let len = u32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]]) as usize;
    frame.resize(4 + len, 0);
    stream.read_exact(&mut frame[4..])?;
    Ok(frame)
}

#[test]
fn an_upload_whose_verdict_is_lost_after_the_commit_is_confirmed_by_asking_the_hub() {
    let hub = Hub::start(&["--insecure-plaintext"]);
    let cutter = VerdictCutter::start(hub.addr());
    let mut ann = Peer::start(cutter.addr, &["--insecure-plaintext"]);
    ann.register_login("ann", "pw");
    std::fs::write(ann.work_dir().join("doc.txt"), b"first version\n").unwrap();
    let id = ann.send("upload doc.txt");
    let r = ann.wait_result(id, SECS_30);
    check(&r, 200, true);
    assert_eq!(r["confirmed_after_reconnect"], true, "{r}");
    // The same for a replacement, the case seen failing with 503.
    std::fs::write(ann.work_dir().join("doc.txt"), b"second version, longer\n").unwrap();
    let id = ann.send("upload doc.txt --replace");
    let r = ann.wait_result(id, SECS_30);
    check(&r, 200, true);
    assert_eq!(r["confirmed_after_reconnect"], true, "{r}");
    assert_eq!(r["bytes"], 23, "{r}");
    assert_eq!(
        cutter.cuts.load(Ordering::SeqCst),
        2,
        "both verdicts were cut"
    );
    // The hub really holds the second version: a direct download gets it.
    let mut bob = Peer::start(hub.addr(), &["--insecure-plaintext"]);
    bob.register_login("bob", "pw");
    let id = bob.send("download doc.txt");
    let r = bob.wait_result(id, SECS_30);
    check(&r, 205, true);
    assert_eq!(
        std::fs::read(bob.share_dir().join("doc.txt")).unwrap(),
        b"second version, longer\n"
    );
}
