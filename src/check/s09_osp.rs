//! S9 — orbit-sameness OSP(x) = #{g : argmax f̂(ρ_X(g)x) = argmax f̂(x)} ↔
//! [`crate::metrics::osp`]: OSP ∈ [1, |G|]; OSP = |G| for an exactly invariant classifier;
//! E\[OSP\] = 1 + (|G|−1)/K when the predictions along the orbit are independent and uniform.
//!
//! A case draws |G| ∈ {2, 4, 8} and K ∈ 2..=10 and works on orbit tables `[|G|, K]` of logits
//! (the metric is group-agnostic: row g holds f̂(ρ_X(g)x)).

use super::{Control, Measurement};
use crate::metrics::osp;
use crate::train::cases::{sub_seed, worst};
use crate::Result;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Monte-Carlo trials for the mean of OSP over independent predictions.
pub const TRIALS: usize = 10_000;

/// Random tables checked for OSP ∈ [1, |G|].
pub const RANGE_TABLES: usize = 200;

/// The Monte-Carlo tolerance in standard errors. OSP − 1 ~ Binomial(|G| − 1, 1/K) for
/// independent uniform predictions, so the mean of [`TRIALS`] draws has standard error
/// se = √((|G|−1)(1/K)(1−1/K)/TRIALS); a deviation beyond 5 se has probability < 6e-7.
pub const SE_MULTIPLE: f64 = 5.0;

/// The threshold of the invariance control: OSP < |G| means |G| − OSP ≥ 1 (an integer), so
/// any threshold in (0, 1) separates; 0.5 is the midpoint.
pub const INVARIANCE_THRESHOLD: f64 = 0.5;

/// |G| and K drawn from a seed.
fn sizes(seed: u64) -> (usize, usize) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    ([2, 4, 8][rng.random_range(0..3)], rng.random_range(2..=10))
}

/// A `[g, k]` table of i.i.d. uniform logits (argmax uniform and independent across rows).
fn random_table(rng: &mut ChaCha8Rng, g: usize, k: usize) -> Vec<f64> {
    (0..g * k).map(|_| rng.random::<f64>()).collect()
}

/// The standard error of the mean OSP over [`TRIALS`] independent uniform predictions.
fn standard_error(g: usize, k: usize) -> f64 {
    let p = 1.0 / k as f64;
    ((g - 1) as f64 * p * (1.0 - p) / TRIALS as f64).sqrt()
}

/// The mean OSP over [`TRIALS`] tables drawn by `table`.
fn mean_osp(g: usize, k: usize, mut table: impl FnMut() -> Vec<f64>) -> f64 {
    let total: usize = (0..TRIALS).map(|_| osp(&table(), g, k)).sum();
    total as f64 / TRIALS as f64
}

/// S9 on one random (|G|, K).
///
/// The error is the largest of: |OSP − |G|| for an invariant table (a random row repeated),
/// the distance of OSP from [1, |G|] over [`RANGE_TABLES`] random tables, and
/// |mean OSP − (1 + (|G|−1)/K)| over [`TRIALS`] independent tables. The tolerance is
/// [`SE_MULTIPLE`]·se (≤ 5·√(7/4/10⁴) ≈ 0.066 < 1); the first two parts are integers, so any
/// violation of them (≥ 1) exceeds it.
pub fn check(seed: u64) -> Result<Measurement> {
    let (g, k) = sizes(sub_seed(seed, 0));
    let mut rng = ChaCha8Rng::seed_from_u64(sub_seed(seed, 1));
    let row: Vec<f64> = (0..k).map(|_| rng.random::<f64>()).collect();
    let invariant: Vec<f64> = (0..g).flat_map(|_| row.iter().copied()).collect();
    let mut error = (osp(&invariant, g, k) as f64 - g as f64).abs();
    for _ in 0..RANGE_TABLES {
        let o = osp(&random_table(&mut rng, g, k), g, k) as f64;
        error = worst(error, (1.0 - o).max(o - g as f64).max(0.0));
    }
    let expected = 1.0 + (g - 1) as f64 / k as f64;
    let mean = mean_osp(g, k, || random_table(&mut rng, g, k));
    error = worst(error, (mean - expected).abs());
    Ok(Measurement {
        statement: "S9",
        case: format!("|G| = {g}, K = {k}, {TRIALS} independent tables"),
        error,
        tolerance: SE_MULTIPLE * standard_error(g, k),
        degenerate: 0,
    })
}

/// Controls: (1) a non-invariant classifier — row h is row 0 with its classes shifted
/// cyclically by h, so the argmax moves — has OSP < |G| (error |G| − OSP); (2) predictions
/// that are not independent along the orbit — rows are copies of row 0 plus 1 % noise —
/// have a mean OSP far from 1 + (|G|−1)/K (error |mean − expected| above 5 se), so the
/// Monte-Carlo part can fail.
pub fn controls(seed: u64) -> Result<Vec<Control>> {
    let (g, k) = sizes(sub_seed(seed, 0));
    let mut rng = ChaCha8Rng::seed_from_u64(sub_seed(seed, 2));
    let row: Vec<f64> = (0..k).map(|_| rng.random::<f64>()).collect();
    let shifted: Vec<f64> = (0..g)
        .flat_map(|h| (0..k).map(move |c| (h, c)))
        .map(|(h, c)| row[(c + k - h % k) % k])
        .collect();
    let invariance_error = g as f64 - osp(&shifted, g, k) as f64;
    let expected = 1.0 + (g - 1) as f64 / k as f64;
    let mean = mean_osp(g, k, || {
        let base: Vec<f64> = (0..k).map(|_| rng.random::<f64>()).collect();
        (0..g * k)
            .map(|i| base[i % k] + 0.01 * rng.random::<f64>())
            .collect()
    });
    Ok(vec![
        Control {
            statement: "S9",
            dropped: "invariance of the classifier",
            case: format!("|G| = {g}, K = {k}, classes shifted by h along the orbit"),
            error: invariance_error,
            threshold: INVARIANCE_THRESHOLD,
        },
        Control {
            statement: "S9",
            dropped: "independence along the orbit",
            case: format!("|G| = {g}, K = {k}, rows = row 0 + 1 % noise"),
            error: (mean - expected).abs(),
            threshold: SE_MULTIPLE * standard_error(g, k),
        },
    ])
}
