//! End-to-end tests of publishing (issue 10): a publish right after login is never
//! lost, reserved and over-long names are refused locally, reports count only from
//! users the hub referred to a holder.
//! Every test starts its own hub and peers as real processes over loopback.

mod support;

use peerhub::proto::message::{Body, ClientMsg, FileInfo};
use serde_json::Value;
use std::fs;
use std::time::Duration;
use support::{blake3_hex, check, Hub, Peer, Raw};

const SECS_10: Duration = Duration::from_secs(10);

/// (name, size, hash) of a `files` array (`shared`, `discover`), sorted by name.
#[track_caller]
fn files_of(r: &Value) -> Vec<(String, u64, String)> {
    let mut out: Vec<(String, u64, String)> = r["files"]
        .as_array()
        .unwrap_or_else(|| panic!("no files array in {r}"))
        .iter()
        .map(|f| {
            (
                f["name"].as_str().expect("name").to_owned(),
                f["size"].as_u64().expect("size"),
                f["hash"].as_str().expect("hash").to_owned(),
            )
        })
        .collect();
    out.sort();
    out
}

/// `register` / `login` / `publish` typed in one go (a script), 20 times with a fresh
/// client each time: every acknowledged publish stays in the hub's index, although
/// the login's sync of the publication list and the publish race on the wire.
#[test]
fn a_publish_right_after_login_is_never_wiped() {
    let mut hub = Hub::start(&["--auth-rate", "0"]);
    let data = b"published right after login".to_vec();
    for i in 0..20 {
        let user = format!("u{i}");
        let mut peer = Peer::start(hub.addr(), &[]);
        fs::write(peer.share_dir().join("f.bin"), &data).unwrap();
        peer.send(&format!("register {user} pw"));
        let login = peer.send(&format!("login {user} pw"));
        let publish = peer.send("publish f.bin");
        check(&peer.wait_result(login, SECS_10), 200, true);
        check(&peer.wait_result(publish, SECS_10), 202, true);
        // A round trip behind whatever the client sent after the publish.
        check(&peer.run("users"), 200, true);
        let r = hub.run(&format!("discover {user}"));
        assert_eq!(
            files_of(&r),
            vec![("f.bin".to_owned(), data.len() as u64, blake3_hex(&data))],
            "run {i}: the hub forgot an acknowledged publish: {r}"
        );
        let found = peer.run("search f.bin");
        check(&found, 200, true);
        assert_eq!(
            found["files"].as_array().map(Vec::len),
            Some(1),
            "run {i}: {found}"
        );
    }
}

/// The client's own state files (`.peerhub-*`) are refused at publish, by name, by
/// path and through a link; an upload of the share dir skips them; the hub refuses
/// such names from any client.
#[test]
fn the_clients_own_files_are_never_published_uploaded_or_listed() {
    let mut hub = Hub::start(&["--auth-rate", "0"]);
    let mut alice = Peer::logged_in(hub.addr(), "alice");
    let share = alice.share_dir().to_path_buf();
    let notes = b"my notes".to_vec();
    fs::write(share.join("notes.txt"), &notes).unwrap();
    check(&alice.run("publish notes.txt"), 202, true);
    assert!(share.join(".peerhub-published.json").exists());
    std::os::unix::fs::symlink(".peerhub-published.json", share.join("link.json")).unwrap();
    for line in [
        "publish .peerhub-published.json",
        "publish .peerhub-published.json state.json",
        "publish link.json",
        "publish notes.txt .peerhub-notes",
    ] {
        let r = alice.run(line);
        check(&r, 408, false);
        assert!(r["message"].as_str().unwrap().contains(".peerhub-"), "{r}");
    }
    let want = vec![(
        "notes.txt".to_owned(),
        notes.len() as u64,
        blake3_hex(&notes),
    )];
    assert_eq!(files_of(&alice.run("shared")), want);
    assert_eq!(files_of(&hub.run("discover alice")), want);

    // An upload of the whole share dir leaves the state files out, and says so.
    fs::remove_file(share.join("link.json")).unwrap();
    let r = alice.run(&format!("upload {} myshare", share.display()));
    check(&r, 200, true);
    assert_eq!(r["files"], 1, "notes.txt only: {r}");
    let skipped: Vec<String> = alice
        .events_named("skipped")
        .iter()
        .map(|e| e["path"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert!(
        skipped.contains(&".peerhub-published.json".to_owned()),
        "{skipped:?}"
    );
    let r = alice.run(&format!(
        "upload {}/.peerhub-published.json",
        share.display()
    ));
    check(&r, 408, false);

    // Another client cannot publish such a name either.
    let mut raw = Raw::login_as(hub.addr(), "mallory", "pw", 4000);
    let file = |name: &str| FileInfo {
        name: name.into(),
        size: 1,
        hash: [1; 32],
    };
    let r = raw.request(&ClientMsg::Publish {
        tag: 3,
        file: file(".peerhub-published.json"),
        replace: false,
    });
    assert_eq!(r.status, 408, "{r:?}");
    let r = raw.request(&ClientMsg::Sync {
        tag: 4,
        first: true,
        files: vec![file("fine.txt"), file(".peerhub-partials.json")],
    });
    assert_eq!(r.status, 408, "{r:?}");
    assert_eq!(files_of(&hub.run("discover mallory")), vec![]);
}

/// Who a raw session's lookup of `name` offers.
fn offered(raw: &mut Raw, tag: u32, name: &str) -> Vec<String> {
    let r = raw.request(&ClientMsg::Lookup {
        tag,
        name: name.into(),
    });
    assert_eq!(r.status, 204, "{r:?}");
    let Body::Holders(holders) = r.body else {
        panic!("no holders in {r:?}");
    };
    let mut users: Vec<String> = holders.into_iter().map(|h| h.user).collect();
    users.sort();
    users
}

fn report(raw: &mut Raw, tag: u32, holder: &str, hash: [u8; 32]) -> u16 {
    let r = raw.request(&ClientMsg::Report {
        tag,
        holder: holder.into(),
        name: "x.bin".into(),
        hash,
    });
    r.status
}

/// A report without a download cannot hide an honest holder from everyone: it needs
/// a referral, counts once, demotes for the reporter only until three users agree,
/// and new content from the holder clears it.
#[test]
fn one_user_cannot_hide_an_honest_holder() {
    let hub = Hub::start(&["--auth-rate", "0"]);
    let publish = |raw: &mut Raw, hash: [u8; 32]| {
        let r = raw.request(&ClientMsg::Publish {
            tag: 3,
            file: FileInfo {
                name: "x.bin".into(),
                size: 10,
                hash,
            },
            replace: true,
        });
        assert_eq!(r.status, 202, "{r:?}");
    };
    let mut alice = Raw::login_as(hub.addr(), "alice", "pw", 4001);
    let mut dave = Raw::login_as(hub.addr(), "dave", "pw", 4002);
    publish(&mut alice, [1; 32]);
    publish(&mut dave, [2; 32]);
    let mut bob = Raw::login_as(hub.addr(), "bob", "pw", 4003);
    let mut mallory = Raw::login_as(hub.addr(), "mallory", "pw", 4004);
    let both = vec!["alice".to_string(), "dave".to_string()];

    assert_eq!(
        report(&mut mallory, 10, "alice", [1; 32]),
        400,
        "no lookup first"
    );
    assert_eq!(offered(&mut mallory, 11, "x.bin"), both);
    assert_eq!(report(&mut mallory, 12, "alice", [1; 32]), 200);
    assert_eq!(
        report(&mut mallory, 13, "alice", [1; 32]),
        200,
        "counted once"
    );
    assert_eq!(
        offered(&mut mallory, 14, "x.bin"),
        ["dave"],
        "demoted for mallory"
    );
    assert_eq!(
        offered(&mut bob, 15, "x.bin"),
        both,
        "honest alice is still offered"
    );

    // Two more distinct users make three: alice is demoted for everyone.
    for (i, user) in ["m2", "m3"].iter().enumerate() {
        let mut m = Raw::login_as(hub.addr(), user, "pw", 4010 + i as u16);
        assert_eq!(offered(&mut m, 20, "x.bin"), both);
        assert_eq!(report(&mut m, 21, "alice", [1; 32]), 200);
    }
    assert_eq!(offered(&mut bob, 16, "x.bin"), ["dave"]);
    // New content from alice is not demoted.
    publish(&mut alice, [3; 32]);
    assert_eq!(offered(&mut bob, 17, "x.bin"), both);
    assert_eq!(offered(&mut mallory, 18, "x.bin"), both);
}
