//! Moving and checking file bytes between peers: hashing in slices, choosing a holder,
//! serving a published file ([`upload`]) and receiving one into a partial file that
//! resumes and is verified before it takes its final name ([`download`]); the shared
//! halves of every transfer ([`stream`]: sendfile slices out, hash-while-writing in) and
//! whole trees over a store connection ([`tree`]); telling the holder's answer from
//! whatever else may listen at its address ([`identity`]).

pub mod choose;
pub mod download;
pub mod hash;
pub mod identity;
pub mod stream;
pub mod tree;
pub mod upload;
pub mod writeback;

use crate::output::CommandResult;
use crate::proto::message::StoreKind;
use std::time::{Duration, Instant};

/// Shortest time over which a rate is measured.
pub const MIN_RATE_WINDOW: Duration = Duration::from_millis(500);

/// One transfer in progress, as `transfers` lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// `download` or `upload`.
    pub direction: &'static str,
    /// The file's name (downloads: the name it is saved under).
    pub name: String,
    /// The other side: a user name, or an address when the peer gave none.
    pub peer: String,
    /// Bytes of the file present at the receiver (resumed bytes included).
    pub bytes: u64,
    /// The file's size.
    pub size: u64,
    /// Bytes per second moved by this connection since its bytes started flowing.
    pub rate: f64,
    /// Seconds left at that rate, when there is a rate.
    pub eta_s: Option<f64>,
}

/// How far a transfer is, for its [`Row`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flow {
    /// Bytes of the file present at the receiver (resumed bytes included).
    pub bytes: u64,
    /// The file's size.
    pub size: u64,
    /// Bytes this connection moved.
    pub moved: u64,
    /// When its bytes started flowing, once they did.
    pub since: Option<Instant>,
}

impl Row {
    /// A row whose rate is the bytes `flow` moved over the time since they started.
    pub fn new(direction: &'static str, name: &str, peer: &str, flow: Flow, now: Instant) -> Row {
        let Flow {
            bytes,
            size,
            moved,
            since,
        } = flow;
        let elapsed = since.map_or(Duration::ZERO, |s| now.saturating_duration_since(s));
        // Too short a window says nothing (a first burst over milliseconds would show
        // GiB/s): no rate, so no ETA, until the bytes have flowed a little while.
        let rate = if elapsed < MIN_RATE_WINDOW {
            0.0
        } else {
            moved as f64 / elapsed.as_secs_f64()
        };
        let eta_s = (rate > 0.0).then(|| size.saturating_sub(bytes) as f64 / rate);
        Row {
            direction,
            name: name.to_owned(),
            peer: peer.to_owned(),
            bytes,
            size,
            rate,
            eta_s,
        }
    }

    fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "direction": self.direction,
            "name": self.name,
            "peer": self.peer,
            "bytes": self.bytes,
            "size": self.size,
            "rate": self.rate.round(),
            "eta_s": self.eta_s.map(|e| (e * 10.0).round() / 10.0),
        })
    }

    fn human(&self) -> String {
        let arrow = if self.direction == "download" {
            "from"
        } else {
            "to"
        };
        let pct = if self.size == 0 {
            100.0
        } else {
            self.bytes as f64 * 100.0 / self.size as f64
        };
        let eta = human_eta(self.eta_s);
        format!(
            "{:<8} {} {arrow} {}: {} of {} ({pct:.0}%), {}, eta {eta}",
            self.direction,
            self.name,
            self.peer,
            human_size(self.bytes),
            human_size(self.size),
            human_rate(self.rate),
        )
    }
}

/// A size for people, in binary (IEC) units: `12 B`, `1.5 KiB`, `2.0 GiB`. The one
/// place sizes are written for people (search, shared, discover, store, bars,
/// transfers); `--json` always carries the exact byte count instead.
pub fn human_size(n: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    // Round first, so 1023.96 KiB shows as `1.0 MiB`, never `1024.0 KiB`.
    while (v * 10.0).round() / 10.0 >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS.get(unit).copied().unwrap_or("EiB"))
}

/// Time left for people: `--` (unknown), `42 s`, `3 min 5 s`, `2 h 1 min`.
pub fn human_eta(seconds: Option<f64>) -> String {
    let Some(s) = seconds.filter(|s| s.is_finite() && *s >= 0.0) else {
        return "--".to_owned();
    };
    let s = s.round() as u64;
    match s {
        0..=59 => format!("{s} s"),
        60..=3599 => format!("{} min {} s", s / 60, s % 60),
        _ => format!("{} h {} min", s / 3600, s % 3600 / 60),
    }
}

/// A rate for people: [`human_size`] per second.
pub fn human_rate(bytes_per_sec: f64) -> String {
    format!("{}/s", human_size(bytes_per_sec.max(0.0) as u64))
}

/// `3 files, 2.0 MiB` / `1 file, 12 B`.
pub fn files_and_size(files: u64, bytes: u64) -> String {
    let s = if files == 1 { "" } else { "s" };
    format!("{files} file{s}, {}", human_size(bytes))
}

/// Unix seconds as `2024-05-01 12:34 UTC`.
pub fn utc_time(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's days-to-civil.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60
    )
}

/// One store entry as a listing line: name, owner, kind, files, size, time.
pub fn store_line(
    name: &str,
    owner: &str,
    kind: StoreKind,
    files: u64,
    bytes: u64,
    created: u64,
) -> String {
    format!(
        "{name}  by {owner}  {}  {}  {}",
        kind.as_str(),
        files_and_size(files, bytes),
        utc_time(created)
    )
}

/// One store entry as the `entries` field of a listing carries it.
pub fn store_json(
    name: &str,
    owner: &str,
    kind: StoreKind,
    files: u64,
    bytes: u64,
    created: u64,
) -> serde_json::Value {
    serde_json::json!({
        "name": name, "owner": owner, "kind": kind.as_str(), "files": files,
        "bytes": bytes, "time": created,
    })
}

/// The `transfers` result: field `transfers`, one object per row.
pub fn transfers_result(id: u64, rows: &[Row]) -> CommandResult {
    let downloads = rows.iter().filter(|r| r.direction == "download").count();
    let mut r = CommandResult::new(
        id,
        "transfers",
        true,
        200,
        format!(
            "{downloads} download(s), {} upload(s) in progress",
            rows.len() - downloads
        ),
    );
    for row in rows {
        r = r.line(row.human());
    }
    r.field(
        "transfers",
        rows.iter()
            .map(Row::json)
            .collect::<Vec<serde_json::Value>>(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_for_people_are_iec() {
        assert_eq!(human_size(0), "0 B");
        assert_eq!(human_size(1023), "1023 B");
        assert_eq!(human_size(1024), "1.0 KiB");
        assert_eq!(human_size(1536), "1.5 KiB");
        assert_eq!(human_size(1024 * 1024 - 1), "1.0 MiB");
        assert_eq!(human_size(1_073_741_824), "1.0 GiB");
        assert_eq!(human_size(u64::MAX), "16.0 EiB");
        assert_eq!(human_rate(1536.0), "1.5 KiB/s");
        assert_eq!(human_rate(-1.0), "0 B/s");
        assert_eq!(human_eta(None), "--");
        assert_eq!(human_eta(Some(4.4)), "4 s");
        assert_eq!(human_eta(Some(185.0)), "3 min 5 s");
        assert_eq!(human_eta(Some(7300.0)), "2 h 1 min");
        assert_eq!(human_eta(Some(f64::INFINITY)), "--");
    }

    #[test]
    fn rate_eta_and_result() {
        let t0 = Instant::now();
        let flow = Flow {
            bytes: 600,
            size: 1000,
            moved: 500,
            since: Some(t0),
        };
        let row = Row::new("download", "f", "bob", flow, t0 + Duration::from_secs(5));
        assert_eq!(row.rate, 100.0);
        assert_eq!(row.eta_s, Some(4.0));
        let still = Flow {
            bytes: 0,
            size: 10,
            moved: 0,
            since: None,
        };
        let idle = Row::new("upload", "f", "1.2.3.4:5", still, t0);
        assert_eq!(idle.eta_s, None);
        assert_eq!(
            row.human(),
            "download f from bob: 600 B of 1000 B (60%), 100 B/s, eta 4 s"
        );
        let r = transfers_result(3, &[row, idle]);
        assert_eq!(r.message, "1 download(s), 1 upload(s) in progress");
        let t = &r.fields["transfers"];
        assert_eq!(t[0]["direction"], "download");
        assert_eq!(t[0]["eta_s"], 4.0);
        assert_eq!(t[1]["eta_s"], serde_json::Value::Null);
        assert_eq!(files_and_size(3, 2 * 1024 * 1024), "3 files, 2.0 MiB");
        assert_eq!(files_and_size(1, 0), "1 file, 0 B");
        assert_eq!(utc_time(0), "1970-01-01 00:00 UTC");
        assert_eq!(utc_time(1_709_210_096), "2024-02-29 12:34 UTC");
    }
}
