//! THEORY S9: orbit-sameness OSP(x) = #{g : argmax f̂(ρ_X(g)x) = argmax f̂(x)} ∈ [1, |G|];
//! = |G| for an exactly invariant classifier; ≈ 1 + (|G|−1)/K for predictions independent
//! across the orbit (1.3 for C4 with 10 classes).

use eqens::metrics::{argmax, osp};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A `[g, k]` table of i.i.d. uniform logits: every row's argmax is uniform on 0..k and
/// independent of the other rows (ties have probability 0).
fn random_table(rng: &mut ChaCha8Rng, g: usize, k: usize) -> Vec<f64> {
    (0..g * k).map(|_| rng.random::<f64>()).collect()
}

#[test]
fn osp_lies_between_one_and_group_order() {
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    for &(g, k) in &[(1, 3), (2, 2), (4, 10), (8, 3), (12, 5)] {
        for _ in 0..500 {
            let t = random_table(&mut rng, g, k);
            let o = osp(&t, g, k);
            assert!((1..=g).contains(&o), "OSP {o} for |G| = {g}");
        }
    }
}

#[test]
fn invariant_classifier_has_full_osp() {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    for &g in &[1usize, 4, 8] {
        let row: Vec<f64> = (0..10).map(|_| rng.random::<f64>()).collect();
        let table: Vec<f64> = (0..g).flat_map(|_| row.clone()).collect();
        assert_eq!(osp(&table, g, 10), g);
    }
}

#[test]
fn non_invariant_classifier_has_osp_below_group_order() {
    // Negative control: row g is row 0 with its classes cyclically shifted by g, so the
    // argmax moves on every non-identity element.
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let k = 10;
    let row: Vec<f64> = (0..k).map(|_| rng.random::<f64>()).collect();
    let table: Vec<f64> = (0..4)
        .flat_map(|g| (0..k).map(move |c| (g, c)))
        .map(|(g, c)| row[(c + k - g) % k])
        .collect();
    assert_eq!(osp(&table, 4, k), 1);
    // Only one element changes the prediction: OSP = |G| − 1.
    let mut one_off: Vec<f64> = (0..4).flat_map(|_| row.clone()).collect();
    let top = argmax(&row);
    one_off[2 * k + top] = -1.0;
    assert_eq!(osp(&one_off, 4, k), 3);
}

#[test]
fn ties_go_to_the_lowest_class_index() {
    assert_eq!(argmax(&[1.0, 3.0, 3.0, 0.0]), 1);
    // Row 0 ties classes 0 and 1 (→ 0); row 1 ties classes 1 and 2 (→ 1): different.
    assert_eq!(osp(&[2.0, 2.0, 0.0, 0.0, 2.0, 2.0], 2, 3), 1);
    // Row 1 ties 0 and 2 (→ 0): the same prediction as row 0.
    assert_eq!(osp(&[2.0, 2.0, 0.0, 2.0, 0.0, 2.0], 2, 3), 2);
}

#[test]
fn independent_predictions_give_one_plus_g_minus_one_over_k() {
    // For independent uniform predictions OSP − 1 ~ Binomial(|G| − 1, 1/K), so
    // E[OSP] = 1 + (|G|−1)/K and Var = (|G|−1)(1/K)(1 − 1/K). Tolerance: 5 binomial
    // standard errors of the Monte-Carlo mean.
    let mut rng = ChaCha8Rng::seed_from_u64(2024);
    let trials = 20_000;
    for &(g, k) in &[(4usize, 10usize), (8, 10), (4, 3)] {
        let total: usize = (0..trials)
            .map(|_| osp(&random_table(&mut rng, g, k), g, k))
            .sum();
        let mean = total as f64 / trials as f64;
        let p = 1.0 / k as f64;
        let expected = 1.0 + (g - 1) as f64 * p;
        let se = ((g - 1) as f64 * p * (1.0 - p) / trials as f64).sqrt();
        assert!(
            (mean - expected).abs() < 5.0 * se,
            "|G| = {g}, K = {k}: mean OSP {mean}, expected {expected} ± {}",
            5.0 * se
        );
        if (g, k) == (4, 10) {
            // The THEORY's number: 1.3, within 5 SE = 5·√(0.27/20000) ≈ 0.018.
            assert!((mean - 1.3).abs() < 0.019, "C4, K = 10: {mean}");
        }
    }
}

#[test]
fn correlated_predictions_are_distinguished_from_independent_ones() {
    // Control for the Monte-Carlo test: when rows are noisy copies of row 0 (a nearly
    // invariant ensemble) the mean OSP is far above 1.3, so the test above is not
    // satisfied by any table generator.
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let (g, k, trials) = (4, 10, 2_000);
    let mut total = 0;
    for _ in 0..trials {
        let base: Vec<f64> = (0..k).map(|_| rng.random::<f64>()).collect();
        let table: Vec<f64> = (0..g * k)
            .map(|i| base[i % k] + 0.01 * rng.random::<f64>())
            .collect();
        total += osp(&table, g, k);
    }
    let mean = total as f64 / trials as f64;
    assert!(mean > 3.5, "nearly invariant ensemble: mean OSP {mean}");
}
