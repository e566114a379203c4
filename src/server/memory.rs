//! The hub's memory bounds: which output queues to drop when all of them together pass
//! `--max-output-total`, when to hand freed memory back to the system, and the spare
//! descriptor that lets the hub answer at the open-file limit.

use super::hub::ConnId;
use std::fs::File;
use std::io;
use std::time::{Duration, Instant};

/// Freed bytes (estimated) after which the allocator is asked to give memory back.
const TRIM_AFTER: usize = 4 * 1024 * 1024;
/// At most one trim per this interval (a trim walks the whole heap).
const TRIM_EVERY: Duration = Duration::from_millis(500);
/// What a closed connection is reckoned to free besides its queue (buffers, state).
pub const CONN_OVERHEAD: usize = 4 * 1024;

/// The connections to drop so that `total` queued bytes come back under `limit`: the
/// biggest queues first, as few as possible (Redis drops clients over their output
/// limit likewise). `queues` holds (connection, queued bytes); `limit` 0 means none.
pub fn victims(
    mut queues: Vec<(ConnId, usize)>,
    total: usize,
    limit: usize,
) -> Vec<(ConnId, usize)> {
    if limit == 0 || total <= limit {
        return Vec::new();
    }
    queues.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut left = total;
    let mut out = Vec::new();
    for (conn, bytes) in queues {
        if left <= limit || bytes == 0 {
            break;
        }
        left -= bytes.min(left);
        out.push((conn, bytes));
    }
    out
}

/// When to hand freed heap memory back: after enough was freed, at most so often.
#[derive(Debug)]
pub struct TrimClock {
    freed: usize,
    not_before: Instant,
}

impl TrimClock {
    pub fn new(now: Instant) -> TrimClock {
        TrimClock {
            freed: 0,
            not_before: now,
        }
    }

    /// `bytes` were freed (a queue written out or dropped, a connection closed).
    pub fn freed(&mut self, bytes: usize) {
        self.freed = self.freed.saturating_add(bytes);
    }

    /// Whether to trim now; if so the count starts again.
    pub fn due(&mut self, now: Instant) -> bool {
        if self.freed < TRIM_AFTER || now < self.not_before {
            return false;
        }
        self.freed = 0;
        self.not_before = now + TRIM_EVERY;
        true
    }

    /// When the loop must wake to trim, if a trim waits only for its interval.
    pub fn wake_at(&self) -> Option<Instant> {
        (self.freed >= TRIM_AFTER).then_some(self.not_before)
    }
}

/// A descriptor held in reserve: at the open-file limit it is closed for a moment so
/// that a waiting connection can be accepted, told 503 and closed (not left hanging in
/// the backlog).
#[derive(Debug)]
pub struct Spare {
    file: Option<File>,
}

impl Spare {
    /// Open the reserve (`/dev/null`).
    pub fn open() -> io::Result<Spare> {
        Ok(Spare {
            file: Some(File::open("/dev/null")?),
        })
    }

    /// Give the reserve up so one accept can succeed; `false` if it was already gone.
    pub fn release(&mut self) -> bool {
        self.file.take().is_some()
    }

    /// Take the reserve again (it may fail while descriptors are still short; the next
    /// attempt comes with the next accept).
    pub fn restore(&mut self) {
        if self.file.is_none() {
            self.file = File::open("/dev/null").ok();
        }
    }
}

/// Whether an accept error means the process or the system is out of descriptors.
pub fn out_of_descriptors(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EMFILE) | Some(libc::ENFILE))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_biggest_queues_go_first_and_no_more_than_needed() {
        let queues = vec![(1, 100), (2, 5_000), (3, 300), (4, 4_000), (5, 0)];
        let total = 9_400;
        assert_eq!(victims(queues.clone(), total, 10_000), vec![]);
        assert_eq!(victims(queues.clone(), total, 0), vec![]);
        assert_eq!(victims(queues.clone(), total, 5_000), vec![(2, 5_000)]);
        assert_eq!(
            victims(queues.clone(), total, 400),
            vec![(2, 5_000), (4, 4_000)]
        );
        assert_eq!(
            victims(queues, total, 1),
            vec![(2, 5_000), (4, 4_000), (3, 300), (1, 100)]
        );
    }

    #[test]
    fn trims_wait_for_enough_freed_bytes_and_their_interval() {
        let start = Instant::now();
        let mut clock = TrimClock::new(start);
        clock.freed(TRIM_AFTER - 1);
        assert!(!clock.due(start));
        assert_eq!(clock.wake_at(), None);
        clock.freed(1);
        assert!(clock.due(start));
        clock.freed(TRIM_AFTER);
        assert!(
            !clock.due(start + TRIM_EVERY / 2),
            "too soon after the last"
        );
        assert_eq!(clock.wake_at(), Some(start + TRIM_EVERY));
        assert!(clock.due(start + TRIM_EVERY));
    }

    #[test]
    fn the_spare_is_given_up_once_and_taken_again() {
        let mut spare = Spare::open().unwrap();
        assert!(spare.release());
        assert!(!spare.release());
        spare.restore();
        assert!(spare.release());
    }

    #[test]
    fn emfile_and_enfile_are_out_of_descriptors() {
        assert!(out_of_descriptors(&io::Error::from_raw_os_error(
            libc::EMFILE
        )));
        assert!(out_of_descriptors(&io::Error::from_raw_os_error(
            libc::ENFILE
        )));
        assert!(!out_of_descriptors(&io::Error::from_raw_os_error(
            libc::ECONNABORTED
        )));
    }
}
