//! Rate limits: a token bucket per user for chat, and a window counter per address for
//! failed logins and registrations.

use std::collections::HashMap;
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

/// How long a window of failed attempts lasts.
pub const AUTH_WINDOW: Duration = Duration::from_secs(60);
/// Addresses remembered at most; old windows are swept when this is reached.
const MAX_TRACKED: usize = 65_536;

/// Counts failed authentication attempts per address in one-minute windows.
#[derive(Debug, Default)]
pub struct AuthLimiter {
    per_minute: u32,
    windows: HashMap<IpAddr, (Instant, u32)>,
}

impl AuthLimiter {
    /// Allow `per_minute` failures per address per minute (0: no limit).
    pub fn new(per_minute: u32) -> AuthLimiter {
        AuthLimiter {
            per_minute,
            windows: HashMap::new(),
        }
    }

    /// Whether this address may attempt now.
    pub fn allowed(&self, ip: IpAddr, now: Instant) -> bool {
        if self.per_minute == 0 {
            return true;
        }
        match self.windows.get(&ip) {
            Some((start, count)) if now.duration_since(*start) < AUTH_WINDOW => {
                *count < self.per_minute
            }
            _ => true,
        }
    }

    /// Count one failed (or costly) attempt from this address.
    pub fn record(&mut self, ip: IpAddr, now: Instant) {
        if self.per_minute == 0 {
            return;
        }
        if self.windows.len() >= MAX_TRACKED {
            self.windows
                .retain(|_, (start, _)| now.duration_since(*start) < AUTH_WINDOW);
        }
        let entry = self.windows.entry(ip).or_insert((now, 0));
        if now.duration_since(entry.0) >= AUTH_WINDOW {
            *entry = (now, 0);
        }
        entry.1 += 1;
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
        assert!(l.allowed(ip, t0));
        l.record(ip, t0);
        l.record(ip, t0);
        assert!(!l.allowed(ip, t0));
        assert!(l.allowed(other, t0));
        assert!(l.allowed(ip, t0 + AUTH_WINDOW));
        let off = AuthLimiter::new(0);
        assert!(off.allowed(ip, t0));
    }
}
