//! Adversarial end-to-end tests of fairness (issue 10, items 3, 8, 11, 14, 16): an
//! attacker on one socket or one account must not hold up honest users, and each
//! limit refuses the N+1st attempt. They assert order and progress, not seconds, and
//! prove limits with small flags.

mod support;

use peerhub::proto::message::{Body, ClientMsg, HubMsg};
use std::time::Duration;
use support::{frame, Hub, Peer, Raw};

const SECS_10: Duration = Duration::from_secs(10);

fn register(tag: u32, user: &str, password: &str) -> ClientMsg {
    ClientMsg::Register {
        tag,
        user: user.into(),
        password: password.into(),
    }
}

fn login(tag: u32, user: &str, password: &str) -> ClientMsg {
    ClientMsg::Login {
        tag,
        user: user.into(),
        password: password.into(),
        peer_port: 4000,
        fingerprint: peerhub::trust::Fingerprint::from_bytes([0; 32]),
    }
}

/// A `retry_after` that is a whole number of seconds within the one-minute window.
fn assert_retry_after(result: &serde_json::Value) {
    let secs = result["retry_after"]
        .as_u64()
        .unwrap_or_else(|| panic!("a 429 without a numeric retry_after: {result}"));
    assert!((1..=60).contains(&secs), "{result}");
}

#[test]
fn fifty_users_behind_one_address_register_and_log_in_on_default_flags() {
    let hub = Hub::start(&[]);
    let mut conns: Vec<Raw> = (0..50).map(|_| Raw::connect_hello(hub.addr())).collect();
    for (i, raw) in conns.iter_mut().enumerate() {
        let user = format!("pupil{i}");
        let r = raw.request(&register(1, &user, "pw"));
        assert_eq!(r.status, 201, "registration {i}: {}", r.message);
        let r = raw.request(&login(2, &user, "pw"));
        assert_eq!(r.status, 200, "login {i}: {}", r.message);
    }
}

#[test]
fn a_flood_of_undecodable_frames_writes_a_bounded_log() {
    let mut hub = Hub::start(&[]);
    let mut raw = Raw::connect_hello(hub.addr());
    // 1 MB of frames with an unknown type byte: each one is a 400 and a warning.
    let bad = frame(&[0xEE, 0, 0, 0, 1]);
    let burst: Vec<u8> = bad
        .iter()
        .copied()
        .cycle()
        .take(bad.len() * 10_000)
        .collect();
    let before = hub.stderr_len();
    for _ in 0..10 {
        raw.send(&burst).expect("send the flood");
    }
    // Wait until the hub has answered the lot (the last of 100,000 400s arrives).
    let mut answered = 0;
    while answered < 100_000 {
        match raw.read_frame(SECS_10) {
            Ok(_) => answered += 1,
            Err(e) => panic!("after {answered} replies: {e:?}"),
        }
    }
    let grown = hub.stderr_len() - before;
    assert!(
        grown < 16 * 1024,
        "1 MB of bad frames made {grown} bytes of log:\n{}",
        hub.stderr_tail()
    );
    hub.assert_clean();
}

#[test]
fn the_n_plus_first_wrong_password_for_one_account_gets_429_with_retry_after() {
    let hub = Hub::start(&["--account-auth-rate", "3", "--auth-rate", "0"]);
    let mut owner = Raw::connect_hello(hub.addr());
    assert_eq!(owner.request(&register(1, "alice", "secret")).status, 201);
    let mut attacker = Peer::start(hub.addr(), &[]);
    for i in 0..3 {
        let r = attacker.run("login alice guess");
        assert_eq!(r["status"], 402, "attempt {i}: {r}");
    }
    let r = attacker.run("login alice secret");
    assert_eq!(r["status"], 429, "{r}");
    assert_retry_after(&r);
}

#[test]
fn every_password_check_counts_against_the_hash_rate() {
    let hub = Hub::start(&["--hash-rate", "6"]);
    let mut peer = Peer::start(hub.addr(), &[]);
    // A registration and a login: two hashes; each passwd (old = new): two more.
    peer.register_login("alice", "pw");
    for i in 0..2 {
        let r = peer.run("passwd pw pw");
        assert_eq!(r["status"], 200, "passwd {i}: {r}");
    }
    let r = peer.run("passwd pw pw");
    assert_eq!(r["status"], 429, "{r}");
    assert_retry_after(&r);
    // The refusal is in the reply body on the wire too.
    let mut raw = Raw::connect_hello(hub.addr());
    let r = raw.request(&login(1, "alice", "pw"));
    assert_eq!(r.status, 429);
    assert!(matches!(r.body, Body::RetryAfter(1..=60)), "{:?}", r.body);
}

/// Read the attacker's replies until `total` arrived: every pipelined request is answered.
fn drain_replies(attacker: &mut Raw, mut seen: usize, total: usize) {
    while seen < total {
        match attacker.read_frame(Duration::from_secs(60)) {
            Ok(p) if support::decode_reply(&p).is_some() => seen += 1,
            Ok(_) => {}
            Err(e) => panic!("after {seen} of {total} replies: {e:?}"),
        }
    }
}

/// Where the attacker stands: how many of its replies came before the honest client's
/// chat line in its own stream (no clock involved), or, when it is not logged in and
/// hears no chat, how many had arrived once the honest client had its reply.
enum Witness {
    HearsChat,
    NotLoggedIn,
}

/// `burst` pipelined on one socket must not hold up an honest client: a `say` sent
/// right behind the burst is answered, and relayed, while the attacker still has
/// requests unanswered.
fn honest_client_goes_first(
    hub: &Hub,
    attacker: &mut Raw,
    burst: &[u8],
    count: usize,
    witness: Witness,
) {
    let mut honest = Raw::login_as(hub.addr(), "honest", "pw", 4001);
    let say = ClientMsg::Say {
        tag: 78,
        text: "still here".into(),
    };
    let mut say_bytes = Vec::new();
    say.encode(&mut say_bytes);
    // The burst is in the hub's socket when the honest line is written.
    attacker.send(burst).expect("send the burst");
    honest.send(&say_bytes).expect("send the say");
    let r = honest.reply_to(78, SECS_10, &mut Vec::new());
    assert_eq!(r.status, 200);
    let before = match witness {
        Witness::HearsChat => replies_before_chat(attacker, "still here"),
        Witness::NotLoggedIn => attacker
            .frames_arrived()
            .iter()
            .filter(|p| support::decode_reply(p).is_some())
            .count(),
    };
    assert!(
        before < count,
        "the honest client waited for all {count} pipelined requests"
    );
    drain_replies(attacker, before, count);
}

/// The attacker's replies read before the chat line `text` reaches it.
fn replies_before_chat(attacker: &mut Raw, text: &str) -> usize {
    let mut replies = 0;
    loop {
        let payload = attacker
            .read_frame(Duration::from_secs(60))
            .unwrap_or_else(|e| panic!("after {replies} replies, no chat: {e:?}"));
        if support::decode_reply(&payload).is_some() {
            replies += 1;
            continue;
        }
        match HubMsg::decode(&payload) {
            Ok(HubMsg::Chat { text: t, .. }) if t == text => return replies,
            _ => {}
        }
    }
}

fn pipelined(msgs: impl Iterator<Item = ClientMsg>) -> Vec<u8> {
    let mut out = Vec::new();
    for msg in msgs {
        msg.encode(&mut out);
    }
    out
}

#[test]
fn pipelined_passwds_do_not_freeze_the_hub() {
    let hub = Hub::start(&["--hash-rate", "0", "--auth-rate", "0"]);
    let mut attacker = Raw::login_as(hub.addr(), "mallory", "pw", 4000);
    let burst = pipelined((0..300).map(|tag| ClientMsg::Passwd {
        tag: 1000 + tag,
        old: "pw".into(),
        new: "pw".into(),
    }));
    honest_client_goes_first(&hub, &mut attacker, &burst, 300, Witness::HearsChat);
}

#[test]
fn pipelined_right_password_logins_for_an_online_account_do_not_freeze_the_hub() {
    let hub = Hub::start(&["--hash-rate", "0", "--auth-rate", "0"]);
    let _owner = Raw::login_as(hub.addr(), "victim", "pw", 4000);
    let mut attacker = Raw::connect_hello(hub.addr());
    let burst = pipelined((0..300).map(|tag| login(1000 + tag, "victim", "pw")));
    honest_client_goes_first(&hub, &mut attacker, &burst, 300, Witness::NotLoggedIn);
}

/// Each wrong password costs a hash and is answered at once (402), so the replies
/// that arrived by the honest client's reply show how much of the burst went first.
#[test]
fn pipelined_wrong_password_logins_do_not_freeze_the_hub() {
    let limits = [
        "--hash-rate",
        "0",
        "--auth-rate",
        "0",
        "--account-auth-rate",
        "0",
    ];
    let hub = Hub::start(&limits);
    let mut owner = Raw::connect_hello(hub.addr());
    assert_eq!(owner.request(&register(1, "victim", "pw")).status, 201);
    let mut attacker = Raw::connect_hello(hub.addr());
    let burst = pipelined((0..300).map(|tag| login(1000 + tag, "victim", "guess")));
    honest_client_goes_first(&hub, &mut attacker, &burst, 300, Witness::NotLoggedIn);
}

#[test]
fn pipelined_searches_over_a_big_index_do_not_freeze_the_hub() {
    let hub = Hub::start(&[]);
    let mut attacker = Raw::login_as(hub.addr(), "mallory", "pw", 4000);
    // 10,000 names (the default --max-published) in chunks that fit a frame.
    for chunk in 0..20 {
        let files = (0..500)
            .map(|i| peerhub::proto::message::FileInfo {
                name: format!("file-{chunk}-{i:04}-padding-padding.bin"),
                size: 1,
                hash: [1; 32],
            })
            .collect();
        let r = attacker.request(&ClientMsg::Sync {
            tag: 10 + chunk,
            files,
            first: chunk == 0,
        });
        assert_eq!(r.status, 200, "{}", r.message);
    }
    let burst = pipelined((0..2000).map(|tag| ClientMsg::Search {
        tag: 1000 + tag,
        text: String::new(),
    }));
    honest_client_goes_first(&hub, &mut attacker, &burst, 2000, Witness::HearsChat);
}

#[test]
fn max_published_refuses_the_n_plus_first_file_also_through_sync() {
    let hub = Hub::start(&["--max-published", "3"]);
    let mut raw = Raw::login_as(hub.addr(), "alice", "pw", 4000);
    let file = |i: u32| peerhub::proto::message::FileInfo {
        name: format!("f{i}.bin"),
        size: 1,
        hash: [i as u8; 32],
    };
    let r = raw.request(&ClientMsg::Sync {
        tag: 3,
        files: (0..4).map(file).collect(),
        first: true,
    });
    assert_eq!(r.status, 414, "{}", r.message);
    for i in 0..3 {
        let r = raw.request(&ClientMsg::Publish {
            tag: 10 + i,
            file: file(i),
            replace: false,
        });
        assert_eq!(r.status, 202, "publish {i}: {}", r.message);
    }
    let r = raw.request(&ClientMsg::Publish {
        tag: 20,
        file: file(3),
        replace: false,
    });
    assert_eq!(r.status, 414, "{}", r.message);
}

#[test]
fn two_logins_racing_a_ghost_check_cannot_both_get_in() {
    let hub = Hub::start(&["--ping-timeout", "0.5", "--auth-rate", "0"]);
    // The first session stops answering: it never reads, so it never answers a ping.
    let _ghost = Raw::login_as(hub.addr(), "alice", "pw", 4000);
    let mut first = Raw::connect_hello(hub.addr());
    let mut second = Raw::connect_hello(hub.addr());
    first.send_msg(&login(5, "alice", "pw")).unwrap();
    second.send_msg(&login(6, "alice", "pw")).unwrap();
    let a = first.reply_to(5, SECS_10, &mut Vec::new());
    let b = second.reply_to(6, SECS_10, &mut Vec::new());
    let mut statuses = [a.status, b.status];
    statuses.sort();
    assert_eq!(statuses, [200, 403], "{a:?} / {b:?}");
    // Whoever got in is the one alice listed online, and a third login checks it again.
    let (winner, loser) = if a.status == 200 {
        (&mut first, &mut second)
    } else {
        (&mut second, &mut first)
    };
    let r = winner.request(&ClientMsg::Users { tag: 9 });
    assert!(
        matches!(&r.body, Body::Users(u) if u == &["alice"]),
        "{r:?}"
    );
    // The winner answers its check (it reads): the third login is refused, not let in.
    loser.send_msg(&login(7, "alice", "pw")).unwrap();
    loop {
        // read_msg answers the ghost check's ping with its pong.
        match winner.read_msg(SECS_10) {
            Ok(HubMsg::Ping { .. }) => break,
            Ok(_) => {}
            Err(e) => panic!("the winner was never checked: {e:?}"),
        }
    }
    let r = loser.reply_to(7, SECS_10, &mut Vec::new());
    assert_eq!(r.status, 403, "{r:?}");
}
