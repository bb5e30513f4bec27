//! Check a statement of your own with the checker's machinery: a `check` returning a
//! `Measurement` (worst error against a tolerance) on a random case per seed, `controls`
//! returning `Control`s (a hypothesis dropped: the error must exceed a threshold), run over
//! many seeds by `run_entries` and tabulated as `eqens check` does.
//!
//! The statement here, "X1": for an invariant architecture with an orthonormal filter basis
//! (H4, H5), the lifted action is an isometry of θ: ‖θ(ρ(g)A)‖ = ‖θ(A)‖. Without H5 (a
//! random normalised, non-orthonormal basis) it is not.
//!
//! Run: `cargo run --release --example custom_check`

use eqens::check::registry::{run_entries, CheckConfig, Entry};
use eqens::check::{render_summary, Control, Measurement};
use eqens::nn::{GroupNetwork, LayerSpec, Network, Parametrisation};
use eqens::rep::GridGroup;
use eqens::train::cases::{normals, random_invariant_support};
use eqens::Result;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The relative change of ‖θ‖ under a random non-identity rotation, on a random invariant
/// support (at least two taps, so that a random basis is not orthonormal by accident).
fn norm_change(seed: u64, orthonormal: bool) -> Result<(f64, String)> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut support = random_invariant_support(GridGroup::C4, &mut rng)?;
    while support.len() < 2 {
        support = random_invariant_support(GridGroup::C4, &mut rng)?;
    }
    let param = if orthonormal {
        Parametrisation::from_support(&support)
    } else {
        Parametrisation::random_normalised(9, &support.indices(), seed)?
    };
    let net = Network::new(
        &[1, 5, 5],
        vec![
            LayerSpec::conv_with(2, 3, param),
            LayerSpec::Tanh,
            LayerSpec::Flatten,
            LayerSpec::dense_full(3),
        ],
    )?;
    let gnet = GroupNetwork::on_images(net, GridGroup::C4)?;
    let theta = normals(&mut rng, gnet.network().num_params());
    let g = rng.random_range(1..4);
    let lifted = gnet.lift_theta(g, &theta)?;
    let norm = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>().sqrt();
    let error = (norm(&lifted) - norm(&theta)).abs() / norm(&theta);
    Ok((error, format!("support {support}, g = r^{g}")))
}

/// One case of X1. Tolerance: the one-hot lift permutes coefficients, but `lift_theta`
/// recovers θ by a least-squares solve, so each coefficient carries a few ε of round-off;
/// the norm of ≤ 100 coefficients of size ~1 then moves by ≲ 100·ε ≈ 2e-14: 1e-12 leaves
/// a margin of 50.
fn check(seed: u64) -> Result<Measurement> {
    let (error, case) = norm_change(seed, true)?;
    Ok(Measurement {
        statement: "X1",
        case,
        error,
        tolerance: 1e-12,
    })
}

/// The negative control: drop H5. A random normalised basis changes the norm by O(1) (its
/// Gram matrix is far from I), so 1e-3 is a safe threshold.
fn controls(seed: u64) -> Result<Vec<Control>> {
    let (error, case) = norm_change(seed, false)?;
    Ok(vec![Control {
        statement: "X1",
        dropped: "H5",
        case,
        error,
        threshold: 1e-3,
    }])
}

pub fn main() -> Result<()> {
    let entry = Entry {
        statement: "X1",
        name: "the lift is an isometry of θ",
        hypotheses: "H4, H5",
        check,
        controls,
    };
    let cfg = CheckConfig {
        cases: 20,
        progress: false,
        ..CheckConfig::default()
    };
    let summary = run_entries(&cfg, &[entry])?;
    print!("{}", render_summary(&summary));
    if !summary.passed() {
        eprintln!("X1 failed (or its control did not fail)");
        std::process::exit(1);
    }
    Ok(())
}
