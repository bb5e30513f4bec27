//! The stride-1 convolution on small grids (and the forward pass of a strided one with one
//! input channel, see [`applies_forward`]), computed tap by tap with the samples in the
//! vector lanes ([`super::lanes`]).
//!
//! In the batch-lane layout the entry (c, q) of L samples is one vector, so output pixel p
//! of L samples is Σ over the taps t whose read q = p + (di, dj) lies in the grid, and over
//! the input channels c, of the scalar w[o,c,t] times that vector: no im2col panel, and no
//! work for the reads that fall outside the grid (20 % of the taps of a plus filter on a 4×4
//! grid, 31 % of a full 3×3 filter). The input gradient is the same product with the roles
//! of input and output swapped (each input pixel q collects the output pixels p that read
//! it); the weight gradient sums, per tap, lane-wise products of the output gradient and the
//! input over the rows of pixels where the tap reads inside the grid, then adds the lanes.
//!
//! Summation orders (fixed by the geometry): an output sums the valid taps in weight order
//! and, for each, the channels in order; the weight gradient sums each lane over blocks,
//! rows and pixels in order, then the lanes in order.

use super::conv::Grads;
use super::gemm::{lane_products, nt_lanes};
use super::lanes::{from_lanes, sum_lanes, to_lanes};
use super::simd::{self, Job, Level};
use super::{aligned::Aligned, valid_range, ConvGeom, Scratch, TablesKind, TapTables};
use crate::Scalar;
use std::ops::Range;

/// Largest plane (pixels) computed this way: the layer-4 (4×4) and layer-8 (2×2) planes of
/// the digits network; larger planes keep the im2col formulations.
const MAX_PIXELS: usize = 16;

/// Whether a geometry is computed this way: stride 1 and at most [`MAX_PIXELS`] pixels.
/// Measured on the digits network (batch 32, AVX-512), against the im2col formulations:
/// 4×4 f32 forward 17.5 → 12.4 µs, backward 44 → 33 µs; 2×2 f32 8.5 → 2.4 and 24 → 12 µs;
/// 4×4 f64 forward 42 → 25 µs, weight gradient 47 → 41 µs.
pub(super) fn applies(g: &ConvGeom) -> bool {
    g.stride == 1 && g.h * g.w <= MAX_PIXELS
}

/// Whether the forward pass of a geometry is computed this way: the geometries of
/// [`applies`], and the strided one-channel geometries with at most [`MAX_PIXELS`] output
/// pixels that the gathered formulation takes (the digits network's first convolution
/// fused with its pooling, 8×8 → 4×4). With one input channel the gathered product sums
/// each output over the taps in tap order from 0, as here; the taps this formulation skips
/// add products with a zero there, which leave a sum started at +0 unchanged, so the bits
/// are the same (`tests::strided_one_channel_forward_matches_gathered`). Their backward
/// stays gathered. Measured (digits, batch 32, AVX2 f32, minimum times): 7.3 → 5.3 µs.
pub(super) fn applies_forward(g: &ConvGeom) -> bool {
    applies(g)
        || (g.stride > 1
            && g.c_in == 1
            && g.out_h() * g.out_w() <= MAX_PIXELS
            && g.h * g.w > g.taps.len())
}

/// Lists in `s.taps.pairs`, per pixel u of a plane (`s.taps.pair_starts[u]..s.taps.pair_starts[u + 1]`),
/// the pairs (t, v) of each tap t linking it to a pixel v inside the input grid, in tap
/// order: v = σ·u + offset_t for the forward (u = (i, j) an output pixel), v = u − offset_t
/// for the input gradient (stride 1; u an input pixel, v the output pixel that reads it).
fn pixel_lists(g: &ConvGeom, backward: bool, taps: &mut TapTables) {
    let (h, w) = (g.h as isize, g.w as isize);
    let (oh, ow, st) = (g.out_h() as isize, g.out_w() as isize, g.stride as isize);
    taps.pairs.clear();
    taps.pair_starts.clear();
    taps.pair_starts.push(0);
    for i in 0..oh {
        for j in 0..ow {
            for t in 0..g.taps.len() {
                let (di, dj) = g.offset(t);
                let (a, b) = if backward {
                    (i - di, j - dj)
                } else {
                    (st * i + di, st * j + dj)
                };
                if (0..h).contains(&a) && (0..w).contains(&b) {
                    taps.pairs.push((t, (a * w + b) as usize));
                }
            }
            taps.pair_starts.push(taps.pairs.len());
        }
    }
}

/// Lists in `taps.runs`, per tap t (`taps.run_starts[t]..taps.run_starts[t + 1]`), the rows of output
/// pixels whose read through t lies in the grid, as (first output pixel, first input pixel,
/// length); consecutive whole rows are merged into one run.
fn tap_runs(g: &ConvGeom, taps: &mut TapTables) {
    taps.runs.clear();
    taps.run_starts.clear();
    taps.run_starts.push(0);
    for t in 0..g.taps.len() {
        let (di, dj) = g.offset(t);
        let (i0, i1) = valid_range(di, g.h);
        let (j0, j1) = valid_range(dj, g.w);
        if j0 < j1 {
            for i in i0..i1 {
                let (p, q) = (
                    i * g.w + j0,
                    (i as isize + di) as usize * g.w + (j0 as isize + dj) as usize,
                );
                let tap_has_runs = taps.runs.len() > taps.run_starts[t];
                match taps.runs.last_mut() {
                    // Whole rows follow each other: one longer run.
                    Some(last) if tap_has_runs && last.0 + last.2 == p && last.1 + last.2 == q => {
                        last.2 += j1 - j0
                    }
                    _ => taps.runs.push((p, q, j1 - j0)),
                }
            }
        }
        taps.run_starts.push(taps.runs.len());
    }
}

/// The operands of one tap-by-tap product: out[b, r, u] (lanes) = Σ over the pairs (t, v) of
/// pixel u, Σ over j < `inner`, of a[r·lda + j·T + t] · inp[b, j, v] (lanes).
struct Product<'a, T> {
    /// Rows of a (output channels of the product).
    rows: usize,
    /// Channels summed per pair.
    inner: usize,
    /// Pixels per output plane.
    hw: usize,
    /// Pixels per input plane (`hw` unless strided).
    in_hw: usize,
    /// Taps T.
    nt: usize,
    a: &'a [T],
    lists: (&'a [(usize, usize)], &'a [usize]),
}

impl<T: Scalar> Product<'_, T> {
    #[inline(always)]
    fn run<const R: usize, const L: usize>(&self, inp: &[T], out: &mut [T]) {
        let (rows, hw, in_hw) = (self.rows, self.hw, self.in_hw);
        let blocks = inp.len() / (self.inner * in_hw * L);
        for b in 0..blocks {
            let ib = &inp[b * self.inner * in_hw * L..][..self.inner * in_hw * L];
            let ob = &mut out[b * rows * hw * L..][..rows * hw * L];
            for u in 0..hw {
                let mut r0 = 0;
                while r0 + R <= rows {
                    self.tile::<R, L>(r0, u, ib, ob);
                    r0 += R;
                }
                // A remainder of 4 rows or more (16 rows in tiles of 6) still in one tile.
                if R > 4 && r0 + 4 <= rows {
                    self.tile::<4, L>(r0, u, ib, ob);
                    r0 += 4;
                }
                while r0 < rows {
                    self.tile::<1, L>(r0, u, ib, ob);
                    r0 += 1;
                }
            }
        }
    }

    /// Rows r0..r0 + R of pixel u of one block.
    #[inline(always)]
    fn tile<const R: usize, const L: usize>(&self, r0: usize, u: usize, ib: &[T], ob: &mut [T]) {
        let lda = self.inner * self.nt;
        let mut ar: [&[T]; R] = [&[]; R];
        for (r, a) in ar.iter_mut().enumerate() {
            *a = &self.a[(r0 + r) * lda..][..lda];
        }
        let (pairs, starts) = self.lists;
        let mut acc = [[T::zero(); L]; R];
        for &(t, v) in &pairs[starts[u]..starts[u + 1]] {
            for j in 0..self.inner {
                let x: &[T; L] = ib[(j * self.in_hw + v) * L..][..L]
                    .try_into()
                    .expect("lanes");
                let col = j * self.nt + t;
                for r in 0..R {
                    let wv = ar[r][col];
                    for l in 0..L {
                        acc[r][l] += wv * x[l];
                    }
                }
            }
        }
        for (r, accr) in acc.iter().enumerate() {
            ob[((r0 + r) * self.hw + u) * L..][..L].copy_from_slice(accr);
        }
    }
}

/// Runs `p` on `inp` into `out` with the tile sizes of `level` and the lanes of `T`.
#[inline(always)]
fn product<T: Scalar>(level: Level, p: &Product<'_, T>, inp: &[T], out: &mut [T]) {
    // R rows of L lanes: 16 (f32) or 8 (f64) zmm accumulators on AVX-512, 12 or 8 ymm on
    // AVX2 (f64 with 6 rows measured slower), 8 or 4 xmm on the baseline's 16 (SSE2) or
    // 32 (NEON) 128-bit registers.
    match (nt_lanes::<T>(), level) {
        (16, Level::Avx512) => p.run::<8, 16>(inp, out),
        (16, Level::Avx2) => p.run::<6, 16>(inp, out),
        (16, _) => p.run::<2, 16>(inp, out),
        (_, Level::Avx512) => p.run::<8, 8>(inp, out),
        (_, Level::Avx2) => p.run::<4, 8>(inp, out),
        _ => p.run::<2, 8>(inp, out),
    }
}

/// y = conv(x, w).
#[inline(always)]
pub(super) fn forward<T: Scalar>(
    level: Level,
    g: &ConvGeom,
    x: &[T],
    w: &[T],
    y: &mut [T],
    s: &mut Scratch<T>,
) {
    let (in_hw, hw, n, l) = (g.h * g.w, g.out_h() * g.out_w(), g.batch, nt_lanes::<T>());
    s.tables_for(g, TablesKind::PixelLists { backward: false }, |g, t| {
        pixel_lists(g, false, t)
    });
    to_lanes(level, x, (n, g.c_in * in_hw), &mut s.panels.cols);
    s.panels
        .chan
        .resize_overwritten(n.div_ceil(l) * g.c_out * hw * l, T::zero());
    let p = Product {
        rows: g.c_out,
        inner: g.c_in,
        hw,
        in_hw,
        nt: g.taps.len(),
        a: w,
        lists: (&s.taps.pairs, &s.taps.pair_starts),
    };
    product(level, &p, &s.panels.cols, &mut s.panels.chan);
    from_lanes(
        level,
        &s.panels.chan,
        (n, g.c_out * hw),
        y,
        false,
        &mut s.gemm.packed_c,
    );
}

/// gx += convᵀ(gy, w) and gw += the weight gradient (either optional).
#[inline(always)]
pub(super) fn backward<T: Scalar>(
    level: Level,
    g: &ConvGeom,
    Grads { gy, x, w, gx, gw }: Grads<'_, T>,
    s: &mut Scratch<T>,
) {
    let (hw, n, nt, l) = (g.h * g.w, g.batch, g.taps.len(), nt_lanes::<T>());
    to_lanes(level, gy, (n, g.c_out * hw), &mut s.panels.chan);
    if let Some(gx) = gx {
        // wb[c, (o, t)] = w[o, c, t]: the product's rows are the input channels.
        s.panels
            .wt
            .resize_overwritten(g.c_in * g.c_out * nt, T::zero());
        regroup(w, (g.c_out, g.c_in, nt), &mut s.panels.wt);
        s.tables_for(g, TablesKind::PixelLists { backward: true }, |g, t| {
            pixel_lists(g, true, t)
        });
        s.panels
            .gwt
            .resize_overwritten(n.div_ceil(l) * g.c_in * hw * l, T::zero());
        let p = Product {
            rows: g.c_in,
            inner: g.c_out,
            hw,
            in_hw: hw,
            nt,
            a: &s.panels.wt,
            lists: (&s.taps.pairs, &s.taps.pair_starts),
        };
        product(level, &p, &s.panels.chan, &mut s.panels.gwt);
        from_lanes(
            level,
            &s.panels.gwt,
            (n, g.c_in * hw),
            gx,
            true,
            &mut s.gemm.packed_c,
        );
    }
    if let Some(gw) = gw {
        // Its own job (compiled apart from the input gradient above): inlined into the
        // same function, LLVM's code for the f64 AVX2 tiles changed with the product's
        // and ran 1.5× slower.
        simd::run_at(level, WeightGradJob { g, x, gw, s });
    }
}

/// wt[c, o, t] = w[o, c, t] for w of shape [C_out, C_in, T] (`dims`): the weights with the
/// input channels as rows. The common tap counts (the plus filter's 5, the 3×3 square's 9)
/// are copied as fixed-size blocks; the general case by slices.
fn regroup<T: Scalar>(w: &[T], dims: (usize, usize, usize), wt: &mut [T]) {
    match dims.2 {
        5 => regroup_blocks::<T, 5>(w, dims, wt),
        9 => regroup_blocks::<T, 9>(w, dims, wt),
        _ => {
            let (co, ci, nt) = dims;
            for (o, wo) in w.chunks_exact(ci * nt).enumerate() {
                for (c, src) in wo.chunks_exact(nt).enumerate() {
                    wt[(c * co + o) * nt..][..nt].copy_from_slice(src);
                }
            }
        }
    }
}

/// [`regroup`] for `NT` taps.
fn regroup_blocks<T: Scalar, const NT: usize>(
    w: &[T],
    (co, ci, _): (usize, usize, usize),
    wt: &mut [T],
) {
    let wt = wt.as_chunks_mut::<NT>().0;
    for (o, wo) in w.as_chunks::<NT>().0.chunks_exact(ci).enumerate() {
        for (c, block) in wo.iter().enumerate() {
            wt[c * co + o] = *block;
        }
    }
}

/// The weight gradient of [`backward`] as a job of its own; the output gradient is already
/// in the batch-lane layout in `s.panels.chan`.
struct WeightGradJob<'a, T> {
    g: &'a ConvGeom,
    x: &'a [T],
    gw: &'a mut [T],
    s: &'a mut Scratch<T>,
}

impl<T: Scalar> Job for WeightGradJob<'_, T> {
    type Output = ();
    #[inline(always)]
    fn run(self, level: Level) {
        let WeightGradJob { g, x, gw, s } = self;
        let (hw, n) = (g.h * g.w, g.batch);
        to_lanes(level, x, (n, g.c_in * hw), &mut s.panels.cols);
        s.tables_for(g, TablesKind::Runs, tap_runs);
        let wg = WeightGrad {
            g,
            gyt: &s.panels.chan,
            xt: &s.panels.cols,
            runs: (&s.taps.runs, &s.taps.run_starts),
        };
        // Tiles of R × S entries, each L lanes: 16 zmm accumulators on AVX-512, 8 ymm on
        // AVX2 (of 16 registers), 8 xmm on the baseline (2 × 1 tiles of 4 vectors). On AVX2
        // a column of 4 output channels against one input channel (one tap run of x read
        // per 4 of gy) beat the 2 × 2 square: digits step, minimum times, f32 142.5 →
        // 138.4 µs, f64 281 → 279 µs (3 × 2 and 2 × 3 tiles, 12 ymm: 150 µs; 6 × 1: 141 µs).
        let bufs = LaneSums {
            lanes: &mut s.panels.gt,
            sums: &mut s.panels.wt,
            tile: &mut s.gemm.packed_c,
            tap_gy: &mut s.panels.poly,
            tap_x: &mut s.panels.gwt,
        };
        match (nt_lanes::<T>(), level) {
            (16, Level::Avx512) => wg.run::<4, 4, 16>(level, bufs, gw),
            (16, Level::Avx2) => wg.run::<4, 1, 16>(level, bufs, gw),
            (16, _) => wg.run::<2, 1, 16>(level, bufs, gw),
            (_, Level::Avx512) => wg.run::<4, 2, 8>(level, bufs, gw),
            (_, Level::Avx2) => wg.run::<4, 1, 8>(level, bufs, gw),
            _ => wg.run::<2, 1, 8>(level, bufs, gw),
        }
    }
}

/// The buffers of the weight gradient: one tap's entries as [C_out·C_in, L] lanes, the
/// entries' sums, a transposition tile, and the output gradient and input one tap reads,
/// compacted ([`WeightGrad::compact`]).
struct LaneSums<'a, T> {
    lanes: &'a mut Aligned<T>,
    sums: &'a mut Aligned<T>,
    tile: &'a mut Aligned<T>,
    tap_gy: &'a mut Aligned<T>,
    tap_x: &'a mut Aligned<T>,
}

/// The operands of the weight gradient: gyt and xt in the batch-lane layout, and the tap runs.
struct WeightGrad<'a, T> {
    g: &'a ConvGeom,
    gyt: &'a [T],
    xt: &'a [T],
    runs: (&'a [(usize, usize, usize)], &'a [usize]),
}

impl<T: Scalar> WeightGrad<'_, T> {
    #[inline(always)]
    fn run<const R: usize, const S: usize, const L: usize>(
        &self,
        level: Level,
        bufs: LaneSums<'_, T>,
        gw: &mut [T],
    ) {
        let (co, ci, nt) = (self.g.c_out, self.g.c_in, self.g.taps.len());
        let e = co * ci;
        let LaneSums {
            lanes,
            sums,
            tile,
            tap_gy,
            tap_x,
        } = bufs;
        lanes.resize(e * L, T::zero());
        sums.resize(e, T::zero());
        for t in 0..nt {
            let len = self.compact::<L>(t, 0..ci, true, tap_x);
            let mut o0 = 0;
            while o0 < co {
                let ro = if o0 + R <= co { R } else { 1 };
                // The tile's output channels only: with all C_in inputs they stay in L1.
                self.compact::<L>(t, o0..o0 + ro, false, tap_gy);
                let ops = (&tap_gy[..], &tap_x[..], len);
                let mut c0 = 0;
                while c0 < ci {
                    let sc = if c0 + S <= ci { S } else { 1 };
                    let at = (o0, c0, ci);
                    match (ro == R, sc == S) {
                        (true, true) => entry_tile::<T, R, S, L>(level, ops, at, lanes),
                        (true, false) => entry_tile::<T, R, 1, L>(level, ops, at, lanes),
                        (false, true) => entry_tile::<T, 1, S, L>(level, ops, at, lanes),
                        (false, false) => entry_tile::<T, 1, 1, L>(level, ops, at, lanes),
                    }
                    c0 += sc;
                }
                o0 += ro;
            }
            // gw[o, c, t] += the lanes of entry (o, c), summed in lane order.
            sum_lanes::<T, L>(level, lanes, sums, tile);
            for (entry, &v) in sums.iter().enumerate() {
                gw[entry * nt + t] += v;
            }
        }
    }

    /// Copies what tap t reads of `channels` into one run per channel, `dst` [channels,
    /// len] (lane vectors): of the input (`input`, pixels p + offset) or of the output
    /// gradient (pixels p); each channel's blocks one after the other, and within a block
    /// the tap's runs of output pixels p in order. A product along such a run sums the
    /// lanes in the order of blocks, runs and pixels, as the runs read in place would,
    /// without a loop per row (a side tap of a 4×4 plane has 4 runs of 3 pixels per block).
    /// Returns len (pixels × L).
    #[inline(always)]
    fn compact<const L: usize>(
        &self,
        t: usize,
        channels: Range<usize>,
        input: bool,
        dst: &mut Aligned<T>,
    ) -> usize {
        let (g, hw) = (self.g, self.g.h * self.g.w);
        let (runs, starts) = self.runs;
        let runs = &runs[starts[t]..starts[t + 1]];
        let blocks = self.xt.len() / (g.c_in * hw * L);
        let per_block: usize = runs.iter().map(|r| r.2).sum();
        let len = blocks * per_block * L;
        let (src, total) = if input {
            (self.xt, g.c_in)
        } else {
            (self.gyt, g.c_out)
        };
        dst.resize_overwritten(channels.len() * len, T::zero());
        for (c, out) in channels.zip(dst.chunks_exact_mut(len.max(1))) {
            let mut at = 0;
            for b in 0..blocks {
                let plane = &src[(b * total + c) * hw * L..][..hw * L];
                for &(p0, q0, n) in runs {
                    let from = if input { q0 } else { p0 };
                    out[at..at + n * L].copy_from_slice(&plane[from * L..][..n * L]);
                    at += n * L;
                }
            }
        }
        len
    }
}

/// Lanes of the R × S entries (o0.., c0..) of one tap, into their rows of `lanes`
/// [C_out·C_in, L], from the tap's compacted operands (`tap_gy`: the tile's R output
/// channels, `tap_x`: every input channel, run length `len`: [`WeightGrad::compact`]): one
/// run per entry.
#[inline(always)]
fn entry_tile<T: Scalar, const R: usize, const S: usize, const L: usize>(
    level: Level,
    (tap_gy, tap_x, len): (&[T], &[T], usize),
    (o0, c0, c_in): (usize, usize, usize),
    lanes: &mut [T],
) {
    let mut acc = [[[T::zero(); L]; S]; R];
    let mut ar: [&[T]; R] = [&[]; R];
    for (r, a) in ar.iter_mut().enumerate() {
        *a = &tap_gy[r * len..][..len];
    }
    let mut br: [&[T]; S] = [&[]; S];
    for (s, v) in br.iter_mut().enumerate() {
        *v = &tap_x[(c0 + s) * len..][..len];
    }
    lane_products(level, (&ar, &br), len, &mut acc);
    for (r, accr) in acc.iter().enumerate() {
        for (s, a) in accr.iter().enumerate() {
            lanes[((o0 + r) * c_in + c0 + s) * L..][..L].copy_from_slice(a);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::regroup;

    /// Every branch of `regroup` (5 and 9 taps by blocks, others entry by entry) gives
    /// wt[c, o, t] = w[o, c, t]; the control: the regrouped weights are not w itself.
    #[test]
    fn regroup_puts_input_channels_first() {
        for nt in [1, 3, 5, 9] {
            let (co, ci) = (3, 4);
            let w: Vec<f64> = (0..co * ci * nt).map(|i| i as f64).collect();
            let mut wt = vec![f64::NAN; w.len()];
            regroup(&w, (co, ci, nt), &mut wt);
            for o in 0..co {
                for c in 0..ci {
                    for t in 0..nt {
                        assert_eq!(wt[(c * co + o) * nt + t], w[(o * ci + c) * nt + t]);
                    }
                }
            }
            assert_ne!(wt, w, "{nt} taps: regrouping moved nothing");
        }
    }
}
