//! End-to-end test of the client on a real terminal (issue 10, item 20): a client runs
//! in a tmux pane, keys are typed with `send-keys` and the screen is read with
//! `capture-pane`. Skipped, with a message, where tmux is not installed.

mod support;

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};
use support::{Hub, Peer, TempDir, BIN};

const SECS_10: Duration = Duration::from_secs(10);

/// A tmux server of its own (so tests never touch anyone's sessions) with one pane.
struct Pane {
    socket: String,
}

impl Pane {
    fn start(command: &str, width: u16) -> Pane {
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let socket = format!("peerhub-test-{}-{n}", std::process::id());
        let pane = Pane { socket };
        let width = width.to_string();
        pane.tmux(&[
            "new-session",
            "-d",
            "-s",
            "t",
            "-x",
            &width,
            "-y",
            "30",
            command,
        ]);
        pane
    }

    fn tmux(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.socket, "-f", "/dev/null"])
            .args(args)
            .output()
            .expect("run tmux");
        assert!(out.status.success(), "tmux {args:?}: {:?}", out);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Type `text` literally (no key names).
    fn type_text(&self, text: &str) {
        self.tmux(&["send-keys", "-t", "t", "-l", text]);
    }

    /// Press keys by name (`Enter`, `Tab`, `C-c`).
    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "t"];
        args.extend_from_slice(keys);
        self.tmux(&args);
    }

    fn screen(&self) -> String {
        self.tmux(&["capture-pane", "-p", "-t", "t"])
    }

    /// The last row that is not blank (the input line while the client runs).
    fn last_row(&self) -> String {
        let screen = self.screen();
        screen
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or_default()
            .trim_end()
            .to_owned()
    }

    /// Wait until `pred` holds for the screen; fails with the screen after `timeout`.
    fn wait(&self, what: &str, timeout: Duration, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let screen = self.screen();
            if pred(&screen) {
                return screen;
            }
            if Instant::now() > deadline {
                panic!("no {what} within {timeout:?}; the screen:\n{screen}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Pane {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .output();
    }
}

fn have_tmux() -> bool {
    Command::new("tmux").arg("-V").output().is_ok()
}

fn history(share: &Path) -> String {
    std::fs::read_to_string(share.join(".peerhub-history")).unwrap_or_default()
}

#[test]
fn the_line_editor_keeps_typed_text_below_incoming_chat() {
    if !have_tmux() {
        eprintln!("skipped: tmux is not installed (the CI script installs it)");
        return;
    }
    let hub = Hub::start(&[]);
    let mut bob = Peer::logged_in(hub.addr(), "bob");
    let dir = TempDir::new("tty");
    let share = dir.subdir("share");
    // After the client ends, the shell shows its exit code and whether the
    // terminal is back in cooked mode with echo.
    let command = format!(
        "{BIN} client --server {} --share {}; echo \"exit=$?\"; stty -a | tr ' ' '\\n' | grep -x -e '-\\?icanon' -e '-\\?echo'; sleep 60",
        hub.addr(),
        share.display()
    );
    let pane = Pane::start(&command, 100);
    pane.wait("the listening line", SECS_10, |s| {
        s.contains("peer listener on")
    });

    // A password left off is asked for without echo; the history never holds it.
    pane.type_text("register alice");
    pane.keys(&["Enter"]);
    pane.wait("the password question", SECS_10, |s| {
        s.contains("password for the new account alice:")
    });
    pane.type_text("s3cr3t-word");
    pane.keys(&["Enter"]);
    pane.wait("the confirmation", SECS_10, |s| s.contains("again:"));
    pane.type_text("s3cr3t-word");
    pane.keys(&["Enter"]);
    pane.wait("registered", SECS_10, |s| s.contains("registered alice"));
    pane.type_text("login alice s3cr3t-word");
    pane.keys(&["Enter"]);
    let screen = pane.wait("logged in", SECS_10, |s| s.contains("logged in as alice"));
    assert!(screen.contains("> login alice ***"), "{screen}");
    assert!(
        !screen.contains("s3cr3t"),
        "a password is on the screen:\n{screen}"
    );
    let saved = history(&share);
    assert!(saved.contains("register alice\nlogin alice\n"), "{saved:?}");
    assert!(!saved.contains("s3cr3t"), "{saved:?}");

    // Chat arriving while a line is half typed lands above it; the line stays whole.
    pane.type_text("say hel");
    pane.wait("the typed text", SECS_10, |_| {
        pane.last_row() == "> say hel"
    });
    bob.run("say incoming while alice types");
    let screen = pane.wait("bob's chat", SECS_10, |s| {
        s.contains("<bob> incoming while alice types")
    });
    assert_eq!(pane.last_row(), "> say hel", "{screen}");
    let rows: Vec<&str> = screen.lines().collect();
    let chat = rows
        .iter()
        .position(|r| r.contains("<bob> incoming"))
        .unwrap();
    let input = rows
        .iter()
        .rposition(|r| r.starts_with("> say hel"))
        .unwrap();
    assert!(chat < input, "{screen}");
    pane.type_text("lo");
    pane.keys(&["Enter"]);
    let heard = bob.wait_event("chat", |e| e["from"] == "alice", SECS_10);
    assert_eq!(heard["text"], "hello");

    // Editing keys and Tab completion of commands and of user names.
    pane.type_text("say one two");
    pane.keys(&["C-w", "Home", "Right", "Right", "Right"]);
    pane.type_text("X");
    pane.wait("edited line", SECS_10, |_| pane.last_row() == "> sayX one");
    pane.keys(&["C-k", "C-u"]);
    pane.type_text("user");
    pane.keys(&["Tab"]);
    pane.wait("completed command", SECS_10, |_| {
        pane.last_row() == "> users"
    });
    pane.keys(&["Enter"]);
    // The listing's own row, not "2 online": the login's line says that too.
    pane.wait("the users result", SECS_10, |s| {
        s.lines().any(|l| l.trim_end() == "  bob")
    });
    pane.type_text("msg b");
    pane.keys(&["Tab"]);
    pane.wait("completed user", SECS_10, |_| {
        pane.last_row() == "> msg bob"
    });
    pane.keys(&["C-u", "Up"]);
    pane.wait("history", SECS_10, |_| pane.last_row() == "> users");

    // Ctrl-C leaves, and the terminal is restored.
    pane.keys(&["C-c"]);
    let after = |s: &str| -> Vec<String> {
        s.lines()
            .skip_while(|l| !l.contains("exit="))
            .skip(1)
            .map(|l| l.trim().to_owned())
            .filter(|l| !l.is_empty())
            .collect()
    };
    let screen = pane.wait("the exit and the terminal modes", SECS_10, |s| {
        after(s).len() >= 2
    });
    assert!(screen.contains("exit=0"), "{screen}");
    assert_eq!(after(&screen), ["icanon", "echo"], "{screen}");
}

#[test]
fn one_progress_bar_that_fits_while_typing() {
    if !have_tmux() {
        eprintln!("skipped: tmux is not installed (the CI script installs it)");
        return;
    }
    let hub = Hub::start(&[]);
    let mut bob = Peer::start(hub.addr(), &["--upload-rate", "1000000"]);
    bob.register_login("bob", "pw");
    std::fs::write(bob.share_dir().join("big.bin"), vec![7u8; 3_000_000]).unwrap();
    assert_eq!(bob.run("publish big.bin")["ok"], true);
    let dir = TempDir::new("tty");
    let share = dir.subdir("share");
    let command = format!(
        "{BIN} client --server {} --share {}; sleep 60",
        hub.addr(),
        share.display()
    );
    // A narrow terminal: the bar must be cut, never wrapped.
    let pane = Pane::start(&command, 40);
    pane.wait("the listening line", SECS_10, |s| {
        s.contains("peer listener on")
    });
    pane.type_text("register alice pw");
    pane.keys(&["Enter"]);
    pane.wait("registered", SECS_10, |s| s.contains("registered alice"));
    pane.type_text("login alice pw");
    pane.keys(&["Enter"]);
    pane.wait("logged in", SECS_10, |s| s.contains("logged in as alice"));
    pane.type_text("fetch big.bin");
    pane.keys(&["Enter"]);
    pane.wait("the bar", SECS_10, |s| s.contains("big.bin ["));
    let bars = |s: &str| s.lines().filter(|l| l.contains("big.bin [")).count();
    for c in "say typing under the bar".chars() {
        pane.type_text(&c.to_string());
        let screen = pane.screen();
        assert!(bars(&screen) <= 1, "copies of the bar:\n{screen}");
        for row in screen.lines().filter(|l| l.contains("big.bin [")) {
            assert!(
                row.contains("% ") && row.chars().count() < 40,
                "{row:?}\n{screen}"
            );
        }
    }
    let screen = pane.wait("the fetch", SECS_10, |s| s.contains("fetched big.bin"));
    assert_eq!(bars(&screen), 0, "a bar was left behind:\n{screen}");
    assert_eq!(pane.last_row(), "> say typing under the bar", "{screen}");
}
