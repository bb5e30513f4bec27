//! S10 — symmetric KL over the orbit, DIV(x) = (1/|G|) Σ_g [KL(p(x)‖p(gx)) + KL(p(gx)‖p(x))]
//! ↔ [`crate::metrics::symmetric_kl`]: DIV ≥ 0, and DIV = 0 when p is constant on the orbit.
//!
//! A case draws |G| ∈ {2, 4, 8}, K ∈ 2..=10 and a logit scale, and works on orbit tables
//! `[|G|, K]` of logits (row g holds the ensemble's mean logits at ρ_X(g)x).

use super::{Control, Measurement};
use crate::metrics::{argmax, symmetric_kl};
use crate::train::cases::{sub_seed, worst};
use crate::Result;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Random tables checked for DIV ≥ 0.
pub const TABLES: usize = 100;

/// Largest constant added to a row of the constant-orbit table.
pub const MAX_SHIFT: f64 = 100.0;

/// Tolerance on max(−DIV, DIV of a constant-orbit table).
///
/// Each summand (p_k − q_k)(log p_k − log q_k) is a product of two factors of equal sign
/// (exp is monotone in floating point too), so DIV ≥ 0 exactly on every table. On a
/// constant-orbit table — row h = row 0 + c_h with |c_h| ≤ [`MAX_SHIFT`] — the rounding of
/// z + c_h perturbs each log-probability by ≲ 4ε·|c_h| ≈ 1e-13, and DIV is quadratic in that
/// perturbation: ≲ K·(1e-13)² = 1e-25. 1e-20 leaves five orders of margin.
pub const TOLERANCE: f64 = 1e-20;

/// |G|, K and the logit scale drawn from a seed.
fn sizes(seed: u64) -> (usize, usize, f64) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (
        [2, 4, 8][rng.random_range(0..3)],
        rng.random_range(2..=10),
        [1e-3, 1.0, 30.0][rng.random_range(0..3)],
    )
}

/// Logits uniform in [−scale, scale].
fn random_logits(rng: &mut ChaCha8Rng, len: usize, scale: f64) -> Vec<f64> {
    (0..len)
        .map(|_| scale * (2.0 * rng.random::<f64>() - 1.0))
        .collect()
}

/// S10 on one random (|G|, K, scale): the error is the largest of −DIV over [`TABLES`] random
/// tables (0 when all are ≥ 0; NaN if one is not finite) and DIV of a constant-orbit table.
pub fn check(seed: u64) -> Result<Measurement> {
    let (g, k, scale) = sizes(sub_seed(seed, 0));
    let mut rng = ChaCha8Rng::seed_from_u64(sub_seed(seed, 1));
    let mut error: f64 = 0.0;
    for _ in 0..TABLES {
        let d = symmetric_kl(&random_logits(&mut rng, g * k, scale), g, k);
        error = worst(
            error,
            if d.is_finite() {
                (-d).max(0.0)
            } else {
                f64::NAN
            },
        );
    }
    let row = random_logits(&mut rng, k, scale);
    let constant: Vec<f64> = (0..g)
        .flat_map(|h| {
            let c = if h == 0 {
                0.0
            } else {
                MAX_SHIFT * (2.0 * rng.random::<f64>() - 1.0)
            };
            row.iter().map(move |z| z + c).collect::<Vec<f64>>()
        })
        .collect();
    error = worst(error, symmetric_kl(&constant, g, k));
    Ok(Measurement {
        statement: "S10",
        case: format!("|G| = {g}, K = {k}, logits of scale {scale}"),
        error,
        tolerance: TOLERANCE,
        degenerate: 0,
    })
}

/// Control: p not constant on the orbit — the top logit of the last row moved down by
/// δ ∈ [1e-3, 1] — gives DIV > 0 above the tolerance. The control's logits are uniform in
/// [−1, 1] whatever the case's scale, so every p_c ≥ e⁻²/K and 1 − p_top ≥ 0.06: then
/// DIV ≈ δ²·p_top(1 − p_top)/|G| ≳ 1e-6·0.006/8 ≈ 1e-9, eleven orders above the threshold.
///
/// The threshold is [`TOLERANCE`]: the control shows that the check's criterion detects a p
/// that is not constant on the orbit.
pub fn controls(seed: u64) -> Result<Vec<Control>> {
    let (g, k, _) = sizes(sub_seed(seed, 0));
    let mut rng = ChaCha8Rng::seed_from_u64(sub_seed(seed, 2));
    let row = random_logits(&mut rng, k, 1.0);
    let mut table: Vec<f64> = (0..g).flat_map(|_| row.iter().copied()).collect();
    let top = argmax(&row);
    let delta = 10f64.powf(-3.0 * rng.random::<f64>());
    table[(g - 1) * k + top] -= delta;
    Ok(vec![Control {
        statement: "S10",
        dropped: "constant-orbit p",
        case: format!(
            "|G| = {g}, K = {k}, logits in [-1, 1], top logit of the last row moved by \
             δ ∈ [1e-3, 1]"
        ),
        error: symmetric_kl(&table, g, k),
        threshold: TOLERANCE,
    }])
}
