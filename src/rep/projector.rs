//! The Reynolds projector Π_G, dimensions of the invariant subspace, and bases of
//! equivariant maps Hom_G(V, W).

use super::{Action, Rep};
use crate::linalg::{self, RANK_TOL};
use crate::{Error, Result};
use faer::Mat;

/// Π_G = (1/|G|) Σ_g ρ(g) ↔ `reynolds`: the orthogonal projector onto the fixed vectors
/// {x : ρ(g)x = x ∀g} (H_G when ρ is the lifted action on layers).
///
/// ```
/// use eqens::group::Group;
/// use eqens::rep::{invariant_dim_by_character, reynolds, Rep};
/// use std::sync::Arc;
///
/// // On the regular representation of C3 the fixed vectors are the constants: Π_G is the
/// // matrix with every entry 1/3, a projector of rank 1.
/// let rep = Rep::regular(Arc::new(Group::cyclic(3)));
/// let p = reynolds(&rep);
/// for i in 0..3 {
///     for j in 0..3 {
///         assert!((p[(i, j)] - 1.0 / 3.0).abs() < 1e-15);
///     }
/// }
/// assert_eq!(invariant_dim_by_character(&rep), 1);
/// ```
pub fn reynolds(rep: &Rep) -> Mat<f64> {
    let d = rep.dim();
    let n = rep.group().order();
    let mut p = Mat::<f64>::zeros(d, d);
    match rep.action() {
        Action::Permutation(src) => {
            for map in src {
                for (j, &s) in map.iter().enumerate() {
                    p[(j, s)] += 1.0;
                }
            }
        }
        Action::Matrix(mats) => {
            for m in mats {
                for i in 0..d {
                    for j in 0..d {
                        p[(i, j)] += m[i * d + j];
                    }
                }
            }
        }
    }
    p / faer::Scale(n as f64)
}

/// dim of the invariants by characters: ⟨χ, 1⟩ = (1/|G|) Σ_g tr ρ(g), rounded.
///
/// # Panics
/// If the mean is not within 1e-6 of an integer. For a representation it is an integer;
/// each trace carries a round-off below d·ε, so 1e-6 leaves a margin of 10⁹ for d ≤ 10³
/// while still catching a table or character that is off by a visible amount.
pub fn invariant_dim_by_character(rep: &Rep) -> usize {
    let n = rep.group().order();
    let mean: f64 = (0..n).map(|g| rep.character(g)).sum::<f64>() / n as f64;
    let rounded = mean.round();
    assert!(
        (mean - rounded).abs() < 1e-6 && rounded >= 0.0,
        "⟨χ, 1⟩ = {mean} is not a non-negative integer: {:?} is not a representation",
        rep.group().name()
    );
    rounded as usize
}

/// dim of the invariants as the nullity of the stacked matrix [ρ(s) − I]_{s ∈ S} over a
/// generating set S (the group's [`generating_set`](crate::group::Group::generating_set)
/// when `generators` is `None`), via faer's SVD with threshold [`RANK_TOL`].
///
/// x is fixed by all of G iff it is fixed by every generator. Passing a set that does not
/// generate G yields the invariant dimension of the subgroup it generates.
///
/// # Panics
/// If a generator index is not an element of the group.
pub fn invariant_dim_by_nullspace(rep: &Rep, generators: Option<&[usize]>) -> usize {
    let owned;
    let gens = match generators {
        Some(g) => g,
        None => {
            owned = rep.group().generating_set();
            &owned
        }
    };
    let d = rep.dim();
    if gens.is_empty() {
        return d;
    }
    let mats: Vec<Mat<f64>> = gens.iter().map(|&s| rep.matrix(s)).collect();
    let stacked = Mat::from_fn(gens.len() * d, d, |row, j| {
        let (k, i) = (row / d, row % d);
        mats[k][(i, j)] - if i == j { 1.0 } else { 0.0 }
    });
    d - linalg::rank(&stacked, RANK_TOL)
}

/// An orthonormal (Frobenius) basis of Hom_G(V, W) = {A ∈ R^(dim W × dim V) :
/// ρ_W(g) A = A ρ_V(g) ∀g}.
///
/// A ↦ ρ_W(g) A ρ_V(g)ᵀ is W ⊗ V acting on row-major vec(A) (index i·dim V + j), and
/// V* ≅ V for real orthogonal ρ_V, so Hom_G(V, W) is the range of the Reynolds projector of
/// W ⊗ V; its orthonormal basis comes from an SVD of that projector, whose singular values
/// are exactly 1 or 0 (threshold [`RANK_TOL`]). Errors if V and W are representations of
/// different groups.
pub fn hom_basis(v: &Rep, w: &Rep) -> Result<Vec<Mat<f64>>> {
    if !v.group().same_structure(w.group()) {
        return Err(Error::Invalid(format!(
            "Hom_G(V, W) needs one group, got {} and {}",
            v.group().name(),
            w.group().name()
        )));
    }
    let (dv, dw) = (v.dim(), w.dim());
    let p = reynolds(&w.tensor(v)?);
    let q = linalg::orthonormal_basis(&p, RANK_TOL);
    Ok((0..q.ncols())
        .map(|k| Mat::from_fn(dw, dv, |i, j| q[(i * dv + j, k)]))
        .collect())
}
