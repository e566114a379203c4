//! [`LineAligned`]: the system allocator, with every block of 4 KiB or more on a 64-byte
//! cache line, so glibc's big copies between such blocks stay fast.
//!
//! glibc before 2.39 copies 4 KiB or more with `rep movsb` (`memcpy`, `memmove`), and
//! AMD Zen 3 and 4 run that about 16 times slower (3 instead of 45 GB/s, measured here)
//! when the destination lies 1 to 31 bytes past the source modulo 64 (glibc bug 30994).
//! malloc aligns to 16, so which blocks a copy joins decides: every record of a TLS
//! download is copied by rustls from its receive buffer (the payload 5 bytes into it)
//! into a fresh 16 KiB block, and that copy was slow in about half of all connections,
//! a fifth of the fetcher's CPU. With both blocks on a line the destination is always
//! 5 bytes *before* the source (fast), and a file's 16 KiB pieces land on lines of a
//! line-aligned buffer.

use std::alloc::{GlobalAlloc, Layout, System};

/// Blocks this big or bigger are line-aligned: glibc copies less than this (with AVX2)
/// without `rep movsb`, and a smaller block holds no bigger copy.
const BIG: usize = 4096;

/// A cache line.
const LINE: usize = 64;

/// The system allocator, aligning blocks of 4 KiB or more to a cache line.
pub struct LineAligned;

/// The layout `layout` is allocated with.
fn aligned(layout: Layout) -> Layout {
    if layout.size() >= BIG && layout.align() < LINE {
        // A power of two and a size far from overflow: always valid.
        Layout::from_size_align(layout.size(), LINE).unwrap_or(layout)
    } else {
        layout
    }
}

// SAFETY: every call goes to `System` with the layout `aligned` makes of the caller's,
// the same one for a block's allocation, reallocation and release, so `System`'s
// guarantees hold; the alignment is only ever raised.
unsafe impl GlobalAlloc for LineAligned {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract (a non-zero size) carries over.
        unsafe { System.alloc(aligned(layout)) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as `alloc`.
        unsafe { System.alloc_zeroed(aligned(layout)) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated here with `layout`, so with `aligned(layout)`.
        unsafe { System.dealloc(ptr, aligned(layout)) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let old = aligned(layout);
        let Ok(wanted) = Layout::from_size_align(new_size, layout.align()) else {
            return std::ptr::null_mut();
        };
        let new = aligned(wanted);
        if new.align() == old.align() {
            // SAFETY: `ptr` was allocated with `old`, of the alignment kept.
            return unsafe { System.realloc(ptr, old, new_size) };
        }
        // Crossing `BIG`: a block of the other alignment, the bytes moved over.
        // SAFETY: `new` has a non-zero size (the caller's `new_size`).
        let moved = unsafe { System.alloc(new) };
        if !moved.is_null() {
            // SAFETY: both blocks hold at least the smaller size and do not overlap;
            // `ptr` was allocated with `old` and is released once.
            unsafe {
                std::ptr::copy_nonoverlapping(ptr, moved, old.size().min(new_size));
                System.dealloc(ptr, old);
            }
        }
        moved
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn big_blocks_are_line_aligned_small_ones_keep_theirs() {
        for size in [BIG, BIG + 5, 16 * 1024, 1 << 20] {
            let layout = Layout::from_size_align(size, 1).unwrap();
            assert_eq!(aligned(layout).align(), LINE, "{size} bytes");
        }
        let small = Layout::from_size_align(BIG - 1, 8).unwrap();
        assert_eq!(aligned(small), small);
        let page = Layout::from_size_align(BIG, 4096).unwrap();
        assert_eq!(aligned(page), page);
    }

    #[test]
    fn blocks_keep_their_bytes_across_the_threshold() {
        let a = LineAligned;
        let small = Layout::from_size_align(100, 1).unwrap();
        // SAFETY: sizes are non-zero; each block is released with the layout it has.
        unsafe {
            let p = a.alloc(small);
            assert!(!p.is_null());
            for i in 0..100 {
                *p.add(i) = i as u8;
            }
            let p = a.realloc(p, small, 3 * BIG);
            assert!(!p.is_null());
            assert_eq!(p as usize % LINE, 0);
            assert!((0..100).all(|i| *p.add(i) == i as u8));
            let big = Layout::from_size_align(3 * BIG, 1).unwrap();
            let p = a.realloc(p, big, 50);
            assert!(!p.is_null());
            assert!((0..50).all(|i| *p.add(i) == i as u8));
            a.dealloc(p, Layout::from_size_align(50, 1).unwrap());
            let z = a.alloc_zeroed(big);
            assert_eq!(z as usize % LINE, 0);
            assert!((0..3 * BIG).all(|i| *z.add(i) == 0));
            a.dealloc(z, big);
        }
    }
}
