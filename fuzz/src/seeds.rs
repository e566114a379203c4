//! Writes the seed corpus of every fuzz target into `corpus/<target>/`, a few valid
//! inputs each, made with the crate's own encoders so they follow the wire format as
//! it is. Seeds are named `seed-*` (the only corpus files git keeps). Run from `fuzz/`:
//! `cargo +nightly run --release --bin seeds`.

use peerhub::proto::message::{
    Body, ClientMsg, FileInfo, Holder, HubMsg, Role, SearchHit, StoreInfo, StoreKind, VERSION,
};
use peerhub::proto::peer::{self, Answer, Request};
use peerhub::proto::status::Status;
use peerhub::proto::store::{self, StoreMsg};
use peerhub::proto::ticket::tree::Proof;
use peerhub::proto::ticket::{FetchTicket, TicketBody, SIGNATURE_LEN};
use peerhub::server::resume;
use peerhub::trust::{Fingerprint, ResumeSecret};
use std::fs;
use std::path::Path;

fn write(target: &str, name: &str, bytes: &[u8]) {
    let dir = Path::new("corpus").join(target);
    fs::create_dir_all(&dir).expect("create a corpus directory");
    fs::write(dir.join(format!("seed-{name}")), bytes).expect("write a seed");
}

/// One encoded frame without its length prefix: what the message decoders take.
fn payload(frame: Vec<u8>) -> Vec<u8> {
    frame[4..].to_vec()
}

/// A resume token for `user` at token `version`, as a hub whose secret is all 7s mints it.
fn token(user: &str, version: u64) -> String {
    let claims = resume::Claims {
        user: user.into(),
        version,
        expires: 1_800_000_000,
    };
    resume::mint(&ResumeSecret::from_bytes([7; 32]), &claims)
}

fn file(name: &str) -> FileInfo {
    FileInfo {
        name: name.into(),
        size: 1234,
        hash: [7; 32],
    }
}

fn client_msgs() -> Vec<(&'static str, ClientMsg)> {
    vec![
        (
            "hello",
            ClientMsg::Hello {
                version: VERSION,
                role: Role::Session,
            },
        ),
        (
            "hello_store",
            ClientMsg::Hello {
                version: VERSION,
                role: Role::Store,
            },
        ),
        (
            "register",
            ClientMsg::Register {
                tag: 1,
                user: "alice".into(),
                password: "pw pw".into(),
            },
        ),
        (
            "login",
            ClientMsg::Login {
                tag: 2,
                user: "alice".into(),
                password: "pw".into(),
                peer_port: 4001,
                fingerprint: Fingerprint::from_bytes([0; 32]),
            },
        ),
        (
            "resume",
            ClientMsg::Resume {
                tag: 2,
                token: token("alice", 7),
                peer_port: 4001,
                fingerprint: Fingerprint::from_bytes([0; 32]),
            },
        ),
        ("logout", ClientMsg::Logout { tag: 3 }),
        (
            "passwd",
            ClientMsg::Passwd {
                tag: 4,
                old: "a".into(),
                new: "b".into(),
            },
        ),
        ("users", ClientMsg::Users { tag: 5 }),
        ("echo", ClientMsg::Echo { tag: 6 }),
        ("pong", ClientMsg::Pong { nonce: 7 }),
        (
            "publish",
            ClientMsg::Publish {
                tag: 8,
                file: file("song ü.mp3"),
                replace: true,
            },
        ),
        (
            "unpublish",
            ClientMsg::Unpublish {
                tag: 9,
                name: "a.txt".into(),
            },
        ),
        (
            "sync",
            ClientMsg::Sync {
                tag: 10,
                files: vec![file("a"), file("b")],
                first: true,
            },
        ),
        (
            "search",
            ClientMsg::Search {
                tag: 11,
                text: "song".into(),
            },
        ),
        (
            "lookup",
            ClientMsg::Lookup {
                tag: 12,
                name: "a.txt".into(),
            },
        ),
        (
            "report",
            ClientMsg::Report {
                tag: 13,
                holder: "bob".into(),
                name: "a".into(),
                hash: [1; 32],
            },
        ),
        (
            "say",
            ClientMsg::Say {
                tag: 14,
                text: "hello all".into(),
            },
        ),
        (
            "msg",
            ClientMsg::Msg {
                tag: 15,
                to: "bob".into(),
                text: "hi".into(),
            },
        ),
        (
            "store_put",
            ClientMsg::StorePut {
                tag: 16,
                name: "photos".into(),
                replace: false,
                kind: StoreKind::Dir,
                files: 3,
                dirs: 2,
                bytes: 999,
                largest: 500,
            },
        ),
        (
            "store_get",
            ClientMsg::StoreGet {
                tag: 17,
                name: "photos".into(),
            },
        ),
        ("store_list", ClientMsg::StoreList { tag: 18 }),
        (
            "store_name",
            ClientMsg::StoreName {
                tag: 19,
                name: "photos".into(),
                replace: false,
            },
        ),
        (
            "store_rm",
            ClientMsg::StoreRm {
                tag: 20,
                name: "photos".into(),
            },
        ),
    ]
}

fn reply(tag: u32, body: Body) -> HubMsg {
    HubMsg::Reply {
        tag,
        status: Status::OK,
        message: "ok".into(),
        body,
    }
}

fn hub_msgs() -> Vec<(&'static str, HubMsg)> {
    let holder = |user: &str, addr: &str| Holder {
        user: user.into(),
        addr: addr.parse().expect("an address"),
        size: 10,
        hash: [2; 32],
        fingerprint: Fingerprint::from_bytes([3; 32]),
        ticket: vec![4; 120],
    };
    vec![
        (
            "welcome",
            HubMsg::Welcome {
                version: VERSION,
                server: "peerhub 0.1".into(),
                hub_key: vec![0x30, 0x59, 0x30, 0x13],
            },
        ),
        ("reply_none", reply(1, Body::None)),
        (
            "reply_logged_in",
            reply(
                2,
                Body::LoggedIn {
                    online: 3,
                    token: token("alice", 7),
                },
            ),
        ),
        (
            "reply_users",
            reply(3, Body::Users(vec!["alice".into(), "bob".into()])),
        ),
        (
            "reply_search",
            reply(
                5,
                Body::Search {
                    hits: vec![SearchHit {
                        file: file("a"),
                        owners: vec!["bob".into()],
                    }],
                    truncated: true,
                },
            ),
        ),
        (
            "reply_holders",
            reply(
                6,
                Body::Holders(vec![
                    holder("bob", "127.0.0.1:4001"),
                    holder("eve", "[::1]:4002"),
                ]),
            ),
        ),
        (
            "reply_ticket",
            reply(
                7,
                Body::Ticket {
                    token: [5; 16],
                    kind: StoreKind::File,
                    files: 1,
                    bytes: 10,
                },
            ),
        ),
        (
            "reply_store",
            reply(
                8,
                Body::Store {
                    entries: vec![StoreInfo {
                        name: "photos".into(),
                        owner: "alice".into(),
                        kind: StoreKind::Dir,
                        files: 3,
                        bytes: 999,
                        created: 1_700_000_000,
                        digest: [4; 32],
                    }],
                    truncated: false,
                    used: 999,
                    quota: 1 << 34,
                },
            ),
        ),
        (
            "reply_removed",
            reply(
                9,
                Body::Removed {
                    name: "photos".into(),
                    kind: StoreKind::Dir,
                    files: 3,
                    bytes: 999,
                },
            ),
        ),
        ("ping", HubMsg::Ping { nonce: 9 }),
        (
            "chat",
            HubMsg::Chat {
                from: "bob".into(),
                text: "hi".into(),
                history: true,
            },
        ),
        (
            "private",
            HubMsg::Private {
                from: "bob".into(),
                text: "psst".into(),
            },
        ),
        (
            "joins",
            HubMsg::Joins {
                users: vec!["a".into(), "b".into()],
                online: 5,
            },
        ),
        ("reply_retry", reply(9, Body::RetryAfter(42))),
        (
            "join",
            HubMsg::Join {
                user: "bob".into(),
                online: 2,
            },
        ),
        (
            "leave",
            HubMsg::Leave {
                user: "bob".into(),
                online: 1,
                reason: "quit".into(),
            },
        ),
        (
            "announce",
            HubMsg::Announce {
                text: "maintenance".into(),
            },
        ),
        (
            "kicked",
            HubMsg::Kicked {
                status: Status(423),
                reason: "banned".into(),
            },
        ),
        (
            "bye",
            HubMsg::Bye {
                status: Status(503),
                reason: "full".into(),
            },
        ),
        (
            "upload",
            HubMsg::Upload {
                user: "alice".into(),
                name: "photos".into(),
                files: 3,
                bytes: 999,
            },
        ),
    ]
}

fn store_msgs() -> Vec<(&'static str, StoreMsg)> {
    vec![
        ("begin", StoreMsg::Begin { token: [3; 16] }),
        (
            "status",
            StoreMsg::Status {
                status: Status::OK,
                message: "ready".into(),
            },
        ),
        (
            "dir",
            StoreMsg::Dir {
                path: "e/sub dir".into(),
            },
        ),
        (
            "file",
            StoreMsg::File {
                path: "e/a b.jpg".into(),
                size: 5,
            },
        ),
        ("sum", StoreMsg::Sum { hash: [9; 32] }),
        (
            "end",
            StoreMsg::End {
                files: 1,
                dirs: 2,
                bytes: 5,
            },
        ),
    ]
}

fn frames(msgs: &[StoreMsg]) -> Vec<u8> {
    let mut out = Vec::new();
    msgs.iter().for_each(|m| store::encode(m, &mut out));
    out
}

/// A whole upload of entry `e` as the store receiver reads it.
fn tree_stream() -> Vec<u8> {
    let mut out = frames(&[
        StoreMsg::Dir { path: "e".into() },
        StoreMsg::Dir { path: "e/d".into() },
    ]);
    out.extend(frames(&[StoreMsg::File {
        path: "e/d/x".into(),
        size: 5,
    }]));
    out.extend_from_slice(b"hello");
    out.extend(frames(&[
        StoreMsg::Sum {
            hash: *blake3::hash(b"hello").as_bytes(),
        },
        StoreMsg::End {
            files: 1,
            dirs: 2,
            bytes: 5,
        },
    ]));
    out
}

/// Fetch tickets as a lookup reply carries them: a short one alone in its turn's
/// tree, and the longest, deepest in the deepest tree.
fn fetch_tickets() -> Vec<(&'static str, Vec<u8>)> {
    let ticket = |name: &str, holder: &str, fetcher: &str, proof: Proof| {
        FetchTicket {
            body: TicketBody {
                serial: 42,
                expires: 1_800_000_060,
                name: name.into(),
                holder: holder.into(),
                fetcher: fetcher.into(),
                fetcher_key: Fingerprint::from_bytes([6; 32]),
            },
            proof,
            signature: [9; SIGNATURE_LEN],
        }
        .encode()
    };
    vec![
        (
            "short",
            ticket("song ü.mp3", "bob", "alice", Proof::default()),
        ),
        (
            "longest",
            ticket(
                &"n".repeat(255),
                &"h".repeat(32),
                &"f".repeat(32),
                Proof {
                    leaf: 511,
                    siblings: vec![[5; 32]; 9],
                },
            ),
        ),
    ]
}

/// Request heads the web interface meets: a page with its token, a WebSocket upgrade,
/// a share upload, a bearer download, and a bad one.
fn web_heads() -> Vec<(&'static str, Vec<u8>)> {
    let token = "0707070707070707070707070707070707";
    [
        ("page", format!("GET /?token={token} HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n")),
        (
            "websocket",
            format!(
                "GET /ws HTTP/1.1\r\nHost: localhost:8080\r\nCookie: peerhub_token_8080={token}\r\n\
                 Origin: http://localhost:8080\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                 Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ),
        ),
        (
            "upload",
            format!(
                "PUT /share/my%20song.mp3 HTTP/1.1\r\nHost: peerhub.lan\r\n\
                 Authorization: Bearer {token}\r\nContent-Length: 5\r\n\r\nhello"
            ),
        ),
        ("download", format!("GET /share/..%2Fx HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nAuthorization: Bearer {token}\r\n\r\n")),
        ("bad", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\nTransfer-Encoding: chunked\r\n\r\n".to_owned()),
    ]
    .into_iter()
    .map(|(name, text)| (name, text.into_bytes()))
    .collect()
}

/// A masked client WebSocket frame (`opcode`, `payload`), as a browser sends it.
fn ws_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mask = [0x12, 0x34, 0x56, 0x78];
    let mut out = vec![0x80 | opcode];
    match payload.len() {
        n if n < 126 => out.push(0x80 | n as u8),
        n => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
    }
    out.extend_from_slice(&mask);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    out
}

/// The file the `proof` target decodes ranges of, and its proofs.
mod proof {
    use peerhub::transfer::verified::encode::{Item, RangePlan};
    use peerhub::transfer::verified::outboard::{parent_at, OutboardBuilder};
    use peerhub::transfer::verified::GROUP;

    /// Groups of the target's file: 6 whole, a short last one.
    pub const GROUPS: u64 = 7;

    /// The same bytes as the target's `file()`.
    pub fn file() -> Vec<u8> {
        (0..6 * GROUP + 100).map(|i| (i * 31 % 251) as u8).collect()
    }

    /// The honest proof of groups `range`.
    pub fn encoded(range: std::ops::Range<u64>) -> Vec<u8> {
        let data = file();
        let mut b = OutboardBuilder::new(data.len() as u64);
        b.update(&data).unwrap();
        let (_, outboard) = b.finish().unwrap();
        let mut out = Vec::new();
        for item in RangePlan::new(data.len() as u64, range) {
            match item {
                Item::Parent { index } => out.extend_from_slice(parent_at(&outboard, index).unwrap()),
                Item::Group { offset, len, .. } => {
                    out.extend_from_slice(&data[offset as usize..offset as usize + len])
                }
            }
        }
        out
    }
}

fn main() {
    for (name, bytes) in web_heads() {
        write("web_head", name, &bytes);
    }
    let mut lines = ws_frame(0x1, b"say hello");
    lines.extend(ws_frame(0x1, b"fetch \"my song.mp3\" --from bob"));
    write("web_socket", "lines", &lines);
    let mut control = ws_frame(0x9, b"ping");
    control.extend(ws_frame(0x8, &[0x03, 0xe8]));
    write("web_socket", "control", &control);
    let mut pieces = ws_frame(0x1, &[b'a'; 300]);
    pieces[0] &= 0x7f;
    pieces.extend(ws_frame(0x0, b"end"));
    write("web_socket", "fragmented", &pieces);
    for (name, bytes) in fetch_tickets() {
        write("fetch_ticket", name, &bytes);
    }
    for (name, msg) in client_msgs() {
        let mut out = Vec::new();
        msg.encode(&mut out);
        write("client_msg", name, &payload(out.clone()));
        if matches!(name, "hello" | "login" | "sync") {
            let mut framed = 65535u16.to_be_bytes().to_vec();
            framed.extend(out);
            write("frame", name, &framed);
        }
    }
    // hub_session programs: connect, hello, register + login, then framed requests.
    let sent = |msg: &ClientMsg| {
        let mut out = Vec::new();
        msg.encode(&mut out);
        let payload = payload(out);
        let mut op = vec![0x01, payload.len() as u8];
        op.extend(payload);
        op
    };
    let mut one = vec![0x00, 0x02, 0x03];
    for (name, msg) in client_msgs() {
        if matches!(
            name,
            "say" | "publish" | "search" | "store_put" | "store_name" | "store_rm" | "users"
        ) {
            one.extend(sent(&msg));
        }
    }
    write("hub_session", "one_user", &one);
    let mut two = vec![0x00, 0x02, 0x03, 0x10, 0x12, 0x13];
    two.extend(sent(&ClientMsg::Lookup {
        tag: 3,
        name: "song ü.mp3".into(),
    }));
    two.extend(sent(&ClientMsg::Msg {
        tag: 4,
        to: "u1".into(),
        text: "hi".into(),
    }));
    two.extend([0x06, 30, 0x05, 0x07, 7]);
    two.extend(b"kick u0");
    two.extend([0x14, 0x06, 100, 0x05]);
    write("hub_session", "two_users", &two);
    // Log in, go, come back with the token the login reply gave.
    write(
        "hub_session",
        "resume",
        &[0x00, 0x02, 0x03, 0x04, 0x00, 0x02, 0x0B, 0x10, 0x12, 0x1B],
    );
    for (name, text) in [
        ("valid", token("alice", 7)),
        ("longest", token(&"u".repeat(32), u64::MAX)),
        ("other_format", format!("02{}", &token("bob", 1)[2..])),
        ("uppercase", token("carol", 2).to_uppercase()),
    ] {
        write("resume_token", name, text.as_bytes());
    }
    for (name, msg) in hub_msgs() {
        write("hub_msg", name, &payload(msg.to_frame()));
    }
    let mut out = Vec::new();
    peer::encode_request(
        &Request {
            name: "a.txt".into(),
            offset: 7,
            range_end: None,
            ticket: fetch_tickets()[0].1.clone(),
        },
        &mut out,
    );
    write("peer", "request", &out);
    let mut out = Vec::new();
    peer::encode_request(
        &Request {
            name: "a.txt".into(),
            offset: 16_384,
            range_end: Some(65_536),
            ticket: fetch_tickets()[0].1.clone(),
        },
        &mut out,
    );
    write("peer", "range_request", &out);
    for (name, range) in [("whole", 0..proof::GROUPS), ("middle", 2..5), ("last", 6..7)] {
        let mut seed = vec![range.start as u8, range.end as u8];
        seed.extend(proof::encoded(range));
        write("proof", name, &seed);
    }
    let mut out = Vec::new();
    peer::encode_answer(
        &Answer {
            status: Status::OK,
            message: "ok".into(),
            size: 12,
            hash: [0; 32],
            user: "alice".into(),
        },
        &mut out,
    );
    write("peer", "answer", &out);
    let mut out = Vec::new();
    peer::encode_answer(
        &Answer::refuse(Status::NO_FILE, "not published", "alice"),
        &mut out,
    );
    write("peer", "refusal", &out);
    for (name, msg) in store_msgs() {
        write("store_frame", name, &frames(&[msg]));
    }
    let mut two = frames(
        &store_msgs()
            .into_iter()
            .map(|(_, m)| m)
            .take(2)
            .collect::<Vec<_>>(),
    );
    two.splice(0..0, 1024u16.to_be_bytes());
    write("frame", "store_pair", &two);
    for (name, root, path) in [
        ("file", "e", "e"),
        ("nested", "photos", "photos/2024/été/a b.jpg"),
        ("dotdot", "e", "e/../x"),
        ("dots", "r", "r/..x/x.."),
    ] {
        let mut seed = vec![root.len() as u8];
        seed.extend_from_slice(root.as_bytes());
        seed.extend_from_slice(path.as_bytes());
        write("store_path", name, &seed);
    }
    // Raw mode (even first byte), fed in pieces of 3.
    let mut raw = vec![2 << 2];
    raw.extend(tree_stream());
    write("store_tree", "raw_dir", &raw);
    // Program mode (odd first byte): dir e, dir e/d, file e/d/x "hi", end with totals.
    let mut prog = vec![
        1 | (5 << 2),
        0,
        1,
        b'e',
        0,
        0x81,
        b'd',
        1,
        0x83,
        b'd',
        b'/',
        b'x',
        2,
    ];
    prog.extend_from_slice(b"hi");
    prog.push(3);
    write("store_tree", "program_dir", &prog);
    // A one-file entry with a wrong sum.
    write(
        "store_tree",
        "program_bad_sum",
        &[1 | 2, 2, 1, b'e', 3, b'a', b'b', b'c', 3],
    );
    for (name, line) in [
        ("register", "register alice \"pw with spaces\""),
        ("fetch", "fetch song.mp3 --from bob --as \"my song.mp3\""),
        ("upload", "upload ./photos photos --replace"),
        ("say", "say hello \"world\"\\"),
        ("say_dashes", "say -- --from"),
        ("msg", "msg bob hi there"),
        ("escape", "publish a\\ b -- --odd"),
        ("comment", "  # a comment"),
    ] {
        write("command", name, line.as_bytes());
    }
    for (name, line) in [
        ("ban", "ban eve 10"),
        ("kick", "KICK eve"),
        ("say", "say the hub restarts at noon\r\n"),
        ("rm", "rm \"a \\\"b\\\" c\""),
        ("rm_plain", "rm photos 2024"),
        ("stats", "stats"),
        ("setpass", "setpass bob \" new pw \""),
        ("deluser", "deluser bob"),
    ] {
        write("console", name, line.as_bytes());
    }
}
