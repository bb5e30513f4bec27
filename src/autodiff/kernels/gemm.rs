//! Register-tiled matrix product on strided views, written as fixed-size loops that LLVM
//! vectorises (see [`super::simd`]). Column counts are multiples of [`COL_UNIT`], so there
//! is no remainder loop over columns.
//!
//! Summation order (fixed, independent of the instruction set and of the tile sizes): each
//! entry of c is Σ_p a[i,p]·b[p,j] accumulated in increasing p, starting from 0 (or from
//! the entry's previous value when accumulating).

use super::lanes::transpose;
use super::simd::{Job, Level};
use super::Scratch;
use crate::Scalar;

/// Column counts of the products are multiples of this.
pub(crate) const COL_UNIT: usize = 16;

/// Rounds `n` up to a multiple of [`COL_UNIT`].
pub(crate) fn pad_cols(n: usize) -> usize {
    n.div_ceil(COL_UNIT) * COL_UNIT
}

fn is_f32<T>() -> bool {
    std::mem::size_of::<T>() == 4
}

/// Where entry (r, j) of a matrix lives in its slice: rows come in groups of `rg` (row r
/// at (r / rg)·rgs + (r mod rg)·rs) and columns in contiguous groups of `cg` (column j at
/// (j / cg)·cgs + j mod cg). `usize::MAX` means a single group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct View {
    rs: usize,
    rg: usize,
    rgs: usize,
    cg: usize,
    cgs: usize,
}

const ONE: usize = usize::MAX;

impl View {
    /// Contiguous row-major with row length `n`.
    pub(crate) fn rows(n: usize) -> View {
        View {
            rs: n,
            rg: ONE,
            rgs: 0,
            cg: ONE,
            cgs: 0,
        }
    }

    /// `rows` × (S·hw) where column (s, p) is pixel p of sample s of an [S, rows, hw]
    /// tensor (one sample's [C, H·W] block of an [N, C, H, W] tensor is channel-major).
    pub(crate) fn planes(rows: usize, hw: usize) -> View {
        View {
            rs: hw,
            rg: ONE,
            rgs: 0,
            cg: hw,
            cgs: rows * hw,
        }
        .normalised()
    }

    /// (T·C) × (S·hw) with row (t, c) and column (s, p) stored as [T, S, C, hw]: tap t's
    /// shifted copy of sample s is one contiguous [C, hw] block.
    pub(crate) fn tap_planes(c: usize, hw: usize, samples: usize) -> View {
        View {
            rs: hw,
            rg: c,
            rgs: samples * c * hw,
            cg: hw,
            cgs: c * hw,
        }
        .normalised()
    }

    /// The same addresses with groups merged where they are contiguous (a group of one
    /// row, or groups that follow each other at the in-group stride), so that products
    /// split their inner loop as little as possible.
    fn normalised(mut self) -> View {
        if self.rg != ONE && (self.rg == 1 || self.rs * self.rg == self.rgs) {
            self.rs = if self.rg == 1 { self.rgs } else { self.rs };
            self.rg = ONE;
            self.rgs = 0;
        }
        if self.cg != ONE && self.cgs == self.cg {
            self.cg = ONE;
            self.cgs = 0;
        }
        self
    }

    #[inline(always)]
    fn row(&self, r: usize) -> usize {
        if self.rg == ONE {
            r * self.rs
        } else {
            (r / self.rg) * self.rgs + (r % self.rg) * self.rs
        }
    }

    #[inline(always)]
    fn col(&self, j: usize) -> usize {
        if self.cg == ONE {
            j
        } else {
            (j / self.cg) * self.cgs + j % self.cg
        }
    }

    /// Whether column tiles of width `w` never straddle a column group.
    fn tiles_ok(&self, w: usize) -> bool {
        self.cg == ONE || self.cg.is_multiple_of(w)
    }
}

/// c (m × n) = a (m × k) · b (k × n), or c += a · b when `accumulate`, on views; n is a
/// multiple of [`COL_UNIT`], and the column groups of b and c are too. The row groups of
/// b and the column groups of a split the inner index k; at most one of the two may be
/// grouped.
///
/// A register tile is R rows × W columns of c (R·W accumulators): 8 vectors on AVX2
/// (16 registers), 8 to 12 on AVX-512 (32 registers).
#[inline(always)]
pub(crate) fn gemm<T: Scalar>(
    level: Level,
    (m, k, n): (usize, usize, usize),
    a: (&[T], View),
    b: (&[T], View),
    c: (&mut [T], View),
    accumulate: bool,
) {
    let (av, bv, cv) = (a.1, b.1, c.1);
    assert!(
        n % COL_UNIT == 0
            && bv.tiles_ok(COL_UNIT)
            && cv.tiles_ok(COL_UNIT)
            && (av.cg == ONE || bv.rg == ONE),
        "gemm: bad views {av:?} {bv:?} {cv:?} for {m}×{k}×{n}"
    );
    let kg = if av.cg != ONE { av.cg } else { bv.rg };
    if m == 0 || n == 0 {
        return;
    }
    let ops = Operands {
        k,
        kg: kg.min(k.max(1)),
        a: a.0,
        av,
        b: b.0,
        bv,
        cv,
        accumulate,
    };
    let c = c.0;
    // R·W/V accumulators for vectors of V entries: AVX-512 16 (f32) or 12 (f64) of 32
    // registers; AVX2 8 of 16; the baseline (128-bit vectors) 8 of 16 (SSE2) or 32 (NEON).
    match (is_f32::<T>(), level) {
        (true, Level::Avx512) => ops.run::<8, 16>(m, n, c),
        (true, Level::Avx2) => ops.run::<4, 16>(m, n, c),
        (true, _) => ops.run::<2, 16>(m, n, c),
        (false, Level::Avx512) => ops.run::<6, 16>(m, n, c),
        (false, Level::Avx2) => ops.run::<4, 8>(m, n, c),
        (false, _) => ops.run::<2, 8>(m, n, c),
    }
}

/// The read-only operands of one product.
struct Operands<'a, T> {
    k: usize,
    /// Length of the groups the inner index is split into.
    kg: usize,
    a: &'a [T],
    av: View,
    b: &'a [T],
    bv: View,
    cv: View,
    accumulate: bool,
}

impl<T: Scalar> Operands<'_, T> {
    #[inline(always)]
    fn run<const R: usize, const W: usize>(&self, m: usize, n: usize, c: &mut [T]) {
        for j0 in (0..n).step_by(W) {
            let mut r0 = 0;
            while r0 + R <= m {
                self.tile::<R, W>(r0, j0, c);
                r0 += R;
            }
            while r0 + 2 <= m {
                self.tile::<2, W>(r0, j0, c);
                r0 += 2;
            }
            if r0 < m {
                self.tile::<1, W>(r0, j0, c);
            }
        }
    }

    /// The R × W tile of c at (r0, j0).
    #[inline(always)]
    fn tile<const R: usize, const W: usize>(&self, r0: usize, j0: usize, c: &mut [T]) {
        let mut a_rows = [0; R];
        let mut c_rows = [0; R];
        for r in 0..R {
            a_rows[r] = self.av.row(r0 + r);
            c_rows[r] = self.cv.row(r0 + r);
        }
        let (bc, cc) = (self.bv.col(j0), self.cv.col(j0));
        let mut acc = [[T::zero(); W]; R];
        if self.accumulate {
            for (accr, &cr) in acc.iter_mut().zip(&c_rows) {
                accr.copy_from_slice(&c[cr + cc..][..W]);
            }
        }
        let bs = self.bv.rs;
        let mut p0 = 0;
        while p0 < self.k {
            let len = self.kg.min(self.k - p0);
            let ac = self.av.col(p0);
            let mut ar: [&[T]; R] = [&[]; R];
            for r in 0..R {
                ar[r] = &self.a[a_rows[r] + ac..][..len];
            }
            let bb = self.bv.row(p0) + bc;
            let b = &self.b[bb..bb + (len - 1) * bs + W];
            for p in 0..len {
                let brow: &[T; W] = b[p * bs..p * bs + W].try_into().expect("tile width");
                for r in 0..R {
                    let x = ar[r][p];
                    for l in 0..W {
                        acc[r][l] += x * brow[l];
                    }
                }
            }
            p0 += len;
        }
        for (accr, &cr) in acc.iter().zip(&c_rows) {
            c[cr + cc..][..W].copy_from_slice(accr);
        }
    }
}

/// Lanes of the partial sums in [`gemm_nt_lanes`]: 16 for f32, 8 for f64 (fixed by the
/// type alone, so every instruction set sums in the same order).
pub(crate) fn nt_lanes<T>() -> usize {
    if is_f32::<T>() {
        16
    } else {
        8
    }
}

/// Partial sums of c (m × n) = a (m × k) · b (n × k)ᵀ on views: `lanes[(i, j, l)]` (with
/// L = [`nt_lanes`]) accumulates a[i, q]·b[j, q] over the q ≡ l mod L, in increasing q.
/// The caller adds the L lanes of each entry. k and the column groups of a and b are
/// multiples of L.
#[inline(always)]
pub(crate) fn gemm_nt_lanes<T: Scalar>(
    level: Level,
    (m, n, k): (usize, usize, usize),
    a: (&[T], View),
    b: (&[T], View),
    lanes: &mut [T],
) {
    let (av, bv) = (a.1, b.1);
    let kg = av.cg.min(bv.cg).min(k.max(1));
    let l = nt_lanes::<T>();
    assert!(
        k % l == 0
            && kg % l == 0
            && (av.cg == ONE || av.cg == kg)
            && (bv.cg == ONE || bv.cg == kg)
            && lanes.len() >= m * n * l,
        "gemm_nt_lanes: bad views {av:?} {bv:?} for {m}×{n}×{k}"
    );
    let ops = DotOperands {
        level,
        k,
        kg,
        n,
        a: a.0,
        av,
        b: b.0,
        bv,
    };
    // R × S entries of L lanes (see [`lane_products`]): 16 zmm accumulators (f32) on
    // AVX-512, 8 ymm on AVX2, 8 xmm on the baseline.
    match (is_f32::<T>(), level) {
        (true, Level::Avx512) => ops.run::<4, 4, 16>(m, lanes),
        (true, Level::Avx2) => ops.run::<2, 2, 16>(m, lanes),
        (true, _) => ops.run::<2, 1, 16>(m, lanes),
        (false, Level::Avx512) => ops.run::<2, 2, 8>(m, lanes),
        (false, Level::Avx2) => ops.run::<2, 2, 8>(m, lanes),
        (false, _) => ops.run::<2, 1, 8>(m, lanes),
    }
}

/// The read-only operands of one dot-product-form product.
struct DotOperands<'a, T> {
    level: Level,
    k: usize,
    kg: usize,
    n: usize,
    a: &'a [T],
    av: View,
    b: &'a [T],
    bv: View,
}

impl<T: Scalar> DotOperands<'_, T> {
    #[inline(always)]
    fn run<const R: usize, const S: usize, const L: usize>(&self, m: usize, out: &mut [T]) {
        let n = self.n;
        let mut i0 = 0;
        while i0 < m {
            let ri = if i0 + R <= m { R } else { 1 };
            let mut j0 = 0;
            while j0 < n {
                let sj = if j0 + S <= n { S } else { 1 };
                match (ri == R, sj == S) {
                    (true, true) => self.tile::<R, S, L>(i0, j0, out),
                    (true, false) => self.tile::<R, 1, L>(i0, j0, out),
                    (false, true) => self.tile::<1, S, L>(i0, j0, out),
                    (false, false) => self.tile::<1, 1, L>(i0, j0, out),
                }
                j0 += sj;
            }
            i0 += ri;
        }
    }

    /// Lanes of the R × S entries at (i0, j0) += a rows i0.. · b rows j0..ᵀ.
    #[inline(always)]
    fn tile<const R: usize, const S: usize, const L: usize>(
        &self,
        i0: usize,
        j0: usize,
        out: &mut [T],
    ) {
        let mut a_rows = [0; R];
        for (r, v) in a_rows.iter_mut().enumerate() {
            *v = self.av.row(i0 + r);
        }
        let mut b_rows = [0; S];
        for (s, v) in b_rows.iter_mut().enumerate() {
            *v = self.bv.row(j0 + s);
        }
        let mut acc = [[[T::zero(); L]; S]; R];
        for (r, accr) in acc.iter_mut().enumerate() {
            for (s, lanes) in accr.iter_mut().enumerate() {
                let o = ((i0 + r) * self.n + j0 + s) * L;
                lanes.copy_from_slice(&out[o..o + L]);
            }
        }
        let mut p0 = 0;
        while p0 < self.k {
            let len = self.kg.min(self.k - p0);
            let (ac, bc) = (self.av.col(p0), self.bv.col(p0));
            let mut ar: [&[T]; R] = [&[]; R];
            for r in 0..R {
                ar[r] = &self.a[a_rows[r] + ac..][..len];
            }
            let mut br: [&[T]; S] = [&[]; S];
            for s in 0..S {
                br[s] = &self.b[b_rows[s] + bc..][..len];
            }
            lane_products(self.level, (&ar, &br), len, &mut acc);
            p0 += len;
        }
        for (r, accr) in acc.iter().enumerate() {
            for (s, lanes) in accr.iter().enumerate() {
                let o = ((i0 + r) * self.n + j0 + s) * L;
                out[o..o + L].copy_from_slice(lanes);
            }
        }
    }
}

/// c += op(a)·op(b) through packed operands (see [`super::gemm_acc_with`]).
pub(crate) struct PackedProduct<'a, T> {
    pub dims: (usize, usize, usize),
    pub a: (&'a [T], bool),
    pub b: (&'a [T], bool),
    pub c: &'a mut [T],
    pub scratch: &'a mut Scratch<T>,
}

impl<T: Scalar> Job for PackedProduct<'_, T> {
    type Output = ();
    #[inline(always)]
    fn run(self, level: Level) {
        let PackedProduct {
            dims: (m, k, n),
            a: (a, ta),
            b: (b, tb),
            c,
            scratch: s,
        } = self;
        let np = pad_cols(n);
        // op(a) row-major [m, k]. The packed panels are written whole before they are read
        // (no clearing pass), transposed by the tiles of `level` (a strided scalar copy of
        // the 28×28 network's dense weights, 10 × 784, was 5 % of its step).
        let pa: &[T] = if ta {
            s.gemm.packed_a.resize_overwritten(m * k, T::zero());
            transpose(level, (a, m), (k, m), (&mut s.gemm.packed_a, k));
            &s.gemm.packed_a
        } else {
            a
        };
        // op(b) row-major [k, np].
        let pb: &[T] = if tb || np != n {
            s.gemm.packed_b.resize_overwritten(k * np, T::zero());
            if tb {
                transpose(level, (b, k), (n, k), (&mut s.gemm.packed_b, np));
            }
            for (p, row) in s.gemm.packed_b.chunks_exact_mut(np).enumerate().take(k) {
                if !tb {
                    row[..n].copy_from_slice(&b[p * n..][..n]);
                }
                // Fewer than COL_UNIT padding entries: stores, not a `memset` call per row.
                let pad = &mut row[n..];
                for j in 0..COL_UNIT {
                    if let Some(v) = pad.get_mut(j) {
                        *v = T::zero();
                    }
                }
            }
            &s.gemm.packed_b
        } else {
            b
        };
        let (av, bv) = ((pa, View::rows(k)), (pb, View::rows(np)));
        if np == n {
            gemm(level, (m, k, np), av, bv, (c, View::rows(np)), true);
        } else {
            s.gemm.packed_c.resize_overwritten(m * np, T::zero());
            gemm(
                level,
                (m, k, np),
                av,
                bv,
                (&mut s.gemm.packed_c[..], View::rows(np)),
                false,
            );
            for (cr, pr) in c.chunks_exact_mut(n).zip(s.gemm.packed_c.chunks_exact(np)) {
                for (x, &y) in cr.iter_mut().zip(pr) {
                    *x += y;
                }
            }
        }
    }
}

/// acc[r][s][l] += Σ_q a[r][q·L + l] · b[s][q·L + l] for q < `len` / L, in increasing q: the
/// lane-wise products of R rows with S rows (the same sums at every level).
///
/// Two forms of the same loop: on AVX-512 LLVM keeps the R·S·L accumulators in registers
/// when they are updated in place; with 16 registers (AVX2, the baseline) it does so only
/// when each step's R + S lane vectors are first copied into local arrays — in place, it
/// left AVX2's accumulators in memory and the loop scalar (profile of the digits backward).
#[inline(always)]
pub(super) fn lane_products<T: Scalar, const R: usize, const S: usize, const L: usize>(
    level: Level,
    (a, b): (&[&[T]; R], &[&[T]; S]),
    len: usize,
    acc: &mut [[[T; L]; S]; R],
) {
    if level == Level::Avx512 {
        for q in (0..len).step_by(L) {
            for r in 0..R {
                let x: &[T; L] = a[r][q..q + L].try_into().expect("lanes");
                for s in 0..S {
                    let y: &[T; L] = b[s][q..q + L].try_into().expect("lanes");
                    for l in 0..L {
                        acc[r][s][l] += x[l] * y[l];
                    }
                }
            }
        }
        return;
    }
    for q in (0..len).step_by(L) {
        let mut x = [[T::zero(); L]; R];
        let mut y = [[T::zero(); L]; S];
        for (xr, ar) in x.iter_mut().zip(a) {
            xr.copy_from_slice(&ar[q..q + L]);
        }
        for (ys, bs) in y.iter_mut().zip(b) {
            ys.copy_from_slice(&bs[q..q + L]);
        }
        for (accr, xr) in acc.iter_mut().zip(&x) {
            for (accs, ys) in accr.iter_mut().zip(&y) {
                for l in 0..L {
                    accs[l] += xr[l] * ys[l];
                }
            }
        }
    }
}
