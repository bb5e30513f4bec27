//! The command-line tool: `--help` of every subcommand (insta snapshots), exit codes and
//! clear errors on bad flags.

use std::process::Command;

fn eqens(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_eqens"))
        .args(args)
        .output()
        .expect("the eqens binary runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn help_of_every_subcommand() {
    for sub in ["", "groups", "analyze", "check", "reproduce"] {
        let args: Vec<&str> = if sub.is_empty() {
            vec!["--help"]
        } else {
            vec![sub, "--help"]
        };
        let (code, stdout, _) = eqens(&args);
        assert_eq!(code, 0, "eqens {sub} --help");
        let name = if sub.is_empty() { "eqens" } else { sub };
        insta::assert_snapshot!(format!("help_{name}"), stdout);
    }
}

#[test]
fn groups_lists_orders() {
    let (code, stdout, _) = eqens(&["groups"]);
    assert_eq!(code, 0);
    assert!(stdout
        .lines()
        .any(|l| l.starts_with("d4 ") && l.contains(" 8 ")));
}

#[test]
fn analyze_reports_plus_corner_as_incompatible_and_plus_as_invariant() {
    let (code, stdout, _) = eqens(&["analyze", "--support", "plus-corner"]);
    assert_eq!(code, 0);
    assert!(stdout.contains("drop taps (0,0)"), "{stdout}");
    let (code, stdout, _) = eqens(&["analyze", "--support", "plus", "--json"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&stdout).expect("valid JSON");
    assert!(v.is_object());
}

#[test]
fn bad_flags_are_clear_errors_not_panics() {
    for args in [
        vec!["analyze", "--group", "c7"],
        vec!["analyze", "--support", "0101"],
        vec!["check", "--only", "S99", "--counterexamples", "0"],
        vec!["check", "--cases", "0", "--counterexamples", "0"],
        vec!["reproduce", "--shard", "3/2"],
        vec!["frobnicate"],
    ] {
        let (code, _, stderr) = eqens(&args);
        assert_ne!(code, 0, "{args:?} should fail");
        assert!(!stderr.contains("panicked"), "{args:?} panicked: {stderr}");
        assert!(!stderr.trim().is_empty(), "{args:?} gave no message");
    }
}

#[test]
fn check_exits_zero_when_every_statement_holds() {
    let (code, stdout, _) = eqens(&[
        "check",
        "--only",
        "S2,S13",
        "--cases",
        "2",
        "--counterexamples",
        "0",
    ]);
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.contains("S13"));
}
