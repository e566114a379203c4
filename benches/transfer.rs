//! Transfer speed: one release-built peer publishes a file and another fetches it over
//! loopback (`fetch` = lookup at the hub, direct connection, sendfile on the holder,
//! hash-while-receiving and rename on the fetcher: verification included), page cache
//! warm. The baseline, measured in the same run: a plain blocking TCP copy of the same
//! file (file → socket → file, 256 KiB buffers) between two threads of this bench.
//! Prints MB/s (median of the runs), the ratio peerhub/baseline, and the aggregate
//! rate of 4 concurrent fetches from one holder (4 fetching peers).
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
use xfer::{make_file, tcp_copy, tcp_copy_timed, thread_cpu, Client, FETCH_TIMEOUT, MIB};

fn main() {
    if let Err(e) = bench() {
        eprintln!("transfer bench failed: {e}");
        std::process::exit(1);
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

/// CPU seconds one core needs to BLAKE3-hash `size` bytes at best: the first 4 MiB
/// of `src`, hot in the cache, hashed over and over.
fn hash_cpu(src: &Path, size: u64) -> io::Result<f64> {
    let mut block = vec![0u8; 4 << 20];
    let n = io::Read::read(&mut fs::File::open(src)?, &mut block)?;
    block.truncate(n.max(1));
    let rounds = (size / block.len() as u64).max(1);
    let mut sink = 0u8;
    let start = thread_cpu();
    for _ in 0..rounds {
        sink ^= blake3::hash(&block).as_bytes()[0];
    }
    let secs = thread_cpu() - start;
    std::hint::black_box(sink);
    Ok(secs * size as f64 / (rounds * block.len() as u64) as f64)
}

/// What one fetch took.
struct Fetched {
    secs: f64,
    fetcher_cpu: f64,
    holder_cpu: f64,
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

fn measure(root: &Path, size: u64, mb: usize, runs: usize) -> io::Result<()> {
    let hub = HubProcess::start(&[])?;
    let mut holder = Client::start(hub.addr, &root.join("holder"))?;
    let src = root.join("holder/data.bin");
    make_file(&src, size as usize)?;
    holder.run("register holder pw")?;
    holder.run("login holder pw")?;
    holder.run("publish data.bin")?;
    let mut fetchers = Vec::new();
    for i in 0..4 {
        let mut c = Client::start(hub.addr, &root.join(format!("fetcher{i}")))?;
        c.run(&format!("register fetcher{i} pw"))?;
        c.run(&format!("login fetcher{i} pw"))?;
        fetchers.push(c);
    }
    let base_dst = root.join("fetcher0/baseline.bin");

    // Warm the page cache and both paths once, unmeasured.
    tcp_copy(&src, &base_dst)?;
    fs::remove_file(&base_dst)?;
    if let Some(f) = fetchers.first_mut() {
        fetch_once(f, holder.pid(), "warm.bin", size)?;
    }

    let mut peer_rates = Vec::new();
    let mut base_rates = Vec::new();
    let mut cpu_shares = Vec::new();
    let mut receiver_cpus = Vec::new();
    for run in 0..runs {
        let copied = tcp_copy_timed(&src, &base_dst)?;
        fs::remove_file(&base_dst)?;
        base_rates.push(size as f64 / MIB / copied.secs);
        receiver_cpus.push(copied.receiver_cpu);
        if let Some(f) = fetchers.first_mut() {
            let got = fetch_once(f, holder.pid(), &format!("run{run}.bin"), size)?;
            peer_rates.push(size as f64 / MIB / got.secs);
            cpu_shares.push((got.fetcher_cpu, got.holder_cpu, got.secs));
        }
    }

    let mut aggregate = Vec::new();
    for run in 0..runs {
        let dest = format!("four{run}.bin");
        let t = Instant::now();
        let mut ids = Vec::new();
        for f in fetchers.iter_mut() {
            ids.push(f.send(&format!("fetch data.bin --as {dest}"))?);
        }
        for (f, id) in fetchers.iter_mut().zip(ids) {
            let r = f.wait(id, FETCH_TIMEOUT)?;
            if r["status"] != 205 {
                return Err(io::Error::other(format!("concurrent fetch: {r}")));
            }
        }
        let secs = t.elapsed().as_secs_f64();
        aggregate.push(4.0 * size as f64 / MIB / secs);
        for f in &fetchers {
            fs::remove_file(f.share.join(&dest))?;
        }
    }

    let hash_secs = hash_cpu(&src, size)?;
    let peer = median(peer_rates.clone());
    let base = median(base_rates.clone());
    let four = median(aggregate.clone());
    let fmt = |v: &[f64]| {
        v.iter()
            .map(|r| format!("{r:.0}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!();
    println!("transfer over loopback: {mb} MiB, page cache warm, median of {runs} run(s)");
    println!("{:<44} {:>10}   runs", "system", "MiB/s");
    println!(
        "{:<44} {:>10.0}   {}",
        "peerhub fetch (sendfile, hash, verify)",
        peer,
        fmt(&peer_rates)
    );
    println!(
        "{:<44} {:>10.0}   {}",
        "baseline: blocking TCP copy, 256 KiB buffers",
        base,
        fmt(&base_rates)
    );
    println!(
        "{:<44} {:>10.0}   {}",
        "peerhub, 4 concurrent fetches (aggregate)",
        four,
        fmt(&aggregate)
    );
    cpu_shares.sort_by(|a, b| a.2.total_cmp(&b.2));
    let (fetcher_cpu, holder_cpu, secs) = cpu_shares
        .get(cpu_shares.len() / 2)
        .copied()
        .unwrap_or_default();
    println!(
        "CPU in the median fetch: fetcher {:.0} ms ({:.0} % of one core), holder {:.0} ms ({:.0} %)",
        fetcher_cpu * 1e3,
        fetcher_cpu / secs * 100.0,
        holder_cpu * 1e3,
        holder_cpu / secs * 100.0
    );
    // A fetcher has one thread to receive the bytes into a file and to hash them.
    // Receiving alone costs at least about what it costs the baseline's receiver, so
    // the baseline's wall time over (its receiver's CPU + BLAKE3's CPU) bounds the ratio.
    let receiver_cpu = median(receiver_cpus);
    let base_secs = size as f64 / MIB / base;
    println!(
        "one thread's floor: receive into a file {:.0} ms (baseline receiver's CPU) + BLAKE3 \
         {:.0} ms ({:.0} MiB/s, one core, cache-hot) -> ratio at most {:.2}",
        receiver_cpu * 1e3,
        hash_secs * 1e3,
        size as f64 / MIB / hash_secs,
        base_secs / (receiver_cpu + hash_secs)
    );
    println!(
        "ratio peerhub/baseline: {:.2} (target >= 0.9)",
        if base > 0.0 { peer / base } else { 0.0 }
    );
    Ok(())
}
