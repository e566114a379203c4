//! End-to-end tests of publishing (issue 10): a publish right after login is never
//! lost, reserved and over-long names are refused locally, reports count only from
//! users the hub referred to a holder.
//! Every test starts its own hub and peers as real processes over loopback.

mod support;

use serde_json::Value;
use std::fs;
use std::time::Duration;
use support::{blake3_hex, check, Hub, Peer};

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
