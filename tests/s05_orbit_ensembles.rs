//! S5: orbit ensembles are exactly equivariant at every step (tolerances in
//! `eqens::check::s05_orbit_ensembles`).

use eqens::check::s05_orbit_ensembles::{
    check, compatible_not_invariant, controls, subgroup_check,
};

#[test]
fn orbit_ensembles_are_equivariant_at_every_step() {
    for seed in 0..4 {
        let m = check(seed).unwrap();
        println!("seed {seed}: error {:.3e}", m.error);
        assert!(m.holds(), "seed {seed}: {m:?}");
    }
}

#[test]
fn single_members_and_every_broken_hypothesis_fail() {
    for seed in 0..3 {
        let cs = controls(seed).unwrap();
        assert_eq!(cs.len(), 6);
        for c in cs {
            println!("seed {seed}: {} [{}]", c.case, c.dropped);
            assert!(c.failed_as_expected(), "seed {seed}: {c:?}");
        }
    }
}

#[test]
fn subgroup_augmentation_keeps_only_subgroup_equivariance() {
    for seed in 0..3 {
        let (m, c) = subgroup_check(seed).unwrap();
        println!(
            "seed {seed}: on {{e, r²}} {:.3e}; for r {:.3e}",
            m.error, c.error
        );
        assert!(m.holds(), "seed {seed}: {m:?}");
        assert!(c.failed_as_expected(), "seed {seed}: {c:?}");
    }
}

#[test]
fn the_compatible_direction_is_built_and_verified() {
    let p = compatible_not_invariant().unwrap();
    assert_eq!(p.dim(), 5);
    assert!(p.is_orthonormal(1e-12));
}

/// Regression: this case (centre-only first conv) amplifies the members' round-off drift
/// to a trained ensemble error of 2.8e-11; the exact-lift error and the drift per step,
/// which the statement bounds, stay below 1e-12.
#[test]
fn round_off_amplifying_case_holds() {
    let m = check(6899494531453519250).unwrap();
    println!("{}", m.case);
    assert!(m.holds(), "{m:?}");
}
