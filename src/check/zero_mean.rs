//! A zero-mean test for i.i.d. random vectors from one population: the ratio
//! r = ‖Σ_i D_i‖² / Σ_i ‖D_i‖², with an interval derived per population from the χ²-mixture
//! law of ‖Σ_i D_i‖² ([`crate::metrics::chi2_mixture_bounds`]). S8 (the 1/M law) and S15's
//! SO(3) part use it: under their theorems the members' defects have mean 0, and a bias b
//! moves r to ≈ 1 + (P − 1)‖b‖²/E‖D‖².

use crate::metrics::chi2_mixture_bounds;
use crate::{Error, Result};
use faer::Mat;

/// Per-population false-alarm rate: under a zero mean, r falls outside its interval with
/// probability at most this (both sides together).
pub const FALSE_ALARM: f64 = 1e-6;

/// The whole-population ratio and the interval it falls in under a zero mean.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RatioTest {
    /// r = ‖Σ_i D_i‖² / Σ_i ‖D_i‖² = P·‖D̄_P‖² / mean_i ‖D_i‖².
    pub ratio: f64,
    /// r ≤ 1 + `upper` with probability ≥ 1 − [`FALSE_ALARM`]/2 under the 1/M law.
    pub upper: f64,
    /// r ≥ 1 − `lower` with probability ≥ 1 − [`FALSE_ALARM`]/2.
    pub lower: f64,
    /// Effective number of independent coordinates of D, (tr Σ̂)² / tr Σ̂².
    pub d_eff: f64,
}

impl RatioTest {
    /// The verdict of a check that the mean is 0: (|r − 1|, the interval's half-width on the
    /// side r falls on), so error ≤ tolerance exactly when r is inside the interval.
    pub fn verdict(&self) -> (f64, f64) {
        if self.ratio >= 1.0 {
            (self.ratio - 1.0, self.upper)
        } else {
            (1.0 - self.ratio, self.lower)
        }
    }

    /// r, its interval and d_eff, for a case description.
    pub fn describe(&self) -> String {
        format!(
            "r = ‖Σ D_i‖²/Σ‖D_i‖² = {:.3}, zero-mean interval [{:.3}, {:.3}] (d_eff {:.1})",
            self.ratio,
            1.0 - self.lower,
            1.0 + self.upper,
            self.d_eff
        )
    }
}

/// The ratio r of i.i.d. draws D_1..D_P and its interval under E D = 0 (the verdict of S8
/// and of S15's SO(3) part).
///
/// **Statistic.** The variance identity at M = P (the whole population) gives
/// E‖Σ_i D_i‖² = P·E‖D_1‖² + P(P−1)‖b‖², so r = ‖Σ_i D_i‖² / Σ_i ‖D_i‖² is ≈ 1 under the 1/M
/// law (b = 0) and ≈ 1 + (P−1)‖b‖²/E‖D_1‖² with a bias: the plateau ratio at the largest M
/// the population allows, the most sensitive point of the curve.
///
/// **Interval.** Under b = 0, S = P^{−1/2} Σ_i D_i is a sum of P i.i.d. mean-zero vectors,
/// ≈ N(0, Σ) (central limit theorem; P = 2000–20,000 draws of a bounded-moment vector in the checks), so
/// ‖Σ_i D_i‖²/P = ‖S‖² ≈ Σ_k λ_k Z_k² with λ the eigenvalues of Σ, and Σ_i ‖D_i‖²/P → tr Σ.
/// [`chi2_mixture_bounds`] at α = [`FALSE_ALARM`] with λ from the sample covariance Σ̂
/// (centred, so a bias does not widen it) bounds r by lo/den ≤ r ≤ hi/den, den = mean_i
/// ‖D_i‖². The Chernoff bound is rigorous for the Gaussian limit and conservative by a
/// factor ≈ √(ln 1/α) in probability (≈ 3 units of the dominant λ in Q); that slack covers
/// the sampling error of the top eigenvalues (relative ≈ √(2/P) ≈ 2 %) and of den (≈
/// √(2/(P·d_eff))) at the checks' P ≥ 2000. Unlike a fitted slope or a normal z-score, the interval widens when a few directions
/// dominate Σ (small d_eff): the heavy tail that made fixed tolerances unsafe.
///
/// The two sides differ: Q ≥ 0, so the lower tail is short and the lower half-width is
/// below 1. For equal weights (Q ~ χ²_n, n = d_eff = 20) the Chernoff lower end has exact
/// probability 6.8e-8 (against α/2 = 5e-7), while r reaches 75 % of the way to it with
/// probability 1.8e-3. So a worst error/tolerance of 0.7–0.8 over a few hundred cases is
/// the expected spread, not a near miss.
///
/// Errors if there are fewer than 2 draws, the draws have different or zero lengths, a
/// draw is not finite, or every draw is 0.
///
/// ```
/// use eqens::check::zero_mean::ratio_test;
/// // 400 vectors of random signs (a small linear congruential generator): mean 0.
/// let mut state = 1u64;
/// let mut sign = || {
///     state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
///     if state >> 63 == 1 { 1.0 } else { -1.0 }
/// };
/// let draws: Vec<Vec<f64>> = (0..400).map(|_| (0..4).map(|_| sign()).collect()).collect();
/// let t = ratio_test(&draws).unwrap();
/// assert!(t.ratio <= 1.0 + t.upper && t.ratio >= 1.0 - t.lower);
/// // A mean of 0.5 per coordinate: r ≈ 1 + 399·‖b‖²/E‖D‖² = 1 + 399/5 ≈ 81, far above.
/// let biased: Vec<Vec<f64>> = draws.iter().map(|d| d.iter().map(|v| v + 0.5).collect()).collect();
/// let t = ratio_test(&biased).unwrap();
/// assert!(t.ratio > 1.0 + t.upper);
/// ```
pub fn ratio_test(defects: &[Vec<f64>]) -> Result<RatioTest> {
    let p = defects.len();
    let dim = defects.first().map_or(0, Vec::len);
    if p < 2 || dim == 0 || defects.iter().any(|d| d.len() != dim) {
        return Err(Error::Invalid(format!(
            "a ratio test needs ≥ 2 draws of one positive length, got {p}"
        )));
    }
    if defects.iter().flatten().any(|v| !v.is_finite()) {
        return Err(Error::Invalid("a ratio test draw is not finite".into()));
    }
    let mut sum = vec![0.0; dim];
    let mut sq_total = 0.0;
    for d in defects {
        sum.iter_mut().zip(d).for_each(|(s, v)| *s += v);
        sq_total += d.iter().map(|v| v * v).sum::<f64>();
    }
    let sum_sq: f64 = sum.iter().map(|v| v * v).sum();
    let mean: Vec<f64> = sum.iter().map(|v| v / p as f64).collect();
    let e = Mat::from_fn(p, dim, |i, j| defects[i][j] - mean[j]);
    let cov = e.transpose() * &e / faer::Scale(p as f64);
    let eig = cov
        .self_adjoint_eigenvalues(faer::Side::Lower)
        .map_err(|e| Error::Invalid(format!("eigenvalues of the draws' covariance: {e:?}")))?;
    // Round-off can leave eigenvalues of a PSD matrix at −1e-17·‖Σ‖: clip them to 0.
    let lambda: Vec<f64> = eig.iter().map(|&v| v.max(0.0)).collect();
    let trace: f64 = lambda.iter().sum();
    let trace_sq: f64 = lambda.iter().map(|v| v * v).sum();
    if trace <= 0.0 {
        return Err(Error::Invalid(
            "the draws do not vary (zero covariance): a ratio test needs spread".into(),
        ));
    }
    let (lo, hi) = chi2_mixture_bounds(&lambda, FALSE_ALARM)?;
    let den = sq_total / p as f64;
    Ok(RatioTest {
        ratio: sum_sq / sq_total,
        upper: hi / den - 1.0,
        lower: 1.0 - lo / den,
        d_eff: trace * trace / trace_sq,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::cases::normals;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    /// `p` draws of D = b + A·z, z ~ N(0, I): coordinate k of A·z has standard deviation
    /// 3·0.7^k, so a few directions dominate (d_eff = (tr Σ)²/tr Σ² ≈ 2.9) and the tail of r is heavy.
    fn draws(seed: u64, p: usize, dim: usize, bias: f64) -> Vec<Vec<f64>> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        (0..p)
            .map(|_| {
                normals(&mut rng, dim)
                    .iter()
                    .enumerate()
                    .map(|(k, z)| bias + 3.0 * 0.7f64.powi(k as i32) * z)
                    .collect()
            })
            .collect()
    }

    /// Under b = 0 the ratio stays inside its interval on every one of 200 Gaussian
    /// populations with a dominant direction (expected false alarms 200 × 1e-6; the old
    /// fixed-width rule |r − 1| ≤ 1 fails on some of them, which is what makes the
    /// derived width necessary). Negative control: a bias with (P − 1)‖b‖²/tr Σ ≈ 23 puts
    /// r above the interval on every one of 20 populations.
    #[test]
    fn bad_draws_are_errors() {
        assert!(ratio_test(&[vec![1.0]]).is_err());
        assert!(ratio_test(&[vec![1.0], vec![1.0, 2.0]]).is_err());
        assert!(ratio_test(&[vec![1.0], vec![f64::NAN]]).is_err());
        assert!(ratio_test(&[vec![0.0], vec![0.0]]).is_err());
    }

    #[test]
    fn ratio_interval_holds_without_bias_and_catches_one() {
        let (p, dim) = (2000, 20);
        let mut fixed_rule_fails = 0;
        for seed in 0..200 {
            let t = ratio_test(&draws(seed, p, dim, 0.0)).unwrap();
            assert!(
                t.ratio <= 1.0 + t.upper && t.ratio >= 1.0 - t.lower,
                "seed {seed}: {t:?}"
            );
            fixed_rule_fails += usize::from((t.ratio - 1.0).abs() > 1.0);
        }
        assert!(
            fixed_rule_fails > 0,
            "the heavy tail shows at 200 populations"
        );
        // tr Σ = 9·Σ_k 0.49^k ≈ 17.6 and ‖b‖² = 20·0.1² = 0.2: (P − 1)‖b‖²/tr Σ ≈ 23.
        for seed in 0..20 {
            let t = ratio_test(&draws(1000 + seed, p, dim, 0.1)).unwrap();
            assert!(t.ratio > 1.0 + t.upper, "control, seed {seed}: {t:?}");
        }
    }
}
