//! S7: initial laws (tolerances in `eqens::check::s07_initial_laws`).

use eqens::check::s07_initial_laws::{check, check_symmetric_init, controls};

#[test]
fn gaussian_laws_on_invariant_supports_have_invariant_covariance() {
    for seed in 0..4 {
        let m = check(seed).unwrap();
        println!("seed {seed}: {} → {:.4}", m.case, m.error);
        assert!(m.holds(), "seed {seed}: {m:?}");
    }
}

#[test]
fn symmetric_init_lands_in_the_invariant_core() {
    for seed in 0..6 {
        let m = check_symmetric_init(seed).unwrap();
        println!("seed {seed}: {}", m.case);
        assert!(m.holds(), "seed {seed}: {m:?}");
    }
}

#[test]
fn non_invariant_supports_and_gaussian_inits_fail() {
    for seed in 0..3 {
        for c in controls(seed).unwrap() {
            println!("seed {seed}: {}", c.case);
            assert!(c.failed_as_expected(), "seed {seed}: {c:?}");
        }
    }
}
