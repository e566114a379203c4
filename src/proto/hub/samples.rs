//! Sample messages for the hub codec's tests: at least one of every variant and every reply body (a test checks that every type byte in the tables has one).

use super::reply::{Body, HubMsg};
use super::request::ClientMsg;
use crate::proto::frame;
use crate::proto::status::Status;
use crate::proto::types::{FileInfo, Holder, Role, SearchHit, StoreInfo, StoreKind, VERSION};
use crate::trust::Fingerprint;

/// The payload of one whole frame.
pub fn payload_of(frame_bytes: &[u8]) -> &[u8] {
    let (used, payload) = frame::try_parse(frame_bytes, usize::MAX).unwrap().unwrap();
    assert_eq!(used, frame_bytes.len());
    payload
}

pub fn file(name: &str) -> FileInfo {
    FileInfo {
        name: name.into(),
        size: 1234,
        hash: [7; 32],
    }
}

/// Two holders, one on IPv4 and one on IPv6.
pub fn holders() -> Vec<Holder> {
    vec![
        Holder {
            user: "bob".into(),
            addr: "127.0.0.1:4000".parse().unwrap(),
            size: 10,
            hash: [1; 32],
            fingerprint: Fingerprint::from_bytes([3; 32]),
            ticket: vec![9; 150],
        },
        Holder {
            user: "carol".into(),
            addr: "[::1]:5000".parse().unwrap(),
            size: 11,
            hash: [2; 32],
            fingerprint: Fingerprint::from_bytes([4; 32]),
            ticket: Vec::new(),
        },
    ]
}

pub fn client_samples() -> Vec<ClientMsg> {
    use ClientMsg::*;
    vec![
        Hello {
            version: VERSION,
            role: Role::Session,
        },
        Register {
            tag: 1,
            user: "alice".into(),
            password: "pass word ü".into(),
        },
        Login {
            tag: 2,
            user: "alice".into(),
            password: "pw".into(),
            peer_port: 40000,
            fingerprint: Fingerprint::from_bytes([5; 32]),
        },
        Resume {
            tag: 19,
            token: "01ab".into(),
            peer_port: 40001,
            fingerprint: Fingerprint::from_bytes([7; 32]),
        },
        Logout { tag: 3 },
        Passwd {
            tag: 4,
            old: "a".into(),
            new: "b".into(),
        },
        Users { tag: 5 },
        Echo { tag: u32::MAX },
        Pong { nonce: 9 },
        Publish {
            tag: 6,
            file: file("report.pdf"),
            replace: true,
        },
        Unpublish {
            tag: 7,
            name: "x".into(),
        },
        Sync {
            tag: 8,
            files: vec![file("a"), file("b c")],
            first: true,
        },
        Search {
            tag: 9,
            text: "rep".into(),
        },
        Lookup {
            tag: 10,
            name: "report.pdf".into(),
        },
        Report {
            tag: 13,
            holder: "bob".into(),
            name: "x".into(),
            hash: [9; 32],
        },
        Say {
            tag: 11,
            text: "hello all".into(),
        },
        Msg {
            tag: 12,
            to: "bob".into(),
            text: "psst".into(),
        },
        Hello {
            version: VERSION,
            role: Role::Store,
        },
        StorePut {
            tag: 14,
            name: "photos ü".into(),
            replace: true,
            kind: StoreKind::Dir,
            files: 3,
            dirs: 2,
            bytes: 1 << 33,
            largest: 1 << 32,
        },
        StoreGet {
            tag: 15,
            name: "report.pdf".into(),
        },
        StoreList { tag: 16 },
        StoreName {
            tag: 17,
            name: "photos ü".into(),
            replace: false,
        },
        StoreRm {
            tag: 18,
            name: "a b".into(),
        },
    ]
}

pub fn hub_samples() -> Vec<HubMsg> {
    use HubMsg::*;
    let reply = |body| Reply {
        tag: 3,
        status: Status::OK,
        message: "fine".into(),
        body,
    };
    vec![
        Welcome {
            version: VERSION,
            server: "peerhub 0.1".into(),
            hub_key: vec![0x30, 0x59, 0x30, 0x13],
        },
        reply(Body::None),
        reply(Body::LoggedIn {
            online: 3,
            token: "01ab".into(),
        }),
        reply(Body::Users(vec!["a".into(), "b".into()])),
        reply(Body::Search {
            hits: vec![SearchHit {
                file: file("a"),
                owners: vec!["bob".into()],
            }],
            truncated: true,
        }),
        reply(Body::Holders(holders())),
        Ping { nonce: 77 },
        Chat {
            from: "a".into(),
            text: "hi".into(),
            history: true,
        },
        Private {
            from: "a".into(),
            text: "hi".into(),
        },
        Join {
            user: "a".into(),
            online: 2,
        },
        Joins {
            users: vec!["a".into(), "b".into()],
            online: 5,
        },
        reply(Body::RetryAfter(42)),
        Leave {
            user: "a".into(),
            online: 1,
            reason: "quit".into(),
        },
        Announce {
            text: "maint".into(),
        },
        Kicked {
            status: Status::BANNED,
            reason: "spam".into(),
        },
        Bye {
            status: Status::UNAVAILABLE,
            reason: "shutting down".into(),
        },
        Upload {
            user: "alice".into(),
            name: "report.pdf".into(),
            files: 3,
            bytes: 2_100_000,
        },
        reply(Body::Ticket {
            token: [5; 16],
            kind: StoreKind::File,
            files: 1,
            bytes: 10,
        }),
        reply(Body::Store {
            entries: vec![StoreInfo {
                name: "a b".into(),
                owner: "alice".into(),
                kind: StoreKind::Dir,
                files: 2,
                bytes: 20,
                created: 1_700_000_000,
                digest: [9; 32],
            }],
            truncated: false,
            used: 20,
            quota: 1 << 40,
        }),
        reply(Body::Removed {
            name: "a b".into(),
            kind: StoreKind::Dir,
            files: 2,
            bytes: 20,
        }),
    ]
}
