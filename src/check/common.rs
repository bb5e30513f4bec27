//! Helpers shared by several statement checks: the random cases they draw and the member
//! runs they train.

use super::roundoff::{self, Budget};
use crate::ensemble::run_members;
use crate::nn::GroupNetwork;
use crate::train::cases::{image_case, sub_seed, vector_case, worst, Activations, Case, Filters};
use crate::train::{descend, Law, Samples, Workspace};
use crate::Result;
use rand_chacha::ChaCha8Rng;
use std::ops::Range;

/// [`image_case`] under C4 or D4 at random, with every activation allowed.
pub(crate) fn any_image_case(seed: u64, filters: &Filters) -> Result<Case> {
    image_case(seed, None, filters, Activations::Any)
}

/// [`image_case`] under C4 or D4 at random with smooth activations only (tanh, layer norm):
/// the negative controls use it, so that no control can be a degenerate draw (every ReLU
/// dead, gradient zero, nothing moves) that passes for want of a signal.
pub(crate) fn smooth_image_case(seed: u64, filters: &Filters) -> Result<Case> {
    image_case(seed, None, filters, Activations::Smooth)
}

/// The image case with an invariant support (stream 0 of `seed`) and the vector case
/// (stream 1) of S2–S4.
pub(crate) fn image_and_vector_cases(seed: u64) -> Result<(Case, Case)> {
    let image = any_image_case(sub_seed(seed, 0), &Filters::InvariantSupport)?;
    let vector = vector_case(sub_seed(seed, 1))?;
    Ok((image, vector))
}

/// The three cases of S11 and S12: an image case with an invariant support (stream 0 of
/// `seed`), one with the compatible but not invariant direction of S5(v) (stream 1), and a
/// vector case (stream 2).
pub(crate) fn e_cases(seed: u64) -> Result<[Case; 3]> {
    let invariant = any_image_case(sub_seed(seed, 0), &Filters::InvariantSupport)?;
    let compatible = any_image_case(sub_seed(seed, 1), &Filters::CompatibleNotInvariant)?;
    let vector = vector_case(sub_seed(seed, 2))?;
    Ok([invariant, compatible, vector])
}

/// The worst (NaN-propagating) of `error(case, s)` over `cases`, case i using
/// s = sub_seed(`seed`, `first_stream` + i).
pub(crate) fn worst_over(
    cases: &[Case],
    seed: u64,
    first_stream: u64,
    mut error: impl FnMut(&Case, u64) -> Result<f64>,
) -> Result<f64> {
    let mut out: f64 = 0.0;
    for (i, case) in cases.iter().enumerate() {
        out = worst(out, error(case, sub_seed(seed, first_stream + i as u64))?);
    }
    Ok(out)
}

/// [`run_members`] for members that may fail: their results in member order, or the first
/// member's error (in member order).
pub(crate) fn run_fallible_members<R: Send>(
    members: Range<usize>,
    threads: usize,
    f: impl Fn(usize) -> Result<R> + Sync,
) -> Result<Vec<R>> {
    run_members(members, threads, f)?.into_iter().collect()
}

/// `steps` steps of full-batch descent on `samples` under `law` from `theta` (in place),
/// nothing recorded per step; returns the workspace, whose tape can run the network again.
pub(crate) fn train(
    gnet: &GroupNetwork,
    theta: &mut [f64],
    samples: &Samples<f64>,
    law: &Law,
    lr: f64,
    steps: usize,
) -> Result<Workspace<f64>> {
    let mut ws = Workspace::<f64>::new(gnet);
    descend(gnet, &mut ws, theta, samples, law, lr, steps, |_, _, _| {})?;
    Ok(ws)
}

/// `steps` steps of full-batch descent from `theta0` with a round-off-sized perturbation
/// injected after every step ([`roundoff::perturb_step`]): the twin run of
/// [`roundoff::trajectory_sensitivity`]. Returns θ_k.
pub(crate) fn perturbed_descent(
    gnet: &GroupNetwork,
    theta0: &[f64],
    samples: &Samples<f64>,
    law: &Law,
    lr: f64,
    steps: usize,
    rng: &mut ChaCha8Rng,
) -> Result<Vec<f64>> {
    let mut ws = Workspace::<f64>::new(gnet);
    let mut theta = theta0.to_vec();
    for _ in 0..steps {
        let before = theta.clone();
        descend(gnet, &mut ws, &mut theta, samples, law, lr, 1, |_, _, _| {})?;
        roundoff::perturb_step(&before, &mut theta, rng);
    }
    Ok(theta)
}

/// The round-off budget of a quantity q(θ) computed on `case` with work `work`: κ is the
/// measured sensitivity of q to relative perturbations of θ against `scale`
/// ([`roundoff::sensitivity`]), times the amplification of activation round-off on the
/// case's inputs ([`roundoff::activation_condition`]): activation round-off in the forward
/// pass reaches q through the backward pass, whose own round-off the same cancellations
/// amplify, so the two factors multiply (conservative).
pub(crate) fn case_budget(
    case: &Case,
    theta: &[f64],
    scale: f64,
    seed: u64,
    work: f64,
    q: impl Fn(&[f64]) -> Result<Vec<f64>>,
) -> Result<Budget> {
    let kappa = roundoff::sensitivity(theta, scale, seed, q)?;
    let net = case.gnet.network();
    let act = roundoff::activation_condition(net, theta, &case.x, case.n, seed ^ 0xac7)?;
    Ok(Budget {
        work,
        condition: kappa.max(1.0) * act,
    })
}
