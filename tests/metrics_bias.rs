//! The squared-bias U-statistic ‖E D‖² (`eqens::metrics::squared_mean_norm`): unbiased on
//! synthetic Gaussian draws with a known mean, centred at 0 for a zero mean, its interval
//! covers, its test holds its level; negative controls: the plug-in ‖D̄‖² is biased, a
//! non-zero mean is detected, and the orbit defect of an invariant table is zero.
//!
//! Tolerances come from the exact variance of a degree-2 U-statistic with kernel ⟨a, b⟩
//! (Hoeffding): with ζ₁ = μᵀΣμ and ζ₂ = tr Σ² + 2μᵀΣμ,
//! Var U = (4(M−2)ζ₁ + 2ζ₂) / (M(M−1)) = (4(M−1)μᵀΣμ + 2 tr Σ²) / (M(M−1)).
//! A mean over R independent replicates has standard error √(Var U / R); we allow 4 of
//! them (a two-sided normal tail of 6e-5; the seeds are fixed, so the test is deterministic).

use eqens::metrics::{orbit_defect, squared_mean_norm, BiasEstimate};
use eqens::train::init::standard_normal;
use eqens::Error;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Dimension d of the draws, draws per estimate M, replicates R.
const D: usize = 100;
const M: usize = 30;
const R: usize = 400;

/// Standard deviations of the independent coordinates (Σ = diag(σ²)).
fn sigmas() -> Vec<f64> {
    (0..D)
        .map(|k| 0.5 + 1.5 * k as f64 / (D - 1) as f64)
        .collect()
}

/// R estimates, each from M draws D_i = μ + σ ⊙ z_i.
fn replicates(mu: &[f64], seed: u64) -> Vec<BiasEstimate> {
    let s = sigmas();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..R)
        .map(|_| {
            let draws: Vec<Vec<f64>> = (0..M)
                .map(|_| {
                    (0..D)
                        .map(|k| mu[k] + s[k] * standard_normal(&mut rng))
                        .collect()
                })
                .collect();
            let refs: Vec<&[f64]> = draws.iter().map(|d| d.as_slice()).collect();
            squared_mean_norm(&refs).unwrap()
        })
        .collect()
}

/// Exact Var U for mean μ and Σ = diag(σ²).
fn var_u(mu: &[f64]) -> f64 {
    let s = sigmas();
    let m = M as f64;
    let mu_sigma_mu: f64 = mu.iter().zip(&s).map(|(a, b)| a * a * b * b).sum();
    let tr_sigma2: f64 = s.iter().map(|b| b.powi(4)).sum();
    (4.0 * (m - 1.0) * mu_sigma_mu + 2.0 * tr_sigma2) / (m * (m - 1.0))
}

fn mean(v: impl Iterator<Item = f64>) -> f64 {
    let v: Vec<f64> = v.collect();
    v.iter().sum::<f64>() / v.len() as f64
}

fn small_mean() -> Vec<f64> {
    (0..D).map(|k| 0.15 * ((k % 3) as f64 - 1.0)).collect()
}

#[test]
fn u_statistic_is_unbiased_and_the_plug_in_is_not() {
    let mu = small_mean();
    let truth: f64 = mu.iter().map(|v| v * v).sum();
    let reps = replicates(&mu, 1);
    let se_of_mean = (var_u(&mu) / R as f64).sqrt();
    let u_bar = mean(reps.iter().map(|e| e.estimate));
    assert!(
        (u_bar - truth).abs() < 4.0 * se_of_mean,
        "mean U {u_bar} vs ‖μ‖² {truth} (4 se = {})",
        4.0 * se_of_mean
    );
    // Negative control: the plug-in ‖D̄‖² has mean ‖μ‖² + tr Σ / M; the excess
    // tr Σ / M ≈ 5.7 is ≫ 10 standard errors of the mean here, so the same check fails.
    let plug_bar = mean(reps.iter().map(|e| e.plugin));
    let tr_sigma: f64 = sigmas().iter().map(|s| s * s).sum();
    assert!(tr_sigma / M as f64 > 10.0 * se_of_mean);
    assert!(
        (plug_bar - truth).abs() > 4.0 * se_of_mean,
        "control: the plug-in must look biased ({plug_bar} vs {truth})"
    );
}

#[test]
fn zero_mean_is_centred_at_zero_and_the_test_holds_its_level() {
    let mu = vec![0.0; D];
    let reps = replicates(&mu, 2);
    let se_of_mean = (var_u(&mu) / R as f64).sqrt();
    let u_bar = mean(reps.iter().map(|e| e.estimate));
    assert!(
        u_bar.abs() < 4.0 * se_of_mean,
        "mean U {u_bar} (4 se = {})",
        4.0 * se_of_mean
    );
    // The null variance estimate is unbiased for Var U under the null: E[null_sd²] = Var U
    // up to 4 relative standard errors of the replicate mean.
    let v: Vec<f64> = reps.iter().map(|e| e.null_sd * e.null_sd).collect();
    let mv = mean(v.iter().copied());
    let rel = mean(v.iter().map(|x| (x - mv) * (x - mv))).sqrt() / (mv * (R as f64).sqrt());
    let ratio = mv / var_u(&mu);
    assert!(
        (ratio - 1.0).abs() < 4.0 * rel,
        "E[null_sd²] / Var U = {ratio}"
    );
    // Level: under ‖E D‖² = 0 the one-sided test at α = 0.05 rejects in α of the
    // replicates, up to 4 binomial standard errors √(α(1−α)/R) ≈ 0.011 (D = 100 comparable
    // eigenvalues: U is close to normal).
    let alpha = 0.05;
    let rate = reps.iter().filter(|e| e.p_value < alpha).count() as f64 / R as f64;
    let binom = (alpha * (1.0 - alpha) / R as f64).sqrt();
    assert!((rate - alpha).abs() <= 4.0 * binom, "rejection rate {rate}");
}

#[test]
fn jackknife_interval_covers_and_its_variance_matches_hoeffding() {
    for (seed, mu) in [(3, vec![0.0; D]), (4, small_mean())] {
        let truth: f64 = mu.iter().map(|v| v * v).sum();
        let reps = replicates(&mu, seed);
        // Coverage of the 95 % interval: at least 0.95 − 4 binomial se (≈ 0.044).
        let covered = reps
            .iter()
            .filter(|e| e.ci_low <= truth && truth <= e.ci_high)
            .count() as f64
            / R as f64;
        let binom = (0.95 * 0.05 / R as f64).sqrt();
        assert!(covered >= 0.95 - 4.0 * binom, "coverage {covered}");
        // E[se²] against its leading-order value Var U + 2 tr Σ² / (M(M−1)) (module docs:
        // the jackknife doubles the degenerate term). Allowed: 4 relative standard errors of
        // the replicate mean, plus 4/(M − 2) for the terms of relative order 1/M that the
        // leading-order formula drops.
        let se2: Vec<f64> = reps.iter().map(|e| e.se * e.se).collect();
        let m2 = mean(se2.iter().copied());
        let sd2 = (mean(se2.iter().map(|v| (v - m2) * (v - m2)))).sqrt();
        let rel = sd2 / (m2 * (R as f64).sqrt());
        let tr_sigma2: f64 = sigmas().iter().map(|b| b.powi(4)).sum();
        let m = M as f64;
        let expected = var_u(&mu) + 2.0 * tr_sigma2 / (m * (m - 1.0));
        let ratio = m2 / expected;
        assert!(
            (ratio - 1.0).abs() < 4.0 * rel + 4.0 / (m - 2.0),
            "E[se²] / expected = {ratio} (rel se {rel})"
        );
    }
}

#[test]
fn a_non_zero_mean_is_detected() {
    // ‖μ‖² = 100 · 0.3² = 9 while the null sd √(2 tr Σ²/(M(M−1))) ≈ 1.2: t ≈ 7 in most
    // replicates, so the test rejects at 0.05 in far more than 5 %.
    let mu = vec![0.3; D];
    let reps = replicates(&mu, 5);
    let rate = reps.iter().filter(|e| e.p_value < 0.05).count() as f64 / R as f64;
    assert!(rate > 0.9, "power {rate}");
    let truth: f64 = mu.iter().map(|v| v * v).sum();
    let u_bar = mean(reps.iter().map(|e| e.estimate));
    assert!((u_bar - truth).abs() < 4.0 * (var_u(&mu) / R as f64).sqrt());
}

#[test]
fn bad_inputs_are_errors() {
    assert!(matches!(
        squared_mean_norm(&[&[1.0, 2.0][..]]),
        Err(Error::Invalid(_))
    ));
    assert!(matches!(
        squared_mean_norm(&[&[1.0, 2.0][..], &[1.0][..]]),
        Err(Error::Shape(_))
    ));
    assert!(matches!(
        squared_mean_norm(&[&[1.0, f64::NAN][..], &[1.0, 2.0][..]]),
        Err(Error::Invalid(_))
    ));
    // Two draws: an estimate, but no standard error.
    let e = squared_mean_norm(&[&[1.0, 2.0][..], &[3.0, 2.0][..]]).unwrap();
    assert_eq!(e.estimate, 1.0 * 3.0 + 2.0 * 2.0);
    assert!(e.se.is_nan());
}

#[test]
fn orbit_defect_is_zero_exactly_for_an_invariant_table() {
    // [n = 2, |G| = 4, K = 3]: every row of an orbit equal → D = 0; a changed row → D ≠ 0
    // in that row only (negative control).
    let (g, k) = (4, 3);
    let mut table = Vec::new();
    for j in 0..2 {
        for _ in 0..g {
            table.extend((0..k).map(|c| (j * k + c) as f64 * 0.7 - 1.0));
        }
    }
    let mut out = vec![1.0; table.len()];
    orbit_defect(&table, g, k, &mut out);
    assert!(out.iter().all(|&v| v == 0.0));
    table[(g + 2) * k + 1] += 0.5;
    orbit_defect(&table, g, k, &mut out);
    let nonzero: Vec<usize> = (0..out.len()).filter(|&i| out[i] != 0.0).collect();
    assert_eq!(nonzero, vec![(g + 2) * k + 1]);
    assert_eq!(out[(g + 2) * k + 1], 0.5);
}
