//! Store tickets and what they hold back: a table keyed by token (redeeming or issuing
//! one never scans the others; expiry is a heap), the names reserved by upload tickets
//! and running uploads, the bytes those uploads announced (counted against the user's
//! quota and the disk's free space until they end), and the open tickets per user.

use crate::proto::message::{StoreKind, StoreToken};
use crate::proto::status::Status;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::time::{Duration, Instant};

/// What a store ticket allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TicketOp {
    /// Upload the entry as declared (already checked against every limit).
    Put {
        replace: bool,
        kind: StoreKind,
        files: u64,
        dirs: u64,
        bytes: u64,
    },
    /// Download the entry.
    Get,
}

/// A short-lived, single-use permission for one store connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ticket {
    /// The logged-in user it was issued to.
    pub user: String,
    /// The store entry.
    pub name: String,
    pub op: TicketOp,
    /// Not redeemable from this instant on.
    pub expires: Instant,
}

/// A refusal: the status, the text, and for a 429 the seconds after which to retry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: Status,
    pub text: String,
    pub retry_after: Option<u32>,
}

impl Refusal {
    fn new(status: Status, text: String) -> Refusal {
        Refusal {
            status,
            text,
            retry_after: None,
        }
    }
}

/// An upload ticket out, or the upload it started: its name is taken meanwhile.
#[derive(Debug, Clone)]
struct Reserved {
    user: String,
    /// Bytes the upload announced.
    announced: u64,
    /// Bytes of it already written (so already gone from the disk's free space).
    written: u64,
}

/// One user's open tickets.
#[derive(Debug, Default)]
struct UserUse {
    /// Tickets issued and not yet redeemed or expired.
    unredeemed: u32,
    /// Uploads redeemed and still running (they hold their name and bytes).
    running: u32,
    /// Announced bytes of this user's reserved uploads.
    bytes: u64,
    /// Expiry of each ticket issued, in issue order (redeemed ones are skipped lazily).
    issued: VecDeque<(Instant, StoreToken)>,
}

/// Every open ticket and reservation.
#[derive(Debug)]
pub struct Tickets {
    ttl: Duration,
    /// Open tickets and running uploads per user (0: no limit).
    max_per_user: u32,
    by_token: HashMap<StoreToken, Ticket>,
    expiry: BinaryHeap<Reverse<(Instant, StoreToken)>>,
    users: HashMap<String, UserUse>,
    reserved: HashMap<String, Reserved>,
    /// Announced bytes not yet written, over every reservation.
    pending_disk: u64,
    /// (user, name) whose upload ticket expired unused: not reserved again by that
    /// user before the instant, so a name cannot be held by renewing tickets for ever.
    cooldown: HashMap<(String, String), Instant>,
    cooldown_order: VecDeque<(Instant, String, String)>,
}

fn secs_up(d: Duration) -> u32 {
    let ms = d.as_millis();
    u32::try_from(ms.div_ceil(1000)).unwrap_or(u32::MAX).max(1)
}

impl Tickets {
    /// An empty table: tickets live `ttl`; at most `max_per_user` open per user.
    pub fn new(ttl: Duration, max_per_user: u32) -> Tickets {
        Tickets {
            ttl,
            max_per_user,
            by_token: HashMap::new(),
            expiry: BinaryHeap::new(),
            users: HashMap::new(),
            reserved: HashMap::new(),
            pending_disk: 0,
            cooldown: HashMap::new(),
            cooldown_order: VecDeque::new(),
        }
    }

    /// How long a ticket lives.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Forget tickets whose time ran out (their names and bytes are freed) and
    /// cool-downs that ended. Costs only what expired.
    pub fn purge(&mut self, now: Instant) {
        while let Some(Reverse((at, token))) = self.expiry.peek().copied() {
            if at > now {
                break;
            }
            self.expiry.pop();
            let Some(ticket) = self.by_token.remove(&token) else {
                continue; // redeemed meanwhile
            };
            if let Some(u) = self.users.get_mut(&ticket.user) {
                u.unredeemed = u.unredeemed.saturating_sub(1);
            }
            if matches!(ticket.op, TicketOp::Put { .. }) {
                self.release(&ticket.name);
                let until = at + self.ttl;
                let key = (ticket.user.clone(), ticket.name.clone());
                self.cooldown.insert(key, until);
                self.cooldown_order
                    .push_back((until, ticket.user.clone(), ticket.name.clone()));
            }
            self.tidy_user(&ticket.user);
        }
        while let Some((until, user, name)) = self.cooldown_order.front() {
            if *until > now {
                break;
            }
            let key = (user.clone(), name.clone());
            if self.cooldown.get(&key).is_some_and(|u| u <= &now) {
                self.cooldown.remove(&key);
            }
            self.cooldown_order.pop_front();
        }
    }

    fn tidy_user(&mut self, user: &str) {
        let by_token = &self.by_token;
        let empty = self.users.get_mut(user).is_some_and(|u| {
            while u
                .issued
                .front()
                .is_some_and(|(_, t)| !by_token.contains_key(t))
            {
                u.issued.pop_front();
            }
            u.unredeemed == 0 && u.running == 0 && u.bytes == 0
        });
        if empty {
            self.users.remove(user);
        }
    }

    /// Whether `name` is reserved by an upload ticket or a running upload.
    pub fn is_reserved(&self, name: &str) -> bool {
        self.reserved.contains_key(name)
    }

    /// Announced bytes of `user`'s reserved uploads.
    pub fn user_reserved(&self, user: &str) -> u64 {
        self.users.get(user).map_or(0, |u| u.bytes)
    }

    /// Announced bytes not yet written, over every reserved upload but `except`.
    pub fn pending_disk(&self, except: Option<&str>) -> u64 {
        let own = except
            .and_then(|n| self.reserved.get(n))
            .map_or(0, |r| r.announced.saturating_sub(r.written));
        self.pending_disk.saturating_sub(own)
    }

    /// May `user` have one more ticket (for `put`: reserving `name`)? A refusal is 429
    /// with the seconds until one of the user's tickets expires, or 409 for a name
    /// taken by an upload under way.
    pub fn admit(&mut self, user: &str, put: Option<&str>, now: Instant) -> Result<(), Refusal> {
        self.purge(now);
        if let Some(name) = put {
            if self.reserved.contains_key(name) {
                return Err(Refusal::new(
                    Status::NAME_TAKEN,
                    format!("{name} is being uploaded right now"),
                ));
            }
            let key = (user.to_owned(), name.to_owned());
            if let Some(until) = self.cooldown.get(&key) {
                let wait = secs_up(until.saturating_duration_since(now));
                return Err(Refusal {
                    status: Status::RATE_LIMITED,
                    text: format!(
                        "your last upload ticket for {name} went unused; ask again in {wait} s"
                    ),
                    retry_after: Some(wait),
                });
            }
        }
        let Some(u) = self.users.get_mut(user) else {
            return Ok(());
        };
        let open = u.unredeemed.saturating_add(u.running);
        if self.max_per_user == 0 || open < self.max_per_user {
            return Ok(());
        }
        let by_token = &self.by_token;
        while u
            .issued
            .front()
            .is_some_and(|(_, t)| !by_token.contains_key(t))
        {
            u.issued.pop_front();
        }
        let wait = u
            .issued
            .front()
            .map_or(self.ttl, |(at, _)| at.saturating_duration_since(now));
        let wait = secs_up(wait);
        Err(Refusal {
            status: Status::RATE_LIMITED,
            text: format!(
                "you have {open} store tickets or uploads open (at most {}); try again in {wait} s",
                self.max_per_user
            ),
            retry_after: Some(wait),
        })
    }

    /// Record a ticket that passed [`Tickets::admit`] and every store check: an upload
    /// ticket reserves its name and announced bytes.
    pub fn insert(&mut self, token: StoreToken, ticket: Ticket) {
        let u = self.users.entry(ticket.user.clone()).or_default();
        u.unredeemed += 1;
        u.issued.push_back((ticket.expires, token));
        if let TicketOp::Put { bytes, .. } = ticket.op {
            u.bytes = u.bytes.saturating_add(bytes);
            self.pending_disk = self.pending_disk.saturating_add(bytes);
            self.reserved.insert(
                ticket.name.clone(),
                Reserved {
                    user: ticket.user.clone(),
                    announced: bytes,
                    written: 0,
                },
            );
        }
        self.expiry.push(Reverse((ticket.expires, token)));
        self.by_token.insert(token, ticket);
    }

    /// A store connection presents `token`: the ticket, if known and unexpired; it is
    /// used up now. An upload keeps its reservation until [`Tickets::upload_ended`].
    pub fn redeem(&mut self, token: &StoreToken, now: Instant) -> Option<Ticket> {
        self.purge(now);
        let ticket = self.by_token.remove(token)?;
        if let Some(u) = self.users.get_mut(&ticket.user) {
            u.unredeemed = u.unredeemed.saturating_sub(1);
            if matches!(ticket.op, TicketOp::Put { .. }) {
                u.running += 1;
            }
        }
        self.tidy_user(&ticket.user);
        Some(ticket)
    }

    /// A running upload has written `written` bytes so far.
    pub fn progress(&mut self, name: &str, written: u64) {
        if let Some(r) = self.reserved.get_mut(name) {
            let more = written.min(r.announced).saturating_sub(r.written);
            r.written += more;
            self.pending_disk = self.pending_disk.saturating_sub(more);
        }
    }

    /// A redeemed upload ended (committed, failed or cut off): its name and bytes are free.
    pub fn upload_ended(&mut self, ticket: &Ticket) {
        if let Some(u) = self.users.get_mut(&ticket.user) {
            u.running = u.running.saturating_sub(1);
        }
        self.release(&ticket.name);
        self.tidy_user(&ticket.user);
    }

    fn release(&mut self, name: &str) {
        let Some(r) = self.reserved.remove(name) else {
            return;
        };
        self.pending_disk = self
            .pending_disk
            .saturating_sub(r.announced.saturating_sub(r.written));
        if let Some(u) = self.users.get_mut(&r.user) {
            u.bytes = u.bytes.saturating_sub(r.announced);
        }
    }

    /// Tickets not yet redeemed or expired (for tests and statistics).
    pub fn open(&self) -> usize {
        self.by_token.len()
    }
}

/// Does the disk, with `free` bytes free, take `bytes` more while keeping `reserve`
/// free, when `pending` bytes announced by other uploads are still to be written?
pub fn disk_allows(free: u64, bytes: u64, reserve: u64, pending: u64) -> Result<(), Refusal> {
    let needed = bytes.saturating_add(reserve).saturating_add(pending);
    if free < needed {
        let text = if pending > 0 {
            format!(
                "the hub's disk has {free} bytes free, {pending} of them promised to uploads under way"
            )
        } else {
            format!("the hub's disk has {free} bytes free")
        };
        return Err(Refusal::new(Status::DISK_FULL, text));
    }
    Ok(())
}

/// Does `used` (committed, the entry being replaced left out) plus `reserved` plus
/// `bytes` stay within `quota` (0: no limit)?
pub fn quota_allows(quota: u64, used: u64, reserved: u64, bytes: u64) -> Result<(), Refusal> {
    if quota == 0 {
        return Ok(());
    }
    let held = used.saturating_add(reserved);
    if held.saturating_add(bytes) > quota {
        let text = if reserved > 0 {
            format!("{bytes} more bytes would pass your quota of {quota} (you use {used}, and {reserved} are being uploaded)")
        } else {
            format!("{bytes} more bytes would pass your quota of {quota} (you use {used})")
        };
        return Err(Refusal::new(Status::QUOTA_EXCEEDED, text));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(user: &str, name: &str, bytes: u64, expires: Instant) -> Ticket {
        Ticket {
            user: user.into(),
            name: name.into(),
            op: TicketOp::Put {
                replace: false,
                kind: StoreKind::File,
                files: 1,
                dirs: 0,
                bytes,
            },
            expires,
        }
    }

    fn get(user: &str, name: &str, expires: Instant) -> Ticket {
        Ticket {
            user: user.into(),
            name: name.into(),
            op: TicketOp::Get,
            expires,
        }
    }

    fn token(n: u32) -> StoreToken {
        let mut t = [0u8; 16];
        t[..4].copy_from_slice(&n.to_be_bytes());
        t
    }

    const TTL: Duration = Duration::from_secs(30);

    #[test]
    fn the_ticket_limit_refuses_the_next_with_retry_after() {
        let t0 = Instant::now();
        let mut t = Tickets::new(TTL, 2);
        t.admit("eve", Some("a"), t0).unwrap();
        t.insert(token(1), put("eve", "a", 1, t0 + TTL));
        let t1 = t0 + Duration::from_secs(10);
        t.admit("eve", None, t1).unwrap();
        t.insert(token(2), get("eve", "x", t1 + TTL));
        let r = t.admit("eve", Some("c"), t1).unwrap_err();
        assert_eq!(r.status, Status::RATE_LIMITED);
        assert_eq!(r.retry_after, Some(20), "{r:?}");
        // Someone else is not held back.
        t.admit("bob", Some("c"), t1).unwrap();
        // A redeemed download frees its slot; a running upload keeps its own.
        assert!(t.redeem(&token(2), t1).is_some());
        let up = t.redeem(&token(1), t1).unwrap();
        t.admit("eve", None, t1).unwrap();
        t.insert(token(3), get("eve", "y", t1 + TTL));
        let r = t.admit("eve", None, t1).unwrap_err();
        assert_eq!(r.retry_after, Some(30));
        t.upload_ended(&up);
        t.admit("eve", None, t1).unwrap();
        // Expiry frees the rest; nothing is left behind.
        t.purge(t1 + TTL);
        assert_eq!(t.open(), 0);
        assert!(t.users.is_empty() && t.reserved.is_empty() && t.pending_disk == 0);
    }

    #[test]
    fn an_unused_upload_ticket_frees_its_name_and_cannot_be_renewed_at_once() {
        let t0 = Instant::now();
        let mut t = Tickets::new(TTL, 4);
        t.insert(token(1), put("eve", "squat", 5, t0 + TTL));
        assert!(t.is_reserved("squat"));
        let r = t.admit("bob", Some("squat"), t0).unwrap_err();
        assert_eq!(r.status, Status::NAME_TAKEN);
        // It expires with the ticket: free for others at once, not for eve.
        let t1 = t0 + TTL;
        t.admit("bob", Some("squat"), t1).unwrap();
        let r = t.admit("eve", Some("squat"), t1).unwrap_err();
        assert_eq!(r.status, Status::RATE_LIMITED);
        assert_eq!(r.retry_after, Some(30));
        t.admit("eve", Some("squat"), t1 + TTL).unwrap();
        assert!(t.cooldown.is_empty() && t.cooldown_order.is_empty());
        // A redeemed ticket is gone: a second redemption finds nothing.
        t.insert(token(2), put("eve", "used", 5, t1 + TTL + TTL));
        let used = t.redeem(&token(2), t1 + TTL).unwrap();
        assert!(t.redeem(&token(2), t1 + TTL).is_none());
        assert!(t.is_reserved("used"));
        t.upload_ended(&used);
        assert!(!t.is_reserved("used"));
    }

    #[test]
    fn in_flight_uploads_count_against_quota_and_disk_until_they_end() {
        let t0 = Instant::now();
        let mut t = Tickets::new(TTL, 0);
        // --store-quota 1000: the first 800-byte upload is admitted, the second is not.
        quota_allows(1000, 0, t.user_reserved("eve"), 800).unwrap();
        t.insert(token(1), put("eve", "a", 800, t0 + TTL));
        let r = quota_allows(1000, 0, t.user_reserved("eve"), 800).unwrap_err();
        assert_eq!(r.status, Status::QUOTA_EXCEEDED);
        // A 40 MiB disk with a 4 MiB reserve takes one 20 MiB upload, not two.
        const MIB: u64 = 1 << 20;
        disk_allows(40 * MIB, 20 * MIB, 4 * MIB, t.pending_disk(None) - 800).unwrap();
        t.insert(token(2), put("bob", "b", 20 * MIB, t0 + TTL));
        let r = disk_allows(40 * MIB, 20 * MIB, 4 * MIB, t.pending_disk(None)).unwrap_err();
        assert_eq!(r.status, Status::DISK_FULL);
        // Written bytes leave the free figure and the pending sum together.
        let b = t.redeem(&token(2), t0).unwrap();
        t.progress("b", 15 * MIB);
        assert_eq!(t.pending_disk(None), 5 * MIB + 800);
        assert_eq!(t.pending_disk(Some("b")), 800);
        t.progress("b", 99 * MIB);
        assert_eq!(t.pending_disk(None), 800);
        t.upload_ended(&b);
        // Expiry releases the unused one.
        t.purge(t0 + TTL);
        assert_eq!(t.user_reserved("eve"), 0);
        assert_eq!(t.pending_disk(None), 0);
        quota_allows(1000, 0, 0, 800).unwrap();
        quota_allows(0, u64::MAX, u64::MAX, u64::MAX).unwrap();
    }

    #[test]
    fn purging_costs_what_expired_not_what_is_open() {
        let t0 = Instant::now();
        let mut t = Tickets::new(TTL, 0);
        for n in 0..50_000 {
            t.insert(token(n), get(&format!("u{}", n % 100), "x", t0 + TTL));
        }
        // Each redemption of an unknown token leaves the heap as it was: nothing is
        // scanned because nothing expired.
        for n in 50_000..100_000 {
            assert!(t.redeem(&token(n), t0).is_none());
            assert_eq!(t.expiry.len(), 50_000);
        }
        assert!(t.redeem(&token(7), t0).is_some());
        t.purge(t0 + TTL);
        assert_eq!(t.expiry.len(), 0);
        assert_eq!(t.open(), 0);
    }
}
