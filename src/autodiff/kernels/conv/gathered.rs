//! The gathered im2col formulation (other grids, and strided geometries): forward and
//! backward.

use super::*;

#[inline(always)]
pub(super) fn gathered_forward<T: Scalar>(
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
    // Both are written (padding included) before they are read: no clearing pass. The
    // scratch is shared by layers of different sizes, and a 28×28 step runs each layer
    // as 11 micro-batches, so such passes added up.
    s.panels.cols.resize_overwritten(k * jp_max, T::zero());
    s.panels
        .chan
        .resize_overwritten(g.c_out * jp_max, T::zero());
    let mut n0 = 0;
    while n0 < g.batch {
        let ns = per.min(g.batch - n0);
        let jp = pad_cols(ns * hw);
        gather_panel(g, x, (n0, ns), jp, s);
        let (panel, wts) = ((&s.panels.cols[..], View::rows(jp)), (w, View::rows(k)));
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
        let out = (&mut s.panels.chan[..], View::rows(jp));
        gemm(level, (g.c_out, k, jp), wts, panel, out, false);
        for o in 0..g.c_out {
            let row = &s.panels.chan[o * jp..][..jp];
            for nl in 0..ns {
                y[((n0 + nl) * g.c_out + o) * hw..][..hw].copy_from_slice(&row[nl * hw..][..hw]);
            }
        }
        n0 += ns;
    }
}

#[inline(always)]
pub(super) fn gathered_backward<T: Scalar>(
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
    // Written before they are read, as in the forward pass; only gwt accumulates.
    s.panels.cols.resize_overwritten(k * jp_max, T::zero());
    if gx.is_some() {
        weights_by_row(level, g, w, false, &mut s.panels.wt);
        s.panels
            .chan
            .resize_overwritten(g.c_out * jp_max, T::zero());
    }
    if gw.is_some() {
        s.panels.gt.resize_overwritten(jp_max * cp, T::zero());
        s.panels.gwt.clear();
        s.panels.gwt.resize(k * cp, T::zero());
    }
    let mut n0 = 0;
    while n0 < g.batch {
        let ns = per.min(g.batch - n0);
        let jp = pad_cols(ns * hw);
        if gw.is_some() {
            gather_pixels(level, gy, g.c_out, hw, (n0, ns), (jp, cp), &mut s.panels.gt);
            gather_panel(g, x, (n0, ns), jp, s);
            let (panel, gt) = (
                (&s.panels.cols[..], View::rows(jp)),
                (&s.panels.gt[..], View::rows(cp)),
            );
            gemm(
                level,
                (k, jp, cp),
                panel,
                gt,
                (&mut s.panels.gwt[..], View::rows(cp)),
                true,
            );
        }
        if let Some(gx) = gx.as_deref_mut() {
            gather_channels(gy, g.c_out, hw, (n0, ns), jp, &mut s.panels.chan);
            let (wts, gyb) = (
                (&s.panels.wt[..], View::rows(g.c_out)),
                (&s.panels.chan[..], View::rows(jp)),
            );
            gemm(
                level,
                (k, g.c_out, jp),
                wts,
                gyb,
                (&mut s.panels.cols[..], View::rows(jp)),
                false,
            );
            scatter_panel_add(g, (n0, ns), jp, s, gx);
        }
        n0 += ns;
    }
    if let Some(gw) = gw {
        add_weight_grad(level, g, cp, &mut s.panels, gw);
    }
}
