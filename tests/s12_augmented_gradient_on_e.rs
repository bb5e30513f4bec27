//! S12: on E the augmented gradient is Π_E∇R (tolerances in
//! `eqens::check::s12_augmented_gradient_on_e`).

use eqens::check::s12_augmented_gradient_on_e::{check, controls};

#[test]
fn augmented_gradient_on_e_is_projected_gradient() {
    for seed in 0..6 {
        let m = check(seed).unwrap();
        assert!(m.holds(), "seed {seed}: {m:?}");
    }
}

#[test]
fn incompatible_support_or_point_off_e_breaks_it() {
    for seed in 0..6 {
        for c in controls(seed).unwrap() {
            assert!(c.failed_as_expected(), "seed {seed}: {c:?}");
        }
    }
}
