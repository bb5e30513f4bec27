//! The finite rotation groups of R³ acting on vectors and on point clouds in R³.

use super::Rep;
use crate::group::Rotations3d;
use crate::Result;
use std::sync::Arc;

impl Rep {
    /// G ⊂ SO(3) acting on R³ by its rotation matrices (the defining representation of C_n,
    /// D_n, T, O or I, built as [`Rotations3d::build`] describes: exact in Q(√5) for T, O, I,
    /// one rounding per entry in f64), validated to [`super::REP_TOL`]. Errors for n = 0 or
    /// n > 2520.
    pub fn rotations_r3(kind: Rotations3d) -> Result<Rep> {
        let (group, mats) = kind.build()?;
        Rep::from_matrices(Arc::new(group), mats.iter().map(|m| m.to_vec()).collect())
    }

    /// G ⊂ SO(3) rotating each of `points` ordered points of R³: (R³)^points with layout
    /// [x0, y0, z0, x1, …], i.e. trivial(points) ⊗ rotations_r3 (the points are not
    /// permuted). Errors as [`Rep::rotations_r3`].
    pub fn point_cloud_r3(kind: Rotations3d, points: usize) -> Result<Rep> {
        let rot = Rep::rotations_r3(kind)?;
        Rep::trivial(rot.group().clone(), points).tensor(&rot)
    }
}
