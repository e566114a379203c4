//! Transfer speed: one release-built peer publishes a file and another fetches it over
//! loopback (`fetch` = lookup at the hub, direct connection, the holder sending, the
//! fetcher hashing while receiving, then the rename: verification included), page cache
//! warm — in plaintext (`--insecure-plaintext` on hub and clients: sendfile on the
//! holder, splice on the fetcher) and over TLS 1.3 (a TLS hub, the peer fetch over
//! mutual TLS with a hub-signed ticket). The baselines, measured in the same run and
//! alternated with both fetches round by round: a plain blocking TCP copy of the same
//! file (file → socket → file, 256 KiB buffers) between two threads of this bench, and
//! the tools a user would otherwise pick — `scp` through an `sshd` of the bench's own
//! (default ciphers) and `rsync` to an `rsync --daemon` (plaintext), both on loopback
//! (`xfer/tools.rs`; a row is skipped with a note when its programs are missing).
//!
//! Prints MiB/s (median of the runs), the aggregate rate of 4 concurrent fetches from
//! one holder (4 fetching peers) in both transports, where the fetchers' CPU goes, and
//! each fetch's one-thread floor: the raw copy's wall time over what the fetcher must
//! at least spend on one core — receiving into a file (the raw copy's receiver's CPU),
//! over TLS decrypting (`xfer/tls_floor.rs`, the suite a fetch negotiates), and BLAKE3.
//!
//! Settings (environment):
//! - `PEERHUB_BENCH_MB`    file size in MiB (256)
//! - `PEERHUB_BENCH_RUNS`  measured runs per system (3)
//!
//! Under `cargo test --benches` (no `--bench` argument) it only runs a short smoke round.

mod common;
mod xfer;

use common::{env_usize, is_bench, median, process_cpu, HubProcess};
use std::fs;
use std::io;
use std::path::Path;
use std::time::Instant;
use xfer::tls_floor::decrypt_cpu;
use xfer::tools::{RsyncDaemon, Sshd};
use xfer::MIB;
use xfer::{make_file, tcp_copy, tcp_copy_timed, thread_cpu, Client, Encryption, FETCH_TIMEOUT};

/// The allocator the `peerhub` binary uses (`sys::LineAligned`), so the in-memory
/// decryption of the encrypted floor copies as a fetcher's does.
#[global_allocator]
static ALLOCATOR: peerhub::sys::LineAligned = peerhub::sys::LineAligned;

fn main() {
    if let Err(e) = bench() {
        eprintln!("transfer bench failed: {e}");
        std::process::exit(1);
    }
}

fn bench() -> io::Result<()> {
    let quick = !is_bench();
    let mb = env_usize("PEERHUB_BENCH_MB", if quick { 8 } else { 256 }).max(1);
    let runs = env_usize("PEERHUB_BENCH_RUNS", if quick { 1 } else { 3 }).max(1);
    let size = (mb * 1024 * 1024) as u64;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let root =
        std::env::temp_dir().join(format!("peerhub-bench-xfer-{}-{nanos}", std::process::id()));
    fs::create_dir_all(&root)?;
    let result = measure(&root, size, mb, runs);
    let _ = fs::remove_dir_all(&root);
    result
}

/// One transport's hub, holder (publishing `data.bin`) and 4 fetchers, logged in.
struct Swarm {
    /// Kept alive for the clients.
    _hub: HubProcess,
    holder: Client,
    fetchers: Vec<Client>,
}

impl Swarm {
    /// Its clients' share dirs are `root/<prefix>-holder` and `root/<prefix>-fetcher<i>`;
    /// the holder's `data.bin` is a hard link to `src` (one file in the page cache).
    fn start(root: &Path, encryption: Encryption, src: &Path) -> io::Result<Swarm> {
        let (hub, prefix) = match encryption {
            Encryption::Plaintext => (HubProcess::start(&[])?, "plain"),
            Encryption::Tls => (HubProcess::start_tls(&[])?, "tls"),
        };
        let share = root.join(format!("{prefix}-holder"));
        let mut holder = Client::start(hub.addr, &share, encryption)?;
        fs::hard_link(src, share.join("data.bin"))?;
        holder.run("register holder pw")?;
        holder.run("login holder pw")?;
        holder.run("publish data.bin")?;
        let mut fetchers = Vec::new();
        for i in 0..4 {
            let share = root.join(format!("{prefix}-fetcher{i}"));
            let mut c = Client::start(hub.addr, &share, encryption)?;
            c.run(&format!("register fetcher{i} pw"))?;
            c.run(&format!("login fetcher{i} pw"))?;
            fetchers.push(c);
        }
        Ok(Swarm {
            _hub: hub,
            holder,
            fetchers,
        })
    }

    /// One fetch by the first fetcher.
    fn fetch(&mut self, dest: &str, size: u64) -> io::Result<Fetched> {
        let holder = self.holder.pid();
        let fetcher = self
            .fetchers
            .first_mut()
            .ok_or_else(|| io::Error::other("no fetcher"))?;
        fetch_once(fetcher, holder, dest, size)
    }

    /// All 4 fetchers at once; their aggregate MiB/s.
    fn fetch_four(&mut self, dest: &str, size: u64) -> io::Result<f64> {
        let t = Instant::now();
        let mut ids = Vec::new();
        for f in self.fetchers.iter_mut() {
            ids.push(f.send(&format!("fetch data.bin --as {dest}"))?);
        }
        for (f, id) in self.fetchers.iter_mut().zip(ids) {
            let r = f.wait(id, FETCH_TIMEOUT)?;
            if r["status"] != 205 {
                return Err(io::Error::other(format!("concurrent fetch: {r}")));
            }
        }
        let secs = t.elapsed().as_secs_f64();
        for f in &self.fetchers {
            fs::remove_file(f.share.join(dest))?;
        }
        Ok(4.0 * size as f64 / MIB / secs)
    }
}

/// One fetch: seconds from typing it to its verified result, and the CPU seconds the
/// fetcher and the holder spent meanwhile.
fn fetch_once(client: &mut Client, holder: u32, dest: &str, size: u64) -> io::Result<Fetched> {
    let _ = fs::remove_file(client.share.join(dest));
    let cpu = |pid: u32| process_cpu(pid).map_or(0.0, |d| d.as_secs_f64());
    let (fetcher_cpu, holder_cpu) = (cpu(client.pid()), cpu(holder));
    let t = Instant::now();
    let r = client.run(&format!("fetch data.bin --as {dest}"))?;
    let secs = t.elapsed().as_secs_f64();
    let fetched = Fetched {
        secs,
        fetcher_cpu: cpu(client.pid()) - fetcher_cpu,
        holder_cpu: cpu(holder) - holder_cpu,
    };
    if r["bytes"].as_u64() != Some(size) {
        return Err(io::Error::other(format!("short fetch: {r}")));
    }
    fs::remove_file(client.share.join(dest))?;
    Ok(fetched)
}

/// What one fetch took.
#[derive(Clone, Copy, Default)]
struct Fetched {
    secs: f64,
    fetcher_cpu: f64,
    holder_cpu: f64,
}

/// The rows, in the order they run in a round and are printed.
const RAW: usize = 0;
const PLAIN: usize = 1;
const TLS: usize = 2;
const SCP: usize = 3;
const RSYNC: usize = 4;
const SYSTEMS: usize = 5;

/// Everything the run measured.
#[derive(Default)]
struct Measured {
    /// MiB/s per run, per system (empty: skipped).
    rates: [Vec<f64>; SYSTEMS],
    /// The raw copy's receiving thread's CPU seconds per run.
    receiver_cpus: Vec<f64>,
    /// Each plaintext and TLS fetch.
    fetches: [Vec<Fetched>; 2],
    /// Aggregate MiB/s of 4 concurrent fetches per run: plaintext, TLS.
    four: [Vec<f64>; 2],
}

/// The other tools' daemons, or why there are none.
struct Tools {
    sshd: Result<Sshd, String>,
    rsyncd: Result<RsyncDaemon, String>,
}

fn measure(root: &Path, size: u64, mb: usize, runs: usize) -> io::Result<()> {
    let src = root.join("data.bin");
    make_file(&src, size as usize)?;
    let mut plain = Swarm::start(root, Encryption::Plaintext, &src)?;
    let mut tls = Swarm::start(root, Encryption::Tls, &src)?;
    let tools = Tools {
        sshd: Sshd::start(&root.join("sshd")),
        rsyncd: RsyncDaemon::start(&root.join("rsyncd")),
    };
    let dst = root.join("copy.bin");
    let mut m = Measured::default();
    // Warm the page cache and every path once, unmeasured.
    tcp_copy(&src, &dst)?;
    plain.fetch("warm.bin", size)?;
    tls.fetch("warm.bin", size)?;
    if let Ok(sshd) = &tools.sshd {
        sshd.copy(&src, &dst)?;
    }
    if let Ok(rsyncd) = &tools.rsyncd {
        rsyncd.copy(&src, "warm.bin")?;
    }
    let rate = |secs: f64| size as f64 / MIB / secs;
    for run in 0..runs {
        // Each round starts one system further on, so none always runs first.
        for k in 0..SYSTEMS {
            let system = (run + k) % SYSTEMS;
            let secs = match system {
                RAW => {
                    let copied = tcp_copy_timed(&src, &dst)?;
                    m.receiver_cpus.push(copied.receiver_cpu);
                    copied.secs
                }
                PLAIN | TLS => {
                    let swarm = if system == PLAIN {
                        &mut plain
                    } else {
                        &mut tls
                    };
                    let got = swarm.fetch(&format!("run{run}.bin"), size)?;
                    m.fetches[system - PLAIN].push(got);
                    got.secs
                }
                SCP => match &tools.sshd {
                    Ok(sshd) => sshd.copy(&src, &dst)?,
                    Err(_) => continue,
                },
                _ => match &tools.rsyncd {
                    Ok(rsyncd) => rsyncd.copy(&src, &format!("run{run}.bin"))?,
                    Err(_) => continue,
                },
            };
            m.rates[system].push(rate(secs));
        }
        let _ = fs::remove_file(&dst);
    }
    for run in 0..runs {
        let dest = format!("four{run}.bin");
        let order = if run % 2 == 0 { [0, 1] } else { [1, 0] };
        for which in order {
            let swarm = if which == 0 { &mut plain } else { &mut tls };
            m.four[which].push(swarm.fetch_four(&dest, size)?);
        }
    }
    drop((plain, tls));
    report(&src, size, mb, runs, &m, &tools)
}

/// CPU seconds one core needs to BLAKE3-hash `size` bytes at best: `block` (hot in
/// the cache) hashed over and over.
fn hash_cpu(block: &[u8], size: u64) -> f64 {
    let rounds = (size / block.len() as u64).max(1);
    let mut sink = 0u8;
    let start = thread_cpu();
    for _ in 0..rounds {
        sink ^= blake3::hash(block).as_bytes()[0];
    }
    let secs = thread_cpu() - start;
    std::hint::black_box(sink);
    secs * size as f64 / (rounds * block.len() as u64) as f64
}

/// The first 4 MiB of `src` (at least a byte).
fn first_block(src: &Path) -> io::Result<Vec<u8>> {
    let mut block = vec![0u8; 4 << 20];
    let n = io::Read::read(&mut fs::File::open(src)?, &mut block)?;
    block.truncate(n.max(1));
    Ok(block)
}

/// The fetch of median wall time.
fn median_fetch(fetches: &[Fetched]) -> Fetched {
    let mut sorted = fetches.to_vec();
    sorted.sort_by(|a, b| a.secs.total_cmp(&b.secs));
    sorted.get(sorted.len() / 2).copied().unwrap_or_default()
}

fn report(
    src: &Path,
    size: u64,
    mb: usize,
    runs: usize,
    m: &Measured,
    tools: &Tools,
) -> io::Result<()> {
    let block = first_block(src)?;
    let hash_secs = hash_cpu(&block, size);
    let decrypted = decrypt_cpu(&block, size)?;
    let med: Vec<f64> = m.rates.iter().map(|r| median(r.clone())).collect();
    let scp_name = match &tools.sshd {
        Ok(sshd) => format!(
            "scp via sshd ({})",
            sshd.default_cipher()
                .unwrap_or_else(|| "default cipher".into())
        ),
        Err(_) => "scp via sshd".to_string(),
    };
    let names = [
        "baseline: blocking TCP copy, 256 KiB buffers".to_string(),
        "peerhub fetch, plaintext (sendfile, splice)".to_string(),
        format!(
            "peerhub fetch over TLS 1.3 ({})",
            short_suite(&decrypted.suite)
        ),
        scp_name,
        "rsync --whole-file to rsync --daemon (plain)".to_string(),
    ];
    println!();
    println!(
        "transfer over loopback: {mb} MiB, page cache warm, median of {runs} run(s), \
         alternated; every fetch hashed and verified"
    );
    println!("{:<48} {:>8}   runs", "system", "MiB/s");
    for system in [PLAIN, TLS, RAW, SCP, RSYNC] {
        print_row(&names[system], &m.rates[system]);
    }
    print_row("peerhub, 4 concurrent fetches, plaintext (sum)", &m.four[0]);
    print_row("peerhub, 4 concurrent fetches over TLS (sum)", &m.four[1]);
    for (tool, daemon) in [
        ("scp", tools.sshd.as_ref().err()),
        ("rsync", tools.rsyncd.as_ref().err()),
    ] {
        if let Some(why) = daemon {
            println!("({tool} skipped: {why})");
        }
    }
    let plain = median_fetch(&m.fetches[0]);
    let tls = median_fetch(&m.fetches[1]);
    print_cpu("plaintext", plain);
    print_cpu("TLS", tls);
    // A fetcher has one thread to receive the bytes into a file and to hash them (and
    // over TLS, to decrypt them). Receiving alone costs at least about what it costs the
    // baseline's receiver, so the baseline's wall time over the sum of those CPU times
    // bounds the ratio to the baseline.
    let receiver_cpu = median(m.receiver_cpus.clone());
    let base_secs = size as f64 / MIB / med[RAW];
    let floor = base_secs / (receiver_cpu + hash_secs);
    let tls_cpu = receiver_cpu + decrypted.secs + hash_secs;
    let tls_floor = base_secs / tls_cpu;
    println!(
        "one thread's floor: receive into a file {:.0} ms (baseline receiver's CPU) + BLAKE3 \
         {:.0} ms ({:.0} MiB/s, one core, cache-hot) -> ratio at most {:.2}",
        receiver_cpu * 1e3,
        hash_secs * 1e3,
        size as f64 / MIB / hash_secs,
        floor
    );
    println!(
        "encrypted floor: the same + decrypt {} {:.0} ms ({:.0} MiB/s, one core, rustls in \
         memory) = {:.0} ms -> ratio at most {:.2}; the TLS fetcher spent {:.0} ms",
        decrypted.suite,
        decrypted.secs * 1e3,
        size as f64 / MIB / decrypted.secs,
        tls_cpu * 1e3,
        tls_floor,
        tls.fetcher_cpu * 1e3
    );
    let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
    let to_raw = ratio(med[TLS], med[RAW]);
    println!(
        "ratio peerhub/baseline: {:.2} (target >= 0.9)",
        ratio(med[PLAIN], med[RAW])
    );
    println!(
        "TLS fetch / its floor: {:.2} (target >= 0.9)",
        ratio(to_raw, tls_floor)
    );
    println!("TLS fetch / raw copy: {to_raw:.2} (target >= 0.45)");
    if med[SCP] > 0.0 {
        println!(
            "TLS fetch / scp: {:.2} (target > 1)",
            ratio(med[TLS], med[SCP])
        );
    }
    if med[RSYNC] > 0.0 {
        println!(
            "TLS fetch / rsync (plaintext): {:.2}",
            ratio(med[TLS], med[RSYNC])
        );
    }
    Ok(())
}

/// `TLS13_AES_256_GCM_SHA384` as `AES-256-GCM`.
fn short_suite(suite: &str) -> String {
    let s = suite.strip_prefix("TLS13_").unwrap_or(suite);
    let s = s.rsplit_once('_').map_or(s, |(cipher, _hash)| cipher);
    s.replace('_', "-")
}

fn print_row(name: &str, rates: &[f64]) {
    if rates.is_empty() {
        println!("{name:<48} {:>8}   skipped", "-");
        return;
    }
    let runs: Vec<String> = rates.iter().map(|r| format!("{r:.0}")).collect();
    println!(
        "{name:<48} {:>8.0}   {}",
        median(rates.to_vec()),
        runs.join(", ")
    );
}

fn print_cpu(what: &str, f: Fetched) {
    println!(
        "CPU in the median {what} fetch: fetcher {:.0} ms ({:.0} % of one core), holder \
         {:.0} ms ({:.0} %)",
        f.fetcher_cpu * 1e3,
        f.fetcher_cpu / f.secs.max(1e-9) * 100.0,
        f.holder_cpu * 1e3,
        f.holder_cpu / f.secs.max(1e-9) * 100.0
    );
}
