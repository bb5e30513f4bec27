//! The report folder of `eqens reproduce`: report.md (headline table beside the paper's
//! numbers, ordering checks, slopes, Welch tests, per-epoch and single-member tables, a note on
//! learning, the figures), results.json, results.csv and the SVG plots; plus
//! [`summary_table`], a compact rounded table for the terminal.

use super::output::{check_report_dir, replace_dir};
use super::plots::{write_plots, Plot};
use super::results::{
    paper_point, MeanStd, Results, SizeStat, Spread, PAPER_EPOCH, PAPER_M, SET_OOD, SET_TEST,
};
use crate::{Error, Result};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Below this single-member test accuracy at the last epoch the report says the members barely
/// learn (10 classes: chance is 0.1; a trained small CNN on digits exceeds 0.9).
pub const LEARNING_THRESHOLD: f64 = 0.5;

/// Significance level at which the report reads the Welch p-values.
pub const WELCH_ALPHA: f64 = 0.05;

/// The arms whose order the paper predicts, most equivariant first.
const ORDERED_ARMS: [&str; 3] = ["sym", "as-syminit", "as-asyminit"];

/// Writes `out_dir/report.md`, `results.json`, `results.csv` and the SVG plots; returns the
/// paths written. The files are written into a temporary sibling folder, `fsync`ed, and the
/// folder is renamed into place ([`replace_dir`]): `out_dir` holds either its old complete
/// content or the new complete report, even if the disk fills up or the process is killed.
/// An existing `out_dir` is replaced only if it holds nothing but report files. Failures are
/// [`Error::Io`] naming the path; inconsistent results are [`Error::Data`].
pub fn write_report(results: &Results, out_dir: &Path) -> Result<Vec<PathBuf>> {
    results.validate()?;
    check_report_dir(out_dir, true)?;
    let names = replace_dir(out_dir, |dir| {
        let written = write_report_files(results, dir)?;
        Ok(written
            .iter()
            .filter_map(|p| p.file_name().map(|n| n.to_owned()))
            .collect::<Vec<_>>())
    })?;
    Ok(names.into_iter().map(|n| out_dir.join(n)).collect())
}

fn write_report_files(results: &Results, out_dir: &Path) -> Result<Vec<PathBuf>> {
    let mut written = Vec::new();

    let path = out_dir.join("results.json");
    std::fs::write(&path, results.to_json()).map_err(|e| io_err(&path, e))?;
    written.push(path);

    let path = out_dir.join("results.csv");
    let mut csv = Vec::new();
    results.write_csv(&mut csv).map_err(|e| io_err(&path, e))?;
    std::fs::write(&path, csv).map_err(|e| io_err(&path, e))?;
    written.push(path);

    written.extend(write_plots(results, out_dir)?);

    let path = out_dir.join("report.md");
    std::fs::write(&path, report_markdown(results)).map_err(|e| io_err(&path, e))?;
    written.insert(0, path);
    Ok(written)
}

fn io_err(path: &Path, e: std::io::Error) -> Error {
    Error::Io(format!("{}: {e}", path.display()))
}

/// The ensemble's metrics for `arm` on `set` at the run's largest M and last epoch, if that
/// exact point was evaluated (no silent fallback to another M or epoch).
fn headline(results: &Results, arm: &str, set: &str) -> Option<SizeStat> {
    let epoch = results.last_epoch()?;
    let m = results.largest_m()?;
    let ep = results.arm(arm)?.epochs.iter().find(|e| e.epoch == epoch)?;
    ep.set(set)?.at_m(m).cloned()
}

/// One ordering check of the paper's claim on one set at the largest M and last epoch.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderingCheck {
    /// Set name.
    pub set: String,
    /// `"KL"` (expected increasing along the arms) or `"OSP"` (expected decreasing).
    pub metric: &'static str,
    /// The expected order in words, e.g. `sym < as-syminit < as-asyminit`.
    pub expected: String,
    /// (arm, bootstrap mean) in the order of the claim; `None` where not evaluated.
    pub values: Vec<(String, Option<f64>)>,
    /// `Some(true)` if the strict order holds, `Some(false)` if not, `None` if a value is
    /// missing or not finite.
    pub holds: Option<bool>,
}

impl OrderingCheck {
    /// The verdict in words: `holds`, `does not hold` or `cannot be checked`.
    pub fn verdict(&self) -> &'static str {
        match self.holds {
            Some(true) => "holds",
            Some(false) => "does not hold",
            None => "cannot be checked",
        }
    }

    /// One line stating the check, its verdict and the values.
    pub fn sentence(&self) -> String {
        let vals: Vec<String> = self
            .values
            .iter()
            .map(|(arm, v)| match v {
                Some(v) if self.metric == "KL" => format!("{arm} {}", sig(*v, 3)),
                Some(v) => format!("{arm} {}", fixed(*v, 3)),
                None => format!("{arm} missing"),
            })
            .collect();
        format!(
            "{} order {} on `{}`: **{}** ({})",
            self.metric,
            self.expected,
            self.set,
            self.verdict(),
            vals.join(", ")
        )
    }
}

/// The paper's orderings at the largest M and last epoch, per set: KL sym < as-syminit <
/// as-asyminit, and OSP sym > as-syminit > as-asyminit (strict, on bootstrap means).
pub fn ordering_checks(results: &Results) -> Vec<OrderingCheck> {
    let mut checks = Vec::new();
    for set in [SET_TEST, SET_OOD] {
        for (metric, increasing) in [("KL", true), ("OSP", false)] {
            let values: Vec<(String, Option<f64>)> = ORDERED_ARMS
                .iter()
                .map(|&arm| {
                    let v = headline(results, arm, set)
                        .map(|s| if increasing { s.kl.mean } else { s.osp.mean })
                        .filter(|v| v.is_finite());
                    (arm.to_string(), v)
                })
                .collect();
            let holds = values
                .iter()
                .map(|(_, v)| *v)
                .collect::<Option<Vec<f64>>>()
                .map(|v| {
                    v.windows(2)
                        .all(|w| if increasing { w[0] < w[1] } else { w[0] > w[1] })
                });
            let sep = if increasing { " < " } else { " > " };
            checks.push(OrderingCheck {
                set: set.to_string(),
                metric,
                expected: ORDERED_ARMS.join(sep),
                values,
                holds,
            });
        }
    }
    checks
}

/// `x` rounded to `n` significant digits, written without exponent (`0.0040`, `0.26`, `130`).
fn sig(x: f64, n: u32) -> String {
    if !x.is_finite() {
        return format!("{x}");
    }
    if x == 0.0 {
        return "0".into();
    }
    let n = n.max(1) as i32;
    let mut e = x.abs().log10().floor() as i32;
    let unit = |e: i32| 10f64.powi(e - n + 1);
    let mut r = (x / unit(e)).round() * unit(e);
    if r.abs() >= 10f64.powi(e + 1) {
        e += 1;
        r = (x / unit(e)).round() * unit(e);
    }
    let decimals = (n - 1 - e).max(0) as usize;
    format!("{r:.decimals$}")
}

/// A p-value: 2 significant digits, in scientific notation below 10⁻³.
fn p_value(p: f64) -> String {
    if p.is_finite() && p > 0.0 && p < 1e-3 {
        format!("{p:.1e}")
    } else {
        sig(p, 2)
    }
}

/// `x` with `d` decimals.
fn fixed(x: f64, d: usize) -> String {
    format!("{x:.d$}")
}

fn ms_fixed(v: MeanStd, d: usize) -> String {
    format!("{} ± {}", fixed(v.mean, d), sig(v.std, 2))
}

fn ms_sig(v: MeanStd) -> String {
    format!("{} ± {}", sig(v.mean, 3), sig(v.std, 2))
}

fn spread(v: Spread, kl: bool) -> String {
    let f = |x: f64| if kl { sig(x, 3) } else { fixed(x, 3) };
    format!(
        "{} ± {} [{}, {}]",
        f(v.mean),
        sig(v.std, 2),
        f(v.min),
        f(v.max)
    )
}

fn duration(secs: f64) -> String {
    if !secs.is_finite() || secs < 0.0 {
        return format!("{secs} s");
    }
    let s = secs.round() as u64;
    match (s / 3600, (s / 60) % 60, s % 60) {
        (0, 0, _) => format!("{secs:.1} s"),
        (0, m, s) => format!("{m} min {s} s"),
        (h, m, s) => format!("{h} h {m} min {s} s"),
    }
}

/// A compact plain-text table at the largest M and last epoch, rounded (accuracy and OSP to 2
/// decimals, KL to 2 significant digits), for the terminal and snapshots.
pub fn summary_table(results: &Results) -> String {
    let m = results.largest_m().map_or("-".into(), |m| m.to_string());
    let epoch = results.last_epoch().map_or("-".into(), |e| e.to_string());
    let cols = ["test acc", "test OSP", "test KL", "ood OSP", "ood KL"];
    let mut rows: Vec<Vec<String>> = vec![std::iter::once("arm".to_string())
        .chain(cols.iter().map(|c| c.to_string()))
        .collect()];
    for arm in &results.arms {
        let test = headline(results, &arm.name, SET_TEST);
        let ood = headline(results, &arm.name, SET_OOD);
        let cells = [
            test.as_ref().map(|s| fixed(s.acc.mean, 2)),
            test.as_ref().map(|s| fixed(s.osp.mean, 2)),
            test.as_ref().map(|s| sig(s.kl.mean, 2)),
            ood.as_ref().map(|s| fixed(s.osp.mean, 2)),
            ood.as_ref().map(|s| sig(s.kl.mean, 2)),
        ];
        rows.push(
            std::iter::once(arm.name.clone())
                .chain(cells.into_iter().map(|c| c.unwrap_or_else(|| "-".into())))
                .collect(),
        );
    }
    // Every column is as wide as its widest cell, and columns are separated by at least
    // two spaces (at least 10 wide, as before, so ordinary tables keep their layout).
    let width = |c: usize| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0);
    let first = width(0).max(3) + 2;
    let widths: Vec<usize> = (1..=cols.len()).map(|c| (width(c) + 2).max(10)).collect();
    let mut out = format!("M = {m}, epoch {epoch} (bootstrap means)\n");
    for row in &rows {
        let _ = write!(out, "{:<first$}", row[0]);
        for (cell, w) in row[1..].iter().zip(&widths) {
            let _ = write!(out, "{cell:>w$}");
        }
        out.push('\n');
    }
    let d = &results.divergence;
    if d.total() > 0 {
        let _ = writeln!(
            out,
            "members left out: {} non-finite, {} exploded (see report.md)",
            d.non_finite, d.exploded
        );
    }
    out
}

/// The text of report.md.
pub fn report_markdown(results: &Results) -> String {
    let mut md = String::new();
    run_section(&mut md, results);
    headline_section(&mut md, results);
    architecture_section(&mut md, results);
    bias_section(&mut md, results);
    comparison_section(&mut md, results);
    per_epoch_section(&mut md, results);
    closing_section(&mut md, results);
    md
}

/// Title, the run's description, its data and the settings table.
fn run_section(md: &mut String, results: &Results) {
    let run = &results.run;

    let _ = writeln!(
        md,
        "# eqens reproduce — emergent equivariance in augmented ensembles\n"
    );
    let data = if run.data.is_empty() {
        "digits"
    } else {
        run.data.as_str()
    };
    let group = if run.group.is_empty() {
        "c4"
    } else {
        run.group.as_str()
    };
    let _ = writeln!(
        md,
        "Reproduction of the experiment of Nordenfors & Flinth (docs/THEORY.md §4): ensembles \
         of the paper's network trained with full {} augmentation (exact grid actions) on \
         `{data}`, one arm per filter support and initial law; metrics on the ensemble's mean \
         logits, and the squared bias ‖E D‖² of the infinite ensemble.\n",
        group.to_uppercase()
    );
    let _ = writeln!(md, "Data: {}\n", data_note(results));

    let _ = writeln!(md, "## Run\n");
    let _ = writeln!(md, "| setting | value |\n|---|---|");
    let rows: [(&str, String); 20] = [
        ("eqens version", run.version.clone()),
        ("data", data.to_string()),
        ("group", group.to_string()),
        (
            "out-of-distribution set",
            if run.ood.is_empty() {
                "noise".into()
            } else {
                run.ood.clone()
            },
        ),
        ("SGD steps per member", run.steps_per_member.to_string()),
        ("epochs evaluated", format!("{:?}", run.eval_epochs)),
        ("seed", run.seed.to_string()),
        ("members per arm", run.members.to_string()),
        ("epochs", run.epochs.to_string()),
        ("learning rate", run.lr.to_string()),
        ("batch size", run.batch.to_string()),
        ("scalar", run.scalar.clone()),
        ("threads", run.threads.to_string()),
        ("SIMD level", run.simd.clone()),
        ("ensemble sizes M", format!("{:?}", run.sizes)),
        ("bootstrap resamples", run.resamples.to_string()),
        (
            "images (train / test / ood)",
            format!("{} / {} / {}", run.train_len, run.test_len, run.ood_len),
        ),
        (
            "elapsed",
            if run.shards > 0 {
                format!(
                    "merged from {} shards: training {} (sum of the shards' run times), \
                     merge {}",
                    run.shards,
                    duration(run.train_secs),
                    duration(run.elapsed_secs)
                )
            } else {
                duration(run.elapsed_secs)
            },
        ),
        (
            "members left out",
            format!(
                "{} non-finite, {} exploded",
                results.divergence.non_finite, results.divergence.exploded
            ),
        ),
        (
            "arms",
            results
                .arms
                .iter()
                .map(|a| a.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        ),
    ];
    for (k, v) in rows {
        let _ = writeln!(md, "| {k} | {v} |");
    }
}

/// The headline table at the largest M and last epoch, beside the paper's numbers.
fn headline_section(md: &mut String, results: &Results) {
    let run = &results.run;
    let m = results.largest_m().unwrap_or(0);
    let last = results.last_epoch().unwrap_or(0);
    let dash = || "—".to_string();
    let data = if run.data.is_empty() {
        "digits"
    } else {
        run.data.as_str()
    };

    let _ = writeln!(md, "\n## Headline: M = {m}, epoch {last}\n");
    let _ = writeln!(
        md,
        "Bootstrap mean ± std over {} resamples.\n",
        run.resamples
    );
    let _ = writeln!(
        md,
        "| arm | support | init | test acc | test OSP | test KL | ood OSP | ood KL |\n\
         |---|---|---|---|---|---|---|---|"
    );
    for arm in &results.arms {
        let t = headline(results, &arm.name, SET_TEST);
        let o = headline(results, &arm.name, SET_OOD);
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            arm.name,
            arm.support,
            arm.init,
            t.as_ref().map_or_else(dash, |s| ms_fixed(s.acc, 3)),
            t.as_ref().map_or_else(dash, |s| ms_fixed(s.osp, 3)),
            t.as_ref().map_or_else(dash, |s| ms_sig(s.kl)),
            o.as_ref().map_or_else(dash, |s| ms_fixed(s.osp, 3)),
            o.as_ref().map_or_else(dash, |s| ms_sig(s.kl)),
        );
    }

    let _ = writeln!(md, "\n### Beside the paper\n");
    let _ =
        writeln!(
        md,
        "The paper reports M = {PAPER_M}, epoch {PAPER_EPOCH}, on MNIST (`test`) and grayscale \
         CIFAR-10 (`ood`), after 18,750 SGD steps per member; this run uses M = {m}, epoch \
         {last}, {} SGD steps per member, `{data}` and the `{}` out-of-distribution set, so \
         the numbers compare in their ordering, not in value.\n",
        run.steps_per_member,
        if run.ood.is_empty() { "noise" } else { run.ood.as_str() }
    );
    let _ = writeln!(
        md,
        "| arm | set | OSP (this run) | OSP (paper) | KL (this run) | KL (paper) |\n\
         |---|---|---|---|---|---|"
    );
    for arm in ORDERED_ARMS {
        for set in [SET_TEST, SET_OOD] {
            let ours = headline(results, arm, set);
            let paper = paper_point(arm, set);
            let _ = writeln!(
                md,
                "| {arm} | {set} | {} | {} | {} | {} |",
                ours.as_ref().map_or_else(dash, |s| fixed(s.osp.mean, 3)),
                paper.map_or_else(dash, |p| p.osp.to_string()),
                ours.as_ref().map_or_else(dash, |s| sig(s.kl.mean, 3)),
                paper.map_or_else(dash, |p| p.kl.to_string()),
            );
        }
    }
}

/// The ordering check, the KL slopes in M and the Welch tests between arms.
fn comparison_section(md: &mut String, results: &Results) {
    let m = results.largest_m().unwrap_or(0);
    let last = results.last_epoch().unwrap_or(0);

    let _ = writeln!(md, "\n## Ordering check\n");
    let _ = writeln!(
        md,
        "The paper's claim: the more of the symmetry the architecture and initialisation \
         respect, the more equivariant the ensemble — KL sym < as-syminit < as-asyminit and \
         OSP in the reverse order, on both sets (strict order of the bootstrap means at \
         M = {m}, epoch {last}).\n"
    );
    for check in ordering_checks(results) {
        let _ = writeln!(md, "- {}", check.sentence());
    }

    let _ = writeln!(md, "\n## KL versus ensemble size\n");
    let _ = writeln!(
        md,
        "Least-squares slope of log KL on log M at the last epoch. The paper expects ≈ −1 for \
         sym (KL ∝ 1/M: the ensemble converges to an equivariant limit), a plateau (slope near \
         0 at large M) for as-asyminit, and as-syminit in between.\n"
    );
    if results.comparison.kl_slopes.is_empty() {
        let _ = writeln!(md, "No slopes were computed for this run.");
    } else {
        let _ = writeln!(
            md,
            "| arm | set | M range | slope | paper expects |\n|---|---|---|---|---|"
        );
        for s in &results.comparison.kl_slopes {
            let expect = match s.arm.as_str() {
                "sym" => "≈ −1",
                "as-syminit" => "between",
                "as-asyminit" => "plateau (≈ 0 at large M)",
                _ => "—",
            };
            let _ = writeln!(
                md,
                "| {} | {} | {}..{} | {} | {expect} |",
                s.arm,
                s.set,
                s.m_from,
                s.m_to,
                fixed(s.slope, 2)
            );
        }
    }

    let _ = writeln!(md, "\n## Welch tests: does sym have lower KL?\n");
    if results.comparison.sym_lower_kl.is_empty() {
        let _ = writeln!(md, "No tests were computed for this run.");
    } else {
        let _ = writeln!(
            md,
            "One-sided Welch t-tests on the KL of the bootstrap resamples. The resamples are \
             drawn from one trained population per arm, so they are not independent \
             experiments: read the p-values as indicative.\n"
        );
        let _ = writeln!(
            md,
            "| sym vs | set | M | t | dof | p | at {WELCH_ALPHA} |\n|---|---|---|---|---|---|---|"
        );
        for w in &results.comparison.sym_lower_kl {
            let verdict = if w.p < WELCH_ALPHA {
                "sym lower"
            } else {
                "not significant"
            };
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} | {verdict} |",
                w.arm,
                w.set,
                w.m,
                fixed(w.t, 2),
                fixed(w.dof, 1),
                p_value(w.p)
            );
        }
    }
}

/// Per-epoch ensemble metrics and the single members' spread.
fn per_epoch_section(md: &mut String, results: &Results) {
    let m = results.largest_m().unwrap_or(0);
    let last = results.last_epoch().unwrap_or(0);
    let dash = || "—".to_string();

    let _ = writeln!(md, "\n## Per epoch (ensemble at M = {m})\n");
    let _ = writeln!(
        md,
        "| arm | epoch | mean train loss | test acc | test OSP | test KL | ood OSP | ood KL |\n\
         |---|---|---|---|---|---|---|---|"
    );
    for arm in &results.arms {
        for ep in &arm.epochs {
            let t = ep.set(SET_TEST).and_then(|s| s.at_m(m));
            let o = ep.set(SET_OOD).and_then(|s| s.at_m(m));
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} | {} | {} |",
                arm.name,
                ep.epoch,
                ep.mean_train_loss.map_or_else(dash, |l| sig(l, 4)),
                t.map_or_else(dash, |s| fixed(s.acc.mean, 3)),
                t.map_or_else(dash, |s| fixed(s.osp.mean, 3)),
                t.map_or_else(dash, |s| sig(s.kl.mean, 3)),
                o.map_or_else(dash, |s| fixed(s.osp.mean, 3)),
                o.map_or_else(dash, |s| sig(s.kl.mean, 3)),
            );
        }
    }

    let _ = writeln!(md, "\n## Single members (epoch {last})\n");
    let _ = writeln!(
        md,
        "Distribution over the members: mean ± std [min, max].\n\n\
         | arm | set | accuracy | OSP | KL |\n|---|---|---|---|---|"
    );
    for arm in &results.arms {
        let Some(ep) = arm.epochs.iter().find(|e| e.epoch == last) else {
            continue;
        };
        for s in &ep.sets {
            let sm = &s.single_members;
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} |",
                arm.name,
                s.set,
                spread(sm.acc, false),
                spread(sm.osp, false),
                spread(sm.kl, true)
            );
        }
    }
}

/// Learning notes (members that barely learn or diverged) and the figures.
fn closing_section(md: &mut String, results: &Results) {
    let _ = writeln!(md, "\n## Learning\n");
    for line in learning_notes(results) {
        let _ = writeln!(md, "- {line}");
    }

    let _ = writeln!(md, "\n## Figures\n");
    for plot in Plot::ALL {
        let _ = writeln!(md, "![{}]({})\n", plot.title(), plot.file_name());
    }
    let _ = writeln!(
        md,
        "Raw numbers: [results.json](results.json), [results.csv](results.csv)."
    );
}

/// Whether single members learn, and which members diverged, per arm.
fn learning_notes(results: &Results) -> Vec<String> {
    let last = results.last_epoch().unwrap_or(0);
    let mut notes = Vec::new();
    for arm in &results.arms {
        let acc = arm
            .epochs
            .iter()
            .find(|e| e.epoch == last)
            .and_then(|e| e.set(SET_TEST))
            .map(|s| s.single_members.acc.mean);
        match acc {
            Some(a) if a.is_nan() || a < LEARNING_THRESHOLD => notes.push(format!(
                "**{}**: single members reach only {} test accuracy at epoch {last} — the \
                 members barely learn, so the equivariance numbers say little about trained \
                 networks. Try a larger `--lr` or more `--epochs`.",
                arm.name,
                fixed(a, 3)
            )),
            Some(a) => notes.push(format!(
                "**{}**: single members reach {} test accuracy at epoch {last}.",
                arm.name,
                fixed(a, 3)
            )),
            None => notes.push(format!(
                "**{}**: no test evaluation at epoch {last}.",
                arm.name
            )),
        }
        if !arm.diverged_members.is_empty() {
            let list: Vec<String> = arm
                .diverged_members
                .iter()
                .map(|(i, why)| format!("{i} ({why})"))
                .collect();
            notes.push(format!(
                "**{}**: {} of {} members diverged and were left out: {}.",
                arm.name,
                arm.diverged_members.len(),
                results.run.members,
                list.join(", ")
            ));
        }
    }
    if results.arms.iter().all(|a| a.diverged_members.is_empty()) {
        notes.push("No member diverged.".into());
    }
    notes
}

/// Where the data came from and how they were prepared.
fn data_note(results: &Results) -> String {
    let run = &results.run;
    let train = match run.data.as_str() {
        "mnist" => format!(
            "{} training / {} test images of the bundled 5,000 real MNIST digits (28×28, \
             CC BY-SA 3.0; stratified split), normalised with the training pixels' mean {} and \
             std {} before rotation",
            run.train_len,
            run.test_len,
            sig(run.train_mean, 4),
            sig(run.train_std, 4)
        ),
        _ => format!(
            "{} training / {} test images of the bundled 8×8 UCI digits (stratified split), \
             normalised with the training pixels' mean and std",
            run.train_len, run.test_len
        ),
    };
    let ood = match (run.ood.as_str(), run.data.as_str()) {
        ("natural", "mnist") => format!(
            "{} grayscale natural-image patches (28×28, public domain / CC0), scaled to [0, 1] \
             and not normalised, as the paper's grayscale CIFAR-10",
            run.ood_len
        ),
        ("natural", _) => format!(
            "{} grayscale natural-image patches, 28×28 area-resized to 8×8 (each output pixel \
             the area-weighted mean of a 3.5×3.5-pixel box, a map that commutes with the grid's \
             rotations and flips), scaled to [0, 1] and not normalised",
            run.ood_len
        ),
        _ => format!("{} smoothed Gaussian noise images", run.ood_len),
    };
    format!("{train}; out of distribution: {ood}.")
}

/// Each arm's architecture verdict under the run's group and the theory's prediction.
fn architecture_section(md: &mut String, results: &Results) {
    let _ = writeln!(md, "\n## Architecture verdicts (`eqens analyze`)\n");
    let _ = writeln!(
        md,
        "H4 / compatibility of each arm's support under the run's group, as `eqens analyze \
         --group … --support …` computes it, and what the theorem then predicts for the \
         squared bias ‖E D‖² of the infinite ensemble.\n"
    );
    let _ = writeln!(
        md,
        "| arm | support | init | group | verdict | hypotheses H2, H4, H5 | ‖E D‖² predicted |\n\
         |---|---|---|---|---|---|---|"
    );
    for arm in &results.arms {
        match &arm.architecture {
            Some(a) => {
                let _ = writeln!(
                    md,
                    "| {} | {} | {} | {} | {} | {} | {} |",
                    arm.name,
                    arm.support,
                    arm.init,
                    a.group,
                    a.verdict,
                    if a.hypotheses_hold { "hold" } else { "fail" },
                    a.prediction
                );
            }
            None => {
                let _ = writeln!(
                    md,
                    "| {} | {} | {} | — | — | — | — |",
                    arm.name, arm.support, arm.init
                );
            }
        }
    }
}

/// The squared-bias estimates: at the last epoch, and per epoch.
fn bias_section(md: &mut String, results: &Results) {
    let last = results.last_epoch().unwrap_or(0);
    let _ = writeln!(md, "\n## Squared bias ‖E D‖² (the sharp test)\n");
    let _ = writeln!(
        md,
        "D = f(ρ_X(g)x) − f(x) is one member's equivariance defect (logits; ‖·‖² averaged over \
         the set's inputs and the group's elements). E‖f̂_M(gx) − f̂_M(x)‖² = ‖E D‖² + tr Σ / M: \
         the U-statistic over pairs of members, (1/(M(M−1))) Σ_{{i≠j}} ⟨D_i, D_j⟩, estimates \
         ‖E D‖² without the 1/M variance term (`eqens::metrics::squared_mean_norm`). 95 % \
         interval from the jackknife (conservative near 0); p-value of the one-sided test of \
         ‖E D‖² = 0 from U's standard deviation under that null. The plug-in ‖D̄‖² is shown \
         for comparison. All kept members enter (M below).\n"
    );
    let _ = writeln!(
        md,
        "| arm | set | epoch | M | ‖E D‖² (U) | 95 % interval | null sd | p | plug-in ‖D̄‖² |\n\
         |---|---|---|---|---|---|---|---|---|"
    );
    for arm in &results.arms {
        let Some(ep) = arm.epochs.iter().find(|e| e.epoch == last) else {
            continue;
        };
        for s in &ep.sets {
            let Some(b) = s.bias else { continue };
            let _ = writeln!(
                md,
                "| {} | {} | {last} | {} | {} | [{}, {}] | {} | {} | {} |",
                arm.name,
                s.set,
                b.members,
                sig(b.estimate, 3),
                sig(b.ci_low, 3),
                sig(b.ci_high, 3),
                sig(b.null_sd, 2),
                p_value(b.p_value),
                sig(b.plugin, 3)
            );
        }
    }
    let _ = writeln!(md, "\n### Per epoch\n");
    let _ = writeln!(
        md,
        "| arm | epoch | test ‖E D‖² ± se | test p | ood ‖E D‖² ± se | ood p |\n\
         |---|---|---|---|---|---|"
    );
    let dash = || "—".to_string();
    for arm in &results.arms {
        for ep in &arm.epochs {
            let t = ep.set(SET_TEST).and_then(|s| s.bias);
            let o = ep.set(SET_OOD).and_then(|s| s.bias);
            let pm = |b: Option<crate::metrics::BiasEstimate>| {
                b.map_or_else(dash, |b| {
                    format!("{} ± {}", sig(b.estimate, 3), sig(b.se, 2))
                })
            };
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} |",
                arm.name,
                ep.epoch,
                pm(t),
                t.map_or_else(dash, |b| p_value(b.p_value)),
                pm(o),
                o.map_or_else(dash, |b| p_value(b.p_value)),
            );
        }
    }
}
