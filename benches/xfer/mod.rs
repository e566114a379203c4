//! What the transfer and store benches share: a `peerhub client --json` driven over its
//! stdin (plaintext or TLS, [`Encryption`]), a file of incompressible-looking bytes, and
//! the plain-TCP baseline (a blocking file → socket → file copy between two threads with
//! 256 KiB buffers). The transfer bench's other baselines live beside: `scp` and `rsync`
//! against daemons of its own (`tools.rs`), and what decrypting TLS costs one core
//! (`tls_floor.rs`).

// Each bench uses a different part of this module.
#![allow(dead_code)]

pub mod tls_floor;
pub mod tools;

use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

/// Bytes in a MiB, as a float for rates.
pub const MIB: f64 = 1024.0 * 1024.0;
/// The baseline's buffer size.
pub const BUF: usize = 256 * 1024;
/// How long one transfer command may take.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(300);

/// How a client speaks to its hub and its peers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encryption {
    /// `--insecure-plaintext`: for a hub started with `HubProcess::start`; peer
    /// fetches plaintext too (still ticketed).
    Plaintext,
    /// TLS 1.3, the default: for a hub started with `HubProcess::start_tls` (pinned on
    /// first use); peer fetches over mutual TLS.
    Tls,
}

/// A `peerhub client --json` with a piped stdin and its stdout lines on a channel.
pub struct Client {
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<serde_json::Value>,
    sent: u64,
    pub share: PathBuf,
}

impl Client {
    /// A client of the hub at `hub` with `share` as its share dir (created) and its
    /// working directory, speaking as `encryption` says (as the hub does).
    pub fn start(hub: SocketAddr, share: &Path, encryption: Encryption) -> io::Result<Client> {
        Client::start_with(hub, share, encryption, &[])
    }

    /// As [`Client::start`], with `extra` flags after the others (`--upload-rate N`).
    pub fn start_with(
        hub: SocketAddr,
        share: &Path,
        encryption: Encryption,
        extra: &[&str],
    ) -> io::Result<Client> {
        fs::create_dir_all(share)?;
        let plaintext: &[&str] = match encryption {
            Encryption::Plaintext => &["--insecure-plaintext"],
            Encryption::Tls => &[],
        };
        // `PEERHUB_BENCH_CLIENT_BIN` runs another build's clients (to compare two).
        let program = std::env::var_os("PEERHUB_BENCH_CLIENT_BIN")
            .unwrap_or_else(|| env!("CARGO_BIN_EXE_peerhub").into());
        let mut child = Command::new(program)
            .args(["client", "--json", "--listen", "127.0.0.1:0"])
            .args(plaintext)
            .arg("--server")
            .arg(hub.to_string())
            .current_dir(share)
            .arg("--share")
            .arg(share)
            .args(extra)
            .env_remove("RUST_LOG")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let stdin = child
            .stdin
            .take()
            .ok_or_else(|| io::Error::other("no stdin"))?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| io::Error::other("no stdout"))?;
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) {
                    if tx.send(v).is_err() {
                        return;
                    }
                }
            }
        });
        Ok(Client {
            child,
            stdin,
            lines,
            sent: 0,
            share: share.to_path_buf(),
        })
    }

    /// The client's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Type one line; its number.
    pub fn send(&mut self, line: &str) -> io::Result<u64> {
        writeln!(self.stdin, "{line}")?;
        self.stdin.flush()?;
        self.sent += 1;
        Ok(self.sent)
    }

    /// The result of line `id`.
    pub fn wait(&mut self, id: u64, timeout: Duration) -> io::Result<serde_json::Value> {
        self.wait_seeing(id, timeout, |_| {})
    }

    /// As [`Client::wait`], handing every other line that comes first (events, other
    /// results) to `seen`.
    pub fn wait_seeing(
        &mut self,
        id: u64,
        timeout: Duration,
        mut seen: impl FnMut(&serde_json::Value),
    ) -> io::Result<serde_json::Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let v = self
                .lines
                .recv_timeout(left)
                .map_err(|_| io::Error::other(format!("no result for line {id}")))?;
            if v["type"] == "result" && v["id"] == id {
                return Ok(v);
            }
            seen(&v);
        }
    }

    /// Run a command that must succeed.
    pub fn run(&mut self, line: &str) -> io::Result<serde_json::Value> {
        let id = self.send(line)?;
        let r = self.wait(id, FETCH_TIMEOUT)?;
        if r["ok"] != true {
            return Err(io::Error::other(format!("{line}: {r}")));
        }
        Ok(r)
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A file of `len` bytes of incompressible-looking data.
pub fn make_file(path: &Path, len: usize) -> io::Result<()> {
    let mut f = io::BufWriter::with_capacity(BUF, File::create(path)?);
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut block = vec![0u8; BUF];
    let mut left = len;
    while left > 0 {
        for chunk in block.chunks_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let bytes = x.to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
        let n = left.min(BUF);
        f.write_all(&block[..n])?;
        left -= n;
    }
    f.flush()
}

/// The baseline: a blocking copy file → socket → file between two threads; seconds.
pub fn tcp_copy(src: &Path, dst: &Path) -> io::Result<f64> {
    Ok(tcp_copy_timed(src, dst)?.secs)
}

/// What one baseline copy took.
pub struct Copied {
    /// Wall time of the whole copy.
    pub secs: f64,
    /// CPU time of the receiving thread alone (socket → file).
    pub receiver_cpu: f64,
}

/// CPU time the calling thread has used, in seconds.
pub fn thread_cpu() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec for clock_gettime to fill in.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

/// [`tcp_copy`], also measuring the receiving thread's CPU time.
pub fn tcp_copy_timed(src: &Path, dst: &Path) -> io::Result<Copied> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let dst = dst.to_path_buf();
    let t = Instant::now();
    let receiver = std::thread::spawn(move || -> io::Result<(u64, f64)> {
        let (mut sock, _) = listener.accept()?;
        let cpu = thread_cpu();
        let mut out = File::create(&dst)?;
        let mut buf = vec![0u8; BUF];
        let mut total = 0;
        loop {
            let n = sock.read(&mut buf)?;
            if n == 0 {
                return Ok((total, thread_cpu() - cpu));
            }
            out.write_all(&buf[..n])?;
            total += n as u64;
        }
    });
    let mut file = File::open(src)?;
    let mut sock = TcpStream::connect(addr)?;
    let mut buf = vec![0u8; BUF];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        sock.write_all(&buf[..n])?;
    }
    drop(sock);
    let (got, receiver_cpu) = receiver
        .join()
        .map_err(|_| io::Error::other("receiver panicked"))??;
    let secs = t.elapsed().as_secs_f64();
    if got != fs::metadata(src)?.len() {
        return Err(io::Error::other("baseline copy was short"));
    }
    Ok(Copied { secs, receiver_cpu })
}
