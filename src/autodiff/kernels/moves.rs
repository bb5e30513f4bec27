//! Copies of the tape's buffers by explicit 16-byte vector moves.
//!
//! glibc's `memcpy` switches to `rep movsb` above `x86_rep_movsb_threshold` (2 KiB by
//! default in glibc 2.36). On the AMD EPYC (Zen 3, AVX2) hosts of this project that was slow
//! in the tape's use, a 4–64 KiB copy read at once by the next kernel. Measured with the
//! digits network, batch 32, minimum of 20,000 calls: raising the threshold with
//! `GLIBC_TUNABLES` took a forward pass on 64 rows from 108 to 97 µs, an f32 step from 156
//! to 154 µs and an f64 step from 308 to 302 µs. (In an isolated loop over one warm buffer
//! both paths run at the same speed, so the cost lies in how the string instruction leaves
//! the data for its reader; this was not investigated further.) [`copy`] takes the vector
//! path without the environment variable: SSE2 loads and stores on x86-64 (every x86-64 CPU
//! has SSE2, so one path serves every level); elsewhere the standard library's copy. Zero
//! fills stay with `memset`: 16-byte stores were slower there (warm buffers of 32 KiB to
//! 4 MiB: 1.3–1.8×).
//!
//! A copy is bit-exact whatever the path (it moves bytes), so nothing numerical depends on it.

/// dst = src.
///
/// # Panics
/// If the lengths differ.
pub(crate) fn copy<T: Copy>(dst: &mut [T], src: &[T]) {
    assert_eq!(dst.len(), src.len(), "copy: lengths differ");
    #[cfg(target_arch = "x86_64")]
    {
        let bytes = std::mem::size_of_val(src);
        // SAFETY: both ranges are `bytes` long and valid (slices of equal length of one
        // type); unaligned loads and stores accept any address; `dst` is a unique borrow,
        // so the ranges do not overlap.
        unsafe { x86::copy_bytes(dst.as_mut_ptr().cast(), src.as_ptr().cast(), bytes) }
    }
    #[cfg(not(target_arch = "x86_64"))]
    dst.copy_from_slice(src);
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::{__m128i, _mm_loadu_si128, _mm_storeu_si128};

    /// Copies `n` bytes, 64 per iteration, then 16, then single bytes.
    ///
    /// # Safety
    /// `dst` and `src` must be valid for `n` bytes and not overlap.
    pub(super) unsafe fn copy_bytes(dst: *mut u8, src: *const u8, n: usize) {
        let mut i = 0;
        // SAFETY (all blocks): every access lies in [0, n) of its range (the loop bounds).
        while i + 64 <= n {
            unsafe {
                let s = src.add(i) as *const __m128i;
                let d = dst.add(i) as *mut __m128i;
                let (a, b) = (_mm_loadu_si128(s), _mm_loadu_si128(s.add(1)));
                let (c, e) = (_mm_loadu_si128(s.add(2)), _mm_loadu_si128(s.add(3)));
                _mm_storeu_si128(d, a);
                _mm_storeu_si128(d.add(1), b);
                _mm_storeu_si128(d.add(2), c);
                _mm_storeu_si128(d.add(3), e);
            }
            i += 64;
        }
        while i + 16 <= n {
            unsafe {
                let v = _mm_loadu_si128(src.add(i) as *const __m128i);
                _mm_storeu_si128(dst.add(i) as *mut __m128i, v);
            }
            i += 16;
        }
        while i < n {
            unsafe { *dst.add(i) = *src.add(i) };
            i += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every length from 0 to 400 bytes and every start offset within a vector: the copy
    /// equals the source and leaves the neighbours alone. Negative control: the comparison
    /// sees one changed entry.
    #[test]
    fn copies_exactly_their_range() {
        let src: Vec<f32> = (0..100).map(|i| i as f32 * 1.5 - 7.0).collect();
        for start in 0..4 {
            for len in 0..(100 - start) {
                let mut dst = vec![f32::NAN; 100];
                copy(&mut dst[start..start + len], &src[start..start + len]);
                assert!(dst[..start].iter().all(|v| v.is_nan()), "{start}/{len}");
                assert_eq!(&dst[start..start + len], &src[start..start + len]);
                assert!(
                    dst[start + len..].iter().all(|v| v.is_nan()),
                    "{start}/{len}"
                );
            }
        }
        let mut dst = vec![0.0f32; 50];
        copy(&mut dst, &src[..50]);
        dst[37] += 1.0;
        assert_ne!(&dst[..], &src[..50], "control: a changed entry is seen");
    }
}
