//! S12 — the augmented gradient on E (NOF): for A ∈ E and a compatible 𝓛,
//! Π_𝓛∇R_aug(A) = Π_E∇R(A) = Π_𝓛Π_G∇R(A).
//!
//! Π_𝓛∇R_aug(A) is the basis expansion B∇_θR_aug of the θ-gradient (orthonormal bases,
//! no offsets); ∇R(A) is the full ambient gradient, taken on [`Network::ambient_network`];
//! Π_E, Π_𝓛 and Π_G act unit by unit (see [`super::s11_e_invariant`]).
//!
//! [`Network::ambient_network`]: crate::nn::Network::ambient_network

use super::common::{case_budget, e_cases, smooth_image_case};
use super::roundoff::{self, Budget};
use super::s11_e_invariant::{project, UnitSpaces};
use super::{Control, Measurement};
use crate::autodiff::Tape;
use crate::nn::Support;
use crate::train::cases::{layers_dist, layers_norm, sub_seed, worst, Case, Filters};
use crate::train::{augmented_loss_and_grad, init_theta, Augmentation, InitLaw, Workspace};
use crate::Result;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// The tolerance of a case is its round-off budget ([`roundoff`]): the three sides are a
/// sum of |G| gradients at transformed inputs, and one gradient through the ambient network
/// followed by SVD-based projectors (accurate to a few u), so W = [`roundoff::step_work`]
/// plus the projectors' sums (≤ d² per unit, d = k² ≤ 25, counted as 2d) and κ is the
/// augmented gradient's measured relative sensitivity to θ times the layer norms'
/// amplification.
///
/// **Degenerate draws.** The error is relative to the larger of ‖Π_𝓛∇R_aug‖ and the
/// unprojected ‖∇R‖. When both vanish (every ReLU dead at A, so the risk is locally
/// constant) all three sides are exactly 0 and the draw is counted as degenerate with error 0
/// ([`roundoff::relative`]); before, 0/0 gave NaN and a false alarm.
///
/// A control must exceed [`roundoff::CONTROL_FACTOR`] × its case's tolerance: without
/// compatibility Π_𝓛Π_G ≠ Π_E, and off E ∇R_aug(A) ≠ Π_G∇R(A), both O(‖∇R‖).
/// Where A is drawn.
enum Point {
    /// A random point of E.
    InE,
    /// Gaussian coefficients (not in E).
    Gaussian,
}

/// One draw of S12: the error, its budget, and whether the draw was degenerate.
struct Draw {
    error: f64,
    budget: Budget,
    degenerate: bool,
}

/// max(‖Π_𝓛∇R_aug − Π_E∇R‖, ‖Π_𝓛∇R_aug − Π_𝓛Π_G∇R‖) / max(‖Π_𝓛∇R_aug‖, ‖∇R‖) at one A.
fn gradient_on_e_error(case: &Case, point: Point, seed: u64) -> Result<Draw> {
    let gnet = &case.gnet;
    let net = gnet.network();
    let spaces = UnitSpaces::new(gnet);
    let theta = match point {
        Point::InE => spaces.random_point(gnet, seed)?,
        Point::Gaussian => init_theta(
            gnet,
            &InitLaw::Gaussian { scale: 1.0 },
            &mut ChaCha8Rng::seed_from_u64(seed),
        )?,
    };
    let samples = case.samples();
    // Π_𝓛∇R_aug(A) = B∇_θR_aug for an orthonormal basis.
    let law = Augmentation::Full.law(gnet.group())?;
    let mut ws = Workspace::<f64>::new(gnet);
    let mut grad = vec![0.0; theta.len()];
    augmented_loss_and_grad(gnet, &mut ws, &theta, &samples, &law, &mut grad)?;
    let lhs = net.ambient_weights(&grad);
    // ∇R(A) in H, on the ambient network (θ_amb = the concatenated ambient weights).
    let a = net.ambient_weights(&theta);
    let ambient = net.ambient_network();
    let theta_amb: Vec<f64> = a.iter().flatten().copied().collect();
    let mut grad_amb = vec![0.0; theta_amb.len()];
    ambient.loss_and_grad(
        &mut Tape::new(),
        &theta_amb,
        samples.x,
        samples.n,
        samples.target,
        &mut grad_amb,
    )?;
    let mut offset = 0;
    let mut via_e = Vec::with_capacity(a.len());
    let mut via_lg = Vec::with_capacity(a.len());
    for (map, ai) in a.iter().enumerate() {
        let g_map = &grad_amb[offset..offset + ai.len()];
        offset += ai.len();
        let (q_e, q_t, pg) = (
            &spaces.e[map],
            &spaces.direction[map],
            &spaces.reynolds[map],
        );
        let d = pg.nrows();
        let mut e_part = Vec::with_capacity(ai.len());
        let mut lg_part = Vec::with_capacity(ai.len());
        for unit in g_map.chunks(d) {
            e_part.extend(project(q_e, unit));
            let sym: Vec<f64> = (0..d)
                .map(|i| (0..d).map(|j| pg[(i, j)] * unit[j]).sum())
                .collect();
            lg_part.extend(project(q_t, &sym));
        }
        via_e.push(e_part);
        via_lg.push(lg_part);
    }
    let full = grad_amb.iter().map(|v| v * v).sum::<f64>().sqrt();
    let scale = layers_norm(&lhs).max(full);
    let error = worst(
        roundoff::relative(layers_dist(&lhs, &via_e), scale),
        roundoff::relative(layers_dist(&lhs, &via_lg), scale),
    );
    let d = spaces.reynolds.iter().map(|p| p.nrows()).max().unwrap_or(1);
    let budget = case_budget(
        case,
        &theta,
        scale,
        seed ^ 0x5e75,
        roundoff::step_work(net, case.n, gnet.group().order()) + (2 * d) as f64,
        |th| {
            let mut ws = Workspace::<f64>::new(gnet);
            let mut grad = vec![0.0; th.len()];
            augmented_loss_and_grad(gnet, &mut ws, th, &samples, &law, &mut grad)?;
            Ok(net.ambient_weights(&grad).concat())
        },
    )?;
    Ok(Draw {
        error,
        budget,
        degenerate: scale == 0.0,
    })
}

/// S12 at random points of E on a random image case with an invariant support, the same
/// with the compatible but not invariant direction of S5(v), and a random vector case.
pub fn check(seed: u64) -> Result<Measurement> {
    let cases = e_cases(seed)?;
    let mut parts = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        let draw = gradient_on_e_error(case, Point::InE, sub_seed(seed, 10 + i as u64))?;
        let note = if draw.degenerate {
            ", degenerate: ∇R = 0"
        } else {
            ""
        };
        parts.push(Measurement {
            statement: "S12",
            case: format!("{} ({}{note})", case.description, draw.budget.describe()),
            error: draw.error,
            tolerance: draw.budget.tolerance(),
            degenerate: usize::from(draw.degenerate),
        });
    }
    Ok(Measurement::worst_of(parts).expect("three parts"))
}

/// Controls: an incompatible support (plus-corner) at A ∈ E, and an invariant support at
/// A ∉ E (Gaussian coefficients).
pub fn controls(seed: u64) -> Result<Vec<Control>> {
    let corner = smooth_image_case(sub_seed(seed, 0), &Filters::OneHot(Support::plus_corner()))?;
    let plain = smooth_image_case(sub_seed(seed, 0), &Filters::InvariantSupport)?;
    let s = sub_seed(seed, 10);
    let control = |dropped: &'static str, case: String, draw: Draw| Control {
        statement: "S12",
        dropped,
        case: format!("{case} ({})", draw.budget.describe()),
        error: draw.error,
        threshold: roundoff::control_threshold(draw.budget.tolerance()),
    };
    Ok(vec![
        control(
            "compatibility",
            corner.description.clone(),
            gradient_on_e_error(&corner, Point::InE, s)?,
        ),
        control(
            "A ∈ E",
            format!("{}, Gaussian A", plain.description),
            gradient_on_e_error(&plain, Point::Gaussian, s)?,
        ),
    ])
}
