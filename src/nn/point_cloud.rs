//! A small network on point clouds in R³ and its group actions.
//!
//! Input: N ordered points, flattened as [x0, y0, z0, x1, …] ∈ (R³)^N; output: a vector in
//! R³. Architecture: dense(W) → tanh → dense(W) → tanh → dense(3), every dense layer with the
//! full parametrisation (𝓛 = H, invariant under every lifted action, H4; one-hot basis, H5).
//! A rotation R acts on the input by rotating every point (trivial(N) ⊗ R, no permutation:
//! the points are ordered) and on the output by R.
//!
//! H1/H2 need the hidden spaces to carry representations that commute with tanh, i.e.
//! permutation representations:
//! - for a finite G ⊂ SO(3) ([`point_cloud_group_network`]) each hidden space carries W/|G|
//!   copies of the regular representation of G (as S15 does for C_n on R²), so members
//!   ρ(g)A differ in every layer;
//! - for SO(3) itself (no finite regular representation) the hidden spaces carry the trivial
//!   representation: the lifted action R·(A₁, A₂, A₃) = (A₁(I_N ⊗ Rᵀ), A₂, R A₃) is an
//!   isometry of the full parameter space, so i.i.d. Gaussian weights are an invariant law
//!   (H6) and Haar augmentation makes the law of every trained member invariant.

use super::{GroupNetwork, LayerSpec, Network};
use crate::group::Rotations3d;
use crate::rep::Rep;
use crate::{Error, Result};

/// The network dense(`width`) → tanh → dense(`width`) → tanh → dense(3) on `points`
/// points of R³ (see the module docs). Errors for 0 points or width 0.
pub fn point_cloud_network(points: usize, width: usize) -> Result<Network> {
    if points == 0 || width == 0 {
        return Err(Error::Invalid(format!(
            "a point-cloud network needs ≥ 1 point and width ≥ 1, got {points} and {width}"
        )));
    }
    Network::new(
        &[3 * points],
        vec![
            LayerSpec::dense_full(width),
            LayerSpec::Tanh,
            LayerSpec::dense_full(width),
            LayerSpec::Tanh,
            LayerSpec::dense_full(3),
        ],
    )
}

/// [`point_cloud_network`] under a finite G ⊂ SO(3): input (R³)^points rotated point by
/// point, hidden spaces `width`/|G| copies of the regular representation of G, output R³.
/// Errors if |G| does not divide `width` (or as [`Rep::rotations_r3`]).
pub fn point_cloud_group_network(
    kind: Rotations3d,
    points: usize,
    width: usize,
) -> Result<GroupNetwork> {
    let order = kind.order();
    if order == 0 || !width.is_multiple_of(order) {
        return Err(Error::Invalid(format!(
            "the hidden width {width} is not a multiple of |{}| = {order}",
            kind.name()
        )));
    }
    let net = point_cloud_network(points, width)?;
    let input = Rep::point_cloud_r3(kind, points)?;
    let output = Rep::rotations_r3(kind)?;
    let hidden = Rep::regular(input.group().clone()).feature_map(width / order);
    GroupNetwork::new(
        net,
        vec![
            input,
            hidden.clone(),
            hidden.clone(),
            hidden.clone(),
            hidden,
            output,
        ],
    )
}
