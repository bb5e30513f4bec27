//! The tap-planes formulation (H·W a multiple of the column unit): forward and backward.

use super::*;

#[inline(always)]
pub(super) fn tap_planes_forward<T: Scalar>(
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
    s.panels.wt.resize(g.c_out * k, T::zero());
    for o in 0..g.c_out {
        for c in 0..g.c_in {
            for t in 0..nt {
                s.panels.wt[o * k + t * g.c_in + c] = w[(o * g.c_in + c) * nt + t];
            }
        }
    }
    s.panels.cols.resize(k * per * hw, T::zero());
    let mut n0 = 0;
    while n0 < g.batch {
        let ns = per.min(g.batch - n0);
        tap_planes(g, x, n0, ns, s);
        let yb = &mut y[n0 * g.c_out * hw..][..ns * g.c_out * hw];
        let panel = (&s.panels.cols[..], View::tap_planes(g.c_in, hw, ns));
        let wts = (&s.panels.wt[..], View::rows(k));
        let out = (yb, View::planes(g.c_out, hw));
        gemm(level, (g.c_out, k, ns * hw), wts, panel, out, false);
        n0 += ns;
    }
}

#[inline(always)]
pub(super) fn tap_planes_backward<T: Scalar>(
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
    s.panels.cols.resize(k * per * hw, T::zero());
    if gx.is_some() {
        weights_by_row(level, g, w, true, &mut s.panels.wt);
    }
    if gw.is_some() {
        s.panels.gwt.clear();
        if by_dots {
            s.panels.gwt.resize(g.c_out * k * lanes, T::zero());
        } else {
            s.panels.gt.resize(per * hw * cp, T::zero());
            s.panels.gwt.resize(k * cp, T::zero());
        }
    }
    let mut n0 = 0;
    while n0 < g.batch {
        let ns = per.min(g.batch - n0);
        let jp = ns * hw;
        if gw.is_some() {
            tap_planes(g, x, n0, ns, s);
            let panel = (&s.panels.cols[..], View::tap_planes(g.c_in, hw, ns));
            if by_dots {
                // gW[o, (t,c)] += Σ_(n,p) G[o, (n,p)] · B[(t,c), (n,p)], both operands in
                // place, in lanes (reduced after the last block).
                let gyb = (
                    &gy[n0 * g.c_out * hw..][..jp * g.c_out],
                    View::planes(g.c_out, hw),
                );
                gemm_nt_lanes(level, (g.c_out, k, jp), gyb, panel, &mut s.panels.gwt);
            } else {
                // gWᵀ[(t,c), o] += Σ_(n,p) B[(t,c), (n,p)] · Gᵀ[(n,p), o].
                gather_pixels(level, gy, g.c_out, hw, (n0, ns), (jp, cp), &mut s.panels.gt);
                let (gt, gwt) = (
                    (&s.panels.gt[..], View::rows(cp)),
                    (&mut s.panels.gwt[..], View::rows(cp)),
                );
                gemm(level, (k, jp, cp), panel, gt, gwt, true);
            }
        }
        if let Some(gx) = gx.as_deref_mut() {
            let gyb = (
                &gy[n0 * g.c_out * hw..][..jp * g.c_out],
                View::planes(g.c_out, hw),
            );
            let wts = (&s.panels.wt[..], View::rows(g.c_out));
            let gpanel = (&mut s.panels.cols[..], View::tap_planes(g.c_in, hw, ns));
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
                    gw[(o * g.c_in + c) * nt + t] += s.panels.gwt[(t * g.c_in + c) * cp + o];
                }
            }
        }
    } else {
        // gw[o, c, t] += the pairwise sum of the lanes of entry (o, (t,c)).
        for o in 0..g.c_out {
            for c in 0..g.c_in {
                for t in 0..nt {
                    let e = &mut s.panels.gwt[(o * k + t * g.c_in + c) * lanes..][..lanes];
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
