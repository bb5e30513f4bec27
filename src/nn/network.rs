//! Networks: a list of layers with inferred shapes, one flat coefficient vector θ, and the
//! forward pass on the tape.
//!
//! Design of the forward pass: the tape has no slice operation, so [`Network::forward`] takes
//! θ as a plain slice and creates one leaf per coefficient block (one per convolution or
//! dense layer, three per attention layer). The returned [`Forward`] remembers those leaves;
//! [`Forward::theta_grad`] gathers their gradients back into θ order.

use super::layer::{LayerSpec, LinearMap, LAYER_NORM_EPS};
use super::param::Parametrisation;
use super::support::Support;
use crate::autodiff::{ConvGeom, Tape, Var};
use crate::{Error, Result, Scalar};
use std::ops::Range;

mod trace;
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

/// How a convolution layer runs in the forward pass: its geometry (batch left 0) — its own
/// filter at stride 1, or, when the p×p average pooling after it is fused into it
/// ([`fused_pool`]), the pooled filter on the (k + p − 1)² grid at stride p — and in that
/// case the matrix P [|taps|, |pooled taps|] mapping tap weights to pooled weights
/// ([`pooled_taps`]).
#[derive(Clone, Debug, PartialEq)]
struct ConvPlan {
    geom: ConvGeom,
    pooling: Option<Vec<f64>>,
}

fn shape_err(i: usize, kind: &str, msg: String) -> Error {
    Error::Shape(format!("layer {i} ({kind}): {msg}"))
}

/// Resolves a `None` (full one-hot) parametrisation and checks its ambient dimension.
fn resolve(
    i: usize,
    kind: &str,
    what: &str,
    p: Option<Parametrisation>,
    ambient: usize,
) -> Result<Parametrisation> {
    let p = p.unwrap_or_else(|| Parametrisation::full(ambient));
    if p.ambient_dim() != ambient {
        return Err(shape_err(
            i,
            kind,
            format!(
                "the parametrisation of {what} has ambient dimension {} but the layer needs \
                 {ambient}",
                p.ambient_dim()
            ),
        ));
    }
    if p.dim() == 0 {
        return Err(shape_err(
            i,
            kind,
            format!("the parametrisation of {what} has no coefficients"),
        ));
    }
    Ok(p)
}

/// Shape inference for one layer: the resolved spec and the per-sample output shape.
fn infer(i: usize, spec: LayerSpec, s: &[usize]) -> Result<(LayerSpec, Vec<usize>)> {
    let kind = spec.kind();
    let image = || -> Result<(usize, usize, usize)> {
        match *s {
            [c, h, w] => Ok((c, h, w)),
            _ => Err(shape_err(
                i,
                kind,
                format!("needs images [C, H, W] per sample (input [N, C, H, W]), got {s:?}"),
            )),
        }
    };
    match spec {
        LayerSpec::Conv2d {
            out_channels,
            kernel,
            param,
            padding,
        } => {
            let (_, h, w) = image()?;
            if out_channels == 0 || kernel == 0 {
                return Err(shape_err(
                    i,
                    kind,
                    "zero output channels or filter side".into(),
                ));
            }
            if padding.top >= kernel || padding.left >= kernel {
                return Err(shape_err(
                    i,
                    kind,
                    format!("padding {padding:?} must be below the filter side {kernel}"),
                ));
            }
            let what = format!("the {kernel}×{kernel} filter");
            let param = resolve(i, kind, &what, Some(param), kernel * kernel)?;
            // A tap at offset (r − top, t − left) reads an in-grid pixel for some output
            // position iff |r − top| < H and |t − left| < W; a tap that never does means a
            // support larger than the grid.
            for idx in param.support_indices() {
                let (r, t) = (idx / kernel, idx % kernel);
                let dr = r as isize - padding.top as isize;
                let dt = t as isize - padding.left as isize;
                if dr.unsigned_abs() >= h || dt.unsigned_abs() >= w {
                    return Err(shape_err(
                        i,
                        kind,
                        format!(
                            "filter tap ({r},{t}) never reaches the {h}×{w} grid (support \
                             larger than the grid)"
                        ),
                    ));
                }
            }
            let spec = LayerSpec::Conv2d {
                out_channels,
                kernel,
                param,
                padding,
            };
            Ok((spec, vec![out_channels, h, w]))
        }
        LayerSpec::Dense { out, param } => {
            let [inp] = *s else {
                return Err(shape_err(
                    i,
                    kind,
                    format!("needs flat vectors per sample (use flatten first), got {s:?}"),
                ));
            };
            if out == 0 {
                return Err(shape_err(i, kind, "zero outputs".into()));
            }
            let what = format!("the [{out}, {inp}] matrix");
            let p = resolve(i, kind, &what, param, out * inp)?;
            Ok((
                LayerSpec::Dense {
                    out,
                    param: Some(p),
                },
                vec![out],
            ))
        }
        LayerSpec::AvgPool2d(k) => {
            let (c, h, w) = image()?;
            if k == 0 || k > h || k > w {
                return Err(shape_err(
                    i,
                    kind,
                    format!("window {k} does not fit the {h}×{w} grid"),
                ));
            }
            Ok((spec, vec![c, h / k, w / k]))
        }
        LayerSpec::Flatten => Ok((spec, vec![s.iter().product()])),
        LayerSpec::Attention {
            d_k,
            d_v,
            wq,
            wk,
            wv,
        } => {
            let [n, dm] = *s else {
                return Err(shape_err(
                    i,
                    kind,
                    format!("needs tokens [n, d_model] per sample, got {s:?}"),
                ));
            };
            if d_k == 0 || d_v == 0 {
                return Err(shape_err(i, kind, "d_k and d_v must be positive".into()));
            }
            let wq = resolve(i, kind, &format!("W_q [{d_k}, {dm}]"), wq, d_k * dm)?;
            let wk = resolve(i, kind, &format!("W_k [{d_k}, {dm}]"), wk, d_k * dm)?;
            let wv = resolve(i, kind, &format!("W_v [{d_v}, {dm}]"), wv, d_v * dm)?;
            let spec = LayerSpec::Attention {
                d_k,
                d_v,
                wq: Some(wq),
                wk: Some(wk),
                wv: Some(wv),
            };
            Ok((spec, vec![n, d_v]))
        }
        LayerSpec::AddConstant(ref c) => {
            let size: usize = s.iter().product();
            if c.len() != size {
                return Err(shape_err(
                    i,
                    kind,
                    format!(
                        "{} values for samples of shape {s:?} ({size} entries)",
                        c.len()
                    ),
                ));
            }
            if c.iter().any(|x| !x.is_finite()) {
                return Err(Error::Invalid(format!(
                    "layer {i} (add-constant): non-finite value"
                )));
            }
            Ok((spec, s.to_vec()))
        }
        LayerSpec::Tanh | LayerSpec::Relu | LayerSpec::LayerNorm => Ok((spec, s.to_vec())),
    }
}

/// Converts f64 values to the tape's scalar.
fn to_scalar<T: Scalar>(v: impl IntoIterator<Item = f64>) -> Vec<T> {
    v.into_iter().map(T::of).collect()
}

/// Ambient weights on the listed ambient indices, on the tape: coefficients [m, d] ↦
/// [m, |cols|] with row p = (A_𝓛 + Σ_k θ[p,k] B_k) restricted to `cols` (a matmul with the
/// restricted basis, plus the broadcast offset).
fn expand_on_tape<T: Scalar>(
    tape: &mut Tape<T>,
    coeffs: Var,
    param: &Parametrisation,
    cols: &[usize],
) -> Var {
    let basis = param.basis_matrix();
    let b: Vec<T> = to_scalar(basis.iter().flat_map(|c| cols.iter().map(|&j| c[j])));
    let b = tape.constant(&[param.dim(), cols.len()], &b);
    let w = tape.matmul(coeffs, b, false, false);
    match param.offset() {
        Some(o) => {
            let o: Vec<T> = to_scalar(cols.iter().map(|&j| o[j]));
            let o = tape.constant(&[cols.len()], &o);
            tape.add(w, o)
        }
        None => w,
    }
}

/// A [rows, cols] weight matrix from its θ block (pushes the block's leaf).
fn matrix_on_tape<T: Scalar>(
    tape: &mut Tape<T>,
    theta: &[T],
    range: Range<usize>,
    param: &Parametrisation,
    (rows, cols): (usize, usize),
    blocks: &mut Vec<(Range<usize>, Var)>,
) -> Var {
    let block = &theta[range.clone()];
    if param.is_identity() {
        let leaf = tape.leaf(&[rows, cols], block);
        blocks.push((range, leaf));
        return leaf;
    }
    let leaf = tape.leaf(&[1, param.dim()], block);
    blocks.push((range, leaf));
    let all: Vec<usize> = (0..rows * cols).collect();
    let w = expand_on_tape(tape, leaf, param, &all);
    tape.reshape(w, &[rows, cols])
}

/// Scaled dot-product attention on a batch of `n` samples of `tokens` tokens each, with
/// q, k [n·tokens, d_k] and v [n·tokens, d_v]. One sample uses the tape's attention op;
/// several use one block-diagonal masked softmax, so samples never attend to each other
/// (masked scores are −1e30: exp underflows to exactly 0 in f32 and f64).
fn batched_attention<T: Scalar>(
    tape: &mut Tape<T>,
    (q, k, v): (Var, Var, Var),
    n: usize,
    tokens: usize,
    d_k: usize,
) -> Var {
    if n == 1 {
        return tape.attention(q, k, v);
    }
    let m = n * tokens;
    let mask: Vec<T> = (0..m * m)
        .map(|ij| {
            if (ij / m) / tokens == (ij % m) / tokens {
                T::zero()
            } else {
                T::of(-1e30)
            }
        })
        .collect();
    let mask = tape.constant(&[m, m], &mask);
    let s = tape.matmul(q, k, false, true);
    let s = tape.scale(s, T::of(1.0 / (d_k as f64).sqrt()));
    let s = tape.add(s, mask);
    let p = tape.softmax(s);
    tape.matmul(p, v, false, false)
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

    /// The loss of `n` samples against `target` and its gradient ∇_θ (written into `grad`).
    /// Resets and reuses the tape. Errors on wrong lengths or labels ≥ output_dim.
    pub fn loss_and_grad<T: Scalar>(
        &self,
        tape: &mut Tape<T>,
        theta: &[T],
        x: &[T],
        n: usize,
        target: Target<'_, T>,
        grad: &mut [T],
    ) -> Result<T> {
        self.check_inputs(theta, x, n)?;
        if grad.len() != self.num_params {
            return Err(Error::Shape(format!(
                "gradient buffer has length {} but the network has {} coefficients",
                grad.len(),
                self.num_params
            )));
        }
        let k = self.output_dim();
        match target {
            Target::Labels(l) => {
                if l.len() != n {
                    return Err(Error::Shape(format!("{} labels for {n} samples", l.len())));
                }
                if let Some((i, &y)) = l.iter().enumerate().find(|&(_, &y)| y >= k) {
                    return Err(Error::Invalid(format!(
                        "label {y} of sample {i} is out of range: the network has {k} outputs"
                    )));
                }
            }
            Target::Values(v) => {
                if v.len() != n * k {
                    return Err(Error::Shape(format!(
                        "target values of length {} for {n} samples of {k} outputs",
                        v.len()
                    )));
                }
            }
        }
        let rows = self.micro_batch::<T>(n);
        let d = self.input_dim();
        let (mut total, mut start) = (T::zero(), 0);
        loop {
            let m = rows.min(n - start);
            tape.reset();
            let f = self.forward(tape, theta, &x[start * d..(start + m) * d], m)?;
            let loss = match target {
                Target::Labels(l) => tape.cross_entropy(f.output, &l[start..start + m]),
                Target::Values(v) => {
                    let t = tape.constant(&[m, k], &v[start * k..(start + m) * k]);
                    tape.mse(f.output, t)
                }
            };
            if m == n {
                tape.backward(loss);
                f.theta_grad_into(tape, grad);
                return Ok(tape.value(loss)[0]);
            }
            // The batch mean is Σ over micro-batches of (m/n)·(their mean): the same weight
            // scales each micro-batch's gradient, summed into `grad` in micro-batch order.
            let share = T::of(m as f64 / n as f64);
            let weighted = tape.scale(loss, share);
            tape.backward(weighted);
            if start == 0 {
                grad.fill(T::zero());
            }
            for (range, var) in f.param_vars() {
                for (a, &b) in grad[range.clone()].iter_mut().zip(tape.grad(*var)) {
                    *a += b;
                }
            }
            total += tape.value(weighted)[0];
            start += m;
            if start == n {
                return Ok(total);
            }
        }
    }

    /// Samples per forward/backward pass of [`Network::loss_and_grad`]: all `n` if their
    /// tape memory fits [`MICRO_BATCH_BYTES`], else as many as fit (rounded down to a whole
    /// number of the convolution kernels' vector lanes, 16 f32 / 8 f64, when at least that
    /// many fit; at least 1).
    pub fn micro_batch<T: Scalar>(&self, n: usize) -> usize {
        let per_sample = self.tape_floats_per_sample() * std::mem::size_of::<T>();
        let fit = (MICRO_BATCH_BYTES / per_sample.max(1)).max(1);
        if fit >= n {
            return n.max(1);
        }
        let lanes = crate::autodiff::kernels::nt_lanes::<T>();
        if fit >= lanes {
            fit / lanes * lanes
        } else {
            fit
        }
    }

    /// An estimate of the tape entries one sample costs in a training pass: the value and
    /// the gradient of the input and of every layer output the forward computes (a fused
    /// convolution's pre-pooling output is never formed), plus the largest convolution
    /// scratch ([`ConvGeom::scratch_per_sample`]).
    fn tape_floats_per_sample(&self) -> usize {
        let mut values = self.input_dim();
        let mut panel = 0;
        for (layer, conv) in self.layers.iter().zip(&self.convs) {
            if let Some(c) = conv {
                panel = panel.max(c.geom.scratch_per_sample());
            }
            if conv.as_ref().is_none_or(|c| c.pooling.is_none()) {
                values += layer.out_shape.iter().product::<usize>();
            }
        }
        2 * values + panel
    }

    /// The ambient weights A_i = A_𝓛 + Σ θ_k B_k of every linear map, in layer order:
    /// a convolution gives [C_out, C_in, k, k] row-major, a dense layer [out, in], an
    /// attention layer three entries W_q, W_k, W_v.
    ///
    /// # Panics
    /// If `theta.len() != num_params()` (callers validate θ first).
    pub fn ambient_weights(&self, theta: &[f64]) -> Vec<Vec<f64>> {
        assert_eq!(theta.len(), self.num_params, "ambient_weights: θ length");
        let mut out = Vec::new();
        for layer in &self.layers {
            for (p, range) in layer.linear_blocks() {
                let block = &theta[range];
                let mut a = Vec::with_capacity(block.len() / p.dim() * p.ambient_dim());
                for filter in block.chunks(p.dim()) {
                    a.extend(p.expand(filter));
                }
                out.push(a);
            }
        }
        out
    }

    /// θ from ambient weights laid out as in [`Network::ambient_weights`] (per filter / per
    /// matrix least squares); errors on wrong counts or lengths, or if some A_i ∉ 𝓛_i.
    pub fn theta_from_ambient(&self, a: &[Vec<f64>]) -> Result<Vec<f64>> {
        let maps: Vec<(usize, LinearMap<'_>)> = self
            .layers
            .iter()
            .enumerate()
            .flat_map(|(i, l)| l.linear_maps().into_iter().map(move |m| (i, m)))
            .collect();
        if a.len() != maps.len() {
            return Err(Error::Shape(format!(
                "{} weight arrays for a network with {} linear maps",
                a.len(),
                maps.len()
            )));
        }
        let mut theta = Vec::with_capacity(self.num_params);
        for ((i, m), ai) in maps.into_iter().zip(a) {
            let kind = self.layers[i].spec.kind();
            let p = m.param;
            if ai.len() != m.repeat * p.ambient_dim() {
                return Err(Error::Shape(format!(
                    "layer {i} ({kind}): ambient weights of length {}, expected {}",
                    ai.len(),
                    m.repeat * p.ambient_dim()
                )));
            }
            for (j, filter) in ai.chunks(p.ambient_dim()).enumerate() {
                let t = p
                    .coefficients_of(filter)
                    .map_err(|e| Error::Invalid(format!("layer {i} ({kind}), block {j}: {e}")))?;
                theta.extend(t);
            }
        }
        Ok(theta)
    }

    /// The same network with every linear map parametrised by the full one-hot basis of its
    /// ambient space (𝓛 = H): its θ is the concatenation of [`Network::ambient_weights`], and
    /// `ambient_network().forward(concat(ambient_weights(θ)))` equals `forward(θ)`.
    pub fn ambient_network(&self) -> Network {
        let mut offset = 0;
        let layers: Vec<Layer> = self
            .layers
            .iter()
            .map(|l| {
                let spec = l.spec.ambient();
                let mut layer = Layer {
                    spec,
                    in_shape: l.in_shape.clone(),
                    out_shape: l.out_shape.clone(),
                    theta: 0..0,
                };
                let size: usize = layer.linear_blocks().iter().map(|(_, r)| r.len()).sum();
                layer.theta = offset..offset + size;
                offset += size;
                layer
            })
            .collect();
        Network {
            input_shape: self.input_shape.clone(),
            convs: plan_convs(&layers),
            layers,
            num_params: offset,
        }
    }
}

/// Per layer, how a convolution runs ([`ConvPlan`]); `None` for other layers.
fn plan_convs(layers: &[Layer]) -> Vec<Option<ConvPlan>> {
    layers
        .iter()
        .zip(layers.iter().skip(1).map(Some).chain([None]))
        .map(|(layer, next)| {
            let LayerSpec::Conv2d {
                out_channels,
                kernel,
                padding,
                ..
            } = &layer.spec
            else {
                return None;
            };
            let pool = next.map_or(1, |next| fused_pool(layer, next));
            let taps = conv_taps(layer);
            let (taps, pooling) = if pool > 1 {
                let (pooled, p) = pooled_taps(&taps, pool);
                (pooled, Some(p))
            } else {
                (taps, None)
            };
            let geom = ConvGeom {
                batch: 0,
                c_in: layer.in_shape[0],
                c_out: *out_channels,
                h: layer.in_shape[1],
                w: layer.in_shape[2],
                k: kernel + pool - 1,
                taps,
                pad_top: padding.top,
                pad_left: padding.left,
                stride: pool,
            };
            Some(ConvPlan { geom, pooling })
        })
        .collect()
}

/// A convolution layer on the tape as `plan` runs it; with p×p pooling fused, the
/// convolution followed by the pooling, as one convolution of stride p by the pooled filter
/// W'[u, v] = p⁻² Σ_{t, a, b < p : (r_t + a, s_t + b) = (u, v)} w_t on the taps (u, v) of a
/// (k + p − 1)² filter (a constant matrix P on the tape maps w to W', so gradients reach θ
/// through it).
#[allow(clippy::too_many_arguments)]
fn conv_forward<T: Scalar>(
    tape: &mut Tape<T>,
    layer: &Layer,
    plan: &ConvPlan,
    theta: &[T],
    x: Var,
    n: usize,
    blocks: &mut Vec<(Range<usize>, Var)>,
) -> Var {
    let LayerSpec::Conv2d {
        out_channels,
        param,
        ..
    } = &layer.spec
    else {
        unreachable!("conv_forward on a {:?} layer", layer.spec)
    };
    let (c_out, c_in) = (*out_channels, layer.in_shape[0]);
    let block = &theta[layer.theta.clone()];
    // The weights on the taps of `conv_taps(layer)`, in that order.
    let (weights, nt) = match param.plain_one_hot() {
        // Fast path: the coefficients are the tap weights.
        Some(idx) => {
            let leaf = tape.leaf(&[c_out, c_in, param.dim()], block);
            blocks.push((layer.theta.clone(), leaf));
            (leaf, idx.len())
        }
        // General path: W[(C_out·C_in), S] = θ[(C_out·C_in), d] · B_Sᵀ (+ offset),
        // on the taps S where the parametrisation can be non-zero.
        None => {
            let leaf = tape.leaf(&[c_out * c_in, param.dim()], block);
            blocks.push((layer.theta.clone(), leaf));
            let cols = param.support_indices();
            let wts = expand_on_tape(tape, leaf, param, &cols);
            (tape.reshape(wts, &[c_out, c_in, cols.len()]), cols.len())
        }
    };
    let weights = match &plan.pooling {
        Some(p) => {
            let np = plan.geom.taps.len();
            let p = tape.constant(&[nt, np], &to_scalar(p.iter().copied()));
            let flat = tape.reshape(weights, &[c_out * c_in, nt]);
            let wp = tape.matmul(flat, p, false, false);
            tape.reshape(wp, &[c_out, c_in, np])
        }
        None => weights,
    };
    let geom = ConvGeom {
        batch: n,
        ..plan.geom.clone()
    };
    tape.conv2d(x, weights, &geom)
}

/// The pooling side p if `layer` (a convolution) and `next` (p×p average pooling) run as
/// one strided convolution ([`conv_forward`]), else 1. That is the same map with fewer
/// multiplications (12 pooled taps per output instead of 4 × 5 for the plus support) and no
/// full-resolution activation on the tape; it is used when p divides the grid and the
/// pooled output plane has at least as many pixels as the pooled filter has taps. Below
/// that the strided convolution's work is dominated by fixed costs, measured slower than
/// the stride-1 convolution plus pooling (digits: 186 µs against 154 µs per step for the
/// 4×4 layer, while the 8×8 and the 28×28 network's layers gain).
fn fused_pool(layer: &Layer, next: &Layer) -> usize {
    let (LayerSpec::Conv2d { .. }, LayerSpec::AvgPool2d(p)) = (&layer.spec, &next.spec) else {
        return 1;
    };
    let (p, h, w) = (*p, layer.in_shape[1], layer.in_shape[2]);
    if p < 2 || h % p != 0 || w % p != 0 {
        return 1;
    }
    if (h / p) * (w / p) >= pooled_taps(&conv_taps(layer), p).0.len() {
        p
    } else {
        1
    }
}

/// The taps (row, column) of a convolution layer's filter, in the order of its weights on
/// the tape (the basis order for a plain one-hot parametrisation, else increasing).
fn conv_taps(layer: &Layer) -> Vec<(usize, usize)> {
    let LayerSpec::Conv2d { kernel, param, .. } = &layer.spec else {
        return Vec::new();
    };
    let idx = param
        .plain_one_hot()
        .map_or_else(|| param.support_indices(), <[usize]>::to_vec);
    idx.iter().map(|&i| (i / kernel, i % kernel)).collect()
}

/// The taps of a filter followed by p×p average pooling, in row-major order on the
/// (k + p − 1)² grid, and the matrix P [|taps|, |pooled|] with P[t, t'] = p⁻² when
/// t' = t shifted by some (a, b) with a, b < p (each pair (t, t') arises at most once).
fn pooled_taps(taps: &[(usize, usize)], p: usize) -> (Vec<(usize, usize)>, Vec<f64>) {
    let mut pooled: Vec<(usize, usize)> = taps
        .iter()
        .flat_map(|&(r, s)| (0..p).flat_map(move |a| (0..p).map(move |b| (r + a, s + b))))
        .collect();
    pooled.sort_unstable();
    pooled.dedup();
    let inv = 1.0 / (p * p) as f64;
    let mut m = vec![0.0; taps.len() * pooled.len()];
    for (t, &(r, s)) in taps.iter().enumerate() {
        for (a, b) in (0..p).flat_map(|a| (0..p).map(move |b| (a, b))) {
            let col = pooled.binary_search(&(r + a, s + b)).expect("listed above");
            m[t * pooled.len() + col] = inv;
        }
    }
    (pooled, m)
}

/// One layer's forward on the tape; x is [N, ...in_shape], the result [N, ...out_shape].
fn layer_forward<T: Scalar>(
    tape: &mut Tape<T>,
    layer: &Layer,
    theta: &[T],
    x: Var,
    n: usize,
    blocks: &mut Vec<(Range<usize>, Var)>,
) -> Var {
    match &layer.spec {
        LayerSpec::Conv2d { .. } => unreachable!("a convolution runs through its ConvPlan"),
        LayerSpec::Dense { out, param } => {
            let param = param.as_ref().expect("resolved at build");
            let wts = matrix_on_tape(
                tape,
                theta,
                layer.theta.clone(),
                param,
                (*out, layer.in_shape[0]),
                blocks,
            );
            tape.matmul(x, wts, false, true)
        }
        LayerSpec::AvgPool2d(k) => tape.avg_pool2d(x, *k),
        LayerSpec::Tanh => tape.tanh(x),
        LayerSpec::Relu => tape.relu(x),
        LayerSpec::LayerNorm => tape.layer_norm(x, 1, T::of(LAYER_NORM_EPS)),
        LayerSpec::Flatten => tape.reshape(x, &[n, layer.out_shape[0]]),
        LayerSpec::Attention { d_k, d_v, .. } => {
            let (tokens, dm) = (layer.in_shape[0], layer.in_shape[1]);
            let x2 = tape.reshape(x, &[n * tokens, dm]);
            let mut qkv = [x2; 3];
            for (slot, ((p, range), rows)) in qkv
                .iter_mut()
                .zip(layer.linear_blocks().into_iter().zip([*d_k, *d_k, *d_v]))
            {
                let wts = matrix_on_tape(tape, theta, range, p, (rows, dm), blocks);
                *slot = tape.matmul(x2, wts, false, true);
            }
            let y = batched_attention(tape, (qkv[0], qkv[1], qkv[2]), n, tokens, *d_k);
            tape.reshape(y, &[n, tokens, *d_v])
        }
        LayerSpec::AddConstant(c) => {
            let c: Vec<T> = to_scalar(c.iter().copied());
            let c = tape.constant(&layer.in_shape, &c);
            tape.add(x, c)
        }
    }
}
