//! Connections counted per remote address, so that one address cannot take every slot.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;

/// Open connections per IP address, with a limit (`0`: no limit). Each connection is
/// remembered by its key so that releasing it needs no address.
#[derive(Debug)]
pub struct PerAddress<K: Eq + Hash + Copy> {
    limit: usize,
    counts: HashMap<IpAddr, usize>,
    owners: HashMap<K, IpAddr>,
}

impl<K: Eq + Hash + Copy> PerAddress<K> {
    /// A counter that lets at most `limit` connections in from one address (`0`: any number).
    pub fn new(limit: usize) -> PerAddress<K> {
        PerAddress {
            limit,
            counts: HashMap::new(),
            owners: HashMap::new(),
        }
    }

    /// The limit this counter enforces.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Count connection `key` from `ip`, unless that address is at its limit (then `false`).
    pub fn admit(&mut self, key: K, ip: IpAddr) -> bool {
        let count = self.counts.entry(ip).or_insert(0);
        if self.limit > 0 && *count >= self.limit {
            return false;
        }
        *count += 1;
        if let Some(old) = self.owners.insert(key, ip) {
            self.drop_one(old);
        }
        true
    }

    /// Connection `key` closed (a key never admitted is ignored).
    pub fn release(&mut self, key: K) {
        if let Some(ip) = self.owners.remove(&key) {
            self.drop_one(ip);
        }
    }

    /// Connections open from `ip`.
    pub fn count(&self, ip: IpAddr) -> usize {
        self.counts.get(&ip).copied().unwrap_or(0)
    }

    fn drop_one(&mut self, ip: IpAddr) {
        if let Some(count) = self.counts.get_mut(&ip) {
            *count -= 1;
            if *count == 0 {
                self.counts.remove(&ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([127, 0, 0, last])
    }

    #[test]
    fn the_limit_holds_per_address_and_frees_on_release() {
        let mut p = PerAddress::new(2);
        assert!(p.admit(1, ip(1)));
        assert!(p.admit(2, ip(1)));
        assert!(!p.admit(3, ip(1)), "a third from one address is refused");
        assert!(p.admit(3, ip(2)), "another address has its own count");
        p.release(1);
        assert!(p.admit(4, ip(1)));
        assert_eq!(p.count(ip(1)), 2);
        p.release(2);
        p.release(4);
        p.release(99);
        assert_eq!(p.count(ip(1)), 0);
        assert!(p.counts.len() == 1, "empty addresses are forgotten");
    }

    #[test]
    fn zero_means_no_limit() {
        let mut p = PerAddress::new(0);
        for key in 0..1000 {
            assert!(p.admit(key, ip(1)));
        }
        assert_eq!(p.count(ip(1)), 1000);
    }
}
