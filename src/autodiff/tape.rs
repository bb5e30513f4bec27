//! The tape: an arena of nodes in execution order, one `Op` per node, one backward `match`.

use super::kernels::ConvGeom;
use crate::Scalar;

/// A handle to a node on the tape.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Var(pub(crate) usize);

/// A Wengert list of tensor operations with reverse-mode gradients.
pub struct Tape<T> {
    _marker: std::marker::PhantomData<T>,
}

impl<T: Scalar> Default for Tape<T> {
    fn default() -> Self {
        Self::new()
    }
}

#[allow(unused_variables)]
impl<T: Scalar> Tape<T> {
    /// An empty tape.
    pub fn new() -> Self {
        todo!()
    }
    /// Forgets every node but keeps the buffers, so the next step does not allocate.
    pub fn reset(&mut self) {
        todo!()
    }
    /// A leaf (parameter or input) with a shape and values; gradients flow to it.
    pub fn leaf(&mut self, shape: &[usize], data: &[T]) -> Var {
        todo!()
    }
    /// Values of a node.
    pub fn value(&self, v: Var) -> &[T] {
        todo!()
    }
    /// Shape of a node.
    pub fn shape(&self, v: Var) -> &[usize] {
        todo!()
    }
    /// Reverse sweep from a node with one entry (seeded with 1).
    pub fn backward(&mut self, out: Var) {
        todo!()
    }
    /// Gradient of the last `backward` output with respect to a node (zeros if unreached).
    pub fn grad(&self, v: Var) -> &[T] {
        todo!()
    }
    /// Matrix product of 2-D nodes, op(a)·op(b) with optional transposes.
    pub fn matmul(&mut self, a: Var, b: Var, trans_a: bool, trans_b: bool) -> Var {
        todo!()
    }
    /// a + b; b has a's shape or a suffix of it (broadcast over leading axes).
    pub fn add(&mut self, a: Var, b: Var) -> Var {
        todo!()
    }
    /// a − b; broadcasting as in [`Tape::add`].
    pub fn sub(&mut self, a: Var, b: Var) -> Var {
        todo!()
    }
    /// a ⊙ b; broadcasting as in [`Tape::add`].
    pub fn mul(&mut self, a: Var, b: Var) -> Var {
        todo!()
    }
    /// c·a.
    pub fn scale(&mut self, a: Var, c: T) -> Var {
        todo!()
    }
    /// Sum over one axis (the axis is removed).
    pub fn sum_axis(&mut self, a: Var, axis: usize) -> Var {
        todo!()
    }
    /// Mean over one axis (the axis is removed).
    pub fn mean_axis(&mut self, a: Var, axis: usize) -> Var {
        todo!()
    }
    /// Sum of all entries (shape `[1]`).
    pub fn sum_all(&mut self, a: Var) -> Var {
        todo!()
    }
    /// The same data under another shape.
    pub fn reshape(&mut self, a: Var, shape: &[usize]) -> Var {
        todo!()
    }
    /// tanh, elementwise.
    pub fn tanh(&mut self, a: Var) -> Var {
        todo!()
    }
    /// max(0, a), elementwise; ReLU′(0) = 0.
    pub fn relu(&mut self, a: Var) -> Var {
        todo!()
    }
    /// Support-restricted convolution: x [N,C_in,H,W], w [C_out,C_in,taps] → [N,C_out,H,W].
    pub fn conv2d(&mut self, x: Var, w: Var, geom: &ConvGeom) -> Var {
        todo!()
    }
    /// k×k average pooling with stride k: [N,C,H,W] → [N,C,⌊H/k⌋,⌊W/k⌋] (trailing rows and
    /// columns that do not fill a window are dropped).
    pub fn avg_pool2d(&mut self, x: Var, k: usize) -> Var {
        todo!()
    }
    /// Layer norm without affine parameters over all axes from `first_axis` on:
    /// (x − mean)/√(var + eps), biased variance.
    pub fn layer_norm(&mut self, x: Var, first_axis: usize, eps: T) -> Var {
        todo!()
    }
    /// Softmax over the last axis.
    pub fn softmax(&mut self, x: Var) -> Var {
        todo!()
    }
    /// Log-softmax over the last axis (stable).
    pub fn log_softmax(&mut self, x: Var) -> Var {
        todo!()
    }
    /// Mean cross-entropy of logits [N, K] against integer labels (stable).
    pub fn cross_entropy(&mut self, logits: Var, labels: &[usize]) -> Var {
        todo!()
    }
    /// Mean squared error, mean over all entries.
    pub fn mse(&mut self, pred: Var, target: Var) -> Var {
        todo!()
    }
    /// Single-head self-attention softmax(Q Kᵀ/√d) V for q, k [n, d] and v [n, d_v].
    pub fn attention(&mut self, q: Var, k: Var, v: Var) -> Var {
        todo!()
    }
}
