//! S11: E = 𝓛 ∩ H_G is invariant under augmented descent (tolerances in
//! `eqens::check::s11_e_invariant`).

use eqens::check::s11_e_invariant::{check, controls};

#[test]
fn e_is_invariant_under_augmented_descent() {
    for seed in 0..6 {
        let m = check(seed).unwrap();
        assert!(m.holds(), "seed {seed}: {m:?}");
    }
}

#[test]
fn incompatible_skewed_or_unaugmented_training_leaves_e() {
    for seed in 0..6 {
        for c in controls(seed).unwrap() {
            assert!(c.failed_as_expected(), "seed {seed}: {c:?}");
        }
    }
}
