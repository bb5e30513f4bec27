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
