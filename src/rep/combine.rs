//! New representations from old: direct sums ρ_A ⊕ ρ_B, tensor (Kronecker) products
//! ρ_A ⊗ ρ_B, feature maps (channels × spatial) and restrictions to subgroups.
//!
//! These are representations by construction when their inputs are, so they are not
//! re-validated. Permutation inputs give permutation outputs.

use super::{Action, Rep};
use crate::group::Subgroup;
use crate::{Error, Result};

impl Rep {
    /// The row-major matrices of every element (dense, also for permutations).
    fn dense_matrices(&self) -> Vec<Vec<f64>> {
        (0..self.group().order())
            .map(|g| crate::linalg::to_row_major(&self.matrix(g)))
            .collect()
    }

    fn same_group(&self, other: &Rep, what: &str) -> Result<()> {
        if self.group().same_structure(other.group()) {
            Ok(())
        } else {
            Err(Error::Invalid(format!(
                "{what} of representations of different groups ({} and {})",
                self.group().name(),
                other.group().name()
            )))
        }
    }

    /// A representation of dimension `d` built element by element from `self` and `other`
    /// (same group): `perm(π_A(g), π_B(g))` when both act by permutations, else
    /// `matrix(A(g), B(g))` on their row-major matrices.
    fn combine(
        &self,
        other: &Rep,
        what: &str,
        d: usize,
        perm: impl Fn(&[usize], &[usize]) -> Vec<usize>,
        matrix: impl Fn(&[f64], &[f64]) -> Vec<f64>,
    ) -> Result<Rep> {
        self.same_group(other, what)?;
        let n = self.group().order();
        let action = match (self.action(), other.action()) {
            (Action::Permutation(pa), Action::Permutation(pb)) => {
                Action::Permutation((0..n).map(|g| perm(&pa[g], &pb[g])).collect())
            }
            _ => {
                let (ma, mb) = (self.dense_matrices(), other.dense_matrices());
                Action::Matrix((0..n).map(|g| matrix(&ma[g], &mb[g])).collect())
            }
        };
        Ok(Rep::new_unchecked(self.group().clone(), d, action))
    }

    /// The direct sum ρ_A ⊕ ρ_B on R^(a+b) (block diagonal, `self` first). Errors if the
    /// groups differ.
    pub fn direct_sum(&self, other: &Rep) -> Result<Rep> {
        let (a, b) = (self.dim(), other.dim());
        let d = a + b;
        self.combine(
            other,
            "direct sum",
            d,
            |pa, pb| {
                pa.iter()
                    .copied()
                    .chain(pb.iter().map(|&j| a + j))
                    .collect()
            },
            |ma, mb| {
                let mut m = vec![0.0; d * d];
                for i in 0..a {
                    m[i * d..i * d + a].copy_from_slice(&ma[i * a..(i + 1) * a]);
                }
                for i in 0..b {
                    let row = (a + i) * d + a;
                    m[row..row + b].copy_from_slice(&mb[i * b..(i + 1) * b]);
                }
                m
            },
        )
    }

    /// The tensor product ρ_A ⊗ ρ_B on R^(a·b): the Kronecker product, with basis vector
    /// (i, j) at index `i*b + j`. Errors if the groups differ.
    pub fn tensor(&self, other: &Rep) -> Result<Rep> {
        let (a, b) = (self.dim(), other.dim());
        let d = a * b;
        self.combine(
            other,
            "tensor product",
            d,
            |pa, pb| {
                pa.iter()
                    .flat_map(|&i| pb.iter().map(move |&j| i * b + j))
                    .collect()
            },
            |ma, mb| {
                let mut m = vec![0.0; d * d];
                for (i1, j1) in (0..a).flat_map(|i1| (0..a).map(move |j1| (i1, j1))) {
                    for (i2, j2) in (0..b).flat_map(|i2| (0..b).map(move |j2| (i2, j2))) {
                        m[(i1 * b + i2) * d + j1 * b + j2] = ma[i1 * a + j1] * mb[i2 * b + j2];
                    }
                }
                m
            },
        )
    }

    /// Feature maps with `channels` channels over this (spatial) representation: the same
    /// action on every channel, channels untouched; index `c*d + p` (C×H×W row-major).
    /// Equals trivial(channels) ⊗ ρ.
    pub fn feature_map(&self, channels: usize) -> Rep {
        Rep::trivial(self.group().clone(), channels)
            .tensor(self)
            .expect("same group")
    }

    /// The restriction ρ|_H to a subgroup: H's element i acts as `embedding[i]`.
    ///
    /// # Panics
    /// If `sub.embedding` is not a homomorphism into this representation's group
    /// (a [`Subgroup`] from [`crate::group::Group::subgroup`] always is).
    pub fn restrict(&self, sub: &Subgroup) -> Rep {
        let parent = self.group();
        let h = &sub.group;
        let emb = &sub.embedding;
        assert!(
            emb.len() == h.order()
                && emb.iter().all(|&a| a < parent.order())
                && (0..h.order()).all(|a| {
                    (0..h.order()).all(|b| emb[h.mul(a, b)] == parent.mul(emb[a], emb[b]))
                }),
            "restrict: the embedding of {} is not a homomorphism into {}",
            h.name(),
            parent.name()
        );
        let action = match self.action() {
            Action::Permutation(src) => {
                Action::Permutation(emb.iter().map(|&g| src[g].clone()).collect())
            }
            Action::Matrix(mats) => Action::Matrix(emb.iter().map(|&g| mats[g].clone()).collect()),
        };
        Rep::new_unchecked(std::sync::Arc::new(h.clone()), self.dim(), action)
    }
}
