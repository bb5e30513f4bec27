//! The parametrisation of one linear layer's architecture 𝓛 = A_𝓛 + T𝓛 inside its ambient
//! space: A = A_𝓛 + Σ_k θ_k B_k.
//!
//! The ambient space has dimension D: k·k for a convolution (one filter, replicated over every
//! channel pair) or out·in for a dense matrix. The basis {B_k} spans the direction T𝓛
//! (d = dim T𝓛 columns); the optional offset is A_𝓛.

use super::support::Support;
use crate::{Error, Result};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Relative threshold below which a column is declared linearly dependent on the previous
/// ones during Gram–Schmidt: a basis that is singular to 1e-8 would amplify coefficient
/// round-off by 1e8, so it is rejected rather than used.
const RANK_TOL: f64 = 1e-8;

/// Residual tolerance of [`Parametrisation::coefficients_of`], relative to max(1, ‖A‖).
///
/// For A ∈ 𝓛 the least-squares residual is pure round-off: Gram–Schmidt with
/// re-orthogonalisation is backward stable, so the residual is O(D·ε·‖A‖) ≈ 1e-12·‖A‖ for
/// D ≤ 10⁴ (ε = 2.2e-16), three orders below this bound; any A at distance ≥ 1e-9·‖A‖ from 𝓛
/// is reported as outside.
pub const MEMBERSHIP_TOL: f64 = 1e-9;

/// A basis {B_k} of the direction T𝓛, as vectors of the ambient space.
#[derive(Clone, Debug, PartialEq)]
pub enum Basis {
    /// B_k = e_{`indices[k]`} (orthonormal; distinct ambient indices).
    OneHot(Vec<usize>),
    /// B_k = `columns[k]`, each of ambient length (linearly independent, any metric).
    Dense(Vec<Vec<f64>>),
}

/// One linear layer's parametrisation A = A_𝓛 + Σ_k θ_k B_k (𝓛 ↔ `Parametrisation`).
#[derive(Clone, Debug, PartialEq)]
pub struct Parametrisation {
    ambient_dim: usize,
    basis: Basis,
    offset: Option<Vec<f64>>,
    /// Whether `basis` is e_0..e_{D−1} in order, decided once at construction: the check
    /// reads D indices, and the forward pass asks on every call (D = 7 840 for the 28×28
    /// network's dense layer, whose indices were no longer in cache by then: 2 % of a step).
    in_order: bool,
}

fn norm(v: &[f64]) -> f64 {
    v.iter().map(|x| x * x).sum::<f64>().sqrt()
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Thin QR of the columns by modified Gram–Schmidt with one re-orthogonalisation pass
/// ("twice is enough"): returns Q (orthonormal columns) and R (upper triangular, row-major
/// d×d), or the index of the first column that is dependent on the previous ones.
fn gram_schmidt(cols: &[Vec<f64>]) -> std::result::Result<(Vec<Vec<f64>>, Vec<f64>), usize> {
    let d = cols.len();
    let mut q: Vec<Vec<f64>> = Vec::with_capacity(d);
    let mut r = vec![0.0; d * d];
    for (j, col) in cols.iter().enumerate() {
        let mut v = col.clone();
        for _pass in 0..2 {
            for (i, qi) in q.iter().enumerate() {
                let c = dot(qi, &v);
                r[i * d + j] += c;
                for (vx, qx) in v.iter_mut().zip(qi) {
                    *vx -= c * qx;
                }
            }
        }
        let n = norm(&v);
        if n.is_nan() || n <= RANK_TOL * norm(col) {
            return Err(j);
        }
        r[j * d + j] = n;
        v.iter_mut().for_each(|x| *x /= n);
        q.push(v);
    }
    Ok((q, r))
}

fn check_columns(ambient_dim: usize, cols: &[Vec<f64>]) -> Result<()> {
    for (j, c) in cols.iter().enumerate() {
        if c.len() != ambient_dim {
            return Err(Error::Shape(format!(
                "basis column {j} has length {} but the ambient space has dimension {ambient_dim}",
                c.len()
            )));
        }
        if c.iter().any(|x| !x.is_finite()) {
            return Err(Error::Invalid(format!(
                "basis column {j} has a non-finite entry"
            )));
        }
    }
    Ok(())
}

impl Parametrisation {
    /// A parametrisation without offset on a basis already checked against `ambient_dim`.
    fn with_basis(ambient_dim: usize, basis: Basis) -> Parametrisation {
        let in_order = match &basis {
            Basis::OneHot(idx) => {
                idx.len() == ambient_dim && idx.iter().enumerate().all(|(k, &i)| k == i)
            }
            Basis::Dense(_) => false,
        };
        Parametrisation {
            ambient_dim,
            basis,
            offset: None,
            in_order,
        }
    }

    /// One-hot basis B_k = e_{`indices[k]`} (orthonormal, H5); errors on an index ≥ D or a
    /// repeated index.
    pub fn one_hot(ambient_dim: usize, indices: Vec<usize>) -> Result<Parametrisation> {
        let mut seen = vec![false; ambient_dim];
        for &i in &indices {
            if i >= ambient_dim {
                return Err(Error::Shape(format!(
                    "one-hot index {i} is outside the ambient space of dimension {ambient_dim}"
                )));
            }
            if seen[i] {
                return Err(Error::Invalid(format!(
                    "one-hot index {i} is repeated: the basis would be dependent"
                )));
            }
            seen[i] = true;
        }
        Ok(Parametrisation::with_basis(
            ambient_dim,
            Basis::OneHot(indices),
        ))
    }

    /// The full one-hot basis e_0..e_{D−1} of the ambient space (𝓛 = H).
    pub fn full(ambient_dim: usize) -> Parametrisation {
        Parametrisation::with_basis(ambient_dim, Basis::OneHot((0..ambient_dim).collect()))
    }

    /// One-hot basis on the taps of a filter support (ambient dimension k², H5 holds).
    pub fn from_support(support: &Support) -> Parametrisation {
        let k = support.k();
        Parametrisation::with_basis(k * k, Basis::OneHot(support.indices()))
    }

    /// The paper's control for H5: |indices| random unit vectors (seeded ChaCha8 Gaussian
    /// entries on `indices`, normalised) spanning the same subspace span{e_i : i ∈ indices}
    /// as the one-hot basis, but not orthonormal.
    pub fn random_normalised(
        ambient_dim: usize,
        indices: &[usize],
        seed: u64,
    ) -> Result<Parametrisation> {
        Parametrisation::one_hot(ambient_dim, indices.to_vec())?;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        // Redraw in the (probability-zero) event that the draw is numerically dependent.
        loop {
            let cols: Vec<Vec<f64>> = indices
                .iter()
                .map(|_| {
                    let mut c = vec![0.0; ambient_dim];
                    for &i in indices {
                        c[i] = standard_normal(&mut rng);
                    }
                    let n = norm(&c);
                    c.iter_mut().for_each(|x| *x /= n);
                    c
                })
                .collect();
            if gram_schmidt(&cols).is_ok() {
                return Ok(Parametrisation::with_basis(ambient_dim, Basis::Dense(cols)));
            }
        }
    }

    /// A basis from explicit columns (each of length D, finite, linearly independent).
    pub fn from_columns(ambient_dim: usize, cols: Vec<Vec<f64>>) -> Result<Parametrisation> {
        check_columns(ambient_dim, &cols)?;
        if let Err(j) = gram_schmidt(&cols) {
            return Err(Error::Invalid(format!(
                "basis column {j} is linearly dependent on the previous columns"
            )));
        }
        Ok(Parametrisation::with_basis(ambient_dim, Basis::Dense(cols)))
    }

    /// The orthonormal basis (Gram–Schmidt) of the span of the given columns.
    pub fn orthonormalised(ambient_dim: usize, cols: Vec<Vec<f64>>) -> Result<Parametrisation> {
        check_columns(ambient_dim, &cols)?;
        match gram_schmidt(&cols) {
            Ok((q, _)) => Ok(Parametrisation::with_basis(ambient_dim, Basis::Dense(q))),
            Err(j) => Err(Error::Invalid(format!(
                "basis column {j} is linearly dependent on the previous columns"
            ))),
        }
    }

    /// The same direction with offset A_𝓛 (affine 𝓛); errors on a wrong length or a
    /// non-finite entry.
    pub fn with_offset(self, offset: Vec<f64>) -> Result<Parametrisation> {
        if offset.len() != self.ambient_dim {
            return Err(Error::Shape(format!(
                "offset has length {} but the ambient space has dimension {}",
                offset.len(),
                self.ambient_dim
            )));
        }
        if offset.iter().any(|x| !x.is_finite()) {
            return Err(Error::Invalid("offset has a non-finite entry".into()));
        }
        Ok(Parametrisation {
            offset: Some(offset),
            ..self
        })
    }

    /// d = dim T𝓛, the number of coefficients.
    pub fn dim(&self) -> usize {
        match &self.basis {
            Basis::OneHot(idx) => idx.len(),
            Basis::Dense(cols) => cols.len(),
        }
    }

    /// D, the dimension of the ambient space.
    pub fn ambient_dim(&self) -> usize {
        self.ambient_dim
    }

    /// The basis {B_k}.
    pub fn basis(&self) -> &Basis {
        &self.basis
    }

    /// The offset A_𝓛 (None for a linear 𝓛).
    pub fn offset(&self) -> Option<&[f64]> {
        self.offset.as_deref()
    }

    /// Whether the basis is orthonormal (H5): max |BᵀB − I| ≤ tol.
    pub fn is_orthonormal(&self, tol: f64) -> bool {
        match &self.basis {
            Basis::OneHot(_) => true,
            Basis::Dense(cols) => cols.iter().enumerate().all(|(i, ci)| {
                cols.iter().enumerate().all(|(j, cj)| {
                    let target = if i == j { 1.0 } else { 0.0 };
                    (dot(ci, cj) - target).abs() <= tol
                })
            }),
        }
    }

    /// A = A_𝓛 + Σ_k θ_k B_k in the ambient space.
    ///
    /// # Panics
    /// If `theta.len() != self.dim()` (callers validate lengths first).
    pub fn expand(&self, theta: &[f64]) -> Vec<f64> {
        assert_eq!(
            theta.len(),
            self.dim(),
            "expand: {} coefficients for a basis of dimension {}",
            theta.len(),
            self.dim()
        );
        let mut a = match &self.offset {
            Some(o) => o.clone(),
            None => vec![0.0; self.ambient_dim],
        };
        match &self.basis {
            Basis::OneHot(idx) => {
                for (&i, &t) in idx.iter().zip(theta) {
                    a[i] += t;
                }
            }
            Basis::Dense(cols) => {
                for (c, &t) in cols.iter().zip(theta) {
                    for (ax, cx) in a.iter_mut().zip(c) {
                        *ax += t * cx;
                    }
                }
            }
        }
        a
    }

    /// The coefficients θ with A = A_𝓛 + Bθ (least squares); errors if A has the wrong
    /// length or lies outside 𝓛: ‖A − A_𝓛 − Bθ‖ > [`MEMBERSHIP_TOL`]·max(1, ‖A‖).
    pub fn coefficients_of(&self, a: &[f64]) -> Result<Vec<f64>> {
        if a.len() != self.ambient_dim {
            return Err(Error::Shape(format!(
                "ambient weights have length {} but the ambient space has dimension {}",
                a.len(),
                self.ambient_dim
            )));
        }
        let mut v = a.to_vec();
        if let Some(o) = &self.offset {
            v.iter_mut().zip(o).for_each(|(x, y)| *x -= y);
        }
        let theta = match &self.basis {
            Basis::OneHot(idx) => idx.iter().map(|&i| v[i]).collect(),
            Basis::Dense(cols) => {
                let (q, r) = gram_schmidt(cols).expect("basis independence is checked at build");
                let d = cols.len();
                // θ = R⁻¹ Qᵀ v by back substitution.
                let qtv: Vec<f64> = q.iter().map(|qi| dot(qi, &v)).collect();
                let mut theta = vec![0.0; d];
                for i in (0..d).rev() {
                    let s: f64 = (i + 1..d).map(|j| r[i * d + j] * theta[j]).sum();
                    theta[i] = (qtv[i] - s) / r[i * d + i];
                }
                theta
            }
        };
        let back = self.expand(&theta);
        let residual = norm(
            &a.iter()
                .zip(&back)
                .map(|(x, y)| x - y)
                .collect::<Vec<f64>>(),
        );
        let bound = MEMBERSHIP_TOL * norm(a).max(1.0);
        if residual.is_nan() || residual > bound {
            return Err(Error::Invalid(format!(
                "the weights lie outside the architecture 𝓛: residual {residual:.3e} > {bound:.3e}"
            )));
        }
        Ok(theta)
    }

    /// Ambient indices where some basis column or the offset is non-zero, ascending.
    pub fn support_indices(&self) -> Vec<usize> {
        let mut used = vec![false; self.ambient_dim];
        match &self.basis {
            Basis::OneHot(idx) => idx.iter().for_each(|&i| used[i] = true),
            Basis::Dense(cols) => {
                for c in cols {
                    for (u, &x) in used.iter_mut().zip(c) {
                        *u |= x != 0.0;
                    }
                }
            }
        }
        if let Some(o) = &self.offset {
            for (u, &x) in used.iter_mut().zip(o) {
                *u |= x != 0.0;
            }
        }
        (0..self.ambient_dim).filter(|&i| used[i]).collect()
    }

    /// The basis as columns of ambient length.
    pub fn basis_matrix(&self) -> Vec<Vec<f64>> {
        match &self.basis {
            Basis::OneHot(idx) => idx
                .iter()
                .map(|&i| {
                    let mut c = vec![0.0; self.ambient_dim];
                    c[i] = 1.0;
                    c
                })
                .collect(),
            Basis::Dense(cols) => cols.clone(),
        }
    }

    /// The one-hot indices when the basis is one-hot and there is no offset: then the
    /// coefficients are the ambient weights at those indices (the fast path).
    pub(crate) fn plain_one_hot(&self) -> Option<&[usize]> {
        match (&self.basis, &self.offset) {
            (Basis::OneHot(idx), None) => Some(idx),
            _ => None,
        }
    }

    /// Whether this is the full one-hot basis e_0..e_{D−1} in order, without offset.
    pub(crate) fn is_identity(&self) -> bool {
        self.in_order && self.offset.is_none()
    }
}

/// A standard normal draw (Box–Muller on two uniforms in (0, 1]).
pub(crate) fn standard_normal(rng: &mut ChaCha8Rng) -> f64 {
    let u1: f64 = 1.0 - rng.random::<f64>();
    let u2: f64 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The identity flag decided at construction agrees with its definition (one-hot basis
    /// e_0..e_{D−1} in order, no offset) for every constructor. Control: the definition
    /// does tell a permuted full basis from the identity.
    #[test]
    fn identity_flag_matches_its_definition() {
        let definition = |p: &Parametrisation| {
            p.plain_one_hot().is_some_and(|idx| {
                idx.len() == p.ambient_dim() && idx.iter().enumerate().all(|(k, &i)| k == i)
            })
        };
        let e = |i: usize| {
            (0..3)
                .map(|j| f64::from(u8::from(i == j)))
                .collect::<Vec<f64>>()
        };
        let cases = [
            (Parametrisation::full(9), true),
            (Parametrisation::one_hot(3, vec![0, 1, 2]).unwrap(), true),
            (Parametrisation::one_hot(3, vec![1, 0, 2]).unwrap(), false),
            (Parametrisation::one_hot(3, vec![0, 1]).unwrap(), false),
            (Parametrisation::from_support(&Support::plus()), false),
            (
                Parametrisation::full(3).with_offset(vec![0.0; 3]).unwrap(),
                false,
            ),
            (
                Parametrisation::from_columns(3, (0..3).map(e).collect()).unwrap(),
                false,
            ),
            (
                Parametrisation::random_normalised(3, &[0, 1, 2], 5).unwrap(),
                false,
            ),
        ];
        for (i, (p, want)) in cases.iter().enumerate() {
            assert_eq!(p.is_identity(), *want, "case {i}");
            assert_eq!(p.is_identity(), definition(p), "case {i}");
        }
        let permuted = Parametrisation {
            in_order: true,
            ..Parametrisation::one_hot(3, vec![2, 1, 0]).unwrap()
        };
        assert_ne!(permuted.is_identity(), definition(&permuted), "control");
    }
}
