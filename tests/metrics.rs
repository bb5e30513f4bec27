//! Bootstrap, summary statistics, log-log slopes, Student's t / Welch's test, the ensemble
//! mean, accuracy and the equivariance error aggregate.

use eqens::metrics::{
    accuracy, bootstrap_indices, equivariance_error, equivariance_sq_error, equivariance_stats,
    ln_gamma, loglog_slope, mean_logits, mean_std, regularized_incomplete_beta, student_t_cdf,
    welch_one_sided,
};
use eqens::Error;

// ---------------------------------------------------------------- bootstrap, mean ± std

#[test]
fn bootstrap_is_deterministic_and_seed_dependent() {
    let a = bootstrap_indices(50, 20, 30, 7);
    assert_eq!(a, bootstrap_indices(50, 20, 30, 7));
    assert_ne!(a, bootstrap_indices(50, 20, 30, 8));
    assert_eq!(a.len(), 30);
    assert!(a.iter().all(|r| r.len() == 20 && r.iter().all(|&i| i < 50)));
    // Sizes larger than the population are allowed (with replacement).
    assert!(bootstrap_indices(3, 10, 2, 0).iter().all(|r| r.len() == 10));
    assert!(bootstrap_indices(0, 0, 5, 0).iter().all(|r| r.is_empty()));
}

#[test]
fn bootstrap_draws_with_replacement_uniformly() {
    // Resamples of size = population: without replacement each would be a permutation.
    // With replacement, P(no repeat) = 10!/10¹⁰ ≈ 3.6e-4 per resample.
    let r = bootstrap_indices(10, 10, 100, 1);
    let with_repeat = r
        .iter()
        .filter(|s| {
            let mut v = (*s).clone();
            v.sort_unstable();
            v.dedup();
            v.len() < 10
        })
        .count();
    assert!(
        with_repeat >= 95,
        "only {with_repeat} resamples had a repeat"
    );
    // Uniform: 1e5 draws over 10 values; each count ~ Binomial(1e5, 0.1), sd ≈ 94.9;
    // tolerance 5 sd.
    let big = bootstrap_indices(10, 1000, 100, 2);
    let mut counts = [0usize; 10];
    for &i in big.iter().flatten() {
        counts[i] += 1;
    }
    for (v, &c) in counts.iter().enumerate() {
        assert!((c as f64 - 1e4).abs() < 475.0, "value {v} drawn {c} times");
    }
}

#[test]
fn mean_std_uses_the_sample_variance() {
    // Σ(x − 5)² = 32 over 8 values: sample std √(32/7); the population std would be 2.
    let (m, s) = mean_std(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]);
    assert_eq!(m, 5.0);
    assert!((s - (32.0f64 / 7.0).sqrt()).abs() < 1e-15);
    assert!((s - 2.0).abs() > 0.1, "control: not the population std");
    let (m1, s1) = mean_std(&[3.0]);
    assert_eq!(m1, 3.0);
    assert!(s1.is_nan());
    assert!(mean_std(&[]).0.is_nan());
}

// ---------------------------------------------------------------- log-log slope

#[test]
fn loglog_slope_is_exact_on_power_laws() {
    let ms = [5.0, 10.0, 25.0, 50.0, 75.0, 100.0, 250.0, 500.0, 1000.0];
    let inv: Vec<f64> = ms.iter().map(|m| 0.37 / m).collect();
    // ln of 9 values of size ≤ 7: each ln has ~1e-16 relative error; sums of 9 centred
    // terms keep the slope within ~1e-14, so 1e-12 is safe.
    let s = loglog_slope(&ms, &inv).unwrap();
    assert!((s + 1.0).abs() < 1e-12, "slope {s}");
    // Control: a plateau b + c/M (the biased case of S8) is NOT slope −1.
    let plateau: Vec<f64> = ms.iter().map(|m| 0.05 + 0.37 / m).collect();
    let s = loglog_slope(&ms, &plateau).unwrap();
    assert!(s > -0.9, "plateau slope {s}");
    // Control: y = c·x^−½ gives −½, not −1.
    let half: Vec<f64> = ms.iter().map(|m| 2.0 / m.sqrt()).collect();
    let s = loglog_slope(&ms, &half).unwrap();
    assert!(
        (s + 0.5).abs() < 1e-12 && (s + 1.0).abs() > 0.4,
        "slope {s}"
    );
}

#[test]
fn loglog_slope_rejects_bad_input() {
    let bad: [(&[f64], &[f64]); 6] = [
        (&[1.0], &[1.0]),
        (&[1.0, 2.0], &[1.0]),
        (&[1.0, 2.0], &[1.0, 0.0]),
        (&[-1.0, 2.0], &[1.0, 1.0]),
        (&[1.0, f64::NAN], &[1.0, 1.0]),
        (&[2.0, 2.0], &[1.0, 3.0]),
    ];
    for (x, y) in bad {
        assert!(
            matches!(loglog_slope(x, y), Err(Error::Invalid(_))),
            "{x:?} {y:?}"
        );
    }
}

// ---------------------------------------------------------------- Student t and Welch

#[test]
fn ln_gamma_matches_factorials() {
    let mut fact = 1.0f64;
    for n in 1..=20u32 {
        if n > 1 {
            fact *= f64::from(n - 1);
        }
        // Lanczos g = 7 is accurate to ~1e-15 relative; ln(19!) ≈ 39.
        let lg = ln_gamma(f64::from(n));
        assert!(
            (lg - fact.ln()).abs() < 1e-13 * fact.ln().max(1.0),
            "Γ({n})"
        );
    }
    assert!((ln_gamma(0.5) - std::f64::consts::PI.sqrt().ln()).abs() < 1e-14);
    assert!(ln_gamma(0.0).is_nan() && ln_gamma(-1.0).is_nan());
}

#[test]
fn incomplete_beta_matches_closed_forms_and_references() {
    for &x in &[0.01, 0.2, 0.5, 0.77, 0.999] {
        for &a in &[0.3, 1.0, 2.5, 40.0] {
            // I_x(a, 1) = x^a and I_x(1, b) = 1 − (1 − x)^b; ~1e-15 from the continued
            // fraction's tolerance times a few ln/exp, so 1e-13 absolute.
            let i = regularized_incomplete_beta(a, 1.0, x);
            assert!((i - x.powf(a)).abs() < 1e-13, "I_{x}({a}, 1) = {i}");
            let j = regularized_incomplete_beta(1.0, a, x);
            assert!(
                (j - (1.0 - (1.0 - x).powf(a))).abs() < 1e-13,
                "I_{x}(1, {a}) = {j}"
            );
        }
    }
    // References from mpmath 1.3.0 (betainc, 30 digits).
    let r1 = regularized_incomplete_beta(2.5, 3.5, 0.3);
    assert!((r1 - 0.296_752_989_295_666_4).abs() < 1e-13, "{r1}");
    let r2 = regularized_incomplete_beta(50.0, 0.5, 0.97);
    assert!((r2 - 0.081_699_333_721_822_63).abs() < 1e-12, "{r2}");
    assert!(regularized_incomplete_beta(-1.0, 1.0, 0.5).is_nan());
    assert!(regularized_incomplete_beta(1.0, 1.0, 1.5).is_nan());
}

#[test]
fn t_cdf_matches_reference_values() {
    // One-sided upper tails P(T > t) from mpmath 1.3.0 (30 digits). Moderate ν: the beta
    // function's ~1e-15 relative accuracy gives ≤ 1e-13 absolute.
    let cases = [
        (2.0, 10.0, 0.036_694_017_385_370_18),
        (1.0, 1.0, 0.25),
        (3.5, 4.3, 0.011_063_548_716_024_86),
        (0.7, 25.5, 0.245_132_396_923_057_8),
        (10.0, 3.0, 0.001_064_199_529_207_075),
        (0.1, 200.0, 0.460_222_246_252_160_5),
    ];
    for (t, nu, upper) in cases {
        let lower_tail = student_t_cdf(-t, nu);
        assert!(
            (lower_tail - upper).abs() < 1e-13,
            "t = {t}, ν = {nu}: {lower_tail}"
        );
        let upper_tail = 1.0 - student_t_cdf(t, nu);
        assert!(
            (upper_tail - upper).abs() < 1e-13,
            "t = {t}, ν = {nu}: {upper_tail}"
        );
    }
    // ν = 1e6: ln Γ(5e5) ≈ 6e6 carries ~1e-9 absolute error, so the tail is good to ~1e-10;
    // tolerance 1e-8. Reference P(T > 1.6449) = 0.04999537462…; the normal tail is
    // 0.04999521747…, so the test also sees the O(1/ν) difference is tiny.
    let p = student_t_cdf(-1.6449, 1e6);
    assert!((p - 0.049_995_374_622_151_37).abs() < 1e-8, "{p}");
    assert!((p - 0.05).abs() < 1e-5, "{p}");
}

#[test]
fn t_cdf_matches_closed_forms_for_one_and_two_dof() {
    // ν = 1 (Cauchy): 1/2 + atan(t)/π; ν = 2: 1/2 + t / (2√(2 + t²)).
    for i in -40..=40 {
        let t = f64::from(i) * 0.25;
        let c1 = 0.5 + t.atan() / std::f64::consts::PI;
        let c2 = 0.5 + t / (2.0 * (2.0 + t * t).sqrt());
        assert!((student_t_cdf(t, 1.0) - c1).abs() < 1e-13, "ν = 1, t = {t}");
        assert!((student_t_cdf(t, 2.0) - c2).abs() < 1e-13, "ν = 2, t = {t}");
    }
    assert!(student_t_cdf(0.0, 0.0).is_nan());
    assert_eq!(student_t_cdf(f64::INFINITY, 3.0), 1.0);
}

#[test]
fn welch_matches_a_hand_computed_example() {
    // a: mean 3, s² 2.5; b: mean 7, s² 14. Reference (mpmath, 30 digits):
    // t = −2.37635410314401834, ν = 6.97225572979493366, p = 0.0246421691033652604.
    let a = [1.0, 2.0, 3.0, 4.0, 5.0];
    let b = [2.0, 4.0, 6.0, 8.0, 10.0, 12.0];
    let w = welch_one_sided(&a, &b).unwrap();
    assert!((w.t + 2.376_354_103_144_018).abs() < 1e-13, "t = {}", w.t);
    assert!(
        (w.dof - 6.972_255_729_794_934).abs() < 1e-12,
        "ν = {}",
        w.dof
    );
    assert!(
        (w.p_value - 0.024_642_169_103_365_26).abs() < 1e-13,
        "p = {}",
        w.p_value
    );
    // Control: the opposite hypothesis (b < a) has p = 1 − p.
    let r = welch_one_sided(&b, &a).unwrap();
    assert!((r.p_value - (1.0 - w.p_value)).abs() < 1e-14);
    assert!(r.p_value > 0.95);
}

#[test]
fn welch_rejects_bad_samples() {
    assert!(matches!(
        welch_one_sided(&[1.0], &[1.0, 2.0]),
        Err(Error::Invalid(_))
    ));
    assert!(matches!(
        welch_one_sided(&[1.0, 1.0], &[2.0, 2.0]),
        Err(Error::Invalid(_))
    ));
    assert!(matches!(
        welch_one_sided(&[1.0, f64::NAN], &[1.0, 2.0]),
        Err(Error::Invalid(_))
    ));
}

// ---------------------------------------------------------------- ensemble mean, accuracy

#[test]
fn mean_logits_sums_in_member_order() {
    let a = [1.0, 2.0];
    let b = [3.0, -4.0];
    let c = [0.5, 0.25];
    assert_eq!(mean_logits(&[&a, &b, &c]), vec![4.5 / 3.0, -1.75 / 3.0]);
    // Floating-point sums depend on order: (1 + 1e16) − 1e16 = 0 but (−1e16 + 1e16) + 1 = 1.
    // mean_logits must follow the member order given, every time.
    let (x, y, z) = ([1.0], [1e16], [-1e16]);
    let forward = mean_logits(&[&x, &y, &z]);
    let backward = mean_logits(&[&z, &y, &x]);
    assert_eq!(forward, vec![0.0]);
    assert_eq!(backward, vec![1.0 / 3.0]);
    for _ in 0..3 {
        assert_eq!(mean_logits(&[&x, &y, &z]), forward);
    }
}

#[test]
fn accuracy_counts_argmax_hits() {
    let logits = [
        0.1, 0.9, 0.0, /**/ 0.7, 0.2, 0.1, /**/ 0.3, 0.3, 0.4, /**/ 0.5, 0.5, 0.0,
    ];
    // Predictions 1, 0, 2, 0 (tie → lowest).
    assert_eq!(accuracy(&logits, 3, &[1, 0, 2, 0]), 1.0);
    assert_eq!(accuracy(&logits, 3, &[1, 1, 2, 1]), 0.5);
    assert_eq!(accuracy(&logits, 3, &[0, 1, 0, 1]), 0.0);
}

// ---------------------------------------------------------------- equivariance error

#[test]
fn equivariance_error_of_pairs_and_aggregate() {
    assert_eq!(equivariance_sq_error(&[1.0, 2.0], &[1.0, 0.0]), 4.0);
    assert_eq!(equivariance_error(&[3.0, 0.0], &[0.0, 4.0]), 5.0);
    // Three pairs of dimension 2: errors 0, ‖(6, 8)‖ = 10, ‖(0, 1)‖ = 1; norms of
    // ρ_Y(g)f(x) 5, 5, 2 (mean 4). Every value below is exact in binary or computed the
    // same way, so equality is exact.
    let f_gx = [3.0, 4.0, /**/ 3.0, 4.0, /**/ 0.0, 3.0];
    let rho_f = [3.0, 4.0, /**/ -3.0, -4.0, /**/ 0.0, 2.0];
    let s = equivariance_stats(&f_gx, &rho_f, 2);
    assert_eq!(s.count, 3);
    assert_eq!(s.max_abs, 10.0);
    assert_eq!(s.mean_abs, 11.0 / 3.0);
    assert_eq!(s.mean_sq, 101.0 / 3.0);
    assert_eq!(s.mean_norm, 4.0);
    assert_eq!(s.max_rel, 2.5);
    assert_eq!(s.mean_rel, 11.0 / 12.0);
    // Exactly equivariant outputs: every error is 0.
    let e = equivariance_stats(&rho_f, &rho_f, 2);
    assert_eq!((e.max_abs, e.mean_sq, e.max_rel), (0.0, 0.0, 0.0));
    // Zero outputs: relative error 0 if exact, +∞ otherwise.
    let z = equivariance_stats(&[0.0, 0.0], &[0.0, 0.0], 2);
    assert_eq!(z.max_rel, 0.0);
    let z = equivariance_stats(&[1.0, 0.0], &[0.0, 0.0], 2);
    assert_eq!(z.max_rel, f64::INFINITY);
    // A NaN output is never hidden by the max.
    let n = equivariance_stats(&[f64::NAN, 0.0, 1.0, 1.0], &[0.0, 0.0, 0.0, 0.0], 2);
    assert!(n.max_abs.is_nan() && n.mean_abs.is_nan());
}
