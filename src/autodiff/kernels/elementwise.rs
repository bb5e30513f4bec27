//! Vectorisable bodies of the pooling, layer-norm and tanh kernels (run through
//! [`super::simd`]).
//!
//! Reductions over a layer-norm group use L partial sums (L = 16 for f32, 8 for f64; lane
//! l takes the entries i ≡ l mod L in increasing i up to the last multiple of L, the lanes
//! are added pairwise, then the tail of m mod L entries in order): a fixed order, the same
//! on every instruction set.

use super::math::{
    expm1_reduced_f32, expm1_reduced_f64, finish_f32, finish_f64, reduce_f32, reduce_f64,
};
use super::simd::{Job, Level};
use crate::Scalar;

fn is_f32<T>() -> bool {
    std::mem::size_of::<T>() == 4
}

/// Σ_i f(a_i, b_i) in the lane order of the module doc (`b` as long as `a`, or empty
/// when f ignores its second argument).
#[inline(always)]
fn lane_sum<T: Scalar>(a: &[T], b: &[T], f: impl Fn(T, T) -> T) -> T {
    if is_f32::<T>() {
        lane_sum_l::<T, 16>(a, b, f)
    } else {
        lane_sum_l::<T, 8>(a, b, f)
    }
}

#[inline(always)]
fn lane_sum_l<T: Scalar, const L: usize>(a: &[T], b: &[T], f: impl Fn(T, T) -> T) -> T {
    let mut acc = [T::zero(); L];
    let full = a.len() / L * L;
    if b.is_empty() {
        for c in a[..full].chunks_exact(L) {
            let c: &[T; L] = c.try_into().expect("lanes");
            for l in 0..L {
                acc[l] += f(c[l], T::zero());
            }
        }
    } else {
        for (c, d) in a[..full].chunks_exact(L).zip(b[..full].chunks_exact(L)) {
            let c: &[T; L] = c.try_into().expect("lanes");
            let d: &[T; L] = d.try_into().expect("lanes");
            for l in 0..L {
                acc[l] += f(c[l], d[l]);
            }
        }
    }
    let mut h = L / 2;
    while h > 0 {
        for l in 0..h {
            let v = acc[l + h];
            acc[l] += v;
        }
        h /= 2;
    }
    let mut s = acc[0];
    for i in full..a.len() {
        s += f(a[i], if b.is_empty() { T::zero() } else { b[i] });
    }
    s
}

/// 2×2 average pooling (stride 2): y = ((x₀₀ + x₁₀) + (x₀₁ + x₁₁))/4 per window (the
/// vertical sums first: they are contiguous).
pub(crate) struct Pool2Forward<'a, T> {
    pub planes: usize,
    pub h: usize,
    pub w: usize,
    pub x: &'a [T],
    pub y: &'a mut [T],
}

/// Entries of the stack buffer of the pooling kernels.
const POOL_BUF: usize = 256;

/// Pools `rows` consecutive row pairs of width `w` (even) from x into y, a few row pairs at
/// a time: the vertical sums of a group into a stack buffer (contiguous adds), then the
/// horizontal pairs of the buffer (one long stride-2 loop).
#[inline(always)]
fn pool2_row_pairs<T: Scalar>(rows: usize, w: usize, x: &[T], y: &mut [T], inv: T) {
    let per = (POOL_BUF / w).max(1);
    let mut v = [T::zero(); POOL_BUF];
    if w > POOL_BUF {
        // Wide rows: one row pair at a time, straight from x.
        for (xr, yr) in x
            .chunks_exact(2 * w)
            .zip(y.chunks_exact_mut(w / 2))
            .take(rows)
        {
            let (top, bottom) = xr.split_at(w);
            for ((yv, a), b) in yr
                .iter_mut()
                .zip(top.chunks_exact(2))
                .zip(bottom.chunks_exact(2))
            {
                *yv = ((a[0] + b[0]) + (a[1] + b[1])) * inv;
            }
        }
        return;
    }
    let mut r0 = 0;
    while r0 < rows {
        let nr = per.min(rows - r0);
        for (i, xr) in x[2 * r0 * w..].chunks_exact(2 * w).take(nr).enumerate() {
            let (top, bottom) = xr.split_at(w);
            for ((d, &a), &b) in v[i * w..(i + 1) * w].iter_mut().zip(top).zip(bottom) {
                *d = a + b;
            }
        }
        let out = &mut y[r0 * w / 2..(r0 + nr) * w / 2];
        for (yv, pair) in out.iter_mut().zip(v[..nr * w].chunks_exact(2)) {
            *yv = (pair[0] + pair[1]) * inv;
        }
        r0 += nr;
    }
}

/// [`pool2_row_pairs`] for rows of `W` = 2·`WO` entries known at compile time (LLVM then
/// pools each pair in registers, without the buffer), in the same order of additions.
#[inline(always)]
fn pool2_row_pairs_fixed<T: Scalar, const W: usize, const WO: usize>(
    rows: usize,
    x: &[T],
    y: &mut [T],
    inv: T,
) {
    for (xr, yr) in x.chunks_exact(2 * W).zip(y.chunks_exact_mut(WO)).take(rows) {
        let top: &[T; W] = xr[..W].try_into().expect("row");
        let bottom: &[T; W] = xr[W..].try_into().expect("row");
        let v: [T; W] = std::array::from_fn(|j| top[j] + bottom[j]);
        for (k, yv) in yr.iter_mut().enumerate() {
            *yv = (v[2 * k] + v[2 * k + 1]) * inv;
        }
    }
}

impl<T: Scalar> Job for Pool2Forward<'_, T> {
    type Output = ();
    #[inline(always)]
    fn run(self, _: Level) {
        let Pool2Forward { planes, h, w, x, y } = self;
        let (ho, wo) = (h / 2, w / 2);
        let inv = T::one() / T::of(4.0);
        if ho * wo == 0 {
            return;
        }
        if h % 2 == 0 && w % 2 == 0 {
            // The row pairs of all planes follow each other.
            // Rows of 4 by the fixed-width loop (digits network, batch 32, AVX2: f32 2.6 →
            // 1.5 µs, f64 3.2 → 1.6 µs).
            return match w {
                4 => pool2_row_pairs_fixed::<T, 4, 2>(planes * ho, x, y, inv),
                _ => pool2_row_pairs(planes * ho, w, x, y, inv),
            };
        }
        for (xp, yp) in x
            .chunks_exact(h * w)
            .zip(y.chunks_exact_mut(ho * wo))
            .take(planes)
        {
            for (i, yr) in yp.chunks_exact_mut(wo).enumerate() {
                let top = &xp[2 * i * w..][..2 * wo];
                let bottom = &xp[(2 * i + 1) * w..][..2 * wo];
                for ((yv, a), b) in yr
                    .iter_mut()
                    .zip(top.chunks_exact(2))
                    .zip(bottom.chunks_exact(2))
                {
                    *yv = ((a[0] + b[0]) + (a[1] + b[1])) * inv;
                }
            }
        }
    }
}

/// gx += pool2ᵀ(gy): every entry of a window receives gy/4.
pub(crate) struct Pool2Backward<'a, T> {
    pub planes: usize,
    pub h: usize,
    pub w: usize,
    pub gy: &'a [T],
    pub gx: &'a mut [T],
}

/// The adjoint of [`pool2_row_pairs`]: gy/4 spread into a stack buffer (one long stride-2
/// loop), then added to both rows of each pair (contiguous adds).
#[inline(always)]
fn pool2_row_pairs_back<T: Scalar>(rows: usize, w: usize, gy: &[T], gx: &mut [T], inv: T) {
    let per = (POOL_BUF / w).max(1);
    let mut v = [T::zero(); POOL_BUF];
    if w > POOL_BUF {
        for (xr, gr) in gx
            .chunks_exact_mut(2 * w)
            .zip(gy.chunks_exact(w / 2))
            .take(rows)
        {
            let (top, bottom) = xr.split_at_mut(w);
            for ((&g, a), b) in gr
                .iter()
                .zip(top.chunks_exact_mut(2))
                .zip(bottom.chunks_exact_mut(2))
            {
                let d = g * inv;
                a[0] += d;
                a[1] += d;
                b[0] += d;
                b[1] += d;
            }
        }
        return;
    }
    let mut r0 = 0;
    while r0 < rows {
        let nr = per.min(rows - r0);
        let g = &gy[r0 * w / 2..(r0 + nr) * w / 2];
        for (pair, &gv) in v[..nr * w].chunks_exact_mut(2).zip(g) {
            let d = gv * inv;
            pair[0] = d;
            pair[1] = d;
        }
        for (i, xr) in gx[2 * r0 * w..]
            .chunks_exact_mut(2 * w)
            .take(nr)
            .enumerate()
        {
            let (top, bottom) = xr.split_at_mut(w);
            for ((a, b), &d) in top
                .iter_mut()
                .zip(bottom.iter_mut())
                .zip(&v[i * w..(i + 1) * w])
            {
                *a += d;
                *b += d;
            }
        }
        r0 += nr;
    }
}

/// [`pool2_row_pairs_back`] for rows of `W` = 2·`WO` entries known at compile time.
#[inline(always)]
fn pool2_row_pairs_back_fixed<T: Scalar, const W: usize, const WO: usize>(
    rows: usize,
    gy: &[T],
    gx: &mut [T],
    inv: T,
) {
    for (xr, gr) in gx
        .chunks_exact_mut(2 * W)
        .zip(gy.chunks_exact(WO))
        .take(rows)
    {
        let (top, bottom) = xr.split_at_mut(W);
        let top: &mut [T; W] = top.try_into().expect("row");
        let bottom: &mut [T; W] = bottom.try_into().expect("row");
        for (k, &g) in gr.iter().enumerate() {
            let d = g * inv;
            top[2 * k] += d;
            top[2 * k + 1] += d;
            bottom[2 * k] += d;
            bottom[2 * k + 1] += d;
        }
    }
}

impl<T: Scalar> Job for Pool2Backward<'_, T> {
    type Output = ();
    #[inline(always)]
    fn run(self, _: Level) {
        let Pool2Backward {
            planes,
            h,
            w,
            gy,
            gx,
        } = self;
        let (ho, wo) = (h / 2, w / 2);
        let inv = T::one() / T::of(4.0);
        if ho * wo == 0 {
            return;
        }
        if h % 2 == 0 && w % 2 == 0 {
            // Rows of 4 in f64 by the fixed-width loop (digits network, batch 32, AVX2:
            // 4.1 → 1.3 µs); in f32 it was slower than the buffer (2.4 → 2.8 µs).
            return match w {
                4 if !is_f32::<T>() => {
                    pool2_row_pairs_back_fixed::<T, 4, 2>(planes * ho, gy, gx, inv)
                }
                _ => pool2_row_pairs_back(planes * ho, w, gy, gx, inv),
            };
        }
        for (gxp, gyp) in gx
            .chunks_exact_mut(h * w)
            .zip(gy.chunks_exact(ho * wo))
            .take(planes)
        {
            for (i, gr) in gyp.chunks_exact(wo).enumerate() {
                let (top, bottom) = gxp[2 * i * w..].split_at_mut(w);
                let rows = top[..2 * wo]
                    .chunks_exact_mut(2)
                    .zip(bottom[..2 * wo].chunks_exact_mut(2));
                for (&g, (a, b)) in gr.iter().zip(rows) {
                    let d = g * inv;
                    a[0] += d;
                    a[1] += d;
                    b[0] += d;
                    b[1] += d;
                }
            }
        }
    }
}

/// Groups per batch of the layer-norm forward (see [`LayerNormForward`]).
const LN_BATCH: usize = 16;

/// Layer norm over groups of m: y = (x − μ)·s, s = 1/√(σ² + eps); s written to `rstd`.
pub(crate) struct LayerNormForward<'a, T> {
    pub x: &'a [T],
    pub m: usize,
    pub eps: T,
    pub y: &'a mut [T],
    pub rstd: &'a mut [T],
}

impl<T: Scalar> Job for LayerNormForward<'_, T> {
    type Output = ();
    #[inline(always)]
    fn run(self, _: Level) {
        let LayerNormForward { x, m, eps, y, rstd } = self;
        let inv_m = T::one() / T::of(m as f64);
        // Groups in batches, each step over the whole batch: the groups' chains of sums,
        // square root and division are independent, and so overlap in the core (one group
        // at a time, each step waited for the one before). Digits network, batch 32,
        // AVX2 f32: layer-3 forward 3.1 → 2.7 µs, layers 7 and 10 1.09 → 0.84 µs; 64 per
        // batch instead of 16 made no difference. (The backward's two sums already run
        // side by side; batched like this it was slower, 3.2 → 3.4 µs.)
        let mut means = [T::zero(); LN_BATCH];
        let groups = x.len() / m.max(1);
        let mut g0 = 0;
        while g0 < groups {
            let nb = LN_BATCH.min(groups - g0);
            let xb = &x[g0 * m..(g0 + nb) * m];
            for (mean, xg) in means.iter_mut().zip(xb.chunks_exact(m)) {
                *mean = lane_sum(xg, &[], |v, _| v) * inv_m;
            }
            for ((s, &mean), xg) in rstd[g0..g0 + nb]
                .iter_mut()
                .zip(&means)
                .zip(xb.chunks_exact(m))
            {
                *s = lane_sum(xg, &[], |v, _| (v - mean) * (v - mean));
            }
            for s in &mut rstd[g0..g0 + nb] {
                *s = T::one() / (*s * inv_m + eps).sqrt();
            }
            let yb = &mut y[g0 * m..(g0 + nb) * m];
            for (((yg, xg), &mean), &sv) in yb
                .chunks_exact_mut(m)
                .zip(xb.chunks_exact(m))
                .zip(&means)
                .zip(&rstd[g0..g0 + nb])
            {
                for (yv, &xv) in yg.iter_mut().zip(xg) {
                    *yv = (xv - mean) * sv;
                }
            }
            g0 += nb;
        }
    }
}

/// gx += s·(gy − mean(gy) − y·mean(gy ⊙ y)) per group.
pub(crate) struct LayerNormBackward<'a, T> {
    pub gy: &'a [T],
    pub y: &'a [T],
    pub rstd: &'a [T],
    pub m: usize,
    pub gx: &'a mut [T],
}

impl<T: Scalar> Job for LayerNormBackward<'_, T> {
    type Output = ();
    #[inline(always)]
    fn run(self, _: Level) {
        let LayerNormBackward { gy, y, rstd, m, gx } = self;
        let inv_m = T::one() / T::of(m as f64);
        let groups = gy
            .chunks_exact(m)
            .zip(y.chunks_exact(m))
            .zip(gx.chunks_exact_mut(m));
        for (((gyg, yg), gxg), &s) in groups.zip(rstd) {
            let mean_g = lane_sum(gyg, &[], |v, _| v) * inv_m;
            let mean_gy = lane_sum(gyg, yg, |g, v| g * v) * inv_m;
            for ((gxv, &gv), &yv) in gxg.iter_mut().zip(gyg).zip(yg) {
                *gxv += s * (gv - mean_g - yv * mean_gy);
            }
        }
    }
}

/// Values per block of [`TanhForward`].
const TANH_BLOCK: usize = 256;

/// y = tanh(x) entrywise (`math::tanh_f32`, `math::tanh_f64`, one value at a time), in blocks
/// of [`TANH_BLOCK`] values and three passes over each block: range reduction, polynomial,
/// rescaling and division. The same operations as one pass per value, so the same bits; but
/// a value's whole chain of dependent operations was longer than the core could overlap
/// across values, and each pass's chain is about a third of it. Digits network, batch 32,
/// AVX2, layer-2 tanh (8,192 values): f32 7.0 → 4.3 µs, f64 18.7 → 12.1 µs (blocks of 64
/// and 1,024 values: no better).
pub(crate) struct TanhForward<'a, T> {
    pub x: &'a [T],
    pub y: &'a mut [T],
}

impl<T: Scalar> Job for TanhForward<'_, T> {
    type Output = ();
    #[inline(always)]
    fn run(self, _: Level) {
        // The conversions between T and its own type (f32 → f64 → f32, f64 → f64) are
        // exact and compile to nothing.
        if is_f32::<T>() {
            let (reduce, finish) = (
                |v: T| reduce_f32(v.f64() as f32),
                |em, n, v: T| T::of(finish_f32(em, n, v.f64() as f32) as f64),
            );
            tanh_in_passes(self.x, self.y, reduce, expm1_reduced_f32, finish);
        } else {
            let (reduce, finish) = (
                |v: T| reduce_f64(v.f64()),
                |em, n, v: T| T::of(finish_f64(em, n, v.f64())),
            );
            tanh_in_passes(self.x, self.y, reduce, expm1_reduced_f64, finish);
        }
    }
}

/// The three passes of [`TanhForward`] over each block of x into y: `reduce` to (r, n),
/// `expm1` of r, `finish` from (expm1(r), n, x), in the precision F of the math functions.
#[inline(always)]
fn tanh_in_passes<T: Scalar, F: Copy + Default, N: Copy + Default>(
    x: &[T],
    y: &mut [T],
    reduce: impl Fn(T) -> (F, N),
    expm1: impl Fn(F) -> F,
    finish: impl Fn(F, N, T) -> T,
) {
    let (mut r, mut n) = ([F::default(); TANH_BLOCK], [N::default(); TANH_BLOCK]);
    for (xb, yb) in x.chunks(TANH_BLOCK).zip(y.chunks_mut(TANH_BLOCK)) {
        for ((rv, nv), &v) in r.iter_mut().zip(&mut n).zip(xb) {
            (*rv, *nv) = reduce(v);
        }
        for rv in &mut r[..xb.len()] {
            *rv = expm1(*rv);
        }
        for (((o, &v), &em), &nv) in yb.iter_mut().zip(xb).zip(&r).zip(&n) {
            *o = finish(em, nv, v);
        }
    }
}

/// gx += gy·(1 − y²) with y = tanh(x).
pub(crate) struct TanhBackward<'a, T> {
    pub gy: &'a [T],
    pub y: &'a [T],
    pub gx: &'a mut [T],
}

impl<T: Scalar> Job for TanhBackward<'_, T> {
    type Output = ();
    #[inline(always)]
    fn run(self, _: Level) {
        for ((g, &v), &t) in self.gx.iter_mut().zip(self.gy).zip(self.y) {
            *g += v * (T::one() - t * t);
        }
    }
}

/// out = (Σ_i tables[members_i][span]) / |members|: the members' rows summed entrywise in
/// `members` order from +0, then divided once (the mean logits f̂_M of an ensemble or a
/// bootstrap resample: `metrics::mean_logits` and the bootstrap both run this job).
pub(crate) struct MeanRows<'a> {
    pub tables: &'a [&'a [f64]],
    pub members: &'a [usize],
    pub span: std::ops::Range<usize>,
    pub out: &'a mut [f64],
}

impl Job for MeanRows<'_> {
    type Output = ();
    #[inline(always)]
    fn run(self, _: Level) {
        let MeanRows {
            tables,
            members,
            span,
            out,
        } = self;
        out.fill(0.0);
        for &i in members {
            for (s, &v) in out.iter_mut().zip(&tables[i][span.clone()]) {
                *s += v;
            }
        }
        let count = members.len() as f64;
        out.iter_mut().for_each(|s| *s /= count);
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::bits;
    use super::*;

    /// Values with unrelated mantissas in [−1/3, 1/3) (a SplitMix64 hash of the index).
    fn data<T: Scalar>(n: usize, seed: u64) -> Vec<T> {
        (0..n as u64)
            .map(|i| {
                let mut z = (i + seed).wrapping_mul(0x9e37_79b9_7f4a_7c15);
                z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
                let u = ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 52) as f64 - 1.0;
                // Off the 2⁻⁵² grid, so that sums of a few values round in f64 too.
                T::of(u / 3.0)
            })
            .collect()
    }

    fn fixed_matches_buffered<T: Scalar>() {
        let (rows, inv) = (37, T::one() / T::of(4.0));
        let x = data::<T>(rows * 8, 1);
        let gy = data::<T>(rows * 2, 2);
        let (mut y1, mut y2) = (vec![T::zero(); rows * 2], vec![T::zero(); rows * 2]);
        pool2_row_pairs(rows, 4, &x, &mut y1, inv);
        pool2_row_pairs_fixed::<T, 4, 2>(rows, &x, &mut y2, inv);
        assert_eq!(bits(&y1), bits(&y2), "forward");
        let (mut g1, mut g2) = (data::<T>(rows * 8, 3), data::<T>(rows * 8, 3));
        pool2_row_pairs_back(rows, 4, &gy, &mut g1, inv);
        pool2_row_pairs_back_fixed::<T, 4, 2>(rows, &gy, &mut g2, inv);
        assert_eq!(bits(&g1), bits(&g2), "backward");
        // Control: the same windows summed horizontally first differ in some bit, so the
        // comparison above does see the order of the additions.
        let other: Vec<T> = x
            .chunks_exact(8)
            .flat_map(|r| {
                [
                    ((r[0] + r[1]) + (r[4] + r[5])) * inv,
                    ((r[2] + r[3]) + (r[6] + r[7])) * inv,
                ]
            })
            .collect();
        assert_ne!(bits(&other), bits(&y1), "control");
    }

    /// One group at a time, each step waiting for the one before: the layer norm's
    /// definition, which the batched kernel must reproduce bit for bit.
    fn layer_norm_by_group<T: Scalar>(x: &[T], m: usize, eps: T) -> (Vec<T>, Vec<T>) {
        let inv_m = T::one() / T::of(m as f64);
        let (mut y, mut rstd) = (Vec::new(), Vec::new());
        for xg in x.chunks_exact(m) {
            let mean = lane_sum(xg, &[], |v, _| v) * inv_m;
            let var = lane_sum(xg, &[], |v, _| (v - mean) * (v - mean));
            let s = T::one() / (var * inv_m + eps).sqrt();
            y.extend(xg.iter().map(|&v| (v - mean) * s));
            rstd.push(s);
        }
        (y, rstd)
    }

    fn batched_layer_norm_matches<T: Scalar>() {
        // 2·LN_BATCH + 5 groups: two whole batches and a partial one.
        let (m, groups, eps) = (21, 2 * LN_BATCH + 5, T::of(1e-5));
        let x = data::<T>(m * groups, 4);
        let (mut y, mut rstd) = (vec![T::zero(); x.len()], vec![T::zero(); groups]);
        let job = LayerNormForward {
            x: &x,
            m,
            eps,
            y: &mut y,
            rstd: &mut rstd,
        };
        job.run(Level::Baseline);
        let (want_y, want_rstd) = layer_norm_by_group(&x, m, eps);
        assert_eq!(bits(&y), bits(&want_y));
        assert_eq!(bits(&rstd), bits(&want_rstd));
        // Control: one entry of the last group changed moves its outputs.
        let mut moved = x.clone();
        moved[m * groups - 1] += T::of(1e-3);
        assert_ne!(
            bits(&layer_norm_by_group(&moved, m, eps).0),
            bits(&y),
            "control"
        );
    }

    /// The layer norm in batches of groups gives the bits of one group at a time.
    #[test]
    fn batched_layer_norm_matches_one_group_at_a_time() {
        batched_layer_norm_matches::<f32>();
        batched_layer_norm_matches::<f64>();
    }

    fn staged_tanh_matches<T: Scalar>(one: impl Fn(f64) -> f64) {
        // A block and a half, over magnitudes 1e-9 … 30, both signs, and the special
        // values: every stage sees whole and partial blocks.
        let mut x: Vec<T> = (0..TANH_BLOCK * 3 / 2)
            .map(|i| {
                let v = 10f64.powf(-9.0 + 10.5 * i as f64 / (TANH_BLOCK * 3 / 2) as f64);
                T::of(if i % 2 == 0 { v } else { -v })
            })
            .collect();
        x.extend([0.0, -0.0, f64::INFINITY, f64::NEG_INFINITY, f64::NAN].map(T::of));
        let mut y = vec![T::zero(); x.len()];
        TanhForward { x: &x, y: &mut y }.run(Level::Baseline);
        let want: Vec<T> = x.iter().map(|v| T::of(one(v.f64()))).collect();
        assert_eq!(bits(&y), bits(&want));
        // Control: one value off by a relative 1e-6 (a few f32 ulps) is seen.
        let mut off = want.clone();
        off[7] = off[7] + off[7] * T::of(1e-6);
        assert_ne!(bits(&y), bits(&off), "control");
    }

    /// The staged tanh gives, value by value, the bits of the one-value definition.
    #[test]
    fn staged_tanh_matches_the_one_value_definition() {
        use super::super::math::{tanh_f32, tanh_f64};
        staged_tanh_matches::<f32>(|v| tanh_f32(v as f32) as f64);
        staged_tanh_matches::<f64>(tanh_f64);
    }

    /// The fixed-width pooling of rows of 4 gives the bits of the buffered loop.
    #[test]
    fn fixed_width_pooling_matches_the_buffered_loop() {
        fixed_matches_buffered::<f32>();
        fixed_matches_buffered::<f64>();
    }
}
