//! The `eqens check` report: a table of statements, a table of negative controls and a
//! verdict line; with every number (error, derived tolerance, margin error/tolerance), or as
//! verdicts only (for snapshots: round-off, and the tolerances derived from it, depend on
//! the platform, so a snapshot pins no measured number).

use super::registry::{CheckSummary, ControlRow, StatementRow};

/// The upper edges of the error buckets of [`error_bucket`].
pub const BUCKET_EDGES: [f64; 4] = [1e-12, 1e-9, 1e-6, 1e-3];

/// The bucket of an error: `< 1e-12`, `< 1e-9`, `< 1e-6`, `< 1e-3`, `≥ 1e-3`, or `NaN`.
pub fn error_bucket(error: f64) -> &'static str {
    if error.is_nan() {
        return "NaN";
    }
    match BUCKET_EDGES.iter().position(|&edge| error < edge) {
        Some(0) => "< 1e-12",
        Some(1) => "< 1e-9",
        Some(2) => "< 1e-6",
        Some(_) => "< 1e-3",
        None => "≥ 1e-3",
    }
}

/// A number in short scientific notation: 1e-12, 2.1e-2, NaN.
pub fn short_sci(x: f64) -> String {
    if x.is_nan() {
        return "NaN".into();
    }
    let s = format!("{x:.1e}");
    s.replacen(".0e", "e", 1)
}

/// How the report is printed.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Every number.
    Raw,
    /// Verdicts only.
    Verdicts,
}

fn show(x: f64) -> String {
    if x.is_nan() {
        "NaN".into()
    } else {
        format!("{x:.2e}")
    }
}

/// The summary as text, with every number (`eqens check`).
pub fn render_summary(summary: &CheckSummary) -> String {
    render(summary, Mode::Raw)
}

/// The summary as text with verdicts only: no measured error, derived tolerance or margin,
/// and no case text (which records measured numbers) — deterministic text for snapshots.
pub fn render_summary_bucketed(summary: &CheckSummary) -> String {
    render(summary, Mode::Verdicts)
}

fn statement_verdict(s: &StatementRow) -> String {
    if s.holds && s.failures == 0 {
        "holds".into()
    } else {
        format!("FAILS on {} of {} cases", s.failures, s.cases)
    }
}

fn control_verdict(c: &ControlRow) -> &'static str {
    if c.failed_as_expected {
        "fails as it must"
    } else {
        "DID NOT FAIL"
    }
}

fn render(summary: &CheckSummary, mode: Mode) -> String {
    let raw = mode == Mode::Raw;
    let mut out = format!(
        "Statements — seed {}, {} case(s) each\n",
        summary.seed, summary.cases
    );
    let rows: Vec<Vec<String>> = summary
        .statements
        .iter()
        .map(|s| {
            let mut row = vec![
                s.statement.clone(),
                s.name.clone(),
                s.hypotheses.clone(),
                s.cases.to_string(),
            ];
            if raw {
                row.extend([
                    s.degenerate.to_string(),
                    show(s.worst_error),
                    short_sci(s.tolerance),
                    show(s.margin),
                ]);
            }
            row.push(statement_verdict(s));
            row
        })
        .collect();
    let mut headers = vec!["statement", "name", "hypotheses", "cases"];
    if raw {
        headers.extend(["degenerate", "worst error", "tolerance", "error/tol"]);
    }
    headers.push("verdict");
    out += &table(&headers, &rows);
    if raw {
        out += "  tolerance: derived per case (round-off budget for exact identities, \
                standard errors for statistical ones); error/tol is the worst case's ratio.\n";
    }
    for s in summary.statements.iter().filter(|s| s.failures > 0) {
        out += &format!(
            "  {} worst case (seed {}): {}\n",
            s.statement, s.worst_seed, s.worst_case
        );
    }
    out +=
        "\nNegative controls — one hypothesis dropped, run once on each statement's case-0 seed\n";
    let rows: Vec<Vec<String>> = summary
        .controls
        .iter()
        .map(|c| {
            let mut row = vec![c.statement.clone(), c.dropped.clone()];
            if raw {
                row.extend([show(c.error), short_sci(c.threshold), show(c.margin)]);
            }
            row.push(control_verdict(c).into());
            if raw {
                row.push(c.case.clone());
            }
            row
        })
        .collect();
    let headers: Vec<&str> = if raw {
        vec![
            "statement",
            "dropped",
            "error",
            "threshold",
            "error/thr",
            "verdict",
            "case",
        ]
    } else {
        vec!["statement", "dropped", "verdict"]
    };
    out += &table(&headers, &rows);
    out += "\n";
    out += &verdict_line(summary);
    out += "\n";
    out
}

fn verdict_line(summary: &CheckSummary) -> String {
    let failing: Vec<&str> = summary
        .statements
        .iter()
        .filter(|s| !(s.holds && s.failures == 0))
        .map(|s| s.statement.as_str())
        .collect();
    let not_failing: Vec<String> = summary
        .controls
        .iter()
        .filter(|c| !c.failed_as_expected)
        .map(|c| format!("{}/{}", c.statement, c.dropped))
        .collect();
    if summary.passed() {
        format!(
            "PASSED: {} statement(s) hold on every case; {} control(s) fail as they must",
            summary.statements.len(),
            summary.controls.len()
        )
    } else if summary.statements.is_empty() {
        "FAILED: no statement was checked".into()
    } else {
        let mut parts = Vec::new();
        if !failing.is_empty() {
            parts.push(format!(
                "statement(s) that do not hold: {}",
                failing.join(", ")
            ));
        }
        if !not_failing.is_empty() {
            parts.push(format!(
                "control(s) that did not fail: {}",
                not_failing.join(", ")
            ));
        }
        format!("FAILED: {}", parts.join("; "))
    }
}

/// A left-aligned text table with a header rule; widths count characters, not bytes.
fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| -> String {
        let last = cells.len() - 1;
        let mut s = String::new();
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            s += cell;
            if i < last {
                s += &" ".repeat(w - cell.chars().count() + 2);
            }
        }
        s + "\n"
    };
    let mut out = line(headers.to_vec());
    out += &line(
        widths
            .iter()
            .map(|&w| "-".repeat(w))
            .collect::<Vec<_>>()
            .iter()
            .map(String::as_str)
            .collect(),
    );
    for row in rows {
        out += &line(row.iter().map(String::as_str).collect());
    }
    out
}
