//! Equivariance error between f(ρ_X(g)x) and ρ_Y(g)f(x), given both output vectors.

/// ‖f(ρ_X(g)x) − ρ_Y(g)f(x)‖₂² ↔ `equivariance_sq_error` (the quantity of the 1/M law, S8).
///
/// # Panics
/// If the two vectors differ in length.
pub fn equivariance_sq_error(f_gx: &[f64], rho_y_f_x: &[f64]) -> f64 {
    assert_eq!(
        f_gx.len(),
        rho_y_f_x.len(),
        "equivariance error: outputs of lengths {} and {}",
        f_gx.len(),
        rho_y_f_x.len()
    );
    f_gx.iter()
        .zip(rho_y_f_x)
        .map(|(&a, &b)| (a - b) * (a - b))
        .sum()
}

/// ‖f(ρ_X(g)x) − ρ_Y(g)f(x)‖₂ ↔ `equivariance_error` (the absolute error of one pair).
///
/// # Panics
/// If the two vectors differ in length.
pub fn equivariance_error(f_gx: &[f64], rho_y_f_x: &[f64]) -> f64 {
    equivariance_sq_error(f_gx, rho_y_f_x).sqrt()
}

/// Equivariance error aggregated over pairs (x, g) of inputs and group elements.
///
/// Absolute errors are e = ‖f(ρ_X(g)x) − ρ_Y(g)f(x)‖₂. Relative errors divide by ONE scalar,
/// `mean_norm` = the mean over all pairs of ‖ρ_Y(g)f(x)‖₂ (the typical output size; for an
/// orthogonal ρ_Y it is the mean of ‖f(x)‖₂), not by each pair's own norm, so that outputs
/// near zero do not blow the relative error up. If `mean_norm` is 0 the relative errors are
/// 0 when every error is 0 and +∞ otherwise.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EquivarianceStats {
    /// Number of (x, g) pairs.
    pub count: usize,
    /// max over pairs of e.
    pub max_abs: f64,
    /// mean over pairs of e.
    pub mean_abs: f64,
    /// mean over pairs of e² (the mean squared error of S8).
    pub mean_sq: f64,
    /// mean over pairs of ‖ρ_Y(g)f(x)‖₂.
    pub mean_norm: f64,
    /// `max_abs / mean_norm`.
    pub max_rel: f64,
    /// `mean_abs / mean_norm`.
    pub mean_rel: f64,
}

/// Aggregates the error over `count` pairs given as two row-major tables `[count, dim]`:
/// row i of `f_gx` is f(ρ_X(g)x) and row i of `rho_y_f_x` is ρ_Y(g)f(x) for the i-th pair.
/// Sums run in row order. With zero pairs every field except `count` is NaN.
///
/// # Panics
/// If `dim == 0` or either table is not `[count, dim]` for the same count.
pub fn equivariance_stats(f_gx: &[f64], rho_y_f_x: &[f64], dim: usize) -> EquivarianceStats {
    assert!(dim > 0, "equivariance_stats: dim = 0");
    assert!(
        f_gx.len() == rho_y_f_x.len() && f_gx.len().is_multiple_of(dim),
        "equivariance_stats: tables of {} and {} values are not both [count, {dim}]",
        f_gx.len(),
        rho_y_f_x.len()
    );
    let count = f_gx.len() / dim;
    let (mut max_abs, mut sum_abs, mut sum_sq, mut sum_norm) = (0.0f64, 0.0, 0.0, 0.0);
    for (a, b) in f_gx.chunks_exact(dim).zip(rho_y_f_x.chunks_exact(dim)) {
        let sq = equivariance_sq_error(a, b);
        let e = sq.sqrt();
        // NaN is sticky (f64::max would drop it and hide a diverged output).
        if e.is_nan() || max_abs.is_nan() {
            max_abs = f64::NAN;
        } else if e > max_abs {
            max_abs = e;
        }
        sum_abs += e;
        sum_sq += sq;
        sum_norm += b.iter().map(|&v| v * v).sum::<f64>().sqrt();
    }
    let n = count as f64;
    if count == 0 {
        max_abs = f64::NAN;
    }
    let (mean_abs, mean_sq, mean_norm) = (sum_abs / n, sum_sq / n, sum_norm / n);
    let relative = |e: f64| {
        if mean_norm > 0.0 || e.is_nan() {
            e / mean_norm
        } else if e == 0.0 {
            0.0
        } else {
            f64::INFINITY
        }
    };
    EquivarianceStats {
        count,
        max_abs,
        mean_abs,
        mean_sq,
        mean_norm,
        max_rel: relative(max_abs),
        mean_rel: relative(mean_abs),
    }
}
