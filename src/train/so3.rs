//! Descent on a risk augmented by a law on SO(3), for networks on point clouds in R³.
//!
//! SO(3) is infinite, so R_aug(A) = E_{R∼law} (1/n) Σ_i ℓ(Φ_A(R x_i), R y_i) is not summed
//! over the group (as for finite G) but estimated: every step draws a fresh rotation R_{k,i}
//! for every sample i and descends the loss of the rotated samples. Under the Haar law, the
//! pair (A_0, (R_{k,i})) ↦ (ρ(Q)A_0, (Q R_{k,i})) preserves the joint law for every Q ∈ SO(3),
//! so with an invariant initial law the law of every iterate A_k is invariant — the
//! Monte-Carlo form of the theorem's hypothesis H7.

use super::descent::{check_finite, check_lr};
use crate::autodiff::Tape;
use crate::group::so3::{rotate_points, So3Law};
use crate::nn::{Network, Target};
use crate::{Error, Result};

/// `steps` steps of descent from `theta` (in place) on the mean squared error of `n`
/// samples — inputs `x` ([n, 3N] point clouds) and targets `y` ([n, 3K], K vectors or points
/// of R³) — each step rotating sample i by a fresh R_{k,i} ∼ `law` (inputs and targets alike).
///
/// Errors if the network's input or output dimension is not a multiple of 3, on wrong
/// lengths, a bad learning rate or law, or divergence (`Error::Diverged`).
#[allow(clippy::too_many_arguments)]
pub fn descend_so3<R: rand::Rng + ?Sized>(
    net: &Network,
    theta: &mut [f64],
    x: &[f64],
    y: &[f64],
    n: usize,
    law: &So3Law,
    lr: f64,
    steps: usize,
    rng: &mut R,
) -> Result<()> {
    check_lr(lr)?;
    let (d, k) = (net.input_dim(), net.output_dim());
    if !d.is_multiple_of(3) || !k.is_multiple_of(3) || d == 0 || k == 0 {
        return Err(Error::Shape(format!(
            "SO(3) acts on points of R³: input dimension {d} and output dimension {k} must \
             be positive multiples of 3"
        )));
    }
    if x.len() != n * d || y.len() != n * k {
        return Err(Error::Shape(format!(
            "{} input and {} target values for {n} samples of {d} → {k}",
            x.len(),
            y.len()
        )));
    }
    let mut tape = Tape::new();
    let mut grad = vec![0.0; theta.len()];
    let (mut rx, mut ry) = (vec![0.0; x.len()], vec![0.0; y.len()]);
    for step in 0..steps {
        for i in 0..n {
            let r = law.sample(rng)?;
            rotate_points(&r, &x[i * d..(i + 1) * d], &mut rx[i * d..(i + 1) * d]);
            rotate_points(&r, &y[i * k..(i + 1) * k], &mut ry[i * k..(i + 1) * k]);
        }
        let loss = net.loss_and_grad(&mut tape, theta, &rx, n, Target::Values(&ry), &mut grad)?;
        if !loss.is_finite() {
            return Err(Error::Diverged {
                member: 0,
                step,
                what: "the SO(3)-augmented loss".into(),
            });
        }
        for (t, &g) in theta.iter_mut().zip(&grad) {
            *t -= lr * g;
        }
        check_finite(theta, step)?;
    }
    Ok(())
}
