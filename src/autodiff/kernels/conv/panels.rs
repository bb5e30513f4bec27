//! Building and scattering the im2col panels: phase planes of strided inputs, shifted tap
//! planes, gathered columns, and the weight layouts the products use.

use super::*;

/// Splits samples n0..n0+ns of `x` [N, C, H, W] into phase planes, channel- and
/// phase-major so that one tap reads one contiguous block per channel:
/// poly[c, a·σ + b, n, i'·(W/σ) + j'] = x[n0 + n, c, σi' + a, σj' + b].
#[inline(always)]
pub(super) fn to_phases<T: Scalar>(
    g: &ConvGeom,
    x: &[T],
    (n0, ns): (usize, usize),
    poly: &mut [T],
) {
    let (st, wo) = (g.stride, g.out_w());
    let hwo = g.out_h() * wo;
    if st == 2 {
        // σ = 2 (the paper's pooling): the rows of the 28×28 network's phase planes are 14
        // and 7 wide, known at compile time there.
        return match wo {
            7 => to_phases2::<T, 7>(g, x, (n0, ns), poly),
            14 => to_phases2::<T, 14>(g, x, (n0, ns), poly),
            _ => to_phases2::<T, 0>(g, x, (n0, ns), poly),
        };
    }
    for nl in 0..ns {
        for c in 0..g.c_in {
            let xp = &x[((n0 + nl) * g.c_in + c) * g.h * g.w..][..g.h * g.w];
            for (r, row) in xp.chunks_exact(g.w).enumerate() {
                let (i, a) = (r / st, r % st);
                let at = |b: usize| ((c * st * st + a * st + b) * ns + nl) * hwo + i * wo;
                for b in 0..st {
                    let dst = &mut poly[at(b)..][..wo];
                    for (j, d) in dst.iter_mut().enumerate() {
                        *d = row[j * st + b];
                    }
                }
            }
        }
    }
}

/// [`to_phases`] for σ = 2: for each sample, channel and row parity a, the rows 2i + a
/// split by pairs into the phase planes (a, 0) and (a, 1), one pass over each row's pairs
/// (which LLVM turns into vector de-interleaving shuffles; two strided passes stayed scalar:
/// 9 % of a 28×28 step). `WO` is the width of a phase-plane row when known at compile time
/// (0: `g.out_w()` at run time): 28×28 f32 step, AVX2, minimum times, 1,900 → 1,785 µs.
/// (The same for [`add_phases`] made no difference.)
#[inline(always)]
fn to_phases2<T: Scalar, const WO: usize>(
    g: &ConvGeom,
    x: &[T],
    (n0, ns): (usize, usize),
    poly: &mut [T],
) {
    let wo = if WO > 0 { WO } else { g.out_w() };
    let hwo = g.out_h() * wo;
    for nl in 0..ns {
        for c in 0..g.c_in {
            let xp = &x[((n0 + nl) * g.c_in + c) * g.h * g.w..][..g.h * g.w];
            for a in 0..2 {
                // Phase planes (a, 0) and (a, 1), ns·hwo apart.
                let p0 = ((c * 4 + a * 2) * ns + nl) * hwo;
                let (lo, hi) = poly.split_at_mut(p0 + ns * hwo);
                let (even, odd) = (&mut lo[p0..][..hwo], &mut hi[..hwo]);
                let rows = xp[a * g.w..].chunks(2 * g.w);
                for ((e, o), row) in even
                    .chunks_exact_mut(wo)
                    .zip(odd.chunks_exact_mut(wo))
                    .zip(rows)
                {
                    let row = &row[..2 * wo];
                    for j in 0..wo {
                        e[j] = row[2 * j];
                        o[j] = row[2 * j + 1];
                    }
                }
            }
        }
    }
}

/// Adds phase planes (laid out as by [`to_phases`]) back onto `gx` [N, C, H, W]: one
/// addition per entry of gx.
#[inline(always)]
pub(super) fn add_phases<T: Scalar>(
    g: &ConvGeom,
    poly: &[T],
    (n0, ns): (usize, usize),
    gx: &mut [T],
) {
    let (st, wo) = (g.stride, g.out_w());
    let hwo = g.out_h() * wo;
    for nl in 0..ns {
        for c in 0..g.c_in {
            let gp = &mut gx[((n0 + nl) * g.c_in + c) * g.h * g.w..][..g.h * g.w];
            for (r, row) in gp.chunks_exact_mut(g.w).enumerate() {
                let (i, a) = (r / st, r % st);
                let row = &mut row[..wo * st];
                let src =
                    |b: usize| &poly[((c * st * st + a * st + b) * ns + nl) * hwo + i * wo..][..wo];
                if st == 2 {
                    // As in `to_phases`: one pass over the pairs.
                    let (even, odd) = (src(0), src(1));
                    for ((pair, &e), &o) in row.chunks_exact_mut(2).zip(even).zip(odd) {
                        pair[0] += e;
                        pair[1] += o;
                    }
                    continue;
                }
                for b in 0..st {
                    for (j, &v) in src(b).iter().enumerate() {
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
pub(super) fn block_range(shift: isize, len: usize) -> (usize, usize) {
    let lo = ((-shift).max(0) as usize).min(len);
    let hi = ((len as isize - shift).max(0) as usize).min(len).max(lo);
    (lo, hi)
}

/// A tap's masked shifted read of one block: dst[p] = src[p + shift] where mask[p], else 0.
/// [lo, hi) is the range of p for which p + shift stays in the block (every p outside it is
/// masked); dst, src and mask have the block's length.
#[inline(always)]
pub(super) fn shifted_read<T: Scalar>(
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
pub(super) fn shifted_add<T: Scalar>(
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
pub(super) fn tap_planes<T: Scalar>(
    g: &ConvGeom,
    x: &[T],
    n0: usize,
    ns: usize,
    s: &mut Scratch<T>,
) {
    let len = g.c_in * g.h * g.w;
    for (t, &(shift, _, _)) in s.taps.shifts.iter().enumerate() {
        let mask = &s.taps.tmasks[t * len..][..len];
        let (lo, hi) = block_range(shift, len);
        for nl in 0..ns {
            let src = &x[(n0 + nl) * len..][..len];
            let dst = &mut s.panels.cols[(t * ns + nl) * len..][..len];
            shifted_read(dst, src, (shift, lo, hi), mask);
        }
    }
}

/// Adds each (t, n) block of the tap-planes gradient panel, shifted back, onto gx[n]
/// (the adjoint of [`tap_planes`]); taps in increasing order.
#[inline(always)]
pub(super) fn tap_planes_add<T: Scalar>(
    g: &ConvGeom,
    n0: usize,
    ns: usize,
    s: &Scratch<T>,
    gx: &mut [T],
) {
    let len = g.c_in * g.h * g.w;
    for nl in 0..ns {
        let gxn = &mut gx[(n0 + nl) * len..][..len];
        for (t, &(shift, _, _)) in s.taps.shifts.iter().enumerate() {
            let mask = &s.taps.tmasks[t * len..][..len];
            let (lo, hi) = block_range(shift, len);
            let src = &s.panels.cols[(t * ns + nl) * len..][..len];
            shifted_add(gxn, src, (shift, lo, hi), mask);
        }
    }
}

/// The gathered panel of samples n0..n0+ns: rows (c, t), `jp` columns (padding zeroed).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub(super) fn im2col<T: Scalar>(
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
pub(super) fn col2im_add<T: Scalar>(
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
pub(super) fn im2col_strided<T: Scalar>(
    g: &ConvGeom,
    x: &[T],
    (n0, ns): (usize, usize),
    jp: usize,
    s: &mut Scratch<T>,
) {
    let (nt, st) = (g.taps.len(), g.stride);
    let len = ns * g.out_h() * g.out_w();
    // σ divides H and W: every entry is written by `to_phases`.
    s.panels
        .poly
        .resize_overwritten(g.c_in * st * st * len, T::zero());
    to_phases(g, x, (n0, ns), &mut s.panels.poly);
    let per_tap = s.taps.tmasks.len() / nt.max(1);
    for c in 0..g.c_in {
        for t in 0..nt {
            let (shift, _, _) = s.taps.shifts[t];
            let (lo, hi) = block_range(shift, len);
            let mask = &s.taps.tmasks[t * per_tap..][..len];
            let src = &s.panels.poly[(c * st * st + s.taps.phases[t]) * len..][..len];
            let row = &mut s.panels.cols[(c * nt + t) * jp..][..jp];
            shifted_read(&mut row[..len], src, (shift, lo, hi), mask);
            row[len..].fill(T::zero());
        }
    }
}

/// Adds the rows (c, t) of a strided gathered gradient panel onto the pixels of gx they
/// read (the adjoint of [`im2col_strided`]): onto phase planes, taps in increasing order,
/// then back onto gx.
#[inline(always)]
pub(super) fn col2im_strided_add<T: Scalar>(
    g: &ConvGeom,
    (n0, ns): (usize, usize),
    jp: usize,
    s: &mut Scratch<T>,
    gx: &mut [T],
) {
    let (nt, st) = (g.taps.len(), g.stride);
    let len = ns * g.out_h() * g.out_w();
    s.panels.poly.clear();
    s.panels.poly.resize(g.c_in * st * st * len, T::zero());
    let per_tap = s.taps.tmasks.len() / nt.max(1);
    for c in 0..g.c_in {
        for t in 0..nt {
            let (shift, _, _) = s.taps.shifts[t];
            let (lo, hi) = block_range(shift, len);
            let mask = &s.taps.tmasks[t * per_tap..][..len];
            let src = &s.panels.cols[(c * nt + t) * jp..][..len];
            let plane = &mut s.panels.poly[(c * st * st + s.taps.phases[t]) * len..][..len];
            shifted_add(plane, src, (shift, lo, hi), mask);
        }
    }
    add_phases(g, &s.panels.poly, (n0, ns), gx);
}

/// The gathered panel of samples n0..n0+ns into `s.panels.cols` ([`im2col`], or
/// [`im2col_strided`] for σ > 1).
#[inline(always)]
pub(super) fn gather_panel<T: Scalar>(
    g: &ConvGeom,
    x: &[T],
    (n0, ns): (usize, usize),
    jp: usize,
    s: &mut Scratch<T>,
) {
    if g.stride > 1 {
        im2col_strided(g, x, (n0, ns), jp, s);
    } else {
        im2col(
            g,
            x,
            n0,
            ns,
            jp,
            &s.taps.masks,
            &s.taps.shifts,
            &mut s.panels.cols,
        );
    }
}

/// Adds the gradient panel in `s.panels.cols` onto gx ([`col2im_add`], or [`col2im_strided_add`]
/// for σ > 1).
#[inline(always)]
pub(super) fn scatter_panel_add<T: Scalar>(
    g: &ConvGeom,
    (n0, ns): (usize, usize),
    jp: usize,
    s: &mut Scratch<T>,
    gx: &mut [T],
) {
    if g.stride > 1 {
        col2im_strided_add(g, (n0, ns), jp, s, gx);
    } else {
        col2im_add(
            g,
            &s.panels.cols,
            n0,
            ns,
            jp,
            &s.taps.masks,
            &s.taps.shifts,
            gx,
        );
    }
}

/// Channel-major copy of `src` [N, C, hw] for samples n0..n0+ns: dst[c, (n, p)], `jp`
/// columns (padding zeroed).
#[inline(always)]
pub(super) fn gather_channels<T: Scalar>(
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
/// columns and `jp` rows (padding zeroed); one transposition per sample.
#[inline(always)]
pub(super) fn gather_pixels<T: Scalar>(
    level: Level,
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
        let planes = &src[(n0 + nl) * c_n * hw..][..c_n * hw];
        transpose(level, (planes, hw), (c_n, hw), (block, cp));
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
pub(super) fn copy_rows<T: Scalar>(
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

/// The weights in row order (t, c) × o for the input gradient: wt[(t,c), o] = w[o, c, t]
/// (`tap_major`), or in row order (c, t): wt[(c,t), o] = w[o, (c,t)], a transposition.
#[inline(always)]
pub(super) fn weights_by_row<T: Scalar>(
    level: Level,
    g: &ConvGeom,
    w: &[T],
    tap_major: bool,
    wt: &mut Aligned<T>,
) {
    let nt = g.taps.len();
    let k = g.c_in * nt;
    wt.resize_overwritten(k * g.c_out, T::zero());
    if !tap_major {
        transpose(level, (w, k), (g.c_out, k), (wt, g.c_out));
        return;
    }
    for o in 0..g.c_out {
        for c in 0..g.c_in {
            for t in 0..nt {
                wt[(t * g.c_in + c) * g.c_out + o] = w[(o * g.c_in + c) * nt + t];
            }
        }
    }
}

/// gw[o, c, t] += gwt[(c, t), o] (the gathered panel's row order, `cp` columns): `gwt`
/// transposed into `wt`, then one addition per entry.
#[inline(always)]
pub(super) fn add_weight_grad<T: Scalar>(
    level: Level,
    g: &ConvGeom,
    cp: usize,
    panels: &mut Panels<T>,
    gw: &mut [T],
) {
    let k = g.c_in * g.taps.len();
    let (gwt, by_o) = (&panels.gwt, &mut panels.wt);
    by_o.resize_overwritten(g.c_out * k, T::zero());
    transpose(level, (gwt, cp), (k, g.c_out), (by_o, k));
    for (v, &d) in gw[..g.c_out * k].iter_mut().zip(by_o.iter()) {
        *v += d;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The phase planes of σ = 2 at the widths with a compile-time path (7, 14) and one
    /// without (3) hold poly[c, 2a + b, n, i·wo + j] = x[n0 + n, c, 2i + a, 2j + b]; the
    /// control: a plane read with its phases swapped differs.
    #[test]
    fn phase_planes_follow_their_definition() {
        for wo in [7, 14, 3] {
            let (ns, c_in, h, w) = (2, 3, 2 * wo, 2 * wo);
            let g = ConvGeom {
                batch: ns + 1,
                c_in,
                c_out: 1,
                h,
                w,
                k: 3,
                taps: ConvGeom::full_taps(3),
                pad_top: 1,
                pad_left: 1,
                stride: 2,
            };
            let x: Vec<f64> = (0..g.batch * c_in * h * w).map(|v| v as f64).collect();
            let mut poly = vec![f64::NAN; c_in * 4 * ns * wo * wo];
            to_phases(&g, &x, (1, ns), &mut poly);
            let at = |c: usize, a: usize, b: usize, n: usize, i: usize, j: usize| {
                (((c * 4 + 2 * a + b) * ns + n) * wo + i) * wo + j
            };
            let mut swapped = 0;
            for (c, a, b, n, i, j) in (0..c_in).flat_map(|c| {
                (0..2).flat_map(move |a| {
                    (0..2).flat_map(move |b| {
                        (0..ns).flat_map(move |n| {
                            (0..wo).flat_map(move |i| (0..wo).map(move |j| (c, a, b, n, i, j)))
                        })
                    })
                })
            }) {
                let want = x[(((1 + n) * c_in + c) * h + 2 * i + a) * w + 2 * j + b];
                assert_eq!(poly[at(c, a, b, n, i, j)], want, "wo {wo}");
                swapped += usize::from(poly[at(c, b, a, n, i, j)] != want);
            }
            assert!(swapped > 0, "control");
        }
    }
}
