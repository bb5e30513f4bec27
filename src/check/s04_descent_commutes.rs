//! S4 — the descent map commutes with ρ: under H4 and H5 with full augmentation, k steps of
//! gradient descent from ρ(g)A_0 equal ρ(g) applied to k steps from A_0, for any step size.
//!
//! Both trajectories are compared in the ambient space H after every step t = 1..k; the
//! measured error is max_{g,t} ‖ρ(g)A_t − A_t^(g)‖ / (‖A_t‖·t), the relative error per step.

use super::common::perturbed_descent;
use super::common::{image_and_vector_cases, smooth_image_case};
use super::roundoff::{self, Budget};
use super::{Control, Measurement};
use crate::nn::{GroupNetwork, Support};
use crate::train::cases::{layers_dist, layers_norm, sub_seed, worst, Case, Filters};
use crate::train::{descend, init_theta, Augmentation, InitLaw, Law, Samples, Workspace};
use crate::Result;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The tolerance of a case is its round-off budget ([`roundoff`]): mathematically the
/// trajectories agree exactly; numerically each step's gradient is computed from exactly
/// permuted inputs but summed in another order, a backward error of u·W per step with W =
/// [`roundoff::step_work`], and that discrepancy propagates through the later steps. κ is
/// measured on the case: the relative change of A_t (per step t, divided by t like the
/// error) when a round-off-sized perturbation is injected after every step
/// ([`roundoff::trajectory_sensitivity`]). The error is per step, so W is one step's work.
///
/// A control's error must exceed [`roundoff::CONTROL_FACTOR`] × its case's tolerance:
/// dropping H4 or H5 changes the step itself by O(lr·‖∇R‖).
/// The ambient weights A_1..A_k of `steps` steps of descent from θ_0.
fn trajectory(
    gnet: &GroupNetwork,
    theta0: &[f64],
    samples: &Samples<f64>,
    law: &Law,
    lr: f64,
    steps: usize,
) -> Result<Vec<Vec<Vec<f64>>>> {
    let mut ws = Workspace::<f64>::new(gnet);
    let mut theta = theta0.to_vec();
    let mut out = Vec::with_capacity(steps);
    descend(
        gnet,
        &mut ws,
        &mut theta,
        samples,
        law,
        lr,
        steps,
        |_, th, _| {
            out.push(gnet.network().ambient_weights(th));
        },
    )?;
    Ok(out)
}

/// max_{g,t} ‖ρ(g)A_t − A_t^(g)‖ / (‖A_t‖·t) with A_t^(g) the trajectory from ρ(g)A_0, and
/// the case's budget.
fn commutation_error(
    case: &Case,
    theta0: &[f64],
    lr: f64,
    steps: usize,
    seed: u64,
) -> Result<(f64, Budget)> {
    let gnet = &case.gnet;
    let samples = case.samples();
    let law = Augmentation::Full.law(gnet.group())?;
    let base = trajectory(gnet, theta0, &samples, &law, lr, steps)?;
    let mut err: f64 = 0.0;
    for g in 1..gnet.group().order() {
        let moved = trajectory(
            gnet,
            &gnet.lift_theta(g, theta0)?,
            &samples,
            &law,
            lr,
            steps,
        )?;
        for (t, (a, b)) in base.iter().zip(&moved).enumerate() {
            let step_err = roundoff::relative(layers_dist(&gnet.lift(g, a), b), layers_norm(a));
            err = worst(err, step_err / (t + 1) as f64);
        }
    }
    // κ: the largest per-step relative change of A_t (divided by t) under per-step
    // perturbations; A_t of all steps are concatenated with weights 1/(‖A_t‖·t).
    let weighted = |traj: &[Vec<Vec<f64>>]| -> Vec<f64> {
        traj.iter()
            .zip(&base)
            .enumerate()
            .flat_map(|(t, (a, b))| {
                let w = 1.0 / (layers_norm(b) * (t + 1) as f64);
                a.concat().into_iter().map(move |v| v * w)
            })
            .collect()
    };
    let base_w = weighted(&base);
    let net = gnet.network();
    let condition = roundoff::trajectory_sensitivity(1.0, &base_w, seed, |rng| {
        let mut traj = Vec::with_capacity(steps);
        let mut theta = theta0.to_vec();
        for _ in 0..steps {
            theta = perturbed_descent(gnet, &theta, &samples, &law, lr, 1, rng)?;
            traj.push(net.ambient_weights(&theta));
        }
        Ok(weighted(&traj))
    })?;
    let work = roundoff::step_work(net, case.n, gnet.group().order());
    Ok((err, Budget { work, condition }))
}

/// Step size and number of steps drawn from the seed: lr ∈ {0.01, 0.1, 0.5}, k ∈ 5..=10.
fn schedule(seed: u64) -> (f64, usize) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let lr = [0.01, 0.1, 0.5][rng.random_range(0..3)];
    (lr, rng.random_range(5..=10))
}

fn run(case: &Case, init: &InitLaw, seed: u64) -> Result<(f64, Budget, String)> {
    let theta0 = init_theta(&case.gnet, init, &mut ChaCha8Rng::seed_from_u64(seed))?;
    let (lr, steps) = schedule(sub_seed(seed, 9));
    let (err, budget) = commutation_error(case, &theta0, lr, steps, sub_seed(seed, 11))?;
    Ok((
        err,
        budget,
        format!(
            "{}, lr {lr}, {steps} steps ({})",
            case.description,
            budget.describe()
        ),
    ))
}

/// S4 on a random image case (invariant support, one-hot) and a random vector case,
/// Gaussian initialisation.
pub fn check(seed: u64) -> Result<Measurement> {
    let gauss = InitLaw::Gaussian { scale: 1.0 };
    let (image, vector) = image_and_vector_cases(seed)?;
    let mut parts = Vec::new();
    for (case, stream) in [(&image, 2), (&vector, 3)] {
        let (error, budget, case) = run(case, &gauss, sub_seed(seed, stream))?;
        parts.push(Measurement {
            statement: "S4",
            case,
            error,
            tolerance: budget.tolerance(),
            degenerate: 0,
        });
    }
    Ok(Measurement::worst_of(parts).expect("two parts"))
}

/// Controls: (H4) the non-invariant plus-corner support with symmetric initialisation
/// (A_0 ∈ 𝓛_0, so ρ(g)A_0 ∈ 𝓛, but the trajectories leave 𝓛_0); (H5) a random normalised
/// basis on an invariant support; (H7, deterministic form) full-batch descent on the risk
/// weighted by a non-uniform law on G ([`weighted_law_control`]).
pub fn controls(seed: u64) -> Result<Vec<Control>> {
    let corner = smooth_image_case(sub_seed(seed, 0), &Filters::OneHot(Support::plus_corner()))?;
    let (e1, b1, d1) = run(
        &corner,
        &InitLaw::Symmetric { scale: 1.0 },
        sub_seed(seed, 2),
    )?;
    let skew = smooth_image_case(sub_seed(seed, 0), &Filters::NonOrthonormal)?;
    let (e2, b2, d2) = run(&skew, &InitLaw::Gaussian { scale: 1.0 }, sub_seed(seed, 2))?;
    Ok(vec![
        Control {
            statement: "S4",
            dropped: "H4",
            case: format!("{d1}, symmetric init"),
            error: e1,
            threshold: roundoff::control_threshold(b1.tolerance()),
        },
        Control {
            statement: "S4",
            dropped: "H5",
            case: d2,
            error: e2,
            threshold: roundoff::control_threshold(b2.tolerance()),
        },
        weighted_law_control(seed)?,
    ])
}

/// The H7 control's error per step must exceed this. A non-uniform law p on G makes the
/// step of ρ(g)A differ from ρ(g) times the step of A by lr·Σ_h (p_{g⁻¹h} − p_h)·ρ(h)∇R(…),
/// O(lr·‖∇R‖) ≳ 1e-4 relative (as for H4 and H5); 1e-6 is 10⁶ above the statement's
/// tolerance (`TOLERANCE`, 1e-12 per step).
pub const H7_THRESHOLD: f64 = 1e-6;

/// H7 in the deterministic form S4 needs: the descent runs on R_p(A) = Σ_h p_h R_h(A) with
/// weights p = (0.7, 0.3/(|G|−1), …) on the image case's group (C4 or D4), invariant
/// support, Gaussian init. Everything else as in [`check`].
pub fn weighted_law_control(seed: u64) -> Result<Control> {
    let case = smooth_image_case(sub_seed(seed, 0), &Filters::InvariantSupport)?;
    let gnet = &case.gnet;
    let order = gnet.group().order();
    let mut weights = vec![0.3 / (order - 1) as f64; order];
    weights[0] = 0.7;
    let law = Augmentation::Weighted(weights).law(gnet.group())?;
    let s = sub_seed(seed, 2);
    let theta0 = init_theta(
        gnet,
        &InitLaw::Gaussian { scale: 1.0 },
        &mut ChaCha8Rng::seed_from_u64(s),
    )?;
    let (lr, steps) = schedule(sub_seed(s, 9));
    let samples = case.samples();
    let base = trajectory(gnet, &theta0, &samples, &law, lr, steps)?;
    let mut err: f64 = 0.0;
    for g in 1..order {
        let moved = trajectory(
            gnet,
            &gnet.lift_theta(g, &theta0)?,
            &samples,
            &law,
            lr,
            steps,
        )?;
        for (t, (a, b)) in base.iter().zip(&moved).enumerate() {
            err = worst(
                err,
                layers_dist(&gnet.lift(g, a), b) / (layers_norm(a) * (t + 1) as f64),
            );
        }
    }
    Ok(Control {
        statement: "S4",
        dropped: "H7",
        case: format!(
            "{}, lr {lr}, {steps} steps, augmentation weights (0.7, {:.3}, …) → error per \
             step {err:.3e}",
            case.description,
            0.3 / (order - 1) as f64
        ),
        error: err,
        threshold: H7_THRESHOLD,
    })
}
