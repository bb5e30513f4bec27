//! Tolerances of the exact identities, derived per case from a round-off model.
//!
//! An exact identity (S1–S6, S11–S16) compares two computations that agree in exact
//! arithmetic; in f64 they differ by round-off, whose size depends on the case. The bound
//! used everywhere is the classical one, *forward error ≤ condition × backward error*:
//!
//! - **Backward error (work W).** A sum of n terms computed in any order is the exact sum of
//!   terms each perturbed by at most γ_n ≈ n·u relative (u = 2⁻⁵³, [`UNIT_ROUNDOFF`]). One
//!   evaluation of a network is therefore exact for weights and activations perturbed
//!   componentwise by at most u·W, where W is the sum over layers of the longest sum a layer
//!   forms (its accumulation length, [`network_work`]). A gradient step adds the backward
//!   pass (the same lengths again) and the sums over samples and group elements. This is a
//!   worst-case count: in practice round-off grows like √W, not W.
//! - **Condition κ (measured).** How much the compared quantity moves, relative to its own
//!   scale, per unit of relative componentwise perturbation. It is measured on the case
//!   itself by finite differences with random signs at size η = [`PERTURBATION`]
//!   ([`sensitivity`]); along a trajectory the perturbation is injected after *every* step,
//!   scaled to that step's magnitudes (|θ_{t+1}| + |θ_{t+1} − θ_t|), which is how round-off
//!   enters a descent (stochastic arithmetic at step granularity, [`trajectory_sensitivity`]).
//!   The measurement uses one side of the identity only, so a defect in the identity cannot
//!   inflate its own tolerance; κ is reported with each case.
//!
//! The tolerance is [`Budget::tolerance`] = [`SAFETY`] · u · W · max(κ, 1). With W a
//! worst-case count and κ measured in the direction round-off actually takes, the factor
//! [`SAFETY`] = 10 covers a random direction that underestimates the worst one; measured
//! errors sit 10²–10⁴ below it (the margin column of `eqens check`). Negative controls must
//! exceed [`CONTROL_FACTOR`] = 10³ times the tolerance of their own case.

use crate::autodiff::Tape;
use crate::nn::{LayerSpec, Network};
use crate::Result;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// u = 2⁻⁵³, the unit round-off of f64.
pub const UNIT_ROUNDOFF: f64 = f64::EPSILON / 2.0;

/// Safety factor over the worst-case count W times the measured condition κ (see the
/// module docs: W counts n·u per sum where round-off grows like √n·u, and κ is measured in
/// random directions).
pub const SAFETY: f64 = 10.0;

/// Relative size η of the finite-difference perturbations. Large enough that the change
/// (η·κ) dwarfs the round-off of the two evaluations (u/η ≈ 1e-9 relative to it), small
/// enough that second-order terms (η·κ² relative) stay negligible for κ ≲ 10⁴.
pub const PERTURBATION: f64 = 1e-7;

/// A negative control must exceed this multiple of its case's tolerance (issue: controls
/// sit ≥ 10³ × their tolerance, so no round-off can pass for a broken hypothesis).
pub const CONTROL_FACTOR: f64 = 1e3;

/// The round-off budget of one case: work W and measured condition κ.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Budget {
    /// W: the accumulated accumulation lengths of the computation (see the module docs).
    pub work: f64,
    /// κ: relative change of the compared quantity per unit relative perturbation.
    pub condition: f64,
}

impl Budget {
    /// SAFETY · u · W · max(κ, 1) (a non-finite κ gives +∞: such a case is reported as
    /// unconditioned, never silently passed with a finite bound it did not earn).
    pub fn tolerance(&self) -> f64 {
        let kappa = if self.condition.is_finite() {
            self.condition.max(1.0)
        } else {
            f64::INFINITY
        };
        SAFETY * UNIT_ROUNDOFF * self.work.max(1.0) * kappa
    }

    /// The budget of a case whose error is already NaN (a defect): an infinite tolerance
    /// that is never reached, since NaN compares false.
    pub fn unconditioned() -> Budget {
        Budget {
            work: 1.0,
            condition: f64::INFINITY,
        }
    }

    /// The larger budget of two parts of one case (the tolerance is monotone in both).
    pub fn max(self, other: Budget) -> Budget {
        if other.tolerance() > self.tolerance() {
            other
        } else {
            self
        }
    }

    /// "W = …, κ = …" for case descriptions.
    pub fn describe(&self) -> String {
        format!("W = {:.0}, κ = {:.2}", self.work, self.condition)
    }
}

/// The threshold a negative control must exceed: [`CONTROL_FACTOR`] × the tolerance its
/// own case would have as a positive case.
pub fn control_threshold(tolerance: f64) -> f64 {
    CONTROL_FACTOR * tolerance
}

/// The longest sum layer `spec` forms per output value, given its per-sample input shape.
fn layer_work(spec: &LayerSpec, in_shape: &[usize]) -> f64 {
    let size: usize = in_shape.iter().product();
    let channels = in_shape.first().copied().unwrap_or(1);
    match spec {
        // Σ over C_in·k² taps, plus the basis expansion of one filter (≤ k² terms).
        LayerSpec::Conv2d { kernel, .. } => (channels * kernel * kernel + kernel * kernel) as f64,
        // Σ over the input, plus the basis expansion (≤ in terms per entry).
        LayerSpec::Dense { .. } => (2 * size) as f64,
        LayerSpec::AvgPool2d(k) => (k * k) as f64,
        // Mean, then variance: two sums over the sample.
        LayerSpec::LayerNorm => (2 * size) as f64,
        // Attention: Q Kᵀ and the softmax-weighted sum over tokens, each ≤ the sample size.
        LayerSpec::Attention { .. } => (3 * size) as f64,
        // Elementwise maps: one rounding per value (a flatten rounds nothing).
        LayerSpec::Tanh | LayerSpec::Relu | LayerSpec::AddConstant(_) | LayerSpec::Flatten => 1.0,
    }
}

/// W of one forward pass: Σ over layers of the longest sum each layer forms (each layer's rounding enters
/// the next as a relative perturbation of its input).
pub fn network_work(net: &Network) -> f64 {
    net.layers()
        .iter()
        .map(|l| layer_work(&l.spec, &l.in_shape))
        .sum::<f64>()
        + 1.0
}

/// W of one full-batch gradient step on `samples` inputs augmented over `actions` group
/// elements: forward and backward passes (2·W_fwd) plus the sums over samples·actions
/// and the loss's reduction over the outputs.
pub fn step_work(net: &Network, samples: usize, actions: usize) -> f64 {
    2.0 * network_work(net) + (samples * actions) as f64 + net.output_dim() as f64
}

/// κ_act of `net` at θ on the `n` samples `x`: how much the output moves, relative to its
/// own norm, when every entry of one layer's *input* is perturbed independently by a relative
/// η with a random sign — the way round-off perturbs activations. A perturbation of θ is
/// the same for every token, pixel and sample, so it cancels where round-off does not:
/// a layer norm over nearly equal entries (z − mean z), or attention whose near-uniform
/// weights average value vectors of both signs. Perturbing a layer's inputs perturbs each
/// term of the sums the layer forms, which is the backward-error model of those sums.
/// Returns the maximum over layers (and two sign patterns per layer) of
/// ‖Φ(z_i ∘ (1 + η s)) − Φ(z_i)‖ / (η ‖Φ_A(x)‖), at least 1; 1 when the output vanishes.
/// θ must be laid out for `net` (one θ block per layer, in layer order), as for an ambient
/// network.
pub fn activation_condition(
    net: &Network,
    theta: &[f64],
    x: &[f64],
    n: usize,
    seed: u64,
) -> Result<f64> {
    let layers = net.layers();
    let specs: Vec<LayerSpec> = layers.iter().map(|l| l.spec.clone()).collect();
    let mut tape = Tape::new();
    let y = net.predict(&mut tape, theta, x, n)?;
    let scale = norm(&y);
    if scale == 0.0 {
        return Ok(1.0);
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut kappa: f64 = 1.0;
    let mut z = x.to_vec();
    for (i, layer) in layers.iter().enumerate() {
        let rest = &theta[layer.theta.start..];
        let suffix = Network::new(&layer.in_shape, specs[i..].to_vec())?;
        for _ in 0..2 {
            let moved = suffix.predict(&mut tape, rest, &perturb_relative(&z, &mut rng), n)?;
            let d: Vec<f64> = moved.iter().zip(&y).map(|(a, b)| a - b).collect();
            kappa = kappa.max(norm(&d) / (PERTURBATION * scale));
        }
        let one = Network::new(&layer.in_shape, vec![layer.spec.clone()])?;
        z = one.predict(&mut tape, &theta[layer.theta.clone()], &z, n)?;
    }
    Ok(kappa)
}

fn norm(v: &[f64]) -> f64 {
    v.iter().map(|x| x * x).sum::<f64>().sqrt()
}

/// Multiplies each entry of `p` by (1 + η·s_i) for random signs s_i.
fn perturb_relative(p: &[f64], rng: &mut ChaCha8Rng) -> Vec<f64> {
    p.iter()
        .map(|&x| {
            let s = if rng.random::<bool>() { 1.0 } else { -1.0 };
            x * (1.0 + PERTURBATION * s)
        })
        .collect()
}

/// κ of `f` at `p`: max over two random sign patterns s of
/// ‖f(p ∘ (1 + η s)) − f(p)‖ / (η · `scale`), where `scale` is the magnitude the identity's
/// error is measured against (e.g. ‖f(p)‖). A zero `scale` gives κ = 0 (nothing to
/// perturb).
pub fn sensitivity(
    p: &[f64],
    scale: f64,
    seed: u64,
    f: impl Fn(&[f64]) -> Result<Vec<f64>>,
) -> Result<f64> {
    let base = f(p)?;
    if scale == 0.0 {
        return Ok(0.0);
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut kappa: f64 = 0.0;
    for _ in 0..2 {
        let moved = f(&perturb_relative(p, &mut rng))?;
        let d: Vec<f64> = moved.iter().zip(&base).map(|(a, b)| a - b).collect();
        kappa = kappa.max(norm(&d) / (PERTURBATION * scale));
    }
    Ok(kappa)
}

/// The perturbation injected after a step from `before` to `after` (in place): each entry
/// moves by η·(|θ_{t+1}| + |θ_{t+1} − θ_t|)·s with a random sign s — the size of the
/// round-off a step commits, up to the factor u·W that the budget supplies.
pub fn perturb_step(before: &[f64], after: &mut [f64], rng: &mut ChaCha8Rng) {
    for (a, &b) in after.iter_mut().zip(before) {
        let s = if rng.random::<bool>() { 1.0 } else { -1.0 };
        *a += PERTURBATION * (a.abs() + (*a - b).abs()) * s;
    }
}

/// κ of a trajectory: `run(None)` gives the compared quantity of the unperturbed run and
/// `run(Some(rng))` that of a twin run perturbed after every step with [`perturb_step`];
/// κ = max over two twins of ‖twin − base‖ / (η·`scale`) (0 when `scale` is 0).
pub fn trajectory_sensitivity(
    scale: f64,
    base: &[f64],
    seed: u64,
    mut run: impl FnMut(&mut ChaCha8Rng) -> Result<Vec<f64>>,
) -> Result<f64> {
    if scale == 0.0 {
        return Ok(0.0);
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut kappa: f64 = 0.0;
    for _ in 0..2 {
        let twin = run(&mut rng)?;
        let d: Vec<f64> = twin.iter().zip(base).map(|(a, b)| a - b).collect();
        kappa = kappa.max(norm(&d) / (PERTURBATION * scale));
    }
    Ok(kappa)
}

/// `d / scale`, the relative error of an identity, with the degenerate case spelled out:
/// when both sides vanish (d = 0, scale = 0) the identity holds exactly and the error is 0;
/// a non-zero d against a zero scale is +∞ (the identity claims equality); NaN propagates
/// (a NaN in a computed quantity is a defect, never a pass).
pub fn relative(d: f64, scale: f64) -> f64 {
    if d == 0.0 && scale == 0.0 {
        0.0
    } else {
        d / scale
    }
}
