//! `GET /metrics` of the hub's web interface, in the Prometheus text format: the
//! counters of a `stats` result (the hub's, with the accounts the backend counted),
//! the bytes the hub's connections moved, and a histogram of how long one turn of the
//! loop takes while busy — so an operator sees when the one thread nears its limit.
//! Rendering is pure; the loop feeds [`LoopMetrics`].

use crate::net::traffic::Traffic;
use crate::output::CommandResult;
use std::fmt::Write as _;
use std::rc::Rc;
use std::time::Duration;

/// Upper bounds, in seconds, of the turn histogram's buckets (then `+Inf`): from a
/// turn that answers a few requests to one that stalls everyone.
pub const TURN_BUCKETS: [f64; 12] = [
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
];

/// How long busy turns of the loop took: a cumulative histogram.
#[derive(Debug, Default, Clone)]
pub struct TurnHistogram {
    /// Turns at or under each bound of [`TURN_BUCKETS`] (not yet cumulative).
    buckets: [u64; TURN_BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl TurnHistogram {
    /// One busy turn that took `took`.
    pub fn record(&mut self, took: Duration) {
        let secs = took.as_secs_f64();
        if let Some(i) = TURN_BUCKETS.iter().position(|bound| secs <= *bound) {
            self.buckets[i] += 1;
        }
        self.count += 1;
        self.sum += secs;
    }
}

/// What the loop measures for `/metrics`.
#[derive(Debug)]
pub struct LoopMetrics {
    pub turns: TurnHistogram,
    pub traffic: Rc<Traffic>,
}

impl LoopMetrics {
    pub fn new() -> LoopMetrics {
        LoopMetrics {
            turns: TurnHistogram::default(),
            traffic: Traffic::new(),
        }
    }
}

/// The gauges and counters a `stats` result gives: (field, metric, type, help).
const FROM_STATS: [(&str, &str, &str, &str); 8] = [
    (
        "connections",
        "peerhub_connections",
        "gauge",
        "Connections open to the hub.",
    ),
    (
        "users_online",
        "peerhub_users_online",
        "gauge",
        "Users logged in.",
    ),
    (
        "accounts",
        "peerhub_accounts",
        "gauge",
        "Registered accounts.",
    ),
    (
        "published_files",
        "peerhub_published_files",
        "gauge",
        "Files in the publish index.",
    ),
    (
        "lookups",
        "peerhub_lookups_total",
        "counter",
        "Lookups served since start.",
    ),
    (
        "chat_messages",
        "peerhub_chat_messages_total",
        "counter",
        "Chat messages relayed since start.",
    ),
    (
        "store_entries",
        "peerhub_store_entries",
        "gauge",
        "Entries in the store.",
    ),
    (
        "store_bytes",
        "peerhub_store_bytes",
        "gauge",
        "Bytes the store's entries hold.",
    ),
];

/// The Prometheus text for a successful `stats` result and the loop's measurements.
pub fn render(stats: &CommandResult, measured: &LoopMetrics) -> String {
    let mut out = String::new();
    for (field, name, kind, help) in FROM_STATS {
        let value = stats
            .fields
            .get(field)
            .and_then(|v| v.as_u64())
            .unwrap_or(0);
        family(&mut out, name, kind, help);
        let _ = writeln!(out, "{name} {value}");
    }
    let traffic = &measured.traffic;
    let moved = [
        (
            "peerhub_bytes_received_total",
            "received from",
            traffic.total_received(),
        ),
        ("peerhub_bytes_sent_total", "sent to", traffic.total_sent()),
    ];
    for (name, way, value) in moved {
        let help =
            format!("Bytes of the peerhub protocol {way} clients (sessions and store transfers).");
        family(&mut out, name, "counter", &help);
        let _ = writeln!(out, "{name} {value}");
    }
    histogram(&mut out, &measured.turns);
    out
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn histogram(out: &mut String, turns: &TurnHistogram) {
    let name = "peerhub_event_loop_seconds";
    let help = "How long one turn of the hub's event loop took, for turns that had work.";
    family(out, name, "histogram", help);
    let mut cumulative = 0;
    for (bound, n) in TURN_BUCKETS.iter().zip(turns.buckets) {
        cumulative += n;
        let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {cumulative}");
    }
    let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {}", turns.count);
    let _ = writeln!(out, "{name}_sum {}", turns.sum);
    let _ = writeln!(out, "{name}_count {}", turns.count);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats() -> CommandResult {
        CommandResult::new(7, "stats", true, 200, "hub statistics")
            .field("connections", 3)
            .field("users_online", 2)
            .field("accounts", 5)
            .field("published_files", 4)
            .field("lookups", 11)
            .field("chat_messages", 9)
            .field("store_entries", 1)
            .field("store_bytes", 1024)
    }

    /// The value of the sample `name` (with its labels) in `text`.
    fn sample(text: &str, name: &str) -> String {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no {name} in\n{text}"))
            .to_owned()
    }

    #[test]
    fn every_counter_of_stats_and_the_loop_s_bytes_are_samples_with_help_and_type() {
        let measured = LoopMetrics::new();
        measured.traffic.received(100);
        measured.traffic.sent(250);
        measured.traffic.sent(50);
        let text = render(&stats(), &measured);
        for (name, value) in [
            ("peerhub_connections", "3"),
            ("peerhub_users_online", "2"),
            ("peerhub_accounts", "5"),
            ("peerhub_published_files", "4"),
            ("peerhub_lookups_total", "11"),
            ("peerhub_chat_messages_total", "9"),
            ("peerhub_store_entries", "1"),
            ("peerhub_store_bytes", "1024"),
            ("peerhub_bytes_received_total", "100"),
            ("peerhub_bytes_sent_total", "300"),
        ] {
            assert_eq!(sample(&text, name), value, "{name}");
            assert!(text.contains(&format!("# HELP {name} ")), "{name}");
        }
        assert!(text.contains("# TYPE peerhub_lookups_total counter"));
        assert!(text.contains("# TYPE peerhub_users_online gauge"));
        assert!(text.ends_with('\n'));
    }

    #[test]
    fn the_turn_histogram_is_cumulative_and_counts_every_turn() {
        let mut measured = LoopMetrics::new();
        for micros in [10, 40, 200, 3_000, 400_000] {
            measured.turns.record(Duration::from_micros(micros));
        }
        let text = render(&stats(), &measured);
        let bucket = |le: &str| {
            sample(
                &text,
                &format!("peerhub_event_loop_seconds_bucket{{le=\"{le}\"}}"),
            )
        };
        assert_eq!(bucket("0.00005"), "2");
        assert_eq!(bucket("0.00025"), "3");
        assert_eq!(bucket("0.0025"), "3");
        assert_eq!(bucket("0.005"), "4");
        assert_eq!(
            bucket("0.25"),
            "4",
            "the 400 ms turn is past the last bound"
        );
        assert_eq!(bucket("+Inf"), "5");
        assert_eq!(sample(&text, "peerhub_event_loop_seconds_count"), "5");
        let sum: f64 = sample(&text, "peerhub_event_loop_seconds_sum")
            .parse()
            .unwrap();
        assert!((sum - 0.40325).abs() < 1e-9, "{sum}");
        assert!(text.contains("# TYPE peerhub_event_loop_seconds histogram"));
    }
}
