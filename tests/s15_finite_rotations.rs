//! S15: finite subgroups of SO(2) (tolerances in `eqens::check::s15_finite_rotations`).

use eqens::check::s15_finite_rotations::{check, check_decrease, controls};

#[test]
fn cn_augmented_orbit_ensembles_are_exactly_cn_equivariant() {
    for seed in 0..3 {
        let m = check(seed).unwrap();
        println!("seed {seed}: {}", m.case);
        assert!(m.holds(), "seed {seed}: {m:?}");
    }
}

#[test]
fn the_so2_error_decreases_with_n() {
    for seed in 0..3 {
        let m = check_decrease(seed).unwrap();
        println!("seed {seed}: ratio {:.3}", m.error);
        assert!(m.holds(), "seed {seed}: {m:?}");
    }
}

#[test]
fn without_augmentation_the_cn_error_is_large() {
    for seed in 0..3 {
        for c in controls(seed).unwrap() {
            println!("seed {seed}: {}", c.case);
            assert!(c.failed_as_expected(), "seed {seed}: {c:?}");
        }
    }
}
