//! S2 — the augmented risk is an orbit average: R_aug(A) = (1/|G|) Σ_g R(ρ(g)A), hence
//! R_aug(ρ(h)A) = R_aug(A) for every h.
//!
//! Cases: a random image classifier under C4/D4 (trivial ρ_Y) and a random vector
//! regression under C_m whose outputs rotate (non-trivial ρ_Y), at Gaussian coefficients.

use super::common::{case_budget, image_and_vector_cases};
use super::roundoff::{self, Budget};
use super::{Control, Measurement};
use crate::nn::{GroupNetwork, Target};
use crate::train::cases::{sub_seed, vector_case, worst, Case};
use crate::train::{augmented_loss_and_grad, init_theta, nominal_loss_and_grad, Augmentation};
use crate::train::{InitLaw, Law, Samples, Workspace};
use crate::Result;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// The tolerance of a case is its round-off budget ([`roundoff`]): both sides are means of
/// the same n·|G| losses (exactly permuted inputs and weights, summed in another order), so
/// W = [`roundoff::step_work`] (the forward pass, the loss reduction and the sums over samples
/// and group elements; the backward pass runs too and is counted), and κ is the risk's
/// measured relative sensitivity to θ times the layer norms' amplification. A control must
/// exceed [`roundoff::CONTROL_FACTOR`] × the tolerance of its case: with untransformed
/// targets the two sides are different functions, O(0.1..1) apart.
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
fn orbit_average_error(case: &Case, seed: u64, transform_targets: bool) -> Result<(f64, Budget)> {
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
    let budget = case_budget(
        case,
        &theta,
        base.abs(),
        seed ^ 0x5e75,
        roundoff::step_work(gnet.network(), case.n, group.order()),
        |th| Ok(vec![r_aug_plain(gnet, th, &samples, &law)?]),
    )?;
    let mut err: f64 = 0.0;
    let mut orbit_sum = 0.0;
    for h in 0..group.order() {
        let moved = gnet.lift_theta(h, &theta)?;
        err = worst(
            err,
            roundoff::relative((r_aug(&moved)? - base).abs(), base.abs()),
        );
        let mut ws_nominal = Workspace::<f64>::new(gnet);
        orbit_sum += nominal_loss_and_grad(gnet, &mut ws_nominal, &moved, &samples, &mut grad)?;
    }
    let orbit_mean = orbit_sum / group.order() as f64;
    let err = worst(
        err,
        roundoff::relative((base - orbit_mean).abs(), orbit_mean.abs()),
    );
    Ok((err, budget))
}

/// R_aug(θ) under `law` (the quantity whose sensitivity sets the budget).
fn r_aug_plain(
    gnet: &GroupNetwork,
    theta: &[f64],
    samples: &Samples<f64>,
    law: &Law,
) -> Result<f64> {
    let mut ws = Workspace::<f64>::new(gnet);
    let mut grad = vec![0.0; theta.len()];
    augmented_loss_and_grad(gnet, &mut ws, theta, samples, law, &mut grad)
}

/// S2 on a random image case and a random vector case drawn from `seed`.
pub fn check(seed: u64) -> Result<Measurement> {
    let (image, vector) = image_and_vector_cases(seed)?;
    let (e1, b1) = orbit_average_error(&image, sub_seed(seed, 2), true)?;
    let (e2, b2) = orbit_average_error(&vector, sub_seed(seed, 3), true)?;
    let parts = [
        Measurement {
            statement: "S2",
            case: format!("{} ({})", image.description, b1.describe()),
            error: e1,
            tolerance: b1.tolerance(),
            degenerate: 0,
        },
        Measurement {
            statement: "S2",
            case: format!("{} ({})", vector.description, b2.describe()),
            error: e2,
            tolerance: b2.tolerance(),
            degenerate: 0,
        },
    ];
    Ok(Measurement::worst_of(parts.to_vec()).expect("two parts"))
}

/// Control: ρ_Y non-trivial (rotated vector outputs) but the targets not transformed (H3's
/// pairing of ρ_X and ρ_Y is broken).
pub fn controls(seed: u64) -> Result<Vec<Control>> {
    let vector = vector_case(sub_seed(seed, 1))?;
    debug_assert!(matches!(vector.samples().target, Target::Values(_)));
    let (error, budget) = orbit_average_error(&vector, sub_seed(seed, 3), false)?;
    Ok(vec![Control {
        statement: "S2",
        dropped: "H3",
        case: format!(
            "{}; targets not rotated ({})",
            vector.description,
            budget.describe()
        ),
        error,
        threshold: roundoff::control_threshold(budget.tolerance()),
    }])
}
