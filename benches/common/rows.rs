//! The rows of a bench's table: one system (a driver against one server) per row,
//! measured in alternated runs so that a slow spell of a shared machine hits every
//! row; and which transports a bench measures (`PEERHUB_BENCH_TLS`).

use super::{Driver, Protocol, RunStats, Summary};
use std::io;
use std::time::Duration;

/// Something that measures one run.
pub trait Measure {
    fn measure(&mut self, warmup: Duration, duration: Duration) -> io::Result<RunStats>;
}

impl<P: Protocol> Measure for Driver<P> {
    fn measure(&mut self, warmup: Duration, duration: Duration) -> io::Result<RunStats> {
        self.run(warmup, duration)
    }
}

/// One system's runs and what measures them.
pub struct Row {
    pub summary: Summary,
    driver: Box<dyn Measure>,
}

impl Row {
    pub fn new(name: impl Into<String>, driver: impl Measure + 'static) -> Row {
        Row {
            summary: Summary::new(name),
            driver: Box::new(driver),
        }
    }
}

/// `runs` rounds, each measuring every row once, in order; `before(row)` is called
/// before each measurement (e.g. to drain connections the measurement does not read).
pub fn alternate(
    rows: &mut [Row],
    runs: usize,
    warmup: Duration,
    duration: Duration,
    mut before: impl FnMut(usize),
) -> io::Result<()> {
    for _ in 0..runs {
        for (i, row) in rows.iter_mut().enumerate() {
            before(i);
            let stats = row.driver.measure(warmup, duration)?;
            row.summary.add(stats);
        }
    }
    Ok(())
}

/// Which transports to measure, from `PEERHUB_BENCH_TLS`: `plain`, `tls`, or both
/// (the default; anything else): `false` stands for plaintext, `true` for TLS.
pub fn wire_modes() -> Vec<bool> {
    match std::env::var("PEERHUB_BENCH_TLS").as_deref().map(str::trim) {
        Ok("plain") => vec![false],
        Ok("tls") => vec![true],
        _ => vec![false, true],
    }
}

/// A row's name: `peerhub`, or `peerhub+tls` over TLS.
pub fn label(system: &str, tls: bool) -> String {
    if tls {
        format!("{system}+tls")
    } else {
        system.to_string()
    }
}
