//! The dense formulation (tiny input planes, H·W ≤ T): one matrix M per geometry,
//! forward and backward as products with the [N, C·H·W] tensors themselves.

use super::*;

/// Output indices i ∈ [lo, hi) of a length-`n_out` axis for which σi + d lies in [0, n_in).
pub(super) fn strided_range(d: isize, stride: usize, n_in: usize, n_out: usize) -> (usize, usize) {
    let st = stride as isize;
    // σi + d ≥ 0 ⇔ i ≥ ⌈−d/σ⌉; σi + d < n_in ⇔ i < ⌈(n_in − d)/σ⌉.
    let ceil_div = |a: isize| -(-a).div_euclid(st);
    let lo = ceil_div(-d).clamp(0, n_out as isize);
    let hi = ceil_div(n_in as isize - d).clamp(lo, n_out as isize);
    (lo as usize, hi as usize)
}

/// Lists, per tap t, every output pixel p = (i, j) whose read through t,
/// q = (σi + di, σj + dj), lies in the grid, as flat pairs (p, q) with p increasing, into
/// `pairs` (tap t's at `pair_starts[t]..pair_starts[t + 1]`).
pub(super) fn prepare_pairs(g: &ConvGeom, taps: &mut TapTables) {
    let (ho, wo, st) = (g.out_h(), g.out_w(), g.stride);
    taps.pairs.clear();
    taps.pair_starts.clear();
    taps.pair_starts.push(0);
    for t in 0..g.taps.len() {
        let (di, dj) = g.offset(t);
        let (i0, i1) = strided_range(di, st, g.h, ho);
        let (j0, j1) = strided_range(dj, st, g.w, wo);
        for i in i0..i1 {
            let row = ((st * i) as isize + di) * g.w as isize;
            for j in j0..j1 {
                taps.pairs
                    .push((i * wo + j, (row + (st * j) as isize + dj) as usize));
            }
        }
        taps.pair_starts.push(taps.pairs.len());
    }
}

/// Fills Mᵀ [(c,q), (o,p)] (row stride `ld`, padding columns zero) from w.
#[inline(always)]
pub(super) fn dense_mt<T: Scalar>(g: &ConvGeom, w: &[T], s: &mut Scratch<T>, ld: usize) {
    let (hwi, hwo, nt) = (g.h * g.w, g.out_h() * g.out_w(), g.taps.len());
    s.panels.wt.clear();
    s.panels.wt.resize(g.c_in * hwi * ld, T::zero());
    for o in 0..g.c_out {
        for c in 0..g.c_in {
            for t in 0..nt {
                let wv = w[(o * g.c_in + c) * nt + t];
                for &(p, q) in &s.taps.pairs[s.taps.pair_starts[t]..s.taps.pair_starts[t + 1]] {
                    s.panels.wt[(c * hwi + q) * ld + o * hwo + p] += wv;
                }
            }
        }
    }
}

#[inline(always)]
pub(super) fn dense_forward<T: Scalar>(
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
        (&s.panels.wt[..], View::rows(ldo)),
    );
    if ldo == dout {
        gemm(level, dims, xs, mt, (y, View::rows(ldo)), false);
    } else {
        s.panels.chan.resize(g.batch * ldo, T::zero());
        gemm(
            level,
            dims,
            xs,
            mt,
            (&mut s.panels.chan[..], View::rows(ldo)),
            false,
        );
        copy_rows(g.batch, dout, (&s.panels.chan, ldo), y, dout);
    }
}

#[inline(always)]
pub(super) fn dense_backward<T: Scalar>(
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
        s.panels.gt.resize(dout * ldi, T::zero());
        for r in 0..dout {
            let row = &mut s.panels.gt[r * ldi..][..ldi];
            for (cq, v) in row[..din].iter_mut().enumerate() {
                *v = s.panels.wt[cq * ldo + r];
            }
            row[din..].fill(T::zero());
        }
        let (dims, gys, m) = (
            (n, dout, ldi),
            (gy, View::rows(dout)),
            (&s.panels.gt[..], View::rows(ldi)),
        );
        if ldi == din {
            gemm(level, dims, gys, m, (gx, View::rows(ldi)), true);
        } else {
            s.panels.gwt.resize(n * ldi, T::zero());
            gemm(
                level,
                dims,
                gys,
                m,
                (&mut s.panels.gwt[..], View::rows(ldi)),
                false,
            );
            for (gr, sr) in gx.chunks_exact_mut(din).zip(s.panels.gwt.chunks_exact(ldi)) {
                for (a, &b) in gr.iter_mut().zip(sr) {
                    *a += b;
                }
            }
        }
    }
    if let Some(gw) = gw {
        // gMᵀ = Xᵀ · gY, then gw[o,c,t] = Σ_p gMᵀ[(c, q_t(p)), (o, p)] over valid p.
        s.panels.cols.resize(din * n, T::zero());
        for (i, xr) in x.chunks_exact(din).enumerate().take(n) {
            for (cq, &v) in xr.iter().enumerate() {
                s.panels.cols[cq * n + i] = v;
            }
        }
        let gyp: &[T] = if ldo == dout {
            gy
        } else {
            s.panels.chan.resize(n * ldo, T::zero());
            copy_rows(n, dout, (gy, dout), &mut s.panels.chan, ldo);
            &s.panels.chan
        };
        s.panels.gwt.resize(din * ldo, T::zero());
        let (xt, gys) = ((&s.panels.cols[..], View::rows(n)), (gyp, View::rows(ldo)));
        gemm(
            level,
            (din, n, ldo),
            xt,
            gys,
            (&mut s.panels.gwt[..], View::rows(ldo)),
            false,
        );
        for o in 0..g.c_out {
            for c in 0..g.c_in {
                for t in 0..nt {
                    let mut acc = T::zero();
                    for &(p, q) in &s.taps.pairs[s.taps.pair_starts[t]..s.taps.pair_starts[t + 1]] {
                        acc += s.panels.gwt[(c * hwi + q) * ldo + o * hwo + p];
                    }
                    gw[(o * g.c_in + c) * nt + t] += acc;
                }
            }
        }
    }
}
