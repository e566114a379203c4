//! Repeated warnings of one kind collapse into a summary line with a count, so a flood
//! of bad input cannot turn into a flood of log output.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Lines of one kind written per window before the rest are only counted.
pub const LINES_PER_WINDOW: u32 = 5;
/// How long a window of one kind lasts.
pub const WINDOW: Duration = Duration::from_secs(10);

#[derive(Debug)]
struct Window {
    start: Instant,
    written: u32,
    suppressed: u64,
}

/// What to do with one warning.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Write it (after the summary of an earlier window, if one is given).
    Write(Option<String>),
    /// Only count it.
    Suppress,
}

/// Per-kind windows of warnings. Pure: the caller gives the time and writes the lines.
#[derive(Debug, Default)]
pub struct Warnings {
    kinds: HashMap<&'static str, Window>,
}

fn summary(kind: &str, window: &Window) -> String {
    format!(
        "{} more warning(s) of kind \"{kind}\" suppressed in the last {} s",
        window.suppressed,
        WINDOW.as_secs()
    )
}

impl Warnings {
    /// A warning of `kind` happens now: write it, or count it.
    pub fn note(&mut self, kind: &'static str, now: Instant) -> Verdict {
        let window = self.kinds.entry(kind).or_insert(Window {
            start: now,
            written: 0,
            suppressed: 0,
        });
        let mut earlier = None;
        if now.saturating_duration_since(window.start) >= WINDOW {
            if window.suppressed > 0 {
                earlier = Some(summary(kind, window));
            }
            *window = Window {
                start: now,
                written: 0,
                suppressed: 0,
            };
        }
        if window.written < LINES_PER_WINDOW {
            window.written += 1;
            Verdict::Write(earlier)
        } else {
            window.suppressed += 1;
            Verdict::Suppress
        }
    }

    /// Summaries of windows that ended with warnings only counted: due lines to write
    /// even when no further warning of that kind comes.
    pub fn due(&mut self, now: Instant) -> Vec<String> {
        let mut lines = Vec::new();
        self.kinds.retain(|kind, window| {
            if now.saturating_duration_since(window.start) < WINDOW {
                return true;
            }
            if window.suppressed > 0 {
                lines.push(summary(kind, window));
            }
            false
        });
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_writes_a_few_lines_and_one_summary() {
        let t0 = Instant::now();
        let mut w = Warnings::default();
        let written = (0..10_000)
            .filter(|_| w.note("bad message", t0) != Verdict::Suppress)
            .count();
        assert_eq!(written, LINES_PER_WINDOW as usize);
        assert!(matches!(w.note("bad frame", t0), Verdict::Write(None)));
        assert!(w.due(t0 + Duration::from_secs(1)).is_empty());
        let later = t0 + WINDOW;
        let lines = w.due(later);
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(lines[0].starts_with("9995 more"), "{}", lines[0]);
        assert!(w.due(later).is_empty(), "said once");
    }

    #[test]
    fn the_next_warning_after_a_window_carries_its_summary() {
        let t0 = Instant::now();
        let mut w = Warnings::default();
        for _ in 0..LINES_PER_WINDOW + 2 {
            w.note("k", t0);
        }
        match w.note("k", t0 + WINDOW) {
            Verdict::Write(Some(line)) => assert!(line.starts_with("2 more"), "{line}"),
            other => panic!("{other:?}"),
        }
    }
}
