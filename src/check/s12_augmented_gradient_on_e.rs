//! S12 — the augmented gradient on E (NOF): for A ∈ E and a compatible 𝓛,
//! Π_𝓛∇R_aug(A) = Π_E∇R(A) = Π_𝓛Π_G∇R(A).
//!
//! Π_𝓛∇R_aug(A) is the basis expansion B∇_θR_aug of the θ-gradient (orthonormal bases,
//! no offsets); ∇R(A) is the full ambient gradient, taken on [`Network::ambient_network`];
//! Π_E, Π_𝓛 and Π_G act unit by unit (see [`super::s11_e_invariant`]).
//!
//! [`Network::ambient_network`]: crate::nn::Network::ambient_network

use super::common::{any_image_case, e_cases, worst_over};
use super::s11_e_invariant::{project, UnitSpaces};
use super::{Control, Measurement};
use crate::autodiff::Tape;
use crate::nn::Support;
use crate::train::cases::{layers_dist, layers_norm, sub_seed, Case, Filters};
use crate::train::{augmented_loss_and_grad, init_theta, Augmentation, InitLaw, Workspace};
use crate::Result;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Relative tolerance. The three sides are computed along different routes (a sum of |G|
/// gradients at transformed inputs; one gradient through the ambient network followed by
/// SVD-based projectors accurate to ~1e-15), each with round-off ≲ 1e-14 relative to ‖∇‖
/// (sums over ≤ 64 samples and ≤ 10² terms per layer); 1e-12 leaves a margin of 100.
pub const TOLERANCE: f64 = 1e-12;

/// A control's error must exceed this: without compatibility Π_𝓛Π_G ≠ Π_E, and off E
/// ∇R_aug(A) ≠ Π_G∇R(A); both differences are O(‖∇R‖), i.e. O(0.1..1) relative, so 1e-3
/// is nine orders above the tolerance.
pub const CONTROL_THRESHOLD: f64 = 1e-3;

/// Where A is drawn.
enum Point {
    /// A random point of E.
    InE,
    /// Gaussian coefficients (not in E).
    Gaussian,
}

/// max(‖Π_𝓛∇R_aug − Π_E∇R‖, ‖Π_𝓛∇R_aug − Π_𝓛Π_G∇R‖) / ‖Π_𝓛∇R_aug‖ at one A.
fn gradient_on_e_error(case: &Case, point: Point, seed: u64) -> Result<f64> {
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
    let scale = layers_norm(&lhs);
    Ok((layers_dist(&lhs, &via_e) / scale).max(layers_dist(&lhs, &via_lg) / scale))
}

/// S12 at random points of E on a random image case with an invariant support, the same
/// with the compatible but not invariant direction of S5(v), and a random vector case.
pub fn check(seed: u64) -> Result<Measurement> {
    let cases = e_cases(seed)?;
    let error = worst_over(&cases, seed, 10, |case, s| {
        gradient_on_e_error(case, Point::InE, s)
    })?;
    let [invariant, compatible, vector] = &cases;
    Ok(Measurement {
        statement: "S12",
        case: format!(
            "{}; {}; {}",
            invariant.description, compatible.description, vector.description
        ),
        error,
        tolerance: TOLERANCE,
    })
}

/// Controls: an incompatible support (plus-corner) at A ∈ E, and an invariant support at
/// A ∉ E (Gaussian coefficients).
pub fn controls(seed: u64) -> Result<Vec<Control>> {
    let corner = any_image_case(sub_seed(seed, 0), &Filters::OneHot(Support::plus_corner()))?;
    let plain = any_image_case(sub_seed(seed, 0), &Filters::InvariantSupport)?;
    let s = sub_seed(seed, 10);
    Ok(vec![
        Control {
            statement: "S12",
            dropped: "compatibility",
            case: corner.description.clone(),
            error: gradient_on_e_error(&corner, Point::InE, s)?,
            threshold: CONTROL_THRESHOLD,
        },
        Control {
            statement: "S12",
            dropped: "A ∈ E",
            case: format!("{}, Gaussian A", plain.description),
            error: gradient_on_e_error(&plain, Point::Gaussian, s)?,
            threshold: CONTROL_THRESHOLD,
        },
    ])
}
