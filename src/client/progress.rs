//! Progress bars of running downloads and store transfers on a terminal: one status
//! line each, drawn by the line editor's renderer above the input line (so typing
//! never leaves copies of a bar behind), built from the same [`Row`] that
//! `transfers` lists (so the two agree), and never wider than the terminal.

use crate::output::{human_eta, human_rate, human_size, Row};
use std::time::Duration;

/// How often the loop redraws the bars.
pub const REDRAW_EVERY: Duration = Duration::from_millis(100);

/// The bar of `row` in at most `width - 1` columns:
/// `song.mp3 [=====>    ] 42% 1.2 MiB of 3.0 MiB, 2.0 MiB/s, eta 1 s`.
pub fn bar_line(row: &Row, width: usize) -> String {
    let cols = width.saturating_sub(1);
    let pct = if row.size == 0 {
        100
    } else {
        (u128::from(row.bytes) * 100 / u128::from(row.size)) as u64
    };
    let rate = human_rate(row.rate);
    let eta = human_eta(row.eta_s);
    // The richest line that leaves a bar of at least 5 columns.
    let tails = [
        format!(
            " {pct}% {} of {}, {rate}, eta {eta}",
            human_size(row.bytes),
            human_size(row.size)
        ),
        format!(" {pct}% {rate}, eta {eta}"),
        format!(" {pct}%"),
    ];
    let name: String = row.name.chars().take((cols / 3).max(8)).collect();
    let used = |tail: &String| name.chars().count() + tail.chars().count() + 3;
    let line = match tails.iter().find(|t| used(t) + 5 <= cols) {
        Some(tail) => {
            let bar = (cols - used(tail)).min(30);
            let done = if row.size == 0 {
                bar
            } else {
                (u128::from(row.bytes) * bar as u128 / u128::from(row.size)) as usize
            };
            let head = if done < bar { ">" } else { "" };
            let rest = bar - done - head.len();
            format!(
                "{name} [{}{head}{}]{tail}",
                "=".repeat(done),
                " ".repeat(rest)
            )
        }
        None => format!("{name} {pct}%"),
    };
    line.chars().take(cols).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::Flow;
    use std::time::Instant;

    fn row(bytes: u64, size: u64, moved: u64, secs: u64) -> Row {
        let t0 = Instant::now();
        let since = Some(t0);
        let flow = Flow {
            bytes,
            size,
            moved,
            since,
        };
        Row::new(
            "download",
            "song.mp3",
            "bob",
            flow,
            t0 + Duration::from_secs(secs),
        )
    }

    #[test]
    fn bars_show_what_transfers_lists_and_fit_the_width() {
        let r = row(512 * 1024, 1024 * 1024, 256 * 1024, 2);
        let line = bar_line(&r, 100);
        assert_eq!(
            line,
            "song.mp3 [===============>              ] 50% 512.0 KiB of 1.0 MiB, 128.0 KiB/s, eta 4 s"
        );
        for width in [0, 1, 10, 30, 60, 200] {
            let line = bar_line(&r, width);
            assert!(line.chars().count() < width.max(1), "{width}: {line:?}");
        }
        // Narrower: the sizes go first, then the rate; the bar and percentage stay.
        assert_eq!(
            bar_line(&r, 60),
            "song.mp3 [===========>           ] 50% 128.0 KiB/s, eta 4 s"
        );
        assert_eq!(bar_line(&r, 24), "song.mp3 [====>   ] 50%");
        assert_eq!(bar_line(&r, 20), "song.mp3 50%");
        assert!(bar_line(&row(1, 1, 1, 1), 80).contains("[==============================]"));
        assert!(bar_line(&row(0, 0, 0, 1), 80).contains("100%"));
    }

    #[test]
    fn a_resume_counts_only_the_bytes_this_transfer_received() {
        // 1 GiB already on disk, 1 MiB received in 2 s: 512 KiB/s, not 512 MiB/s.
        let gib = 1 << 30;
        let r = row(gib + (1 << 20), 2 * gib, 1 << 20, 2);
        assert!(bar_line(&r, 120).contains(", 512.0 KiB/s,"));
        // The first redraw, a moment after the bytes started: no rate yet.
        let t0 = Instant::now();
        let flow = Flow {
            bytes: gib,
            size: 2 * gib,
            moved: 4 << 20,
            since: Some(t0),
        };
        let early = Row::new("download", "f", "bob", flow, t0 + Duration::from_millis(20));
        assert_eq!((early.rate, early.eta_s), (0.0, None));
        assert!(bar_line(&early, 120).ends_with(", 0 B/s, eta --"));
    }
}
