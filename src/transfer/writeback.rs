//! Write-behind for a file being received (the hub's store uploads): writeback of what
//! was written is started as the bytes come (`sync_file_range`, which does not wait),
//! and waited for only on ranges far behind the write position, so the dirty pages one
//! file leaves are bounded and the `fdatasync` at commit has little left to do.

use crate::sys::{self, RangeSync};
use std::fs::File;
use std::io;

/// Writeback is started each time this many bytes were written since the last start.
const START_EVERY: u64 = 1024 * 1024;

/// Writeback is waited for on what lies more than this far behind the last start.
const WAIT_BEHIND: u64 = 16 * 1024 * 1024;

/// Ranges of a file to write back now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Plan {
    /// Start writing back `(offset, len)`.
    pub start: Option<(u64, u64)>,
    /// Wait until `(offset, len)` is written back.
    pub finish: Option<(u64, u64)>,
}

/// How far writeback of one file got.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteBehind {
    /// Writeback was started for every byte before this offset.
    started: u64,
    /// Writeback was waited for on every byte before this offset.
    finished: u64,
}

impl WriteBehind {
    /// A file written from its start.
    pub fn new() -> WriteBehind {
        WriteBehind::default()
    }

    /// What to do now that every byte before `at` is written (`last`: the file is
    /// complete). Small pieces wait until they add up; the last one does not.
    pub fn plan(&mut self, at: u64, last: bool) -> Plan {
        let mut plan = Plan::default();
        let unstarted = at.saturating_sub(self.started);
        if unstarted >= START_EVERY || (last && unstarted > 0) {
            plan.start = Some((self.started, unstarted));
            self.started = at;
        }
        let behind = self.started.saturating_sub(WAIT_BEHIND);
        if behind.saturating_sub(self.finished) >= START_EVERY {
            plan.finish = Some((self.finished, behind - self.finished));
            self.finished = behind;
        }
        plan
    }

    /// [`WriteBehind::plan`], carried out on `file`.
    pub fn wrote(&mut self, file: &File, at: u64, last: bool) -> io::Result<()> {
        let plan = self.plan(at, last);
        if let Some((offset, len)) = plan.start {
            sys::sync_file_range(file, offset, len, RangeSync::Start)?;
        }
        if let Some((offset, len)) = plan.finish {
            sys::sync_file_range(file, offset, len, RangeSync::Finish)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1024 * 1024;

    #[test]
    fn writeback_starts_every_mebibyte_and_at_the_end() {
        let mut wb = WriteBehind::new();
        assert_eq!(wb.plan(64 * 1024, false), Plan::default());
        assert_eq!(wb.plan(MIB - 1, false), Plan::default());
        assert_eq!(wb.plan(MIB, false).start, Some((0, MIB)));
        assert_eq!(wb.plan(MIB + 10, false), Plan::default());
        assert_eq!(wb.plan(3 * MIB, false).start, Some((MIB, 2 * MIB)));
        // The last piece goes at once, however small.
        assert_eq!(wb.plan(3 * MIB + 10, true).start, Some((3 * MIB, 10)));
        assert_eq!(wb.plan(3 * MIB + 10, true), Plan::default());
        // A small file is started whole when it is complete.
        let mut small = WriteBehind::new();
        assert_eq!(small.plan(5, false), Plan::default());
        assert_eq!(
            small.plan(100, true),
            Plan {
                start: Some((0, 100)),
                finish: None
            }
        );
        assert_eq!(WriteBehind::new().plan(0, true), Plan::default());
    }

    #[test]
    fn only_ranges_far_behind_are_waited_for_and_each_once() {
        let mut wb = WriteBehind::new();
        for n in 1..=16 {
            assert_eq!(wb.plan(n * MIB, false).finish, None, "at {n} MiB");
        }
        assert_eq!(wb.plan(17 * MIB, false).finish, Some((0, MIB)));
        // A big step waits for everything that fell far behind, in one range.
        let plan = wb.plan(40 * MIB, false);
        assert_eq!(plan.start, Some((17 * MIB, 23 * MIB)));
        assert_eq!(plan.finish, Some((MIB, 23 * MIB)));
        // What is never waited for is at most the window and a start's worth.
        let mut wb = WriteBehind::new();
        let mut at = 0;
        while at < 200 * MIB {
            at += 300 * 1024;
            wb.plan(at, false);
            assert!(at - wb.finished <= WAIT_BEHIND + 2 * START_EVERY, "at {at}");
        }
    }

    #[test]
    fn wrote_starts_and_finishes_on_a_real_file() {
        let path = std::env::temp_dir().join(format!("peerhub-wb-{}", std::process::id()));
        let file = File::create(&path).unwrap();
        let mut wb = WriteBehind::new();
        let chunk = vec![1u8; MIB as usize];
        let mut at = 0;
        for _ in 0..20 {
            std::os::unix::fs::FileExt::write_all_at(&file, &chunk, at).unwrap();
            at += MIB;
            wb.wrote(&file, at, false).unwrap();
        }
        wb.wrote(&file, at, true).unwrap();
        assert_eq!(wb.started, 20 * MIB);
        assert_eq!(wb.finished, 4 * MIB);
        std::fs::remove_file(&path).unwrap();
    }
}
