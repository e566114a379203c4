//! Text for people: sizes in IEC units, rates, times left, UTC times, and a store
//! entry as a listing shows it (a line for people, an object for `--json`); the one
//! place these are written, for the client's results and the hub's console alike.

use super::CommandResult;
use crate::proto::message::{StoreInfo, StoreKind};

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

/// One store entry as every listing shows it (`store` on the client and the console).
#[derive(Debug, Clone, Copy)]
pub struct StoreRow<'a> {
    pub name: &'a str,
    pub owner: &'a str,
    pub kind: StoreKind,
    pub files: u64,
    pub bytes: u64,
    /// Unix seconds.
    pub created: u64,
}

impl<'a> From<&'a StoreInfo> for StoreRow<'a> {
    fn from(e: &'a StoreInfo) -> StoreRow<'a> {
        StoreRow {
            name: &e.name,
            owner: &e.owner,
            kind: e.kind,
            files: e.files,
            bytes: e.bytes,
            created: e.created,
        }
    }
}

impl StoreRow<'_> {
    /// The listing line: name, owner, kind, files, size, time.
    pub fn line(&self) -> String {
        format!(
            "{}  by {}  {}  {}  {}",
            self.name,
            self.owner,
            self.kind.as_str(),
            files_and_size(self.files, self.bytes),
            utc_time(self.created)
        )
    }

    /// The entry as the `entries` field of a listing carries it.
    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "name": self.name, "owner": self.owner, "kind": self.kind.as_str(),
            "files": self.files, "bytes": self.bytes, "time": self.created,
        })
    }
}

/// Add a listing's rows to `r`: a line each, and the field `entries` with an object each.
pub fn with_store_rows<'a>(
    mut r: CommandResult,
    rows: impl IntoIterator<Item = StoreRow<'a>>,
) -> CommandResult {
    let mut entries = Vec::new();
    for row in rows {
        r = r.line(row.line());
        entries.push(row.json());
    }
    r.field("entries", entries)
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
    fn counts_times_and_store_rows() {
        assert_eq!(files_and_size(3, 2 * 1024 * 1024), "3 files, 2.0 MiB");
        assert_eq!(files_and_size(1, 0), "1 file, 0 B");
        assert_eq!(utc_time(0), "1970-01-01 00:00 UTC");
        assert_eq!(utc_time(1_709_210_096), "2024-02-29 12:34 UTC");
        let row = StoreRow {
            name: "a.txt",
            owner: "alice",
            kind: StoreKind::File,
            files: 1,
            bytes: 12,
            created: 0,
        };
        let r = with_store_rows(CommandResult::new(1, "store", true, 200, "1"), [row]);
        assert_eq!(
            r.detail,
            ["a.txt  by alice  file  1 file, 12 B  1970-01-01 00:00 UTC"]
        );
        assert_eq!(r.fields["entries"][0]["time"], 0);
        assert_eq!(r.fields["entries"][0]["kind"], "file");
    }
}
