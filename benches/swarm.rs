//! Swarm downloads: one file fetched from several holders at once over loopback, every
//! 16 KiB chunk group verified against the file's BLAKE3 root as it arrives — from one
//! holder unlimited (the single-holder fetch, the baseline of the ratios), from 1, 2 and
//! 4 holders each capped by `--upload-rate` at a quarter of the machine's raw TCP copy
//! speed (measured first, in the same run: `xfer::tcp_copy_timed`), and from 4 capped
//! holders of which one serves a copy rotted behind its stamp's back (4 KiB flipped in
//! the middle of every MiB after it published, size and mtime put back). Every process
//! is a release-built `peerhub` over TLS 1.3 (the default); each scenario has a hub of
//! its own, so a fetch sees exactly the holders it is meant to; page cache warm.
//!
//! Prints, per row, the aggregate MiB/s and the fetcher's CPU per GiB (medians of the
//! runs, alternated round by round), the ratio to the unlimited single-holder fetch,
//! and the `sources` / `bad_sources` the fetch reported; every fetched file is hashed
//! by the bench and compared with the original. Then the targets: 4 capped holders
//! ≥ 3.5× 1 capped holder; corrupt-among-4 ≥ 0.7× clean 4 with the file verified; and
//! the fetcher's CPU per GiB of the unlimited single-holder fetch (what chunked
//! verification costs, beside what receiving alone cost the raw copy's receiver).
//!
//! Settings (environment):
//! - `PEERHUB_BENCH_SWARM_MIB`       file size in MiB (1024)
//! - `PEERHUB_BENCH_RUNS`            measured runs per row (3)
//! - `PEERHUB_BENCH_SWARM_RATE_MIB`  each capped holder's `--upload-rate` in MiB/s
//!   (default: a quarter of the raw copy's median)
//!
//! Under `cargo test --benches` (no `--bench` argument) it only runs a short smoke round.

mod common;
mod xfer;

use common::blocking::per_address_limits_lifted;
use common::rows::Measure;
use common::{alternate, env_usize, is_bench, median, process_cpu, HubProcess, Row, RunStats};
use std::cell::RefCell;
use std::fs::{self, File};
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, Instant};
use xfer::{make_file, tcp_copy, tcp_copy_timed, Client, Encryption, FETCH_TIMEOUT, MIB};

/// Bytes in a GiB, as a float for CPU per GiB.
const GIB: f64 = 1024.0 * MIB;
/// The rotten holder's copy: `ROT_LEN` bytes flipped in the middle of every
/// `ROT_STRIDE` bytes, so every segment a fetcher can hand it (1 MiB at least) holds a
/// bad group, wherever in the file it lies.
const ROT_STRIDE: u64 = 1 << 20;
const ROT_LEN: usize = 4096;

fn main() {
    if let Err(e) = bench() {
        eprintln!("swarm bench failed: {e}");
        std::process::exit(1);
    }
}

fn bench() -> io::Result<()> {
    let quick = !is_bench();
    let mib = env_usize("PEERHUB_BENCH_SWARM_MIB", if quick { 8 } else { 1024 }).max(1);
    let runs = env_usize("PEERHUB_BENCH_RUNS", if quick { 1 } else { 3 }).max(1);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let root = std::env::temp_dir().join(format!(
        "peerhub-bench-swarm-{}-{nanos}",
        std::process::id()
    ));
    fs::create_dir_all(&root)?;
    let result = measure(&root, mib, runs);
    let _ = fs::remove_dir_all(&root);
    result
}

/// The file every holder serves: where it lies, its size and its BLAKE3 hash.
struct Original {
    path: PathBuf,
    size: u64,
    hash: blake3::Hash,
}

/// What one fetch reported and what the bench found.
#[derive(Clone, Default)]
struct Seen {
    secs: f64,
    /// `from`: the main source.
    from: String,
    /// `sources`: each holder's verified bytes; `None` if the result had no such field.
    sources: Option<Vec<(String, u64)>>,
    /// `bad_sources`: holders dropped for bad data.
    bad: Vec<String>,
    /// `source_dropped` events: the holder, whether for bad data, and why.
    dropped: Vec<(String, bool, String)>,
    /// The fetched file hashes to the original's hash.
    verified: bool,
}

/// One scenario: a TLS hub of its own, its holders of `data.bin`, one fetcher.
struct Group {
    hub: HubProcess,
    root: PathBuf,
    prefix: &'static str,
    /// Kept alive: they serve the fetches.
    _holders: Vec<Client>,
    fetcher: Client,
    original: Rc<Original>,
    /// Fetches so far (each lands under a name of its own).
    fetches: usize,
    /// The holder that serves a rotten copy, started afresh before each fetch.
    rotten: Option<Rotten>,
}

/// The rotten holder: its copy of the file (a real copy, not a link), where it lies
/// now, whether it is rotted, and the process serving it.
struct Rotten {
    file: PathBuf,
    rotted: bool,
    client: Option<Client>,
    generation: usize,
    rate: u64,
}

impl Group {
    /// A hub with `holders` holders (`<prefix>1`…) each serving a hard link to the
    /// original (one file in the page cache), capped at `rate` bytes/s if given, and a
    /// fetcher; everyone registered and logged in, every holder published.
    fn start(
        root: &Path,
        prefix: &'static str,
        holders: usize,
        rate: Option<u64>,
        original: &Rc<Original>,
    ) -> io::Result<Group> {
        let hub = HubProcess::start_tls(&per_address_limits_lifted())?;
        let mut list = Vec::new();
        for i in 1..=holders {
            let user = format!("{prefix}{i}");
            let share = root.join(&user);
            fs::create_dir_all(&share)?;
            fs::hard_link(&original.path, share.join("data.bin"))?;
            list.push(holder(&hub, &share, &user, rate)?);
        }
        let share = root.join(format!("{prefix}-fetcher"));
        let mut fetcher = Client::start(hub.addr, &share, Encryption::Tls)?;
        let user = format!("{prefix}-fetcher");
        fetcher.run(&format!("register {user} pw"))?;
        fetcher.run(&format!("login {user} pw"))?;
        Ok(Group {
            hub,
            root: root.to_path_buf(),
            prefix,
            _holders: list,
            fetcher,
            original: original.clone(),
            fetches: 0,
            rotten: None,
        })
    }

    /// Give the group a rotten holder capped at `rate`: its own copy of the original,
    /// synced to disk so that its write-back does not run into a measured fetch.
    fn add_rotten(&mut self, rate: u64) -> io::Result<()> {
        let dir = self.root.join(format!("{}-rotten-copy", self.prefix));
        fs::create_dir_all(&dir)?;
        let file = dir.join("data.bin");
        fs::copy(&self.original.path, &file)?;
        File::open(&file)?.sync_all()?;
        self.rotten = Some(Rotten {
            file,
            rotted: false,
            client: None,
            generation: 0,
            rate,
        });
        Ok(())
    }

    /// Replace the rotten holder by a fresh one, in a fresh share dir (nothing
    /// remembered from the last one, which may have caught the rot and hashed its copy
    /// again): the good bytes back, published, then rotted behind the stamp's back.
    fn renew_rotten(&mut self) -> io::Result<()> {
        let Some(rotten) = self.rotten.as_mut() else {
            return Ok(());
        };
        rotten.client = None;
        rotten.generation += 1;
        let user = format!("{}-rotten{}", self.prefix, rotten.generation);
        let share = self.root.join(&user);
        fs::create_dir_all(&share)?;
        let file = share.join("data.bin");
        fs::rename(&rotten.file, &file)?;
        if let Some(old) = rotten.file.parent() {
            let _ = fs::remove_dir_all(old);
        }
        rotten.file = file;
        if rotten.rotted {
            flip(&rotten.file)?;
            rotten.rotted = false;
        }
        rotten.client = Some(holder(&self.hub, &share, &user, Some(rotten.rate))?);
        flip(&rotten.file)?;
        rotten.rotted = true;
        Ok(())
    }

    /// One fetch of `data.bin` with `options`: its wall time and the fetcher's CPU as
    /// a run (see [`FetchRow`]), and what it reported.
    fn fetch(&mut self, options: &str) -> io::Result<(RunStats, Seen)> {
        self.fetches += 1;
        let dest = format!("got{}.bin", self.fetches);
        let path = self.fetcher.share.join(&dest);
        let _ = fs::remove_file(&path);
        let cpu = |pid: u32| process_cpu(pid).unwrap_or_default();
        let before = cpu(self.fetcher.pid());
        // Another build's clients (`PEERHUB_BENCH_CLIENT_BIN`, to compare with a build
        // before swarm fetches) take no `--sources`: each of their fetches has one holder.
        let options = if std::env::var_os("PEERHUB_BENCH_CLIENT_BIN").is_some() {
            ""
        } else {
            options
        };
        let line = format!("fetch data.bin --as {dest} {options}");
        let mut dropped = Vec::new();
        let t = Instant::now();
        let id = self.fetcher.send(&line)?;
        let r = self.fetcher.wait_seeing(id, FETCH_TIMEOUT, |v| {
            if v["event"] == "source_dropped" {
                let text = |key: &str| v[key].as_str().unwrap_or("?").to_string();
                dropped.push((text("user"), v["bad"] == true, text("message")));
            }
        })?;
        let elapsed = t.elapsed();
        if r["ok"] != true {
            return Err(io::Error::other(format!("{line}: {r}")));
        }
        let fetcher_cpu = cpu(self.fetcher.pid()).saturating_sub(before);
        if r["bytes"].as_u64() != Some(self.original.size) {
            return Err(io::Error::other(format!("short fetch: {r}")));
        }
        let seen = Seen {
            secs: elapsed.as_secs_f64(),
            from: r["from"].as_str().unwrap_or("?").to_string(),
            sources: r["sources"].as_array().map(|list| {
                list.iter()
                    .map(|s| {
                        let user = s["user"].as_str().unwrap_or("?").to_string();
                        (user, s["bytes"].as_u64().unwrap_or(0))
                    })
                    .collect()
            }),
            bad: r["bad_sources"]
                .as_array()
                .map(|list| {
                    let names = list.iter().map(|u| u.as_str().unwrap_or("?").to_string());
                    names.collect()
                })
                .unwrap_or_default(),
            dropped,
            verified: file_hash(&path)? == self.original.hash,
        };
        fs::remove_file(&path)?;
        let stats = RunStats {
            replies: self.original.size,
            elapsed,
            server_cpu: Some(fetcher_cpu),
            ..RunStats::default()
        };
        Ok((stats, seen))
    }
}

/// A holder `user` of `share/data.bin`, capped at `rate` bytes/s if given: started,
/// registered, logged in and published (its result comes once the file is hashed).
fn holder(hub: &HubProcess, share: &Path, user: &str, rate: Option<u64>) -> io::Result<Client> {
    let rate = rate.map(|r| r.to_string());
    let extra: Vec<&str> = match &rate {
        Some(r) => vec!["--upload-rate", r],
        None => Vec::new(),
    };
    let mut client = Client::start_with(hub.addr, share, Encryption::Tls, &extra)?;
    client.run(&format!("register {user} pw"))?;
    client.run(&format!("login {user} pw"))?;
    client.run("publish data.bin")?;
    Ok(client)
}

/// Flip `ROT_LEN` bytes in the middle of every `ROT_STRIDE` of `path` (flipping twice
/// restores it), then put its mtime back: same size, same time, other bytes.
fn flip(path: &Path) -> io::Result<()> {
    let mtime = fs::metadata(path)?.modified()?;
    let file = File::options().read(true).write(true).open(path)?;
    let len = file.metadata()?.len();
    let mut buf = vec![0u8; ROT_LEN];
    let mut at = ROT_STRIDE / 2;
    while at + ROT_LEN as u64 <= len {
        file.read_exact_at(&mut buf, at)?;
        for b in &mut buf {
            *b ^= 0xFF;
        }
        file.write_all_at(&buf, at)?;
        at += ROT_STRIDE;
    }
    file.set_modified(mtime)
}

/// The BLAKE3 hash of a file.
fn file_hash(path: &Path) -> io::Result<blake3::Hash> {
    let mut hasher = blake3::Hasher::new();
    let mut file = File::open(path)?;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            return Ok(hasher.finalize());
        }
        hasher.update(&buf[..n]);
    }
}

/// One row of the table: a fetch with `options` in `group`. A fetch is one run whose
/// "replies" are its bytes, so [`RunStats::rate`] is bytes/s and
/// [`RunStats::cpu_us_per_reply`] the fetcher's CPU µs per byte (the fetcher is the
/// process watched, in `server_cpu`).
struct FetchRow {
    group: Rc<RefCell<Group>>,
    options: &'static str,
    /// Start a fresh rotten holder before each fetch.
    rotten: bool,
    seen: Rc<RefCell<Vec<Seen>>>,
}

impl Measure for FetchRow {
    fn measure(&mut self, _warmup: Duration, _duration: Duration) -> io::Result<RunStats> {
        let mut group = self.group.borrow_mut();
        if self.rotten {
            group.renew_rotten()?;
        }
        let (stats, seen) = group.fetch(self.options)?;
        self.seen.borrow_mut().push(seen);
        Ok(stats)
    }
}

/// The rows, in the order they run in a round and are printed.
const SOLO: usize = 0;
const CAPPED1: usize = 1;
const CAPPED4: usize = 3;
const ROTTEN4: usize = 4;

fn measure(root: &Path, mib: usize, runs: usize) -> io::Result<()> {
    let size = (mib as u64) << 20;
    let path = root.join("data.bin");
    make_file(&path, size as usize)?;
    let original = Rc::new(Original {
        hash: file_hash(&path)?,
        path,
        size,
    });

    // The raw copy first: the caps derive from it. Warm once, then the runs.
    let dst = root.join("copy.bin");
    tcp_copy(&original.path, &dst)?;
    let (mut raw, mut receiver_cpu) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        let copied = tcp_copy_timed(&original.path, &dst)?;
        raw.push(size as f64 / MIB / copied.secs);
        receiver_cpu.push(copied.receiver_cpu);
    }
    let _ = fs::remove_file(&dst);
    let raw_mib = median(raw.clone());
    let cap_mib = std::env::var("PEERHUB_BENCH_SWARM_RATE_MIB")
        .ok()
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|&v| v > 0.0)
        .unwrap_or(raw_mib / 4.0);
    let cap = ((cap_mib * MIB) as u64).max(1);

    let solo = Group::start(root, "solo", 1, None, &original)?;
    let capped = Group::start(root, "capped", 4, Some(cap), &original)?;
    let mut mixed = Group::start(root, "mixed", 3, Some(cap), &original)?;
    let groups = [solo, capped].map(|g| Rc::new(RefCell::new(g)));
    // Warm every group's path once, unmeasured (the mixed one before its rotten holder).
    mixed.fetch("--sources 4")?;
    mixed.add_rotten(cap)?;
    let mixed = Rc::new(RefCell::new(mixed));
    for group in &groups {
        group.borrow_mut().fetch("--sources 4")?;
    }
    let plan: [(&str, &Rc<RefCell<Group>>, &'static str, bool); 5] = [
        ("1 holder, unlimited", &groups[0], "", false),
        ("1 holder, capped", &groups[1], "--sources 1", false),
        ("2 holders, capped", &groups[1], "--sources 2", false),
        ("4 holders, capped", &groups[1], "--sources 4", false),
        ("4 capped holders, 1 rotten", &mixed, "--sources 4", true),
    ];
    let mut rows = Vec::new();
    let mut seen = Vec::new();
    for (name, group, options, rotten) in plan {
        let log = Rc::new(RefCell::new(Vec::new()));
        let row = FetchRow {
            group: group.clone(),
            options,
            rotten,
            seen: log.clone(),
        };
        rows.push(Row::new(name, row));
        seen.push(log);
    }
    alternate(&mut rows, runs, Duration::ZERO, Duration::ZERO, |_| {})?;
    let seen: Vec<Vec<Seen>> = seen.iter().map(|s| s.borrow().clone()).collect();
    let report = Report {
        mib,
        runs,
        raw,
        receiver_cpu: median(receiver_cpu) / (size as f64 / GIB),
        cap_mib,
    };
    report.print(&rows, &seen);
    Ok(())
}

/// What the table needs besides the rows.
struct Report {
    mib: usize,
    runs: usize,
    /// The raw copy's MiB/s per run.
    raw: Vec<f64>,
    /// The raw copy's receiving thread's CPU seconds per GiB (median).
    receiver_cpu: f64,
    cap_mib: f64,
}

impl Report {
    fn print(&self, rows: &[Row], seen: &[Vec<Seen>]) {
        let mib_s = |row: &Row| row.summary.median_rate() / MIB;
        // µs per byte → ms per GiB.
        let cpu_ms = |row: &Row| row.summary.median_cpu_us().map(|us| us * GIB / 1e3);
        let base = rows.get(SOLO).map_or(0.0, mib_s);
        let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
        println!();
        println!(
            "swarm fetch over loopback, TLS 1.3: {} MiB, page cache warm, median of {} run(s), \
             alternated; every fetched file hashed and compared with the original",
            self.mib, self.runs
        );
        let runs: Vec<String> = self.raw.iter().map(|r| format!("{r:.0}")).collect();
        println!(
            "baseline: blocking TCP copy {:.0} MiB/s ({}) -> each capped holder's \
             --upload-rate {:.0} MiB/s",
            median(self.raw.clone()),
            runs.join(", "),
            self.cap_mib
        );
        println!(
            "{:<30} {:>8} {:>11} {:>12}   runs (MiB/s)",
            "fetch", "MiB/s", "CPU ms/GiB", "x unlimited"
        );
        for row in rows {
            let runs: Vec<String> = row
                .summary
                .runs
                .iter()
                .map(|r| format!("{:.0}", r.rate() / MIB))
                .collect();
            println!(
                "{:<30} {:>8.0} {:>11} {:>12.2}   {}",
                row.summary.name,
                mib_s(row),
                cpu_ms(row).map_or("-".into(), |c| format!("{c:.0}")),
                ratio(mib_s(row), base),
                runs.join(", ")
            );
        }
        println!(
            "sources (MiB each holder gave) and source_dropped events of the median run; \
             bad_sources of all runs:"
        );
        for (row, seen) in rows.iter().zip(seen) {
            println!("  {:<28} {}", row.summary.name, describe(seen));
        }
        let at = |i: usize| rows.get(i).map_or(0.0, mib_s);
        println!(
            "4 capped holders / 1 capped holder: {:.2} (target >= 3.5)",
            ratio(at(CAPPED4), at(CAPPED1))
        );
        let rotten = seen.get(ROTTEN4).map_or(&[][..], Vec::as_slice);
        let good = rotten.iter().filter(|s| s.verified).count();
        println!(
            "rotten among 4 / clean 4: {:.2} (target >= 0.7); the fetched file verified in \
             {good} of {} run(s)",
            ratio(at(ROTTEN4), at(CAPPED4)),
            rotten.len()
        );
        if let Some(solo) = rows.get(SOLO) {
            let load = solo.summary.median_server_load().unwrap_or(0.0);
            println!(
                "chunked verification's CPU: the unlimited single-holder fetcher spent {} ms \
                 per GiB ({:.0} % of one core); receiving alone cost the raw copy's receiver \
                 {:.0} ms per GiB",
                cpu_ms(solo).map_or("-".into(), |c| format!("{c:.0}")),
                load * 100.0,
                self.receiver_cpu * 1e3
            );
        }
    }
}

/// One row's sources: who gave what in its median run, who was dropped in any run,
/// and whether every fetched file verified.
fn describe(seen: &[Seen]) -> String {
    let mut by_time: Vec<&Seen> = seen.iter().collect();
    by_time.sort_by(|a, b| a.secs.total_cmp(&b.secs));
    let Some(mid) = by_time.get(by_time.len() / 2) else {
        return "no runs".into();
    };
    let sources = match &mid.sources {
        Some(list) => {
            let each: Vec<String> = list
                .iter()
                .map(|(user, bytes)| format!("{user} {}", mib(*bytes)))
                .collect();
            each.join(", ")
        }
        None => "no sources field".into(),
    };
    let mut bad: Vec<&str> = seen
        .iter()
        .flat_map(|s| s.bad.iter().map(String::as_str))
        .collect();
    bad.sort_unstable();
    bad.dedup();
    let bad = if bad.is_empty() {
        "-".to_string()
    } else {
        bad.join(", ")
    };
    let dropped: Vec<String> = mid
        .dropped
        .iter()
        .map(|(user, bad, why)| {
            let fault = if *bad { "bad data" } else { "not bad data" };
            format!("{user} ({fault}: {why})")
        })
        .collect();
    let dropped = if dropped.is_empty() {
        "-".to_string()
    } else {
        dropped.join(", ")
    };
    let verified = seen.iter().filter(|s| s.verified).count();
    format!(
        "from {}: {sources}; bad_sources: {bad}; dropped: {dropped}; verified {verified}/{}",
        mid.from,
        seen.len()
    )
}

/// Bytes as MiB, with a decimal below 10 MiB.
fn mib(bytes: u64) -> String {
    let m = bytes as f64 / MIB;
    if m < 10.0 {
        format!("{m:.1}")
    } else {
        format!("{m:.0}")
    }
}
