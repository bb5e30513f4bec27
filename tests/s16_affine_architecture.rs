//! S16: a non-invariant offset A_𝓛 is detected, a harmless one is not
//! (src/check/s16_affine_architecture.rs holds the cases and tolerances).

use eqens::check::s16_affine_architecture::{check, controls};

#[test]
fn s16_harmless_offsets_are_not_flagged() {
    for seed in 0..8 {
        let m = check(seed).unwrap();
        println!("{} {:e}", m.case, m.error);
        assert!(m.holds(), "seed {seed}: {m:?}");
    }
}

#[test]
fn s16_moving_offsets_are_detected() {
    for seed in 0..8 {
        for c in controls(seed).unwrap() {
            println!("{} {:e}", c.case, c.error);
            assert!(c.failed_as_expected(), "seed {seed}: {c:?}");
        }
    }
}
