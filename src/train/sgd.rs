//! Minibatch SGD with random augmentation: per sample an independent draw h ~ law, the
//! sample transformed by ρ_X(left·h) (targets by ρ_Y(left·h)), a step along ∇_θ of the
//! minibatch mean loss.
//!
//! `left` is the coupling element of THEORY S6: member g uses g·h_k wherever the base member
//! (left = e = 0) uses h_k. Every random draw (the permutation and the h's) depends only on
//! the RNG, never on θ or `left`, so coupled members sharing a seed see the same samples in
//! the same order with h_k ↦ g·h_k, and ρ(g)U(A; batch, h) = U(ρ(g)A; batch, g·h).

use super::augment::Law;
use super::descent::{check_finite, check_lr};
use super::observe::SgdStep;
use super::risk::{check_theta_grad, Samples, Workspace};
use crate::nn::{GroupNetwork, Target};
use crate::{Error, Result, Scalar};
use rand::RngExt;
use rand_chacha::ChaCha8Rng;

/// SGD hyper-parameters (the paper: lr 0.01, batch 32, 10 epochs, shuffled).
#[derive(Clone, Debug, PartialEq)]
pub struct SgdConfig {
    /// Learning rate (finite, > 0).
    pub lr: f64,
    /// Minibatch size (≥ 1); the last batch of an epoch holds the remaining n mod batch
    /// samples when n is not a multiple.
    pub batch: usize,
    /// Number of epochs (for callers that loop over [`sgd_epoch`]).
    pub epochs: usize,
    /// Whether each epoch visits the samples in a fresh seeded random order.
    pub shuffle: bool,
}

impl SgdConfig {
    /// Checks batch ≥ 1 and lr finite > 0.
    pub fn validate(&self) -> Result<()> {
        if self.batch == 0 {
            return Err(Error::Invalid(
                "the SGD batch size must be at least 1".into(),
            ));
        }
        check_lr(self.lr)
    }
}

/// One epoch of SGD with random augmentation, in place; returns the mean of the epoch's
/// minibatch losses (each the mean loss over its transformed samples, before its step).
///
/// Order of the random draws (fixed, so that coupled members agree): if `cfg.shuffle`, a
/// Fisher–Yates permutation of the n samples; then, batch by batch and sample by sample in
/// that order, one draw h ~ `law`. The last, partial batch (n mod batch samples) is used
/// as a batch of its own. Minibatch k of the epoch is step k: a non-finite loss or θ gives
/// `Error::Diverged { member: 0, step: k, .. }`. Errors on a bad config, `left ∉ G`, or
/// lengths that do not fit the network.
#[allow(clippy::too_many_arguments)]
pub fn sgd_epoch<T: Scalar>(
    gnet: &GroupNetwork,
    ws: &mut Workspace<T>,
    theta: &mut [T],
    data: &Samples<T>,
    cfg: &SgdConfig,
    law: &Law,
    left: usize,
    rng: &mut ChaCha8Rng,
) -> Result<f64> {
    epoch_with(gnet, ws, theta, data, cfg, law, left, rng, |_| {})
}

/// The body of [`sgd_epoch`], calling `observe` after every step (the observer reads the
/// step's draws, loss, gradient and new θ; it cannot change them, so the arithmetic and the
/// random draws are those of [`sgd_epoch`] whatever it does).
#[allow(clippy::too_many_arguments)]
pub(crate) fn epoch_with<T: Scalar>(
    gnet: &GroupNetwork,
    ws: &mut Workspace<T>,
    theta: &mut [T],
    data: &Samples<T>,
    cfg: &SgdConfig,
    law: &Law,
    left: usize,
    rng: &mut ChaCha8Rng,
    mut observe: impl FnMut(&SgdStep<'_, T>),
) -> Result<f64> {
    cfg.validate()?;
    crate::autodiff::simd::configured()?;
    let net = gnet.network();
    check_theta_grad(net, theta, None)?;
    data.check(net)?;
    let group = gnet.group();
    if left >= group.order() {
        return Err(Error::Invalid(format!(
            "coupling element {left} is out of range for {} (order {})",
            group.name(),
            group.order()
        )));
    }
    let (n, d_in, d_out) = (data.n, net.input_dim(), net.output_dim());
    let (rho_x, rho_y) = (gnet.input_rep(), gnet.output_rep());
    let lr = T::of(cfg.lr);
    let Workspace {
        tape,
        x,
        y,
        labels,
        grad,
        order,
        drawn,
    } = ws;
    order.clear();
    order.extend(0..n);
    if cfg.shuffle {
        for i in (1..n).rev() {
            let j = rng.random_range(0..=i);
            order.swap(i, j);
        }
    }
    grad.resize(net.num_params(), T::zero());
    let mut total = 0.0;
    let mut batches = 0;
    for (step, chunk) in order.chunks(cfg.batch).enumerate() {
        let m = chunk.len();
        x.resize(m * d_in, T::zero());
        labels.clear();
        drawn.clear();
        if matches!(data.target, Target::Values(_)) {
            y.resize(m * d_out, T::zero());
        }
        for (slot, &i) in chunk.iter().enumerate() {
            let g = group.mul(left, law.sample(rng));
            drawn.push(g);
            rho_x.apply(
                g,
                &data.x[i * d_in..(i + 1) * d_in],
                &mut x[slot * d_in..(slot + 1) * d_in],
            );
            match data.target {
                Target::Labels(l) => labels.push(l[i]),
                Target::Values(v) => rho_y.apply(
                    g,
                    &v[i * d_out..(i + 1) * d_out],
                    &mut y[slot * d_out..(slot + 1) * d_out],
                ),
            }
        }
        let target = match data.target {
            Target::Labels(_) => Target::Labels(&labels[..]),
            Target::Values(_) => Target::Values(&y[..]),
        };
        let loss = net.loss_and_grad(tape, theta, x, m, target, grad)?;
        if !loss.is_finite() {
            return Err(Error::Diverged {
                member: 0,
                step,
                what: "the minibatch loss".into(),
            });
        }
        for (t, &g) in theta.iter_mut().zip(grad.iter()) {
            *t -= lr * g;
        }
        check_finite(theta, step)?;
        observe(&SgdStep {
            step,
            indices: chunk,
            elements: drawn,
            loss,
            grad,
            theta,
        });
        total += loss.f64();
        batches += 1;
    }
    Ok(total / batches as f64)
}
