//! Augmentation policies and their laws on G: which group elements g transform a sample
//! (ρ_X(g)x, ρ_Y(g)y), with which probabilities (H7 asks for the Haar law, uniform over G).

use crate::group::Group;
use crate::{Error, Result};
use rand::RngExt;

/// Tolerance on Σ_g w_g = 1 for [`Augmentation::Weighted`], and on w_g = 1/|G| in
/// [`Law::is_haar`]: user-written weights such as 0.7 + 0.1 + 0.1 + 0.1 sum to 1 within a few
/// ε ≈ 2.2e-16 per term, far below 1e-12, while a genuinely wrong weight is off by ≥ 1e-3.
pub const WEIGHT_TOL: f64 = 1e-12;

/// An augmentation policy (elements are group indices, see `docs/ARCHITECTURE.md`).
#[derive(Clone, Debug, PartialEq)]
pub enum Augmentation {
    /// No augmentation: the law {e} (nominal risk R).
    None,
    /// Full augmentation: the Haar law, uniform over G (H7; R_aug).
    Full,
    /// Uniform over a subgroup H ≤ G (validated to be one).
    Subgroup(Vec<usize>),
    /// Uniform over an arbitrary set of distinct elements (e.g. {e, r}, not a subgroup).
    Subset(Vec<usize>),
    /// Weight w_g on element g, one weight per group element (non-negative, Σ w_g = 1).
    Weighted(Vec<f64>),
}

/// How a [`Law`] draws an element.
#[derive(Clone, Debug, PartialEq)]
enum Sampler {
    /// A uniform index into the law's elements (for `Full` this is `Group::sample`).
    Uniform,
    /// Inverse CDF over the law's elements (cumulative probabilities, last = 1).
    Cdf(Vec<f64>),
}

/// A probability law on G with finite support: elements g with probabilities p_g > 0
/// (the augmentation law of R_aug = Σ_g p_g · loss(Φ(ρ_X(g)x), ρ_Y(g)y)).
#[derive(Clone, Debug, PartialEq)]
pub struct Law {
    order: usize,
    elements: Vec<usize>,
    probs: Vec<f64>,
    sampler: Sampler,
}

fn check_elements(group: &Group, elements: &[usize], what: &str) -> Result<()> {
    if elements.is_empty() {
        return Err(Error::Invalid(format!("{what}: no elements")));
    }
    let mut seen = vec![false; group.order()];
    for &g in elements {
        if g >= group.order() {
            return Err(Error::Invalid(format!(
                "{what}: element {g} is out of range for {} (order {})",
                group.name(),
                group.order()
            )));
        }
        if std::mem::replace(&mut seen[g], true) {
            return Err(Error::Invalid(format!("{what}: element {g} is repeated")));
        }
    }
    Ok(())
}

impl Augmentation {
    /// The law of this policy on `group`; errors on an element out of range or repeated,
    /// a `Subgroup` that is not closed under the product, or weights that are negative,
    /// non-finite, not one per element, or do not sum to 1 within [`WEIGHT_TOL`].
    ///
    /// ```
    /// use eqens::group::Group;
    /// use eqens::train::Augmentation;
    ///
    /// let c4 = Group::cyclic(4);
    /// let full = Augmentation::Full.law(&c4)?;
    /// assert!(full.is_haar(&c4)); // H7
    /// assert_eq!(full.probs(), [0.25; 4]);
    /// // {e, r²} is a subgroup, {e, r} is not.
    /// assert_eq!(Augmentation::Subgroup(vec![0, 2]).law(&c4)?.elements(), [0, 2]);
    /// assert!(Augmentation::Subgroup(vec![0, 1]).law(&c4).is_err());
    /// # Ok::<(), eqens::Error>(())
    /// ```
    pub fn law(&self, group: &Group) -> Result<Law> {
        let uniform = |elements: Vec<usize>| {
            let p = 1.0 / elements.len() as f64;
            Law {
                order: group.order(),
                probs: vec![p; elements.len()],
                elements,
                sampler: Sampler::Uniform,
            }
        };
        match self {
            Augmentation::None => Ok(uniform(vec![group.identity()])),
            Augmentation::Full => Ok(uniform((0..group.order()).collect())),
            Augmentation::Subgroup(h) => {
                check_elements(group, h, "subgroup augmentation")?;
                if !group.is_subgroup(h) {
                    return Err(Error::Invalid(format!(
                        "subgroup augmentation: {h:?} is not a subgroup of {} (not closed under \
                         the product)",
                        group.name()
                    )));
                }
                Ok(uniform(h.clone()))
            }
            Augmentation::Subset(s) => {
                check_elements(group, s, "subset augmentation")?;
                Ok(uniform(s.clone()))
            }
            Augmentation::Weighted(w) => {
                if w.len() != group.order() {
                    return Err(Error::Invalid(format!(
                        "weighted augmentation: {} weights for {} of order {} (one per element)",
                        w.len(),
                        group.name(),
                        group.order()
                    )));
                }
                if let Some((g, x)) = w
                    .iter()
                    .enumerate()
                    .find(|(_, x)| !(**x >= 0.0 && x.is_finite()))
                {
                    return Err(Error::Invalid(format!(
                        "weighted augmentation: weight {x} of element {g} is negative or not finite"
                    )));
                }
                let total: f64 = w.iter().sum();
                if (total - 1.0).abs() > WEIGHT_TOL {
                    return Err(Error::Invalid(format!(
                        "weighted augmentation: the weights sum to {total}, not 1"
                    )));
                }
                let (elements, probs): (Vec<usize>, Vec<f64>) = w
                    .iter()
                    .enumerate()
                    .filter(|(_, &x)| x > 0.0)
                    .map(|(g, &x)| (g, x))
                    .unzip();
                let mut cdf = Vec::with_capacity(probs.len());
                let mut acc = 0.0;
                for &p in &probs {
                    acc += p;
                    cdf.push(acc);
                }
                // The last cumulative weight is 1 up to round-off: make it exactly 1 so every
                // uniform u ∈ [0, 1) finds an element.
                *cdf.last_mut()
                    .expect("weights sum to 1, so one is positive") = 1.0;
                Ok(Law {
                    order: group.order(),
                    elements,
                    probs,
                    sampler: Sampler::Cdf(cdf),
                })
            }
        }
    }
}

impl Law {
    /// The support of the law: the elements g with p_g > 0, in ascending order for `Full`
    /// and `Weighted`, in the given order for `Subgroup` and `Subset`.
    pub fn elements(&self) -> &[usize] {
        &self.elements
    }

    /// The probabilities p_g, aligned with [`Law::elements`].
    pub fn probs(&self) -> &[f64] {
        &self.probs
    }

    /// Whether this is the Haar law of `group` (H7): every element with probability 1/|G|
    /// (within [`WEIGHT_TOL`]).
    pub fn is_haar(&self, group: &Group) -> bool {
        let n = group.order();
        self.order == n
            && self.elements.len() == n
            && self
                .probs
                .iter()
                .all(|p| (p - 1.0 / n as f64).abs() <= WEIGHT_TOL)
    }

    /// Draws g from the law: one uniform index into the support for uniform laws (for
    /// `Full` this is exactly [`Group::sample`]: one `random_range(0..|G|)`), inverse CDF
    /// on one uniform draw in [0, 1) for weighted ones; never random words in generators.
    pub fn sample<R: rand::Rng + ?Sized>(&self, rng: &mut R) -> usize {
        match &self.sampler {
            Sampler::Uniform => self.elements[rng.random_range(0..self.elements.len())],
            Sampler::Cdf(cdf) => {
                let u: f64 = rng.random();
                let i = cdf.partition_point(|&c| c <= u);
                self.elements[i.min(self.elements.len() - 1)]
            }
        }
    }
}
