//! S3: the augmented gradient is ρ-equivariant (tolerances in
//! `eqens::check::s03_gradient_equivariance`).

use eqens::check::s03_gradient_equivariance::{check, controls};

#[test]
fn augmented_gradient_is_equivariant() {
    for seed in 0..6 {
        let m = check(seed).unwrap();
        assert!(m.holds(), "seed {seed}: {m:?}");
    }
}

#[test]
fn non_orthonormal_basis_breaks_equivariance() {
    for seed in 0..6 {
        for c in controls(seed).unwrap() {
            assert!(c.failed_as_expected(), "seed {seed}: {c:?}");
        }
    }
}
