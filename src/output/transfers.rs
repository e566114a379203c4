//! The rows of transfers in progress, as `transfers` lists them and the progress bars
//! draw them: direction, name, the other side, bytes, rate and time left.

use super::human::{human_eta, human_rate, human_size};
use super::CommandResult;
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
    /// A swarm download's holders, the one that gave the most first (else empty).
    pub sources: Vec<String>,
    /// A swarm download's verified bytes from the file's start.
    pub verified_prefix: Option<u64>,
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
            sources: Vec::new(),
            verified_prefix: None,
        }
    }

    /// The row of a swarm download: its holders and its verified prefix.
    pub fn with_swarm(mut self, sources: Vec<String>, verified_prefix: u64) -> Row {
        self.sources = sources;
        self.verified_prefix = Some(verified_prefix);
        self
    }

    fn json(&self) -> serde_json::Value {
        let mut row = serde_json::json!({
            "direction": self.direction,
            "name": self.name,
            "peer": self.peer,
            "bytes": self.bytes,
            "size": self.size,
            "rate": self.rate.round(),
            "eta_s": self.eta_s.map(|e| (e * 10.0).round() / 10.0),
        });
        if let Some(prefix) = self.verified_prefix {
            row["sources"] = serde_json::json!(self.sources);
            row["verified_prefix"] = serde_json::json!(prefix);
        }
        row
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
    }
}
