//! Orthogonal representations ρ: G → O(d) of finite groups.
//!
//! A [`Rep`] is either a **permutation representation**, stored per element as an index map
//! `src[g][j] = g⁻¹·j` and applied as a gather `(ρ(g)x)[j] = x[src[g][j]]` (never as a dense
//! matrix), or an **orthogonal matrix representation**, stored per element as a row-major
//! d×d matrix. Both satisfy ρ(gh) = ρ(g)ρ(h) (left actions, see `docs/ARCHITECTURE.md`).
//!
//! Built-ins are in [`builtin`], sums/products/restrictions in [`combine`], and the Reynolds
//! projector, invariant dimensions and Hom_G bases in [`projector`]; the finite rotation
//! groups of R³ on vectors and point clouds in [`rotations3d`].

pub mod builtin;
pub mod combine;
pub mod projector;
pub mod rotations3d;

pub use builtin::GridGroup;
pub use projector::{hom_basis, invariant_dim_by_character, invariant_dim_by_nullspace, reynolds};

use crate::group::constructors::is_permutation;
use crate::group::Group;
use crate::{Error, Result, Scalar};
use faer::Mat;
use std::sync::Arc;

/// Entry-wise tolerance of [`Rep::validate`] for matrix representations.
///
/// Entries of orthogonal matrices lie in [−1, 1], so one entry of ρ(g)ρ(h) or ρ(g)ᵀρ(g)
/// carries a round-off of at most d·ε ≈ d·2.2e-16 on top of the ~ε error of the stored
/// entries (cos/sin values): below 1e-10 for every d < 4·10⁵. The failures the check must
/// catch (a rotation the wrong way, a non-orthogonal shear, an interpolated rotation) are
/// O(0.1..1).
pub const REP_TOL: f64 = 1e-10;

/// How the group acts (see the module docs).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Action {
    /// `src[g][j] = g⁻¹·j`; (ρ(g)x)[j] = x[src[g][j]].
    Permutation(Vec<Vec<usize>>),
    /// Row-major d×d orthogonal matrices, one per element.
    Matrix(Vec<Vec<f64>>),
}

/// An orthogonal representation ρ of a finite group on R^d (ρ_X, ρ_Y, ρ_i in the paper).
#[derive(Debug, Clone, PartialEq)]
pub struct Rep {
    group: Arc<Group>,
    dim: usize,
    action: Action,
}

impl Rep {
    /// Builds and validates a permutation representation: `src[g][j] = g⁻¹·j`, one index map
    /// of length d per element, so that `(ρ(g)x)[j] = x[src[g][j]]`.
    ///
    /// Errors with [`Error::NotARepresentation`] if there is not one map per element, the maps
    /// are not permutations of one size, or ρ(gh) ≠ ρ(g)ρ(h) (naming g and h).
    pub fn from_permutations(group: Arc<Group>, src: Vec<Vec<usize>>) -> Result<Rep> {
        if src.len() != group.order() {
            return Err(Error::NotARepresentation(format!(
                "{} index maps for {} of order {}",
                src.len(),
                group.name(),
                group.order()
            )));
        }
        let dim = src.first().map_or(0, Vec::len);
        for (g, p) in src.iter().enumerate() {
            if p.len() != dim || !is_permutation(p) {
                return Err(Error::NotARepresentation(format!(
                    "the map of {} is not a permutation of 0..{dim}",
                    group.describe(g)
                )));
            }
        }
        let rep = Rep::new_unchecked(group, dim, Action::Permutation(src));
        rep.validate()?;
        Ok(rep)
    }

    /// Builds and validates an orthogonal matrix representation from one row-major d×d
    /// matrix per element.
    ///
    /// Errors with [`Error::NotARepresentation`] if the sizes are wrong, an entry is not
    /// finite, a matrix is not orthogonal, ρ(e) ≠ I, or ρ(gh) ≠ ρ(g)ρ(h) (naming g and h),
    /// all to [`REP_TOL`].
    pub fn from_matrices(group: Arc<Group>, mats: Vec<Vec<f64>>) -> Result<Rep> {
        if mats.len() != group.order() {
            return Err(Error::NotARepresentation(format!(
                "{} matrices for {} of order {}",
                mats.len(),
                group.name(),
                group.order()
            )));
        }
        let len = mats.first().map_or(0, Vec::len);
        let dim = (len as f64).sqrt().round() as usize;
        for (g, m) in mats.iter().enumerate() {
            if m.len() != dim * dim || m.len() != len {
                return Err(Error::NotARepresentation(format!(
                    "the matrix of {} has {} entries; expected {len} = d² for one d",
                    group.describe(g),
                    m.len()
                )));
            }
            if m.iter().any(|x| !x.is_finite()) {
                return Err(Error::NotARepresentation(format!(
                    "the matrix of {} has a non-finite entry",
                    group.describe(g)
                )));
            }
        }
        let rep = Rep::new_unchecked(group, dim, Action::Matrix(mats));
        rep.validate()?;
        Ok(rep)
    }

    /// Internal constructor for actions that are representations by construction.
    pub(crate) fn new_unchecked(group: Arc<Group>, dim: usize, action: Action) -> Rep {
        Rep { group, dim, action }
    }

    pub(crate) fn action(&self) -> &Action {
        &self.action
    }

    /// Checks that ρ is an orthogonal representation (H1): ρ(e) = I, ρ(g)ᵀρ(g) = I,
    /// ρ(g)ᵀ = ρ(g⁻¹) and ρ(gs) = ρ(g)ρ(s) for every g and every s of a generating set S.
    ///
    /// The last check is equivalent to ρ(gh) = ρ(g)ρ(h) for all g, h: by induction on a word
    /// w = w's in S, ρ(g w' s) = ρ(g w')ρ(s) = ρ(g)ρ(w')ρ(s) = ρ(g)ρ(w' s). The error names
    /// the failing pair (g, h).
    pub fn validate(&self) -> Result<()> {
        let group = &self.group;
        let gens = group.generating_set();
        let bad = |what: &str, g: usize, h: usize| {
            Error::NotARepresentation(format!(
                "{what} for g = {}, h = {} in {}",
                group.describe(g),
                group.describe(h),
                group.name()
            ))
        };
        match &self.action {
            Action::Permutation(src) => {
                if src[0].iter().enumerate().any(|(j, &i)| i != j) {
                    return Err(bad("ρ(e) ≠ I", 0, 0));
                }
                // ρ(g)ρ(h)x gathers x at src[h][src[g][j]].
                for g in 0..group.order() {
                    for &h in &gens {
                        let gh = group.mul(g, h);
                        if (0..self.dim).any(|j| src[gh][j] != src[h][src[g][j]]) {
                            return Err(bad("ρ(gh) ≠ ρ(g)ρ(h)", g, h));
                        }
                    }
                }
            }
            Action::Matrix(mats) => {
                let m: Vec<Mat<f64>> = mats
                    .iter()
                    .map(|a| crate::linalg::from_row_major(self.dim, self.dim, a))
                    .collect();
                let eye = Mat::<f64>::identity(self.dim, self.dim);
                if crate::linalg::max_abs(&(&m[0] - &eye)) > REP_TOL {
                    return Err(bad("ρ(e) ≠ I", 0, 0));
                }
                for g in 0..group.order() {
                    let gt = m[g].transpose().to_owned();
                    if crate::linalg::max_abs(&(&gt * &m[g] - &eye)) > REP_TOL {
                        return Err(bad("ρ(g) is not orthogonal (ρ(g)ᵀρ(g) ≠ I)", g, g));
                    }
                    let gi = group.inv(g);
                    if crate::linalg::max_abs(&(&gt - &m[gi])) > REP_TOL {
                        return Err(bad("ρ(g)ᵀ ≠ ρ(g⁻¹) (h = g⁻¹)", g, gi));
                    }
                    for &h in &gens {
                        let gh = group.mul(g, h);
                        if crate::linalg::max_abs(&(&m[g] * &m[h] - &m[gh])) > REP_TOL {
                            return Err(bad("ρ(gh) ≠ ρ(g)ρ(h)", g, h));
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// The group G (shared).
    pub fn group(&self) -> &Arc<Group> {
        &self.group
    }

    /// The dimension d of the representation space R^d.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// True for a permutation representation (applied as a gather).
    pub fn is_permutation(&self) -> bool {
        matches!(self.action, Action::Permutation(_))
    }

    /// The index map `src[j] = g⁻¹·j` of element g, for permutation representations.
    pub fn permutation(&self, g: usize) -> Option<&[usize]> {
        match &self.action {
            Action::Permutation(src) => Some(&src[g]),
            Action::Matrix(_) => None,
        }
    }

    /// out = ρ(g)x: a gather for permutation representations, a matrix-vector product
    /// (accumulated in `T`) otherwise.
    ///
    /// # Panics
    /// If `x` or `out` does not have length d.
    pub fn apply<T: Scalar>(&self, g: usize, x: &[T], out: &mut [T]) {
        assert_eq!(x.len(), self.dim, "apply: input length ≠ dim");
        assert_eq!(out.len(), self.dim, "apply: output length ≠ dim");
        match &self.action {
            Action::Permutation(src) => {
                for (o, &s) in out.iter_mut().zip(&src[g]) {
                    *o = x[s];
                }
            }
            Action::Matrix(mats) => {
                for (o, row) in out.iter_mut().zip(mats[g].chunks(self.dim.max(1))) {
                    *o = row.iter().zip(x).map(|(&a, &v)| T::of(a) * v).sum();
                }
            }
        }
    }

    /// The dense matrix ρ(g) (for checks and analysis; a permutation matrix has
    /// `ρ(g)[j][src[g][j]] = 1`).
    pub fn matrix(&self, g: usize) -> Mat<f64> {
        match &self.action {
            Action::Permutation(src) => {
                let mut m = Mat::zeros(self.dim, self.dim);
                for (j, &s) in src[g].iter().enumerate() {
                    m[(j, s)] = 1.0;
                }
                m
            }
            Action::Matrix(mats) => crate::linalg::from_row_major(self.dim, self.dim, &mats[g]),
        }
    }

    /// The character χ(g) = tr ρ(g) (the number of fixed points for permutations).
    pub fn character(&self, g: usize) -> f64 {
        match &self.action {
            Action::Permutation(src) => {
                src[g].iter().enumerate().filter(|&(j, &s)| s == j).count() as f64
            }
            Action::Matrix(mats) => (0..self.dim).map(|i| mats[g][i * self.dim + i]).sum(),
        }
    }
}
