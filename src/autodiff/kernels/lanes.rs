//! The batch-lane layout: a row-major [N, K] tensor (one sample per row) stored as
//! [⌈N/L⌉, K, L], with sample n in lane n mod L of block n / L, so that one vector holds
//! the same entry of L samples. L = [`nt_lanes`] (16 for f32, 8 for f64); lanes past N
//! are zero.
//!
//! Moving in and out of the layout is a transposition of L×L tiles. On AVX-512 a full tile
//! is transposed in registers by unpack and lane-shuffle instructions; on AVX2 as four
//! (L/2)×(L/2) blocks (8×8 f32, 4×4 f64) by unpacks, shuffles and 128-bit permutes; on the
//! baseline (and for a partial block) by a plain loop. All only move values, so the levels
//! agree bit for bit.

use super::aligned::Aligned;
use super::gemm::nt_lanes;
use super::simd::Level;
use crate::Scalar;
#[cfg(target_arch = "x86_64")]
use std::any::TypeId;

/// Fills `xt` with `x` ([n, k] row-major) in the batch-lane layout [⌈n/L⌉, k, L].
#[inline(always)]
pub(super) fn to_lanes<T: Scalar>(
    level: Level,
    x: &[T],
    (n, k): (usize, usize),
    xt: &mut Aligned<T>,
) {
    let l = nt_lanes::<T>();
    // Every entry is written below (lanes past n with zeros): no clearing pass.
    xt.resize_overwritten(n.div_ceil(l) * k * l, T::zero());
    for (b, block) in xt.chunks_exact_mut(k * l).enumerate() {
        let rows = (n - b * l).min(l);
        let src = &x[b * l * k..][..rows * k];
        let mut k0 = 0;
        if rows == l && level != Level::Baseline {
            while k0 + l <= k {
                if transpose_tile(level, src, k, k0, &mut block[k0 * l..][..l * l], l) {
                    k0 += l;
                } else {
                    break;
                }
            }
        }
        for kk in k0..k {
            let lanes = &mut block[kk * l..][..l];
            for (r, v) in lanes.iter_mut().enumerate() {
                *v = if r < rows { src[r * k + kk] } else { T::zero() };
            }
        }
    }
}

/// Writes (or, with `add`, adds) the samples of `yt` ([⌈n/L⌉, k, L]) into `y` ([n, k]
/// row-major).
#[inline(always)]
pub(super) fn from_lanes<T: Scalar>(
    level: Level,
    yt: &[T],
    (n, k): (usize, usize),
    y: &mut [T],
    add: bool,
    tile: &mut Aligned<T>,
) {
    let l = nt_lanes::<T>();
    tile.resize(l * l, T::zero());
    for (b, block) in yt.chunks_exact(k * l).enumerate().take(n.div_ceil(l)) {
        let rows = (n - b * l).min(l);
        let dst = &mut y[b * l * k..][..rows * k];
        let mut k0 = 0;
        if rows == l && level != Level::Baseline {
            while k0 + l <= k {
                // Transpose the [l (entries), l (lanes)] tile into [l (samples), l (entries)]:
                // straight into y's rows, or into `tile` to be added.
                let src = &block[k0 * l..][..l * l];
                if !add {
                    if !transpose_tile(level, src, l, 0, &mut dst[k0..], k) {
                        break;
                    }
                    k0 += l;
                    continue;
                }
                if !transpose_tile(level, src, l, 0, tile, l) {
                    break;
                }
                for r in 0..l {
                    let d = &mut dst[r * k + k0..][..l];
                    for (a, &v) in d.iter_mut().zip(&tile[r * l..][..l]) {
                        *a += v;
                    }
                }
                k0 += l;
            }
        }
        for kk in k0..k {
            let lanes = &block[kk * l..][..l];
            for (r, &v) in lanes.iter().enumerate().take(rows) {
                let d = &mut dst[r * k + kk];
                if add {
                    *d += v;
                } else {
                    *d = v;
                }
            }
        }
    }
}

/// sums[e] = lanes[e·L] + lanes[e·L + 1] + … + lanes[e·L + L − 1], each from 0 and in lane
/// order: the lane totals of E entries stored [E, L] (L = [`nt_lanes`]). L entries at a time
/// are transposed into `tile`, so that their sums run side by side in vector registers; the
/// rest (and the baseline) by a plain loop, with the same additions in the same order.
#[inline(always)]
pub(super) fn sum_lanes<T: Scalar, const L: usize>(
    level: Level,
    lanes: &[T],
    sums: &mut [T],
    tile: &mut Aligned<T>,
) {
    debug_assert_eq!(L, nt_lanes::<T>());
    let e = sums.len();
    assert!(
        lanes.len() >= e * L,
        "sum_lanes: {} lanes for {e} entries",
        lanes.len()
    );
    tile.resize(L * L, T::zero());
    let mut e0 = 0;
    if level != Level::Baseline {
        while e0 + L <= e {
            // [L entries, L lanes] → [L lanes, L entries].
            if !transpose_tile(level, &lanes[e0 * L..][..L * L], L, 0, tile, L) {
                break;
            }
            let mut acc = [T::zero(); L];
            for row in tile.chunks_exact(L) {
                for (a, &x) in acc.iter_mut().zip(row) {
                    *a += x;
                }
            }
            sums[e0..e0 + L].copy_from_slice(&acc);
            e0 += L;
        }
    }
    for (v, row) in sums[e0..].iter_mut().zip(lanes[e0 * L..].chunks_exact(L)) {
        let mut acc = T::zero();
        for &x in row {
            acc += x;
        }
        *v = acc;
    }
}

/// dst[j·ld_dst + i] = src[i·ld + j] for i < `rows`, j < `cols`: whole square tiles with
/// the shuffles of `level` ([`square_side`]), the edges by a plain loop. It only moves
/// values, so every level gives the same bits.
#[inline(always)]
pub(super) fn transpose<T: Scalar>(
    level: Level,
    (src, ld): (&[T], usize),
    (rows, cols): (usize, usize),
    (dst, ld_dst): (&mut [T], usize),
) {
    assert!(
        rows == 0
            || cols == 0
            || (src.len() >= (rows - 1) * ld + cols && dst.len() >= (cols - 1) * ld_dst + rows)
    );
    let side = square_side::<T>(level);
    let (mut r0, mut tiled_cols) = (0, 0);
    if side > 0 {
        tiled_cols = cols - cols % side;
        while r0 + side <= rows {
            for c0 in (0..tiled_cols).step_by(side) {
                let to = &mut dst[c0 * ld_dst + r0..];
                transpose_square(level, &src[r0 * ld + c0..], ld, to, ld_dst);
            }
            r0 += side;
        }
    }
    // The rows below the tiles, then the columns right of them.
    for i in 0..rows {
        let from = if i < r0 { tiled_cols } else { 0 };
        for j in from..cols {
            dst[j * ld_dst + i] = src[i * ld + j];
        }
    }
}

/// The side of the square tiles that `level` transposes in registers for `T`: L (16 f32,
/// 8 f64) on AVX-512, L/2 on AVX2, 0 (none) on the baseline, for another `T`, or when the
/// CPU lacks the level.
#[inline(always)]
fn square_side<T: Scalar>(level: Level) -> usize {
    #[cfg(target_arch = "x86_64")]
    {
        let known =
            TypeId::of::<T>() == TypeId::of::<f32>() || TypeId::of::<T>() == TypeId::of::<f64>();
        match level {
            Level::Avx512 if known && std::is_x86_feature_detected!("avx512f") => {
                return nt_lanes::<T>()
            }
            Level::Avx2 | Level::Avx512 if known && std::is_x86_feature_detected!("avx2") => {
                return nt_lanes::<T>() / 2
            }
            _ => {}
        }
    }
    let _ = level;
    0
}

/// Transposes the s×s tile at the start of `src` (rows of stride `ld`) into `dst` (rows of
/// stride `ld_dst`), s = [`square_side`] (which must be positive).
#[inline(always)]
fn transpose_square<T: Scalar>(level: Level, src: &[T], ld: usize, dst: &mut [T], ld_dst: usize) {
    let side = square_side::<T>(level);
    assert!(
        side > 0 && src.len() >= (side - 1) * ld + side && dst.len() >= (side - 1) * ld_dst + side
    );
    #[cfg(target_arch = "x86_64")]
    {
        let (s, d) = (src.as_ptr(), dst.as_mut_ptr());
        let f32s = TypeId::of::<T>() == TypeId::of::<f32>();
        // SAFETY (all four): `square_side` checked that T is the function's scalar (f32
        // when `f32s`, else f64) and that the CPU has the level's instructions; the side×side
        // entries read and written lie inside `src` and `dst` (asserted above).
        match (side == nt_lanes::<T>(), f32s) {
            (true, true) => unsafe { x86::transpose16_f32(s.cast(), ld, d.cast(), ld_dst) },
            (true, false) => unsafe { x86::transpose8_f64(s.cast(), ld, d.cast(), ld_dst) },
            (false, true) => unsafe { x86::transpose8_f32_avx2(s.cast(), ld, d.cast(), ld_dst) },
            (false, false) => unsafe { x86::transpose4_f64_avx2(s.cast(), ld, d.cast(), ld_dst) },
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    unreachable!("no square tiles on this architecture: {src:p} {ld} {dst:p} {ld_dst}");
}

/// Transposes the L×L tile of `src` (L rows of stride `ld`, columns k0..k0 + L) into
/// `dst` (L rows of stride `ld_dst`) with the shuffles of `level` (as squares of
/// [`square_side`]); false (nothing written) when `level` has no square tiles for `T`
/// (then the caller's loop does it).
#[inline(always)]
fn transpose_tile<T: Scalar>(
    level: Level,
    src: &[T],
    ld: usize,
    k0: usize,
    dst: &mut [T],
    ld_dst: usize,
) -> bool {
    let (l, side) = (nt_lanes::<T>(), square_side::<T>(level));
    if side == 0 {
        return false;
    }
    assert!(src.len() >= (l - 1) * ld + k0 + l && dst.len() >= (l - 1) * ld_dst + l);
    // Square (i, j) goes to square (j, i).
    for bi in (0..l).step_by(side) {
        for bj in (0..l).step_by(side) {
            let from = &src[bi * ld + k0 + bj..];
            transpose_square(level, from, ld, &mut dst[bj * ld_dst + bi..], ld_dst);
        }
    }
    true
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    /// dst[j·ldd + i] = src[i·lds + j] for i, j < 8 (AVX2).
    #[target_feature(enable = "avx2,avx")]
    pub(super) unsafe fn transpose8_f32_avx2(
        src: *const f32,
        lds: usize,
        dst: *mut f32,
        ldd: usize,
    ) {
        let mut r = [_mm256_setzero_ps(); 8];
        for (i, v) in r.iter_mut().enumerate() {
            *v = _mm256_loadu_ps(src.add(i * lds));
        }
        // t[2i], t[2i + 1]: rows 2i, 2i + 1 interleaved (columns 0, 1, 4, 5 and 2, 3, 6, 7).
        let mut t = [_mm256_setzero_ps(); 8];
        for i in 0..4 {
            t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
            t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
        }
        // u[4h + j]: column j (low 128 bits) and j + 4 (high) of rows 4h..4h + 4.
        let mut u = [_mm256_setzero_ps(); 8];
        for hh in 0..2 {
            let (a0, a1, a2, a3) = (t[4 * hh], t[4 * hh + 1], t[4 * hh + 2], t[4 * hh + 3]);
            u[4 * hh] = _mm256_shuffle_ps::<0x44>(a0, a2);
            u[4 * hh + 1] = _mm256_shuffle_ps::<0xEE>(a0, a2);
            u[4 * hh + 2] = _mm256_shuffle_ps::<0x44>(a1, a3);
            u[4 * hh + 3] = _mm256_shuffle_ps::<0xEE>(a1, a3);
        }
        for j in 0..4 {
            _mm256_storeu_ps(
                dst.add(j * ldd),
                _mm256_permute2f128_ps::<0x20>(u[j], u[4 + j]),
            );
            _mm256_storeu_ps(
                dst.add((j + 4) * ldd),
                _mm256_permute2f128_ps::<0x31>(u[j], u[4 + j]),
            );
        }
    }

    /// dst[j·ldd + i] = src[i·lds + j] for i, j < 4 (AVX2).
    #[target_feature(enable = "avx2,avx")]
    pub(super) unsafe fn transpose4_f64_avx2(
        src: *const f64,
        lds: usize,
        dst: *mut f64,
        ldd: usize,
    ) {
        let r: [__m256d; 4] = std::array::from_fn(|i| _mm256_loadu_pd(src.add(i * lds)));
        // Columns 0, 2 (unpacklo) and 1, 3 (unpackhi) of row pairs (0, 1) and (2, 3).
        let (t0, t1) = (
            _mm256_unpacklo_pd(r[0], r[1]),
            _mm256_unpackhi_pd(r[0], r[1]),
        );
        let (t2, t3) = (
            _mm256_unpacklo_pd(r[2], r[3]),
            _mm256_unpackhi_pd(r[2], r[3]),
        );
        _mm256_storeu_pd(dst, _mm256_permute2f128_pd::<0x20>(t0, t2));
        _mm256_storeu_pd(dst.add(ldd), _mm256_permute2f128_pd::<0x20>(t1, t3));
        _mm256_storeu_pd(dst.add(2 * ldd), _mm256_permute2f128_pd::<0x31>(t0, t2));
        _mm256_storeu_pd(dst.add(3 * ldd), _mm256_permute2f128_pd::<0x31>(t1, t3));
    }

    /// dst[j·ldd + i] = src[i·lds + j] for i, j < 16.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn transpose16_f32(src: *const f32, lds: usize, dst: *mut f32, ldd: usize) {
        let mut r = [_mm512_setzero_ps(); 16];
        for (i, v) in r.iter_mut().enumerate() {
            *v = _mm512_loadu_ps(src.add(i * lds));
        }
        // Within each 128-bit lane: pairs of rows interleaved, then pairs of pairs.
        let mut t = [_mm512_setzero_ps(); 16];
        for i in 0..8 {
            t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
            t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
        }
        let mut u = [_mm512_setzero_ps(); 16];
        for i in 0..4 {
            let pd = |v: __m512| _mm512_castps_pd(v);
            let (a0, a1, a2, a3) = (t[4 * i], t[4 * i + 1], t[4 * i + 2], t[4 * i + 3]);
            u[4 * i] = _mm512_castpd_ps(_mm512_unpacklo_pd(pd(a0), pd(a2)));
            u[4 * i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(pd(a0), pd(a2)));
            u[4 * i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(pd(a1), pd(a3)));
            u[4 * i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(pd(a1), pd(a3)));
        }
        // u[4i + j], 128-bit lane q, holds column 4q + j of rows 4i..4i + 4.
        for j in 0..4 {
            let v1 = _mm512_shuffle_f32x4::<0x88>(u[j], u[4 + j]);
            let v2 = _mm512_shuffle_f32x4::<0xDD>(u[j], u[4 + j]);
            let w1 = _mm512_shuffle_f32x4::<0x88>(u[8 + j], u[12 + j]);
            let w2 = _mm512_shuffle_f32x4::<0xDD>(u[8 + j], u[12 + j]);
            _mm512_storeu_ps(dst.add(j * ldd), _mm512_shuffle_f32x4::<0x88>(v1, w1));
            _mm512_storeu_ps(dst.add((4 + j) * ldd), _mm512_shuffle_f32x4::<0x88>(v2, w2));
            _mm512_storeu_ps(dst.add((8 + j) * ldd), _mm512_shuffle_f32x4::<0xDD>(v1, w1));
            _mm512_storeu_ps(
                dst.add((12 + j) * ldd),
                _mm512_shuffle_f32x4::<0xDD>(v2, w2),
            );
        }
    }

    /// dst[j·ldd + i] = src[i·lds + j] for i, j < 8.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn transpose8_f64(src: *const f64, lds: usize, dst: *mut f64, ldd: usize) {
        let mut r = [_mm512_setzero_pd(); 8];
        for (i, v) in r.iter_mut().enumerate() {
            *v = _mm512_loadu_pd(src.add(i * lds));
        }
        let mut t = [_mm512_setzero_pd(); 8];
        for i in 0..4 {
            t[2 * i] = _mm512_unpacklo_pd(r[2 * i], r[2 * i + 1]);
            t[2 * i + 1] = _mm512_unpackhi_pd(r[2 * i], r[2 * i + 1]);
        }
        // t[2i + j], 128-bit lane q, holds column 2q + j of rows 2i, 2i + 1.
        for j in 0..2 {
            let v1 = _mm512_shuffle_f64x2::<0x88>(t[j], t[2 + j]);
            let v2 = _mm512_shuffle_f64x2::<0xDD>(t[j], t[2 + j]);
            let w1 = _mm512_shuffle_f64x2::<0x88>(t[4 + j], t[6 + j]);
            let w2 = _mm512_shuffle_f64x2::<0xDD>(t[4 + j], t[6 + j]);
            _mm512_storeu_pd(dst.add(j * ldd), _mm512_shuffle_f64x2::<0x88>(v1, w1));
            _mm512_storeu_pd(dst.add((2 + j) * ldd), _mm512_shuffle_f64x2::<0x88>(v2, w2));
            _mm512_storeu_pd(dst.add((4 + j) * ldd), _mm512_shuffle_f64x2::<0xDD>(v1, w1));
            _mm512_storeu_pd(dst.add((6 + j) * ldd), _mm512_shuffle_f64x2::<0xDD>(v2, w2));
        }
    }
}
