//! Where randomness enters the hub (store tickets, version names): a [`Randomness`]
//! given to `Hub::new` — the operating system's on a running hub, a seeded,
//! repeatable one in tests.

/// A source of random bytes.
pub trait Randomness {
    /// Fill `buf`, or say why not.
    fn fill(&mut self, buf: &mut [u8]) -> Result<(), String>;
}

/// The operating system's randomness (`getrandom`).
#[derive(Debug, Default)]
pub struct OsRandom;

impl Randomness for OsRandom {
    fn fill(&mut self, buf: &mut [u8]) -> Result<(), String> {
        rand_core::RngCore::try_fill_bytes(&mut rand_core::OsRng, buf).map_err(|e| e.to_string())
    }
}

/// Repeatable bytes from a seed (splitmix64), for tests; never for a running hub.
#[derive(Debug, Clone)]
pub struct Seeded(u64);

impl Seeded {
    /// The bytes that follow from `seed`.
    pub fn new(seed: u64) -> Seeded {
        Seeded(seed)
    }
}

impl Randomness for Seeded {
    fn fill(&mut self, buf: &mut [u8]) -> Result<(), String> {
        for chunk in buf.chunks_mut(8) {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^= z >> 31;
            chunk.copy_from_slice(&z.to_le_bytes()[..chunk.len()]);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_gives_the_same_bytes_and_another_seed_others() {
        let (mut a, mut b, mut c) = ([0u8; 20], [0u8; 20], [0u8; 20]);
        Seeded::new(1).fill(&mut a).unwrap();
        Seeded::new(1).fill(&mut b).unwrap();
        Seeded::new(2).fill(&mut c).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_ne!(a[..8], a[8..16]);
        let mut os = [0u8; 16];
        OsRandom.fill(&mut os).unwrap();
    }
}
