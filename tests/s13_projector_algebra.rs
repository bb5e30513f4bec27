//! S13: exact projector-algebra numbers for C4 and D4 on one 3×3 filter
//! (src/check/s13_projector_algebra.rs holds the table and the tolerance).

use eqens::check::s13_projector_algebra::{check, controls};

#[test]
fn s13_numbers_hold_for_every_basis_variant() {
    // Seeds 0..6 cover each basis variant (one-hot, random mix, orthonormalised mix) twice.
    for seed in 0..6 {
        let m = check(seed).unwrap();
        println!("{} {:e}", m.case, m.error);
        assert!(m.holds(), "seed {seed}: {m:?}");
    }
}

#[test]
fn s13_controls_fail_as_expected() {
    for seed in 0..3 {
        for c in controls(seed).unwrap() {
            println!("{} {:e}", c.case, c.error);
            assert!(c.failed_as_expected(), "seed {seed}: {c:?}");
        }
    }
}
