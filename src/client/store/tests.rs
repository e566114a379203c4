//! The client's store transfers over in-memory streams, the test playing the hub: a
//! download and an upload byte by byte and stuttering, refusals, a verdict lost, a
//! connection cut mid-tree, and a stall.

use super::*;
use crate::testing::TempDir;
use crate::transfer::stream::memory::{pattern, MemoryStream};
use crate::transfer::tree::TreeItem;

const TOKEN: StoreToken = [9; 16];

/// The hub's status frame.
fn status(status: Status, message: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let message = message.to_owned();
    store::encode(&StoreMsg::Status { status, message }, &mut out);
    out
}

/// The one-file tree `name` holding `data`, as the hub sends it.
fn one_file(name: &str, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let size = data.len() as u64;
    store::encode(
        &StoreMsg::File {
            path: name.into(),
            size,
        },
        &mut out,
    );
    out.extend_from_slice(data);
    let hash = *blake3::hash(data).as_bytes();
    store::encode(&StoreMsg::Sum { hash }, &mut out);
    out.extend(end_of(data));
    out
}

fn totals(data: &[u8]) -> Totals {
    Totals {
        files: 1,
        dirs: 0,
        bytes: data.len() as u64,
    }
}

/// Run `st` to its end, the hub taking what it writes; `between` may answer after any
/// turn (the hub's part). Bounded.
fn run(
    st: &mut StoreTransfer<MemoryStream>,
    hub: &MemoryStream,
    mut between: impl FnMut(&StoreTransfer<MemoryStream>, &[u8]),
) -> (Result<StoreDone, (Status, String)>, Vec<u8>) {
    let mut buf = [0u8; 17];
    let mut written = Vec::new();
    for _ in 0..1_000_000 {
        let step = st.turn(&mut buf, 1000, Instant::now());
        written.extend(hub.take_written());
        match step {
            StoreStep::Done(result) => return (result, written),
            StoreStep::Wait | StoreStep::Again => between(st, &written),
        }
    }
    panic!("the store transfer made no progress");
}

/// The client's hello and `Begin` open what it wrote.
/// A transfer opened by `start` whose ticket the hub refuses (404, `text`) fails with
/// the hub's status and words.
fn refused_at_the_ticket(
    dir: &TempDir,
    data: &[u8],
    start: fn(&TempDir, &[u8], &MemoryStream) -> StoreTransfer<MemoryStream>,
    text: &str,
) {
    let hub = MemoryStream::new().stuttering();
    hub.send(&status(Status::NO_FILE, text));
    let mut st = start(dir, data, &hub);
    let failure = run(&mut st, &hub, |_, _| {}).0.unwrap_err();
    assert_eq!(
        failure,
        (Status::NO_FILE, format!("the hub refused: {text}"))
    );
}

fn check_opening(written: &[u8]) {
    let mut opening = Vec::new();
    let hello = ClientMsg::Hello {
        version: VERSION,
        role: Role::Store,
    };
    hello.encode(&mut opening);
    store::encode(&StoreMsg::Begin { token: TOKEN }, &mut opening);
    assert!(written.starts_with(&opening));
}

fn download(dir: &TempDir, data: &[u8], hub: &MemoryStream) -> StoreTransfer<MemoryStream> {
    let dest = dir.join("out").to_string_lossy().into_owned();
    let work = Work::Down {
        dest,
        kind: StoreKind::File,
        totals: totals(data),
    };
    let dial = || Ok(hub.clone());
    StoreTransfer::start(7, "song", TOKEN, work, dial, Instant::now()).unwrap()
}

#[test]
fn a_store_download_lands_byte_by_byte_and_stuttering() {
    let data = pattern(5000);
    for hub in [
        MemoryStream::new().chunked(1).connecting(2),
        MemoryStream::new().stuttering(),
        MemoryStream::new().chunked(3).stuttering().window(5),
    ] {
        let dir = TempDir::new("store-down");
        hub.send(&status(Status::OK, "ready"));
        hub.send(&one_file("song", &data));
        let mut st = download(&dir, &data, &hub);
        let (result, written) = run(&mut st, &hub, |_, _| {});
        let done = result.unwrap();
        assert_eq!((done.files, done.bytes), (1, 5000));
        assert_eq!(done.path, Some(dir.join("out")));
        assert_eq!(std::fs::read(dir.join("out")).unwrap(), data);
        assert!(!dir.join(".out.peerhub-part").exists());
        check_opening(&written);
    }
}

#[test]
fn a_store_download_cut_short_or_refused_leaves_nothing() {
    let data = pattern(5000);
    let tree = one_file("song", &data);
    for cut in [0, 3, 40, tree.len() - 1] {
        let dir = TempDir::new("store-cut");
        let hub = MemoryStream::new().chunked(7).stuttering();
        hub.send(&status(Status::OK, "ready"));
        hub.send(&tree[..cut]);
        hub.close();
        let mut st = download(&dir, &data, &hub);
        let (status, message) = run(&mut st, &hub, |_, _| {}).0.unwrap_err();
        assert_eq!(status, Status::UNAVAILABLE, "cut at {cut}: {message}");
        assert!(!dir.join("out").exists() && !dir.join(".out.peerhub-part").exists());
    }
    let dir = TempDir::new("store-refused");
    refused_at_the_ticket(&dir, &data, download, "no such entry");
    assert!(!dir.join(".out.peerhub-part").exists());
}

fn upload(dir: &TempDir, data: &[u8], hub: &MemoryStream) -> StoreTransfer<MemoryStream> {
    std::fs::write(dir.join("f"), data).unwrap();
    let item = TreeItem {
        path: "song".into(),
        kind: StoreKind::File,
        size: data.len() as u64,
        hash: None,
    };
    let prepared = Prepared {
        root: crate::sys::open_dir(dir.path()).unwrap(),
        items: vec![(item, "f".into())],
    };
    let dial = || Ok(hub.clone());
    StoreTransfer::start(7, "song", TOKEN, Work::Up(prepared), dial, Instant::now()).unwrap()
}

/// The `End` of the one-file tree holding `data`.
fn end_of(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let end = StoreMsg::End {
        files: 1,
        dirs: 0,
        bytes: data.len() as u64,
    };
    store::encode(&end, &mut out);
    out
}

#[test]
fn a_store_upload_sends_its_tree_and_takes_the_verdict() {
    let data = pattern(100_000);
    for hub in [
        MemoryStream::new().chunked(1000),
        MemoryStream::new().stuttering().window(333),
    ] {
        let dir = TempDir::new("store-up");
        hub.send(&status(Status::OK, "ready"));
        let mut st = upload(&dir, &data, &hub);
        let mut verdict = Some(status(Status::OK, "stored"));
        let (result, written) = run(&mut st, &hub, |st, written| {
            if st.progress().is_none() && written.ends_with(&end_of(&data)) {
                if let Some(v) = verdict.take() {
                    hub.send(&v);
                }
            }
        });
        let done = result.unwrap();
        assert_eq!(
            (done.message.as_str(), done.bytes, done.lost),
            ("stored", 100_000, None)
        );
        assert!(done.digest.is_some());
        check_opening(&written);
    }
}

#[test]
fn a_store_upload_refused_or_cut_off_ends_with_the_right_result() {
    let data = pattern(100_000);
    // Refused at the ticket.
    let dir = TempDir::new("store-up-refused");
    refused_at_the_ticket(&dir, &data, upload, "ticket expired");

    // Refused mid-way: even a 200 before the end is a failure.
    let hub = MemoryStream::new().window(20_000);
    hub.send(&status(Status::OK, "ready"));
    let mut st = upload(&dir, &data, &hub);
    let mut cut = false;
    let failure = run(&mut st, &hub, |st, _| {
        if st.progress().is_some_and(|(moved, _)| moved > 0) && !cut {
            cut = true;
            hub.send(&status(Status::OK, "early"));
        }
    });
    assert_eq!(failure.0.unwrap_err().0, Status::UNAVAILABLE);

    // Everything sent, then the connection breaks: the verdict is lost, not failed.
    let hub = MemoryStream::new().chunked(4096).stuttering();
    hub.send(&status(Status::OK, "ready"));
    let mut st = upload(&dir, &data, &hub);
    let (result, _) = run(&mut st, &hub, |st, written| {
        if st.progress().is_none() && written.ends_with(&end_of(&data)) {
            hub.close();
        }
    });
    let done = result.unwrap();
    assert!(
        done.lost.is_some_and(|why| why.contains("closed")),
        "{:?}",
        done.message
    );
    assert!(done.digest.is_some());

    // The hub gone before the hello was written.
    let hub = MemoryStream::new();
    hub.hang_up();
    let mut st = upload(&dir, &data, &hub);
    assert_eq!(
        run(&mut st, &hub, |_, _| {}).0.unwrap_err().0,
        Status::UNAVAILABLE
    );
}

#[test]
fn a_stalled_store_transfer_expires_and_leaves_nothing() {
    let data = pattern(10);
    let dir = TempDir::new("store-stall");
    let hub = MemoryStream::new();
    let t0 = Instant::now();
    let mut st = download(&dir, &data, &hub);
    assert!(dir.join(".out.peerhub-part").is_dir());
    let stall = Duration::from_secs(30);
    assert!(st.expired(t0 + Duration::from_secs(1), stall).is_none());
    let (status, message) = st.expired(t0 + Duration::from_secs(31), stall).unwrap();
    assert_eq!(status, Status::TIMEOUT);
    assert!(message.contains("stalled"));
    assert!(!dir.join(".out.peerhub-part").exists());
    assert!(matches!(st.turn(&mut [0; 8], 10, t0), StoreStep::Wait));
}
