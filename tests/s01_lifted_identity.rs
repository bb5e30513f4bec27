//! S1: the lifted identity Φ_{ρ(g)A}(ρ_X(g)x) = ρ_Y(g)Φ_A(x)
//! (src/check/s01_lifted_identity.rs holds the cases and tolerances).

use eqens::check::s01_lifted_identity::{check, controls};

#[test]
fn s1_holds_on_random_cases() {
    for seed in 0..15 {
        let m = check(seed).unwrap();
        println!("{} {:e}", m.case, m.error);
        assert!(m.holds(), "seed {seed}: {m:?}");
    }
}

#[test]
fn s1_controls_fail_as_expected() {
    for seed in 0..4 {
        for c in controls(seed).unwrap() {
            println!("{} {:e}", c.case, c.error);
            assert!(c.failed_as_expected(), "seed {seed}: {c:?}");
        }
    }
}
