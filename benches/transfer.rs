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

use common::{env_usize, is_bench, median, HubProcess};
use std::fs;
use std::io;
use std::path::Path;
use std::time::Instant;
use xfer::{make_file, tcp_copy, Client, FETCH_TIMEOUT, MIB};

fn main() {
    if let Err(e) = bench() {
        eprintln!("transfer bench failed: {e}");
        std::process::exit(1);
    }
}

/// One fetch; seconds from typing it to its verified result.
fn fetch_once(client: &mut Client, dest: &str, size: u64) -> io::Result<f64> {
    let _ = fs::remove_file(client.share.join(dest));
    let t = Instant::now();
    let r = client.run(&format!("fetch data.bin --as {dest}"))?;
    let secs = t.elapsed().as_secs_f64();
    if r["bytes"].as_u64() != Some(size) {
        return Err(io::Error::other(format!("short fetch: {r}")));
    }
    fs::remove_file(client.share.join(dest))?;
    Ok(secs)
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
        fetch_once(f, "warm.bin", size)?;
    }

    let mut peer_rates = Vec::new();
    let mut base_rates = Vec::new();
    for run in 0..runs {
        let secs = tcp_copy(&src, &base_dst)?;
        fs::remove_file(&base_dst)?;
        base_rates.push(size as f64 / MIB / secs);
        if let Some(f) = fetchers.first_mut() {
            let secs = fetch_once(f, &format!("run{run}.bin"), size)?;
            peer_rates.push(size as f64 / MIB / secs);
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
    println!(
        "ratio peerhub/baseline: {:.2} (target >= 0.9)",
        if base > 0.0 { peer / base } else { 0.0 }
    );
    Ok(())
}
