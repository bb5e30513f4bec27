//! The forward ops: each checks its inputs' shapes, pushes one node and computes its value
//! (by the kernels of [`crate::autodiff::kernels`]).

use super::{add_into, axis_split, is_suffix, last_dim, planes_hw, split, t, Fill, Op, Tape, Var};
use crate::autodiff::kernels::{self, ConvGeom};
use crate::Scalar;

impl<T: Scalar> Tape<T> {
    /// Matrix product of 2-D nodes, op(a)·op(b) with optional transposes.
    pub fn matmul(&mut self, a: Var, b: Var, trans_a: bool, trans_b: bool) -> Var {
        assert!(
            self.shape(a).len() == 2 && self.shape(b).len() == 2,
            "matmul: needs 2-D operands, got {:?} and {:?}",
            self.shape(a),
            self.shape(b)
        );
        self.matmul_stack(a, b, trans_a, trans_b)
    }

    /// Batched matrix product of 3-D nodes [B, ·, ·]: op(a_p)·op(b_p) for each p < B.
    pub fn batch_matmul(&mut self, a: Var, b: Var, trans_a: bool, trans_b: bool) -> Var {
        let (sa, sb) = (self.shape(a), self.shape(b));
        assert!(
            sa.len() == 3 && sb.len() == 3 && sa[0] == sb[0],
            "batch_matmul: needs 3-D operands with one batch size, got {sa:?} and {sb:?}"
        );
        self.matmul_stack(a, b, trans_a, trans_b)
    }

    /// Stacked product over the leading axis (absent for 2-D operands).
    fn matmul_stack(&mut self, a: Var, b: Var, ta: bool, tb: bool) -> Var {
        let (sa, sb) = (self.shape(a), self.shape(b));
        let r = sa.len();
        let batch = if r == 3 { sa[0] } else { 1 };
        let (m, k) = if ta {
            (sa[r - 1], sa[r - 2])
        } else {
            (sa[r - 2], sa[r - 1])
        };
        let (k2, n) = if tb {
            (sb[r - 1], sb[r - 2])
        } else {
            (sb[r - 2], sb[r - 1])
        };
        assert_eq!(
            k,
            k2,
            "matmul: inner dimensions differ for {sa:?}{} · {sb:?}{}",
            t(ta),
            t(tb)
        );
        let mut s = self.shape_buf();
        if r == 3 {
            s.push(batch);
        }
        s.extend_from_slice(&[m, n]);
        let op = Op::MatMul {
            a,
            b,
            trans_a: ta,
            trans_b: tb,
            batch,
            m,
            k,
            n,
        };
        let id = self.push(op, s, 0, Fill::Zero);
        let (before, node) = split(&mut self.nodes, id);
        let (av, bv) = (&before[a.0].value, &before[b.0].value);
        for p in 0..batch {
            let c = &mut node.value[p * m * n..][..m * n];
            kernels::gemm_acc_with(
                m,
                k,
                n,
                (&av[p * m * k..][..m * k], ta),
                (&bv[p * k * n..][..k * n], tb),
                c,
                &mut self.scratch,
            );
        }
        Var(id)
    }

    /// Pushes a broadcasting binary op and computes out = f(a, b) entrywise.
    fn broadcast(&mut self, a: Var, b: Var, op: Op<T>, f: impl Fn(T, T) -> T) -> Var {
        assert!(
            is_suffix(self.shape(a), self.shape(b)),
            "{op:?}: shape {:?} is not a suffix of {:?}",
            self.shape(b),
            self.shape(a)
        );
        let s = self.shape_of(a);
        let id = self.push(op, s, 0, Fill::Overwritten);
        let (before, node) = split(&mut self.nodes, id);
        let (av, bv) = (&before[a.0].value, &before[b.0].value);
        if bv.is_empty() {
            return Var(id);
        }
        for (orow, arow) in node
            .value
            .chunks_exact_mut(bv.len())
            .zip(av.chunks_exact(bv.len()))
        {
            for ((o, &x), &z) in orow.iter_mut().zip(arow).zip(bv) {
                *o = f(x, z);
            }
        }
        Var(id)
    }

    /// a + b; b has a's shape or a suffix of it (broadcast over leading axes).
    pub fn add(&mut self, a: Var, b: Var) -> Var {
        self.broadcast(a, b, Op::Add { a, b }, |x, z| x + z)
    }

    /// a − b; broadcasting as in [`Tape::add`].
    pub fn sub(&mut self, a: Var, b: Var) -> Var {
        self.broadcast(a, b, Op::Sub { a, b }, |x, z| x - z)
    }

    /// a ⊙ b; broadcasting as in [`Tape::add`].
    pub fn mul(&mut self, a: Var, b: Var) -> Var {
        self.broadcast(a, b, Op::Mul { a, b }, |x, z| x * z)
    }

    /// Pushes an elementwise unary op with out = f(a).
    fn unary(&mut self, a: Var, op: Op<T>, f: impl Fn(T) -> T) -> Var {
        let s = self.shape_of(a);
        let id = self.push(op, s, 0, Fill::Overwritten);
        let (before, node) = split(&mut self.nodes, id);
        for (o, &x) in node.value.iter_mut().zip(&before[a.0].value) {
            *o = f(x);
        }
        Var(id)
    }

    /// c·a.
    pub fn scale(&mut self, a: Var, c: T) -> Var {
        self.unary(a, Op::Scale { a, c }, |x| c * x)
    }

    /// Sum over one axis (the axis is removed; a 1-D input gives shape `[]`, one entry).
    pub fn sum_axis(&mut self, a: Var, axis: usize) -> Var {
        self.reduce_axis(a, axis, Op::SumAxis { a, axis }, T::one())
    }

    /// Mean over one axis (the axis is removed, as in [`Tape::sum_axis`]).
    pub fn mean_axis(&mut self, a: Var, axis: usize) -> Var {
        let len = self.shape(a).get(axis).copied().unwrap_or(1);
        self.reduce_axis(
            a,
            axis,
            Op::MeanAxis { a, axis },
            T::one() / T::of(len as f64),
        )
    }

    fn reduce_axis(&mut self, a: Var, axis: usize, op: Op<T>, c: T) -> Var {
        let rank = self.shape(a).len();
        assert!(
            axis < rank,
            "{op:?}: axis {axis} out of range for rank {rank}"
        );
        let mut s = self.shape_of(a);
        let (_, len, inner) = axis_split(&s, axis);
        s.remove(axis);
        let id = self.push(op, s, 0, Fill::Zero);
        let (before, node) = split(&mut self.nodes, id);
        let av = &before[a.0].value;
        if len * inner == 0 {
            return Var(id);
        }
        for (ob, ab) in node
            .value
            .chunks_exact_mut(inner)
            .zip(av.chunks_exact(len * inner))
        {
            for ar in ab.chunks_exact(inner) {
                add_into(ob, ar);
            }
            for o in ob.iter_mut() {
                *o *= c;
            }
        }
        Var(id)
    }

    /// Sum of all entries (shape `[1]`).
    pub fn sum_all(&mut self, a: Var) -> Var {
        let mut s = self.shape_buf();
        s.push(1);
        let id = self.push(Op::SumAll { a }, s, 0, Fill::Overwritten);
        let (before, node) = split(&mut self.nodes, id);
        node.value[0] = before[a.0].value.iter().copied().sum();
        Var(id)
    }

    /// The same data under another shape.
    pub fn reshape(&mut self, a: Var, shape: &[usize]) -> Var {
        let n: usize = shape.iter().product();
        let have = self.value(a).len();
        assert_eq!(
            n,
            have,
            "reshape: {:?} has {have} entries, {shape:?} needs {n}",
            self.shape(a)
        );
        let mut s = self.shape_buf();
        s.extend_from_slice(shape);
        let id = self.push(Op::Reshape { a }, s, 0, Fill::Overwritten);
        let (before, node) = split(&mut self.nodes, id);
        kernels::moves::copy(&mut node.value, &before[a.0].value);
        Var(id)
    }

    /// tanh, elementwise.
    pub fn tanh(&mut self, a: Var) -> Var {
        let s = self.shape_of(a);
        let id = self.push(Op::Tanh { a }, s, 0, Fill::Overwritten);
        let (before, node) = split(&mut self.nodes, id);
        kernels::tanh_forward(&before[a.0].value, &mut node.value);
        Var(id)
    }

    /// max(0, a), elementwise; ReLU′(0) = 0 (the gradient passes only where a > 0).
    pub fn relu(&mut self, a: Var) -> Var {
        self.unary(
            a,
            Op::Relu { a },
            |x| if x > T::zero() { x } else { T::zero() },
        )
    }

    /// Support-restricted convolution: x `[N,C_in,H,W]`, w `[C_out,C_in,taps]` → `[N,C_out,H,W]`.
    pub fn conv2d(&mut self, x: Var, w: Var, geom: &ConvGeom) -> Var {
        let g = geom;
        assert!(g.validate().is_ok(), "conv2d: invalid geometry {g:?}");
        assert!(
            self.shape(x) == [g.batch, g.c_in, g.h, g.w]
                && self.shape(w) == [g.c_out, g.c_in, g.taps.len()],
            "conv2d: x {:?} and w {:?} do not fit geometry {g:?}",
            self.shape(x),
            self.shape(w)
        );
        let gi = self.store_geom(g);
        let mut s = self.shape_buf();
        s.extend_from_slice(&[g.batch, g.c_out, g.out_h(), g.out_w()]);
        let id = self.push(Op::Conv2d { x, w, geom: gi }, s, 0, Fill::Overwritten);
        let (before, node) = split(&mut self.nodes, id);
        kernels::conv2d_forward_with(
            &self.geoms[gi],
            &before[x.0].value,
            &before[w.0].value,
            &mut node.value,
            &mut self.scratch,
        );
        Var(id)
    }

    /// Copies a geometry into the pool, reusing a spare slot's tap buffer.
    fn store_geom(&mut self, g: &ConvGeom) -> usize {
        if self.live_geoms == self.geoms.len() {
            self.geoms.push(g.clone());
        } else {
            let slot = &mut self.geoms[self.live_geoms];
            let mut taps = std::mem::take(&mut slot.taps);
            taps.clear();
            taps.extend_from_slice(&g.taps);
            *slot = ConvGeom { taps, ..*g };
        }
        self.live_geoms += 1;
        self.live_geoms - 1
    }

    /// k×k average pooling with stride k: `[N,C,H,W]` → `[N,C,⌊H/k⌋,⌊W/k⌋]` (trailing rows and
    /// columns that do not fill a window are dropped).
    pub fn avg_pool2d(&mut self, x: Var, k: usize) -> Var {
        let sx = self.shape(x);
        assert!(
            sx.len() == 4 && k >= 1,
            "avg_pool2d: needs [N,C,H,W] and k ≥ 1, got {sx:?}, k = {k}"
        );
        let mut s = self.shape_of(x);
        s[2] /= k;
        s[3] /= k;
        let id = self.push(Op::AvgPool2d { x, k }, s, 0, Fill::Overwritten);
        let (before, node) = split(&mut self.nodes, id);
        let (planes, h, w) = planes_hw(&before[x.0].shape);
        kernels::avg_pool2d_forward(planes, h, w, k, &before[x.0].value, &mut node.value);
        Var(id)
    }

    /// Layer norm without affine parameters over all axes from `first_axis` on:
    /// (x − mean)/√(var + eps), biased variance.
    pub fn layer_norm(&mut self, x: Var, first_axis: usize, eps: T) -> Var {
        let sx = self.shape(x);
        assert!(
            first_axis < sx.len(),
            "layer_norm: first axis {first_axis} out of range for {sx:?}"
        );
        let m: usize = sx[first_axis..].iter().product();
        assert!(m > 0, "layer_norm: empty normalised group in {sx:?}");
        let groups = self.value(x).len() / m;
        let s = self.shape_of(x);
        let id = self.push(
            Op::LayerNorm { x, first_axis },
            s,
            groups,
            Fill::Overwritten,
        );
        let (before, node) = split(&mut self.nodes, id);
        kernels::layer_norm_forward(&before[x.0].value, m, eps, &mut node.value, &mut node.aux);
        Var(id)
    }

    /// Softmax over the last axis.
    pub fn softmax(&mut self, x: Var) -> Var {
        let k = last_dim(self.shape(x));
        let s = self.shape_of(x);
        let id = self.push(Op::Softmax { x }, s, 0, Fill::Overwritten);
        let (before, node) = split(&mut self.nodes, id);
        kernels::softmax_forward(&before[x.0].value, k, &mut node.value);
        Var(id)
    }

    /// Log-softmax over the last axis (stable).
    pub fn log_softmax(&mut self, x: Var) -> Var {
        let k = last_dim(self.shape(x));
        let s = self.shape_of(x);
        let id = self.push(Op::LogSoftmax { x }, s, 0, Fill::Overwritten);
        let (before, node) = split(&mut self.nodes, id);
        kernels::log_softmax_forward(&before[x.0].value, k, &mut node.value);
        Var(id)
    }

    /// Mean cross-entropy of logits [N, K] against integer labels (stable).
    pub fn cross_entropy(&mut self, logits: Var, labels: &[usize]) -> Var {
        let sl = self.shape(logits);
        assert!(
            sl.len() == 2 && sl[0] == labels.len() && sl[1] > 0,
            "cross_entropy: logits {sl:?} against {} labels",
            labels.len()
        );
        assert!(
            labels.iter().all(|&l| l < sl[1]),
            "cross_entropy: a label is out of range for {} classes",
            sl[1]
        );
        let (k, aux) = (sl[1], self.value(logits).len());
        let labels_start = self.labels.len();
        self.labels.extend_from_slice(labels);
        let mut s = self.shape_buf();
        s.push(1);
        let op = Op::CrossEntropy {
            logits,
            labels_start,
            labels_len: labels.len(),
        };
        let id = self.push(op, s, aux, Fill::Overwritten);
        let (before, node) = split(&mut self.nodes, id);
        let lab = &self.labels[labels_start..];
        node.value[0] =
            kernels::cross_entropy_forward(&before[logits.0].value, k, lab, &mut node.aux);
        Var(id)
    }

    /// Mean squared error, mean over all entries.
    pub fn mse(&mut self, pred: Var, target: Var) -> Var {
        assert_eq!(
            self.shape(pred),
            self.shape(target),
            "mse: prediction and target shapes differ"
        );
        let mut s = self.shape_buf();
        s.push(1);
        let id = self.push(Op::Mse { pred, target }, s, 0, Fill::Overwritten);
        let (before, node) = split(&mut self.nodes, id);
        let (p, t) = (&before[pred.0].value, &before[target.0].value);
        let sq: T = p.iter().zip(t).map(|(&a, &b)| (a - b) * (a - b)).sum();
        node.value[0] = sq / T::of(p.len() as f64);
        Var(id)
    }

    /// Single-head self-attention softmax(Q Kᵀ/√d) V for q, k [n, d] and v [n, d_v].
    ///
    /// Also accepts a leading batch axis (q, k [B, n, d], v [B, n, d_v], one attention per
    /// batch entry). Built from [`Tape::matmul`] / [`Tape::batch_matmul`], [`Tape::scale`] and
    /// [`Tape::softmax`], so it pushes four nodes and returns the last.
    pub fn attention(&mut self, q: Var, k: Var, v: Var) -> Var {
        let rank = self.shape(q).len();
        assert!(
            rank == 2 || rank == 3,
            "attention: q must be [n,d] or [B,n,d], got {:?}",
            self.shape(q)
        );
        let d = self.shape(q)[rank - 1];
        let scores = if rank == 2 {
            self.matmul(q, k, false, true)
        } else {
            self.batch_matmul(q, k, false, true)
        };
        let scaled = self.scale(scores, T::one() / T::of(d as f64).sqrt());
        let p = self.softmax(scaled);
        if rank == 2 {
            self.matmul(p, v, false, false)
        } else {
            self.batch_matmul(p, v, false, false)
        }
    }
}
