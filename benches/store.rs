//! Store speed: a release-built client uploads into the hub's store and another
//! downloads back out of it, over loopback, page cache warm — one big file, then a tree
//! of small files. Every byte is hashed on both sides and verified before the entry
//! (or the download) becomes visible. The baseline, measured in the same run: a plain
//! blocking TCP copy (file → socket → file, 256 KiB buffers, two threads) of the same
//! big file, and of the same small files one after another over one connection.
//! Prints MiB/s and files/s (medians of the runs) and the ratios to the baseline.
//!
//! Settings (environment):
//! - `PEERHUB_BENCH_MB`     big file size in MiB (256)
//! - `PEERHUB_BENCH_FILES`  files in the tree (2000; 1–16 KiB each, 20 per directory)
//! - `PEERHUB_BENCH_RUNS`   measured runs per system (3)
//!
//! Under `cargo test --benches` (no `--bench` argument) it only runs a short smoke round.

mod xfer;

use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Instant;
use xfer::{make_file, tcp_copy, Client, Encryption, BUF, FETCH_TIMEOUT, MIB};

fn main() {
    if let Err(e) = bench() {
        eprintln!("store bench failed: {e}");
        std::process::exit(1);
    }
}

fn is_bench() -> bool {
    std::env::args().any(|a| a == "--bench")
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// The hub, started as the bench suite starts every hub; killed on drop.
struct HubProc {
    child: Child,
    addr: SocketAddr,
}

impl HubProc {
    fn start(data: &Path) -> io::Result<HubProc> {
        let mut child = Command::new(env!("CARGO_BIN_EXE_peerhub"))
            .args([
                "server",
                "--listen",
                "127.0.0.1:0",
                "--json",
                "--auth-rate",
                "0",
            ])
            .args(["--store-quota", "0", "--store-max-file", "0"])
            // Its raw upload driver and its clients speak plaintext.
            .arg("--insecure-plaintext")
            .arg("--data")
            .arg(data)
            .env_remove("RUST_LOG")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| io::Error::other("no stdout"))?;
        let mut first = String::new();
        let mut reader = BufReader::new(stdout);
        reader.read_line(&mut first)?;
        let v: serde_json::Value = serde_json::from_str(&first).map_err(io::Error::other)?;
        let addr = v["addr"]
            .as_str()
            .and_then(|a| a.parse().ok())
            .ok_or_else(|| io::Error::other(format!("no listening event: {first}")))?;
        // Keep draining its stdout so it never blocks on a full pipe.
        std::thread::spawn(move || for _ in reader.lines() {});
        Ok(HubProc { child, addr })
    }
}

impl Drop for HubProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A tree of `n` files of 1–16 KiB, 20 per directory; its files' relative paths.
fn make_tree(root: &Path, n: usize) -> io::Result<Vec<PathBuf>> {
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    let mut files = Vec::new();
    for i in 0..n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let size = 1024 + (x % (15 * 1024 + 1)) as usize;
        let rel = PathBuf::from(format!("d{:03}/f{i:05}.bin", i / 20));
        fs::create_dir_all(root.join(rel.parent().unwrap_or(Path::new(""))))?;
        let mut data = vec![0u8; size];
        for (j, chunk) in data.chunks_mut(8).enumerate() {
            let v = x.wrapping_add(j as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            chunk.copy_from_slice(&v.to_le_bytes()[..chunk.len()]);
        }
        fs::write(root.join(&rel), &data)?;
        files.push(rel);
    }
    Ok(files)
}

/// The baseline for a tree: each file's name, size and bytes over one connection,
/// written out by the receiver (directories created as needed).
fn tcp_copy_tree(src: &Path, files: &[PathBuf], dst: &Path) -> io::Result<f64> {
    settle();
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let dst = dst.to_path_buf();
    let t = Instant::now();
    let receiver = std::thread::spawn(move || -> io::Result<usize> {
        let (sock, _) = listener.accept()?;
        let mut sock = io::BufReader::with_capacity(BUF, sock);
        let mut buf = vec![0u8; BUF];
        let mut count = 0;
        loop {
            let mut head = [0u8; 2];
            match sock.read_exact(&mut head) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(count),
                Err(e) => return Err(e),
            }
            let mut name = vec![0u8; u16::from_be_bytes(head) as usize];
            sock.read_exact(&mut name)?;
            let mut size = [0u8; 8];
            sock.read_exact(&mut size)?;
            let mut left = u64::from_be_bytes(size) as usize;
            let path = dst.join(String::from_utf8_lossy(&name).as_ref());
            if let Some(parent) = path.parent() {
                fs::create_dir_all(parent)?;
            }
            let mut out = File::create(&path)?;
            while left > 0 {
                let n = left.min(buf.len());
                sock.read_exact(&mut buf[..n])?;
                out.write_all(&buf[..n])?;
                left -= n;
            }
            count += 1;
        }
    });
    let mut sock = io::BufWriter::with_capacity(BUF, TcpStream::connect(addr)?);
    let mut buf = vec![0u8; BUF];
    for rel in files {
        let name = rel.to_string_lossy();
        let mut f = File::open(src.join(rel))?;
        let size = f.metadata()?.len();
        sock.write_all(&(name.len() as u16).to_be_bytes())?;
        sock.write_all(name.as_bytes())?;
        sock.write_all(&size.to_be_bytes())?;
        loop {
            let n = f.read(&mut buf)?;
            if n == 0 {
                break;
            }
            sock.write_all(&buf[..n])?;
        }
    }
    drop(sock);
    let got = receiver
        .join()
        .map_err(|_| io::Error::other("receiver panicked"))??;
    let secs = t.elapsed().as_secs_f64();
    if got != files.len() {
        return Err(io::Error::other("baseline tree copy was short"));
    }
    Ok(secs)
}

/// Let the kernel write back what earlier steps left dirty, so one step's writeback
/// does not throttle the next one's writes.
fn settle() {
    let _ = Command::new("sync").status();
}

/// Seconds of one command that must succeed.
fn timed(client: &mut Client, line: &str) -> io::Result<f64> {
    settle();
    let t = Instant::now();
    let id = client.send(line)?;
    let r = client.wait(id, FETCH_TIMEOUT)?;
    let secs = t.elapsed().as_secs_f64();
    if r["ok"] != true {
        return Err(io::Error::other(format!("{line}: {r}")));
    }
    Ok(secs)
}

fn bench() -> io::Result<()> {
    let quick = !is_bench();
    let mb = env_usize("PEERHUB_BENCH_MB", if quick { 8 } else { 256 }).max(1);
    let nfiles = env_usize("PEERHUB_BENCH_FILES", if quick { 100 } else { 2000 }).max(1);
    let runs = env_usize("PEERHUB_BENCH_RUNS", if quick { 1 } else { 3 }).max(1);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let root = std::env::temp_dir().join(format!(
        "peerhub-bench-store-{}-{nanos}",
        std::process::id()
    ));
    fs::create_dir_all(&root)?;
    let result = measure(&root, mb, nfiles, runs);
    let _ = fs::remove_dir_all(&root);
    result
}

/// Medians of several runs of one system.
#[derive(Default)]
struct Rates {
    up: Vec<f64>,
    down: Vec<f64>,
    base: Vec<f64>,
}

fn measure(root: &Path, mb: usize, nfiles: usize, runs: usize) -> io::Result<()> {
    let hub = HubProc::start(&root.join("data"))?;
    let up_dir = root.join("up");
    let down_dir = root.join("down");
    let mut up = Client::start(hub.addr, &up_dir, Encryption::Plaintext)?;
    let mut down = Client::start(hub.addr, &down_dir, Encryption::Plaintext)?;
    up.run("register uploader pw")?;
    up.run("login uploader pw")?;
    down.run("register downloader pw")?;
    down.run("login downloader pw")?;

    let size = (mb * 1024 * 1024) as u64;
    make_file(&up_dir.join("big.bin"), size as usize)?;
    let files = make_tree(&up_dir.join("tree"), nfiles)?;
    let tree_bytes: u64 = files
        .iter()
        .map(|f| fs::metadata(up_dir.join("tree").join(f)).map_or(0, |m| m.len()))
        .sum();

    // Warm the page cache and every path once, unmeasured.
    let base_dst = root.join("baseline.bin");
    tcp_copy(&up_dir.join("big.bin"), &base_dst)?;
    fs::remove_file(&base_dst)?;
    timed(&mut up, "upload big.bin warm")?;
    timed(&mut down, "download warm warm.bin")?;
    fs::remove_file(down_dir.join("warm.bin"))?;

    let mut big = Rates::default();
    let mut tree = Rates::default();
    for run in 0..runs {
        settle();
        let secs = tcp_copy(&up_dir.join("big.bin"), &base_dst)?;
        fs::remove_file(&base_dst)?;
        big.base.push(size as f64 / MIB / secs);
        let secs = timed(&mut up, &format!("upload big.bin big{run} --replace"))?;
        big.up.push(size as f64 / MIB / secs);
        let secs = timed(&mut down, &format!("download big{run} big{run}.bin"))?;
        big.down.push(size as f64 / MIB / secs);
        fs::remove_file(down_dir.join(format!("big{run}.bin")))?;

        let base_tree = root.join(format!("baseline-tree{run}"));
        let secs = tcp_copy_tree(&up_dir.join("tree"), &files, &base_tree)?;
        fs::remove_dir_all(&base_tree)?;
        tree.base.push(nfiles as f64 / secs);
        let secs = timed(&mut up, &format!("upload tree tree{run}"))?;
        tree.up.push(nfiles as f64 / secs);
        let secs = timed(&mut down, &format!("download tree{run}"))?;
        tree.down.push(nfiles as f64 / secs);
        fs::remove_dir_all(down_dir.join(format!("tree{run}")))?;
    }

    let fmt = |v: &[f64]| {
        v.iter()
            .map(|r| format!("{r:.0}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
    let (bu, bd, bb) = (
        median(big.up.clone()),
        median(big.down.clone()),
        median(big.base.clone()),
    );
    let (tu, td, tb) = (
        median(tree.up.clone()),
        median(tree.down.clone()),
        median(tree.base.clone()),
    );
    let kib_per_file = tree_bytes as f64 / nfiles as f64 / 1024.0;
    println!();
    println!("store over loopback, page cache warm, median of {runs} run(s)");
    println!("big file: {mb} MiB");
    println!("{:<48} {:>10}   runs", "system", "MiB/s");
    println!(
        "{:<48} {bu:>10.0}   {}",
        "peerhub upload (hash, verify, commit)",
        fmt(&big.up)
    );
    println!(
        "{:<48} {bd:>10.0}   {}",
        "peerhub download (sendfile, hash, verify)",
        fmt(&big.down)
    );
    println!(
        "{:<48} {bb:>10.0}   {}",
        "baseline: blocking TCP copy, 256 KiB buffers",
        fmt(&big.base)
    );
    println!(
        "ratio upload/baseline {:.2}, download/baseline {:.2}",
        ratio(bu, bb),
        ratio(bd, bb)
    );
    println!();
    println!("tree: {nfiles} files of 1-16 KiB (mean {kib_per_file:.1} KiB), 20 per directory");
    println!(
        "{:<48} {:>10} {:>10}   runs (files/s)",
        "system", "files/s", "MiB/s"
    );
    let mibs = |files_per_s: f64| files_per_s * tree_bytes as f64 / nfiles as f64 / MIB;
    println!(
        "{:<48} {tu:>10.0} {:>10.1}   {}",
        "peerhub upload",
        mibs(tu),
        fmt(&tree.up)
    );
    println!(
        "{:<48} {td:>10.0} {:>10.1}   {}",
        "peerhub download",
        mibs(td),
        fmt(&tree.down)
    );
    println!(
        "{:<48} {tb:>10.0} {:>10.1}   {}",
        "baseline: one TCP stream, file after file",
        mibs(tb),
        fmt(&tree.base)
    );
    println!(
        "ratio upload/baseline {:.2}, download/baseline {:.2}",
        ratio(tu, tb),
        ratio(td, tb)
    );
    Ok(())
}
