//! S3 — gradient equivariance: ∇R_aug(ρ(g)A) = ρ(g)∇R_aug(A) for every g.
//!
//! Gradients are taken in θ and compared in the ambient space H as B∇_θ R_aug (the basis
//! expansion of the θ-gradient, [`Network::ambient_weights`] of it: the cases have no
//! offset). For an orthonormal basis (H5) B∇_θ = Π_{T𝓛}∇R_aug, which is equivariant when
//! 𝓛 is invariant (H4); for a non-orthonormal one B∇_θ = BBᵀ∇R_aug is not.
//!
//! [`Network::ambient_weights`]: crate::nn::Network::ambient_weights

use super::common::{any_image_case, image_and_vector_cases};
use super::{Control, Measurement};
use crate::train::cases::{layers_dist, layers_norm, sub_seed, worst, Case, Filters};
use crate::train::{augmented_loss_and_grad, init_theta, Augmentation, InitLaw, Workspace};
use crate::Result;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Relative tolerance. Each gradient entry is a sum over n·|G| ≤ 64 samples of products
/// through ≤ 9 layers (backward sums of ≤ 10² terms), so its round-off is ≲ 1e-13 relative
/// to ‖∇‖; the two sides differ only in the order of exactly permuted terms. The statement's
/// 1e-10 leaves three orders of margin for cancellation in small entries.
pub const TOLERANCE: f64 = 1e-10;

/// The control's error must exceed this: B Bᵀ for random unit columns differs from a
/// ρ-commuting operator by O(1), so the mismatch is O(0.1..1) relative; 1e-3 is seven
/// orders above the tolerance.
pub const CONTROL_THRESHOLD: f64 = 1e-3;

/// max_g ‖B∇_θR_aug(ρ(g)A) − ρ(g)B∇_θR_aug(A)‖ / ‖B∇_θR_aug(A)‖ on one case.
fn gradient_error(case: &Case, seed: u64) -> Result<f64> {
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
        err = worst(err, layers_dist(&lhs, &gnet.lift(g, &base)) / scale);
    }
    Ok(err)
}

/// S3 on a random image case (invariant support, one-hot basis) and a random vector case.
pub fn check(seed: u64) -> Result<Measurement> {
    let (image, vector) = image_and_vector_cases(seed)?;
    let error =
        gradient_error(&image, sub_seed(seed, 2))?.max(gradient_error(&vector, sub_seed(seed, 3))?);
    Ok(Measurement {
        statement: "S3",
        case: format!("{}; {}", image.description, vector.description),
        error,
        tolerance: TOLERANCE,
    })
}

/// Control: a random normalised, non-orthonormal basis on an invariant support (drops H5).
pub fn controls(seed: u64) -> Result<Vec<Control>> {
    let image = any_image_case(sub_seed(seed, 0), &Filters::NonOrthonormal)?;
    Ok(vec![Control {
        statement: "S3",
        dropped: "H5",
        case: image.description.clone(),
        error: gradient_error(&image, sub_seed(seed, 2))?,
        threshold: CONTROL_THRESHOLD,
    }])
}
