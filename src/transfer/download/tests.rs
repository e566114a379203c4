//! The download's tests: its pure decisions from plain values, and whole downloads
//! over in-memory streams: resumed, refused, cut short, a byte at a time.

use super::*;

#[test]
fn plans() {
    assert_eq!(resume_plan(None, true, 10), Plan::Fresh);
    assert_eq!(resume_plan(Some(0), true, 10), Plan::Fresh);
    assert_eq!(resume_plan(Some(4), true, 10), Plan::Resume(4));
    assert_eq!(resume_plan(Some(10), true, 10), Plan::Resume(10));
    assert_eq!(resume_plan(Some(11), true, 10), Plan::Fresh);
    assert_eq!(resume_plan(Some(4), false, 10), Plan::Fresh);
}

#[test]
fn answers() {
    let ok = Answer {
        status: Status::OK,
        message: "ok".into(),
        size: 10,
        hash: [1; 32],
        user: "bob".into(),
    };
    assert_eq!(
        check_answer(&ok, "bob", 10, &[1; 32], 4),
        AnswerCheck::Receive
    );
    assert_eq!(
        check_answer(&ok, "bob", 9, &[2; 32], 0),
        AnswerCheck::Adopt {
            size: 10,
            hash: [1; 32]
        }
    );
    assert_eq!(
        check_answer(&ok, "bob", 9, &[2; 32], 3),
        AnswerCheck::Restart
    );
    let no = Answer::refuse(Status::NO_FILE, "not published", "bob");
    assert!(matches!(
        check_answer(&no, "bob", 10, &[1; 32], 0),
        AnswerCheck::Fail(Status::NO_FILE, m) if m.contains("bob refused: not published")
    ));
    let odd = Answer::refuse(Status(250), "what", "bob");
    assert!(matches!(
        check_answer(&odd, "bob", 10, &[1; 32], 0),
        AnswerCheck::Fail(Status::PEER_UNREACHABLE, _)
    ));
}

#[test]
fn verdicts() {
    assert!(verdict(10, 10, &[1; 32], &[1; 32]));
    assert!(!verdict(9, 10, &[1; 32], &[1; 32]));
    assert!(!verdict(10, 10, &[1; 32], &[2; 32]));
}

use crate::proto::peer::{self, Answer, Request};
use crate::sys;
use crate::testing::TempDir;
use crate::transfer::stream::memory::{pattern, MemoryStream};

const HOLDER: &str = "bob";

/// Fetch `data`, published as `f`, from the holder, saved as `f`.
fn spec(data: &[u8], resume: bool) -> DownloadSpec {
    DownloadSpec {
        job: 1,
        name: "f".into(),
        dest: "f".into(),
        holder: Holder {
            user: HOLDER.into(),
            addr: "127.0.0.1:4000".parse().unwrap(),
            size: data.len() as u64,
            hash: *blake3::hash(data).as_bytes(),
            fingerprint: crate::trust::Fingerprint::from_bytes([1; 32]),
            ticket: b"a ticket".to_vec(),
        },
        resume,
    }
}

/// What a turn gets from the loop: small slices, so every state takes several turns.
fn turn_ctx<'a>(share: &'a TempDir, share_dir: &'a File, buf: &'a mut [u8]) -> Ctx<'a> {
    Ctx {
        share: share.path(),
        share_dir,
        buf,
        hash_slice: 100,
        read_budget: 1000,
    }
}

/// A share dir and the download of `data` (published as `f`, saved as `f`) into it.
struct Fetch {
    share: TempDir,
    share_dir: File,
    download: Download<MemoryStream>,
    /// What the download wrote to the holder.
    sent: Vec<u8>,
}

impl Fetch {
    fn new(data: &[u8], resume: bool) -> Fetch {
        let share = TempDir::new("download");
        let share_dir = sys::open_dir(share.path()).unwrap();
        let download = Download::new(spec(data, resume), share.path(), Instant::now());
        Fetch {
            share,
            share_dir,
            download,
            sent: Vec::new(),
        }
    }

    /// Fetch `data` again into the same share dir.
    fn again(&mut self, data: &[u8], resume: bool) {
        self.download = Download::new(spec(data, resume), self.share.path(), Instant::now());
    }

    /// Run the download to its end, handing it `stream` when it asks for a connection
    /// (and `None` for a connection that cannot begin). Bounded: a download that stops
    /// making progress fails the test.
    fn run(&mut self, stream: Option<&MemoryStream>) -> Outcome {
        let mut buf = [0u8; 13];
        for _ in 0..100_000 {
            let mut ctx = turn_ctx(&self.share, &self.share_dir, &mut buf);
            let mut step = self.download.turn(&mut ctx, Instant::now());
            if let DlStep::Connect(addr) = step {
                assert_eq!(addr.port(), 4000);
                let dialled = stream
                    .cloned()
                    .ok_or_else(|| std::io::ErrorKind::ConnectionRefused.into());
                step = self.download.dialled(dialled, Instant::now());
            }
            self.sent
                .extend(stream.map(MemoryStream::take_written).unwrap_or_default());
            if let DlStep::Done(outcome) = step {
                return outcome;
            }
        }
        panic!("the download made no progress");
    }

    fn part(&self) -> Vec<u8> {
        std::fs::read(self.share.join("f.part")).unwrap()
    }
}

/// The holder's answer for `data` and its bytes from `offset`.
fn served(data: &[u8], offset: usize) -> Vec<u8> {
    served_by(HOLDER, data, offset)
}

/// `user`'s answer for `data` and its bytes from `offset`.
fn served_by(user: &str, data: &[u8], offset: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let answer = Answer {
        status: Status::OK,
        message: "ok".into(),
        size: data.len() as u64,
        hash: *blake3::hash(data).as_bytes(),
        user: user.into(),
    };
    peer::encode_answer(&answer, &mut out);
    out.extend_from_slice(&data[offset..]);
    out
}

/// The request the download wrote.
fn request_of(fetch: &Fetch) -> Request {
    peer::parse_request(&fetch.sent)
        .unwrap()
        .expect("a whole request")
        .1
}

#[test]
fn a_download_arrives_byte_by_byte_and_stuttering() {
    let data = pattern(3000);
    for stream in [
        MemoryStream::new().chunked(1),
        MemoryStream::new().stuttering().connecting(3),
        MemoryStream::new().chunked(5).stuttering().window(4),
    ] {
        stream.send(&served(&data, 0));
        stream.close();
        let mut fetch = Fetch::new(&data, false);
        let outcome = fetch.run(Some(&stream));
        let Outcome::Done(Delivered {
            received, resumed, ..
        }) = outcome
        else {
            panic!("{outcome:?}");
        };
        assert_eq!((received, resumed), (3000, 0));
        assert_eq!(std::fs::read(fetch.share.join("f")).unwrap(), data);
        let request = request_of(&fetch);
        assert_eq!((request.name.as_str(), request.offset), ("f", 0));
    }
}

#[test]
fn a_download_resumes_a_partial_file() {
    let data = pattern(3000);
    let mut fetch = Fetch::new(&data, true);
    std::fs::write(fetch.share.join("f.part"), &data[..1001]).unwrap();
    let stream = MemoryStream::new().stuttering();
    stream.send(&served(&data, 1001));
    let outcome = fetch.run(Some(&stream));
    assert!(matches!(
        outcome,
        Outcome::Done(Delivered {
            received: 1999,
            resumed: 1001,
            already: false,
            ..
        })
    ));
    assert_eq!(request_of(&fetch).offset, 1001);
    assert_eq!(std::fs::read(fetch.share.join("f")).unwrap(), data);

    // The same content already in place: nothing to fetch, no connection.
    fetch.again(&data, false);
    let outcome = fetch.run(None);
    assert!(matches!(
        outcome,
        Outcome::Done(Delivered { already: true, .. })
    ));
}

/// The failure of an outcome: status, message, report, partial file.
fn failure(outcome: Outcome) -> (Status, String, bool, PartialFate) {
    match outcome {
        Outcome::Failed {
            status,
            message,
            report,
            partial,
            ..
        } => (status, message, report, partial),
        done => panic!("{done:?}"),
    }
}

#[test]
fn a_download_cut_short_keeps_its_partial_file() {
    let data = pattern(3000);
    // Mid-answer.
    let mut fetch = Fetch::new(&data, false);
    let stream = MemoryStream::new().chunked(2).stuttering();
    stream.send(&served(&data, 0)[..20]);
    stream.close();
    let (status, message, report, partial) = failure(fetch.run(Some(&stream)));
    assert_eq!(
        (status, report, partial),
        (Status::PEER_UNREACHABLE, false, PartialFate::None)
    );
    assert!(message.contains("without answering"), "{message}");

    // Mid-file.
    let mut fetch = Fetch::new(&data, false);
    let stream = MemoryStream::new().chunked(7).stuttering();
    let bytes = served(&data, 0);
    stream.send(&bytes[..bytes.len() - 1000]);
    stream.close();
    let (status, message, _, partial) = failure(fetch.run(Some(&stream)));
    assert_eq!(
        (status, partial),
        (Status::PEER_UNREACHABLE, PartialFate::Kept(2000))
    );
    assert!(message.contains("after 2000 of 3000 bytes"), "{message}");
    assert_eq!(fetch.part(), &data[..2000]);

    // Gone before the request was written.
    let mut fetch = Fetch::new(&data, false);
    let stream = MemoryStream::new();
    stream.hang_up();
    let (status, message, _, _) = failure(fetch.run(Some(&stream)));
    assert_eq!(status, Status::PEER_UNREACHABLE);
    assert!(message.contains("unreachable"), "{message}");

    // No connection at all.
    let (status, message, _, _) = failure(Fetch::new(&data, false).run(None));
    assert_eq!(status, Status::PEER_UNREACHABLE);
    assert!(
        message.contains("bob at 127.0.0.1:4000 is unreachable"),
        "{message}"
    );
}

#[test]
fn a_download_refused_or_corrupt_fails_with_the_right_status() {
    let data = pattern(3000);
    let mut fetch = Fetch::new(&data, false);
    let stream = MemoryStream::new().stuttering();
    let mut refusal = Vec::new();
    peer::encode_answer(
        &Answer::refuse(Status::NO_FILE, "not published", HOLDER),
        &mut refusal,
    );
    stream.send(&refusal);
    let (status, message, _, _) = failure(fetch.run(Some(&stream)));
    assert_eq!(status, Status::NO_FILE);
    assert!(message.contains("bob refused: not published"), "{message}");

    // Another user answers: not the holder's fault, no report.
    let mut fetch = Fetch::new(&data, false);
    let stream = MemoryStream::new();
    stream.send(&served_by("carol", &data, 0));
    let (status, _, report, _) = failure(fetch.run(Some(&stream)));
    assert_eq!((status, report), (Status::PEER_UNREACHABLE, false));

    // Every byte arrives but not the announced content: reported, partial deleted.
    let mut fetch = Fetch::new(&data, false);
    let stream = MemoryStream::new().chunked(100);
    let mut bytes = served(&data, 0);
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    stream.send(&bytes);
    let (status, _, report, partial) = failure(fetch.run(Some(&stream)));
    assert_eq!(
        (status, report, partial),
        (Status::INTEGRITY, true, PartialFate::Deleted)
    );
    assert!(!fetch.share.join("f.part").exists());
}

#[test]
fn a_download_that_stalls_expires_with_its_cause() {
    let data = pattern(3000);
    let stall = Duration::from_secs(20);
    let t0 = Instant::now();
    let late = t0 + Duration::from_secs(21);
    // Never connected: the holder is unreachable.
    let mut fetch = Fetch::new(&data, false);
    let stream = MemoryStream::new().connecting(u32::MAX);
    let mut buf = [0u8; 16];
    let mut ctx = turn_ctx(&fetch.share, &fetch.share_dir, &mut buf);
    let DlStep::Connect(_) = fetch.download.turn(&mut ctx, t0) else {
        panic!("no connection asked for");
    };
    assert!(matches!(
        fetch.download.dialled(Ok(stream), t0),
        DlStep::Register
    ));
    assert!(matches!(fetch.download.turn(&mut ctx, t0), DlStep::Wait));
    assert!(fetch.download.stream_mut().is_some());
    assert!(fetch
        .download
        .expired(t0 + Duration::from_secs(19), stall)
        .is_none());
    let (status, message, _, _) = failure(fetch.download.expired(late, stall).unwrap());
    assert_eq!(status, Status::PEER_UNREACHABLE);
    assert!(message.contains("no connection within 20 s"), "{message}");

    // Bytes stopped mid-file: a stall, the partial file kept.
    let mut fetch = Fetch::new(&data, false);
    let stream = MemoryStream::new();
    stream.send(&served(&data, 0)[..1000]);
    let mut ctx = turn_ctx(&fetch.share, &fetch.share_dir, &mut buf);
    fetch.download.turn(&mut ctx, t0);
    fetch.download.dialled(Ok(stream), t0);
    while !matches!(fetch.download.turn(&mut ctx, t0), DlStep::Wait) {}
    assert!(fetch
        .download
        .progress()
        .is_some_and(|(got, size)| got > 0 && size == 3000));
    let (status, _, _, partial) = failure(fetch.download.expired(late, stall).unwrap());
    assert_eq!(status, Status::TIMEOUT);
    assert!(matches!(partial, PartialFate::Kept(n) if n > 0));
}
