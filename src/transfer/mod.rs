//! Moving and checking file bytes between peers: hashing in slices, choosing a holder,
//! serving a published file ([`upload`]) and receiving one into a partial file that
//! resumes and is verified before it takes its final name ([`download`]).

pub mod choose;
pub mod download;
pub mod hash;
pub mod upload;

use crate::output::CommandResult;
use std::time::{Duration, Instant};

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

impl Row {
    /// A row whose rate is `moved` bytes over the time since `since`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        direction: &'static str,
        name: &str,
        peer: &str,
        bytes: u64,
        size: u64,
        moved: u64,
        since: Option<Instant>,
        now: Instant,
    ) -> Row {
        let elapsed = since.map_or(Duration::ZERO, |s| now.saturating_duration_since(s));
        let rate = if elapsed.is_zero() {
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
        let eta = self
            .eta_s
            .map_or_else(|| "--".to_owned(), |e| format!("{e:.0} s"));
        format!(
            "{:<8} {} {arrow} {}: {}/{} bytes ({pct:.0}%), {}/s, eta {eta}",
            self.direction,
            self.name,
            self.peer,
            self.bytes,
            self.size,
            human_bytes(self.rate),
        )
    }
}

/// A byte count for people: `1.5 MiB`.
pub fn human_bytes(n: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    let name = UNITS.get(unit).copied().unwrap_or("B");
    if unit == 0 {
        format!("{v:.0} {name}")
    } else {
        format!("{v:.1} {name}")
    }
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
    fn rate_eta_and_result() {
        let t0 = Instant::now();
        let row = Row::new(
            "download",
            "f",
            "bob",
            600,
            1000,
            500,
            Some(t0),
            t0 + Duration::from_secs(5),
        );
        assert_eq!(row.rate, 100.0);
        assert_eq!(row.eta_s, Some(4.0));
        let idle = Row::new("upload", "f", "1.2.3.4:5", 0, 10, 0, None, t0);
        assert_eq!(idle.eta_s, None);
        let r = transfers_result(3, &[row, idle]);
        assert_eq!(r.message, "1 download(s), 1 upload(s) in progress");
        let t = &r.fields["transfers"];
        assert_eq!(t[0]["direction"], "download");
        assert_eq!(t[0]["eta_s"], 4.0);
        assert_eq!(t[1]["eta_s"], serde_json::Value::Null);
        assert_eq!(human_bytes(1536.0), "1.5 KiB");
        assert_eq!(human_bytes(12.0), "12 B");
    }
}
