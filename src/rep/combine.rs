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
        if std::sync::Arc::ptr_eq(self.group(), other.group()) || self.group() == other.group() {
            Ok(())
        } else {
            Err(Error::Invalid(format!(
                "{what} of representations of different groups ({} and {})",
                self.group().name(),
                other.group().name()
            )))
        }
    }

    /// The direct sum ρ_A ⊕ ρ_B on R^(a+b) (block diagonal, `self` first). Errors if the
    /// groups differ.
    pub fn direct_sum(&self, other: &Rep) -> Result<Rep> {
        self.same_group(other, "direct sum")?;
        let (a, b) = (self.dim(), other.dim());
        let n = self.group().order();
        let action = match (self.action(), other.action()) {
            (Action::Permutation(pa), Action::Permutation(pb)) => Action::Permutation(
                (0..n)
                    .map(|g| {
                        pa[g]
                            .iter()
                            .copied()
                            .chain(pb[g].iter().map(|&j| a + j))
                            .collect()
                    })
                    .collect(),
            ),
            _ => {
                let (ma, mb) = (self.dense_matrices(), other.dense_matrices());
                let d = a + b;
                Action::Matrix(
                    (0..n)
                        .map(|g| {
                            let mut m = vec![0.0; d * d];
                            for i in 0..a {
                                m[i * d..i * d + a].copy_from_slice(&ma[g][i * a..(i + 1) * a]);
                            }
                            for i in 0..b {
                                let row = (a + i) * d + a;
                                m[row..row + b].copy_from_slice(&mb[g][i * b..(i + 1) * b]);
                            }
                            m
                        })
                        .collect(),
                )
            }
        };
        Ok(Rep::new_unchecked(self.group().clone(), a + b, action))
    }

    /// The tensor product ρ_A ⊗ ρ_B on R^(a·b): the Kronecker product, with basis vector
    /// (i, j) at index `i*b + j`. Errors if the groups differ.
    pub fn tensor(&self, other: &Rep) -> Result<Rep> {
        self.same_group(other, "tensor product")?;
        let (a, b) = (self.dim(), other.dim());
        let n = self.group().order();
        let action = match (self.action(), other.action()) {
            (Action::Permutation(pa), Action::Permutation(pb)) => Action::Permutation(
                (0..n)
                    .map(|g| {
                        pa[g]
                            .iter()
                            .flat_map(|&i| pb[g].iter().map(move |&j| i * b + j))
                            .collect()
                    })
                    .collect(),
            ),
            _ => {
                let (ma, mb) = (self.dense_matrices(), other.dense_matrices());
                let d = a * b;
                Action::Matrix(
                    (0..n)
                        .map(|g| {
                            let mut m = vec![0.0; d * d];
                            for (i1, i2, j1, j2) in (0..a).flat_map(|i1| {
                                (0..b).flat_map(move |i2| {
                                    (0..a)
                                        .flat_map(move |j1| (0..b).map(move |j2| (i1, i2, j1, j2)))
                                })
                            }) {
                                m[(i1 * b + i2) * d + j1 * b + j2] =
                                    ma[g][i1 * a + j1] * mb[g][i2 * b + j2];
                            }
                            m
                        })
                        .collect(),
                )
            }
        };
        Ok(Rep::new_unchecked(self.group().clone(), a * b, action))
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
