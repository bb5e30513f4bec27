//! Networks: a list of layers with inferred shapes, one flat coefficient vector θ, and the
//! forward pass on the tape.
//!
//! One file per job: shape inference (`infer`), the tape ops of each layer kind (`ops`),
//! convolution plans with fused pooling (`conv`), micro-batched training passes (`train`),
//! ambient weights A ↔ θ (`ambient`) and looking inside a forward pass (`trace`).
//!
//! Design of the forward pass: the tape has no slice operation, so [`Network::forward`] takes
//! θ as a plain slice and creates one leaf per coefficient block (one per convolution or
//! dense layer, three per attention layer). The returned [`Forward`] remembers those leaves;
//! [`Forward::theta_grad`] gathers their gradients back into θ order.

use super::layer::{LayerSpec, LinearMap};
use super::param::Parametrisation;
use super::support::Support;
use crate::autodiff::{ConvGeom, Tape, Var};
use crate::{Error, Result, Scalar};
use std::ops::Range;

mod ambient;
mod conv;
mod infer;
mod ops;
mod trace;
mod train;
use conv::{conv_forward, plan_convs, ConvPlan};
use infer::infer;
use ops::layer_forward;
pub use trace::{ExecutionPlan, LayerOutput};

/// A layer after shape inference: its (resolved) description, per-sample shapes, and its
/// coefficient block in θ.
#[derive(Clone, Debug, PartialEq)]
pub struct Layer {
    /// The description; linear layers always hold a resolved parametrisation.
    pub spec: LayerSpec,
    /// Per-sample input shape.
    pub in_shape: Vec<usize>,
    /// Per-sample output shape.
    pub out_shape: Vec<usize>,
    /// This layer's coefficient block in θ (empty for parameter-free layers).
    pub theta: Range<usize>,
}

impl Layer {
    /// The layer's linear maps with their θ blocks (absolute), in θ order: see
    /// [`LayerSpec::linear_maps`].
    pub fn linear_maps(&self) -> Vec<LinearMap<'_>> {
        let mut maps = self.spec.linear_maps(&self.in_shape);
        for m in &mut maps {
            m.theta = self.theta.start + m.theta.start..self.theta.start + m.theta.end;
        }
        maps
    }

    /// The layer's linear maps with their θ sub-blocks, in θ order: one for a convolution
    /// or dense layer (a convolution's block is [C_out, C_in, d]), three (W_q, W_k, W_v)
    /// for attention, none otherwise.
    pub fn linear_blocks(&self) -> Vec<(&Parametrisation, Range<usize>)> {
        self.linear_maps()
            .into_iter()
            .map(|m| (m.param, m.theta))
            .collect()
    }
}

/// Per-sample tape memory (values, gradients, convolution panels) one training pass of
/// [`Network::loss_and_grad`] may hold: larger batches run as micro-batches whose gradients
/// are summed, so a training member stays within about 1 MB whatever the batch size (the
/// mathematical gradient is the same; only the summation order of the batch mean changes).
pub const MICRO_BATCH_BYTES: usize = 640 * 1024;

/// Which filter basis [`Network::paper`] uses on the support.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PaperBasis {
    /// One-hot on the taps (orthonormal, H5).
    Orthonormal,
    /// Random unit vectors spanning the same taps (the H5 control); conv layer i uses
    /// seed + i.
    RandomNormalised {
        /// Base seed.
        seed: u64,
    },
}

/// The training target of [`Network::loss_and_grad`].
#[derive(Clone, Copy, Debug)]
pub enum Target<'a, T> {
    /// Class labels in 0..output_dim, one per sample: mean cross-entropy of the outputs
    /// (as logits).
    Labels(&'a [usize]),
    /// Target outputs [n, output_dim] row-major: mean squared error over all entries.
    Values(&'a [T]),
}

/// The result of [`Network::forward`]: the output node and the θ blocks' leaves.
#[derive(Clone, Debug)]
pub struct Forward {
    /// The output node, shape [N, output_dim].
    pub output: Var,
    blocks: Vec<(Range<usize>, Var)>,
}

impl Forward {
    /// ∇_θ of the last `backward` on the tape, in θ order.
    pub fn theta_grad<T: Scalar>(&self, tape: &Tape<T>) -> Vec<T> {
        let n = self.blocks.last().map_or(0, |(r, _)| r.end);
        let mut g = vec![T::zero(); n];
        self.theta_grad_into(tape, &mut g);
        g
    }

    /// Writes ∇_θ of the last `backward` into `grad` (length num_params).
    pub fn theta_grad_into<T: Scalar>(&self, tape: &Tape<T>, grad: &mut [T]) {
        for (range, var) in &self.blocks {
            grad[range.clone()].copy_from_slice(tape.grad(*var));
        }
    }

    /// The leaves holding the θ blocks, with their ranges in θ.
    pub fn param_vars(&self) -> &[(Range<usize>, Var)] {
        &self.blocks
    }
}

/// A feed-forward network Φ_A: layers with inferred shapes and one flat θ (the blocks of its
/// linear layers concatenated in layer order).
#[derive(Clone, Debug, PartialEq)]
pub struct Network {
    input_shape: Vec<usize>,
    layers: Vec<Layer>,
    num_params: usize,
    /// Per layer, how a convolution runs (`None` for other layers), decided once at build.
    convs: Vec<Option<ConvPlan>>,
}

impl Network {
    /// Builds a network from a per-sample input shape (e.g. `[1, 8, 8]` or `[d]`) and layer
    /// descriptions, inferring every shape; bad descriptions give `Error::Shape`.
    ///
    /// ```
    /// use eqens::nn::{LayerSpec, Network, Support};
    ///
    /// // conv(1→4) on the plus support → tanh → 2×2 pooling → flatten → dense(→3) on 6×6 images.
    /// let net = Network::new(
    ///     &[1, 6, 6],
    ///     vec![
    ///         LayerSpec::conv(4, &Support::plus()),
    ///         LayerSpec::Tanh,
    ///         LayerSpec::AvgPool2d(2),
    ///         LayerSpec::Flatten,
    ///         LayerSpec::dense_full(3),
    ///     ],
    /// )?;
    /// // θ: 4·1·5 filter coefficients + a full 3×36 matrix.
    /// assert_eq!(net.num_params(), 4 * 5 + 3 * 36);
    /// assert_eq!(net.layers()[2].out_shape, [4, 3, 3]);
    /// assert_eq!(net.output_dim(), 3);
    /// // Shapes that do not fit are errors: a dense layer on images (no flatten).
    /// assert!(Network::new(&[1, 5, 5], vec![LayerSpec::dense_full(3)]).is_err());
    /// # Ok::<(), eqens::Error>(())
    /// ```
    pub fn new(input_shape: &[usize], specs: Vec<LayerSpec>) -> Result<Network> {
        if input_shape.is_empty() || input_shape.contains(&0) {
            return Err(Error::Shape(format!(
                "the input shape {input_shape:?} must be non-empty with positive sizes"
            )));
        }
        let mut shape = input_shape.to_vec();
        let mut layers = Vec::with_capacity(specs.len());
        let mut offset = 0;
        for (i, spec) in specs.into_iter().enumerate() {
            let (spec, out_shape) = infer(i, spec, &shape)?;
            let size: usize = spec.linear_maps(&shape).iter().map(|m| m.theta.len()).sum();
            layers.push(Layer {
                spec,
                in_shape: shape,
                out_shape: out_shape.clone(),
                theta: offset..offset + size,
            });
            offset += size;
            shape = out_shape;
        }
        Ok(Network {
            input_shape: input_shape.to_vec(),
            convs: plan_convs(&layers),
            layers,
            num_params: offset,
        })
    }

    /// The paper's network (THEORY.md §4) on `side`×`side` one-channel images:
    /// conv(1→16) → avgpool 2 → tanh → layer norm → conv(16→16) → avgpool 2 → tanh →
    /// layer norm → conv(16→16) → tanh → layer norm → flatten → dense(→10); no biases,
    /// k×k filters with same padding on the support Ω, dense full one-hot.
    pub fn paper(input_side: usize, support: &Support, basis: PaperBasis) -> Result<Network> {
        let k = support.k();
        let conv = |i: u64| -> Result<LayerSpec> {
            let param = match basis {
                PaperBasis::Orthonormal => Parametrisation::from_support(support),
                PaperBasis::RandomNormalised { seed } => Parametrisation::random_normalised(
                    k * k,
                    &support.indices(),
                    seed.wrapping_add(i),
                )?,
            };
            Ok(LayerSpec::conv_with(16, k, param))
        };
        let specs = vec![
            conv(0)?,
            LayerSpec::AvgPool2d(2),
            LayerSpec::Tanh,
            LayerSpec::LayerNorm,
            conv(1)?,
            LayerSpec::AvgPool2d(2),
            LayerSpec::Tanh,
            LayerSpec::LayerNorm,
            conv(2)?,
            LayerSpec::Tanh,
            LayerSpec::LayerNorm,
            LayerSpec::Flatten,
            LayerSpec::dense_full(10),
        ];
        Network::new(&[1, input_side, input_side], specs)
    }

    /// Number of coefficients, the length of θ.
    pub fn num_params(&self) -> usize {
        self.num_params
    }

    /// Per-sample input shape.
    pub fn input_shape(&self) -> &[usize] {
        &self.input_shape
    }

    /// Number of entries of one sample's input.
    pub fn input_dim(&self) -> usize {
        self.input_shape.iter().product()
    }

    /// Number of entries of one sample's (flattened) output.
    pub fn output_dim(&self) -> usize {
        self.layers
            .last()
            .map_or(&self.input_shape, |l| &l.out_shape)
            .iter()
            .product()
    }

    /// The layers after shape inference.
    pub fn layers(&self) -> &[Layer] {
        &self.layers
    }

    /// The geometry on `n` samples of the convolution that layer `i` runs in the forward
    /// pass: its own filter at stride 1, or — when the p×p average pooling after it is fused
    /// into it ([`Network::fused_pool`]) — the pooled filter at stride p. `None` if layer `i`
    /// is not a convolution.
    pub fn conv_geometry(&self, i: usize, n: usize) -> Option<ConvGeom> {
        let plan = self.convs.get(i)?.as_ref()?;
        Some(ConvGeom {
            batch: n,
            ..plan.geom.clone()
        })
    }

    /// The pooling side p fused into layer `i` (a convolution followed by p×p average
    /// pooling, run as one strided convolution), or 1.
    pub fn fused_pool(&self, i: usize) -> usize {
        self.convs
            .get(i)
            .and_then(|c| c.as_ref())
            .map_or(1, |c| c.geom.stride)
    }

    fn check_inputs<T>(&self, theta: &[T], x: &[T], n: usize) -> Result<()> {
        if theta.len() != self.num_params {
            return Err(Error::Shape(format!(
                "θ has length {} but the network has {} coefficients",
                theta.len(),
                self.num_params
            )));
        }
        if n == 0 || x.len() != n * self.input_dim() {
            return Err(Error::Shape(format!(
                "input of length {} for {n} samples of shape {:?} ({} entries expected)",
                x.len(),
                self.input_shape,
                n * self.input_dim()
            )));
        }
        Ok(())
    }

    /// Records Φ_A(x) on the tape (without resetting it) for `n` samples `x` (row-major
    /// [n, ...input_shape]) and coefficients θ. The output node is [n, output_dim] (the last
    /// layer's output, flattened per sample). Each θ block becomes a leaf; see [`Forward`].
    pub fn forward<T: Scalar>(
        &self,
        tape: &mut Tape<T>,
        theta: &[T],
        x: &[T],
        n: usize,
    ) -> Result<Forward> {
        self.check_inputs(theta, x, n)?;
        let mut blocks = Vec::with_capacity(self.layers.len());
        let mut shape = Vec::with_capacity(self.input_shape.len() + 1);
        shape.push(n);
        shape.extend_from_slice(&self.input_shape);
        // The input is a constant: nothing downstream needs ∂/∂x.
        let mut h = tape.constant(&shape, x);
        let mut layers = self.layers.iter().zip(&self.convs);
        while let Some((layer, conv)) = layers.next() {
            h = match conv {
                Some(plan) => {
                    if plan.pooling.is_some() {
                        layers.next(); // the pooling, done by the fused convolution
                    }
                    conv_forward(tape, layer, plan, theta, h, n, &mut blocks)
                }
                None => layer_forward(tape, layer, theta, h, n, &mut blocks),
            };
        }
        let output = tape.reshape(h, &[n, self.output_dim()]);
        Ok(Forward { output, blocks })
    }

    /// Φ_A(x) for `n` samples: resets the tape and returns the outputs [n, output_dim]
    /// row-major.
    pub fn predict<T: Scalar>(
        &self,
        tape: &mut Tape<T>,
        theta: &[T],
        x: &[T],
        n: usize,
    ) -> Result<Vec<T>> {
        tape.reset();
        let f = self.forward(tape, theta, x, n)?;
        Ok(tape.value(f.output).to_vec())
    }
}
