//! The support-restricted convolution as register-tiled matrix products ([`super::gemm`]).
//!
//! Four formulations, chosen by the geometry (H·W pixels per plane, T taps, stride σ):
//!
//! - **batch lanes** (σ = 1, H·W ≤ 16: the small planes of the digits network). Tap by tap
//!   with the samples in the vector lanes, skipping the reads outside the grid
//!   ([`super::direct`]).
//! - **tap planes** (H·W a multiple of [`COL_UNIT`]). Samples are processed in blocks of
//!   about [`BLOCK_COLS`] pixels. For each tap t and sample n, the panel holds the whole
//!   [C_in, H·W] block of x[n] shifted by the tap's flat offset di·W + dj, with the pixels
//!   whose source falls outside their plane zeroed: one vectorised pass per (t, n). As a
//!   matrix B [(t, c), (n, p)] this is the im2col panel ([`View::tap_planes`]). Forward:
//!   Y = W · B, written straight into y ([`View::planes`]). Weight gradient: gWᵀ += B · Gᵀ
//!   (Gᵀ the output gradient gathered pixel-major). Input gradient: gB = Wᵀ · G with G
//!   read straight from gy, then each (t, n) block of gB is shifted back and added onto
//!   x[n]'s gradient.
//! - **gathered im2col** (other grids). The same with one panel row per (c, t), gathered
//!   plane by plane into blocks of about [`BLOCK_COLS`] columns (padded to [`COL_UNIT`]),
//!   and the products' outputs scattered back.
//!   A strided geometry (σ > 1, a convolution fused with the average pooling after it)
//!   takes this formulation unless its output plane is tiny: its input is first split into
//!   σ² phase planes ([`to_phases`]), on which every tap is a stride-1 shift.
//! - **dense** (other tiny input planes, H·W ≤ T). The convolution of one sample is the
//!   matrix M [(C_out·⌊H/σ⌋·⌊W/σ⌋), (C_in·H·W)] with M[(o,p), (c,q)] = w[o,c,t] when q is
//!   what output pixel p reads through tap t ([`prepare_pairs`]). Then Y = X · Mᵀ,
//!   gX += gY · M and gMᵀ = Xᵀ · gY with X, Y the [N, C·H·W] tensors themselves; gw[o,c,t]
//!   sums gMᵀ over the pixel pairs of tap t. For H·W ≤ T this is no more work than im2col
//!   and needs no gathering.
//!
//! The summation order of every entry is fixed by the geometry alone (see
//! [`super::gemm`]); as with any matrix formulation, a non-finite input or weight may turn
//! into NaN outputs that the exact per-tap formula would not touch (0·∞).

use super::direct;
use super::gemm::{gemm, gemm_nt_lanes, nt_lanes, pad_cols, View, COL_UNIT};
use super::simd::{self, Job, Level};
use super::{valid_range, ConvGeom, Scratch};
use crate::Scalar;

/// Target number of output pixels (columns) per block.
const BLOCK_COLS: usize = 256;

/// Which formulation a geometry uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Plan {
    /// Tap planes, `per` samples per block.
    TapPlanes { per: usize },
    /// Gathered im2col, `per` samples per block.
    Gathered { per: usize },
    /// Dense per-sample matrix.
    Dense,
    /// Tap by tap in the batch-lane layout ([`super::direct`]).
    BatchLanes,
}

fn plan(g: &ConvGeom) -> Plan {
    let hw = g.out_h() * g.out_w();
    let per = (BLOCK_COLS / hw.max(1)).clamp(1, g.batch.max(1));
    if direct::applies(g) {
        Plan::BatchLanes
    } else if g.h * g.w <= g.taps.len() {
        Plan::Dense
    } else if g.stride > 1 {
        Plan::Gathered { per }
    } else if hw.is_multiple_of(COL_UNIT) {
        Plan::TapPlanes { per }
    } else {
        Plan::Gathered { per }
    }
}

/// Fills the scratch's geometry tables that `plan`'s kernels read (the batch-lane kernels
/// build their own).
fn prepare<T>(g: &ConvGeom, plan: Plan, s: &mut Scratch<T>) {
    match plan {
        Plan::BatchLanes => {}
        Plan::Dense => prepare_pairs(g, s),
        Plan::Gathered { per } if g.stride > 1 => prepare_strided(g, per, s),
        Plan::Gathered { .. } => prepare_taps(g, s, false),
        Plan::TapPlanes { .. } => prepare_taps(g, s, true),
    }
}

/// See [`ConvGeom::scratch_per_sample`].
pub(crate) fn scratch_per_sample(g: &ConvGeom) -> usize {
    let (hw, out_hw) = (g.h * g.w, g.out_h() * g.out_w());
    match plan(g) {
        Plan::BatchLanes => (2 * g.c_in + g.c_out) * hw,
        _ => g.taps.len() * g.c_in * out_hw + g.c_in * hw,
    }
}

/// Fills the tap masks and shifts of `g` into the scratch (and the repeated masks of the
/// tap-planes layout when `tiled`).
fn prepare_taps<T>(g: &ConvGeom, s: &mut Scratch<T>, tiled: bool) {
    let (h, w) = (g.h, g.w);
    let hw = h * w;
    s.masks.clear();
    s.masks.resize(g.taps.len() * hw, false);
    s.shifts.clear();
    for (t, mask) in s.masks.chunks_exact_mut(hw.max(1)).enumerate() {
        s.shifts.push(tap_mask(g.offset(t), (h, w), mask));
    }
    if tiled {
        s.tmasks.clear();
        for mask in s.masks.chunks_exact(hw.max(1)) {
            for _ in 0..g.c_in {
                s.tmasks.extend_from_slice(mask);
            }
        }
    }
}

/// Marks in `mask` (an h×w plane, all false) the pixels p whose tap read p + (di, dj)
/// lies in the plane; returns the flat shift di·w + dj and the range [lo, hi) of p that may
/// be valid, clamped so that reads p + shift stay in bounds even for the masked pixels in it.
fn tap_mask(
    (di, dj): (isize, isize),
    (h, w): (usize, usize),
    mask: &mut [bool],
) -> (isize, usize, usize) {
    let (i0, i1) = valid_range(di, h);
    let (j0, j1) = valid_range(dj, w);
    if i0 == i1 || j0 == j1 {
        return (0, 0, 0); // the tap never lands inside the grid: all masked
    }
    for i in i0..i1 {
        mask[i * w + j0..i * w + j1].fill(true);
    }
    let shift = di * w as isize + dj;
    let lo = (i0 * w).max((-shift).max(0) as usize);
    let hi = (i1 * w).min(((h * w) as isize - shift).max(0) as usize);
    (shift, lo, hi.max(lo))
}

/// Strided geometry (σ divides H and W): pixel (σi' + a, σj' + b) of a plane is pixel
/// (i', j') of phase plane (a, b), so tap offset (di, dj) reads phase (di mod σ, dj mod σ)
/// at offset (⌊di/σ⌋, ⌊dj/σ⌋), a stride-1 read on the (H/σ)×(W/σ) phase planes. Fills each
/// tap's phase, shift on those planes, and its mask repeated over `per` samples (`tmasks`).
fn prepare_strided<T>(g: &ConvGeom, per: usize, s: &mut Scratch<T>) {
    let (st, ho, wo) = (g.stride as isize, g.out_h(), g.out_w());
    let hw = ho * wo;
    s.masks.clear();
    s.masks.resize(g.taps.len() * hw, false);
    s.shifts.clear();
    s.phases.clear();
    for (t, mask) in s.masks.chunks_exact_mut(hw.max(1)).enumerate() {
        let (di, dj) = g.offset(t);
        let (a, b) = (di.rem_euclid(st), dj.rem_euclid(st));
        s.phases.push((a * st + b) as usize);
        s.shifts.push(tap_mask(
            (di.div_euclid(st), dj.div_euclid(st)),
            (ho, wo),
            mask,
        ));
    }
    s.tmasks.clear();
    for mask in s.masks.chunks_exact(hw.max(1)) {
        for _ in 0..per {
            s.tmasks.extend_from_slice(mask);
        }
    }
}

/// Splits samples n0..n0+ns of `x` [N, C, H, W] into phase planes, channel- and
/// phase-major so that one tap reads one contiguous block per channel:
/// poly[c, a·σ + b, n, i'·(W/σ) + j'] = x[n0 + n, c, σi' + a, σj' + b].
fn to_phases<T: Scalar>(g: &ConvGeom, x: &[T], samples: (usize, usize), poly: &mut [T]) {
    // σ = 2 (the pooling of the paper's networks) as a constant: shifts instead of
    // divisions and inner loops of known stride.
    match g.stride {
        2 => phases_of::<T, 2>(g, x, samples, poly),
        _ => phases_of::<T, 0>(g, x, samples, poly),
    }
}

/// [`to_phases`] with the stride σ = `ST` known at compile time (`ST` = 0: read from `g`).
#[inline(always)]
fn phases_of<T: Scalar, const ST: usize>(
    g: &ConvGeom,
    x: &[T],
    (n0, ns): (usize, usize),
    poly: &mut [T],
) {
    let (st, wo) = (if ST == 0 { g.stride } else { ST }, g.out_w());
    let hwo = g.out_h() * wo;
    for nl in 0..ns {
        for c in 0..g.c_in {
            let xp = &x[((n0 + nl) * g.c_in + c) * g.h * g.w..][..g.h * g.w];
            for (r, row) in xp.chunks_exact(g.w).enumerate() {
                let (i, a) = (r / st, r % st);
                let row = &row[..wo * st];
                for b in 0..st {
                    let dst =
                        &mut poly[((c * st * st + a * st + b) * ns + nl) * hwo + i * wo..][..wo];
                    for (j, d) in dst.iter_mut().enumerate() {
                        *d = row[j * st + b];
                    }
                }
            }
        }
    }
}

/// Adds phase planes (laid out as by [`to_phases`]) back onto `gx` [N, C, H, W].
fn add_phases<T: Scalar>(g: &ConvGeom, poly: &[T], (n0, ns): (usize, usize), gx: &mut [T]) {
    let (st, wo) = (g.stride, g.out_w());
    let hwo = g.out_h() * wo;
    for nl in 0..ns {
        for c in 0..g.c_in {
            let gp = &mut gx[((n0 + nl) * g.c_in + c) * g.h * g.w..][..g.h * g.w];
            for (r, row) in gp.chunks_exact_mut(g.w).enumerate() {
                let (i, a) = (r / st, r % st);
                let row = &mut row[..wo * st];
                for b in 0..st {
                    let src = &poly[((c * st * st + a * st + b) * ns + nl) * hwo + i * wo..][..wo];
                    for (j, &v) in src.iter().enumerate() {
                        row[j * st + b] += v;
                    }
                }
            }
        }
    }
}

/// Reads of a tap-planes block: (shift, lo, hi) over a sample's [C_in, hw] block of
/// length `len` such that q + shift stays in the block for q ∈ [lo, hi); every pixel
/// outside [lo, hi) is masked.
#[inline(always)]
fn block_range(shift: isize, len: usize) -> (usize, usize) {
    let lo = ((-shift).max(0) as usize).min(len);
    let hi = ((len as isize - shift).max(0) as usize).min(len).max(lo);
    (lo, hi)
}

/// A tap's masked shifted read of one block: dst[p] = src[p + shift] where mask[p], else 0.
/// [lo, hi) is the range of p for which p + shift stays in the block (every p outside it is
/// masked); dst, src and mask have the block's length.
#[inline(always)]
fn shifted_read<T: Scalar>(
    dst: &mut [T],
    src: &[T],
    (shift, lo, hi): (isize, usize, usize),
    mask: &[bool],
) {
    dst[..lo].fill(T::zero());
    dst[hi..].fill(T::zero());
    let src = &src[(lo as isize + shift) as usize..][..hi - lo];
    for ((d, &v), &m) in dst[lo..hi].iter_mut().zip(src).zip(&mask[lo..hi]) {
        *d = if m { v } else { T::zero() };
    }
}

/// The adjoint of [`shifted_read`]: dst[p + shift] += src[p] where mask[p] (adding +0 where
/// the tap read outside the grid leaves every value unchanged).
#[inline(always)]
fn shifted_add<T: Scalar>(
    dst: &mut [T],
    src: &[T],
    (shift, lo, hi): (isize, usize, usize),
    mask: &[bool],
) {
    let dst = &mut dst[(lo as isize + shift) as usize..][..hi - lo];
    for ((d, &v), &m) in dst.iter_mut().zip(&src[lo..hi]).zip(&mask[lo..hi]) {
        *d += if m { v } else { T::zero() };
    }
}

/// The tap-planes panel [T, ns, C_in, hw] of samples n0..n0+ns.
#[inline(always)]
fn tap_planes<T: Scalar>(g: &ConvGeom, x: &[T], n0: usize, ns: usize, s: &mut Scratch<T>) {
    let len = g.c_in * g.h * g.w;
    for (t, &(shift, _, _)) in s.shifts.iter().enumerate() {
        let mask = &s.tmasks[t * len..][..len];
        let (lo, hi) = block_range(shift, len);
        for nl in 0..ns {
            let src = &x[(n0 + nl) * len..][..len];
            let dst = &mut s.cols[(t * ns + nl) * len..][..len];
            shifted_read(dst, src, (shift, lo, hi), mask);
        }
    }
}

/// Adds each (t, n) block of the tap-planes gradient panel, shifted back, onto gx[n]
/// (the adjoint of [`tap_planes`]); taps in increasing order.
#[inline(always)]
fn tap_planes_add<T: Scalar>(g: &ConvGeom, n0: usize, ns: usize, s: &Scratch<T>, gx: &mut [T]) {
    let len = g.c_in * g.h * g.w;
    for nl in 0..ns {
        let gxn = &mut gx[(n0 + nl) * len..][..len];
        for (t, &(shift, _, _)) in s.shifts.iter().enumerate() {
            let mask = &s.tmasks[t * len..][..len];
            let (lo, hi) = block_range(shift, len);
            let src = &s.cols[(t * ns + nl) * len..][..len];
            shifted_add(gxn, src, (shift, lo, hi), mask);
        }
    }
}

/// The gathered panel of samples n0..n0+ns: rows (c, t), `jp` columns (padding zeroed).
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
        for (t, &range) in shifts.iter().enumerate() {
            let row = &mut cols[(c * nt + t) * jp..][..jp];
            let mask = &masks[t * hw..][..hw];
            for nl in 0..ns {
                let xp = &x[((n0 + nl) * g.c_in + c) * hw..][..hw];
                shifted_read(&mut row[nl * hw..][..hw], xp, range, mask);
            }
            row[ns * hw..].fill(T::zero());
        }
    }
}

/// Adds the rows (c, t) of the gathered gradient panel onto the pixels of gx that tap t
/// read (the adjoint of [`im2col`]), taps in increasing order.
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
            for (t, &range) in shifts.iter().enumerate() {
                let src = &gb[(c * nt + t) * jp + nl * hw..][..hw];
                shifted_add(gxp, src, range, &masks[t * hw..][..hw]);
            }
        }
    }
}

/// The gathered panel of a strided geometry for samples n0..n0+ns: row (c, t), column
/// (n, i, j) holds x[n, c, σi + di, σj + dj] (0 outside the grid), one masked shifted copy
/// of the tap's phase planes of all ns samples; `jp` columns, padding zeroed.
#[inline(always)]
fn im2col_strided<T: Scalar>(
    g: &ConvGeom,
    x: &[T],
    (n0, ns): (usize, usize),
    jp: usize,
    s: &mut Scratch<T>,
) {
    let (nt, st) = (g.taps.len(), g.stride);
    let len = ns * g.out_h() * g.out_w();
    s.poly.resize(g.c_in * st * st * len, T::zero());
    to_phases(g, x, (n0, ns), &mut s.poly);
    let per_tap = s.tmasks.len() / nt.max(1);
    for c in 0..g.c_in {
        for t in 0..nt {
            let (shift, _, _) = s.shifts[t];
            let (lo, hi) = block_range(shift, len);
            let mask = &s.tmasks[t * per_tap..][..len];
            let src = &s.poly[(c * st * st + s.phases[t]) * len..][..len];
            let row = &mut s.cols[(c * nt + t) * jp..][..jp];
            shifted_read(&mut row[..len], src, (shift, lo, hi), mask);
            row[len..].fill(T::zero());
        }
    }
}

/// Adds the rows (c, t) of a strided gathered gradient panel onto the pixels of gx they
/// read (the adjoint of [`im2col_strided`]): onto phase planes, taps in increasing order,
/// then back onto gx.
#[inline(always)]
fn col2im_strided_add<T: Scalar>(
    g: &ConvGeom,
    (n0, ns): (usize, usize),
    jp: usize,
    s: &mut Scratch<T>,
    gx: &mut [T],
) {
    let (nt, st) = (g.taps.len(), g.stride);
    let len = ns * g.out_h() * g.out_w();
    s.poly.clear();
    s.poly.resize(g.c_in * st * st * len, T::zero());
    let per_tap = s.tmasks.len() / nt.max(1);
    for c in 0..g.c_in {
        for t in 0..nt {
            let (shift, _, _) = s.shifts[t];
            let (lo, hi) = block_range(shift, len);
            let mask = &s.tmasks[t * per_tap..][..len];
            let src = &s.cols[(c * nt + t) * jp..][..len];
            let plane = &mut s.poly[(c * st * st + s.phases[t]) * len..][..len];
            shifted_add(plane, src, (shift, lo, hi), mask);
        }
    }
    add_phases(g, &s.poly, (n0, ns), gx);
}

/// The gathered panel of samples n0..n0+ns into `s.cols` ([`im2col`], or
/// [`im2col_strided`] for σ > 1).
#[inline(always)]
fn gather_panel<T: Scalar>(
    g: &ConvGeom,
    x: &[T],
    (n0, ns): (usize, usize),
    jp: usize,
    s: &mut Scratch<T>,
) {
    if g.stride > 1 {
        im2col_strided(g, x, (n0, ns), jp, s);
    } else {
        im2col(g, x, n0, ns, jp, &s.masks, &s.shifts, &mut s.cols);
    }
}

/// Adds the gradient panel in `s.cols` onto gx ([`col2im_add`], or [`col2im_strided_add`]
/// for σ > 1).
#[inline(always)]
fn scatter_panel_add<T: Scalar>(
    g: &ConvGeom,
    (n0, ns): (usize, usize),
    jp: usize,
    s: &mut Scratch<T>,
    gx: &mut [T],
) {
    if g.stride > 1 {
        col2im_strided_add(g, (n0, ns), jp, s, gx);
    } else {
        col2im_add(g, &s.cols, n0, ns, jp, &s.masks, &s.shifts, gx);
    }
}

/// Channel-major copy of `src` [N, C, hw] for samples n0..n0+ns: dst[c, (n, p)], `jp`
/// columns (padding zeroed).
#[inline(always)]
fn gather_channels<T: Scalar>(
    src: &[T],
    c_n: usize,
    hw: usize,
    (n0, ns): (usize, usize),
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
#[inline(always)]
fn gather_pixels<T: Scalar>(
    src: &[T],
    c_n: usize,
    hw: usize,
    (n0, ns): (usize, usize),
    (jp, cp): (usize, usize),
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
    (src, ld_src): (&[T], usize),
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
    s: &'a mut Scratch<T>,
}

impl<T: Scalar> Job for Forward<'_, T> {
    type Output = ();
    #[inline(always)]
    fn run(self, level: Level) {
        let Forward { g, x, w, y, s } = self;
        if g.batch * g.out_h() * g.out_w() * g.c_out == 0 {
            return;
        }
        let plan = plan(g);
        prepare(g, plan, s);
        match plan {
            Plan::BatchLanes => direct::forward(level, g, x, w, y, s),
            Plan::TapPlanes { per } => tap_planes_forward(level, g, per, x, w, y, s),
            Plan::Gathered { per } => gathered_forward(level, g, per, x, w, y, s),
            Plan::Dense => dense_forward(level, g, x, w, y, s),
        }
    }
}

#[inline(always)]
fn tap_planes_forward<T: Scalar>(
    level: Level,
    g: &ConvGeom,
    per: usize,
    x: &[T],
    w: &[T],
    y: &mut [T],
    s: &mut Scratch<T>,
) {
    let (hw, nt) = (g.h * g.w, g.taps.len());
    let k = g.c_in * nt;
    // Weights in panel-row order: wt[o, (t, c)] = w[o, c, t].
    s.wt.resize(g.c_out * k, T::zero());
    for o in 0..g.c_out {
        for c in 0..g.c_in {
            for t in 0..nt {
                s.wt[o * k + t * g.c_in + c] = w[(o * g.c_in + c) * nt + t];
            }
        }
    }
    s.cols.resize(k * per * hw, T::zero());
    let mut n0 = 0;
    while n0 < g.batch {
        let ns = per.min(g.batch - n0);
        tap_planes(g, x, n0, ns, s);
        let yb = &mut y[n0 * g.c_out * hw..][..ns * g.c_out * hw];
        let panel = (&s.cols[..], View::tap_planes(g.c_in, hw, ns));
        let wts = (&s.wt[..], View::rows(k));
        let out = (yb, View::planes(g.c_out, hw));
        gemm(level, (g.c_out, k, ns * hw), wts, panel, out, false);
        n0 += ns;
    }
}

#[inline(always)]
fn gathered_forward<T: Scalar>(
    level: Level,
    g: &ConvGeom,
    per: usize,
    x: &[T],
    w: &[T],
    y: &mut [T],
    s: &mut Scratch<T>,
) {
    // hw: output pixels per plane (the input's for σ = 1).
    let (hw, k) = (g.out_h() * g.out_w(), g.c_in * g.taps.len());
    let jp_max = pad_cols(per * hw);
    s.cols.resize(k * jp_max, T::zero());
    s.chan.resize(g.c_out * jp_max, T::zero());
    let mut n0 = 0;
    while n0 < g.batch {
        let ns = per.min(g.batch - n0);
        let jp = pad_cols(ns * hw);
        gather_panel(g, x, (n0, ns), jp, s);
        let (panel, wts) = ((&s.cols[..], View::rows(jp)), (w, View::rows(k)));
        if hw % COL_UNIT == 0 {
            // Planes of whole column tiles (so no padding): the product goes straight into
            // y's planes.
            let yb = &mut y[n0 * g.c_out * hw..][..ns * g.c_out * hw];
            gemm(
                level,
                (g.c_out, k, jp),
                wts,
                panel,
                (yb, View::planes(g.c_out, hw)),
                false,
            );
            n0 += ns;
            continue;
        }
        let out = (&mut s.chan[..], View::rows(jp));
        gemm(level, (g.c_out, k, jp), wts, panel, out, false);
        for o in 0..g.c_out {
            let row = &s.chan[o * jp..][..jp];
            for nl in 0..ns {
                y[((n0 + nl) * g.c_out + o) * hw..][..hw].copy_from_slice(&row[nl * hw..][..hw]);
            }
        }
        n0 += ns;
    }
}

/// Output indices i ∈ [lo, hi) of a length-`n_out` axis for which σi + d lies in [0, n_in).
fn strided_range(d: isize, stride: usize, n_in: usize, n_out: usize) -> (usize, usize) {
    let st = stride as isize;
    // σi + d ≥ 0 ⇔ i ≥ ⌈−d/σ⌉; σi + d < n_in ⇔ i < ⌈(n_in − d)/σ⌉.
    let ceil_div = |a: isize| -(-a).div_euclid(st);
    let lo = ceil_div(-d).clamp(0, n_out as isize);
    let hi = ceil_div(n_in as isize - d).clamp(lo, n_out as isize);
    (lo as usize, hi as usize)
}

/// Lists, per tap t, every output pixel p = (i, j) whose read through t,
/// q = (σi + di, σj + dj), lies in the grid, as flat pairs (p, q) with p increasing, into
/// `s.pairs` (tap t's at `s.pair_starts[t]..s.pair_starts[t + 1]`).
fn prepare_pairs<T>(g: &ConvGeom, s: &mut Scratch<T>) {
    let (ho, wo, st) = (g.out_h(), g.out_w(), g.stride);
    s.pairs.clear();
    s.pair_starts.clear();
    s.pair_starts.push(0);
    for t in 0..g.taps.len() {
        let (di, dj) = g.offset(t);
        let (i0, i1) = strided_range(di, st, g.h, ho);
        let (j0, j1) = strided_range(dj, st, g.w, wo);
        for i in i0..i1 {
            let row = ((st * i) as isize + di) * g.w as isize;
            for j in j0..j1 {
                s.pairs
                    .push((i * wo + j, (row + (st * j) as isize + dj) as usize));
            }
        }
        s.pair_starts.push(s.pairs.len());
    }
}

/// Fills Mᵀ [(c,q), (o,p)] (row stride `ld`, padding columns zero) from w.
#[inline(always)]
fn dense_mt<T: Scalar>(g: &ConvGeom, w: &[T], s: &mut Scratch<T>, ld: usize) {
    let (hwi, hwo, nt) = (g.h * g.w, g.out_h() * g.out_w(), g.taps.len());
    s.wt.clear();
    s.wt.resize(g.c_in * hwi * ld, T::zero());
    for o in 0..g.c_out {
        for c in 0..g.c_in {
            for t in 0..nt {
                let wv = w[(o * g.c_in + c) * nt + t];
                for &(p, q) in &s.pairs[s.pair_starts[t]..s.pair_starts[t + 1]] {
                    s.wt[(c * hwi + q) * ld + o * hwo + p] += wv;
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
    s: &mut Scratch<T>,
) {
    let (din, dout) = (g.c_in * g.h * g.w, g.c_out * g.out_h() * g.out_w());
    let ldo = pad_cols(dout);
    dense_mt(g, w, s, ldo);
    let (dims, xs, mt) = (
        (g.batch, din, ldo),
        (x, View::rows(din)),
        (&s.wt[..], View::rows(ldo)),
    );
    if ldo == dout {
        gemm(level, dims, xs, mt, (y, View::rows(ldo)), false);
    } else {
        s.chan.resize(g.batch * ldo, T::zero());
        gemm(
            level,
            dims,
            xs,
            mt,
            (&mut s.chan[..], View::rows(ldo)),
            false,
        );
        copy_rows(g.batch, dout, (&s.chan, ldo), y, dout);
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
    s: &'a mut Scratch<T>,
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
        if g.batch * g.out_h() * g.out_w() * g.c_out * g.c_in * g.taps.len() == 0 {
            return;
        }
        let plan = plan(g);
        prepare(g, plan, s);
        let grads = Grads { gy, x, w, gx, gw };
        match plan {
            Plan::BatchLanes => direct::backward(level, g, grads, s),
            Plan::TapPlanes { per } => tap_planes_backward(level, g, per, grads, s),
            Plan::Gathered { per } => gathered_backward(level, g, per, grads, s),
            Plan::Dense => dense_backward(level, g, grads, s),
        }
    }
}

/// The arguments of a backward pass.
pub(super) struct Grads<'a, T> {
    pub(super) gy: &'a [T],
    pub(super) x: &'a [T],
    pub(super) w: &'a [T],
    pub(super) gx: Option<&'a mut [T]>,
    pub(super) gw: Option<&'a mut [T]>,
}

/// The weights in row order (t, c) × o for the input gradient: wt[(t,c), o] = w[o, c, t]
/// (`tap_major`), or in row order (c, t): wt[(c,t), o] = w[o, (c,t)].
#[inline(always)]
fn weights_by_row<T: Scalar>(g: &ConvGeom, w: &[T], tap_major: bool, wt: &mut Vec<T>) {
    let nt = g.taps.len();
    let k = g.c_in * nt;
    wt.resize(k * g.c_out, T::zero());
    for o in 0..g.c_out {
        for c in 0..g.c_in {
            for t in 0..nt {
                let row = if tap_major {
                    t * g.c_in + c
                } else {
                    c * nt + t
                };
                wt[row * g.c_out + o] = w[(o * g.c_in + c) * nt + t];
            }
        }
    }
}

/// gw[o, c, t] += gwt[(c, t), o] (the gathered panel's row order).
#[inline(always)]
fn add_weight_grad<T: Scalar>(g: &ConvGeom, gwt: &[T], cp: usize, gw: &mut [T]) {
    let k = g.c_in * g.taps.len();
    for o in 0..g.c_out {
        for (ct, v) in gw[o * k..(o + 1) * k].iter_mut().enumerate() {
            *v += gwt[ct * cp + o];
        }
    }
}

#[inline(always)]
fn tap_planes_backward<T: Scalar>(
    level: Level,
    g: &ConvGeom,
    per: usize,
    Grads {
        gy,
        x,
        w,
        mut gx,
        gw,
    }: Grads<'_, T>,
    s: &mut Scratch<T>,
) {
    let (hw, nt) = (g.h * g.w, g.taps.len());
    let k = g.c_in * nt;
    let lanes = nt_lanes::<T>();
    let cp = pad_cols(g.c_out);
    // Weight gradient by dot products along the pixels when the panel is no taller than
    // G (few input channels and taps): no transposition of G, at half the arithmetic
    // throughput of the register-tiled product, which wins otherwise.
    let by_dots = k <= g.c_out;
    s.cols.resize(k * per * hw, T::zero());
    if gx.is_some() {
        weights_by_row(g, w, true, &mut s.wt);
    }
    if gw.is_some() {
        s.gwt.clear();
        if by_dots {
            s.gwt.resize(g.c_out * k * lanes, T::zero());
        } else {
            s.gt.resize(per * hw * cp, T::zero());
            s.gwt.resize(k * cp, T::zero());
        }
    }
    let mut n0 = 0;
    while n0 < g.batch {
        let ns = per.min(g.batch - n0);
        let jp = ns * hw;
        if gw.is_some() {
            tap_planes(g, x, n0, ns, s);
            let panel = (&s.cols[..], View::tap_planes(g.c_in, hw, ns));
            if by_dots {
                // gW[o, (t,c)] += Σ_(n,p) G[o, (n,p)] · B[(t,c), (n,p)], both operands in
                // place, in lanes (reduced after the last block).
                let gyb = (
                    &gy[n0 * g.c_out * hw..][..jp * g.c_out],
                    View::planes(g.c_out, hw),
                );
                gemm_nt_lanes(level, (g.c_out, k, jp), gyb, panel, &mut s.gwt);
            } else {
                // gWᵀ[(t,c), o] += Σ_(n,p) B[(t,c), (n,p)] · Gᵀ[(n,p), o].
                gather_pixels(gy, g.c_out, hw, (n0, ns), (jp, cp), &mut s.gt);
                let (gt, gwt) = (
                    (&s.gt[..], View::rows(cp)),
                    (&mut s.gwt[..], View::rows(cp)),
                );
                gemm(level, (k, jp, cp), panel, gt, gwt, true);
            }
        }
        if let Some(gx) = gx.as_deref_mut() {
            let gyb = (
                &gy[n0 * g.c_out * hw..][..jp * g.c_out],
                View::planes(g.c_out, hw),
            );
            let wts = (&s.wt[..], View::rows(g.c_out));
            let gpanel = (&mut s.cols[..], View::tap_planes(g.c_in, hw, ns));
            gemm(level, (k, g.c_out, jp), wts, gyb, gpanel, false);
            tap_planes_add(g, n0, ns, s, gx);
        }
        n0 += ns;
    }
    let Some(gw) = gw else { return };
    if !by_dots {
        // gwt[(t,c), o] → gw[o, c, t].
        for o in 0..g.c_out {
            for c in 0..g.c_in {
                for t in 0..nt {
                    gw[(o * g.c_in + c) * nt + t] += s.gwt[(t * g.c_in + c) * cp + o];
                }
            }
        }
    } else {
        // gw[o, c, t] += the pairwise sum of the lanes of entry (o, (t,c)).
        for o in 0..g.c_out {
            for c in 0..g.c_in {
                for t in 0..nt {
                    let e = &mut s.gwt[(o * k + t * g.c_in + c) * lanes..][..lanes];
                    let mut h = lanes / 2;
                    while h > 0 {
                        for l in 0..h {
                            let v = e[l + h];
                            e[l] += v;
                        }
                        h /= 2;
                    }
                    gw[(o * g.c_in + c) * nt + t] += e[0];
                }
            }
        }
    }
}

#[inline(always)]
fn gathered_backward<T: Scalar>(
    level: Level,
    g: &ConvGeom,
    per: usize,
    Grads {
        gy,
        x,
        w,
        mut gx,
        gw,
    }: Grads<'_, T>,
    s: &mut Scratch<T>,
) {
    // hw: output pixels per plane (the input's for σ = 1).
    let (hw, nt) = (g.out_h() * g.out_w(), g.taps.len());
    let k = g.c_in * nt;
    let jp_max = pad_cols(per * hw);
    let cp = pad_cols(g.c_out);
    s.cols.resize(k * jp_max, T::zero());
    if gx.is_some() {
        weights_by_row(g, w, false, &mut s.wt);
        s.chan.resize(g.c_out * jp_max, T::zero());
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
            gather_pixels(gy, g.c_out, hw, (n0, ns), (jp, cp), &mut s.gt);
            gather_panel(g, x, (n0, ns), jp, s);
            let (panel, gt) = ((&s.cols[..], View::rows(jp)), (&s.gt[..], View::rows(cp)));
            gemm(
                level,
                (k, jp, cp),
                panel,
                gt,
                (&mut s.gwt[..], View::rows(cp)),
                true,
            );
        }
        if let Some(gx) = gx.as_deref_mut() {
            gather_channels(gy, g.c_out, hw, (n0, ns), jp, &mut s.chan);
            let (wts, gyb) = (
                (&s.wt[..], View::rows(g.c_out)),
                (&s.chan[..], View::rows(jp)),
            );
            gemm(
                level,
                (k, g.c_out, jp),
                wts,
                gyb,
                (&mut s.cols[..], View::rows(jp)),
                false,
            );
            scatter_panel_add(g, (n0, ns), jp, s, gx);
        }
        n0 += ns;
    }
    if let Some(gw) = gw {
        add_weight_grad(g, &s.gwt, cp, gw);
    }
}

#[inline(always)]
fn dense_backward<T: Scalar>(
    level: Level,
    g: &ConvGeom,
    Grads { gy, x, w, gx, gw }: Grads<'_, T>,
    s: &mut Scratch<T>,
) {
    let (hwi, hwo, nt, n) = (g.h * g.w, g.out_h() * g.out_w(), g.taps.len(), g.batch);
    let (din, dout) = (g.c_in * hwi, g.c_out * hwo);
    let (ldi, ldo) = (pad_cols(din), pad_cols(dout));
    if let Some(gx) = gx {
        // M [(o,p), (c,q)] = Mᵀ transposed; gX += gY · M.
        dense_mt(g, w, s, ldo);
        s.gt.resize(dout * ldi, T::zero());
        for r in 0..dout {
            let row = &mut s.gt[r * ldi..][..ldi];
            for (cq, v) in row[..din].iter_mut().enumerate() {
                *v = s.wt[cq * ldo + r];
            }
            row[din..].fill(T::zero());
        }
        let (dims, gys, m) = (
            (n, dout, ldi),
            (gy, View::rows(dout)),
            (&s.gt[..], View::rows(ldi)),
        );
        if ldi == din {
            gemm(level, dims, gys, m, (gx, View::rows(ldi)), true);
        } else {
            s.gwt.resize(n * ldi, T::zero());
            gemm(
                level,
                dims,
                gys,
                m,
                (&mut s.gwt[..], View::rows(ldi)),
                false,
            );
            for (gr, sr) in gx.chunks_exact_mut(din).zip(s.gwt.chunks_exact(ldi)) {
                for (a, &b) in gr.iter_mut().zip(sr) {
                    *a += b;
                }
            }
        }
    }
    if let Some(gw) = gw {
        // gMᵀ = Xᵀ · gY, then gw[o,c,t] = Σ_p gMᵀ[(c, q_t(p)), (o, p)] over valid p.
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
            copy_rows(n, dout, (gy, dout), &mut s.chan, ldo);
            &s.chan
        };
        s.gwt.resize(din * ldo, T::zero());
        let (xt, gys) = ((&s.cols[..], View::rows(n)), (gyp, View::rows(ldo)));
        gemm(
            level,
            (din, n, ldo),
            xt,
            gys,
            (&mut s.gwt[..], View::rows(ldo)),
            false,
        );
        for o in 0..g.c_out {
            for c in 0..g.c_in {
                for t in 0..nt {
                    let mut acc = T::zero();
                    for &(p, q) in &s.pairs[s.pair_starts[t]..s.pair_starts[t + 1]] {
                        acc += s.gwt[(c * hwi + q) * ldo + o * hwo + p];
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
pub(crate) fn forward<T: Scalar>(g: &ConvGeom, x: &[T], w: &[T], y: &mut [T], s: &mut Scratch<T>) {
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
    s: &mut Scratch<T>,
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

/// [`forward`] and [`backward`] at a given instruction-set level (for the level tests).
#[cfg(test)]
pub(crate) mod at_level {
    use super::*;

    pub(crate) fn forward<T: Scalar>(level: Level, g: &ConvGeom, x: &[T], w: &[T], y: &mut [T]) {
        let s = &mut Scratch::new();
        simd::run_at(level, Forward { g, x, w, y, s })
    }

    pub(crate) fn backward<T: Scalar>(
        level: Level,
        g: &ConvGeom,
        (gy, x, w): (&[T], &[T], &[T]),
        gx: &mut [T],
        gw: &mut [T],
    ) {
        let s = &mut Scratch::new();
        let (gx, gw) = (Some(gx), Some(gw));
        simd::run_at(
            level,
            Backward {
                g,
                gy,
                x,
                w,
                gx,
                gw,
                s,
            },
        )
    }
}
