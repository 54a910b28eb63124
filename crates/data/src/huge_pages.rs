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

/// A transparent huge page on x86-64 and most ARM kernels (2 MiB).
const HUGE_PAGE: usize = 2 << 20;

/// Asks the kernel to back the whole huge pages inside `buf` (memory not written yet, such as a
/// `Vec`'s spare capacity) with transparent huge pages. Returns whether the kernel took the
/// advice: `false` where `buf` spans no whole huge page, off Linux, or when the kernel refuses
/// (built without huge pages); the buffer is the same either way.
pub(crate) fn advise(buf: &mut [MaybeUninit<u8>]) -> bool {
    let start = buf.as_mut_ptr() as usize;
    let (first, end) = (
        start.next_multiple_of(HUGE_PAGE),
        (start + buf.len()) & !(HUGE_PAGE - 1),
    );
    if end <= first {
        return false;
    }
    #[cfg(target_os = "linux")]
    {
        #[allow(unsafe_code)]
        // SAFETY: [first, end) lies inside `buf`, memory this process owns and has mapped, and is
        // aligned to the huge page size (a multiple of any base page size, which madvise
        // requires). MADV_HUGEPAGE only tells the kernel how to back the range with physical
        // pages, never changing its contents, mapping or protection. The advice stays on these
        // addresses after `buf` is freed, which at most gives a later allocation there huge
        // pages too.
        let done =
            unsafe { libc::madvise(first as *mut libc::c_void, end - first, libc::MADV_HUGEPAGE) };
        done == 0
    }
    #[cfg(not(target_os = "linux"))]
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A buffer of three huge pages is advised (on Linux, where the kernel knows huge pages)
    /// and keeps what is written into it; one smaller than a huge page is left alone.
    #[test]
    fn advised_buffer_is_an_ordinary_buffer() {
        let thp = std::path::Path::new("/sys/kernel/mm/transparent_hugepage").exists();
        for (n, expect) in [(10, false), (3 * HUGE_PAGE + 12_345, thp)] {
            let mut v: Vec<u8> = Vec::with_capacity(n);
            assert_eq!(advise(v.spare_capacity_mut()), expect, "{n} bytes");
            v.extend((0..n).map(|i| (i % 251) as u8));
            assert!(v.iter().enumerate().all(|(i, &b)| b == (i % 251) as u8));
        }
    }
}
