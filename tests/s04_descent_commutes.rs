//! S4: the descent map commutes with ρ(g) (tolerances in
//! `eqens::check::s04_descent_commutes`).

use eqens::check::s04_descent_commutes::{check, controls};

#[test]
fn descent_commutes_with_the_action() {
    for seed in 0..6 {
        let m = check(seed).unwrap();
        assert!(m.holds(), "seed {seed}: {m:?}");
    }
}

#[test]
fn non_invariant_support_or_basis_breaks_commutation() {
    for seed in 0..6 {
        for c in controls(seed).unwrap() {
            assert!(c.failed_as_expected(), "seed {seed}: {c:?}");
        }
    }
}
