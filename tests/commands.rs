//! End-to-end tests of the client's and console's small commands: `wait` in a script,
//! `status`, paths, start-up errors, and what the console and client say on their own.
//! Every test starts its own hub and peers as real processes over loopback.

mod support;

use std::fs;
use std::time::Duration;
use support::{check, random_bytes, start_fails, Hub, Peer, TempDir};

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

#[test]
fn start_up_errors_name_what_failed_and_exit_as_documented() {
    let dir = TempDir::new("startup");
    let file = dir.path().join("a-file");
    fs::write(&file, b"x").unwrap();
    let share = dir.path().join("share");
    let share = share.to_str().unwrap();
    let file = file.to_str().unwrap();

    let (code, err) = start_fails(&["client", "--share", file]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains(&format!("--share {file}: not a directory")),
        "{err}"
    );
    let (code, err) = start_fails(&["server", "--data", file]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains(&format!("--data {file}: not a directory")),
        "{err}"
    );

    // A malformed --server is a usage error, like --listen nope.
    for bad in ["9999", "host:", ":9999", "host:99999", "::1:9999"] {
        let (code, err) = start_fails(&["client", "--share", share, "--server", bad]);
        assert_eq!(code, 2, "{bad}: {err}");
        assert!(err.contains("--server"), "{bad}: {err}");
    }
    let (code, _) = start_fails(&["server", "--listen", "nope"]);
    assert_eq!(code, 2);

    let (code, err) = start_fails(&["client", "--share", share, "--server", "nohost.invalid:9"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("cannot resolve the host \"nohost.invalid\""),
        "{err}"
    );

    // An address in use: the hub and a peer listener say which.
    let hub = Hub::start(&[]);
    let taken = hub.addr().to_string();
    let data = dir.path().join("data");
    let (code, err) = start_fails(&[
        "server",
        "--listen",
        &taken,
        "--data",
        data.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains(&format!("--listen {taken}: ")), "{err}");
    let (code, err) = start_fails(&[
        "client", "--share", share, "--listen", &taken, "--server", &taken,
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains(&format!("--listen {taken}: ")), "{err}");
}

#[test]
fn a_refused_connection_names_the_address() {
    let refusing = support::RefusingPort::bind();
    let addr = refusing.addr;
    let mut p = Peer::start(addr, &[]);
    let e = p.wait_event("disconnected", |_| true, SECS_10);
    let reason = e["reason"].as_str().unwrap_or_default();
    assert!(reason.contains(&format!("connect to {addr}")), "{e}");
    assert_eq!(p.expect_exit(SECS_10), 1);
}

#[test]
fn the_hub_says_when_its_console_closes_and_what_ctrl_c_does() {
    let mut hub = Hub::start_with(&[], support::Input::Null);
    let e = hub.wait_event("console_closed", |_| true, SECS_10);
    assert!(
        e["message"].as_str().unwrap_or_default().contains("Ctrl-C"),
        "{e}"
    );
    hub.signal(libc::SIGINT);
    let e = hub.wait_event("shutdown", |_| true, SECS_10);
    assert_eq!(e["message"], "shutting down", "{e}");
    assert_eq!(hub.expect_exit(SECS_10), 0);
}

#[test]
fn end_of_input_says_logged_out() {
    let hub = Hub::start(&[]);
    let mut p = Peer::logged_in(hub.addr(), "alice");
    p.close_stdin();
    p.wait_event("logged_out", |_| true, SECS_10);
    assert_eq!(p.expect_exit(SECS_10), 0);
}

#[test]
fn a_published_file_deleted_from_disk_is_unpublished_and_said_so() {
    let hub = Hub::start(&[]);
    let mut alice = Peer::logged_in(hub.addr(), "alice");
    let mut bob = Peer::logged_in(hub.addr(), "bob");
    let path = alice.share_dir().join("gone.bin");
    fs::write(&path, random_bytes(4096, 27)).unwrap();
    check(&alice.run("publish gone.bin"), 202, true);
    fs::remove_file(&path).unwrap();
    let r = bob.run("fetch gone.bin");
    assert_eq!(r["ok"], false, "{r}");
    let e = alice.wait_event("unpublished", |e| e["name"] == "gone.bin", SECS_10);
    assert_eq!(e["reason"], "the file was deleted from disk", "{e}");
    // The hub no longer sends anyone there (alice's `users` round trip comes after
    // her unpublish reached the hub).
    check(&alice.run("users"), 200, true);
    let files = alice.run("shared")["files"].clone();
    assert_eq!(files.as_array().map(Vec::len), Some(0), "{files}");
    let found = bob.run("search gone");
    assert_eq!(found["files"].as_array().map(Vec::len), Some(0), "{found}");
    check(&bob.run("fetch gone.bin"), 406, false);
}

#[test]
fn user_names_may_not_contain_spaces_but_passwords_may() {
    let hub = Hub::start(&[]);
    let mut p = Peer::start(hub.addr(), &[]);
    check(&p.run("register \"two words\" pw"), 408, false);
    check(&p.run("register carol \"two words\""), 201, true);
    check(&p.run("login carol \"two words\""), 200, true);
    let r = p.run("serach x");
    check(&r, 400, false);
    assert!(
        r["message"]
            .as_str()
            .unwrap()
            .contains("did you mean \"search\"?"),
        "{r}"
    );
}
