//! S2: the augmented risk is an orbit average, and is ρ-invariant (tolerances in
//! `eqens::check::s02_augmented_risk`).

use eqens::check::s02_augmented_risk::{check, controls};

#[test]
fn augmented_risk_is_an_orbit_average() {
    for seed in 0..6 {
        let m = check(seed).unwrap();
        assert!(m.holds(), "seed {seed}: {m:?}");
    }
}

#[test]
fn untransformed_targets_break_the_identity() {
    for seed in 0..6 {
        for c in controls(seed).unwrap() {
            assert!(c.failed_as_expected(), "seed {seed}: {c:?}");
        }
    }
}
