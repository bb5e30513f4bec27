//! The tape: an arena of nodes in execution order, one `Op` per node, one backward `match`.
//!
//! Storage is built for reuse: every node lives in a slot holding its shape, value, gradient
//! and auxiliary buffers; [`Tape::reset`] only forgets how many slots are live, so the next
//! pass with the same op sequence refills the same buffers (cleared and resized within their
//! capacity) and does not allocate. Gradients are lazy: a node needs one only if some
//! [`Tape::leaf`] lies upstream of it (inputs pushed with [`Tape::constant`] do not count),
//! and gradient buffers are zeroed by [`Tape::backward`] alone, so a forward-only pass
//! (prediction) never touches them. Convolution geometries and cross-entropy labels live in
//! reusable pools on the tape and are referenced from [`Op`] by index.
//!
//! Shape mismatches inside the tape are internal invariants and panic with a clear message;
//! user input is validated (returning [`crate::Error`]) by the layers that build the tape.

use super::kernels::{self, ConvGeom, Scratch};
use crate::Scalar;

/// A handle to a node on the tape.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Var(pub(crate) usize);

impl Var {
    /// Position of the node on its tape (execution order).
    pub fn index(self) -> usize {
        self.0
    }
}

/// The operation that produced a node, with its inputs and small parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Op<T> {
    /// A parameter or input.
    Leaf,
    /// op(a)·op(b) for `batch` stacked matrices, op(a) m×k, op(b) k×n.
    MatMul {
        /// Left factor.
        a: Var,
        /// Right factor.
        b: Var,
        /// Whether a enters transposed.
        trans_a: bool,
        /// Whether b enters transposed.
        trans_b: bool,
        /// Number of stacked products (1 for 2-D).
        batch: usize,
        /// Rows of op(a).
        m: usize,
        /// Inner dimension.
        k: usize,
        /// Columns of op(b).
        n: usize,
    },
    /// a + b, b broadcast over a's leading axes.
    Add {
        /// Left operand.
        a: Var,
        /// Right operand (shape a suffix of a's).
        b: Var,
    },
    /// a − b, b broadcast over a's leading axes.
    Sub {
        /// Left operand.
        a: Var,
        /// Right operand (shape a suffix of a's).
        b: Var,
    },
    /// a ⊙ b, b broadcast over a's leading axes.
    Mul {
        /// Left operand.
        a: Var,
        /// Right operand (shape a suffix of a's).
        b: Var,
    },
    /// c·a.
    Scale {
        /// Operand.
        a: Var,
        /// Constant factor.
        c: T,
    },
    /// Σ over one axis.
    SumAxis {
        /// Operand.
        a: Var,
        /// Removed axis.
        axis: usize,
    },
    /// Mean over one axis.
    MeanAxis {
        /// Operand.
        a: Var,
        /// Removed axis.
        axis: usize,
    },
    /// Σ of all entries.
    SumAll {
        /// Operand.
        a: Var,
    },
    /// Same data, another shape.
    Reshape {
        /// Operand.
        a: Var,
    },
    /// tanh, elementwise.
    Tanh {
        /// Operand.
        a: Var,
    },
    /// max(0, a), elementwise.
    Relu {
        /// Operand.
        a: Var,
    },
    /// Support-restricted convolution.
    Conv2d {
        /// Input [N, C_in, H, W].
        x: Var,
        /// Weights [C_out, C_in, taps].
        w: Var,
        /// Index of the geometry in the tape's geometry pool.
        geom: usize,
    },
    /// k×k average pooling with stride k.
    AvgPool2d {
        /// Input [N, C, H, W].
        x: Var,
        /// Window side.
        k: usize,
    },
    /// Layer norm over the axes from `first_axis` on.
    LayerNorm {
        /// Input.
        x: Var,
        /// First normalised axis.
        first_axis: usize,
    },
    /// Softmax over the last axis.
    Softmax {
        /// Input.
        x: Var,
    },
    /// Log-softmax over the last axis.
    LogSoftmax {
        /// Input.
        x: Var,
    },
    /// Mean cross-entropy against integer labels.
    CrossEntropy {
        /// Logits [N, K].
        logits: Var,
        /// Start of the labels in the tape's label pool.
        labels_start: usize,
        /// Number of labels (N).
        labels_len: usize,
    },
    /// Mean squared error.
    Mse {
        /// Prediction.
        pred: Var,
        /// Target.
        target: Var,
    },
}

impl<T> Op<T> {
    /// The nodes this op reads (at most two), in operand order.
    pub fn inputs(&self) -> [Option<Var>; 2] {
        match *self {
            Op::Leaf => [None, None],
            Op::MatMul { a, b, .. } | Op::Add { a, b } | Op::Sub { a, b } | Op::Mul { a, b } => {
                [Some(a), Some(b)]
            }
            Op::Conv2d { x, w, .. } => [Some(x), Some(w)],
            Op::Mse { pred, target } => [Some(pred), Some(target)],
            Op::Scale { a, .. }
            | Op::SumAxis { a, .. }
            | Op::MeanAxis { a, .. }
            | Op::SumAll { a }
            | Op::Reshape { a }
            | Op::Tanh { a }
            | Op::Relu { a } => [Some(a), None],
            Op::AvgPool2d { x, .. }
            | Op::LayerNorm { x, .. }
            | Op::Softmax { x }
            | Op::LogSoftmax { x } => [Some(x), None],
            Op::CrossEntropy { logits, .. } => [Some(logits), None],
        }
    }
}

/// How [`Tape::push`] prepares a node's value buffer.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Fill {
    /// Zero-filled: the op accumulates into it.
    Zero,
    /// Left as is: the op writes every entry.
    Overwritten,
}

/// One slot of the arena: the buffers are kept across [`Tape::reset`].
struct Node<T> {
    op: Op<T>,
    shape: Vec<usize>,
    value: Vec<T>,
    /// ∂out/∂node after [`Tape::backward`]; empty for nodes that need no gradient.
    grad: Vec<T>,
    /// Whether a leaf lies upstream (so the gradient is wanted).
    needs_grad: bool,
    /// Saved forward quantities (layer-norm 1/σ, cross-entropy probabilities).
    aux: Vec<T>,
}

/// A Wengert list of tensor operations with reverse-mode gradients.
pub struct Tape<T> {
    /// Node slots; the first `live` are the current nodes, the rest are spare buffers.
    nodes: Vec<Node<T>>,
    live: usize,
    /// Convolution geometries; the first `live_geoms` are in use.
    geoms: Vec<ConvGeom>,
    live_geoms: usize,
    /// Cross-entropy labels of the current pass, concatenated.
    labels: Vec<usize>,
    /// Reusable buffer for computing output shapes.
    shape_buf: Vec<usize>,
    /// Reusable buffers of the kernels.
    scratch: Scratch<T>,
    /// Number of nodes whose gradients the last backward since the reset computed.
    swept: usize,
}

impl<T: Scalar> Default for Tape<T> {
    fn default() -> Self {
        Self::new()
    }
}

/// Splits the arena at node `i`: the nodes before it (its possible inputs) and node `i`.
fn split<T>(nodes: &mut [Node<T>], i: usize) -> (&mut [Node<T>], &mut Node<T>) {
    let (before, rest) = nodes.split_at_mut(i);
    (before, &mut rest[0])
}

/// Runs `f` on the gradient buffer of `target` (taken out of the arena for the duration, so
/// `f` may read every value, including target's own) and puts it back; does nothing if
/// `target` needs no gradient.
fn accumulate<T>(before: &mut [Node<T>], target: Var, f: impl FnOnce(&mut [T], &[Node<T>])) {
    if !before[target.0].needs_grad {
        return;
    }
    let mut g = std::mem::take(&mut before[target.0].grad);
    f(&mut g, before);
    before[target.0].grad = g;
}

/// Whether `b` is a suffix of `a` (broadcastable over a's leading axes).
pub fn is_suffix(a: &[usize], b: &[usize]) -> bool {
    b.len() <= a.len() && a[a.len() - b.len()..] == *b
}

impl<T: Scalar> Tape<T> {
    /// An empty tape.
    pub fn new() -> Self {
        Tape {
            nodes: Vec::new(),
            live: 0,
            geoms: Vec::new(),
            live_geoms: 0,
            labels: Vec::new(),
            shape_buf: Vec::new(),
            scratch: Scratch::new(),
            swept: 0,
        }
    }

    /// Forgets every node but keeps the buffers, so the next step does not allocate.
    pub fn reset(&mut self) {
        self.live = 0;
        self.live_geoms = 0;
        self.labels.clear();
        self.swept = 0;
    }

    /// Number of nodes currently on the tape.
    pub fn len(&self) -> usize {
        self.live
    }

    /// Whether the tape holds no node.
    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// The operation that produced a node.
    pub fn op(&self, v: Var) -> Op<T> {
        self.node(v).op
    }

    fn node(&self, v: Var) -> &Node<T> {
        assert!(
            v.0 < self.live,
            "Var {} is not on this tape ({} nodes): stale after reset, or from another tape",
            v.0,
            self.live
        );
        &self.nodes[v.0]
    }

    /// Takes the shape buffer (cleared) to build an output shape in.
    fn shape_buf(&mut self) -> Vec<usize> {
        let mut s = std::mem::take(&mut self.shape_buf);
        s.clear();
        s
    }

    /// Takes the shape buffer holding a copy of `v`'s shape.
    fn shape_of(&mut self, v: Var) -> Vec<usize> {
        let mut s = std::mem::take(&mut self.shape_buf);
        s.clear();
        s.extend_from_slice(self.shape(v));
        s
    }

    /// Claims the next slot for `op` with output `shape` and `aux_len` auxiliary entries;
    /// aux is zero-filled within its existing capacity, the gradient is left to
    /// [`Tape::backward`]. The value is zero-filled only for `Fill::Zero` ops (that
    /// accumulate into it); `Fill::Overwritten` ops must write every entry. The node needs a
    /// gradient if one of its inputs does (a leaf's flag is set by its constructor).
    fn push(&mut self, op: Op<T>, shape: Vec<usize>, aux_len: usize, fill: Fill) -> usize {
        let n: usize = shape.iter().product();
        let needs_grad = op
            .inputs()
            .iter()
            .flatten()
            .any(|v| self.nodes[v.0].needs_grad);
        if self.live == self.nodes.len() {
            self.nodes.push(Node {
                op,
                shape: Vec::new(),
                value: Vec::new(),
                grad: Vec::new(),
                needs_grad,
                aux: Vec::new(),
            });
        }
        let node = &mut self.nodes[self.live];
        node.op = op;
        node.needs_grad = needs_grad;
        node.shape.clear();
        node.shape.extend_from_slice(&shape);
        match fill {
            Fill::Zero => {
                node.value.clear();
                node.value.resize(n, T::zero());
            }
            // Stale entries are overwritten by the op; only a grown tail is written here.
            Fill::Overwritten => node.value.resize(n, T::zero()),
        }
        node.aux.clear();
        node.aux.resize(aux_len, T::zero());
        self.shape_buf = shape;
        self.live += 1;
        self.live - 1
    }

    /// A leaf (parameter or input) with a shape and values; gradients flow to it.
    pub fn leaf(&mut self, shape: &[usize], data: &[T]) -> Var {
        self.source(shape, data, true, "leaf")
    }

    /// A constant input with a shape and values: like [`Tape::leaf`], but no gradient is
    /// computed for it (nor for nodes that depend on constants only), and [`Tape::grad`] of
    /// it panics. Network inputs and regression targets enter this way.
    pub fn constant(&mut self, shape: &[usize], data: &[T]) -> Var {
        self.source(shape, data, false, "constant")
    }

    fn source(&mut self, shape: &[usize], data: &[T], needs_grad: bool, what: &str) -> Var {
        let n: usize = shape.iter().product();
        assert_eq!(
            n,
            data.len(),
            "{what}: shape {shape:?} holds {n} entries but {} were given",
            data.len()
        );
        let mut s = self.shape_buf();
        s.extend_from_slice(shape);
        let id = self.push(Op::Leaf, s, 0, Fill::Overwritten);
        let node = &mut self.nodes[id];
        node.needs_grad = needs_grad;
        node.value.copy_from_slice(data);
        Var(id)
    }

    /// Values of a node.
    pub fn value(&self, v: Var) -> &[T] {
        &self.node(v).value
    }

    /// Shape of a node.
    pub fn shape(&self, v: Var) -> &[usize] {
        &self.node(v).shape
    }

    /// Reverse sweep from a node with one entry (seeded with 1).
    ///
    /// Every gradient is first reset to zero, so [`Tape::grad`] afterwards is the gradient
    /// of `out` alone; contributions to a node used several times are summed.
    pub fn backward(&mut self, out: Var) {
        let len = self.node(out).value.len();
        assert_eq!(
            len, 1,
            "backward: output {out:?} has {len} entries, not one"
        );
        for node in &mut self.nodes[..self.live] {
            node.grad.clear();
            if node.needs_grad {
                node.grad.resize(node.value.len(), T::zero());
            }
        }
        self.swept = self.live;
        if !self.nodes[out.0].needs_grad {
            return; // out depends on constants only: no leaf receives anything
        }
        self.nodes[out.0].grad[0] = T::one();
        let Tape {
            nodes,
            geoms,
            labels,
            scratch,
            ..
        } = self;
        for i in (0..=out.0).rev() {
            let (before, node) = split(nodes, i);
            let (gy, y) = (&node.grad[..], &node.value[..]);
            if y.is_empty() || !node.needs_grad {
                continue; // nothing flows through an empty output or into constants
            }
            match node.op {
                Op::Leaf => {}
                Op::MatMul {
                    a,
                    b,
                    trans_a: ta,
                    trans_b: tb,
                    batch,
                    m,
                    k,
                    n,
                } => {
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
                                kernels::gemm_acc_with(
                                    m,
                                    n,
                                    k,
                                    (gc, false),
                                    (bp, !tb),
                                    gap,
                                    scratch,
                                );
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
                                kernels::gemm_acc_with(
                                    k,
                                    m,
                                    n,
                                    (ap, !ta),
                                    (gc, false),
                                    gbp,
                                    scratch,
                                );
                            }
                        }
                    });
                }
                Op::Add { a, b } | Op::Sub { a, b } => {
                    let sign = if matches!(node.op, Op::Add { .. }) {
                        T::one()
                    } else {
                        -T::one()
                    };
                    accumulate(before, a, |ga, _| add_into(ga, gy));
                    accumulate(before, b, |gb, _| {
                        for gr in gy.chunks_exact(gb.len()) {
                            for (g, &v) in gb.iter_mut().zip(gr) {
                                *g += sign * v;
                            }
                        }
                    });
                }
                Op::Mul { a, b } => {
                    accumulate(before, a, |ga, nd| {
                        let bv = &nd[b.0].value;
                        for (gar, gr) in
                            ga.chunks_exact_mut(bv.len()).zip(gy.chunks_exact(bv.len()))
                        {
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
                Op::Scale { a, c } => accumulate(before, a, |ga, _| {
                    for (g, &v) in ga.iter_mut().zip(gy) {
                        *g += c * v;
                    }
                }),
                Op::SumAxis { a, axis } | Op::MeanAxis { a, axis } => {
                    accumulate(before, a, |ga, nd| {
                        let (_, len, inner) = axis_split(&nd[a.0].shape, axis);
                        if len * inner == 0 {
                            return;
                        }
                        let c = match node.op {
                            Op::MeanAxis { .. } => T::one() / T::of(len as f64),
                            _ => T::one(),
                        };
                        for (gab, gyb) in
                            ga.chunks_exact_mut(len * inner).zip(gy.chunks_exact(inner))
                        {
                            for gar in gab.chunks_exact_mut(inner) {
                                for (g, &v) in gar.iter_mut().zip(gyb) {
                                    *g += c * v;
                                }
                            }
                        }
                    })
                }
                Op::SumAll { a } => accumulate(before, a, |ga, _| {
                    for g in ga.iter_mut() {
                        *g += gy[0];
                    }
                }),
                Op::Reshape { a } => accumulate(before, a, |ga, _| add_into(ga, gy)),
                Op::Tanh { a } => accumulate(before, a, |ga, _| kernels::tanh_backward(gy, y, ga)),
                Op::Relu { a } => accumulate(before, a, |ga, _| {
                    for ((g, &v), &r) in ga.iter_mut().zip(gy).zip(y) {
                        if r > T::zero() {
                            *g += v;
                        }
                    }
                }),
                Op::Conv2d { x, w, geom } => {
                    // x ≠ w (their shapes differ in rank), so both gradients can be taken
                    // out of the arena at once and filled in one pass.
                    // A constant input (the network's x) gets no gradient: its part of
                    // the backward is skipped.
                    let geom = &geoms[geom];
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
                Op::AvgPool2d { x, k } => accumulate(before, x, |gx, nd| {
                    let (planes, h, w) = planes_hw(&nd[x.0].shape);
                    kernels::avg_pool2d_backward(planes, h, w, k, gy, gx);
                }),
                Op::LayerNorm { x, first_axis } => accumulate(before, x, |gx, nd| {
                    let m = nd[x.0].shape[first_axis..].iter().product();
                    kernels::layer_norm_backward(gy, y, &node.aux, m, gx);
                }),
                Op::Softmax { x } => accumulate(before, x, |gx, _| {
                    kernels::softmax_backward(gy, y, last_dim(&node.shape), gx)
                }),
                Op::LogSoftmax { x } => accumulate(before, x, |gx, _| {
                    kernels::log_softmax_backward(gy, y, last_dim(&node.shape), gx)
                }),
                Op::CrossEntropy {
                    logits,
                    labels_start,
                    labels_len,
                } => {
                    let lab = &labels[labels_start..][..labels_len];
                    accumulate(before, logits, |gx, nd| {
                        let k = last_dim(&nd[logits.0].shape);
                        kernels::cross_entropy_backward(gy[0], &node.aux, k, lab, gx);
                    });
                }
                Op::Mse { pred, target } => {
                    // ∂/∂p mean((p − t)²) = 2(p − t)/n, and the negative for t.
                    for (var, sign) in [(pred, T::one()), (target, -T::one())] {
                        accumulate(before, var, |g, nd| {
                            let (p, t) = (&nd[pred.0].value, &nd[target.0].value);
                            let c = sign * T::of(2.0) * gy[0] / T::of(p.len() as f64);
                            for ((gv, &pv), &tv) in g.iter_mut().zip(p).zip(t) {
                                *gv += c * (pv - tv);
                            }
                        });
                    }
                }
            }
        }
    }

    /// Gradient of the last `backward` output with respect to a node (zeros if unreached).
    ///
    /// # Panics
    /// If `v` is a constant or depends on constants only (it has no gradient), or if no
    /// [`Tape::backward`] ran since `v` was pushed.
    pub fn grad(&self, v: Var) -> &[T] {
        let node = self.node(v);
        assert!(
            node.needs_grad,
            "grad: {v:?} depends on constants only and has no gradient"
        );
        assert!(
            v.0 < self.swept,
            "grad: no backward ran since {v:?} was pushed"
        );
        &node.grad
    }

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
        node.value.copy_from_slice(&before[a.0].value);
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

/// "ᵀ" when transposed, for messages.
fn t(trans: bool) -> &'static str {
    if trans {
        "ᵀ"
    } else {
        ""
    }
}

/// out += x, entrywise.
fn add_into<T: Scalar>(out: &mut [T], x: &[T]) {
    for (o, &v) in out.iter_mut().zip(x) {
        *o += v;
    }
}

/// (outer, len, inner) sizes around `axis`: the product of the axes before, the axis, after.
fn axis_split(shape: &[usize], axis: usize) -> (usize, usize, usize) {
    let outer = shape[..axis].iter().product();
    let inner = shape[axis + 1..].iter().product();
    (outer, shape[axis], inner)
}

/// (N·C, H, W) of an [N, C, H, W] shape.
fn planes_hw(shape: &[usize]) -> (usize, usize, usize) {
    (shape[0] * shape[1], shape[2], shape[3])
}

/// Size of the last axis (the softmax axis); panics on a 0-D shape.
fn last_dim(shape: &[usize]) -> usize {
    let k = *shape.last().expect("softmax needs at least one axis");
    assert!(k > 0, "softmax over an empty last axis");
    k
}
