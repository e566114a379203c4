//! End-to-end tests of each client's own identity (issue 12): `<share>/.peerhub-identity.pem`
//! is made on first start (0600), kept across restarts, shown by `status`, never
//! published, fetched onto, uploaded or found, and a bad one stops the client at start.
//! Every test starts its own hub and peers as real processes over loopback.

mod support;

use serde_json::Value;
use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;
use support::{check, files_under, start_fails, Hub, Peer, TempDir};

const SECS_10: Duration = Duration::from_secs(10);
const IDENTITY: &str = ".peerhub-identity.pem";

/// The fingerprint `status` shows, checked to be `sha256:` and 64 lowercase hex digits.
#[track_caller]
fn fingerprint_of(peer: &mut Peer) -> String {
    let r = peer.run("status");
    check(&r, 200, true);
    let fingerprint = r["fingerprint"].as_str().unwrap_or_default().to_owned();
    let hex = fingerprint.strip_prefix("sha256:").unwrap_or_default();
    assert!(
        hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
        "{r}"
    );
    fingerprint
}

fn mode_of(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn a_client_makes_its_identity_once_keeps_it_and_status_shows_it() {
    let hub = Hub::start(&[]);
    let dir = TempDir::new("identity");
    let share = dir.subdir("share");
    let share_arg = share.to_str().unwrap();

    let mut first = Peer::start(hub.addr(), &["--share", share_arg]);
    let path = share.join(IDENTITY);
    assert_eq!(mode_of(&path), 0o600);
    let text = fs::read_to_string(&path).unwrap();
    assert!(
        text.contains("PRIVATE KEY") && text.contains("CERTIFICATE"),
        "{text}"
    );
    let fingerprint = fingerprint_of(&mut first);
    first.close_stdin();
    assert_eq!(first.expect_exit(SECS_10), 0);

    // Started again on the same share: the same key, the file untouched.
    let mut again = Peer::start(hub.addr(), &["--share", share_arg]);
    assert_eq!(fingerprint_of(&mut again), fingerprint);
    assert_eq!(fs::read_to_string(&path).unwrap(), text);
    // Another share, another identity.
    let mut other = Peer::start(hub.addr(), &[]);
    assert_ne!(fingerprint_of(&mut other), fingerprint);

    // The human `status` has a line for it.
    let mut human = Command::new(support::BIN)
        .args(["client", "--server", &hub.addr().to_string()])
        .args(["--share", share_arg])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    human.stdin.take().unwrap().write_all(b"status\n").unwrap();
    let out = human.wait_with_output().unwrap();
    let human = String::from_utf8_lossy(&out.stdout);
    let line = format!("identity: {fingerprint}");
    assert!(human.lines().any(|l| l.trim() == line), "{human}");
}

/// Every way a share file could leave: `publish` by name, under another name or through
/// a link; `fetch` onto it; `upload` of it or of the share dir; a store `download` onto it.
#[test]
fn the_identity_file_is_never_published_fetched_onto_uploaded_or_found() {
    let mut hub = Hub::start(&["--auth-rate", "0"]);
    let peers: Result<[Peer; 2], _> = Peer::logged_in_each(&hub, &["alice", "bob"]).try_into();
    let Ok([mut alice, mut bob]) = peers else {
        panic!("two peers")
    };
    let share = alice.share_dir().to_path_buf();
    let identity = share.join(IDENTITY);
    let key = fs::read(&identity).unwrap();
    fs::write(share.join("notes.txt"), b"my notes").unwrap();
    check(&alice.run("publish notes.txt"), 202, true);
    std::os::unix::fs::symlink(IDENTITY, share.join("link.pem")).unwrap();
    for line in [
        format!("publish {IDENTITY}"),
        format!("publish {IDENTITY} key.pem"),
        format!("publish {}", identity.display()),
        "publish link.pem".to_owned(),
        format!("publish notes.txt {IDENTITY}"),
    ] {
        let r = alice.run(&line);
        check(&r, 408, false);
        assert!(
            r["message"].as_str().unwrap().contains(IDENTITY),
            "{line}: {r}"
        );
    }
    let names = |r: &Value| -> Vec<String> {
        r["files"]
            .as_array()
            .unwrap_or_else(|| panic!("no files in {r}"))
            .iter()
            .map(|f| f["name"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    assert_eq!(names(&alice.run("shared")), ["notes.txt"]);
    assert_eq!(names(&hub.run("discover alice")), ["notes.txt"]);
    for text in ["identity", "pem", ".peerhub"] {
        let r = bob.run(&format!("search {text}"));
        check(&r, 200, true);
        assert_eq!(names(&r), Vec::<String>::new(), "{text}");
    }

    // Nothing is fetched from it, nor onto it.
    check(
        &bob.run(&format!("fetch {IDENTITY} --from alice")),
        408,
        false,
    );
    let r = alice.run(&format!("fetch notes.txt --as {IDENTITY}"));
    check(&r, 408, false);

    // An upload of the share dir leaves it out and says so; the file itself is refused.
    fs::remove_file(share.join("link.pem")).unwrap();
    let r = alice.run(&format!("upload {} myshare", share.display()));
    check(&r, 200, true);
    assert_eq!(r["files"], 1, "notes.txt only: {r}");
    let skipped: Vec<Value> = alice.events_named("skipped");
    assert!(skipped.iter().any(|e| e["path"] == IDENTITY), "{skipped:?}");
    check(
        &alice.run(&format!("upload {} key.pem", identity.display())),
        408,
        false,
    );
    let r = bob.run("download myshare copy");
    assert_eq!(r["status"], 205, "{r}");
    let copied: Vec<_> = files_under(&bob.work_dir().join("copy"));
    assert_eq!(copied, [bob.work_dir().join("copy/notes.txt")]);

    // A store download onto it is refused: the key stays as it was.
    let notes = share.join("notes.txt");
    check(
        &alice.run(&format!("upload {}", notes.display())),
        200,
        true,
    );
    let r = alice.run(&format!("download notes.txt {}", identity.display()));
    check(&r, 409, false);
    assert_eq!(fs::read(&identity).unwrap(), key);
    assert_eq!(mode_of(&identity), 0o600);
}

/// `peerhub client` on `share` with no input: its exit code and stderr.
fn start_on(share: &Path) -> (i32, String) {
    let share = share.to_str().unwrap();
    start_fails(&["client", "--server", "127.0.0.1:9", "--share", share])
}

#[test]
fn an_exposed_or_corrupt_identity_is_a_start_up_error() {
    let dir = TempDir::new("bad-identity");
    let share = dir.subdir("share");
    let hub = Hub::start(&[]);
    let mut peer = Peer::start(hub.addr(), &["--share", share.to_str().unwrap()]);
    peer.close_stdin();
    assert_eq!(peer.expect_exit(SECS_10), 0);
    let path = share.canonicalize().unwrap().join(IDENTITY);
    let key = fs::read(&path).unwrap();

    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
    let (code, err) = start_on(&share);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains(&format!(
            "{} holds a private key but its mode is 0644",
            path.display()
        )) && err.contains("chmod 600"),
        "{err}"
    );
    assert_eq!(fs::read(&path).unwrap(), key, "never replaced");

    fs::write(&path, b"not a key").unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
    let (code, err) = start_on(&share);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains(&path.display().to_string()) && err.contains("no private key"),
        "{err}"
    );
    assert_eq!(fs::read(&path).unwrap(), b"not a key", "never replaced");
}
