//! Small dense helpers on `faer::Mat<f64>`: orthonormal bases, ranks, projectors, norms,
//! null spaces and intersections of column spans (the dimensions of T𝓛, H_G,
//! E = 𝓛 ∩ H_G and 𝓛_0 = ∩_g ρ(g)𝓛 are computed with these).
//!
//! Every rank decision is a singular-value threshold `tol` passed by the caller and compared
//! with **absolute** singular values: σ counts as non-zero iff σ > tol. The matrices of this
//! crate have O(1) entries (orthogonal matrices, projectors, orthonormal bases), so a
//! numerically zero singular value is at most ~ n·ε·‖M‖ ≈ 1e-13 for n ≤ 10³, while genuine
//! ones are O(1) or, for ρ(g) − I, at least 2·sin(π/|G|); [`RANK_TOL`] = 1e-9 sits far from both.

use faer::Mat;

/// Default singular-value threshold for rank decisions on O(1) matrices (see module docs).
pub const RANK_TOL: f64 = 1e-9;

/// A matrix from row-major data (`data.len()` must be rows·cols).
pub fn from_row_major(rows: usize, cols: usize, data: &[f64]) -> Mat<f64> {
    assert_eq!(data.len(), rows * cols, "from_row_major: wrong data length");
    Mat::from_fn(rows, cols, |i, j| data[i * cols + j])
}

/// The entries of `m` in row-major order.
pub fn to_row_major(m: &Mat<f64>) -> Vec<f64> {
    let mut out = Vec::with_capacity(m.nrows() * m.ncols());
    for i in 0..m.nrows() {
        for j in 0..m.ncols() {
            out.push(m[(i, j)]);
        }
    }
    out
}

/// Singular values of `m`, non-increasing (empty for an empty matrix).
pub fn singular_values(m: &Mat<f64>) -> Vec<f64> {
    if m.nrows() == 0 || m.ncols() == 0 {
        return Vec::new();
    }
    m.singular_values().expect("SVD did not converge")
}

/// Numerical rank: the number of singular values σ > `tol`.
pub fn rank(m: &Mat<f64>, tol: f64) -> usize {
    singular_values(m).into_iter().filter(|&s| s > tol).count()
}

/// The largest singular value ‖m‖_op (0 for an empty matrix).
pub fn op_norm(m: &Mat<f64>) -> f64 {
    singular_values(m).first().copied().unwrap_or(0.0)
}

/// The Frobenius norm ‖m‖_F = √(Σ m_ij²).
pub fn frobenius_norm(m: &Mat<f64>) -> f64 {
    let mut s = 0.0;
    for j in 0..m.ncols() {
        for i in 0..m.nrows() {
            s += m[(i, j)] * m[(i, j)];
        }
    }
    s.sqrt()
}

/// The largest absolute entry max |m_ij| (0 for an empty matrix).
pub fn max_abs(m: &Mat<f64>) -> f64 {
    let mut s: f64 = 0.0;
    for j in 0..m.ncols() {
        for i in 0..m.nrows() {
            s = s.max(m[(i, j)].abs());
        }
    }
    s
}

/// The Frobenius inner product ⟨a, b⟩ = Σ a_ij b_ij.
pub fn frobenius_dot(a: &Mat<f64>, b: &Mat<f64>) -> f64 {
    assert_eq!(a.shape(), b.shape(), "frobenius_dot: shapes differ");
    let mut s = 0.0;
    for j in 0..a.ncols() {
        for i in 0..a.nrows() {
            s += a[(i, j)] * b[(i, j)];
        }
    }
    s
}

/// The commutator [a, b] = ab − ba.
pub fn commutator(a: &Mat<f64>, b: &Mat<f64>) -> Mat<f64> {
    a * b - b * a
}

/// Orthonormal columns spanning the column space of `cols` (left singular vectors with
/// σ > `tol`); an `n × 0` matrix if the span is {0}.
pub fn orthonormal_basis(cols: &Mat<f64>, tol: f64) -> Mat<f64> {
    let (n, k) = cols.shape();
    if n == 0 || k == 0 {
        return Mat::zeros(n, 0);
    }
    let svd = cols.thin_svd().expect("SVD did not converge");
    let s = svd.S().column_vector();
    let r = (0..s.nrows()).filter(|&i| s[i] > tol).count();
    svd.U().subcols(0, r).to_owned()
}

/// Orthonormal columns spanning the null space {x : m x = 0} (right singular vectors whose
/// singular value is ≤ `tol`, including those beyond min(rows, cols)).
pub fn nullspace(m: &Mat<f64>, tol: f64) -> Mat<f64> {
    let (r, c) = m.shape();
    if c == 0 {
        return Mat::zeros(0, 0);
    }
    if r == 0 {
        return Mat::identity(c, c);
    }
    let svd = m.svd().expect("SVD did not converge");
    let s = svd.S().column_vector();
    let rk = (0..s.nrows()).filter(|&i| s[i] > tol).count();
    svd.V().subcols(rk, c - rk).to_owned()
}

/// The orthogonal projector Q Qᵀ onto the column span of `cols` (Q from
/// [`orthonormal_basis`] with [`RANK_TOL`]).
pub fn projector_onto(cols: &Mat<f64>) -> Mat<f64> {
    let q = orthonormal_basis(cols, RANK_TOL);
    &q * q.transpose()
}

/// Orthonormal columns spanning span(a) ∩ span(b).
///
/// With orthonormal bases Qa, Qb, a vector Qa·y lies in span(b) iff Qa·y = Qb·z for some z,
/// i.e. (y, z) is in the null space of [Qa, −Qb]. Singular values of [Qa, −Qb] equal
/// √(1 ± cos θ_i) for the principal angles θ_i, so a threshold `tol` on them accepts angles
/// θ ≲ √2·tol; the resulting Qa·y are re-orthonormalised.
pub fn intersection_basis(a: &Mat<f64>, b: &Mat<f64>, tol: f64) -> Mat<f64> {
    assert_eq!(
        a.nrows(),
        b.nrows(),
        "intersection_basis: ambient dimensions differ"
    );
    let n = a.nrows();
    let qa = orthonormal_basis(a, tol);
    let qb = orthonormal_basis(b, tol);
    let (ka, kb) = (qa.ncols(), qb.ncols());
    if ka == 0 || kb == 0 {
        return Mat::zeros(n, 0);
    }
    let stacked = Mat::from_fn(n, ka + kb, |i, j| {
        if j < ka {
            qa[(i, j)]
        } else {
            -qb[(i, j - ka)]
        }
    });
    let null = nullspace(&stacked, tol);
    let y = null.subrows(0, ka).to_owned();
    orthonormal_basis(&(&qa * &y), tol)
}
