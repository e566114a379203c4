//! Shared harness for the end-to-end tests: real `peerhub` processes over loopback.
//!
//! - [`Hub`]: a `peerhub server --json` with a fresh data directory and a piped console.
//! - [`Peer`]: a `peerhub client --json` with a fresh share directory and piped commands.
//! - [`Raw`]: a connection to the hub that speaks frames itself (TLS, or bare TCP), for
//!   bad-input tests.
//! - [`fetcher`]: a fetcher that is no peerhub client (a hub session with a key of its
//!   own, TLS connections to peer listeners), for the tests of the peer path.
//!
//! Every process's stdout is read by a background thread that parses each line as JSON
//! and checks it against the output contract (a `result` with `id`, `command`, `ok`,
//! `status`, `message`, or an `event` with `event`). Anything else on stdout is recorded
//! as junk and fails the next wait (and the test, when the process is dropped).
//! Every line seen is kept, so a test can also assert that something did *not* arrive
//! ([`Proc::events_named`] after a barrier such as a `users` round trip).
//! Waits use deadlines on a channel, never fixed sleeps. A wait returns the first matching
//! line it has not returned before (searching from the start), so waiting twice for the
//! same event name needs two such events.

#![allow(dead_code)]

pub mod fetcher;
pub mod mallory;
pub mod web;

use serde_json::Value;
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::ops::{Deref, DerefMut};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, TryRecvError};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_peerhub");
/// The deadline of [`Proc::run`]: one command's round trip.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a process may take to report where it listens.
pub const START_TIMEOUT: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------
// Temporary directories
// ---------------------------------------------------------------------------

/// A fresh directory under the system temp dir, removed on drop.
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// `peerhub-test-<label>-<pid>-<counter>-<nanos>`, created now.
    pub fn new(label: &str) -> TempDir {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let path = std::env::temp_dir().join(format!(
            "peerhub-test-{label}-{}-{n}-{nanos}",
            std::process::id()
        ));
        fs::create_dir_all(&path)
            .unwrap_or_else(|e| panic!("create temp dir {}: {e}", path.display()));
        TempDir { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A subdirectory, created if missing.
    pub fn subdir(&self, name: &str) -> PathBuf {
        let p = self.path.join(name);
        fs::create_dir_all(&p).unwrap_or_else(|e| panic!("create {}: {e}", p.display()));
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::env::var_os("PEERHUB_TEST_KEEP").is_some() {
            eprintln!("keeping {}", self.path.display());
            return;
        }
        let _ = fs::remove_dir_all(&self.path);
    }
}

/// Every regular file beneath `dir`, recursively.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            match entry.file_type() {
                Ok(t) if t.is_dir() => stack.push(path),
                Ok(t) if t.is_file() => out.push(path),
                _ => {}
            }
        }
    }
    out.sort();
    out
}

/// Whether `needle` occurs in `haystack`.
pub fn contains_bytes(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

// ---------------------------------------------------------------------------
// A process with a JSON stdout
// ---------------------------------------------------------------------------

/// What the stdout reader thread hands over.
enum Line {
    Json(Value),
    Junk(String),
    Eof,
}

/// Whether a parsed stdout line follows the `--json` output contract.
fn contract_ok(v: &Value) -> bool {
    let Some(obj) = v.as_object() else {
        return false;
    };
    match obj.get("type").and_then(Value::as_str) {
        Some("result") => {
            obj.get("id").is_some_and(Value::is_u64)
                && obj.get("command").is_some_and(Value::is_string)
                && obj.get("ok").is_some_and(Value::is_boolean)
                && obj.get("status").is_some_and(Value::is_u64)
                && obj.get("message").is_some_and(Value::is_string)
        }
        Some("event") => obj.get("event").is_some_and(Value::is_string),
        _ => false,
    }
}

fn spawn_reader(stdout: impl Read + Send + 'static) -> Receiver<Line> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match reader.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let text = String::from_utf8_lossy(&buf);
                    let text = text.strip_suffix('\n').unwrap_or(&text);
                    let line = match serde_json::from_str::<Value>(text) {
                        Ok(v) if contract_ok(&v) => Line::Json(v),
                        _ => Line::Junk(text.to_owned()),
                    };
                    if tx.send(line).is_err() {
                        return;
                    }
                }
            }
        }
        let _ = tx.send(Line::Eof);
    });
    rx
}

/// A child process whose stdout is NDJSON: its lines, its stdin, its exit.
pub struct Proc {
    label: String,
    child: Child,
    stdin: Option<ChildStdin>,
    rx: Receiver<Line>,
    seen: Vec<Value>,
    /// Parallel to `seen`: already returned by a wait (events match once each).
    taken: Vec<bool>,
    junk: Vec<String>,
    stdout_closed: bool,
    sent: u64,
    stderr_path: PathBuf,
    status: Option<ExitStatus>,
}

impl Proc {
    fn spawn(label: &str, mut cmd: Command, stdin: Stdio, stderr_path: PathBuf) -> Proc {
        let stderr = File::create(&stderr_path)
            .unwrap_or_else(|e| panic!("create {}: {e}", stderr_path.display()));
        cmd.stdin(stdin)
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr))
            .env_remove("PEERHUB_SERVER")
            .env(
                "RUST_LOG",
                std::env::var("PEERHUB_TEST_LOG").unwrap_or_else(|_| "info".into()),
            );
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {label} ({BIN}): {e}"));
        let stdout = child.stdout.take().expect("piped stdout");
        let stdin = child.stdin.take();
        Proc {
            label: label.to_owned(),
            child,
            stdin,
            rx: spawn_reader(stdout),
            seen: Vec::new(),
            taken: Vec::new(),
            junk: Vec::new(),
            stdout_closed: false,
            sent: 0,
            stderr_path,
            status: None,
        }
    }

    /// The OS process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A name for messages ("hub", "peer alice", …).
    pub fn label(&self) -> &str {
        &self.label
    }

    pub fn set_label(&mut self, label: &str) {
        self.label = label.to_owned();
    }

    fn take_line(&mut self, line: Line) {
        match line {
            Line::Json(v) => {
                self.seen.push(v);
                self.taken.push(false);
            }
            Line::Junk(text) => self.junk.push(text),
            Line::Eof => self.stdout_closed = true,
        }
    }

    /// Take in whatever the reader has, without blocking.
    pub fn pump(&mut self) {
        while !self.stdout_closed {
            match self.rx.try_recv() {
                Ok(line) => self.take_line(line),
                Err(TryRecvError::Empty) => return,
                Err(TryRecvError::Disconnected) => self.stdout_closed = true,
            }
        }
    }

    /// Block for one more line until `deadline`. False on timeout or end of stdout.
    fn next_line(&mut self, deadline: Instant) -> bool {
        if self.stdout_closed {
            return false;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        match self.rx.recv_timeout(left) {
            Ok(line) => {
                self.take_line(line);
                true
            }
            Err(RecvTimeoutError::Timeout) => false,
            Err(RecvTimeoutError::Disconnected) => {
                self.stdout_closed = true;
                false
            }
        }
    }

    /// Panic if stdout carried anything but contract JSON.
    pub fn assert_clean(&mut self) {
        self.pump();
        if !self.junk.is_empty() {
            let junk = self.junk.clone();
            self.fail(&format!(
                "stdout carried non-JSON (or off-contract) lines: {junk:#?}"
            ));
        }
    }

    /// The last bytes of the process's stderr (its log).
    pub fn stderr_tail(&self) -> String {
        let text = fs::read(&self.stderr_path).unwrap_or_default();
        let start = text.len().saturating_sub(3000);
        String::from_utf8_lossy(&text[start..]).into_owned()
    }

    /// Bytes the process wrote to stderr (its log) so far.
    pub fn stderr_len(&self) -> u64 {
        fs::metadata(&self.stderr_path).map_or(0, |m| m.len())
    }

    /// Panic with context: what was seen and the log.
    pub fn fail(&self, msg: &str) -> ! {
        let start = self.seen.len().saturating_sub(40);
        let recent: Vec<String> = self.seen[start..].iter().map(Value::to_string).collect();
        panic!(
            "[{}] {msg}\n--- last stdout lines ({} total) ---\n{}\n--- junk ---\n{:?}\n--- stderr tail ---\n{}",
            self.label,
            self.seen.len(),
            recent.join("\n"),
            self.junk,
            self.stderr_tail()
        );
    }

    /// The first line not yet taken that satisfies `pred`, waiting until `timeout`.
    pub fn try_wait_line(
        &mut self,
        timeout: Duration,
        mut pred: impl FnMut(&Value) -> bool,
    ) -> Option<Value> {
        let deadline = Instant::now() + timeout;
        self.pump();
        self.assert_clean();
        let mut from = 0;
        loop {
            for i in from..self.seen.len() {
                if !self.taken[i] && pred(&self.seen[i]) {
                    self.taken[i] = true;
                    return Some(self.seen[i].clone());
                }
            }
            from = self.seen.len();
            if !self.next_line(deadline) {
                self.assert_clean();
                return None;
            }
            self.assert_clean();
        }
    }

    /// Like [`Proc::try_wait_line`], but a timeout fails the test.
    pub fn wait_line(
        &mut self,
        what: &str,
        timeout: Duration,
        pred: impl FnMut(&Value) -> bool,
    ) -> Value {
        match self.try_wait_line(timeout, pred) {
            Some(v) => v,
            None if self.stdout_closed => self.fail(&format!(
                "stdout closed (process gone?) while waiting for {what}"
            )),
            None => self.fail(&format!("no {what} within {timeout:?}")),
        }
    }

    /// The result of input line `id`.
    pub fn wait_result(&mut self, id: u64, timeout: Duration) -> Value {
        self.wait_line(&format!("result id {id}"), timeout, |v| {
            v["type"] == "result" && v["id"] == id
        })
    }

    /// The next not-yet-taken event `name` that satisfies `pred`.
    pub fn wait_event(
        &mut self,
        name: &str,
        mut pred: impl FnMut(&Value) -> bool,
        timeout: Duration,
    ) -> Value {
        self.wait_line(&format!("event {name:?}"), timeout, |v| {
            v["type"] == "event" && v["event"] == name && pred(v)
        })
    }

    /// Like [`Proc::wait_event`], but `None` on timeout.
    pub fn try_wait_event(
        &mut self,
        name: &str,
        mut pred: impl FnMut(&Value) -> bool,
        timeout: Duration,
    ) -> Option<Value> {
        self.try_wait_line(timeout, |v| {
            v["type"] == "event" && v["event"] == name && pred(v)
        })
    }

    /// Write one input line; returns its 1-based line number (the result's `id`).
    pub fn send(&mut self, line: &str) -> u64 {
        assert!(
            !line.contains('\n'),
            "send() takes one line; {line:?} has a newline"
        );
        let label = self.label.clone();
        let stdin = self
            .stdin
            .as_mut()
            .unwrap_or_else(|| panic!("[{label}] stdin is closed or not piped"));
        if let Err(e) = stdin
            .write_all(format!("{line}\n").as_bytes())
            .and_then(|()| stdin.flush())
        {
            self.fail(&format!("write {line:?} to stdin: {e}"));
        }
        self.sent += 1;
        self.sent
    }

    /// Send a line and wait (up to 10 s) for its result.
    pub fn run(&mut self, line: &str) -> Value {
        let id = self.send(line);
        self.wait_result(id, RUN_TIMEOUT)
    }

    /// Lines written to stdin so far.
    pub fn lines_sent(&self) -> u64 {
        self.sent
    }

    /// Close stdin: end of input.
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// Send a signal (`libc::SIGINT`, `SIGSTOP`, `SIGCONT`, …).
    pub fn signal(&mut self, sig: i32) {
        let pid = self.child.id() as libc::pid_t;
        // SAFETY: kill(2) on our own child's pid has no memory effects.
        let rc = unsafe { libc::kill(pid, sig) };
        assert_eq!(rc, 0, "kill({pid}, {sig}): {}", io::Error::last_os_error());
    }

    fn code_of(status: ExitStatus) -> i32 {
        status
            .code()
            .unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
    }

    /// Wait for the process to exit; its code (128+signal if killed), or `None` on
    /// timeout. After an exit, everything it printed has been taken in.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.status {
                // The pipe closes at exit; collect the rest of stdout.
                let drain = Instant::now() + Duration::from_secs(5);
                while self.next_line(drain) {}
                self.assert_clean();
                return Some(Self::code_of(status));
            }
            match self.child.try_wait() {
                Ok(Some(status)) => {
                    self.status = Some(status);
                    continue;
                }
                Ok(None) => {}
                Err(e) => self.fail(&format!("wait: {e}")),
            }
            if Instant::now() >= deadline {
                return None;
            }
            // Poll the exit while taking in stdout, in short slices.
            let slice = (Instant::now() + Duration::from_millis(20)).min(deadline);
            if !self.next_line(slice) {
                thread::sleep(
                    slice
                        .saturating_duration_since(Instant::now())
                        .min(Duration::from_millis(20)),
                );
            }
        }
    }

    /// Like [`Proc::wait_exit`], but a timeout fails the test.
    pub fn expect_exit(&mut self, timeout: Duration) -> i32 {
        match self.wait_exit(timeout) {
            Some(code) => code,
            None => self.fail(&format!("did not exit within {timeout:?}")),
        }
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        if self.status.is_some() {
            return false;
        }
        match self.child.try_wait() {
            Ok(Some(status)) => {
                self.status = Some(status);
                false
            }
            _ => true,
        }
    }

    /// SIGKILL and reap.
    pub fn kill9(&mut self) {
        if self.status.is_none() {
            let _ = self.child.kill();
            if let Ok(status) = self.child.wait() {
                self.status = Some(status);
            }
        }
        self.stdin = None;
    }

    /// Every line seen so far.
    pub fn lines(&mut self) -> &[Value] {
        self.pump();
        &self.seen
    }

    /// The next event `name` at or after line number `*cursor` (counting every JSON line
    /// seen), waiting until `timeout`; the cursor moves past it and the event counts as
    /// taken. Reads a long stream in order in linear time, where repeated
    /// [`Proc::wait_event`] calls would rescan from the start.
    pub fn next_event(
        &mut self,
        cursor: &mut usize,
        name: &str,
        timeout: Duration,
    ) -> Option<Value> {
        let deadline = Instant::now() + timeout;
        self.pump();
        self.assert_clean();
        loop {
            while *cursor < self.seen.len() {
                let i = *cursor;
                *cursor += 1;
                let v = &self.seen[i];
                if v["type"] == "event" && v["event"] == name {
                    self.taken[i] = true;
                    return Some(v.clone());
                }
            }
            if !self.next_line(deadline) {
                self.assert_clean();
                return None;
            }
            self.assert_clean();
        }
    }

    /// Every event `name` seen so far (taken or not).
    pub fn events_named(&mut self, name: &str) -> Vec<Value> {
        self.pump();
        self.seen
            .iter()
            .filter(|v| v["type"] == "event" && v["event"] == name)
            .cloned()
            .collect()
    }

    /// Every result seen so far.
    pub fn results(&mut self) -> Vec<Value> {
        self.pump();
        self.seen
            .iter()
            .filter(|v| v["type"] == "result")
            .cloned()
            .collect()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill9();
        if thread::panicking() {
            return;
        }
        let drain = Instant::now() + Duration::from_secs(2);
        while self.next_line(drain) {}
        if !self.junk.is_empty() {
            let junk = std::mem::take(&mut self.junk);
            panic!(
                "[{}] stdout carried non-JSON (or off-contract) lines: {junk:#?}",
                self.label
            );
        }
    }
}

// ---------------------------------------------------------------------------
// The hub
// ---------------------------------------------------------------------------

/// How a process's stdin is connected.
#[derive(Debug)]
pub enum Input {
    /// A pipe the test writes to ([`Proc::send`]).
    Piped,
    /// A regular file (`client < script.txt`).
    File(PathBuf),
    /// `/dev/null`.
    Null,
}

impl Input {
    fn stdio(&self) -> Stdio {
        match self {
            Input::Piped => Stdio::piped(),
            Input::File(path) => Stdio::from(
                File::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display())),
            ),
            Input::Null => Stdio::null(),
        }
    }
}

fn has_flag(args: &[String], flag: &str) -> bool {
    args.iter()
        .any(|a| a == flag || a.starts_with(&format!("{flag}=")))
}

/// A running `peerhub server --json`. Derefs to its [`Proc`] (waits, signals, lines).
pub struct Hub {
    proc: Proc,
    dir: TempDir,
    addr: SocketAddr,
    extra: Vec<String>,
    starts: u32,
}

impl Hub {
    /// A hub on `127.0.0.1:0` (unless `extra` has `--listen`) with a fresh data dir.
    pub fn start(extra: &[&str]) -> Hub {
        Hub::start_with(extra, Input::Piped)
    }

    /// As [`Hub::start`], with the console connected as given.
    pub fn start_with(extra: &[&str], input: Input) -> Hub {
        let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        let dir = TempDir::new("hub");
        let listen = if has_flag(&extra, "--listen") {
            None
        } else {
            Some("127.0.0.1:0".to_owned())
        };
        let data = dir.subdir("data");
        match Hub::spawn(&dir, &data, listen.as_deref(), &extra, input, 1) {
            Ok((proc, addr)) => Hub {
                proc,
                dir,
                addr,
                extra,
                starts: 1,
            },
            Err(e) => panic!("hub did not start: {e}"),
        }
    }

    /// A hub on `listen` (`"[::1]:0"`, …), or `Err` with its log when it cannot start.
    pub fn try_start_on(listen: &str, extra: &[&str]) -> Result<Hub, String> {
        let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        let dir = TempDir::new("hub");
        let data = dir.subdir("data");
        let (proc, addr) = Hub::spawn(&dir, &data, Some(listen), &extra, Input::Piped, 1)?;
        Ok(Hub {
            proc,
            dir,
            addr,
            extra,
            starts: 1,
        })
    }

    fn spawn(
        dir: &TempDir,
        data: &Path,
        listen: Option<&str>,
        extra: &[String],
        input: Input,
        start: u32,
    ) -> Result<(Proc, SocketAddr), String> {
        let mut cmd = Command::new(BIN);
        cmd.arg("server");
        if let Some(listen) = listen {
            cmd.args(["--listen", listen]);
        }
        cmd.arg("--data").arg(data).arg("--json").args(extra);
        cmd.current_dir(dir.path());
        let stderr = dir.path().join(format!("hub-stderr-{start}.log"));
        let mut proc = Proc::spawn("hub", cmd, input.stdio(), stderr);
        match proc.try_wait_line(START_TIMEOUT, |v| v["event"] == "listening") {
            Some(v) => {
                let addr = v["addr"]
                    .as_str()
                    .and_then(|a| a.parse().ok())
                    .unwrap_or_else(|| proc.fail(&format!("bad listening event {v}")));
                Ok((proc, addr))
            }
            None => {
                proc.kill9();
                Err(format!(
                    "no listening event (exit {:?}); stderr:\n{}",
                    proc.status,
                    proc.stderr_tail()
                ))
            }
        }
    }

    /// The hub's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The fingerprint of the hub's key, as its `listening` event gave it.
    pub fn fingerprint(&mut self) -> String {
        let listening = self.proc.events_named("listening");
        listening[0]["fingerprint"]
            .as_str()
            .unwrap_or_else(|| self.proc.fail(&format!("no fingerprint in {listening:?}")))
            .to_owned()
    }

    /// The data directory (database and store); it survives restarts.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Write a console line; returns its number (the result's `id`).
    pub fn console(&mut self, line: &str) -> u64 {
        self.proc.send(line)
    }

    /// Start the hub again on the same data dir and a new port, killing the old
    /// process first if it still runs.
    pub fn restart(&mut self) {
        self.proc.kill9();
        let listen = if has_flag(&self.extra, "--listen") {
            None
        } else {
            Some(format!("{}:0", bracket_ip(self.addr)))
        };
        self.respawn(listen.as_deref())
            .unwrap_or_else(|e| panic!("hub restart failed: {e}"));
    }

    /// Start the hub again on the same data dir and the SAME address, retrying until
    /// the port can be bound again or `timeout` passes.
    pub fn restart_same_addr(&mut self, timeout: Duration) {
        self.proc.kill9();
        assert!(
            !has_flag(&self.extra, "--listen"),
            "restart_same_addr: pass the address via try_start_on, not extra args"
        );
        let deadline = Instant::now() + timeout;
        let listen = self.addr.to_string();
        loop {
            match self.respawn(Some(&listen)) {
                Ok(()) => {
                    assert_eq!(
                        self.addr.to_string(),
                        listen,
                        "restarted on another address"
                    );
                    return;
                }
                Err(e) if Instant::now() >= deadline => {
                    panic!("could not restart the hub on {listen}: {e}")
                }
                // A retry interval while the port is still taken, not a synchronisation.
                Err(_) => thread::sleep(Duration::from_millis(50)),
            }
        }
    }

    fn respawn(&mut self, listen: Option<&str>) -> Result<(), String> {
        self.starts += 1;
        let data = self.data_dir();
        let (proc, addr) = Hub::spawn(
            &self.dir,
            &data,
            listen,
            &self.extra,
            Input::Piped,
            self.starts,
        )?;
        self.proc = proc;
        self.addr = addr;
        Ok(())
    }
}

/// Run `peerhub` with `args` and no input, to its exit; its exit code and stderr.
pub fn start_fails(args: &[&str]) -> (i32, String) {
    let out = Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let code = out.status.code().unwrap_or(-1);
    (code, String::from_utf8_lossy(&out.stderr).into_owned())
}

/// The IP part of an address as it appears before `:port` (`127.0.0.1`, `[::1]`).
fn bracket_ip(addr: SocketAddr) -> String {
    match addr {
        SocketAddr::V4(a) => a.ip().to_string(),
        SocketAddr::V6(a) => format!("[{}]", a.ip()),
    }
}

impl Deref for Hub {
    type Target = Proc;
    fn deref(&self) -> &Proc {
        &self.proc
    }
}

impl DerefMut for Hub {
    fn deref_mut(&mut self) -> &mut Proc {
        &mut self.proc
    }
}

// ---------------------------------------------------------------------------
// Peers
// ---------------------------------------------------------------------------

/// How to start a peer; [`PeerOpts::new`] gives the defaults.
#[derive(Debug)]
pub struct PeerOpts {
    /// `--server`.
    pub server: String,
    /// `--listen`; `None` leaves the flag out (the client's own default).
    pub listen: Option<String>,
    /// `--share`; `None`: a fresh `share/` in the peer's temp dir.
    pub share: Option<PathBuf>,
    pub input: Input,
    /// Anything else (`--serve`, `--reconnect-for 1`, …).
    pub extra: Vec<String>,
    /// Wait for the `listening` event before returning.
    pub wait_listening: bool,
}

impl PeerOpts {
    /// Talk to `hub`, listen on the same IP with port 0, piped stdin.
    pub fn new(hub: SocketAddr) -> PeerOpts {
        PeerOpts {
            server: hub.to_string(),
            listen: Some(format!("{}:0", bracket_ip(hub))),
            share: None,
            input: Input::Piped,
            extra: Vec::new(),
            wait_listening: true,
        }
    }

    pub fn args(mut self, extra: &[&str]) -> PeerOpts {
        self.extra.extend(extra.iter().map(|s| s.to_string()));
        self
    }

    pub fn input(mut self, input: Input) -> PeerOpts {
        self.input = input;
        self
    }
}

/// A running `peerhub client --json`. Derefs to its [`Proc`].
pub struct Peer {
    proc: Proc,
    dir: TempDir,
    share: PathBuf,
    addr: Option<SocketAddr>,
}

impl Peer {
    /// A logged-in peer (password `pw`) per name, each on its own client process.
    pub fn logged_in_each(hub: &Hub, users: &[&str]) -> Vec<Peer> {
        users
            .iter()
            .map(|user| {
                let mut p = Peer::start(hub.addr(), &[]);
                p.register_login(user, "pw");
                p
            })
            .collect()
    }

    /// A peer of the hub at `hub`, with a fresh share dir and `--listen <hub ip>:0`
    /// (unless `extra` has `--listen` or `--share`).
    pub fn start(hub: SocketAddr, extra: &[&str]) -> Peer {
        let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        let mut opts = PeerOpts::new(hub);
        if has_flag(&extra, "--listen") {
            opts.listen = None;
        }
        if let Some(i) = extra.iter().position(|a| a == "--share") {
            opts.share = extra.get(i + 1).map(PathBuf::from);
            let mut rest = extra.clone();
            rest.drain(i..(i + 2).min(extra.len()));
            opts.extra = rest;
        } else {
            opts.extra = extra;
        }
        Peer::spawn(opts)
    }

    /// A peer as described.
    pub fn spawn(opts: PeerOpts) -> Peer {
        let dir = TempDir::new("peer");
        let share = opts.share.clone().unwrap_or_else(|| dir.subdir("share"));
        let work = dir.subdir("work");
        let mut cmd = Command::new(BIN);
        cmd.args(["client", "--server", &opts.server])
            .arg("--share")
            .arg(&share);
        if let Some(listen) = &opts.listen {
            cmd.args(["--listen", listen]);
        }
        cmd.arg("--json").args(&opts.extra).current_dir(&work);
        let stderr = dir.path().join("stderr.log");
        let mut proc = Proc::spawn("peer", cmd, opts.input.stdio(), stderr);
        let addr = if opts.wait_listening {
            let v = proc.wait_event("listening", |_| true, START_TIMEOUT);
            Some(
                v["addr"]
                    .as_str()
                    .and_then(|a| a.parse().ok())
                    .unwrap_or_else(|| proc.fail(&format!("bad listening event {v}"))),
            )
        } else {
            None
        };
        Peer {
            proc,
            dir,
            share,
            addr,
        }
    }

    /// The peer listener's address (from its `listening` event).
    pub fn addr(&self) -> SocketAddr {
        self.addr.expect("started without waiting for listening")
    }

    /// The share directory.
    pub fn share_dir(&self) -> &Path {
        &self.share
    }

    /// The working directory (relative upload/download paths resolve here).
    pub fn work_dir(&self) -> PathBuf {
        self.dir.path().join("work")
    }

    /// A client of `hub` (no extra flags) registered and logged in as `user` with
    /// password `pw`.
    pub fn logged_in(hub: SocketAddr, user: &str) -> Peer {
        let mut peer = Peer::start(hub, &[]);
        peer.register_login(user, "pw");
        peer
    }

    /// `register` then `login`, both of which must succeed; returns the login result.
    pub fn register_login(&mut self, user: &str, password: &str) -> Value {
        let r = self.run(&format!("register {user} {password}"));
        if r["status"] != 201 {
            self.proc.fail(&format!("register {user}: {r}"));
        }
        self.login(user, password)
    }

    /// `login`, which must succeed; returns the result.
    pub fn login(&mut self, user: &str, password: &str) -> Value {
        let r = self.run(&format!("login {user} {password}"));
        if r["status"] != 200 || r["ok"] != true {
            self.proc.fail(&format!("login {user}: {r}"));
        }
        self.proc.set_label(&format!("peer {user}"));
        r
    }
}

impl Deref for Peer {
    type Target = Proc;
    fn deref(&self) -> &Proc {
        &self.proc
    }
}

impl DerefMut for Peer {
    fn deref_mut(&mut self) -> &mut Proc {
        &mut self.proc
    }
}

// ---------------------------------------------------------------------------
// Raw sockets
// ---------------------------------------------------------------------------

/// Message types the raw helper knows (see src/proto/message.rs).
pub mod kind {
    pub const HELLO: u8 = 0x01;
    pub const WELCOME: u8 = 0x02;
    pub const USERS: u8 = 0x14;
    pub const ECHO: u8 = 0x15;
    pub const REPLY: u8 = 0x40;
    pub const BYE: u8 = 0x57;
}

/// One frame: u32 big-endian length, then the payload.
pub fn frame(payload: &[u8]) -> Vec<u8> {
    let mut out = (payload.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(payload);
    out
}

/// The session hello: type 0x01, `PHUB`, version 1, role 0, framed.
pub fn hello_bytes() -> Vec<u8> {
    let mut p = vec![kind::HELLO];
    p.extend_from_slice(b"PHUB");
    p.extend_from_slice(&peerhub::proto::message::VERSION.to_be_bytes());
    p.push(0);
    frame(&p)
}

/// A request carrying only a tag (`users`, `echo`, …), framed.
pub fn tagged(ty: u8, tag: u32) -> Vec<u8> {
    let mut p = vec![ty];
    p.extend_from_slice(&tag.to_be_bytes());
    frame(&p)
}

/// The status and reason of a Bye payload.
pub fn decode_bye(payload: &[u8]) -> Option<(u16, String)> {
    if payload.first() != Some(&kind::BYE) || payload.len() < 5 {
        return None;
    }
    let status = u16::from_be_bytes([payload[1], payload[2]]);
    let len = u16::from_be_bytes([payload[3], payload[4]]) as usize;
    let text = payload.get(5..5 + len)?;
    Some((status, String::from_utf8_lossy(text).into_owned()))
}

/// The tag and status of a Reply payload.
pub fn decode_reply(payload: &[u8]) -> Option<(u32, u16)> {
    if payload.first() != Some(&kind::REPLY) || payload.len() < 7 {
        return None;
    }
    let tag = u32::from_be_bytes(payload[1..5].try_into().ok()?);
    let status = u16::from_be_bytes([payload[5], payload[6]]);
    Some((tag, status))
}

/// How a raw read ended without a frame.
#[derive(Debug)]
pub enum RawEnd {
    /// The hub closed the connection (EOF or reset).
    Closed,
    Timeout,
    Error(io::Error),
}

/// What a [`Raw`] connection speaks: TLS to a hub (the default), or bare TCP (to a hub
/// started with `--insecure-plaintext`, or to send bytes below TLS).
pub enum RawStream {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl RawStream {
    /// A TLS connection to the hub at `addr` (any hub key is accepted; the handshake is
    /// done as the first bytes go), with a 10 s read timeout.
    pub fn tls(addr: SocketAddr) -> RawStream {
        let socket = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
            .unwrap_or_else(|e| panic!("connect {addr}: {e}"));
        let _ = socket.set_nodelay(true);
        socket
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("read timeout");
        let name = rustls::pki_types::ServerName::try_from("hub.peerhub.invalid").expect("name");
        let tls = rustls::ClientConnection::new(any_hub_tls(), name).expect("TLS client");
        RawStream::Tls(Box::new(rustls::StreamOwned::new(tls, socket)))
    }

    /// The socket.
    pub fn socket(&self) -> &TcpStream {
        match self {
            RawStream::Plain(s) => s,
            RawStream::Tls(tls) => tls.get_ref(),
        }
    }
}

impl Read for RawStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            RawStream::Plain(s) => s.read(buf),
            // A hub that closes without a close notice has ended the stream all the same.
            RawStream::Tls(tls) => match tls.read(buf) {
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(0),
                other => other,
            },
        }
    }
}

impl Write for RawStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            RawStream::Plain(s) => s.write(buf),
            RawStream::Tls(tls) => tls.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            RawStream::Plain(s) => s.flush(),
            RawStream::Tls(tls) => tls.flush(),
        }
    }
}

/// A TLS client configuration that accepts any hub key (these tests are not about pins).
pub fn any_hub_tls() -> std::sync::Arc<rustls::ClientConfig> {
    use peerhub::trust;
    let verifier = trust::ServerKeyVerifier::new(&trust::provider(), |_| true);
    trust::client_config(verifier, None).expect("TLS client config")
}

/// A connection to the hub (TLS unless made with [`Raw::connect_plain`]).
pub struct Raw {
    stream: RawStream,
    buf: Vec<u8>,
}

impl Raw {
    /// Connect over TLS (within 5 s; the handshake is done as the first bytes go).
    pub fn connect(addr: SocketAddr) -> Raw {
        let stream = RawStream::tls(addr);
        // Reads set their own deadline.
        let _ = stream.socket().set_read_timeout(None);
        Raw {
            stream,
            buf: Vec::new(),
        }
    }

    /// Connect with bare TCP: plaintext frames (a hub with `--insecure-plaintext`) or
    /// bytes below TLS.
    pub fn connect_plain(addr: SocketAddr) -> Raw {
        Raw {
            stream: RawStream::Plain(Raw::tcp(addr)),
            buf: Vec::new(),
        }
    }

    fn tcp(addr: SocketAddr) -> TcpStream {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
            .unwrap_or_else(|e| panic!("connect {addr}: {e}"));
        let _ = stream.set_nodelay(true);
        stream
    }

    /// Connect, say hello, and read the welcome.
    pub fn connect_hello(addr: SocketAddr) -> Raw {
        let mut raw = Raw::connect(addr);
        raw.hello();
        raw
    }

    /// Say hello and expect the welcome frame.
    pub fn hello(&mut self) {
        self.send(&hello_bytes()).expect("send hello");
        match self.read_frame(Duration::from_secs(5)) {
            Ok(p) if p.first() == Some(&kind::WELCOME) && p.get(1..5) == Some(b"PHUB") => {}
            other => panic!("expected a welcome, got {other:?}"),
        }
    }

    /// Write bytes as they are.
    pub fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)?;
        self.stream.flush()
    }

    /// The payloads of the whole frames that have arrived by now, without waiting.
    pub fn frames_arrived(&mut self) -> Vec<Vec<u8>> {
        self.socket().set_nonblocking(true).expect("non-blocking");
        let mut chunk = [0u8; 64 * 1024];
        while let Ok(n @ 1..) = self.stream.read(&mut chunk) {
            self.buf.extend_from_slice(&chunk[..n]);
        }
        self.socket().set_nonblocking(false).expect("blocking");
        let mut frames = Vec::new();
        while let Ok(payload) = self.read_frame(Duration::from_nanos(1)) {
            frames.push(payload);
        }
        frames
    }

    /// Read one whole frame's payload before `timeout`.
    pub fn read_frame(&mut self, timeout: Duration) -> Result<Vec<u8>, RawEnd> {
        let deadline = Instant::now() + timeout;
        loop {
            if self.buf.len() >= 4 {
                let len = u32::from_be_bytes(self.buf[..4].try_into().expect("4 bytes")) as usize;
                assert!(len <= 16 << 20, "hub announced a {len}-byte frame");
                if self.buf.len() >= 4 + len {
                    let payload = self.buf[4..4 + len].to_vec();
                    self.buf.drain(..4 + len);
                    return Ok(payload);
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(RawEnd::Timeout);
            }
            self.socket()
                .set_read_timeout(Some(left))
                .map_err(RawEnd::Error)?;
            let mut chunk = [0u8; 4096];
            match self.stream.read(&mut chunk) {
                Ok(0) => return Err(RawEnd::Closed),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    return Err(RawEnd::Timeout)
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted
                    ) =>
                {
                    return Err(RawEnd::Closed)
                }
                Err(e) => return Err(RawEnd::Error(e)),
            }
        }
    }

    /// The next frame must be a Bye; its status and reason.
    pub fn expect_bye(&mut self, timeout: Duration) -> (u16, String) {
        match self.read_frame(timeout) {
            Ok(p) => decode_bye(&p).unwrap_or_else(|| panic!("expected a Bye, got {p:?}")),
            Err(e) => panic!("expected a Bye, got {e:?}"),
        }
    }

    /// Read until the hub closes the connection; the frames that came first.
    /// A timeout fails the test.
    pub fn expect_closed(&mut self, timeout: Duration) -> Vec<Vec<u8>> {
        let deadline = Instant::now() + timeout;
        let mut frames = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.read_frame(left) {
                Ok(p) => frames.push(p),
                Err(RawEnd::Closed) => return frames,
                Err(e) => {
                    panic!("connection not closed within {timeout:?}: {e:?}; frames {frames:?}")
                }
            }
        }
    }

    /// Half-close our side (no more bytes from us; over TLS, a close notice first).
    pub fn shutdown_write(&mut self) {
        if let RawStream::Tls(tls) = &mut self.stream {
            tls.conn.send_close_notify();
            let _ = tls.flush();
        }
        let _ = self.socket().shutdown(Shutdown::Write);
    }

    /// The socket.
    pub fn socket(&self) -> &TcpStream {
        self.stream.socket()
    }
}

/// A loopback port that refuses connections for as long as this value lives:
/// a TCP socket bound to it that never listens, so connecting gets
/// ECONNREFUSED and no other process (nor the peer under test, binding its
/// own listener) can be handed the same port meanwhile.
pub struct RefusingPort {
    fd: libc::c_int,
    pub addr: SocketAddr,
}

impl RefusingPort {
    pub fn bind() -> RefusingPort {
        // SAFETY: plain socket calls on a descriptor this value owns; the
        // sockaddr is a zeroed, fully initialised sockaddr_in.
        unsafe {
            let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
            assert!(fd >= 0, "socket: {}", std::io::Error::last_os_error());
            let mut sa: libc::sockaddr_in = std::mem::zeroed();
            sa.sin_family = libc::AF_INET as libc::sa_family_t;
            sa.sin_addr.s_addr = u32::from(std::net::Ipv4Addr::LOCALHOST).to_be();
            let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
            let rc = libc::bind(fd, &sa as *const _ as *const libc::sockaddr, len);
            assert_eq!(rc, 0, "bind: {}", std::io::Error::last_os_error());
            let mut len = len;
            let rc = libc::getsockname(fd, &mut sa as *mut _ as *mut libc::sockaddr, &mut len);
            assert_eq!(rc, 0, "getsockname: {}", std::io::Error::last_os_error());
            let port = u16::from_be(sa.sin_port);
            RefusingPort {
                fd,
                addr: SocketAddr::from(([127, 0, 0, 1], port)),
            }
        }
    }
}

impl Drop for RefusingPort {
    fn drop(&mut self) {
        // SAFETY: the descriptor is owned by this value and closed once.
        unsafe { libc::close(self.fd) };
    }
}

// ---------------------------------------------------------------------------
// Typed messages over a raw socket (tests that speak the protocol themselves)
// ---------------------------------------------------------------------------

/// A decoded Reply: status, message and body.
#[derive(Debug, Clone)]
pub struct RawReply {
    pub status: u16,
    pub message: String,
    pub body: peerhub::proto::message::Body,
}

impl Raw {
    /// Encode and send one client message.
    pub fn send_msg(&mut self, msg: &peerhub::proto::message::ClientMsg) -> io::Result<()> {
        let mut out = Vec::new();
        msg.encode(&mut out);
        self.send(&out)
    }

    /// The next hub message, decoded (an undecodable frame fails the test). Pings are
    /// answered with their Pong and returned like any other message.
    pub fn read_msg(
        &mut self,
        timeout: Duration,
    ) -> Result<peerhub::proto::message::HubMsg, RawEnd> {
        use peerhub::proto::message::{ClientMsg, HubMsg};
        let payload = self.read_frame(timeout)?;
        let msg = HubMsg::decode(&payload)
            .unwrap_or_else(|e| panic!("undecodable frame from the hub ({e}): {payload:?}"));
        if let HubMsg::Ping { nonce } = msg {
            let _ = self.send_msg(&ClientMsg::Pong { nonce });
        }
        Ok(msg)
    }

    /// Wait for the Reply with `tag`, answering pings; the messages that came before it
    /// (chat, joins, pings …) are appended to `others`.
    pub fn reply_to(
        &mut self,
        tag: u32,
        timeout: Duration,
        others: &mut Vec<peerhub::proto::message::HubMsg>,
    ) -> RawReply {
        use peerhub::proto::message::HubMsg;
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.read_msg(left) {
                Ok(HubMsg::Reply {
                    tag: t,
                    status,
                    message,
                    body,
                }) if t == tag => {
                    return RawReply {
                        status: status.0,
                        message,
                        body,
                    }
                }
                Ok(other) => others.push(other),
                Err(e) => {
                    panic!("no reply to tag {tag} within {timeout:?}: {e:?}; before it: {others:?}")
                }
            }
        }
    }

    /// Send a request and wait (up to 10 s) for its reply; other messages are dropped.
    pub fn request(&mut self, msg: &peerhub::proto::message::ClientMsg) -> RawReply {
        let tag = msg.tag().expect("a request with a tag");
        self.send_msg(msg)
            .unwrap_or_else(|e| panic!("send {msg:?}: {e}"));
        self.reply_to(tag, RUN_TIMEOUT, &mut Vec::new())
    }

    /// Connect, say hello, register `user` (an existing account is fine) and log in
    /// announcing `peer_port`; the login must succeed.
    pub fn login_as(addr: SocketAddr, user: &str, password: &str, peer_port: u16) -> Raw {
        use peerhub::proto::message::ClientMsg;
        let mut raw = Raw::connect_hello(addr);
        let r = raw.request(&ClientMsg::Register {
            tag: 1,
            user: user.into(),
            password: password.into(),
        });
        assert!(matches!(r.status, 201 | 404), "raw register {user}: {r:?}");
        let r = raw.request(&ClientMsg::Login {
            tag: 2,
            user: user.into(),
            password: password.into(),
            peer_port,
            fingerprint: peerhub::trust::Fingerprint::from_bytes([0; 32]),
        });
        assert_eq!(r.status, 200, "raw login {user}: {r:?}");
        raw
    }
}

/// The resident set size of a process, in bytes (Linux: `VmRSS` of /proc/<pid>/status).
pub fn rss_bytes(pid: u32) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// BLAKE3 of `data` as 64 lowercase hex digits (what `publish` and `search` report).
pub fn blake3_hex(data: &[u8]) -> String {
    blake3::hash(data).to_hex().to_string()
}

/// The result has this status and this `ok`.
/// Observe a state with `probe` until it yields a value, for at most `timeout`: for
/// states that no event announces. The short pause between observations is a polling
/// interval (the deadline, not the pause, bounds the wait), never a synchronisation.
#[track_caller]
pub fn poll_until<T>(what: &str, timeout: Duration, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = probe() {
            return v;
        }
        assert!(Instant::now() < deadline, "waited {timeout:?} for {what}");
        thread::sleep(Duration::from_millis(20));
    }
}

#[track_caller]
pub fn check(r: &serde_json::Value, status: u64, ok: bool) {
    assert_eq!(r["status"], status, "status of {r}");
    assert_eq!(r["ok"], ok, "ok of {r}");
}

/// The `users` array of a result, as names.
pub fn users_of(r: &serde_json::Value) -> Vec<String> {
    r["users"]
        .as_array()
        .unwrap_or_else(|| panic!("no users array in {r}"))
        .iter()
        .map(|u| u.as_str().expect("user name").to_owned())
        .collect()
}

/// Rot that a file's size and time stamp do not show: the byte at `at` flipped, the
/// size kept and the modification time put back. Returns the rotten bytes.
pub fn rot_in_place(path: &Path, at: usize) -> Vec<u8> {
    let mtime = fs::metadata(path).unwrap().modified().unwrap();
    let mut rotten = fs::read(path).unwrap();
    rotten[at] ^= 0xFF;
    fs::write(path, &rotten).unwrap();
    File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    rotten
}

/// Deterministic pseudo-random bytes (xorshift), different per seed.
pub fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// The verified bytes the client's record of partial downloads (in `share`) holds for
/// `dest`: its chunk groups, at 16 KiB each (the file's last may be shorter, so this
/// is an upper bound by less than a group; 0 when there is no record).
pub fn verified_in_record(share: &Path, dest: &str) -> u64 {
    let text = fs::read_to_string(share.join(".peerhub-partials.json")).unwrap_or_default();
    let records: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap_or_default();
    let Some(record) = records.iter().find(|r| r["dest"] == dest) else {
        return 0;
    };
    let size = record["size"].as_u64().unwrap_or(0);
    let groups: u64 = record["verified"]
        .as_array()
        .map(|ranges| {
            ranges
                .iter()
                .map(|r| r[1].as_u64().unwrap_or(0) - r[0].as_u64().unwrap_or(0))
                .sum()
        })
        .unwrap_or(0);
    (groups * 16_384).min(size)
}
