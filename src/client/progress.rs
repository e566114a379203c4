//! Progress bars of running downloads on a terminal (indicatif), drawn only when the
//! loop calls [`Bars::update`] — no ticker thread — and never in `--json` or when
//! stdout is not a terminal.

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::HashMap;
use std::time::Duration;

/// How often the loop redraws the bars.
pub const REDRAW_EVERY: Duration = Duration::from_millis(100);

/// One bar per running download, keyed by the session's download job.
pub struct Bars {
    multi: Option<MultiProgress>,
    bars: HashMap<u64, ProgressBar>,
}

impl Bars {
    /// Bars on stdout when `enabled`; otherwise every call is a no-op.
    pub fn new(enabled: bool) -> Bars {
        Bars {
            multi: enabled
                .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stdout_with_hz(10))),
            bars: HashMap::new(),
        }
    }

    /// Whether bars are drawn at all.
    pub fn enabled(&self) -> bool {
        self.multi.is_some()
    }

    /// Whether any bar is showing.
    pub fn active(&self) -> bool {
        !self.bars.is_empty()
    }

    /// Show `pos` of `len` bytes for download `job` (`label` names it).
    pub fn update(&mut self, job: u64, label: &str, pos: u64, len: u64) {
        let Some(multi) = &self.multi else {
            return;
        };
        let bar = self.bars.entry(job).or_insert_with(|| {
            let bar = multi.add(ProgressBar::new(len));
            let style = ProgressStyle::with_template(
                "{msg:20!} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
            )
            .map(|s| s.progress_chars("=> "))
            .unwrap_or_else(|_| ProgressStyle::default_bar());
            bar.set_style(style);
            bar.set_message(label.to_owned());
            bar
        });
        bar.set_length(len);
        bar.set_position(pos);
    }

    /// Take down the bar of `job`.
    pub fn remove(&mut self, job: u64) {
        if let (Some(multi), Some(bar)) = (&self.multi, self.bars.remove(&job)) {
            bar.finish_and_clear();
            multi.remove(&bar);
        }
    }

    /// Run `f` (which prints lines) with the bars cleared, then draw them again.
    pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        match &self.multi {
            Some(multi) if !self.bars.is_empty() => multi.suspend(f),
            _ => f(),
        }
    }
}
