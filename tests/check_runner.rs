//! The `eqens check` runner (`eqens::check::registry`, `eqens::check::report`): every
//! registered statement holds on random cases and its controls fail; the runner itself
//! reports failing statements and controls that did not fail; JSON shape; determinism.

use eqens::check::registry::{
    case_seed, registry, run_entries, CheckConfig, CheckSummary, Entry, MAIN, STATEMENTS,
};
use eqens::check::{
    render_summary, render_summary_bucketed, run_checks, s09_osp, Control, Measurement,
};
use eqens::{Error, Result};

fn config(cases: usize, only: Option<&[&str]>, threads: usize) -> CheckConfig {
    CheckConfig {
        cases,
        seed: 7,
        only: only.map(|o| o.iter().map(|s| s.to_string()).collect()),
        threads,
        progress: false,
    }
}

#[test]
fn registered_statements_hold_and_their_controls_fail() {
    let summary = run_checks(&config(2, None, 2)).unwrap();
    assert!(summary.passed(), "{}", render_summary(&summary));
    assert_eq!(summary.statements.len(), registry().len());
    for row in &summary.statements {
        assert_eq!(row.cases, 2);
        assert!(row.holds && row.failures == 0, "{row:?}");
        // Every statement comes with at least one negative control.
        assert!(
            summary
                .controls
                .iter()
                .any(|c| c.statement == row.statement),
            "{} has no negative control",
            row.statement
        );
    }
    insta::assert_snapshot!("summary_bucketed", render_summary_bucketed(&summary));
}

#[test]
fn the_metric_statements_pass_and_render_stably() {
    // S9 and S10 are owned here and do not change when other modules are merged: a snapshot
    // of the runner's rendering that stays fixed.
    let summary = run_checks(&config(3, Some(&["S9", "S10"]), 2)).unwrap();
    assert!(summary.passed(), "{}", render_summary(&summary));
    assert_eq!(summary.statements.len(), 2);
    assert_eq!(summary.controls.len(), 3);
    insta::assert_snapshot!("metrics_bucketed", render_summary_bucketed(&summary));
}

#[test]
fn every_statement_of_theory_is_registered() {
    // Fails until every branch with statement modules is merged (S1, S5..S8, S13, S15, S16).
    let registered: Vec<&str> = registry().iter().map(|e| e.statement).collect();
    let missing: Vec<&str> = STATEMENTS
        .iter()
        .map(|(s, _, _)| *s)
        .filter(|s| !registered.contains(s))
        .collect();
    assert!(missing.is_empty(), "not registered: {missing:?}");
}

#[test]
fn the_registry_follows_statement_order_without_duplicates() {
    // S1..S16 in order, then "main" (if registered).
    let order: Vec<usize> = registry()
        .iter()
        .map(|e| {
            STATEMENTS
                .iter()
                .chain(std::iter::once(&MAIN))
                .position(|(s, _, _)| *s == e.statement)
                .unwrap_or_else(|| panic!("{} is not a statement", e.statement))
        })
        .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:?}");
}

#[test]
fn results_do_not_depend_on_threads_or_selection() {
    let only = ["S2", "s9", "S10"];
    let one = run_checks(&config(3, Some(&only), 1)).unwrap();
    let two = run_checks(&config(3, Some(&only), 2)).unwrap();
    assert_eq!(one, two);
    let names: Vec<&str> = one
        .statements
        .iter()
        .map(|s| s.statement.as_str())
        .collect();
    assert_eq!(names, ["S2", "S9", "S10"]);
    let alone = run_checks(&config(3, Some(&["S9"]), 2)).unwrap();
    assert_eq!(alone.statements[0], one.statements[1]);
    // The worst seed reproduces the worst case.
    let row = &one.statements[1];
    assert!((0..3).any(|c| case_seed(7, 9, c) == row.worst_seed));
    let m = s09_osp::check(row.worst_seed).unwrap();
    assert_eq!(
        (m.error, m.case.clone()),
        (row.worst_error, row.worst_case.clone())
    );
}

#[test]
fn summary_serialises_to_json_and_back() {
    let summary = run_checks(&config(2, Some(&["S9", "S10"]), 2)).unwrap();
    let value = serde_json::to_value(&summary).unwrap();
    let keys = |v: &serde_json::Value| -> Vec<String> {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(keys(&value), ["cases", "controls", "seed", "statements"]);
    assert_eq!(
        keys(&value["statements"][0]),
        [
            "cases",
            "degenerate",
            "failures",
            "holds",
            "hypotheses",
            "margin",
            "name",
            "statement",
            "tolerance",
            "worst_case",
            "worst_error",
            "worst_seed"
        ]
    );
    assert_eq!(
        keys(&value["controls"][0]),
        [
            "case",
            "dropped",
            "error",
            "failed_as_expected",
            "margin",
            "statement",
            "threshold"
        ]
    );
    assert_eq!(value["statements"][1]["statement"], "S10");
    assert_eq!(value["statements"][0]["holds"], true);
    let text = serde_json::to_string_pretty(&summary).unwrap();
    let back: CheckSummary = serde_json::from_str(&text).unwrap();
    assert_eq!(back, summary);
}

#[test]
fn bad_configurations_are_errors() {
    let invalid = |cfg: CheckConfig| matches!(run_checks(&cfg), Err(Error::Invalid(_)));
    assert!(invalid(config(0, None, 2)));
    assert!(invalid(config(1, None, 0)));
    assert!(invalid(config(1, Some(&["S99"]), 2)));
    assert!(invalid(config(1, Some(&["lemma"]), 2)));
    assert!(invalid(config(1, Some(&[]), 2)));
    let Err(Error::Invalid(msg)) = run_checks(&config(1, Some(&["S99"]), 2)) else {
        unreachable!()
    };
    assert!(msg.contains("S99") && msg.contains("S2"), "{msg}");
}

// A fake statement whose check holds, one whose check fails, one whose check errors; a
// control that fails as it must and one that does not.

fn holding(seed: u64) -> Result<Measurement> {
    Ok(Measurement {
        statement: "S2",
        case: format!("seed {seed}"),
        error: 1e-15,
        tolerance: 1e-12,
        degenerate: 0,
    })
}

fn failing(seed: u64) -> Result<Measurement> {
    Ok(Measurement {
        statement: "S3",
        case: format!("seed {seed}"),
        error: if seed.is_multiple_of(2) { 0.25 } else { 1e-15 },
        tolerance: 1e-12,
        degenerate: 0,
    })
}

fn erroring(_: u64) -> Result<Measurement> {
    Err(Error::Invalid("the check broke".into()))
}

fn control_fails(_: u64) -> Result<Vec<Control>> {
    Ok(vec![Control {
        statement: "S2",
        dropped: "H3",
        case: "targets not rotated".into(),
        error: 0.5,
        threshold: 1e-3,
    }])
}

fn control_holds(_: u64) -> Result<Vec<Control>> {
    Ok(vec![Control {
        statement: "S2",
        dropped: "H4",
        case: "support not invariant".into(),
        error: 1e-16,
        threshold: 1e-3,
    }])
}

fn fake(
    statement: &'static str,
    check: fn(u64) -> Result<Measurement>,
    controls: fn(u64) -> Result<Vec<Control>>,
) -> Entry {
    Entry {
        statement,
        name: "fake",
        hypotheses: "H1",
        check,
        controls,
    }
}

#[test]
fn a_clean_fake_run_passes() {
    // Positive counterpart of the negative controls below.
    let s = run_entries(&config(4, None, 2), &[fake("S2", holding, control_fails)]).unwrap();
    assert!(s.passed());
    assert!(render_summary(&s).contains("PASSED"));
}

#[test]
fn a_failing_statement_fails_the_run() {
    let cases = 8;
    let s = run_entries(
        &config(cases, None, 2),
        &[
            fake("S2", holding, control_fails),
            fake("S3", failing, control_fails),
        ],
    )
    .unwrap();
    assert!(!s.passed());
    let row = &s.statements[1];
    let expected = (0..cases as u64)
        .filter(|&c| case_seed(7, 3, c).is_multiple_of(2))
        .count();
    assert!(expected > 0, "pick another seed: no failing case");
    assert_eq!(row.failures, expected);
    assert!(!row.holds);
    assert_eq!(row.worst_error, 0.25);
    assert_eq!(row.worst_seed % 2, 0);
    let text = render_summary(&s);
    assert!(
        text.contains(&format!("FAILS on {expected} of {cases} cases")),
        "{text}"
    );
    assert!(
        text.contains("FAILED: statement(s) that do not hold: S3"),
        "{text}"
    );
    assert!(text.contains(&format!("S3 worst case (seed {})", row.worst_seed)));
    assert!(render_summary_bucketed(&s).contains("FAILS on"));
    assert!(render_summary(&s).contains("error/tol"));
}

#[test]
fn a_control_that_does_not_fail_fails_the_run() {
    let s = run_entries(&config(2, None, 2), &[fake("S2", holding, control_holds)]).unwrap();
    assert!(s.statements[0].holds);
    assert!(!s.controls[0].failed_as_expected);
    assert!(!s.passed());
    let text = render_summary_bucketed(&s);
    assert!(text.contains("DID NOT FAIL"), "{text}");
    assert!(
        text.contains("control(s) that did not fail: S2/H4"),
        "{text}"
    );
    // The verdict-only text pins no measured number.
    assert!(
        !text.contains("error/thr") && !text.contains("e-2"),
        "{text}"
    );
}

#[test]
fn a_check_that_errors_is_a_failure_not_an_abort() {
    let s = run_entries(&config(3, None, 2), &[fake("S2", erroring, control_fails)]).unwrap();
    assert!(!s.passed());
    let row = &s.statements[0];
    assert_eq!(row.failures, 3);
    assert!(row.worst_error.is_nan());
    assert!(row.worst_case.contains("the check broke"), "{row:?}");
    assert!(render_summary(&s).contains("NaN"));
}

#[test]
fn an_empty_summary_does_not_pass() {
    let s = CheckSummary {
        seed: 0,
        cases: 1,
        statements: vec![],
        controls: vec![],
    };
    assert!(!s.passed());
    assert!(render_summary(&s).contains("FAILED: no statement was checked"));
}

/// A check that runs its members in a rayon pool of its own (as S5, S8, S15 and the main
/// theorem do) and keeps the waiting thread busy long enough for work stealing to matter.
fn pooled(seed: u64) -> Result<Measurement> {
    let parts = eqens::ensemble::run_members(0..4, 2, |m| {
        (0..20_000u64).fold(seed ^ m as u64, |a, b| a.rotate_left(5) ^ b)
    })?;
    Ok(Measurement {
        statement: "S2",
        case: format!("seed {seed}: {}", parts.iter().fold(0, |a, b| a ^ b)),
        error: 0.0,
        tolerance: 1e-12,
        degenerate: 0,
    })
}

/// Many cases of checks that use their own pools: the runner must neither overflow a stack
/// (a rayon worker waiting on another pool steals and nests jobs; `--cases 2000` over four
/// statements overflowed) nor change results with the thread count.
#[test]
fn many_cases_with_nested_pools_run_in_order() {
    let entries = [
        fake("S2", pooled, control_fails),
        fake("S3", pooled, control_fails),
        fake("S4", pooled, control_fails),
    ];
    let one = run_entries(&config(3000, None, 1), &entries).unwrap();
    let two = run_entries(&config(3000, None, 2), &entries).unwrap();
    assert!(one.passed());
    assert_eq!(
        serde_json::to_string(&one).unwrap(),
        serde_json::to_string(&two).unwrap()
    );
}
