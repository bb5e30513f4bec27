//! Analysis of an architecture under a group: the invariant core 𝓛_0 = ∩_g ρ(g)𝓛 and the
//! hypotheses H4 (invariance), NOF compatibility and H5 (orthonormal parametrisation).

use super::lift::GroupNetwork;
use super::Parametrisation;
use crate::linalg;
use faer::Mat;

/// Singular values below this count as zero when spans are intersected: the bases involved
/// are exact (entries 0, ±1, or unit vectors built in f64), so genuine directions have
/// singular values O(1) and round-off stays near 1e-15.
pub const SPAN_TOL: f64 = 1e-9;

/// The basis columns {B_k} of a parametrisation as a D×d matrix.
pub fn basis_matrix(p: &Parametrisation) -> Mat<f64> {
    let cols = p.basis_matrix();
    Mat::from_fn(p.ambient_dim(), cols.len(), |i, j| cols[j][i])
}

/// Orthonormal columns spanning the direction T𝓛 of one linear map's unit.
pub fn direction_basis(p: &Parametrisation) -> Mat<f64> {
    linalg::orthonormal_basis(&basis_matrix(p), SPAN_TOL)
}

/// Orthonormal columns spanning the direction of the invariant core 𝓛_0 = ∩_g ρ(g)𝓛 of
/// linear map `map` (in its unit's ambient space): {v ∈ T𝓛 : ρ(g)v ∈ T𝓛 for all g}.
pub fn invariant_core(gnet: &GroupNetwork, map: usize) -> Mat<f64> {
    let t = direction_basis(gnet.map_params()[map]);
    let mut core = t.clone();
    for g in 1..gnet.group().order() {
        if core.ncols() == 0 {
            break;
        }
        let moved = gnet.unit_action(map, g) * &t;
        core = linalg::intersection_basis(&core, &moved, SPAN_TOL);
    }
    core
}
