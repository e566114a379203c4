//! Rate limits: a token bucket per user for chat, and one-minute window counters per
//! address or account for failed logins, registrations and password hashes.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// A token bucket: `rate` tokens per second, holding at most `burst`. Rate 0 means unlimited.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(burst: f64, now: Instant) -> TokenBucket {
        TokenBucket {
            tokens: burst,
            last: now,
        }
    }

    /// Take one token if there is one.
    pub fn take(&mut self, rate: f64, burst: f64, now: Instant) -> bool {
        if rate <= 0.0 {
            return true;
        }
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate).min(burst);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// How long a window of counted attempts lasts.
pub const AUTH_WINDOW: Duration = Duration::from_secs(60);
/// Keys remembered at most; old windows are swept when this is reached.
const MAX_TRACKED: usize = 65_536;

/// Counts events per key (an address, an account) in one-minute windows: failed
/// logins, or password hashes. A window starts with its first event and lasts
/// [`AUTH_WINDOW`]; a key at its limit is refused until its window ends.
#[derive(Debug)]
pub struct WindowLimiter<K> {
    per_minute: u32,
    windows: HashMap<K, (Instant, u32)>,
}

/// Failed logins and registrations per address.
pub type AuthLimiter = WindowLimiter<IpAddr>;

impl<K: Hash + Eq + Clone> WindowLimiter<K> {
    /// Allow `per_minute` events per key per minute (0: no limit).
    pub fn new(per_minute: u32) -> WindowLimiter<K> {
        WindowLimiter {
            per_minute,
            windows: HashMap::new(),
        }
    }

    /// Events counted for `key` in its current window.
    fn count<Q>(&self, key: &Q, now: Instant) -> u32
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        match self.windows.get(key) {
            Some((start, count)) if now.saturating_duration_since(*start) < AUTH_WINDOW => *count,
            _ => 0,
        }
    }

    /// Whether this key may have `cost` more events now.
    pub fn allows<Q>(&self, key: &Q, cost: u32, now: Instant) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.per_minute == 0 || self.count(key, now).saturating_add(cost) <= self.per_minute
    }

    /// Whether this key may have one more event now.
    pub fn allowed<Q>(&self, key: &Q, now: Instant) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.allows(key, 1, now)
    }

    /// Whether this key had no event in its current window.
    pub fn is_clean<Q>(&self, key: &Q, now: Instant) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.count(key, now) == 0
    }

    /// Whole seconds until this key's window ends (at least 1): what a 429 tells.
    pub fn retry_after<Q>(&self, key: &Q, now: Instant) -> u32
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let left = match self.windows.get(key) {
            Some((start, _)) => (*start + AUTH_WINDOW).saturating_duration_since(now),
            None => Duration::ZERO,
        };
        (left.as_millis().div_ceil(1000) as u32).max(1)
    }

    /// Count `cost` events for this key.
    pub fn record_n(&mut self, key: &K, cost: u32, now: Instant) {
        if self.per_minute == 0 || cost == 0 {
            return;
        }
        if self.windows.len() >= MAX_TRACKED {
            self.windows
                .retain(|_, (start, _)| now.saturating_duration_since(*start) < AUTH_WINDOW);
        }
        let entry = self.windows.entry(key.clone()).or_insert((now, 0));
        if now.saturating_duration_since(entry.0) >= AUTH_WINDOW {
            *entry = (now, 0);
        }
        entry.1 = entry.1.saturating_add(cost);
    }

    /// Count one event for this key.
    pub fn record(&mut self, key: &K, now: Instant) {
        self.record_n(key, 1, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_allows_burst_then_refills() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(3.0, t0);
        assert!(b.take(1.0, 3.0, t0));
        assert!(b.take(1.0, 3.0, t0));
        assert!(b.take(1.0, 3.0, t0));
        assert!(!b.take(1.0, 3.0, t0));
        assert!(b.take(1.0, 3.0, t0 + Duration::from_secs(1)));
        assert!(!b.take(1.0, 3.0, t0 + Duration::from_secs(1)));
    }

    #[test]
    fn zero_rate_is_unlimited() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(0.0, t0);
        assert!((0..1000).all(|_| b.take(0.0, 0.0, t0)));
    }

    #[test]
    fn auth_limiter_window() {
        let t0 = Instant::now();
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let other: IpAddr = "::1".parse().unwrap();
        let mut l = AuthLimiter::new(2);
        assert!(l.allowed(&ip, t0));
        l.record(&ip, t0);
        l.record(&ip, t0);
        assert!(!l.allowed(&ip, t0));
        assert!(l.allowed(&other, t0));
        assert!(l.allowed(&ip, t0 + AUTH_WINDOW));
        let off = AuthLimiter::new(0);
        assert!(off.allowed(&ip, t0));
    }

    #[test]
    fn window_costs_and_retry_after() {
        let t0 = Instant::now();
        let mut l: WindowLimiter<String> = WindowLimiter::new(5);
        let key = "alice".to_string();
        assert!(l.is_clean("alice", t0));
        l.record_n(&key, 4, t0);
        assert!(l.allows("alice", 1, t0));
        assert!(
            !l.allows("alice", 2, t0),
            "a cost of two does not fit in one left"
        );
        l.record(&key, t0 + Duration::from_secs(10));
        assert!(!l.allowed("alice", t0 + Duration::from_secs(10)));
        assert!(!l.is_clean("alice", t0));
        assert_eq!(
            l.retry_after("alice", t0 + Duration::from_millis(10_500)),
            50
        );
        assert_eq!(
            l.retry_after("alice", t0 + Duration::from_millis(59_999)),
            1
        );
        assert!(l.allowed("alice", t0 + AUTH_WINDOW));
        assert!(l.is_clean("alice", t0 + AUTH_WINDOW));
    }
}
