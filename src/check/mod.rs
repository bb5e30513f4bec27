//! The statement checks of `docs/THEORY.md`, shared by `cargo test` (tests/sNN_*.rs) and
//! `eqens check`.
//!
//! Each statement SN has a module `sNN_name` with
//! - `pub fn check(seed: u64) -> Result<Measurement>`: one random case (group, architecture,
//!   data, seed drawn from `seed`), the worst error over all g and inputs, and the tolerance
//!   it must stay under;
//! - `pub fn controls(seed: u64) -> Result<Vec<Control>>`: the negative controls, each
//!   dropping one hypothesis, whose error must EXCEED a threshold.
//!
//! The tests assert on these; `eqens check` runs them over many seeds and tabulates them.

use serde::Serialize;

/// One case of a statement: its worst error and the tolerance it must stay under.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Measurement {
    /// Statement name, e.g. "S4".
    pub statement: &'static str,
    /// The case in human terms (group, architecture, steps, …).
    pub case: String,
    /// The worst error measured.
    pub error: f64,
    /// The tolerance (its justification lives beside the check).
    pub tolerance: f64,
}

impl Measurement {
    /// Whether the statement held on this case: `error ≤ tolerance` (NaN fails).
    pub fn holds(&self) -> bool {
        self.error <= self.tolerance
    }
}

/// A negative control: a hypothesis dropped, and the error that shows the statement then
/// fails.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Control {
    /// Statement name, e.g. "S5".
    pub statement: &'static str,
    /// The hypothesis dropped, e.g. "H4".
    pub dropped: &'static str,
    /// What was broken, in human terms.
    pub case: String,
    /// The error measured.
    pub error: f64,
    /// The error must exceed this for the control to have failed as it should.
    pub threshold: f64,
}

impl Control {
    /// Whether the statement failed, as the control requires: `error > threshold`.
    pub fn failed_as_expected(&self) -> bool {
        self.error > self.threshold
    }
}

mod common;
pub mod registry;
pub mod report;
pub mod s01_lifted_identity;
pub mod s02_augmented_risk;
pub mod s03_gradient_equivariance;
pub mod s04_descent_commutes;
pub mod s05_orbit_ensembles;
pub mod s06_coupled_sgd;
pub mod s07_initial_laws;
pub mod s08_one_over_m;
pub mod s09_osp;
pub mod s10_symmetric_kl;
pub mod s11_e_invariant;
pub mod s12_augmented_gradient_on_e;
pub mod s13_projector_algebra;
pub mod s14_haar_sampling;
pub mod s15_finite_rotations;
pub mod s15_three_d;
pub mod s16_affine_architecture;
pub mod search;

pub use registry::{run_checks, CheckConfig, CheckSummary};
pub use report::{render_summary, render_summary_bucketed};
pub use search::{find_counterexamples, render_counterexample, Counterexample};
