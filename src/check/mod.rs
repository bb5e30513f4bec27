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
///
/// ```
/// use eqens::check::s01_lifted_identity::{check, controls};
///
/// // One random case of S1 and its negative controls, as `eqens check` runs them.
/// let m = check(0)?;
/// assert_eq!(m.statement, "S1");
/// assert!(m.holds(), "{}: error {} > tolerance {}", m.case, m.error, m.tolerance);
/// let cs = controls(0)?;
/// assert!(!cs.is_empty());
/// assert!(cs.iter().all(|c| c.failed_as_expected()));
/// # Ok::<(), eqens::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Measurement {
    /// Statement name, e.g. "S4".
    pub statement: &'static str,
    /// The case in human terms (group, architecture, steps, …).
    pub case: String,
    /// The worst error measured.
    pub error: f64,
    /// The tolerance (its derivation lives beside the check; for the exact identities it is
    /// computed per case from a round-off budget, see [`roundoff`]).
    pub tolerance: f64,
    /// Draws of this case that were degenerate (e.g. every ReLU dead, so both sides of an
    /// identity vanish) and were compared in absolute terms or redrawn, as the statement's
    /// module documents.
    pub degenerate: usize,
}

impl Measurement {
    /// Whether the statement held on this case: `error ≤ tolerance` (NaN fails).
    pub fn holds(&self) -> bool {
        self.error <= self.tolerance
    }

    /// error / tolerance: below 1 the statement held, and how far below says how much room
    /// round-off had left (NaN stays NaN).
    pub fn margin(&self) -> f64 {
        self.error / self.tolerance
    }

    /// The worst of several measurements of one case by [`Measurement::margin`] (NaN is worst),
    /// with every part's description joined and degenerate draws summed; `None` when empty.
    pub fn worst_of(parts: Vec<Measurement>) -> Option<Measurement> {
        let degenerate = parts.iter().map(|m| m.degenerate).sum();
        let case = parts
            .iter()
            .map(|m| m.case.as_str())
            .collect::<Vec<_>>()
            .join("; ");
        let mut worst: Option<Measurement> = None;
        for m in parts {
            let replace = match &worst {
                None => true,
                Some(w) => (m.margin().is_nan() && !w.margin().is_nan()) || m.margin() > w.margin(),
            };
            if replace {
                worst = Some(m);
            }
        }
        worst.map(|w| Measurement {
            case,
            degenerate,
            ..w
        })
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
    /// Whether the statement failed, as the control requires: `error > threshold` (NaN
    /// does not count as failing as required).
    pub fn failed_as_expected(&self) -> bool {
        self.error > self.threshold
    }

    /// error / threshold: above 1 the control failed as it must.
    pub fn margin(&self) -> f64 {
        self.error / self.threshold
    }
}

mod common;
pub mod main_theorem;
pub mod registry;
pub mod report;
pub mod roundoff;
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
pub mod zero_mean;

pub use registry::{run_checks, CheckConfig, CheckSummary};
pub use report::{render_summary, render_summary_bucketed};
pub use search::{find_counterexamples, render_counterexample, Counterexample};
