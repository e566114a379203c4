//! Fixtures shared by the session's tests: a session, logged in or not, and readers
//! of the actions it returns.

use super::{Action, Hashed, Session, SessionConfig};
use crate::client::partials::Partials;
use crate::client::published::{Publication, PublishedList};
use crate::output::CommandResult;
use crate::proto::frame;
use crate::proto::message::{Body, ClientMsg, Holder, HubMsg, VERSION};
use crate::proto::status::Status;
use crate::transfer::download::{Delivered, DownloadSpec, Outcome, PartialFate};
use crate::trust::Fingerprint;
use std::path::PathBuf;
use std::time::{Duration, Instant, UNIX_EPOCH};

pub(super) fn session(interactive: bool) -> Session {
    Session::new(
        SessionConfig {
            serve: false,
            reconnect_for: Duration::from_secs(60),
            peer_port: 4000,
            interactive,
            max_uploads: 4,
            sources: 4,
            plaintext: false,
            fingerprint: Fingerprint::from_bytes([6; 32]),
            reconnect_seed: 7,
        },
        PublishedList::default(),
        Partials::default(),
    )
}

/// The requests among `out`, decoded.
pub(super) fn sent(out: &[Action]) -> Vec<ClientMsg> {
    out.iter()
        .filter_map(|a| match a {
            Action::Send(bytes) => {
                let (_, payload) = frame::try_parse(bytes, usize::MAX).ok()??;
                ClientMsg::decode(payload).ok()
            }
            _ => None,
        })
        .collect()
}

pub(super) fn results(out: &[Action]) -> Vec<&CommandResult> {
    out.iter()
        .filter_map(|a| match a {
            Action::Result(r) => Some(r),
            _ => None,
        })
        .collect()
}

/// The downloads `out` starts, raw or swarm, each as the spec of its main holder
/// (`resume`: a partial file of the same content is taken up).
pub(super) fn started(out: &[Action]) -> Vec<DownloadSpec> {
    out.iter()
        .filter_map(|a| match a {
            Action::StartDownload(spec) => Some(spec.clone()),
            Action::StartSwarm(spec) => Some(DownloadSpec {
                job: spec.job,
                name: spec.name.clone(),
                dest: spec.dest.clone(),
                holder: spec.holders.first()?.clone(),
                resume: !spec.verified.is_empty(),
            }),
            _ => None,
        })
        .collect()
}

/// The swarm downloads `out` starts.
pub(super) fn swarms(out: &[Action]) -> Vec<&crate::transfer::swarm::SwarmSpec> {
    out.iter()
        .filter_map(|a| match a {
            Action::StartSwarm(spec) => Some(spec),
            _ => None,
        })
        .collect()
}

pub(super) fn reply(s: &mut Session, tag: u32, status: Status, body: Body) -> Vec<Action> {
    let mut out = Vec::new();
    let msg = HubMsg::Reply {
        tag,
        status,
        message: "msg".into(),
        body,
    };
    s.on_message(msg, Instant::now(), &mut out);
    out
}

/// A session the hub has welcomed, not logged in.
pub(super) fn welcomed(interactive: bool) -> Session {
    let mut s = session(interactive);
    let welcome = HubMsg::Welcome {
        version: VERSION,
        server: "hub".into(),
        hub_key: Vec::new(),
    };
    s.on_message(welcome, Instant::now(), &mut Vec::new());
    s
}

/// A session logged in as `me`.
pub(super) fn logged_in(interactive: bool) -> Session {
    let mut s = welcomed(interactive);
    let mut out = Vec::new();
    s.on_line(100, "login me pw", Instant::now(), &mut out);
    let tag = sent(&out).last().and_then(ClientMsg::tag).unwrap();
    let out = reply(
        &mut s,
        tag,
        Status::OK,
        Body::LoggedIn {
            online: 1,
            token: "t0".into(),
        },
    );
    assert!(out.contains(&Action::CheckPublished));
    let mut out = Vec::new();
    s.on_checked(Vec::new(), Vec::new(), &mut out);
    for msg in sent(&out) {
        reply(&mut s, msg.tag().unwrap(), Status::OK, Body::None);
    }
    assert_eq!(s.user(), Some("me"));
    s
}

pub(super) fn holder(user: &str, hash: u8) -> Holder {
    Holder {
        user: user.into(),
        addr: "127.0.0.1:5000".parse().unwrap(),
        size: 100,
        hash: [hash; 32],
        fingerprint: Fingerprint::of_spki(user.as_bytes()),
        ticket: vec![hash; 20],
    }
}

/// Type a fetch line; the lookup's tag.
pub(super) fn fetch(s: &mut Session, id: u64, line: &str) -> u32 {
    let out = type_line(s, id, line);
    match sent(&out).as_slice() {
        [ClientMsg::Lookup { tag, .. }] => *tag,
        other => panic!("{line}: {other:?} {out:?}"),
    }
}

/// Record `name` (the file `path` of `size` bytes, hash bytes all `hash`) as published.
pub(super) fn add_publication(s: &mut Session, name: &str, path: &str, size: u64, hash: u8) {
    s.published
        .insert(Publication::new(name, path, size, &[hash; 32], UNIX_EPOCH));
}

/// The job of the one hash `out` asks for.
pub(super) fn hash_asked(out: &[Action]) -> u64 {
    match out {
        [Action::Hash { job, .. }] => *job,
        other => panic!("{other:?}"),
    }
}

/// Hash `job` ended: the file `path` of `size` bytes, hash bytes all `hash`; the actions
/// it returns.
pub(super) fn hash_done(s: &mut Session, job: u64, path: &str, size: u64, hash: u8) -> Vec<Action> {
    let hashed = Hashed {
        path: path.into(),
        size,
        hash: [hash; 32],
        modified: UNIX_EPOCH,
    };
    let mut out = Vec::new();
    s.on_hashed(job, Ok(hashed), Instant::now(), &mut out);
    out
}

/// Type `line` as command `id`; the actions it returns.
pub(super) fn type_line(s: &mut Session, id: u64, line: &str) -> Vec<Action> {
    type_lines(s, id, &[line])
}

/// Type `lines` one after another as commands `first`, `first + 1`, …; the actions
/// they return.
pub(super) fn type_lines(s: &mut Session, first: u64, lines: &[&str]) -> Vec<Action> {
    let mut out = Vec::new();
    for (id, line) in (first..).zip(lines) {
        s.on_line(id, line, Instant::now(), &mut out);
    }
    out
}

/// Type a fetch line and answer its lookup with `holders`; the actions of the answer.
pub(super) fn fetch_found(
    s: &mut Session,
    id: u64,
    line: &str,
    holders: Vec<Holder>,
) -> Vec<Action> {
    let tag = fetch(s, id, line);
    reply(s, tag, Status::FOUND, Body::Holders(holders))
}

/// Type a fetch line and answer its lookup with `holders`; the job of the download it starts.
pub(super) fn fetch_started(s: &mut Session, id: u64, line: &str, holders: Vec<Holder>) -> u64 {
    let out = fetch_found(s, id, line, holders);
    match started(&out).as_slice() {
        [spec] => spec.job,
        other => panic!("{line}: {other:?} {out:?}"),
    }
}

/// Download `job` ended with `outcome`; the actions it returns.
pub(super) fn download_done(s: &mut Session, job: u64, outcome: Outcome) -> Vec<Action> {
    let mut out = Vec::new();
    s.on_download_done(job, outcome, Instant::now(), &mut out);
    out
}

/// A whole fresh download of holder hash 2 to `path`.
pub(super) fn delivered(path: &str) -> Delivered {
    Delivered {
        path: PathBuf::from(path),
        received: 100,
        resumed: 0,
        size: 100,
        hash: [2; 32],
        already: false,
        sources: Box::new([("bob".to_owned(), 100)]),
        bad_sources: Box::default(),
    }
}

pub(super) fn done(path: &str) -> Outcome {
    Outcome::Done(delivered(path))
}

/// A download of holder hash 2 that failed with `status`, leaving its partial file as `partial`.
pub(super) fn failed(status: Status, report: bool, partial: PartialFate) -> Outcome {
    Outcome::Failed {
        status,
        message: status.to_string(),
        report,
        partial,
        size: 100,
        hash: [2; 32],
    }
}
