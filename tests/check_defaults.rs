//! One definition of "holds": the tests run exactly what `eqens check` runs at its
//! defaults (every registered statement over `case_seed(0, n, 0..20)`, the same controls,
//! the same aggregation), so a verdict of `eqens check` is a verdict of `cargo test`.

use eqens::check::registry::{run_entries, Entry};
use eqens::check::roundoff::{relative, Budget};
use eqens::check::{run_checks, CheckConfig, Control, Measurement};

fn defaults() -> CheckConfig {
    CheckConfig {
        progress: false,
        ..CheckConfig::default()
    }
}

#[test]
fn eqens_check_defaults_pass() {
    let summary = run_checks(&defaults()).unwrap();
    for s in &summary.statements {
        assert!(
            s.holds && s.failures == 0,
            "{} fails at the CLI defaults: worst {:e} / tolerance {:e} ({})",
            s.statement,
            s.worst_error,
            s.tolerance,
            s.worst_case
        );
        assert!(s.margin <= 1.0, "{}: margin {}", s.statement, s.margin);
    }
    for c in &summary.controls {
        assert!(
            c.failed_as_expected,
            "control {}/{} did not fail: {:e} vs {:e} ({})",
            c.statement, c.dropped, c.error, c.threshold, c.case
        );
    }
    assert!(summary.passed());
}

fn nan_case(_: u64) -> eqens::Result<Measurement> {
    Ok(Measurement {
        statement: "S2",
        case: "a NaN in a computed quantity".into(),
        error: f64::NAN,
        tolerance: 1.0,
        degenerate: 0,
    })
}

fn fine_case(_: u64) -> eqens::Result<Measurement> {
    Ok(Measurement {
        statement: "S2",
        case: "fine".into(),
        error: 0.0,
        tolerance: 1.0,
        degenerate: 0,
    })
}

fn one_control(_: u64) -> eqens::Result<Vec<Control>> {
    Ok(vec![Control {
        statement: "S2",
        dropped: "H3",
        case: "x".into(),
        error: 2.0,
        threshold: 1.0,
    }])
}

/// Negative control of the aggregation: a NaN case is never dropped by a max (f64::max
/// returns the other argument), it fails the statement.
#[test]
fn a_nan_case_fails_the_statement() {
    let entry = |check| Entry {
        statement: "S2",
        name: "augmented risk is an orbit average",
        hypotheses: "H1, H2, H3",
        check,
        controls: one_control,
    };
    let cfg = CheckConfig {
        cases: 3,
        only: None,
        ..defaults()
    };
    let bad = run_entries(&cfg, &[entry(nan_case)]).unwrap();
    assert!(!bad.passed());
    assert_eq!(bad.statements[0].failures, 3);
    assert!(bad.statements[0].worst_error.is_nan());
    let good = run_entries(&cfg, &[entry(fine_case)]).unwrap();
    assert!(good.passed());
}

/// Degenerate draws: both sides vanishing is an exact pass, one side vanishing is an
/// infinite error, a NaN stays NaN.
#[test]
fn relative_error_of_degenerate_draws() {
    assert_eq!(relative(0.0, 0.0), 0.0);
    assert_eq!(relative(1e-30, 0.0), f64::INFINITY);
    assert!(relative(f64::NAN, 1.0).is_nan());
    assert_eq!(relative(1.0, 4.0), 0.25);
}

/// The budget grows with work and condition, never drops below one unit of each, and an
/// infinite condition never yields a finite tolerance.
#[test]
fn budget_tolerance_is_monotone() {
    let b = |work, condition| Budget { work, condition }.tolerance();
    assert!(b(100.0, 2.0) > b(10.0, 2.0));
    assert!(b(100.0, 20.0) > b(100.0, 2.0));
    assert_eq!(b(100.0, 0.5), b(100.0, 1.0));
    assert_eq!(b(100.0, f64::INFINITY), f64::INFINITY);
    // SAFETY · u · W · κ for W = 100, κ = 2.
    let expected = 10.0 * (f64::EPSILON / 2.0) * 100.0 * 2.0;
    assert!((b(100.0, 2.0) - expected).abs() <= 1e-30);
}
