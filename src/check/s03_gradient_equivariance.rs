//! S3 — gradient equivariance: ∇R_aug(ρ(g)A) = ρ(g)∇R_aug(A) for every g.
//!
//! Gradients are taken in θ and compared in the ambient space H as B∇_θ R_aug (the basis
//! expansion of the θ-gradient, [`Network::ambient_weights`] of it: the cases have no
//! offset). For an orthonormal basis (H5) B∇_θ = Π_{T𝓛}∇R_aug, which is equivariant when
//! 𝓛 is invariant (H4); for a non-orthonormal one B∇_θ = BBᵀ∇R_aug is not.
//!
//! [`Network::ambient_weights`]: crate::nn::Network::ambient_weights

use super::common::{case_budget, image_and_vector_cases, smooth_image_case};
use super::roundoff::{self, Budget};
use super::{Control, Measurement};
use crate::train::cases::{layers_dist, layers_norm, sub_seed, worst, Case, Filters};
use crate::train::{augmented_loss_and_grad, init_theta, Augmentation, InitLaw, Workspace};
use crate::Result;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// The tolerance of a case is its round-off budget ([`roundoff`]): each gradient entry is a
/// sum over n·|G| samples of products through the forward and backward passes, and the two
/// sides differ only in the order of exactly permuted terms, so W = [`roundoff::step_work`]
/// and κ is the gradient's measured relative sensitivity to θ times the layer norms'
/// amplification. A control must exceed [`roundoff::CONTROL_FACTOR`] × its case's
/// tolerance: B Bᵀ for random unit columns differs from a ρ-commuting operator by O(1).
/// max_g ‖B∇_θR_aug(ρ(g)A) − ρ(g)B∇_θR_aug(A)‖ / ‖B∇_θR_aug(A)‖ on one case, and its
/// budget. A vanishing gradient (every unit dead) compares in absolute terms
/// ([`roundoff::relative`]).
fn gradient_error(case: &Case, seed: u64) -> Result<(f64, Budget)> {
    let gnet = &case.gnet;
    let net = gnet.network();
    let samples = case.samples();
    let law = Augmentation::Full.law(gnet.group())?;
    let theta = init_theta(
        gnet,
        &InitLaw::Gaussian { scale: 1.0 },
        &mut ChaCha8Rng::seed_from_u64(seed),
    )?;
    let mut ws = Workspace::<f64>::new(gnet);
    let mut grad = vec![0.0; theta.len()];
    augmented_loss_and_grad(gnet, &mut ws, &theta, &samples, &law, &mut grad)?;
    let base = net.ambient_weights(&grad);
    let scale = layers_norm(&base);
    let mut err: f64 = 0.0;
    for g in 0..gnet.group().order() {
        let moved = gnet.lift_theta(g, &theta)?;
        augmented_loss_and_grad(gnet, &mut ws, &moved, &samples, &law, &mut grad)?;
        let lhs = net.ambient_weights(&grad);
        err = worst(
            err,
            roundoff::relative(layers_dist(&lhs, &gnet.lift(g, &base)), scale),
        );
    }
    let budget = case_budget(
        case,
        &theta,
        scale,
        seed ^ 0x5e75,
        roundoff::step_work(net, case.n, gnet.group().order()),
        |th| {
            let mut ws = Workspace::<f64>::new(gnet);
            let mut grad = vec![0.0; th.len()];
            augmented_loss_and_grad(gnet, &mut ws, th, &samples, &law, &mut grad)?;
            Ok(net.ambient_weights(&grad).concat())
        },
    )?;
    Ok((err, budget))
}

/// S3 on a random image case (invariant support, one-hot basis) and a random vector case.
pub fn check(seed: u64) -> Result<Measurement> {
    let (image, vector) = image_and_vector_cases(seed)?;
    let mut parts = Vec::new();
    for (case, stream) in [(&image, 2), (&vector, 3)] {
        let (error, budget) = gradient_error(case, sub_seed(seed, stream))?;
        parts.push(Measurement {
            statement: "S3",
            case: format!("{} ({})", case.description, budget.describe()),
            error,
            tolerance: budget.tolerance(),
            degenerate: 0,
        });
    }
    Ok(Measurement::worst_of(parts).expect("two parts"))
}

/// Control: a random normalised, non-orthonormal basis on an invariant support (drops H5).
pub fn controls(seed: u64) -> Result<Vec<Control>> {
    let image = smooth_image_case(sub_seed(seed, 0), &Filters::NonOrthonormal)?;
    let (error, budget) = gradient_error(&image, sub_seed(seed, 2))?;
    Ok(vec![Control {
        statement: "S3",
        dropped: "H5",
        case: format!("{} ({})", image.description, budget.describe()),
        error,
        threshold: roundoff::control_threshold(budget.tolerance()),
    }])
}
