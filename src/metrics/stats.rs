//! Resampling and summary statistics: bootstrap indices, mean ± sample std, log-log slopes.

use crate::{Error, Result};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// `resamples` bootstrap resamples, each `size` indices drawn uniformly WITH replacement from
/// `0..population` (ChaCha8 seeded with `seed`; the same arguments always give the same
/// indices). Used to pick sub-ensembles of size M from a trained population.
///
/// # Panics
/// If `population == 0` while `size > 0` and `resamples > 0` (nothing to draw from).
pub fn bootstrap_indices(
    population: usize,
    size: usize,
    resamples: usize,
    seed: u64,
) -> Vec<Vec<usize>> {
    assert!(
        population > 0 || size == 0 || resamples == 0,
        "bootstrap from an empty population"
    );
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..resamples)
        .map(|_| {
            (0..size)
                .map(|_| rng.random_range(0..population as u64) as usize)
                .collect()
        })
        .collect()
}

/// Mean and SAMPLE standard deviation (divisor n − 1, the unbiased variance) of `values`,
/// summed in order. The std is NaN for fewer than 2 values; both are NaN for none.
pub fn mean_std(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    if values.len() < 2 {
        return (mean, f64::NAN);
    }
    let ss = values.iter().map(|&v| (v - mean) * (v - mean)).sum::<f64>();
    (mean, (ss / (n - 1.0)).sqrt())
}

/// Least-squares slope of ln y on ln x (the exponent a of y ≈ c·x^a; −1 for the 1/M law of
/// S8). Errors on different lengths, fewer than 2 points, a non-positive or non-finite value,
/// or all x equal.
///
/// ```
/// use eqens::metrics::loglog_slope;
///
/// // y = 3/M: the 1/M law of S8 has slope −1.
/// let m = [5.0, 10.0, 50.0, 100.0, 1000.0];
/// let y: Vec<f64> = m.iter().map(|m| 3.0 / m).collect();
/// assert!((loglog_slope(&m, &y)? + 1.0).abs() < 1e-12);
/// assert!(loglog_slope(&m, &[1.0, 0.0, 1.0, 1.0, 1.0]).is_err()); // log of 0
/// # Ok::<(), eqens::Error>(())
/// ```
pub fn loglog_slope(xs: &[f64], ys: &[f64]) -> Result<f64> {
    if xs.len() != ys.len() {
        return Err(Error::Invalid(format!(
            "log-log slope: {} x values but {} y values",
            xs.len(),
            ys.len()
        )));
    }
    if xs.len() < 2 {
        return Err(Error::Invalid(format!(
            "log-log slope needs at least 2 points, got {}",
            xs.len()
        )));
    }
    for (i, (&x, &y)) in xs.iter().zip(ys).enumerate() {
        if !(x > 0.0 && y > 0.0 && x.is_finite() && y.is_finite()) {
            return Err(Error::Invalid(format!(
                "log-log slope: point {i} = ({x}, {y}) is not positive and finite"
            )));
        }
    }
    let lx: Vec<f64> = xs.iter().map(|x| x.ln()).collect();
    let ly: Vec<f64> = ys.iter().map(|y| y.ln()).collect();
    let n = lx.len() as f64;
    let mx = lx.iter().sum::<f64>() / n;
    let my = ly.iter().sum::<f64>() / n;
    let sxx: f64 = lx.iter().map(|&a| (a - mx) * (a - mx)).sum();
    let sxy: f64 = lx.iter().zip(&ly).map(|(&a, &b)| (a - mx) * (b - my)).sum();
    if sxx == 0.0 {
        return Err(Error::Invalid(
            "log-log slope: all x values are equal".into(),
        ));
    }
    Ok(sxy / sxx)
}

/// Pairwise (cascade) sum in the blocking numpy uses for `np.sum` of a contiguous float64
/// array: fewer than 8 values are added in order; up to 128 values go to 8 running partial
/// sums (value i to sum i mod 8), combined as ((s₀+s₁)+(s₂+s₃))+((s₄+s₅)+(s₆+s₇)), the last
/// n mod 8 values added after; above 128 the array is split at ⌊n/2⌋ rounded down to a
/// multiple of 8 and the halves' sums added. The rounding error is at most about
/// (16 + 3 + ⌈log₂(n/128)⌉)·u·Σ|xᵢ| (u = 2⁻⁵³) instead of (n − 1)·u·Σ|xᵢ| in storage order.
/// NumPy was not available to compare bits with; the tests compare with exact sums.
///
/// ```
/// use eqens::metrics::pairwise_sum;
///
/// // One large value and 2²⁰ tiny ones: in storage order every tiny value is lost.
/// let mut v = vec![1.0];
/// v.extend(std::iter::repeat(f64::EPSILON / 2.0).take(1 << 20));
/// let exact = 1.0 + (1u64 << 20) as f64 * f64::EPSILON / 2.0;
/// assert_eq!(v.iter().sum::<f64>(), 1.0);
/// // Pairwise, only the 15 that share the 1's partial sum in the first block are lost
/// // (plus one rounding of the total): at most 16u instead of 2²⁰u.
/// let lost = exact - pairwise_sum(&v);
/// assert!(lost <= 16.0 * f64::EPSILON / 2.0, "{lost:e}");
/// ```
pub fn pairwise_sum(values: &[f64]) -> f64 {
    /// Leaf block size (numpy's PW_BLOCKSIZE).
    const BLOCK: usize = 128;
    let n = values.len();
    if n < 8 {
        let mut s = 0.0;
        for &v in values {
            s += v;
        }
        s
    } else if n <= BLOCK {
        let mut r = [0.0; 8];
        r.copy_from_slice(&values[..8]);
        let whole = n - n % 8;
        for chunk in values[8..whole].chunks_exact(8) {
            for (acc, &v) in r.iter_mut().zip(chunk) {
                *acc += v;
            }
        }
        let mut s = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for &v in &values[whole..] {
            s += v;
        }
        s
    } else {
        let half = n / 2;
        let half = half - half % 8;
        pairwise_sum(&values[..half]) + pairwise_sum(&values[half..])
    }
}

/// Compensated (Neumaier) sum: a running sum s and a running correction c holding the
/// rounding error of every addition (exact by Fast2Sum ordering), returned as s + c. The
/// error is at most about 2u·|Σxᵢ| + n²u²·Σ|xᵢ|: as if summed in twice the precision, then
/// rounded. A reference for [`pairwise_sum`] and for sums with heavy cancellation.
///
/// ```
/// use eqens::metrics::compensated_sum;
///
/// // 1 + 1e-16 − 1: the small term survives the cancellation.
/// assert_eq!(compensated_sum(&[1.0, 1e-16, -1.0]), 1e-16);
/// assert_eq!([1.0, 1e-16, -1.0].iter().sum::<f64>(), 0.0);
/// ```
pub fn compensated_sum(values: &[f64]) -> f64 {
    let (mut s, mut c) = (0.0f64, 0.0f64);
    for &v in values {
        let t = s + v;
        // The rounding error of s + v, exact when the larger magnitude comes first.
        c += if s.abs() >= v.abs() {
            (s - t) + v
        } else {
            (v - t) + s
        };
        s = t;
    }
    s + c
}

/// Mean and sample standard deviation (divisor n − 1) with [`pairwise_sum`]s, computed as
/// numpy's `x.mean()` and `x.std(ddof=1)` do: mean = Σx/n, then Σ(x − mean)²/(n − 1) and its
/// square root. The std is NaN for fewer than 2 values; both are NaN for none.
///
/// [`mean_std`] sums in storage order and is what the experiment's recorded results use;
/// the two agree to a few ulps on well-scaled data.
///
/// ```
/// use eqens::metrics::mean_std_pairwise;
///
/// let (m, s) = mean_std_pairwise(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]);
/// assert_eq!(m, 5.0);
/// assert_eq!(s, (32.0f64 / 7.0).sqrt()); // Σ(x − 5)² = 32
/// ```
pub fn mean_std_pairwise(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    let mean = pairwise_sum(values) / n;
    if values.len() < 2 {
        return (mean, f64::NAN);
    }
    let sq: Vec<f64> = values.iter().map(|&v| (v - mean) * (v - mean)).collect();
    (mean, (pairwise_sum(&sq) / (n - 1.0)).sqrt())
}
