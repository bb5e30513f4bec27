//! Small dense helpers on `faer::Mat<f64>`: orthonormal bases, ranks, projectors, norms,
//! null spaces and intersections of column spans (the dimensions of T𝓛, H_G,
//! E = 𝓛 ∩ H_G and 𝓛_0 = ∩_g ρ(g)𝓛 are computed with these).
//!
//! Every rank decision is a singular-value threshold `tol` passed by the caller and compared
//! with **absolute** singular values: σ counts as non-zero iff σ > tol. The matrices of this
//! crate have O(1) entries (orthogonal matrices, projectors, orthonormal bases), so a
//! numerically zero singular value is at most ~ n·ε·‖M‖ ≈ 1e-13 for n ≤ 10³, while genuine
//! ones are O(1) or, for ρ(g) − I, at least 2·sin(π/|G|); [`RANK_TOL`] = 1e-9 sits far from both.
//!
//! All SVDs here run faer's bidiagonal QR iteration at every size, sequentially: faer 0.24's
//! default divide-and-conquer stage (used above 128 columns) returned a wrong SVD for an
//! exact 324×324 projector (spurious singular values 2⁻¹³, reconstruction error 3e-5),
//! found by tests/representations.rs. Call these helpers rather than `Mat::svd` for ranks.

use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::svd::{self, ComputeSvdVectors, SvdParams};
use faer::{Auto, Mat, Par};

/// Default singular-value threshold for rank decisions on O(1) matrices (see module docs).
pub const RANK_TOL: f64 = 1e-9;

/// An SVD m = U·diag(s)·Vᵀ, singular values non-increasing.
struct Svd {
    s: Vec<f64>,
    u: Mat<f64>,
    v: Mat<f64>,
}

/// faer's SVD with its divide-and-conquer stage switched off (bidiagonal QR iteration at
/// every size), sequential.
///
/// faer 0.24's default switches to divide and conquer above 128 columns, and that path
/// returned a wrong SVD (reconstruction error 3e-5, spurious singular values 2⁻¹³ for an
/// exact 324×324 projector with many repeated singular values; found by
/// tests/representations.rs). The QR path is accurate on the same input.
fn svd_qr(m: &Mat<f64>, vectors: ComputeSvdVectors) -> Svd {
    let (r, c) = m.shape();
    let size = r.min(c);
    let mut params = <SvdParams as Auto<f64>>::auto();
    params.recursion_threshold = usize::MAX;
    let (ur, vr) = match vectors {
        ComputeSvdVectors::No => (0, 0),
        ComputeSvdVectors::Thin => (size, size),
        ComputeSvdVectors::Full => (r, c),
    };
    let mut u = Mat::<f64>::zeros(r, ur);
    let mut v = Mat::<f64>::zeros(c, vr);
    let mut s = faer::diag::Diag::<f64>::zeros(size);
    let want = vectors != ComputeSvdVectors::No;
    let mut buf = MemBuffer::new(svd::svd_scratch::<f64>(
        r,
        c,
        vectors,
        vectors,
        Par::Seq,
        params.into(),
    ));
    svd::svd(
        m.as_ref(),
        s.as_mut(),
        if want { Some(u.as_mut()) } else { None },
        if want { Some(v.as_mut()) } else { None },
        Par::Seq,
        MemStack::new(&mut buf),
        params.into(),
    )
    .expect("SVD did not converge");
    let sv = s.column_vector();
    Svd {
        s: (0..size).map(|i| sv[i]).collect(),
        u,
        v,
    }
}

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

/// Singular values of `m`, non-increasing (empty for an empty matrix); bidiagonal QR SVD,
/// accurate at every size (faer's default divide and conquer is avoided, see the module docs).
pub fn singular_values(m: &Mat<f64>) -> Vec<f64> {
    if m.nrows() == 0 || m.ncols() == 0 {
        return Vec::new();
    }
    svd_qr(m, ComputeSvdVectors::No).s
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
    let svd = svd_qr(cols, ComputeSvdVectors::Thin);
    let r = svd.s.iter().filter(|&&s| s > tol).count();
    svd.u.subcols(0, r).to_owned()
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
    let svd = svd_qr(m, ComputeSvdVectors::Full);
    let rk = svd.s.iter().filter(|&&s| s > tol).count();
    svd.v.subcols(rk, c - rk).to_owned()
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
