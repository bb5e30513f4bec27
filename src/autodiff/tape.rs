//! The tape: an arena of nodes in execution order, one `Op` per node, one backward `match`
//! whose arms are single calls (the forward ops are in `ops`, the longer backward arms in
//! `backward`).
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

mod backward;
mod ops;

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
        kernels::moves::copy(&mut node.value, data);
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
                    trans_a,
                    trans_b,
                    batch,
                    m,
                    k,
                    n,
                } => {
                    let dims = [batch, m, k, n];
                    backward::matmul(before, gy, (a, trans_a), (b, trans_b), dims, scratch)
                }
                Op::Add { a, b } => backward::add(before, gy, a, b, T::one()),
                Op::Sub { a, b } => backward::add(before, gy, a, b, -T::one()),
                Op::Mul { a, b } => backward::mul(before, gy, a, b),
                Op::Scale { a, c } => backward::scale(before, gy, a, c),
                Op::SumAxis { a, axis } => backward::reduce_axis(before, gy, a, axis, false),
                Op::MeanAxis { a, axis } => backward::reduce_axis(before, gy, a, axis, true),
                Op::SumAll { a } => backward::sum_all(before, gy[0], a),
                Op::Reshape { a } => accumulate(before, a, |ga, _| add_into(ga, gy)),
                Op::Tanh { a } => accumulate(before, a, |ga, _| kernels::tanh_backward(gy, y, ga)),
                Op::Relu { a } => backward::relu(before, gy, y, a),
                Op::Conv2d { x, w, geom } => {
                    backward::conv2d(before, gy, (x, w), &geoms[geom], scratch)
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
                Op::Mse { pred, target } => backward::mse(before, gy[0], pred, target),
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
