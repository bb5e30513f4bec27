//! The backward arms of [`Tape::backward`](super::Tape::backward) that are more than one
//! call: each adds ∂out/∂input into the inputs' gradient buffers (`before` holds the nodes
//! before the one being swept; `gy` is that node's gradient).

use super::{accumulate, add_into, axis_split, Node, Var};
use crate::autodiff::kernels::{self, ConvGeom, Scratch};
use crate::Scalar;

/// C = op(A)·op(B) per batch entry (`dims` = [batch, m, k, n]): ∂A and ∂B by the gemm kernel.
pub(super) fn matmul<T: Scalar>(
    before: &mut [Node<T>],
    gy: &[T],
    (a, ta): (Var, bool),
    (b, tb): (Var, bool),
    [batch, m, k, n]: [usize; 4],
    scratch: &mut Scratch<T>,
) {
    let (sa, sb, sc) = (m * k, k * n, m * n);
    accumulate(before, a, |ga, nd| {
        let bv = &nd[b.0].value;
        for p in 0..batch {
            let (gc, bp, gap) = (
                &gy[p * sc..][..sc],
                &bv[p * sb..][..sb],
                &mut ga[p * sa..][..sa],
            );
            if ta {
                // a stored k×m: ∂a = op(b)·gcᵀ.
                kernels::gemm_acc_with(k, n, m, (bp, tb), (gc, true), gap, scratch);
            } else {
                // ∂a = gc·op(b)ᵀ.
                kernels::gemm_acc_with(m, n, k, (gc, false), (bp, !tb), gap, scratch);
            }
        }
    });
    accumulate(before, b, |gb, nd| {
        let av = &nd[a.0].value;
        for p in 0..batch {
            let (gc, ap, gbp) = (
                &gy[p * sc..][..sc],
                &av[p * sa..][..sa],
                &mut gb[p * sb..][..sb],
            );
            if tb {
                // b stored n×k: ∂b = gcᵀ·op(a).
                kernels::gemm_acc_with(n, m, k, (gc, true), (ap, ta), gbp, scratch);
            } else {
                // ∂b = op(a)ᵀ·gc.
                kernels::gemm_acc_with(k, m, n, (ap, !ta), (gc, false), gbp, scratch);
            }
        }
    });
}

/// a + sign·b with b broadcast over a's leading axes: ∂a = gy, ∂b = sign·Σ over the copies.
pub(super) fn add<T: Scalar>(before: &mut [Node<T>], gy: &[T], a: Var, b: Var, sign: T) {
    accumulate(before, a, |ga, _| add_into(ga, gy));
    accumulate(before, b, |gb, _| {
        for gr in gy.chunks_exact(gb.len()) {
            for (g, &v) in gb.iter_mut().zip(gr) {
                *g += sign * v;
            }
        }
    });
}

/// a ⊙ b with b broadcast over a's leading axes.
pub(super) fn mul<T: Scalar>(before: &mut [Node<T>], gy: &[T], a: Var, b: Var) {
    accumulate(before, a, |ga, nd| {
        let bv = &nd[b.0].value;
        for (gar, gr) in ga.chunks_exact_mut(bv.len()).zip(gy.chunks_exact(bv.len())) {
            for ((g, &v), &w) in gar.iter_mut().zip(gr).zip(bv) {
                *g += v * w;
            }
        }
    });
    accumulate(before, b, |gb, nd| {
        let av = &nd[a.0].value;
        for (ar, gr) in av.chunks_exact(gb.len()).zip(gy.chunks_exact(gb.len())) {
            for ((g, &v), &w) in gb.iter_mut().zip(gr).zip(ar) {
                *g += v * w;
            }
        }
    });
}

/// c·a.
pub(super) fn scale<T: Scalar>(before: &mut [Node<T>], gy: &[T], a: Var, c: T) {
    accumulate(before, a, |ga, _| {
        for (g, &v) in ga.iter_mut().zip(gy) {
            *g += c * v;
        }
    })
}

/// The sum (or, with `mean`, the mean) of a over `axis`: gy spread over the axis.
pub(super) fn reduce_axis<T: Scalar>(
    before: &mut [Node<T>],
    gy: &[T],
    a: Var,
    axis: usize,
    mean: bool,
) {
    accumulate(before, a, |ga, nd| {
        let (_, len, inner) = axis_split(&nd[a.0].shape, axis);
        if len * inner == 0 {
            return;
        }
        let c = if mean {
            T::one() / T::of(len as f64)
        } else {
            T::one()
        };
        for (gab, gyb) in ga.chunks_exact_mut(len * inner).zip(gy.chunks_exact(inner)) {
            for gar in gab.chunks_exact_mut(inner) {
                for (g, &v) in gar.iter_mut().zip(gyb) {
                    *g += c * v;
                }
            }
        }
    })
}

/// The sum of all entries of a (gy0 = its gradient).
pub(super) fn sum_all<T: Scalar>(before: &mut [Node<T>], gy0: T, a: Var) {
    accumulate(before, a, |ga, _| {
        for g in ga.iter_mut() {
            *g += gy0;
        }
    })
}

/// max(0, a) with output y: gy passes where y > 0.
pub(super) fn relu<T: Scalar>(before: &mut [Node<T>], gy: &[T], y: &[T], a: Var) {
    accumulate(before, a, |ga, _| {
        for ((g, &v), &r) in ga.iter_mut().zip(gy).zip(y) {
            if r > T::zero() {
                *g += v;
            }
        }
    })
}

/// The convolution of x by w: both gradients in one kernel pass.
pub(super) fn conv2d<T: Scalar>(
    before: &mut [Node<T>],
    gy: &[T],
    (x, w): (Var, Var),
    geom: &ConvGeom,
    scratch: &mut Scratch<T>,
) {
    // x ≠ w (their shapes differ in rank), so both gradients can be taken out of the arena
    // at once and filled in one pass. A constant input (the network's x) gets no gradient:
    // its part of the backward is skipped.
    let mut gx = std::mem::take(&mut before[x.0].grad);
    let mut gw = std::mem::take(&mut before[w.0].grad);
    let wanted = |n: &Node<T>| n.needs_grad;
    let (want_x, want_w) = (wanted(&before[x.0]), wanted(&before[w.0]));
    kernels::conv2d_backward_with(
        geom,
        gy,
        &before[x.0].value,
        &before[w.0].value,
        want_x.then_some(&mut gx[..]),
        want_w.then_some(&mut gw[..]),
        scratch,
    );
    before[x.0].grad = gx;
    before[w.0].grad = gw;
}

/// mean((p − t)²): ∂/∂p = 2(p − t)/n, and the negative for t (gy0 = its gradient).
pub(super) fn mse<T: Scalar>(before: &mut [Node<T>], gy0: T, pred: Var, target: Var) {
    for (var, sign) in [(pred, T::one()), (target, -T::one())] {
        accumulate(before, var, |g, nd| {
            let (p, t) = (&nd[pred.0].value, &nd[target.0].value);
            let c = sign * T::of(2.0) * gy0 / T::of(p.len() as f64);
            for ((gv, &pv), &tv) in g.iter_mut().zip(p).zip(t) {
                *gv += c * (pv - tv);
            }
        });
    }
}
