//! Who may try a password now: failed attempts per address (`--auth-rate`) and per
//! account (`--account-auth-rate`), and password hashes per address (`--hash-rate`).
//! Pure: the hub asks before each password check and tells the outcome after it.
//!
//! A lock on an account must not keep its owner out: an address that logged in to the
//! account successfully before, or registered it ("a known address"), and has no failed attempt of its own
//! in the current window is let through even while the account is at its limit. An
//! attacker rotating addresses does not have those; the owner usually does. Every other
//! address waits for the account's window (one minute) to end.

use super::inline_name::Name;
use super::limits::{AuthLimiter, WindowLimiter, AUTH_WINDOW};
use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Instant;

/// Addresses remembered per account as known (the most recent successful logins).
const KNOWN_PER_ACCOUNT: usize = 4;
/// Accounts whose known addresses are remembered at most (the oldest are forgotten).
const MAX_KNOWN_ACCOUNTS: usize = 100_000;

/// Limits for password checks, per minute (0: no limit).
#[derive(Debug, Clone, Copy)]
pub struct GuardLimits {
    /// Failed logins, wrong `passwd` old passwords and registrations of a taken name,
    /// per address (successes do not count).
    pub address_failures: u32,
    /// Failed password attempts per account, from any address.
    pub account_failures: u32,
    /// Password hashes per address, whatever their outcome.
    pub hashes: u32,
}

/// Why a password check may not run now: the text and whole seconds to wait.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub text: String,
    pub retry_after: u32,
}

/// How a password check ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The password was right (or the account was created).
    Success,
    /// A wrong password for an existing account.
    WrongPassword,
    /// Another failure that tells an attacker something (no such account, name taken).
    Failed,
    /// Not the user's doing (a database error): not counted as a failure.
    Error,
}

/// The three counters and the known addresses.
#[derive(Debug)]
pub struct Guard {
    address_failures: AuthLimiter,
    account_failures: WindowLimiter<Name>,
    hashes: WindowLimiter<IpAddr>,
    known: HashMap<Name, Vec<KnownAddr>>,
}

/// An address that logged in to an account, and when it last gave that account a
/// wrong password (a known address that fails is not trusted for that window).
#[derive(Debug, Clone, Copy)]
struct KnownAddr {
    ip: IpAddr,
    failed: Option<Instant>,
}

impl Guard {
    pub fn new(limits: GuardLimits) -> Guard {
        Guard {
            address_failures: AuthLimiter::new(limits.address_failures),
            account_failures: WindowLimiter::new(limits.account_failures),
            hashes: WindowLimiter::new(limits.hashes),
            known: HashMap::new(),
        }
    }

    /// May `ip` run a check costing `hashes` password hashes, for `account` if it names one?
    pub fn check(
        &self,
        ip: IpAddr,
        account: Option<&str>,
        hashes: u32,
        now: Instant,
    ) -> Result<(), Refusal> {
        if !self.address_failures.allowed(&ip, now) {
            return Err(Refusal {
                text: "too many failed attempts from your address".into(),
                retry_after: self.address_failures.retry_after(&ip, now),
            });
        }
        if !self.hashes.allows(&ip, hashes, now) {
            return Err(Refusal {
                text: "too many password checks from your address".into(),
                retry_after: self.hashes.retry_after(&ip, now),
            });
        }
        if let Some(account) = account {
            if !self.account_failures.allowed(account, now) && !self.is_known(account, ip, now) {
                return Err(Refusal {
                    text: format!("too many failed attempts for account {account}"),
                    retry_after: self.account_failures.retry_after(account, now),
                });
            }
        }
        Ok(())
    }

    /// A known address of the account with no failure of its own in this window
    /// (against this account, or against any while `--auth-rate` counts them).
    fn is_known(&self, account: &str, ip: IpAddr, now: Instant) -> bool {
        let clean = |known: &KnownAddr| {
            known.ip == ip
                && known
                    .failed
                    .is_none_or(|t| now.saturating_duration_since(t) >= AUTH_WINDOW)
        };
        self.address_failures.is_clean(&ip, now)
            && self
                .known
                .get(account)
                .is_some_and(|ips| ips.iter().any(clean))
    }

    /// A check by `ip` ran, computing `hashes` hashes, and ended with `outcome`.
    pub fn checked(
        &mut self,
        ip: IpAddr,
        account: Option<&str>,
        hashes: u32,
        outcome: Outcome,
        now: Instant,
    ) {
        self.hashes.record_n(&ip, hashes, now);
        match outcome {
            Outcome::Success => {
                if let Some(account) = account {
                    self.remember(account, ip);
                }
            }
            Outcome::WrongPassword => {
                self.address_failures.record(&ip, now);
                if let Some(account) = account {
                    self.account_failures.record(&Name::new(account), now);
                    let ips = self.known.get_mut(account).into_iter().flatten();
                    for known in ips.filter(|known| known.ip == ip) {
                        known.failed = Some(now);
                    }
                }
            }
            Outcome::Failed => self.address_failures.record(&ip, now),
            Outcome::Error => {}
        }
    }

    fn remember(&mut self, account: &str, ip: IpAddr) {
        if self.known.len() >= MAX_KNOWN_ACCOUNTS && !self.known.contains_key(account) {
            self.known.clear();
        }
        let ips = self.known.entry(Name::new(account)).or_default();
        ips.retain(|known| known.ip != ip);
        if ips.len() == KNOWN_PER_ACCOUNT {
            ips.remove(0);
        }
        ips.push(KnownAddr { ip, failed: None });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([127, 0, 0, last])
    }

    fn guard(address: u32, account: u32, hashes: u32) -> Guard {
        Guard::new(GuardLimits {
            address_failures: address,
            account_failures: account,
            hashes,
        })
    }

    #[test]
    fn rotating_addresses_hit_the_account_limit() {
        let t0 = Instant::now();
        let mut g = guard(10, 20, 0);
        for i in 0..20 {
            assert!(g.check(ip(i), Some("alice"), 1, t0).is_ok(), "attempt {i}");
            g.checked(ip(i), Some("alice"), 1, Outcome::WrongPassword, t0);
        }
        let refusal = g.check(ip(200), Some("alice"), 1, t0).unwrap_err();
        assert!(refusal.text.contains("alice"), "{}", refusal.text);
        assert_eq!(refusal.retry_after, 60);
        assert!(
            g.check(ip(200), Some("bob"), 1, t0).is_ok(),
            "other accounts"
        );
        let later = t0 + Duration::from_secs(59);
        assert_eq!(
            g.check(ip(201), Some("alice"), 1, later)
                .unwrap_err()
                .retry_after,
            1
        );
        assert!(g
            .check(ip(201), Some("alice"), 1, t0 + Duration::from_secs(60))
            .is_ok());
    }

    #[test]
    fn the_owner_from_a_known_clean_address_is_let_through_a_locked_account() {
        let t0 = Instant::now();
        let mut g = guard(10, 3, 0);
        let home = ip(1);
        g.checked(home, Some("alice"), 1, Outcome::Success, t0);
        for i in 10..13 {
            g.checked(ip(i), Some("alice"), 1, Outcome::WrongPassword, t0);
        }
        assert!(g.check(ip(99), Some("alice"), 1, t0).is_err());
        assert!(g.check(home, Some("alice"), 1, t0).is_ok());
        // Once the known address failed itself, it waits like everyone else.
        g.checked(home, Some("alice"), 1, Outcome::WrongPassword, t0);
        assert!(g.check(home, Some("alice"), 1, t0).is_err());
    }

    #[test]
    fn a_known_address_that_fails_waits_also_without_an_address_limit() {
        let t0 = Instant::now();
        let mut g = guard(0, 3, 0);
        let home = ip(1);
        g.checked(home, Some("alice"), 1, Outcome::Success, t0);
        for _ in 0..3 {
            g.checked(home, Some("alice"), 1, Outcome::WrongPassword, t0);
        }
        assert!(g.check(home, Some("alice"), 1, t0).is_err());
        // Its own failure is forgiven with the window, as the account's is.
        let later = t0 + Duration::from_secs(60);
        assert!(g.check(home, Some("alice"), 1, later).is_ok());
    }

    #[test]
    fn every_hash_counts_and_successes_are_not_failures() {
        let t0 = Instant::now();
        let mut g = guard(10, 20, 5);
        for _ in 0..50 {
            // Successes never fill the failure windows...
            g.checked(ip(1), Some("u"), 0, Outcome::Success, t0);
        }
        assert!(g.check(ip(1), Some("u"), 1, t0).is_ok());
        // ...but every hash fills the hash window, whatever the outcome.
        g.checked(ip(1), Some("u"), 2, Outcome::Success, t0);
        g.checked(ip(1), None, 2, Outcome::Error, t0);
        assert!(g.check(ip(1), None, 1, t0).is_ok());
        assert!(g.check(ip(1), None, 2, t0).is_err(), "a Passwd costs two");
        g.checked(ip(1), None, 1, Outcome::Failed, t0);
        let refusal = g.check(ip(1), None, 1, t0).unwrap_err();
        assert!(refusal.text.contains("password checks"), "{}", refusal.text);
        assert!(g.check(ip(2), None, 1, t0).is_ok());
    }

    #[test]
    fn address_failures_refuse_first() {
        let t0 = Instant::now();
        let mut g = guard(2, 0, 0);
        g.checked(ip(1), None, 0, Outcome::Failed, t0);
        g.checked(ip(1), Some("x"), 1, Outcome::WrongPassword, t0);
        let refusal = g.check(ip(1), Some("y"), 1, t0).unwrap_err();
        assert!(refusal.text.contains("failed attempts from your address"));
    }
}
