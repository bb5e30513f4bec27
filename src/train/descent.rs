//! Full-batch gradient descent on the augmented risk: θ ← θ − lr·∇_θ R_aug(θ), the Euler
//! scheme of the augmented gradient flow dA/dt = −Π_{T𝓛}∇R_aug(A) on the coefficients θ
//! (for an orthonormal basis B, H5, the ambient step is exactly −lr·Π_{T𝓛}∇R_aug).

use super::augment::Law;
use super::risk::{augmented_loss_and_grad, check_theta_grad, Samples, Workspace};
use crate::nn::GroupNetwork;
use crate::{Error, Result, Scalar};

/// Checks a learning rate: finite and > 0.
pub(crate) fn check_lr(lr: f64) -> Result<()> {
    if !(lr.is_finite() && lr > 0.0) {
        return Err(Error::Invalid(format!(
            "the learning rate must be finite and positive, got {lr}"
        )));
    }
    Ok(())
}

/// The first non-finite entry of `theta`, as a divergence error at `step`.
pub(crate) fn check_finite<T: Scalar>(theta: &[T], step: usize) -> Result<()> {
    if let Some(i) = theta.iter().position(|v| !v.is_finite()) {
        return Err(Error::Diverged {
            member: 0,
            step,
            what: format!("parameter θ[{i}]"),
        });
    }
    Ok(())
}

/// `steps` steps of full-batch descent θ ← θ − lr·∇_θ R_aug(θ) under `law`, in place.
///
/// After step k (0-based) `on_step(k, θ_{k+1}, R_aug(θ_k))` is called: the new coefficients
/// and the risk at the point the gradient was taken. A non-finite risk or coefficient gives
/// `Error::Diverged { member: 0, step: k, .. }` (the ensemble layer fills in the member);
/// a non-finite or non-positive `lr` is `Error::Invalid`.
///
/// ```
/// use eqens::train::cases::{image_case, Activations, Filters};
/// use eqens::train::{descend, Augmentation, Workspace};
///
/// let case = image_case(3, None, &Filters::InvariantSupport, Activations::Smooth)?;
/// let gnet = &case.gnet;
/// let law = Augmentation::Full.law(gnet.group())?;
/// let mut theta = vec![0.1; gnet.network().num_params()];
/// let mut ws = Workspace::new(gnet);
/// let mut risks = Vec::new();
/// descend(gnet, &mut ws, &mut theta, &case.samples(), &law, 0.05, 30, |_, _, r| {
///     risks.push(r)
/// })?;
/// // Small steps of gradient descent lower the augmented risk.
/// assert!(risks[29] < risks[0]);
/// // A non-positive step is an error.
/// assert!(descend(gnet, &mut ws, &mut theta, &case.samples(), &law, 0.0, 1, |_, _, _| {})
///     .is_err());
/// # Ok::<(), eqens::Error>(())
/// ```
#[allow(clippy::too_many_arguments)]
pub fn descend<T: Scalar>(
    gnet: &GroupNetwork,
    ws: &mut Workspace<T>,
    theta: &mut [T],
    samples: &Samples<T>,
    law: &Law,
    lr: T,
    steps: usize,
    mut on_step: impl FnMut(usize, &[T], T),
) -> Result<()> {
    check_lr(lr.f64())?;
    check_theta_grad(gnet.network(), theta, None)?;
    let mut grad = vec![T::zero(); theta.len()];
    for step in 0..steps {
        let loss = augmented_loss_and_grad(gnet, ws, theta, samples, law, &mut grad)?;
        if !loss.is_finite() {
            return Err(Error::Diverged {
                member: 0,
                step,
                what: "the augmented risk".into(),
            });
        }
        for (t, &g) in theta.iter_mut().zip(&grad) {
            *t -= lr * g;
        }
        check_finite(theta, step)?;
        on_step(step, theta, loss);
    }
    Ok(())
}
