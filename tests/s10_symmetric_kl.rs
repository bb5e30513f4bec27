//! THEORY S10: DIV(x) = (1/|G|) Σ_g [KL(p(x)‖p(gx)) + KL(p(gx)‖p(x))], p = softmax of the
//! ensemble's mean logits; DIV ≥ 0, and DIV = 0 iff p is constant on the orbit.

use eqens::metrics::symmetric_kl;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn random_table(rng: &mut ChaCha8Rng, g: usize, k: usize, scale: f64) -> Vec<f64> {
    (0..g * k)
        .map(|_| scale * (2.0 * rng.random::<f64>() - 1.0))
        .collect()
}

/// The definition, computed naively: softmax by exp / sum, KL(p‖q) = Σ p ln(p / q).
fn naive_div(orbit: &[f64], g: usize, k: usize) -> f64 {
    let softmax = |z: &[f64]| {
        let e: Vec<f64> = z.iter().map(|v| v.exp()).collect();
        let s: f64 = e.iter().sum();
        e.into_iter().map(|v| v / s).collect::<Vec<f64>>()
    };
    let kl = |p: &[f64], q: &[f64]| -> f64 { p.iter().zip(q).map(|(a, b)| a * (a / b).ln()).sum() };
    let p = softmax(&orbit[..k]);
    let mut total = 0.0;
    for h in 0..g {
        let q = softmax(&orbit[h * k..(h + 1) * k]);
        total += kl(&p, &q) + kl(&q, &p);
    }
    total / g as f64
}

#[test]
fn div_is_non_negative_on_random_tables() {
    let mut rng = ChaCha8Rng::seed_from_u64(10);
    for &(g, k) in &[(2, 2), (4, 10), (8, 3)] {
        for &scale in &[1e-6, 1.0, 30.0] {
            for _ in 0..200 {
                let t = random_table(&mut rng, g, k, scale);
                let d = symmetric_kl(&t, g, k);
                assert!(d >= 0.0 && d.is_finite(), "DIV = {d}");
            }
        }
    }
}

#[test]
fn div_matches_the_naive_formula() {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    for &(g, k) in &[(2, 2), (4, 10), (8, 5)] {
        for _ in 0..100 {
            let t = random_table(&mut rng, g, k, 3.0);
            let (a, b) = (symmetric_kl(&t, g, k), naive_div(&t, g, k));
            // Logits of size ≤ 3, ≤ 8 rows of ≤ 10 terms: both formulas are accurate to
            // ~1e-15 relative per term; DIV here is O(1), so 1e-12 is ample.
            assert!((a - b).abs() <= 1e-12 * b.max(1.0), "{a} vs naive {b}");
        }
    }
}

#[test]
fn div_is_zero_when_p_is_constant_on_the_orbit() {
    let mut rng = ChaCha8Rng::seed_from_u64(12);
    let k = 10;
    let row: Vec<f64> = (0..k).map(|_| 5.0 * rng.random::<f64>()).collect();
    // Identical rows: exactly 0 (every term is (p − p)(lp − lp)).
    let same: Vec<f64> = (0..4).flat_map(|_| row.clone()).collect();
    assert_eq!(symmetric_kl(&same, 4, k), 0.0);
    // Rows shifted by a constant: softmax is unchanged. Shifts up to 1e3 perturb log p by
    // ~ε·1e3 ≈ 2e-13, and DIV is quadratic in that perturbation, so ≤ 1e-20.
    let shifts = [0.0, 1.0, -250.0, 1e3];
    let shifted: Vec<f64> = shifts
        .iter()
        .flat_map(|&c| row.iter().map(move |&z| z + c))
        .collect();
    let d = symmetric_kl(&shifted, 4, k);
    assert!(d < 1e-20, "shifted rows: DIV = {d}");
    // Huge logits, where a naive softmax overflows, stay exact and finite.
    let huge: Vec<f64> = [1e3, 1e3 + 7.0]
        .iter()
        .flat_map(|&c| row.iter().map(move |&z| z + c))
        .collect();
    assert!(symmetric_kl(&huge, 2, k) < 1e-20);
    let huge_diff: Vec<f64> = vec![1e3, 0.0, 0.0, 1e3];
    let d = symmetric_kl(&huge_diff, 2, 2);
    // p = (1, e^-1000), q reversed: the pair contributes ≈ 2·1000, DIV ≈ 1000.
    assert!((d - 1000.0).abs() < 1e-9, "DIV = {d}");
}

#[test]
fn div_is_positive_for_any_genuinely_different_row() {
    // Control: change ONE entry of ONE row (not a constant shift) by δ; DIV > 0 even for
    // small δ, and grows like δ²: each KL is ≈ ½δ²Var_p(e_c), so the pair gives δ²·p_c(1 − p_c)
    // and DIV ≈ δ²·p_c(1 − p_c)/|G|.
    let mut rng = ChaCha8Rng::seed_from_u64(13);
    let k = 10;
    let row: Vec<f64> = (0..k).map(|_| rng.random::<f64>()).collect();
    let mut prev = f64::INFINITY;
    for &delta in &[1.0, 1e-1, 1e-2, 1e-3, 1e-4] {
        let mut table: Vec<f64> = (0..4).flat_map(|_| row.clone()).collect();
        table[3 * k + 5] += delta;
        let d = symmetric_kl(&table, 4, k);
        assert!(d > 0.0, "δ = {delta}: DIV = {d}");
        assert!(d < prev, "DIV must shrink with δ");
        prev = d;
    }
    // δ = 1e-4: DIV/δ² = p_5(1 − p_5)/4 up to a relative O(δ) = 1e-4 correction (tolerance
    // 1e-3; the absolute round-off in DIV ~ 1e-16·1e-4 is far smaller than DIV ~ 1e-10).
    let mut table: Vec<f64> = (0..4).flat_map(|_| row.clone()).collect();
    table[3 * k + 5] += 1e-4;
    let e: Vec<f64> = row.iter().map(|z| z.exp()).collect();
    let p5 = e[5] / e.iter().sum::<f64>();
    let expected = 1e-8 * p5 * (1.0 - p5) / 4.0;
    let d = symmetric_kl(&table, 4, k);
    assert!((d / expected - 1.0).abs() < 1e-3, "{d} vs {expected}");
}

#[test]
fn div_is_symmetric_in_the_two_roles() {
    // With two rows, DIV is (KL(p‖q) + KL(q‖p))/2: swapping which row is "x" changes nothing.
    let mut rng = ChaCha8Rng::seed_from_u64(14);
    for _ in 0..100 {
        let t = random_table(&mut rng, 2, 6, 4.0);
        let swapped: Vec<f64> = t[6..].iter().chain(&t[..6]).copied().collect();
        let (a, b) = (symmetric_kl(&t, 2, 6), symmetric_kl(&swapped, 2, 6));
        // Same terms with both factors negated: identical up to summation order, ~1e-15.
        assert!((a - b).abs() <= 1e-14 * a.max(1.0), "{a} vs {b}");
    }
    // Control: with three rows the reference row matters, so DIV is not symmetric under
    // swapping row 0 with row 1 in general.
    let t = [0.0, 0.0, 3.0, 0.0, 0.0, 3.0];
    let s = [3.0, 0.0, 0.0, 0.0, 0.0, 3.0];
    assert!((symmetric_kl(&t, 3, 2) - symmetric_kl(&s, 3, 2)).abs() > 0.1);
}
