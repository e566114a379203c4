//! Reports of holders that served bad data: who was referred to whom (recorded at
//! lookup, bounded, for a few minutes), and which holders are demoted for whom. A report
//! counts only after a referral, once per (reporter, holder, file); it demotes the holder
//! for the reporter, and for everyone once [`REPORT_QUORUM`] distinct users reported the
//! same content. Content the holder announces with another hash is not demoted.

use super::inline_name::Name;
use crate::proto::message::Hash;
use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// Distinct reporters after whom a holder is demoted for everyone.
pub const REPORT_QUORUM: usize = 3;
/// How long a lookup's referral may be reported.
pub const REFERRAL_TTL: Duration = Duration::from_secs(5 * 60);
/// Referrals one session remembers (the oldest go first).
const MAX_REFERRALS: usize = 256;
/// Reported (holder, file) pairs the hub remembers (the oldest go first).
const MAX_REPORTED: usize = 65_536;

/// The holders one session was sent to, by (name, holder, hash), with when.
#[derive(Debug, Default)]
pub struct Referrals {
    sent: VecDeque<(u64, Instant)>,
}

impl Referrals {
    /// The session was sent to `holder` for `name` announcing `hash`.
    pub fn record(&mut self, name: &str, holder: &str, hash: &Hash, now: Instant) {
        if self.sent.len() == MAX_REFERRALS {
            self.sent.pop_front();
        }
        self.sent.push_back((fingerprint(name, holder, hash), now));
    }

    /// Whether the session was sent there within [`REFERRAL_TTL`].
    pub fn contains(&self, name: &str, holder: &str, hash: &Hash, now: Instant) -> bool {
        let wanted = fingerprint(name, holder, hash);
        self.sent
            .iter()
            .rev()
            .take_while(|(_, at)| now.saturating_duration_since(*at) <= REFERRAL_TTL)
            .any(|(f, _)| *f == wanted)
    }
}

fn fingerprint(name: &str, holder: &str, hash: &Hash) -> u64 {
    use std::hash::{Hash as _, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (name, holder, hash).hash(&mut h);
    h.finish()
}

/// What a report did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counted {
    /// A new reporter: the holder is demoted for them; `reporters` so far.
    Yes { reporters: usize },
    /// This user reported this content of this holder already.
    Again,
}

/// The reports on one holder's file, for the content it announced.
#[derive(Debug)]
struct Reported {
    hash: Hash,
    /// Distinct reporters, at most [`REPORT_QUORUM`].
    reporters: Vec<Name>,
}

/// Every report the hub keeps, by holder, then by file name.
#[derive(Debug, Default)]
pub struct Reports {
    files: HashMap<Name, HashMap<Name, Reported>>,
    /// (holder, name) in the order first reported, to forget the oldest.
    order: VecDeque<(Name, Name)>,
    count: usize,
}

impl Reports {
    /// Whether no report is kept (lookups then skip every check).
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    fn get(&self, holder: &str, name: &str) -> Option<&Reported> {
        self.files.get(holder)?.get(name)
    }

    fn remove(&mut self, holder: &str, name: &str) {
        if let Some(files) = self.files.get_mut(holder) {
            if files.remove(name).is_some() {
                self.count -= 1;
            }
            if files.is_empty() {
                self.files.remove(holder);
            }
        }
    }

    /// `reporter` says `holder` served bad data for `name`, announced as `hash`.
    pub fn report(&mut self, reporter: &str, holder: &str, name: &str, hash: &Hash) -> Counted {
        if self.get(holder, name).is_none() {
            // Entries dropped by `published` leave their key behind in `order`.
            while self.count >= MAX_REPORTED || self.order.len() >= 2 * MAX_REPORTED {
                let Some((h, n)) = self.order.pop_front() else {
                    break;
                };
                self.remove(&h, &n);
            }
            self.order.push_back((Name::new(holder), Name::new(name)));
            self.count += 1;
        }
        let entry = self
            .files
            .entry(Name::new(holder))
            .or_default()
            .entry(Name::new(name))
            .or_insert_with(|| Reported {
                hash: *hash,
                reporters: Vec::new(),
            });
        if entry.hash != *hash {
            // Reports on content the holder no longer announces say nothing of this one.
            entry.hash = *hash;
            entry.reporters.clear();
        }
        if entry.reporters.iter().any(|r| r.as_str() == reporter) {
            return Counted::Again;
        }
        if entry.reporters.len() < REPORT_QUORUM {
            entry.reporters.push(Name::new(reporter));
        }
        Counted::Yes {
            reporters: entry.reporters.len(),
        }
    }

    /// Whether `holder`, announcing `hash` for `name`, is demoted for `reader`: reported
    /// by `reader`, or by [`REPORT_QUORUM`] users, for that same content.
    pub fn demoted(&self, reader: &str, holder: &str, name: &str, hash: &Hash) -> bool {
        self.get(holder, name).is_some_and(|r| {
            r.hash == *hash
                && (r.reporters.len() >= REPORT_QUORUM
                    || r.reporters.iter().any(|u| u.as_str() == reader))
        })
    }

    /// `holder` announced `hash` for `name`: reports on other content are dropped.
    pub fn published(&mut self, holder: &str, name: &str, hash: &Hash) {
        if self.get(holder, name).is_some_and(|r| r.hash != *hash) {
            self.remove(holder, name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_referral_can_be_reported_for_a_few_minutes_and_memory_is_bounded() {
        let t0 = Instant::now();
        let mut r = Referrals::default();
        r.record("x", "alice", &[1; 32], t0);
        assert!(r.contains("x", "alice", &[1; 32], t0 + REFERRAL_TTL));
        assert!(!r.contains(
            "x",
            "alice",
            &[1; 32],
            t0 + REFERRAL_TTL + Duration::from_secs(1)
        ));
        assert!(!r.contains("x", "alice", &[2; 32], t0), "another hash");
        assert!(!r.contains("x", "bob", &[1; 32], t0), "another holder");
        assert!(!r.contains("y", "alice", &[1; 32], t0), "another file");
        for i in 0..MAX_REFERRALS {
            r.record(&format!("f{i}"), "bob", &[1; 32], t0);
        }
        assert_eq!(r.sent.len(), MAX_REFERRALS);
        assert!(
            !r.contains("x", "alice", &[1; 32], t0),
            "the oldest went first"
        );
        assert!(r.contains("f0", "bob", &[1; 32], t0));
    }

    #[test]
    fn one_report_demotes_for_the_reporter_a_quorum_for_everyone() {
        let mut r = Reports::default();
        let h = [7; 32];
        assert_eq!(
            r.report("m1", "alice", "x", &h),
            Counted::Yes { reporters: 1 }
        );
        assert!(r.demoted("m1", "alice", "x", &h));
        assert!(!r.demoted("bob", "alice", "x", &h), "not for anyone else");
        assert!(!r.demoted("m1", "alice", "y", &h), "not for another file");
        assert_eq!(
            r.report("m1", "alice", "x", &h),
            Counted::Again,
            "once per user"
        );
        assert!(!r.demoted("bob", "alice", "x", &h));
        assert_eq!(
            r.report("m2", "alice", "x", &h),
            Counted::Yes { reporters: 2 }
        );
        assert!(!r.demoted("bob", "alice", "x", &h));
        assert_eq!(
            r.report("m3", "alice", "x", &h),
            Counted::Yes { reporters: 3 }
        );
        assert!(
            r.demoted("bob", "alice", "x", &h),
            "a quorum demotes for everyone"
        );
        assert_eq!(
            r.report("m4", "alice", "x", &h),
            Counted::Yes { reporters: 3 }
        );
    }

    #[test]
    fn new_content_is_not_demoted_and_clears_old_reports() {
        let mut r = Reports::default();
        let (old, new) = ([1; 32], [2; 32]);
        for m in ["m1", "m2", "m3"] {
            r.report(m, "alice", "x", &old);
        }
        assert!(r.demoted("bob", "alice", "x", &old));
        assert!(
            !r.demoted("bob", "alice", "x", &new),
            "a changed file is not blocked"
        );
        assert!(!r.demoted("m1", "alice", "x", &new));
        r.published("alice", "x", &old);
        assert!(
            r.demoted("bob", "alice", "x", &old),
            "the same content again stays demoted"
        );
        r.published("alice", "x", &new);
        assert!(r.is_empty());
        // A report on the new content starts afresh.
        r.report("m1", "alice", "x", &old);
        assert_eq!(
            r.report("m1", "alice", "x", &new),
            Counted::Yes { reporters: 1 }
        );
        assert!(!r.demoted("m1", "alice", "x", &old));
    }

    #[test]
    fn the_oldest_reports_go_first_past_the_bound() {
        let mut r = Reports::default();
        for i in 0..=MAX_REPORTED {
            r.report("m", &format!("h{i}"), "x", &[1; 32]);
        }
        assert_eq!(r.count, MAX_REPORTED);
        assert_eq!(r.files.len(), MAX_REPORTED);
        assert!(!r.demoted("m", "h0", "x", &[1; 32]));
        assert!(r.demoted("m", &format!("h{MAX_REPORTED}"), "x", &[1; 32]));
    }
}
