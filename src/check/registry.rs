//! The statement registry and the runner behind `eqens check`.
//!
//! Every statement S1..S16 of `docs/THEORY.md` whose check module is present has one
//! [`Entry`]: its name and hypotheses (as in `proofs/README.md`) and its `check` / `controls`
//! functions. [`run_checks`] runs each entry's `check` on `cases` random cases and its
//! `controls` once, in parallel, and gathers a [`CheckSummary`].
//!
//! **Seeds.** Case i of statement Sn uses [`case_seed`]`(seed, n, i)`, a SplitMix64 mix of the
//! master seed, the statement number and the case index: results never depend on the number
//! of threads or on which statements are selected, and a failing case is reproduced by
//! calling the module's `check(case_seed(..))`.
//!
//! **Controls** run once per statement, on the seed of case 0. A control is a deterministic
//! function of its seed whose purpose is to show that the check CAN fail when a hypothesis is
//! dropped; one run per statement shows that, and keeps the runner's cost dominated by the
//! cases.

use super::s14_haar_sampling;
use super::s15_finite_rotations;
use super::s15_three_d;
use super::{s01_lifted_identity, s13_projector_algebra, s16_affine_architecture};
use super::{s02_augmented_risk, s03_gradient_equivariance, s04_descent_commutes};
use super::{s05_orbit_ensembles, s06_coupled_sgd, s07_initial_laws, s08_one_over_m};
use super::{s09_osp, s10_symmetric_kl, s11_e_invariant, s12_augmented_gradient_on_e};
use super::{Control, Measurement};
use crate::train::cases::sub_seed;
use crate::{Error, Result};
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use std::io::IsTerminal;

/// The statements of THEORY.md §3 with their names and hypotheses (from `proofs/README.md`),
/// whether or not their module is present.
pub const STATEMENTS: [(&str, &str, &str); 16] = [
    ("S1", "lifted identity", "H2 (+ invertibility from H1)"),
    ("S2", "augmented risk is an orbit average", "H1, H2, H3"),
    ("S3", "gradient equivariance", "H1, H2, H3"),
    ("S4", "the descent map commutes", "H1–H5, H7"),
    ("S5", "orbit ensembles are exactly equivariant", "H1–H5, H7"),
    ("S6", "coupled SGD", "H1–H5"),
    ("S7", "initial laws", "H1, H5; ⇔ H4"),
    ("S8", "1/M law", "H1–H7"),
    ("S9", "OSP", "none (metric)"),
    ("S10", "symmetric KL", "none (metric)"),
    (
        "S11",
        "E is invariant (NOF)",
        "H1, H2, H3, H5, compatibility",
    ),
    (
        "S12",
        "augmented gradient on E (NOF)",
        "H1, H2, H3, compatibility",
    ),
    ("S13", "projector algebra, C4 on 3×3 filters", "H1"),
    ("S14", "Haar sampling is needed", "H1–H5; H7 (subject)"),
    ("S15", "finite subgroups of SO(2)", "H1–H7 for C_n"),
    ("S16", "affine 𝓛", "H1; H4's offset (subject)"),
];

/// The main theorem's entry (NF24, Thm 4.2), registered after S1..S16 when a module checks
/// it directly.
pub const MAIN: (&str, &str, &str) = ("main", "main theorem (NF24, Thm 4.2)", "H1–H7");

/// A statement's `check`: one random case from a seed.
pub type CheckFn = fn(u64) -> Result<Measurement>;
/// A statement's `controls`: its negative controls from a seed.
pub type ControlsFn = fn(u64) -> Result<Vec<Control>>;

/// One registered statement.
#[derive(Clone, Copy, Debug)]
pub struct Entry {
    /// "S1".."S16" (or "main").
    pub statement: &'static str,
    /// Its name, e.g. "lifted identity".
    pub name: &'static str,
    /// The hypotheses it needs, e.g. "H1–H5".
    pub hypotheses: &'static str,
    /// One random case.
    pub check: CheckFn,
    /// The negative controls.
    pub controls: ControlsFn,
}

/// The entry of `statement` with its name and hypotheses from [`STATEMENTS`] (or [`MAIN`]).
///
/// # Panics
/// If `statement` is neither in [`STATEMENTS`] nor "main" (a programming error in
/// [`registry`]).
fn entry(statement: &'static str, check: CheckFn, controls: ControlsFn) -> Entry {
    let (_, name, hypotheses) = STATEMENTS
        .iter()
        .chain(std::iter::once(&MAIN))
        .find(|(s, _, _)| *s == statement)
        .unwrap_or_else(|| panic!("{statement} is not a statement of THEORY.md"));
    Entry {
        statement,
        name,
        hypotheses,
        check,
        controls,
    }
}

/// Every statement whose module is present, in statement order. (A module arriving from
/// another branch adds one line here.)
pub fn registry() -> Vec<Entry> {
    vec![
        entry(
            "S1",
            s01_lifted_identity::check,
            s01_lifted_identity::controls,
        ),
        entry(
            "S2",
            s02_augmented_risk::check,
            s02_augmented_risk::controls,
        ),
        entry(
            "S3",
            s03_gradient_equivariance::check,
            s03_gradient_equivariance::controls,
        ),
        entry(
            "S4",
            s04_descent_commutes::check,
            s04_descent_commutes::controls,
        ),
        entry("S5", s05_statement, s05_controls),
        entry("S6", s06_coupled_sgd::check, s06_coupled_sgd::controls),
        entry("S7", s07_statement, s07_initial_laws::controls),
        entry("S8", s08_one_over_m::check, s08_one_over_m::controls),
        entry("S9", s09_osp::check, s09_osp::controls),
        entry("S10", s10_symmetric_kl::check, s10_symmetric_kl::controls),
        entry("S11", s11_e_invariant::check, s11_e_invariant::controls),
        entry(
            "S12",
            s12_augmented_gradient_on_e::check,
            s12_augmented_gradient_on_e::controls,
        ),
        entry(
            "S13",
            s13_projector_algebra::check,
            s13_projector_algebra::controls,
        ),
        entry("S14", s14_haar_sampling::check, s14_haar_sampling::controls),
        // S15 in the plane (C_n) and in space (T, O, I; SO(3) by Haar sampling).
        entry("S15", s15_statement, s15_three_d::controls),
        entry(
            "S16",
            s16_affine_architecture::check,
            s16_affine_architecture::controls,
        ),
        entry(
            "main",
            super::main_theorem::check,
            super::main_theorem::controls,
        ),
    ]
}

/// S5 as `eqens check` and the tests run it: the orbit ensemble under full augmentation
/// and under the subgroup {e, r²} (its H-equivariance), the worse by margin.
fn s05_statement(seed: u64) -> Result<Measurement> {
    let full = s05_orbit_ensembles::check(seed)?;
    let (sub, _) = s05_orbit_ensembles::subgroup_check(seed)?;
    Ok(Measurement::worst_of(vec![full, sub]).expect("two parts"))
}

/// S5's controls, with the subgroup check's control (r-equivariance is lost).
fn s05_controls(seed: u64) -> Result<Vec<Control>> {
    let mut out = s05_orbit_ensembles::controls(seed)?;
    out.push(s05_orbit_ensembles::subgroup_check(seed)?.1);
    Ok(out)
}

/// S7: the covariance of the Gaussian law commutes with ρ(g) on invariant supports, and
/// the symmetric law lands in 𝓛_0 (the positive counterpart of the "lift_theta rejects"
/// control), the worse by margin.
fn s07_statement(seed: u64) -> Result<Measurement> {
    let covariance = s07_initial_laws::check(seed)?;
    let core = s07_initial_laws::check_symmetric_init(seed)?;
    Ok(Measurement::worst_of(vec![covariance, core]).expect("two parts"))
}

/// S15: exact equivariance for C_n in the plane and T, O, I in space with the 1/M law of
/// Haar-sampled SO(3) ([`s15_three_d::check`]), and the decrease of the SO(2) error along
/// C4 ⊂ C8 ⊂ C16.
fn s15_statement(seed: u64) -> Result<Measurement> {
    let exact = s15_three_d::check(seed)?;
    let decrease = s15_finite_rotations::check_decrease(seed)?;
    Ok(Measurement::worst_of(vec![exact, decrease]).expect("two parts"))
}

/// What `eqens check` runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckConfig {
    /// Random cases per statement (≥ 1).
    pub cases: usize,
    /// The master seed.
    pub seed: u64,
    /// Only these statements ("S5", case-insensitive); `None` = all registered.
    pub only: Option<Vec<String>>,
    /// Worker threads of the rayon pool (≥ 1); results do not depend on it.
    pub threads: usize,
    /// Show a progress bar (only when stderr is a terminal).
    pub progress: bool,
}

impl Default for CheckConfig {
    /// 20 cases, seed 0, all statements, 2 threads, progress bar on.
    fn default() -> CheckConfig {
        CheckConfig {
            cases: 20,
            seed: 0,
            only: None,
            threads: 2,
            progress: true,
        }
    }
}

/// One statement over all its cases.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StatementRow {
    /// "S4".
    pub statement: String,
    /// Its name.
    pub name: String,
    /// The hypotheses it needs.
    pub hypotheses: String,
    /// Cases run.
    pub cases: usize,
    /// Cases where the statement did not hold (including cases whose check returned an error).
    pub failures: usize,
    /// The worst error over the cases (NaN — `null` in JSON — if a case errored or was NaN).
    pub worst_error: f64,
    /// The tolerance of the worst case (derived per case for the exact identities).
    pub tolerance: f64,
    /// worst error / its tolerance, the worst over the cases (≤ 1 holds; NaN if a case was
    /// NaN or errored).
    pub margin: f64,
    /// Degenerate draws over all cases (compared in absolute terms, see each statement).
    pub degenerate: usize,
    /// The worst case in human terms (or the error message of a case that errored).
    pub worst_case: String,
    /// The seed of the worst case (`check(worst_seed)` reproduces it).
    pub worst_seed: u64,
    /// Whether the statement held on every case.
    pub holds: bool,
}

/// One negative control.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ControlRow {
    /// "S5".
    pub statement: String,
    /// The hypothesis dropped.
    pub dropped: String,
    /// What was broken, in human terms (or the error message if `controls` errored).
    pub case: String,
    /// The error measured (NaN if `controls` errored).
    pub error: f64,
    /// The error had to exceed this.
    pub threshold: f64,
    /// error / threshold (> 1: the control failed as it must).
    pub margin: f64,
    /// Whether the statement failed, as it must.
    pub failed_as_expected: bool,
}

/// Everything `eqens check` found.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckSummary {
    /// The master seed.
    pub seed: u64,
    /// Cases per statement.
    pub cases: usize,
    /// One row per statement, in registry order.
    pub statements: Vec<StatementRow>,
    /// One row per negative control, grouped by statement in registry order.
    pub controls: Vec<ControlRow>,
}

impl CheckSummary {
    /// Whether everything passed: at least one statement ran, every statement held on every
    /// case, and every control failed as it must.
    pub fn passed(&self) -> bool {
        !self.statements.is_empty()
            && self.statements.iter().all(|s| s.holds && s.failures == 0)
            && self.controls.iter().all(|c| c.failed_as_expected)
    }
}

/// The seed of case `case` of statement number `statement` (S5 → 5; "main" → 0) under the
/// master seed.
pub fn case_seed(master: u64, statement: u64, case: u64) -> u64 {
    sub_seed(sub_seed(master, statement), case)
}

/// The number of a statement name: "S5" → 5, "main" → 0.
fn statement_number(statement: &str) -> u64 {
    statement
        .strip_prefix('S')
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// The entries selected by `only` (all when `None`), in registry order; errors on a name
/// that is not a registered statement.
fn select(entries: &[Entry], only: Option<&[String]>) -> Result<Vec<Entry>> {
    let Some(only) = only else {
        return Ok(entries.to_vec());
    };
    if only.is_empty() {
        return Err(Error::Invalid(
            "--only needs at least one statement (e.g. S5)".into(),
        ));
    }
    for name in only {
        if !entries
            .iter()
            .any(|e| e.statement.eq_ignore_ascii_case(name.trim()))
        {
            let known: Vec<&str> = entries.iter().map(|e| e.statement).collect();
            let why = if STATEMENTS
                .iter()
                .chain(std::iter::once(&MAIN))
                .any(|(s, _, _)| s.eq_ignore_ascii_case(name.trim()))
            {
                "is a statement of THEORY.md but its check is not registered"
            } else {
                "is not a statement"
            };
            return Err(Error::Invalid(format!(
                "{name:?} {why}; registered: {}",
                known.join(", ")
            )));
        }
    }
    Ok(entries
        .iter()
        .filter(|e| {
            only.iter()
                .any(|n| e.statement.eq_ignore_ascii_case(n.trim()))
        })
        .copied()
        .collect())
}

/// `f` over `jobs` on `threads` plain threads that take jobs from a shared counter, results
/// in job order. Not a rayon pool on purpose: several checks run their members in a rayon
/// pool of their own, and a rayon worker that waits for another pool steals work from its
/// own pool meanwhile — each stolen job nests on the waiting job's stack, and 8,000 jobs of
/// `--cases 2000` overflowed it. A plain thread just blocks.
fn run_queue<J: Sync, R: Send>(
    jobs: &[J],
    threads: usize,
    f: impl Fn(&J) -> R + Sync,
) -> Result<Vec<R>> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let next = AtomicUsize::new(0);
    let work = || {
        let mut done = Vec::new();
        loop {
            let j = next.fetch_add(1, Ordering::Relaxed);
            let Some(job) = jobs.get(j) else {
                return done;
            };
            done.push((j, f(job)));
        }
    };
    let mut all: Vec<(usize, R)> = std::thread::scope(|scope| {
        let mut handles = Vec::with_capacity(threads);
        for _ in 0..threads {
            let handle = std::thread::Builder::new()
                .spawn_scoped(scope, work)
                .map_err(|e| Error::Invalid(format!("cannot start {threads} threads: {e}")))?;
            handles.push(handle);
        }
        let mut all = Vec::with_capacity(jobs.len());
        for h in handles {
            match h.join() {
                Ok(done) => all.extend(done),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        Ok::<_, Error>(all)
    })?;
    all.sort_by_key(|(j, _)| *j);
    Ok(all.into_iter().map(|(_, r)| r).collect())
}

/// One unit of work: a case of an entry, or its controls.
#[derive(Clone, Copy)]
enum Job {
    Case(usize, u64),
    Controls(usize),
}

/// The result of a [`Job`].
enum Outcome {
    Case(u64, Result<Measurement>),
    Controls(Result<Vec<Control>>),
}

/// Runs the registered statements selected by `cfg` (see the module docs).
///
/// Errors on `cases == 0`, `threads == 0`, or an `only` naming no registered statement. A
/// `check` or `controls` that returns an error does not abort the run: it becomes a failed
/// row carrying the message.
pub fn run_checks(cfg: &CheckConfig) -> Result<CheckSummary> {
    run_entries(cfg, &registry())
}

/// [`run_checks`] over explicit entries (the runner's own tests feed it broken statements).
pub fn run_entries(cfg: &CheckConfig, entries: &[Entry]) -> Result<CheckSummary> {
    if cfg.cases == 0 {
        return Err(Error::Invalid("--cases must be at least 1".into()));
    }
    if cfg.threads == 0 {
        return Err(Error::Invalid("--threads must be at least 1".into()));
    }
    let selected = select(entries, cfg.only.as_deref())?;
    let jobs: Vec<Job> = selected
        .iter()
        .enumerate()
        .flat_map(|(i, e)| {
            let n = statement_number(e.statement);
            (0..cfg.cases as u64)
                .map(move |c| Job::Case(i, case_seed(cfg.seed, n, c)))
                .chain(std::iter::once(Job::Controls(i)))
        })
        .collect();
    let bar = progress_bar(cfg.progress, jobs.len() as u64);
    let run = |job: &Job| match *job {
        Job::Case(i, seed) => (i, Outcome::Case(seed, (selected[i].check)(seed))),
        Job::Controls(i) => {
            let seed = case_seed(cfg.seed, statement_number(selected[i].statement), 0);
            (i, Outcome::Controls((selected[i].controls)(seed)))
        }
    };
    let outcomes = run_queue(&jobs, cfg.threads, |job| {
        let out = run(job);
        bar.inc(1);
        out
    })?;
    bar.finish_and_clear();
    let mut summary = CheckSummary {
        seed: cfg.seed,
        cases: cfg.cases,
        statements: Vec::new(),
        controls: Vec::new(),
    };
    for (i, e) in selected.iter().enumerate() {
        let mut cases = Vec::new();
        let mut controls = None;
        for (_, out) in outcomes.iter().filter(|(j, _)| *j == i) {
            match out {
                Outcome::Case(seed, r) => cases.push((*seed, r)),
                Outcome::Controls(r) => controls = Some(r),
            }
        }
        summary.statements.push(statement_row(e, &cases));
        if let Some(r) = controls {
            summary.controls.extend(control_rows(e, r));
        }
    }
    Ok(summary)
}

/// A progress bar over `len` jobs, hidden unless asked for and stderr is a terminal.
fn progress_bar(wanted: bool, len: u64) -> ProgressBar {
    if !(wanted && std::io::stderr().is_terminal()) {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    if let Ok(style) = ProgressStyle::with_template("checking {bar:40} {pos}/{len} [{elapsed}]") {
        bar.set_style(style);
    }
    bar
}

/// Whether `a` is strictly worse than `b`: NaN is worse than any number, else larger is worse.
fn worst_of(a: f64, b: f64) -> bool {
    (a.is_nan() && !b.is_nan()) || a > b
}

/// The row of one statement from its cases (in case order).
fn statement_row(e: &Entry, cases: &[(u64, &Result<Measurement>)]) -> StatementRow {
    let mut row = StatementRow {
        statement: e.statement.into(),
        name: e.name.into(),
        hypotheses: e.hypotheses.into(),
        cases: cases.len(),
        failures: 0,
        worst_error: 0.0,
        tolerance: 0.0,
        margin: 0.0,
        degenerate: 0,
        worst_case: String::new(),
        worst_seed: 0,
        holds: true,
    };
    let mut first = true;
    for &(seed, r) in cases {
        let (error, tolerance, case, holds) = match r {
            Ok(m) => {
                row.degenerate += m.degenerate;
                (m.error, m.tolerance, m.case.clone(), m.holds())
            }
            Err(err) => (f64::NAN, f64::NAN, format!("error: {err}"), false),
        };
        if !holds {
            row.failures += 1;
        }
        // The worst case: the largest error relative to its tolerance (NaN is worst; the
        // first of equals wins).
        if first || worst_of(error / tolerance, row.worst_error / row.tolerance) {
            row.worst_error = error;
            row.tolerance = tolerance;
            row.margin = error / tolerance;
            row.worst_case = case;
            row.worst_seed = seed;
            first = false;
        }
    }
    row.holds = row.failures == 0 && !cases.is_empty();
    row
}

/// The rows of one statement's controls (one failed row if `controls` errored).
fn control_rows(e: &Entry, r: &Result<Vec<Control>>) -> Vec<ControlRow> {
    match r {
        Ok(controls) => controls
            .iter()
            .map(|c| ControlRow {
                statement: c.statement.into(),
                dropped: c.dropped.into(),
                case: c.case.clone(),
                error: c.error,
                threshold: c.threshold,
                margin: c.margin(),
                failed_as_expected: c.failed_as_expected(),
            })
            .collect(),
        Err(err) => vec![ControlRow {
            statement: e.statement.into(),
            dropped: "?".into(),
            case: format!("error: {err}"),
            error: f64::NAN,
            threshold: f64::NAN,
            margin: f64::NAN,
            failed_as_expected: false,
        }],
    }
}
