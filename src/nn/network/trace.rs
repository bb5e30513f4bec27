//! Looking inside a network: every layer's output ([`Network::forward_layers`]) and how a
//! batch is run ([`Network::execution_plan`]: fused convolution + pooling, micro-batches).

use super::{conv_forward, layer_forward, plan_convs, Network};
use crate::autodiff::Tape;
use crate::{Result, Scalar};

/// One layer's output in [`Network::forward_layers`].
#[derive(Clone, Debug, PartialEq)]
pub struct LayerOutput<T> {
    /// Layer index in [`Network::layers`].
    pub layer: usize,
    /// The layer's kind (`conv2d`, `tanh`, …).
    pub kind: &'static str,
    /// Shape `[n, …out_shape]`.
    pub shape: Vec<usize>,
    /// The values, row-major.
    pub values: Vec<T>,
    /// Whether this is a convolution whose p×p average pooling the forward pass fuses into
    /// one strided convolution ([`Network::fused_pool`] > 1). Its `values` are then computed
    /// for inspection at stride 1, off the path to the output; the next entry (the pooling)
    /// holds the fused result, which is what the later layers and [`Network::forward`] use.
    pub fused_into_next: bool,
}

/// How [`Network::loss_and_grad`] and [`Network::forward`] run a batch: the two places where
/// the evaluation order differs from the layer-by-layer definition (same map, different
/// round-off), for callers comparing bits with another implementation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExecutionPlan {
    /// Samples per forward/backward pass of `loss_and_grad` ([`Network::micro_batch`]).
    pub micro_batch: usize,
    /// Number of passes for the batch: 1 unless the batch is split into micro-batches (then
    /// the loss is Σ (m/n)·mean over each micro-batch, gradients summed in order).
    pub passes: usize,
    /// The (layer index, p) of each convolution whose following p×p average pooling runs
    /// fused into it as a stride-p convolution by the pooled filter.
    pub fused: Vec<(usize, usize)>,
}

impl Network {
    /// Φ_A(x) layer by layer: for `n` samples `x` and coefficients θ, one [`LayerOutput`]
    /// per layer, in order. Resets the tape. The last entry's values are bit for bit
    /// [`Network::predict`]'s (the same operations in the same order); a convolution fused
    /// with its pooling is also evaluated unfused, for inspection (see
    /// [`LayerOutput::fused_into_next`]). Errors as [`Network::forward`].
    ///
    /// ```
    /// use eqens::autodiff::Tape;
    /// use eqens::nn::{Network, PaperBasis, Support};
    ///
    /// let net = Network::paper(8, &Support::plus(), PaperBasis::Orthonormal)?;
    /// let theta: Vec<f64> = (0..net.num_params()).map(|k| (k as f64 * 0.7).sin()).collect();
    /// let x: Vec<f64> = (0..2 * 64).map(|k| (k as f64 * 0.3).cos()).collect();
    /// let mut tape = Tape::new();
    /// let outs = net.forward_layers(&mut tape, &theta, &x, 2)?;
    /// assert_eq!(outs.len(), net.layers().len());
    /// let logits = net.predict(&mut tape, &theta, &x, 2)?;
    /// assert_eq!(outs.last().unwrap().values, logits);
    /// // The first layer is a 3×3 convolution to 16 channels on the 8×8 grid, and the
    /// // forward pass fuses it with the 2×2 pooling after it.
    /// assert_eq!(outs[0].shape, [2, 16, 8, 8]);
    /// assert!(outs[0].fused_into_next);
    /// assert_eq!(outs[1].shape, [2, 16, 4, 4]);
    /// # Ok::<(), eqens::Error>(())
    /// ```
    pub fn forward_layers<T: Scalar>(
        &self,
        tape: &mut Tape<T>,
        theta: &[T],
        x: &[T],
        n: usize,
    ) -> Result<Vec<LayerOutput<T>>> {
        self.check_inputs(theta, x, n)?;
        tape.reset();
        let mut blocks = Vec::with_capacity(self.layers.len());
        let mut shape = Vec::with_capacity(self.input_shape.len() + 1);
        shape.push(n);
        shape.extend_from_slice(&self.input_shape);
        let mut h = tape.constant(&shape, x);
        let mut out = Vec::with_capacity(self.layers.len());
        let record = |tape: &Tape<T>, i: usize, v, fused| LayerOutput {
            layer: i,
            kind: self.layers[i].spec.kind(),
            shape: [n]
                .into_iter()
                .chain(self.layers[i].out_shape.iter().copied())
                .collect(),
            values: tape.value(v).to_vec(),
            fused_into_next: fused,
        };
        let mut i = 0;
        while i < self.layers.len() {
            let layer = &self.layers[i];
            match &self.convs[i] {
                Some(plan) if plan.pooling.is_some() => {
                    // The unfused convolution, for inspection only: its leaves are not kept.
                    let alone = plan_convs(std::slice::from_ref(layer));
                    let plain = alone[0].as_ref().expect("a convolution has a plan");
                    let side = conv_forward(tape, layer, plain, theta, h, n, &mut Vec::new());
                    out.push(record(tape, i, side, true));
                    h = conv_forward(tape, layer, plan, theta, h, n, &mut blocks);
                    out.push(record(tape, i + 1, h, false));
                    i += 2;
                }
                Some(plan) => {
                    h = conv_forward(tape, layer, plan, theta, h, n, &mut blocks);
                    out.push(record(tape, i, h, false));
                    i += 1;
                }
                None => {
                    h = layer_forward(tape, layer, theta, h, n, &mut blocks);
                    out.push(record(tape, i, h, false));
                    i += 1;
                }
            }
        }
        Ok(out)
    }

    /// How a batch of `n` samples runs in the scalar `T` ([`ExecutionPlan`]).
    ///
    /// ```
    /// use eqens::nn::{Network, PaperBasis, Support};
    ///
    /// let net = Network::paper(8, &Support::plus(), PaperBasis::Orthonormal)?;
    /// let plan = net.execution_plan::<f32>(32);
    /// // The digits network trains a batch of 32 in one pass in f32 …
    /// assert_eq!((plan.micro_batch, plan.passes), (32, 1));
    /// // … and fuses the first convolution with the 2×2 pooling after it.
    /// assert_eq!(plan.fused, [(0, 2)]);
    /// # Ok::<(), eqens::Error>(())
    /// ```
    pub fn execution_plan<T: Scalar>(&self, n: usize) -> ExecutionPlan {
        let micro_batch = self.micro_batch::<T>(n);
        ExecutionPlan {
            micro_batch,
            passes: n.max(1).div_ceil(micro_batch),
            fused: (0..self.layers.len())
                .map(|i| (i, self.fused_pool(i)))
                .filter(|&(_, p)| p > 1)
                .collect(),
        }
    }
}
