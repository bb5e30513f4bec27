//! S2 — the augmented risk is an orbit average: R_aug(A) = (1/|G|) Σ_g R(ρ(g)A), hence
//! R_aug(ρ(h)A) = R_aug(A) for every h.
//!
//! Cases: a random image classifier under C4/D4 (trivial ρ_Y) and a random vector
//! regression under C_m whose outputs rotate (non-trivial ρ_Y), at Gaussian coefficients.

use super::common::image_and_vector_cases;
use super::{Control, Measurement};
use crate::nn::{GroupNetwork, Target};
use crate::train::cases::{sub_seed, vector_case, worst, Case};
use crate::train::{augmented_loss_and_grad, init_theta, nominal_loss_and_grad, Augmentation};
use crate::train::{InitLaw, Samples, Workspace};
use crate::Result;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Relative tolerance on both identities. Each risk is a mean of n·|G| ≤ 64 losses, each
/// computed through ≤ 9 layers whose sums have ≤ 10² terms: the round-off of either side is
/// a few hundred ε ≈ 1e-14 relative, and the two sides differ only in the order of the
/// (exactly permuted) terms. 1e-12 leaves a margin of ~100.
pub const TOLERANCE: f64 = 1e-12;

/// The control's error must exceed this: with untransformed targets the two sides are
/// different functions, differing by O(1) relative (1e-3 is nine orders above round-off).
pub const CONTROL_THRESHOLD: f64 = 1e-3;

/// R_aug with the inputs transformed but the target values left as they are (the control;
/// equals R_aug when ρ_Y is trivial).
fn risk_untransformed_targets(gnet: &GroupNetwork, theta: &[f64], s: &Samples<f64>) -> Result<f64> {
    let net = gnet.network();
    let order = gnet.group().order();
    let mut ws = Workspace::<f64>::new(gnet);
    let mut x = vec![0.0; s.x.len()];
    let mut grad = vec![0.0; theta.len()];
    let mut total = 0.0;
    for g in 0..order {
        gnet.act_on_inputs(g, s.x, &mut x);
        total += net.loss_and_grad(ws.tape(), theta, &x, s.n, s.target, &mut grad)?;
    }
    Ok(total / order as f64)
}

/// The worst relative error of the two identities on one case, with R_aug transformed
/// properly (`transform_targets`) or not (the control).
fn orbit_average_error(case: &Case, seed: u64, transform_targets: bool) -> Result<f64> {
    let gnet = &case.gnet;
    let group = gnet.group();
    let samples = case.samples();
    let theta = init_theta(
        gnet,
        &InitLaw::Gaussian { scale: 1.0 },
        &mut ChaCha8Rng::seed_from_u64(seed),
    )?;
    let law = Augmentation::Full.law(group)?;
    let mut ws = Workspace::<f64>::new(gnet);
    let mut grad = vec![0.0; theta.len()];
    let mut aug_grad = vec![0.0; theta.len()];
    let mut r_aug = |th: &[f64]| -> Result<f64> {
        if transform_targets {
            augmented_loss_and_grad(gnet, &mut ws, th, &samples, &law, &mut aug_grad)
        } else {
            risk_untransformed_targets(gnet, th, &samples)
        }
    };
    let base = r_aug(&theta)?;
    let mut err: f64 = 0.0;
    let mut orbit_sum = 0.0;
    for h in 0..group.order() {
        let moved = gnet.lift_theta(h, &theta)?;
        err = worst(err, (r_aug(&moved)? - base).abs() / base.abs());
        let mut ws_nominal = Workspace::<f64>::new(gnet);
        orbit_sum += nominal_loss_and_grad(gnet, &mut ws_nominal, &moved, &samples, &mut grad)?;
    }
    let orbit_mean = orbit_sum / group.order() as f64;
    Ok(worst(err, (base - orbit_mean).abs() / orbit_mean.abs()))
}

/// S2 on a random image case and a random vector case drawn from `seed`.
pub fn check(seed: u64) -> Result<Measurement> {
    let (image, vector) = image_and_vector_cases(seed)?;
    let error = orbit_average_error(&image, sub_seed(seed, 2), true)?.max(orbit_average_error(
        &vector,
        sub_seed(seed, 3),
        true,
    )?);
    Ok(Measurement {
        statement: "S2",
        case: format!("{}; {}", image.description, vector.description),
        error,
        tolerance: TOLERANCE,
    })
}

/// Control: ρ_Y non-trivial (rotated vector outputs) but the targets not transformed (H3's
/// pairing of ρ_X and ρ_Y is broken).
pub fn controls(seed: u64) -> Result<Vec<Control>> {
    let vector = vector_case(sub_seed(seed, 1))?;
    debug_assert!(matches!(vector.samples().target, Target::Values(_)));
    let error = orbit_average_error(&vector, sub_seed(seed, 3), false)?;
    Ok(vec![Control {
        statement: "S2",
        dropped: "H3",
        case: format!("{}; targets not rotated", vector.description),
        error,
        threshold: CONTROL_THRESHOLD,
    }])
}
