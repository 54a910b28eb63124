//! Transparent huge pages for the dataset's pixel buffer (Linux).
//!
//! A shuffled batch reads rows scattered over the whole training set (47 MB for MNIST): with
//! 4 KiB pages nearly every row is a TLB miss whose page walk itself misses the caches, as the
//! optimizer's update streams through its state between two batches. Backed by 2 MiB pages the
//! whole set needs 24 TLB entries. Where the kernel offers huge pages only on request
//! (`/sys/kernel/mm/transparent_hugepage/enabled` = `madvise`, as on the development machine),
//! the buffer asks for them before it is filled; there the article job's batch gathering and
//! prefetching took about 4 us less per step. A hint only: a kernel without huge pages, or
//! another OS, keeps the usual pages.

use std::mem::MaybeUninit;

/// Buffers smaller than this are left alone (one huge page or less gains nothing).
const MIN_BYTES: usize = 4 << 20;

/// Asks the kernel to back the whole pages of `buf` (memory not written yet, such as a
/// `Vec`'s spare capacity) with transparent huge pages.
pub(crate) fn advise(buf: &mut [MaybeUninit<u8>]) {
    if buf.len() < MIN_BYTES {
        return;
    }
    #[cfg(target_os = "linux")]
    {
        const PAGE: usize = 4096;
        let start = buf.as_mut_ptr() as usize;
        let (first, end) = (
            start.next_multiple_of(PAGE),
            (start + buf.len()) & !(PAGE - 1),
        );
        if end > first {
            #[allow(unsafe_code)]
            // SAFETY: the range [first, end) lies inside `buf`, memory this process owns and
            // has mapped; MADV_HUGEPAGE only tells the kernel how to back the range with
            // physical pages, never changing its contents, mapping or protection. A refusal
            // (no THP support) is harmless, so the result is ignored.
            unsafe {
                libc::madvise(first as *mut libc::c_void, end - first, libc::MADV_HUGEPAGE);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Advising a fresh buffer (and a tiny one) leaves it usable and its contents as written.
    #[test]
    fn advised_buffer_is_an_ordinary_buffer() {
        for n in [10, MIN_BYTES + 12_345] {
            let mut v: Vec<u8> = Vec::with_capacity(n);
            advise(v.spare_capacity_mut());
            v.extend((0..n).map(|i| (i % 251) as u8));
            assert!(v.iter().enumerate().all(|(i, &b)| b == (i % 251) as u8));
        }
    }
}
