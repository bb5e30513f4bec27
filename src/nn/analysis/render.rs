//! [`render_table`]: the report as a fixed-width text table.

use super::CompatibilityReport;
use std::fmt::Write as _;

/// A number for the table: "0" below 1e-12, 4 decimals from 1e-4 on, else 2 significant
/// digits in scientific notation.
pub fn format_number(x: f64) -> String {
    if x.is_nan() {
        "NaN".into()
    } else if x.abs() < 1e-12 {
        "0".into()
    } else if x.abs() >= 1e-4 {
        format!("{x:.4}")
    } else {
        format!("{x:.1e}")
    }
}

/// Left-aligned fixed-width rows (widths by character count).
fn table(rows: &[Vec<String>]) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let width: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for r in rows {
        let mut line = String::new();
        for (c, cell) in r.iter().enumerate() {
            line.push_str(cell);
            if c + 1 < r.len() {
                let pad = width[c] - cell.chars().count() + 2;
                line.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// The report as a fixed-width text table: one row per linear map (per-unit dimensions),
/// the layer totals, the layer checks, the overall verdict and the advice. Deterministic.
pub fn render_table(report: &CompatibilityReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Architecture analysis under {} (|G| = {}); dims per unit (one k×k filter, or one matrix)",
        report.group, report.group_order
    );
    let mut rows = vec![[
        "map",
        "layer",
        "kind",
        "unit",
        "dim H",
        "dim T𝓛",
        "dim H_G",
        "dim E",
        "dim 𝓛_0",
        "H4 defect",
        "offset defect",
        "‖[Π𝓛,Π_G]‖",
        "max_g ‖[Π𝓛,ρ(g)]‖",
        "H5",
        "verdict",
    ]
    .map(String::from)
    .to_vec()];
    for m in &report.maps {
        rows.push(vec![
            m.map.to_string(),
            m.layer.to_string(),
            m.kind.clone(),
            m.unit.clone(),
            m.dims.ambient.to_string(),
            m.dims.direction.to_string(),
            m.dims.invariants.to_string(),
            m.dims.equivariant.to_string(),
            m.dims.core.to_string(),
            format_number(m.invariance_defect),
            format_number(m.offset_defect),
            format_number(m.commutator_reynolds),
            format_number(m.commutator_group),
            if m.orthonormal { "yes" } else { "no" }.into(),
            m.verdict.label().into(),
        ]);
    }
    out.push_str(&table(&rows));
    out.push('\n');
    out.push_str("Layer totals (units × per-unit dims)\n");
    let mut rows = vec![[
        "map",
        "units",
        "dim H",
        "dim T𝓛",
        "dim H_G",
        "dim E",
        "dim 𝓛_0",
    ]
    .map(String::from)
    .to_vec()];
    for m in &report.maps {
        let t = m.totals;
        rows.push(vec![
            m.map.to_string(),
            m.units.to_string(),
            t.ambient.to_string(),
            t.direction.to_string(),
            t.invariants.to_string(),
            t.equivariant.to_string(),
            t.core.to_string(),
        ]);
    }
    out.push_str(&table(&rows));
    out.push('\n');
    out.push_str(
        "Layer checks on random inputs (H2: σ(ρ(g)v) = ρ(g)σ(v); H1: L_{ρ(g)A}(ρ(g)v) = ρ(g)L_A(v))\n",
    );
    let mut rows = vec![["layer", "kind", "check", "max error", "commutes", "note"]
        .map(String::from)
        .to_vec()];
    for l in &report.layers {
        rows.push(vec![
            l.layer.to_string(),
            l.kind.clone(),
            l.hypothesis.into(),
            format_number(l.error),
            if l.equivariant { "yes" } else { "NO" }.into(),
            l.note.clone().unwrap_or_default(),
        ]);
    }
    out.push_str(&table(&rows));
    out.push('\n');
    let _ = writeln!(out, "Verdict: {}", report.summary);
    let advice: Vec<&String> = report.maps.iter().flat_map(|m| &m.advice).collect();
    if !advice.is_empty() {
        out.push_str("Advice:\n");
        for a in advice {
            let _ = writeln!(out, "  - {a}");
        }
    }
    out
}
