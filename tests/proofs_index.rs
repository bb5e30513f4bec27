//! Keeps `proofs/` honest: every statement of `docs/THEORY.md` has a proof file that links an
//! existing test and names its `eqens check` entry, every `tests/sNN_*.rs` has an index row in
//! `proofs/README.md`, and no relative link in `proofs/*.md` dangles.
//!
//! Proofs name tests and controls in inline code, with a fixed syntax:
//! - a test: `` `tests/FILE.rs::NAME` `` — FILE.rs must exist and define `#[test] fn NAME`;
//! - a negative control: `` `control: STATEMENT / DROPPED` `` (e.g. `` `control: S5 / H4` ``,
//!   `` `control: main / H6` ``) — the controls are identified by their statement and their
//!   `dropped` label, and the pair must be one that the statement's `controls` function in
//!   the registry actually produces (they are run, not parsed). Conversely every pair the
//!   registry produces must be named in that statement's proof (`proofs/SNN-*.md`, or
//!   `proofs/main-theorem.md` for "main"): the map and the code agree both ways.
//!
//! The checks run against a [`Tree`], either the repository on disk or an in-memory fixture;
//! the negative controls at the bottom feed the same functions broken fixtures and assert that
//! each defect is reported, so the checker itself can fail.

use eqens::check::registry::{case_seed, registry, MAIN, STATEMENTS};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

/// Section headings every proof file must contain, in the form they are written.
const SECTIONS: [&str; 5] = [
    "**Hypotheses.**",
    "**Claim.**",
    "**Proof.**",
    "**Verified by.**",
    "**Negative controls**",
];

/// Read-only view of a source tree; paths are repository-relative with `/` separators.
trait Tree {
    /// Text of a file, or `None` if it does not exist or is not readable text.
    fn read(&self, path: &str) -> Option<String>;
    /// Whether a file or directory exists at `path`.
    fn exists(&self, path: &str) -> bool;
    /// Names of the files directly inside `dir`, sorted.
    fn list(&self, dir: &str) -> Vec<String>;
}

/// The repository on disk, rooted at the crate's manifest directory.
struct Disk {
    root: PathBuf,
}

impl Tree for Disk {
    fn read(&self, path: &str) -> Option<String> {
        std::fs::read_to_string(self.root.join(path)).ok()
    }

    fn exists(&self, path: &str) -> bool {
        self.root.join(path).exists()
    }

    fn list(&self, dir: &str) -> Vec<String> {
        let mut names: Vec<String> = match std::fs::read_dir(self.root.join(dir)) {
            Ok(entries) => entries
                .filter_map(|e| e.ok())
                .filter(|e| e.file_type().map(|t| t.is_file()).unwrap_or(false))
                .filter_map(|e| e.file_name().into_string().ok())
                .collect(),
            Err(_) => Vec::new(),
        };
        names.sort();
        names
    }
}

/// An in-memory tree for the negative controls: file path → contents.
struct Memory {
    files: BTreeMap<String, String>,
}

impl Tree for Memory {
    fn read(&self, path: &str) -> Option<String> {
        self.files.get(path).cloned()
    }

    fn exists(&self, path: &str) -> bool {
        let dir = format!("{path}/");
        self.files.contains_key(path) || self.files.keys().any(|f| f.starts_with(&dir))
    }

    fn list(&self, dir: &str) -> Vec<String> {
        let prefix = format!("{dir}/");
        self.files
            .keys()
            .filter_map(|f| f.strip_prefix(&prefix))
            .filter(|rest| !rest.contains('/'))
            .map(str::to_string)
            .collect()
    }
}

/// Statement numbers n from the lines of THEORY.md that start with "- **S<n> ".
fn theory_statements(theory: &str) -> Vec<u32> {
    theory
        .lines()
        .filter_map(|line| line.strip_prefix("- **S"))
        .filter_map(|rest| {
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            let after = rest[digits.len()..].chars().next();
            match (digits.parse().ok(), after) {
                (Some(n), Some(' ')) => Some(n),
                _ => None,
            }
        })
        .collect()
}

/// Targets of the inline Markdown links `[text](target)` in `text` (titles dropped).
fn markdown_links(text: &str) -> Vec<String> {
    let mut links = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("](") {
        rest = &rest[at + 2..];
        let end = rest.find(')').unwrap_or(rest.len());
        let target = rest[..end].split_whitespace().next().unwrap_or("");
        links.push(target.to_string());
        rest = &rest[end..];
    }
    links
}

/// Whether a link target is a relative file link (not a URL, an anchor or an absolute path).
fn is_relative(target: &str) -> bool {
    !(target.is_empty()
        || target.contains("://")
        || target.starts_with("mailto:")
        || target.starts_with('#')
        || target.starts_with('/'))
}

/// Resolves a relative link `target` written in a file inside directory `base` to a
/// repository-relative path; drops any `#fragment`; `None` if it climbs above the root.
fn resolve(base: &str, target: &str) -> Option<String> {
    let target = target.split('#').next().unwrap_or("");
    let mut parts: Vec<&str> = base.split('/').filter(|p| !p.is_empty()).collect();
    for part in target.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            name => parts.push(name),
        }
    }
    Some(parts.join("/"))
}

/// Repository-relative paths of the relative links in a file inside `base`, with unresolvable
/// targets (climbing above the root) mapped to `None`.
fn resolved_links(base: &str, text: &str) -> Vec<(String, Option<String>)> {
    markdown_links(text)
        .into_iter()
        .filter(|t| is_relative(t))
        .map(|t| {
            let path = resolve(base, &t);
            (t, path)
        })
        .collect()
}

/// Whether `text` names the check `eqens check --only S<n>` (not S<n> followed by a digit).
fn names_check(text: &str, n: u32) -> bool {
    let needle = format!("eqens check --only S{n}");
    text.match_indices(&needle).any(|(at, _)| {
        !text[at + needle.len()..]
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_digit())
    })
}

/// Whether `name` is a statement test file name `sNN_*.rs`; returns NN.
fn statement_test_number(name: &str) -> Option<u32> {
    let rest = name.strip_prefix('s')?;
    let digits = rest.get(..2)?;
    if !digits.chars().all(|c| c.is_ascii_digit()) || !rest[2..].starts_with('_') {
        return None;
    }
    if !name.ends_with(".rs") {
        return None;
    }
    digits.parse().ok()
}

/// Whether repository path `path` is the statement-n test file `tests/sNN_*.rs`.
fn is_test_of(path: &str, n: u32) -> bool {
    path.strip_prefix("tests/")
        .and_then(statement_test_number)
        .is_some_and(|m| m == n)
}

/// Whether repository path `path` is the statement-n proof file `proofs/SNN-*.md`.
fn is_proof_of(path: &str, n: u32) -> bool {
    path.strip_prefix("proofs/")
        .and_then(|name| name.strip_prefix(&format!("S{n:02}-")))
        .is_some_and(|rest| rest.ends_with(".md") && !rest.contains('/'))
}

/// One row of the index table in proofs/README.md: its first cell and the whole line.
struct Row {
    label: String,
    line: String,
}

/// Table rows of proofs/README.md (header and separator rows included; they never match a
/// statement label).
fn index_rows(readme: &str) -> Vec<Row> {
    readme
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with('|'))
        .map(|l| Row {
            label: l.split('|').nth(1).unwrap_or("").trim().to_string(),
            line: l.to_string(),
        })
        .collect()
}

/// The statements listed in THEORY.md, or a problem if none can be read.
fn statements(tree: &dyn Tree) -> Result<Vec<u32>, String> {
    let theory = tree
        .read("docs/THEORY.md")
        .ok_or("docs/THEORY.md: missing")?;
    let found = theory_statements(&theory);
    if found.is_empty() {
        return Err("docs/THEORY.md: no line starts with \"- **S<n> \"".to_string());
    }
    Ok(found)
}

/// Every statement has exactly one proof file `proofs/SNN-*.md` with all sections, which
/// links an existing `tests/sNN_*.rs` and names `eqens check --only S<n>`.
fn check_statement_proofs(tree: &dyn Tree) -> Vec<String> {
    let ns = match statements(tree) {
        Ok(ns) => ns,
        Err(problem) => return vec![problem],
    };
    let mut problems = Vec::new();
    let proof_names = tree.list("proofs");
    for n in ns {
        let matching: Vec<&String> = proof_names
            .iter()
            .filter(|name| is_proof_of(&format!("proofs/{name}"), n))
            .collect();
        let name = match matching.as_slice() {
            [one] => *one,
            [] => {
                problems.push(format!("S{n}: no proof file proofs/S{n:02}-*.md"));
                continue;
            }
            many => {
                problems.push(format!("S{n}: several proof files {many:?}"));
                continue;
            }
        };
        let path = format!("proofs/{name}");
        let Some(text) = tree.read(&path) else {
            problems.push(format!("{path}: unreadable"));
            continue;
        };
        for section in SECTIONS {
            if !text.contains(section) {
                problems.push(format!("{path}: missing section {section}"));
            }
        }
        let links_test = resolved_links("proofs", &text)
            .into_iter()
            .filter_map(|(_, p)| p)
            .any(|p| is_test_of(&p, n) && tree.exists(&p));
        if !links_test {
            problems.push(format!(
                "{path}: links no existing test file tests/s{n:02}_*.rs"
            ));
        }
        if !names_check(&text, n) {
            problems.push(format!("{path}: does not name `eqens check --only S{n}`"));
        }
    }
    problems
}

/// Every `tests/sNN_*.rs` is linked by the index row of S<NN>, and that row links an
/// existing proof file `proofs/SNN-*.md`.
fn check_test_files_indexed(tree: &dyn Tree) -> Vec<String> {
    let Some(readme) = tree.read("proofs/README.md") else {
        return vec!["proofs/README.md: missing".to_string()];
    };
    let rows = index_rows(&readme);
    let mut problems = Vec::new();
    for name in tree.list("tests") {
        let Some(n) = statement_test_number(&name) else {
            continue;
        };
        let test = format!("tests/{name}");
        let row = rows.iter().find(|r| r.label == format!("S{n}"));
        let Some(row) = row else {
            problems.push(format!("{test}: no index row S{n} in proofs/README.md"));
            continue;
        };
        let links: Vec<String> = resolved_links("proofs", &row.line)
            .into_iter()
            .filter_map(|(_, p)| p)
            .collect();
        if !links.contains(&test) {
            problems.push(format!("{test}: the index row S{n} does not link it"));
        }
        if !links.iter().any(|p| is_proof_of(p, n) && tree.exists(p)) {
            problems.push(format!(
                "{test}: the index row S{n} links no existing proofs/S{n:02}-*.md"
            ));
        }
    }
    problems
}

/// Every relative link in `proofs/*.md` resolves to an existing file or directory.
fn check_links(tree: &dyn Tree) -> Vec<String> {
    let mut problems = Vec::new();
    for name in tree.list("proofs") {
        if !name.ends_with(".md") {
            continue;
        }
        let path = format!("proofs/{name}");
        let Some(text) = tree.read(&path) else {
            problems.push(format!("{path}: unreadable"));
            continue;
        };
        for (target, resolved) in resolved_links("proofs", &text) {
            match resolved {
                Some(p) if tree.exists(&p) => {}
                _ => problems.push(format!("{path}: dangling link ({target})")),
            }
        }
    }
    problems
}

/// Every statement of THEORY.md has an index row in proofs/README.md that names its check,
/// and the main theorem has a row linking `main-theorem.md`.
fn check_theory_indexed(tree: &dyn Tree) -> Vec<String> {
    let ns = match statements(tree) {
        Ok(ns) => ns,
        Err(problem) => return vec![problem],
    };
    let Some(readme) = tree.read("proofs/README.md") else {
        return vec!["proofs/README.md: missing".to_string()];
    };
    let rows = index_rows(&readme);
    let mut problems = Vec::new();
    for n in ns {
        match rows.iter().find(|r| r.label == format!("S{n}")) {
            None => problems.push(format!("S{n}: no index row in proofs/README.md")),
            Some(row) if !names_check(&row.line, n) => problems.push(format!(
                "S{n}: index row does not name `eqens check --only S{n}`"
            )),
            Some(_) => {}
        }
    }
    let main_linked = rows.iter().any(|r| {
        r.label == "main"
            && resolved_links("proofs", &r.line)
                .iter()
                .any(|(_, p)| p.as_deref() == Some("proofs/main-theorem.md"))
    });
    if !main_linked {
        problems.push("main: no index row linking main-theorem.md".to_string());
    }
    problems
}

/// All four checks.
fn check_all(tree: &dyn Tree) -> Vec<String> {
    let mut problems = check_statement_proofs(tree);
    problems.extend(check_test_files_indexed(tree));
    problems.extend(check_links(tree));
    problems.extend(check_theory_indexed(tree));
    problems
}

/// The inline code spans of `text` (the odd segments between backticks).
fn code_spans(text: &str) -> Vec<&str> {
    text.split('`').skip(1).step_by(2).collect()
}

/// The controls a text names: (statement, dropped label) from spans `control: S / label`.
fn named_controls(text: &str) -> Vec<(String, String)> {
    code_spans(text)
        .into_iter()
        .filter_map(|span| span.strip_prefix("control:"))
        .map(|rest| match rest.split_once(" / ") {
            Some((st, label)) => (st.trim().to_string(), label.trim().to_string()),
            None => (rest.trim().to_string(), String::new()),
        })
        .collect()
}

/// The tests a text names: (file path, function name) from spans `tests/FILE.rs::NAME`.
fn named_tests(text: &str) -> Vec<(String, String)> {
    code_spans(text)
        .into_iter()
        .filter(|span| span.starts_with("tests/"))
        .filter_map(|span| span.split_once(".rs::"))
        .map(|(file, name)| (format!("{file}.rs"), name.to_string()))
        .collect()
}

/// Whether `source` defines `fn name` marked `#[test]` (among the attribute and comment lines
/// right above it).
fn defines_test(source: &str, name: &str) -> bool {
    let lines: Vec<&str> = source.lines().collect();
    let head = format!("fn {name}(");
    lines.iter().enumerate().any(|(i, line)| {
        let l = line.trim_start();
        (l.starts_with(&head) || l.strip_prefix("pub ").is_some_and(|r| r.starts_with(&head)))
            && lines[..i]
                .iter()
                .rev()
                .map(|l| l.trim_start())
                .take_while(|l| l.starts_with("#[") || l.starts_with("//"))
                .any(|l| l == "#[test]")
    })
}

/// The proof file that must name the controls of `statement` ("S5" → proofs/S05-*.md,
/// "main" → proofs/main-theorem.md), if it exists.
fn proof_of(tree: &dyn Tree, statement: &str) -> Option<String> {
    if statement == "main" {
        return Some("proofs/main-theorem.md".to_string()).filter(|p| tree.exists(p));
    }
    let n: u32 = statement.strip_prefix('S')?.parse().ok()?;
    tree.list("proofs")
        .into_iter()
        .map(|name| format!("proofs/{name}"))
        .find(|p| is_proof_of(p, n))
}

/// Every test named in `proofs/*.md` exists as a `#[test]` fn in the named file; every control
/// named is one of `known` (statement → the `dropped` labels its controls produce); and every
/// known control is named in its statement's proof.
fn check_named_tests_and_controls(
    tree: &dyn Tree,
    known: &BTreeMap<String, BTreeSet<String>>,
) -> Vec<String> {
    let mut problems = Vec::new();
    for name in tree.list("proofs") {
        if !name.ends_with(".md") {
            continue;
        }
        let path = format!("proofs/{name}");
        let Some(text) = tree.read(&path) else {
            continue;
        };
        for (file, test) in named_tests(&text) {
            match tree.read(&file) {
                None => problems.push(format!("{path}: names test {file}::{test}, no such file")),
                Some(src) if !defines_test(&src, &test) => problems.push(format!(
                    "{path}: names test {file}::{test}, which is not a #[test] fn there"
                )),
                Some(_) => {}
            }
        }
        for (statement, label) in named_controls(&text) {
            if !known.get(&statement).is_some_and(|l| l.contains(&label)) {
                problems.push(format!(
                    "{path}: names control `{statement} / {label}`, which the registry does not \
                     produce"
                ));
            }
        }
    }
    for (statement, labels) in known {
        let Some(path) = proof_of(tree, statement) else {
            problems.push(format!(
                "{statement}: controls in the registry but no proof file"
            ));
            continue;
        };
        let named: BTreeSet<(String, String)> = tree
            .read(&path)
            .map(|t| named_controls(&t).into_iter().collect())
            .unwrap_or_default();
        for label in labels {
            if !named.contains(&(statement.clone(), label.clone())) {
                problems.push(format!(
                    "{path}: does not name the control `{statement} / {label}` that the registry \
                     produces"
                ));
            }
        }
    }
    problems
}

/// Every (statement, name, hypotheses) of `expected` has an index row in proofs/README.md
/// whose Name and Hypotheses cells are exactly those strings.
fn check_index_matches(tree: &dyn Tree, expected: &[(&str, &str, &str)]) -> Vec<String> {
    let Some(readme) = tree.read("proofs/README.md") else {
        return vec!["proofs/README.md: missing".to_string()];
    };
    let rows = index_rows(&readme);
    let mut problems = Vec::new();
    for (statement, name, hypotheses) in expected {
        let Some(row) = rows.iter().find(|r| r.label == *statement) else {
            problems.push(format!("{statement}: no index row in proofs/README.md"));
            continue;
        };
        let cells: Vec<&str> = row.line.split('|').map(str::trim).collect();
        if cells.get(2) != Some(name) || cells.get(3) != Some(hypotheses) {
            problems.push(format!(
                "{statement}: index row says ({:?}, {:?}), eqens check prints ({name:?}, \
                 {hypotheses:?})",
                cells.get(2).unwrap_or(&""),
                cells.get(3).unwrap_or(&"")
            ));
        }
    }
    problems
}

/// The (statement, dropped) pairs the registry's controls produce, run on the seeds
/// `eqens check` uses for master seed 0.
fn registry_controls() -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for e in registry() {
        let n = e
            .statement
            .strip_prefix('S')
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        let controls = (e.controls)(case_seed(0, n, 0))
            .unwrap_or_else(|err| panic!("{}: controls failed: {err}", e.statement));
        let labels = out.entry(e.statement.to_string()).or_default();
        for c in controls {
            assert_eq!(
                c.statement, e.statement,
                "a control of {} is labelled {}",
                e.statement, c.statement
            );
            labels.insert(c.dropped.to_string());
        }
    }
    out
}

fn repo() -> Disk {
    Disk {
        root: PathBuf::from(env!("CARGO_MANIFEST_DIR")),
    }
}

fn assert_clean(problems: Vec<String>) {
    assert!(
        problems.is_empty(),
        "{} problem(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn theory_lists_exactly_s1_to_s16() {
    let found = statements(&repo()).unwrap_or_else(|p| panic!("{p}"));
    assert_eq!(found, (1..=16).collect::<Vec<u32>>());
}

#[test]
fn every_statement_has_a_proof_linking_its_test_and_check() {
    assert_clean(check_statement_proofs(&repo()));
}

#[test]
fn every_statement_test_file_has_an_index_row() {
    assert_clean(check_test_files_indexed(&repo()));
}

#[test]
fn every_relative_link_in_proofs_resolves() {
    assert_clean(check_links(&repo()));
}

#[test]
fn every_theory_statement_is_in_the_index() {
    assert_clean(check_theory_indexed(&repo()));
}

#[test]
fn the_index_names_and_hypotheses_are_those_eqens_check_prints() {
    let expected: Vec<(&str, &str, &str)> = STATEMENTS
        .iter()
        .chain(std::iter::once(&MAIN))
        .copied()
        .collect();
    assert_clean(check_index_matches(&repo(), &expected));
}

#[test]
fn control_index_hypotheses_differing_from_the_registry_are_reported() {
    let problems = check_index_matches(&fixture(), &[("S1", "x", "H1")]);
    assert_reported(&problems, &["S1", "index row says"]);
}

#[test]
fn named_tests_and_controls_exist_and_every_control_is_named() {
    let known = registry_controls();
    assert!(known.len() >= 16, "{known:?}");
    assert_clean(check_named_tests_and_controls(&repo(), &known));
}

// ---------------------------------------------------------------------------------------
// Negative controls: a consistent in-memory tree passes, and each injected defect is
// reported by the same functions that check the repository.

fn proof_text(n: u32, test: &str) -> String {
    format!(
        "# S{n}\n\n**Hypotheses.** H1.\n\n**Claim.** c.\n\n**Proof.** p.\n\n\
         **Verified by.** [{test}](../tests/{test}); `eqens check --only S{n}`.\n\n\
         **Negative controls** (in [{test}](../tests/{test})): `control: S{n} / H1`, \
         run by `tests/{test}::t`.\n"
    )
}

/// The controls the fixture's registry produces.
fn fixture_controls() -> BTreeMap<String, BTreeSet<String>> {
    ["S1", "S2"]
        .into_iter()
        .map(|s| (s.to_string(), BTreeSet::from(["H1".to_string()])))
        .collect()
}

/// Two statements, their proofs, tests, index rows and the main theorem — all consistent.
fn fixture() -> Memory {
    let readme = "| Statement | Proof | Test | Check |\n|---|---|---|---|\n\
        | S1 | [S01-a.md](S01-a.md) | [s01_a.rs](../tests/s01_a.rs) | `eqens check --only S1` |\n\
        | S2 | [S02-b.md](S02-b.md) | [s02_b.rs](../tests/s02_b.rs) | `eqens check --only S2` |\n\
        | main | [main-theorem.md](main-theorem.md) | [s01](../tests/s01_a.rs) | `eqens check --only S1` |\n\
        \nSee [THEORY](../docs/THEORY.md).\n";
    let files = [
        (
            "docs/THEORY.md",
            "# T\n\n- **S1 first.** a\n- **S2 second.** b\n".to_string(),
        ),
        ("proofs/README.md", readme.to_string()),
        ("proofs/S01-a.md", proof_text(1, "s01_a.rs")),
        ("proofs/S02-b.md", proof_text(2, "s02_b.rs")),
        (
            "proofs/main-theorem.md",
            "# Main\n[S1](S01-a.md)\n".to_string(),
        ),
        ("tests/s01_a.rs", "#[test]\nfn t() {}\n".to_string()),
        (
            "tests/s02_b.rs",
            "/// doc\n#[test]\n#[ignore]\nfn t() {}\n".to_string(),
        ),
        ("tests/proofs_index.rs", String::new()),
    ];
    Memory {
        files: files.into_iter().map(|(p, t)| (p.to_string(), t)).collect(),
    }
}

/// Asserts that some reported problem contains every one of `needles`.
fn assert_reported(problems: &[String], needles: &[&str]) {
    assert!(
        problems
            .iter()
            .any(|p| needles.iter().all(|n| p.contains(n))),
        "expected a problem containing {needles:?}, got {problems:?}"
    );
}

#[test]
fn control_consistent_fixture_passes() {
    // Without this, the failures below could come from a broken fixture, not the defect.
    assert_clean(check_all(&fixture()));
    assert_clean(check_named_tests_and_controls(
        &fixture(),
        &fixture_controls(),
    ));
}

#[test]
fn control_fake_control_or_test_name_is_reported() {
    let mut tree = fixture();
    tree.files
        .get_mut("proofs/S01-a.md")
        .expect("fixture has S01")
        .push_str(
            "Also `control: S1 / H9`, `control: S7 / H1`, `tests/s01_a.rs::gone`, \
             `tests/s01_a.rs::helper` and `tests/nothing.rs::t`.\n",
        );
    tree.files
        .get_mut("tests/s01_a.rs")
        .expect("fixture has s01_a.rs")
        .push_str("fn helper() {}\n");
    let problems = check_named_tests_and_controls(&tree, &fixture_controls());
    assert_reported(
        &problems,
        &["proofs/S01-a.md", "`S1 / H9`", "does not produce"],
    );
    assert_reported(
        &problems,
        &["proofs/S01-a.md", "`S7 / H1`", "does not produce"],
    );
    assert_reported(&problems, &["tests/s01_a.rs::gone", "not a #[test] fn"]);
    assert_reported(&problems, &["tests/s01_a.rs::helper", "not a #[test] fn"]);
    assert_reported(&problems, &["tests/nothing.rs::t", "no such file"]);
    assert_eq!(problems.len(), 5, "{problems:?}");
}

#[test]
fn control_unnamed_registry_control_is_reported() {
    let mut known = fixture_controls();
    known
        .get_mut("S2")
        .expect("fixture has S2")
        .insert("H4".to_string());
    known.insert("main".to_string(), BTreeSet::from(["H6".to_string()]));
    let mut tree = fixture();
    tree.files.remove("proofs/main-theorem.md");
    let problems = check_named_tests_and_controls(&tree, &known);
    assert_reported(
        &problems,
        &["proofs/S02-b.md", "`S2 / H4`", "does not name"],
    );
    assert_reported(&problems, &["main", "no proof file"]);
    assert_eq!(problems.len(), 2, "{problems:?}");
}

#[test]
fn control_missing_proof_is_reported() {
    let mut tree = fixture();
    tree.files.remove("proofs/S02-b.md");
    let problems = check_all(&tree);
    assert_reported(&problems, &["S2", "no proof file"]);
    assert_reported(
        &problems,
        &["tests/s02_b.rs", "links no existing proofs/S02-*.md"],
    );
    assert_reported(&problems, &["proofs/README.md", "dangling link (S02-b.md)"]);
}

#[test]
fn control_dangling_link_is_reported() {
    let mut tree = fixture();
    tree.files
        .get_mut("proofs/S01-a.md")
        .expect("fixture has S01")
        .push_str("See [gone](../tests/s09_gone.rs) and [up](../../outside.md).\n");
    let problems = check_links(&tree);
    assert_reported(
        &problems,
        &["proofs/S01-a.md", "dangling link (../tests/s09_gone.rs)"],
    );
    assert_reported(
        &problems,
        &["proofs/S01-a.md", "dangling link (../../outside.md)"],
    );
    assert_eq!(problems.len(), 2, "{problems:?}");
}

#[test]
fn control_proof_without_test_link_or_check_is_reported() {
    let mut tree = fixture();
    // "--only S20" must not count as naming S2, and a link to another statement's test
    // must not count as linking S2's test.
    tree.files.insert(
        "proofs/S02-b.md".to_string(),
        proof_text(2, "s01_a.rs").replace("--only S2", "--only S20"),
    );
    let problems = check_statement_proofs(&tree);
    assert_reported(
        &problems,
        &[
            "proofs/S02-b.md",
            "links no existing test file tests/s02_*.rs",
        ],
    );
    assert_reported(
        &problems,
        &["proofs/S02-b.md", "does not name `eqens check --only S2`"],
    );
}

#[test]
fn control_proof_missing_a_section_is_reported() {
    let mut tree = fixture();
    let text = proof_text(1, "s01_a.rs").replace("**Negative controls**", "Controls");
    tree.files.insert("proofs/S01-a.md".to_string(), text);
    assert_reported(
        &check_statement_proofs(&tree),
        &["proofs/S01-a.md", "missing section **Negative controls**"],
    );
}

#[test]
fn control_unindexed_test_file_is_reported() {
    let mut tree = fixture();
    tree.files
        .insert("tests/s03_c.rs".to_string(), String::new());
    assert_reported(
        &check_test_files_indexed(&tree),
        &["tests/s03_c.rs", "no index row S3"],
    );
}

#[test]
fn control_theory_statement_missing_from_index_is_reported() {
    let mut tree = fixture();
    tree.files
        .get_mut("docs/THEORY.md")
        .expect("fixture has THEORY")
        .push_str("- **S3 third.** c\n");
    let problems = check_all(&tree);
    assert_reported(&problems, &["S3", "no index row in proofs/README.md"]);
    assert_reported(&problems, &["S3", "no proof file"]);
}

#[test]
fn control_unparseable_theory_is_reported() {
    let mut tree = fixture();
    tree.files.insert(
        "docs/THEORY.md".to_string(),
        "- **S1** no space rule\n".to_string(),
    );
    assert_reported(
        &check_all(&tree),
        &["docs/THEORY.md", "no line starts with"],
    );
}

#[test]
fn link_parsing_and_resolution() {
    assert_eq!(
        markdown_links("a [x](../t/a.rs) b [y](S1.md \"title\") [z](https://e.org)"),
        vec!["../t/a.rs", "S1.md", "https://e.org"]
    );
    assert!(!is_relative("https://e.org") && !is_relative("#anchor"));
    assert_eq!(
        resolve("proofs", "../tests/s01_a.rs#L3").as_deref(),
        Some("tests/s01_a.rs")
    );
    assert_eq!(
        resolve("proofs", "./S01-a.md").as_deref(),
        Some("proofs/S01-a.md")
    );
    assert_eq!(resolve("proofs", "../../x.md"), None);
    assert_eq!(statement_test_number("s05_orbit_ensembles.rs"), Some(5));
    assert_eq!(statement_test_number("s5_orbit.rs"), None);
    assert_eq!(statement_test_number("proofs_index.rs"), None);
    assert!(names_check("`eqens check --only S1`", 1));
    assert!(!names_check("`eqens check --only S13`", 1));
    assert_eq!(
        named_controls("a `control: S5 / coupling (same h_k)` b `x` `control: main / H6`"),
        vec![
            ("S5".to_string(), "coupling (same h_k)".to_string()),
            ("main".to_string(), "H6".to_string())
        ]
    );
    assert_eq!(
        named_tests("`tests/main_theorem.rs::exact` and `src/x.rs::f`"),
        vec![("tests/main_theorem.rs".to_string(), "exact".to_string())]
    );
}
