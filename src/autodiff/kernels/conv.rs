//! The support-restricted convolution as register-tiled matrix products ([`super::gemm`]).
//!
//! Two formulations, chosen by the geometry:
//!
//! - **im2col** (the general case). Samples are processed in blocks. The *column panel* B
//!   of a block has one row per (input channel c, tap t) and one column per (sample,
//!   pixel p): B[(c,t), (n,p)] = x[n, c, p shifted by tap t] (0 where the tap falls outside
//!   the grid). Forward: Y = W · B (W the [C_out, C_in·T] weights). Weight gradient:
//!   gWᵀ += B · Gᵀ (G the block's output gradient, channel-major; Gᵀ is gathered
//!   pixel-major). Input gradient: gB = Wᵀ · G, then each row (c, t) of gB is added back
//!   onto the pixels of x that tap t read (col2im). Blocks hold about [`BLOCK_COLS`]
//!   pixels. When H·W is a multiple of [`COL_UNIT`], Y and G are read and written in
//!   place ([`Layout::Planes`]); otherwise they are gathered and scattered.
//! - **dense** (tiny grids, H·W ≤ T). The convolution of one sample is the matrix
//!   M [(C_out·H·W), (C_in·H·W)] with M[(o,p), (c,q)] = w[o,c,t] when q = p shifted by
//!   tap t. Then Y = X · Mᵀ, gX += gY · M and gMᵀ = Xᵀ · gY with X, Y the [N, C·H·W]
//!   tensors themselves; gw[o,c,t] sums gMᵀ over the pixel pairs of tap t. For H·W ≤ T
//!   this is no more work than im2col and needs no gathering.
//!
//! Column counts are padded with zero columns to a multiple of [`COL_UNIT`]. The summation
//! order of every entry is fixed by the geometry alone (see [`super::gemm`]); as with any
//! matrix formulation, a non-finite input or weight may turn into NaN outputs that the
//! exact per-tap formula would not touch (0·∞).

use super::gemm::{gemm_nn, pad_cols, Layout, COL_UNIT};
use super::simd::{self, Job, Level};
use super::{valid_range, ConvGeom};
use crate::Scalar;

/// Target number of output pixels (columns) per im2col block when H·W is not a multiple
/// of [`COL_UNIT`].
const BLOCK_COLS: usize = 512;

/// Reusable buffers of the convolution kernels (grown on demand, never shrunk).
#[derive(Clone, Debug, Default)]
pub struct ConvScratch<T> {
    /// im2col: column panel B or gB, [C_in·T, cols]. Dense: Xᵀ, [C_in·H·W, N].
    cols: Vec<T>,
    /// im2col: channel-major output or output gradient of a block, [C_out, cols].
    /// Dense: the padded output or output gradient, [N, C_out·H·W padded].
    chan: Vec<T>,
    /// im2col: Wᵀ, [C_in·T, C_out]. Dense: Mᵀ, [C_in·H·W, C_out·H·W padded].
    wt: Vec<T>,
    /// im2col: Gᵀ, [cols, C_out padded]. Dense: M, [C_out·H·W, C_in·H·W padded].
    gt: Vec<T>,
    /// im2col: the weight gradient transposed, [C_in·T, C_out padded].
    /// Dense: gMᵀ, [C_in·H·W, C_out·H·W padded], or the padded input gradient.
    gwt: Vec<T>,
    /// Per tap, which pixels of a plane read inside the grid.
    masks: Vec<bool>,
    /// Per tap: flat shift s = di·W + dj, and the pixel range [lo, hi) that may be valid.
    shifts: Vec<(isize, usize, usize)>,
}

impl<T: Scalar> ConvScratch<T> {
    /// Empty buffers.
    pub fn new() -> Self {
        ConvScratch {
            cols: Vec::new(),
            chan: Vec::new(),
            wt: Vec::new(),
            gt: Vec::new(),
            gwt: Vec::new(),
            masks: Vec::new(),
            shifts: Vec::new(),
        }
    }
}

/// Whether the dense formulation applies: a grid of at most T pixels.
fn use_dense(g: &ConvGeom) -> bool {
    g.h * g.w <= g.taps.len()
}

/// im2col blocking: samples per block, and whether Y and G are used in place.
fn blocking(g: &ConvGeom) -> (usize, bool) {
    let hw = g.h * g.w;
    let per = (BLOCK_COLS / hw.max(1)).clamp(1, g.batch.max(1));
    (per, hw % COL_UNIT == 0)
}

/// Fills the tap masks and shifts of `g` into the scratch.
fn prepare_taps<T>(g: &ConvGeom, s: &mut ConvScratch<T>) {
    let (h, w) = (g.h, g.w);
    let hw = h * w;
    s.masks.clear();
    s.masks.resize(g.taps.len() * hw, false);
    s.shifts.clear();
    for (t, mask) in s.masks.chunks_exact_mut(hw.max(1)).enumerate() {
        let (di, dj) = g.offset(t);
        let (i0, i1) = valid_range(di, h);
        let (j0, j1) = valid_range(dj, w);
        if i0 == i1 || j0 == j1 {
            s.shifts.push((0, 0, 0)); // the tap never lands inside the grid: all masked
            continue;
        }
        for i in i0..i1 {
            mask[i * w + j0..i * w + j1].fill(true);
        }
        // Valid pixels p read p + shift ∈ [0, hw): clamp the range so that reads stay in
        // bounds even for the (masked) invalid pixels inside it.
        let shift = di * w as isize + dj;
        let lo = (i0 * w).max((-shift).max(0) as usize);
        let hi = (i1 * w).min((hw as isize - shift).max(0) as usize);
        s.shifts.push((shift, lo, hi.max(lo)));
    }
}

/// The column panel of samples n0..n0+ns: rows (c, t), `jp` columns (padding zeroed).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn im2col<T: Scalar>(
    g: &ConvGeom,
    x: &[T],
    n0: usize,
    ns: usize,
    jp: usize,
    masks: &[bool],
    shifts: &[(isize, usize, usize)],
    cols: &mut [T],
) {
    let (hw, nt) = (g.h * g.w, g.taps.len());
    for c in 0..g.c_in {
        for (t, &(shift, lo, hi)) in shifts.iter().enumerate() {
            let row = &mut cols[(c * nt + t) * jp..][..jp];
            let mask = &masks[t * hw..][..hw];
            for nl in 0..ns {
                let xp = &x[((n0 + nl) * g.c_in + c) * hw..][..hw];
                let dst = &mut row[nl * hw..][..hw];
                dst[..lo].fill(T::zero());
                dst[hi..].fill(T::zero());
                let src = &xp[(lo as isize + shift) as usize..][..hi - lo];
                for ((d, &v), &m) in dst[lo..hi].iter_mut().zip(src).zip(&mask[lo..hi]) {
                    *d = if m { v } else { T::zero() };
                }
            }
            row[ns * hw..].fill(T::zero());
        }
    }
}

/// Adds the rows (c, t) of gb onto the pixels of gx that tap t read (the adjoint of
/// [`im2col`]), taps in increasing order.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn col2im_add<T: Scalar>(
    g: &ConvGeom,
    gb: &[T],
    n0: usize,
    ns: usize,
    jp: usize,
    masks: &[bool],
    shifts: &[(isize, usize, usize)],
    gx: &mut [T],
) {
    let (hw, nt) = (g.h * g.w, g.taps.len());
    for nl in 0..ns {
        for c in 0..g.c_in {
            let gxp = &mut gx[((n0 + nl) * g.c_in + c) * hw..][..hw];
            for (t, &(shift, lo, hi)) in shifts.iter().enumerate() {
                let src = &gb[(c * nt + t) * jp + nl * hw..][lo..hi];
                let mask = &masks[t * hw + lo..t * hw + hi];
                let dst = &mut gxp[(lo as isize + shift) as usize..][..hi - lo];
                // Adding +0 where the tap read outside the grid leaves every value unchanged.
                for ((d, &v), &m) in dst.iter_mut().zip(src).zip(mask) {
                    *d += if m { v } else { T::zero() };
                }
            }
        }
    }
}

/// Channel-major copy of `src` [N, C, hw] for samples n0..n0+ns: dst[c, (n, p)], `jp`
/// columns (padding zeroed).
#[inline(always)]
fn gather_channels<T: Scalar>(
    src: &[T],
    c_n: usize,
    hw: usize,
    n0: usize,
    ns: usize,
    jp: usize,
    dst: &mut [T],
) {
    for c in 0..c_n {
        let row = &mut dst[c * jp..][..jp];
        for nl in 0..ns {
            row[nl * hw..][..hw].copy_from_slice(&src[((n0 + nl) * c_n + c) * hw..][..hw]);
        }
        row[ns * hw..].fill(T::zero());
    }
}

/// Pixel-major copy of `src` [N, C, hw] for samples n0..n0+ns: dst[(n, p), c] with `cp`
/// columns and `jp` rows (padding zeroed).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn gather_pixels<T: Scalar>(
    src: &[T],
    c_n: usize,
    hw: usize,
    n0: usize,
    ns: usize,
    jp: usize,
    cp: usize,
    dst: &mut [T],
) {
    let dst = &mut dst[..jp * cp];
    for nl in 0..ns {
        let block = &mut dst[nl * hw * cp..][..hw * cp];
        for c in 0..c_n {
            let plane = &src[((n0 + nl) * c_n + c) * hw..][..hw];
            for (row, &v) in block.chunks_exact_mut(cp).zip(plane) {
                row[c] = v;
            }
        }
        if cp > c_n {
            for row in block.chunks_exact_mut(cp) {
                row[c_n..].fill(T::zero());
            }
        }
    }
    dst[ns * hw * cp..].fill(T::zero());
}

/// Copies `rows` rows of length `len` from `src` (row stride `ld_src`) to `dst` (row stride
/// `ld_dst`), zeroing dst's padding columns.
#[inline(always)]
fn copy_rows<T: Scalar>(
    rows: usize,
    len: usize,
    src: &[T],
    ld_src: usize,
    dst: &mut [T],
    ld_dst: usize,
) {
    for r in 0..rows {
        let d = &mut dst[r * ld_dst..][..ld_dst];
        d[..len].copy_from_slice(&src[r * ld_src..][..len]);
        d[len..].fill(T::zero());
    }
}

/// The forward job: y = conv(x, w).
struct Forward<'a, T> {
    g: &'a ConvGeom,
    x: &'a [T],
    w: &'a [T],
    y: &'a mut [T],
    s: &'a mut ConvScratch<T>,
}

impl<T: Scalar> Job for Forward<'_, T> {
    type Output = ();
    #[inline(always)]
    fn run(self, level: Level) {
        let Forward { g, x, w, y, s } = self;
        if g.batch * g.h * g.w * g.c_out == 0 {
            return;
        }
        prepare_taps(g, s);
        if use_dense(g) {
            dense_forward(level, g, x, w, y, s);
        } else {
            im2col_forward(level, g, x, w, y, s);
        }
    }
}

#[inline(always)]
fn im2col_forward<T: Scalar>(
    level: Level,
    g: &ConvGeom,
    x: &[T],
    w: &[T],
    y: &mut [T],
    s: &mut ConvScratch<T>,
) {
    let (hw, k) = (g.h * g.w, g.c_in * g.taps.len());
    let (per, direct) = blocking(g);
    let jp_max = pad_cols(per * hw);
    s.cols.resize(k * jp_max, T::zero());
    if !direct {
        s.chan.resize(g.c_out * jp_max, T::zero());
    }
    let mut n0 = 0;
    while n0 < g.batch {
        let ns = per.min(g.batch - n0);
        let jp = pad_cols(ns * hw);
        im2col(g, x, n0, ns, jp, &s.masks, &s.shifts, &mut s.cols);
        let dims = (g.c_out, k, jp);
        if direct {
            let yb = &mut y[n0 * g.c_out * hw..][..ns * g.c_out * hw];
            let planes = Layout::Planes { hw };
            gemm_nn(level, dims, w, (&s.cols, Layout::Rows), (yb, planes), false);
        } else {
            let chan = (&mut s.chan[..], Layout::Rows);
            gemm_nn(level, dims, w, (&s.cols, Layout::Rows), chan, false);
            for o in 0..g.c_out {
                let row = &s.chan[o * jp..][..jp];
                for nl in 0..ns {
                    y[((n0 + nl) * g.c_out + o) * hw..][..hw]
                        .copy_from_slice(&row[nl * hw..][..hw]);
                }
            }
        }
        n0 += ns;
    }
}

/// Fills Mᵀ [(c,q), (o,p)] (row stride `ld`, padding columns zero) from w.
#[inline(always)]
fn dense_mt<T: Scalar>(
    g: &ConvGeom,
    w: &[T],
    masks: &[bool],
    shifts: &[(isize, usize, usize)],
    ld: usize,
    mt: &mut [T],
) {
    let (hw, nt) = (g.h * g.w, g.taps.len());
    mt[..g.c_in * hw * ld].fill(T::zero());
    for o in 0..g.c_out {
        for c in 0..g.c_in {
            for (t, &(shift, lo, hi)) in shifts.iter().enumerate() {
                let wv = w[(o * g.c_in + c) * nt + t];
                for p in lo..hi {
                    if masks[t * hw + p] {
                        let q = (p as isize + shift) as usize;
                        mt[(c * hw + q) * ld + o * hw + p] += wv;
                    }
                }
            }
        }
    }
}

#[inline(always)]
fn dense_forward<T: Scalar>(
    level: Level,
    g: &ConvGeom,
    x: &[T],
    w: &[T],
    y: &mut [T],
    s: &mut ConvScratch<T>,
) {
    let hw = g.h * g.w;
    let (din, dout) = (g.c_in * hw, g.c_out * hw);
    let ldo = pad_cols(dout);
    s.wt.resize(din * ldo, T::zero());
    dense_mt(g, w, &s.masks, &s.shifts, ldo, &mut s.wt);
    let (dims, mt) = ((g.batch, din, ldo), (&s.wt[..], Layout::Rows));
    if ldo == dout {
        gemm_nn(level, dims, x, mt, (y, Layout::Rows), false);
    } else {
        s.chan.resize(g.batch * ldo, T::zero());
        gemm_nn(level, dims, x, mt, (&mut s.chan[..], Layout::Rows), false);
        copy_rows(g.batch, dout, &s.chan, ldo, y, dout);
    }
}

/// The backward job: gx += convᵀ(gy, w) and gw += ∂⟨gy, conv(x, w)⟩/∂w (either optional).
struct Backward<'a, T> {
    g: &'a ConvGeom,
    gy: &'a [T],
    x: &'a [T],
    w: &'a [T],
    gx: Option<&'a mut [T]>,
    gw: Option<&'a mut [T]>,
    s: &'a mut ConvScratch<T>,
}

impl<T: Scalar> Job for Backward<'_, T> {
    type Output = ();
    #[inline(always)]
    fn run(self, level: Level) {
        let Backward {
            g,
            gy,
            x,
            w,
            gx,
            gw,
            s,
        } = self;
        if g.batch * g.h * g.w * g.c_out * g.c_in * g.taps.len() == 0 {
            return;
        }
        prepare_taps(g, s);
        if use_dense(g) {
            dense_backward(level, g, gy, x, w, gx, gw, s);
        } else {
            im2col_backward(level, g, gy, x, w, gx, gw, s);
        }
    }
}

#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn im2col_backward<T: Scalar>(
    level: Level,
    g: &ConvGeom,
    gy: &[T],
    x: &[T],
    w: &[T],
    mut gx: Option<&mut [T]>,
    gw: Option<&mut [T]>,
    s: &mut ConvScratch<T>,
) {
    let (hw, nt) = (g.h * g.w, g.taps.len());
    let k = g.c_in * nt;
    let (per, direct) = blocking(g);
    let jp_max = pad_cols(per * hw);
    let cp = pad_cols(g.c_out);
    s.cols.resize(k * jp_max, T::zero());
    if gx.is_some() {
        // Wᵀ: wt[(c,t), o] = w[o, (c,t)].
        s.wt.resize(k * g.c_out, T::zero());
        for o in 0..g.c_out {
            for (ct, &v) in w[o * k..(o + 1) * k].iter().enumerate() {
                s.wt[ct * g.c_out + o] = v;
            }
        }
        if !direct {
            s.chan.resize(g.c_out * jp_max, T::zero());
        }
    }
    if gw.is_some() {
        s.gt.resize(jp_max * cp, T::zero());
        s.gwt.clear();
        s.gwt.resize(k * cp, T::zero());
    }
    let mut n0 = 0;
    while n0 < g.batch {
        let ns = per.min(g.batch - n0);
        let jp = pad_cols(ns * hw);
        if gw.is_some() {
            gather_pixels(gy, g.c_out, hw, n0, ns, jp, cp, &mut s.gt);
            im2col(g, x, n0, ns, jp, &s.masks, &s.shifts, &mut s.cols);
            let gt = (&s.gt[..], Layout::Rows);
            let gwt = (&mut s.gwt[..], Layout::Rows);
            gemm_nn(level, (k, jp, cp), &s.cols, gt, gwt, true);
        }
        if let Some(gx) = gx.as_deref_mut() {
            let gblock = if direct {
                let b = &gy[n0 * g.c_out * hw..][..ns * g.c_out * hw];
                (b, Layout::Planes { hw })
            } else {
                gather_channels(gy, g.c_out, hw, n0, ns, jp, &mut s.chan);
                (&s.chan[..], Layout::Rows)
            };
            let gb = (&mut s.cols[..], Layout::Rows);
            gemm_nn(level, (k, g.c_out, jp), &s.wt, gblock, gb, false);
            col2im_add(g, &s.cols, n0, ns, jp, &s.masks, &s.shifts, gx);
        }
        n0 += ns;
    }
    if let Some(gw) = gw {
        for (o, gwo) in gw.chunks_exact_mut(k).enumerate() {
            for (ct, v) in gwo.iter_mut().enumerate() {
                *v += s.gwt[ct * cp + o];
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn dense_backward<T: Scalar>(
    level: Level,
    g: &ConvGeom,
    gy: &[T],
    x: &[T],
    w: &[T],
    gx: Option<&mut [T]>,
    gw: Option<&mut [T]>,
    s: &mut ConvScratch<T>,
) {
    let (hw, nt, n) = (g.h * g.w, g.taps.len(), g.batch);
    let (din, dout) = (g.c_in * hw, g.c_out * hw);
    let (ldi, ldo) = (pad_cols(din), pad_cols(dout));
    if let Some(gx) = gx {
        // M [(o,p), (c,q)] = Mᵀ transposed; gX += gY · M.
        s.wt.resize(din * ldo, T::zero());
        dense_mt(g, w, &s.masks, &s.shifts, ldo, &mut s.wt);
        s.gt.resize(dout * ldi, T::zero());
        for r in 0..dout {
            let row = &mut s.gt[r * ldi..][..ldi];
            for (cq, v) in row[..din].iter_mut().enumerate() {
                *v = s.wt[cq * ldo + r];
            }
            row[din..].fill(T::zero());
        }
        let (dims, m) = ((n, dout, ldi), (&s.gt[..], Layout::Rows));
        if ldi == din {
            gemm_nn(level, dims, gy, m, (gx, Layout::Rows), true);
        } else {
            s.gwt.resize(n * ldi, T::zero());
            gemm_nn(level, dims, gy, m, (&mut s.gwt[..], Layout::Rows), false);
            for (gr, sr) in gx.chunks_exact_mut(din).zip(s.gwt.chunks_exact(ldi)) {
                for (a, &b) in gr.iter_mut().zip(sr) {
                    *a += b;
                }
            }
        }
    }
    if let Some(gw) = gw {
        // gMᵀ = Xᵀ · gY, then gw[o,c,t] = Σ_p gMᵀ[(c, p + s_t), (o, p)] over valid p.
        s.cols.resize(din * n, T::zero());
        for (i, xr) in x.chunks_exact(din).enumerate().take(n) {
            for (cq, &v) in xr.iter().enumerate() {
                s.cols[cq * n + i] = v;
            }
        }
        let gyp: &[T] = if ldo == dout {
            gy
        } else {
            s.chan.resize(n * ldo, T::zero());
            copy_rows(n, dout, gy, dout, &mut s.chan, ldo);
            &s.chan
        };
        s.gwt.resize(din * ldo, T::zero());
        let gmt = (&mut s.gwt[..], Layout::Rows);
        gemm_nn(
            level,
            (din, n, ldo),
            &s.cols,
            (gyp, Layout::Rows),
            gmt,
            false,
        );
        for o in 0..g.c_out {
            for c in 0..g.c_in {
                for (t, &(shift, lo, hi)) in s.shifts.iter().enumerate() {
                    let mut acc = T::zero();
                    for p in lo..hi {
                        if s.masks[t * hw + p] {
                            let q = (p as isize + shift) as usize;
                            acc += s.gwt[(c * hw + q) * ldo + o * hw + p];
                        }
                    }
                    gw[(o * g.c_in + c) * nt + t] += acc;
                }
            }
        }
    }
}

/// y = conv(x, w) using `scratch` (see [`super::conv2d_forward`]). Never inlined, so that
/// profiles attribute its time.
#[inline(never)]
pub(crate) fn forward<T: Scalar>(
    g: &ConvGeom,
    x: &[T],
    w: &[T],
    y: &mut [T],
    s: &mut ConvScratch<T>,
) {
    simd::run(Forward { g, x, w, y, s })
}

/// gx += convᵀ(gy, w) and gw += the weight gradient, using `scratch`. Never inlined.
#[inline(never)]
pub(crate) fn backward<T: Scalar>(
    g: &ConvGeom,
    gy: &[T],
    x: &[T],
    w: &[T],
    gx: Option<&mut [T]>,
    gw: Option<&mut [T]>,
    s: &mut ConvScratch<T>,
) {
    simd::run(Backward {
        g,
        gy,
        x,
        w,
        gx,
        gw,
        s,
    })
}
