//! The hub's limits and intervals ([`HubConfig`]), all settable from the command line,
//! the fingerprint of its key and the secret its resume tokens are signed with.

use crate::trust::{Fingerprint, ResumeSecret};
use std::time::Duration;

/// Limits and intervals, all settable from the command line, the hub's fingerprint and
/// its resume secret.
#[derive(Debug, Clone)]
pub struct HubConfig {
    /// A connection must say hello within this.
    pub hello_timeout: Duration,
    /// A connection that never logs in is closed after this much quiet.
    pub idle_timeout: Duration,
    /// A logged-in client quiet for this long is pinged.
    pub ping_interval: Duration,
    /// A ping unanswered for this long drops the client.
    pub ping_timeout: Duration,
    /// Failed logins, wrong `passwd` old passwords and registrations of a taken name
    /// per address per minute; successes do not count (0: no limit).
    pub auth_rate: u32,
    /// Failed password attempts per account per minute, from any address (0: no limit).
    pub account_auth_rate: u32,
    /// Password hashes per address per minute, whatever their outcome (0: no limit).
    pub hash_rate: u32,
    /// Files one account may publish (0: no limit).
    pub max_published: usize,
    /// Chat messages per second per user (0: no limit).
    pub chat_rate: f64,
    /// Chat messages replayed to whoever joins.
    pub history: usize,
    /// How long a store ticket may wait to be redeemed on a store connection.
    pub store_ticket_ttl: Duration,
    /// Most items (files and directories) in one store entry.
    pub store_max_items: u64,
    /// Open store tickets (and the uploads they started) per user (0: no limit).
    pub store_max_tickets: u32,
    /// Store connections open at once (0: no limit), apart from `--max-clients`.
    pub max_store_conns: usize,
    /// How long a fetch ticket of a lookup reply lets its fetcher connect to the holder.
    pub fetch_ticket_ttl: Duration,
    /// The fingerprint of the hub's key, for `stats`: the loop loads the identity and
    /// sets it (`None` for a hub without one, as in unit tests).
    pub fingerprint: Option<Fingerprint>,
    /// How long a resume token handed out at login stays valid.
    pub resume_ttl: Duration,
    /// What resume tokens are signed with: the loop loads `<data>/resume-secret` and
    /// sets it (the default, all zeros, is for unit tests).
    pub resume_secret: ResumeSecret,
}

impl Default for HubConfig {
    fn default() -> Self {
        HubConfig {
            hello_timeout: Duration::from_secs(15),
            idle_timeout: Duration::from_secs(300),
            ping_interval: Duration::from_secs(30),
            ping_timeout: Duration::from_secs(10),
            auth_rate: 10,
            account_auth_rate: 20,
            hash_rate: 120,
            max_published: 10_000,
            chat_rate: 20.0,
            history: 20,
            store_ticket_ttl: Duration::from_secs(30),
            store_max_items: 100_000,
            store_max_tickets: 4,
            max_store_conns: 256,
            fetch_ticket_ttl: Duration::from_secs(60),
            fingerprint: None,
            resume_ttl: Duration::from_secs(12 * 3600),
            resume_secret: ResumeSecret::from_bytes([0; 32]),
        }
    }
}

impl HubConfig {
    /// The chat burst allowance: two seconds' worth, at least five messages.
    pub(super) fn chat_burst(&self) -> f64 {
        (self.chat_rate * 2.0).max(5.0)
    }
}
