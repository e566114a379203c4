//! End-to-end tests of the client's and console's small commands: `wait` in a script,
//! `status`, paths, start-up errors, and what the console and client say on their own.
//! Every test starts its own hub and peers as real processes over loopback.

mod support;

use std::fs;
use std::time::Duration;
use support::{check, random_bytes, Hub, Peer, TempDir};

const SECS_10: Duration = Duration::from_secs(10);

/// `upload …` / `wait` / `download …` sent at once, as a script does: the download
/// starts only once the upload has its result, and `wait` is printed after it.
#[test]
fn wait_orders_a_script_upload_before_its_download() {
    let hub = Hub::start(&[]);
    let mut p = Peer::logged_in(hub.addr(), "alice");
    let files = TempDir::new("wait");
    let src = files.path().join("data.bin");
    let data = random_bytes(3 << 20, 26);
    fs::write(&src, &data).unwrap();
    let dest = files.path().join("back.bin");
    let up = p.send(&format!("upload {} data.bin", src.display()));
    let wait = p.send("wait");
    let down = p.send(&format!("download data.bin {}", dest.display()));
    let second = p.send("wait");
    let status = p.send("status");
    let r = p.wait_result(down, SECS_10);
    check(&r, 205, true);
    let w = p.wait_result(second, SECS_10);
    check(&w, 200, true);
    let s = p.wait_result(status, SECS_10);
    check(&s, 200, true);
    let order: Vec<u64> = p
        .results()
        .iter()
        .filter_map(|r| r["id"].as_u64())
        .filter(|id| *id >= up)
        .collect();
    assert_eq!(order, [up, wait, down, second, status]);
    assert_eq!(fs::read(&dest).unwrap(), data);
    assert_eq!(s["logged_in"], true, "{s}");
    assert_eq!(s["user"], "alice", "{s}");
    assert_eq!(s["hub"], hub.addr().to_string(), "{s}");
    assert_eq!(s["transfers"].as_array().map(Vec::len), Some(0), "{s}");
}
