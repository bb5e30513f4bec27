//! S6: coupled SGD keeps the orbit structure (tolerances in `eqens::check::s06_coupled_sgd`).

use eqens::check::s06_coupled_sgd::{check, controls};

#[test]
fn coupled_members_stay_on_the_orbit_and_the_ensemble_is_equivariant() {
    for seed in 0..8 {
        let m = check(seed).unwrap();
        // The measured values (visible with --nocapture) are reported in the case string.
        println!("seed {seed}: worst {:.3e} — {}", m.error, m.case);
        assert!(m.holds(), "seed {seed}: {m:?}");
    }
}

#[test]
fn uncoupled_members_leave_the_orbit() {
    for seed in 0..4 {
        for c in controls(seed).unwrap() {
            println!("seed {seed}: {}", c.case);
            assert!(c.failed_as_expected(), "seed {seed}: {c:?}");
        }
    }
}
