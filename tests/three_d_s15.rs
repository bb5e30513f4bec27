//! S15 in three dimensions (tolerances in `eqens::check::s15_three_d`): T, O, I orbit
//! ensembles on point clouds are exactly equivariant and their SO(3) error falls with |G|;
//! Haar-augmented ensembles follow the 1/M law under SO(3); non-uniform laws on SO(3)
//! (S14 in 3-D) and missing augmentation are the negative controls.

use eqens::check::s15_three_d::{
    check, check_decrease, check_exact, check_haar, controls, controls_exact, controls_haar,
};

#[test]
fn platonic_orbit_ensembles_are_exactly_equivariant() {
    for seed in 0..2 {
        let m = check_exact(seed).unwrap();
        println!("seed {seed}: {}", m.case);
        assert!(m.holds(), "seed {seed}: {m:?}");
    }
}

#[test]
fn the_so3_error_decreases_along_t_o_i() {
    for seed in 0..2 {
        let m = check_decrease(seed).unwrap();
        println!("seed {seed}: ratio {:.3}; {}", m.error, m.case);
        assert!(m.holds(), "seed {seed}: {m:?}");
    }
}

#[test]
fn without_full_augmentation_the_group_error_is_large() {
    for c in controls_exact(0).unwrap() {
        println!("{}", c.case);
        assert!(c.failed_as_expected(), "{c:?}");
    }
}

#[test]
fn haar_augmented_ensembles_follow_the_one_over_m_law_under_so3() {
    for seed in 0..2 {
        let m = check_haar(seed).unwrap();
        println!("seed {seed}: {}", m.case);
        assert!(m.holds(), "seed {seed}: {m:?}");
    }
}

#[test]
fn non_uniform_laws_on_so3_plateau() {
    for c in controls_haar(0).unwrap() {
        println!("{}", c.case);
        assert!(c.failed_as_expected(), "{c:?}");
    }
}

#[test]
fn the_registered_entry_runs_plane_and_space() {
    let m = check(3).unwrap();
    println!("{}", m.case);
    assert!(m.holds(), "{m:?}");
    for part in ["R², C_n", "R³, T/O/I", "R³, SO(3) Haar"] {
        assert!(m.case.contains(part), "{part} missing from {}", m.case);
    }
    let c = controls(3).unwrap();
    // 4 planar (3 without augmentation, 1 not a representation: H1) + 4 finite-group +
    // 2 SO(3) controls.
    assert_eq!(c.len(), 10);
    assert!(c.iter().all(|c| c.failed_as_expected()), "{c:?}");
}
