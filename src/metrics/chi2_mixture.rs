//! Tail bounds of a weighted sum of squared normals, Q = Σ_k w_k Z_k² (w_k ≥ 0, Z_k i.i.d.
//! N(0, 1)): the law of ‖S‖² for a Gaussian vector S ~ N(0, Σ), with w the eigenvalues of Σ.
//!
//! **Chernoff bounds with the exact moment generating function.** E e^{sQ} =
//! Π_k (1 − 2s·w_k)^{−1/2} for s < 1/(2 max w), so for every such s > 0
//!
//! P(Q ≥ x) ≤ exp(−s·x − ½ Σ_k ln(1 − 2s·w_k)),
//!
//! and for every s > 0, P(Q ≤ x) ≤ exp(s·x − ½ Σ_k ln(1 + 2s·w_k)). Each exponent is
//! convex in s; its minimiser solves Σ_k w_k/(1 ∓ 2s·w_k) = x, found by bisection. The
//! bound is rigorous for every x and within a polynomial factor of the true tail, so unlike
//! a normal approximation it stays honest when a few weights dominate (the tail of Q is
//! then that of a few χ²_1, much heavier than normal).

use crate::{Error, Result};

/// Bisection steps: each halves the bracket, so 200 steps reach the resolution of f64 for
/// any bracket that fits in f64.
const BISECTIONS: usize = 200;

/// Bisection for the point x* where `below` stops holding on [lo, hi] (`below(x)` true for
/// x < x*, false after): the bracket (lo, hi) around x* after [`BISECTIONS`] halvings.
fn bisect(mut lo: f64, mut hi: f64, below: impl Fn(f64) -> bool) -> (f64, f64) {
    for _ in 0..BISECTIONS {
        let mid = 0.5 * (lo + hi);
        if below(mid) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    (lo, hi)
}

/// ln of the Chernoff bound on P(Q ≥ x), minimised over s ∈ (0, 1/(2 max w)); 0 (the
/// trivial bound) for x ≤ E Q = Σ w.
fn ln_upper_tail(w: &[f64], x: f64) -> f64 {
    let mean: f64 = w.iter().sum();
    if x <= mean {
        return 0.0;
    }
    let w_max = w.iter().fold(0.0f64, |a, &b| a.max(b));
    // Σ w/(1 − 2s·w) increases from Σ w (s = 0) to ∞ (s → 1/(2 w_max)).
    let slope = |s: f64| w.iter().map(|&v| v / (1.0 - 2.0 * s * v)).sum::<f64>();
    let (s, _) = bisect(0.0, 0.5 / w_max, |s| slope(s) < x);
    -s * x - 0.5 * w.iter().map(|&v| (-2.0 * s * v).ln_1p()).sum::<f64>()
}

/// ln of the Chernoff bound on P(Q ≤ x), minimised over s > 0; 0 for x ≥ Σ w.
fn ln_lower_tail(w: &[f64], x: f64) -> f64 {
    let mean: f64 = w.iter().sum();
    if x >= mean {
        return 0.0;
    }
    if x <= 0.0 {
        // P(Q ≤ 0) = 0 when some weight is positive: the bound tends to −∞.
        return f64::NEG_INFINITY;
    }
    // Σ w/(1 + 2s·w) decreases from Σ w (s = 0) to 0 (s → ∞); bracket the root first.
    let slope = |s: f64| w.iter().map(|&v| v / (1.0 + 2.0 * s * v)).sum::<f64>();
    let mut hi = 1.0 / mean;
    while slope(hi) > x {
        hi *= 2.0;
    }
    let (_, s) = bisect(0.0, hi, |s| slope(s) > x);
    s * x - 0.5 * w.iter().map(|&v| (2.0 * s * v).ln_1p()).sum::<f64>()
}

/// Bounds (lo, hi) with P(Q ≤ lo) ≤ α/2 and P(Q ≥ hi) ≤ α/2 for Q = Σ_k w_k Z_k², from the
/// Chernoff bounds of the module docs (each the point where the bound equals α/2, to the
/// resolution of f64). So Q falls outside [lo, hi] with probability at most α.
///
/// Errors if a weight is negative or not finite, if every weight is 0, or if α ∉ (0, 1).
///
/// ```
/// use eqens::metrics::chi2_mixture_bounds;
/// // One weight: Q = Z², whose two-sided 1 % interval is [1.6e-4, 7.88]; the Chernoff
/// // bounds enclose it.
/// let (lo, hi) = chi2_mixture_bounds(&[1.0], 0.01).unwrap();
/// assert!(lo < 1.6e-4 && hi > 7.88 && hi < 15.0);
/// ```
pub fn chi2_mixture_bounds(weights: &[f64], alpha: f64) -> Result<(f64, f64)> {
    if !(alpha > 0.0 && alpha < 1.0) {
        return Err(Error::Invalid(format!("α = {alpha} is not in (0, 1)")));
    }
    if let Some(w) = weights.iter().find(|w| !(w.is_finite() && **w >= 0.0)) {
        return Err(Error::Invalid(format!(
            "weight {w} of a χ² mixture is not finite and non-negative"
        )));
    }
    let mean: f64 = weights.iter().sum();
    if mean <= 0.0 {
        return Err(Error::Invalid(
            "a χ² mixture needs a positive weight".into(),
        ));
    }
    let target = (0.5 * alpha).ln();
    // Upper: ln_upper_tail decreases in x above the mean; bracket by doubling.
    let mut hi = 2.0 * mean;
    while ln_upper_tail(weights, hi) > target {
        hi *= 2.0;
    }
    let (_, upper) = bisect(mean, hi, |x| ln_upper_tail(weights, x) > target);
    // Lower: ln_lower_tail increases in x on (0, mean).
    let (lower, _) = bisect(0.0, mean, |x| ln_lower_tail(weights, x) <= target);
    Ok((lower, upper))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::cases::normals;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    /// One weight: the exact tails of Z² are P(Z² ≥ x) = erfc(√(x/2)) and P(Z² ≤ x) ≈
    /// √(2x/π) for small x. At α = 1e-6 the exact upper point is 28.37 (two-sided: α/2 =
    /// 5e-7 per side); the Chernoff point must lie above it and within the bound's
    /// polynomial slack (a factor ≈ √x in probability, a few units in x).
    #[test]
    fn single_chi2_bounds_enclose_the_exact_quantiles() {
        let (lo, hi) = chi2_mixture_bounds(&[1.0], 1e-6).unwrap();
        assert!(hi > 28.37 && hi < 36.0, "upper {hi}");
        // Exact lower point: √(2x/π) = 5e-7 → x ≈ 3.9e-13.
        assert!(lo < 3.9e-13 && lo > 0.0, "lower {lo}");
    }

    /// Many equal weights: Q/n → 1 and the bounds close in on the mean (the normal
    /// approximation's 5.3σ at α = 1e-6 would give n ± 5.3·√(2n); the Chernoff points sit
    /// near it).
    #[test]
    fn many_equal_weights_concentrate() {
        let n = 10_000;
        let (lo, hi) = chi2_mixture_bounds(&vec![1.0; n], 1e-6).unwrap();
        let sd = (2.0 * n as f64).sqrt();
        assert!(
            (hi - n as f64) / sd > 5.0 && (hi - n as f64) / sd < 6.0,
            "{hi}"
        );
        assert!(
            (n as f64 - lo) / sd > 5.0 && (n as f64 - lo) / sd < 6.0,
            "{lo}"
        );
    }

    /// Monte Carlo on a skewed mixture (one dominant weight): at α = 0.01 the empirical
    /// exceedances of each side must not be above α/2 by more than 5 standard errors of a
    /// binomial count (20,000 draws: SE of a 0.005 rate is 5e-4). Negative control: the
    /// normal approximation's upper point mean + 2.576·sd is exceeded far more often than
    /// α/2 (the tail is heavy), so the check can fail.
    #[test]
    fn monte_carlo_exceedances_stay_below_alpha() {
        let w = [5.0, 1.0, 0.5, 0.5, 0.2];
        let alpha = 0.01;
        let (lo, hi) = chi2_mixture_bounds(&w, alpha).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(91);
        let draws = 20_000;
        let q: Vec<f64> = (0..draws)
            .map(|_| {
                let z = normals(&mut rng, w.len());
                w.iter().zip(&z).map(|(v, z)| v * z * z).sum()
            })
            .collect();
        let rate = |f: &dyn Fn(f64) -> bool| q.iter().filter(|&&v| f(v)).count() as f64 / 2e4;
        let allowed = alpha / 2.0 + 5.0 * 5e-4;
        assert!(rate(&|v| v >= hi) <= allowed, "upper");
        assert!(rate(&|v| v <= lo) <= allowed, "lower");
        let mean: f64 = w.iter().sum();
        let sd = (2.0 * w.iter().map(|v| v * v).sum::<f64>()).sqrt();
        let normal_hi = mean + 2.576 * sd;
        assert!(
            rate(&|v| v >= normal_hi) > allowed,
            "control: the normal point is exceeded too often"
        );
    }

    #[test]
    fn bad_input_is_an_error() {
        assert!(chi2_mixture_bounds(&[1.0, -1.0], 0.01).is_err());
        assert!(chi2_mixture_bounds(&[0.0, 0.0], 0.01).is_err());
        assert!(chi2_mixture_bounds(&[f64::NAN], 0.01).is_err());
        assert!(chi2_mixture_bounds(&[1.0], 0.0).is_err());
        assert!(chi2_mixture_bounds(&[1.0], 1.0).is_err());
    }
}
