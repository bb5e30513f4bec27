//! The output side of `eqens reproduce`: the results data model (JSON, CSV), the report folder
//! and its verdicts, the SVG plots — on small synthetic results with known numbers.

use eqens::reproduce::results::{CSV_HEADER, SET_OOD, SET_TEST};
use eqens::reproduce::{
    ordering_checks, summary_table, write_report, ArmResult, Comparison, EpochEval, KlSlope,
    MeanStd, Results, RunInfo, SetEval, SingleStats, SizeStat, Spread, WelchTest,
};
use eqens::Error;
use std::path::PathBuf;

const SIZES: [usize; 3] = [5, 10, 25];
const EPOCHS: usize = 2;
const ARMS: [(&str, &str, &str, f64); 3] = [
    // (name, support, init, KL floor reached at infinite M)
    ("sym", "plus+centre", "iid", 0.0),
    ("as-syminit", "plus-centre+corner", "symmetric", 0.002),
    ("as-asyminit", "plus-centre+corner", "iid", 0.02),
];

fn ms(mean: f64) -> MeanStd {
    MeanStd {
        mean,
        std: 0.1 * mean,
    }
}

fn spread(mean: f64) -> Spread {
    Spread {
        mean,
        std: 0.05,
        min: mean - 0.1,
        max: mean + 0.1,
    }
}

/// KL of arm with floor `floor` on `set` at epoch `e` and size `m`: c/M + floor, decreasing in
/// M, larger on ood; OSP = 4 − 10·KL. Ordered sym < as-syminit < as-asyminit everywhere.
fn kl_value(floor: f64, set: &str, e: usize, m: usize) -> f64 {
    let c = if set == SET_TEST { 0.05 } else { 0.4 };
    (c / m as f64 + floor) * (1.0 + 0.25 * e as f64)
}

fn set_eval(floor: f64, set: &str, e: usize, single_acc: f64) -> SetEval {
    let by_size = SIZES
        .iter()
        .map(|&m| {
            let kl = kl_value(floor, set, e, m);
            SizeStat {
                m,
                acc: ms(if set == SET_TEST {
                    0.3 + 0.3 * e as f64
                } else {
                    0.1
                }),
                osp: ms(4.0 - 10.0 * kl),
                kl: ms(kl),
            }
        })
        .collect();
    let kl_last = kl_value(floor, set, e, *SIZES.last().unwrap());
    SetEval {
        set: set.to_string(),
        by_size,
        single_members: SingleStats {
            acc: spread(single_acc),
            osp: spread(3.0),
            kl: spread(0.5),
        },
        kl_at_largest_m: (0..5)
            .map(|k| kl_last * (1.0 + 0.01 * (k as f64 - 2.0)))
            .collect(),
        bias: None,
    }
}

/// Three arms, epochs 0..=2, sizes [5, 10, 25]; single members reach `final_single_acc`.
fn fixture_with(final_single_acc: f64) -> Results {
    let arms = ARMS
        .iter()
        .map(|&(name, support, init, floor)| ArmResult {
            name: name.into(),
            support: support.into(),
            init: init.into(),
            diverged_members: if name == "as-asyminit" {
                vec![(3, "loss is NaN at step 17".into())]
            } else {
                vec![]
            },
            epochs: (0..=EPOCHS)
                .map(|e| {
                    let single = 0.1 + (final_single_acc - 0.1) * e as f64 / EPOCHS as f64;
                    EpochEval {
                        epoch: e,
                        mean_train_loss: (e > 0).then(|| 2.3 / e as f64),
                        sets: vec![
                            set_eval(floor, SET_TEST, e, single),
                            set_eval(floor, SET_OOD, e, 0.1),
                        ],
                    }
                })
                .collect(),
            architecture: None,
        })
        .collect();
    Results {
        run: RunInfo {
            version: "0.1.0".into(),
            seed: 7,
            members: 25,
            epochs: EPOCHS,
            lr: 0.01,
            batch: 32,
            threads: 2,
            elapsed_secs: 3723.5,
            sizes: SIZES.to_vec(),
            resamples: 5,
            train_len: 1000,
            test_len: 200,
            ood_len: 100,
            scalar: "f32".into(),
            data: String::new(),
            group: String::new(),
            ood: String::new(),
            steps_per_member: 0,
            eval_epochs: Vec::new(),
            train_mean: 8.0,
            train_std: 4.0,
            shards: 0,
            train_secs: 3723.5,
            simd: "avx2".into(),
        },
        divergence: Default::default(),
        arms,
        comparison: Comparison {
            kl_slopes: vec![
                KlSlope {
                    arm: "sym".into(),
                    set: SET_TEST.into(),
                    m_from: 5,
                    m_to: 25,
                    slope: -0.98,
                },
                KlSlope {
                    arm: "as-asyminit".into(),
                    set: SET_TEST.into(),
                    m_from: 5,
                    m_to: 25,
                    slope: -0.12,
                },
            ],
            sym_lower_kl: vec![WelchTest {
                arm: "as-asyminit".into(),
                set: SET_OOD.into(),
                m: 25,
                t: -12.5,
                dof: 7.9,
                p: 1.2e-6,
            }],
        },
    }
}

fn fixture() -> Results {
    fixture_with(0.8)
}

/// The fixture with sym and as-asyminit swapped on `ood` at the last epoch: the paper's
/// ordering then fails on ood (both KL and OSP) and still holds on test.
fn fixture_broken_on_ood() -> Results {
    let mut r = fixture();
    let ood_by_size = |r: &Results, arm: usize| {
        r.arms[arm].epochs[EPOCHS]
            .set(SET_OOD)
            .unwrap()
            .by_size
            .clone()
    };
    let (sym, asym) = (ood_by_size(&r, 0), ood_by_size(&r, 2));
    for (arm, by_size) in [(0, asym), (2, sym)] {
        let set = r.arms[arm].epochs[EPOCHS]
            .sets
            .iter_mut()
            .find(|s| s.set == SET_OOD)
            .unwrap();
        set.by_size = by_size;
    }
    r
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("eqens-report-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn read(dir: &std::path::Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"))
}

#[test]
fn report_folder_has_every_file_non_empty() {
    let dir = temp_dir("files");
    let written = write_report(&fixture(), &dir).unwrap();
    let names: Vec<String> = written
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for f in [
        "report.md",
        "results.json",
        "results.csv",
        "osp_vs_m.svg",
        "kl_vs_m.svg",
        "metrics_vs_epoch.svg",
        "accuracy_vs_epoch.svg",
    ] {
        assert!(names.iter().any(|n| n == f), "{f} not in {names:?}");
        let len = std::fs::metadata(dir.join(f)).unwrap().len();
        assert!(len > 0, "{f} is empty");
    }
    assert_eq!(
        names.len(),
        8,
        "report.md, results.json, results.csv and 5 SVGs"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn svgs_are_documents_with_labels_legends_and_curves() {
    let dir = temp_dir("svg");
    write_report(&fixture(), &dir).unwrap();
    let expect: [(&str, &[&str]); 4] = [
        (
            "osp_vs_m.svg",
            &[
                "ensemble size M",
                "OSP (bootstrap mean",
                "test (digits",
                "ood (smoothed",
            ],
        ),
        (
            "kl_vs_m.svg",
            &["ensemble size M", "symmetric KL (bootstrap mean"],
        ),
        ("metrics_vs_epoch.svg", &["epoch (0 = init)", "M = 25"]),
        (
            "accuracy_vs_epoch.svg",
            &["epoch (0 = init)", "test accuracy", "single members"],
        ),
    ];
    for (file, labels) in expect {
        let svg = read(&dir, file);
        assert!(
            svg.trim_start().starts_with("<svg"),
            "{file} does not start with <svg"
        );
        assert!(
            svg.trim_end().ends_with("</svg>"),
            "{file} does not end with </svg>"
        );
        assert!(svg.contains("<text"), "{file} has no text elements");
        for label in labels
            .iter()
            .copied()
            .chain(["sym", "as-syminit", "as-asyminit"])
        {
            assert!(svg.contains(label), "{file} lacks `{label}`");
        }
        // Three arms: at least one polyline (curve) per arm.
        assert!(
            svg.matches("<polyline").count() >= 3,
            "{file} has no curves"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn plots_survive_zero_and_nan_values_on_log_axes() {
    let mut r = fixture();
    let set = &mut r.arms[0].epochs[EPOCHS].sets[0];
    set.by_size[0].kl = MeanStd {
        mean: 0.0,
        std: 0.0,
    };
    set.by_size[1].kl = MeanStd {
        mean: f64::NAN,
        std: f64::NAN,
    };
    set.by_size[2].kl = MeanStd {
        mean: 1e-4,
        std: 5e-4,
    }; // error bar reaches below 0
    for plot in eqens::reproduce::plots::Plot::ALL {
        let svg = eqens::reproduce::plots::render_plot(&r, plot).unwrap();
        assert!(svg.contains("</svg>"));
    }
}

#[test]
fn json_round_trips_to_an_equal_struct() {
    let dir = temp_dir("json");
    let r = fixture();
    write_report(&r, &dir).unwrap();
    let back = Results::from_json(&read(&dir, "results.json")).unwrap();
    assert_eq!(back, r);
    assert_eq!(Results::load(&dir.join("results.json")).unwrap(), r);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn non_finite_numbers_round_trip_as_nan() {
    let mut r = fixture();
    r.arms[1].epochs[1].sets[1].by_size[0].kl.mean = f64::NAN;
    r.arms[1].epochs[1].sets[1].kl_at_largest_m[2] = f64::INFINITY;
    let back = Results::from_json(&r.to_json()).unwrap();
    assert!(back.arms[1].epochs[1].sets[1].by_size[0].kl.mean.is_nan());
    // JSON has no infinity: it is written as null and read back as NaN (documented).
    assert!(back.arms[1].epochs[1].sets[1].kl_at_largest_m[2].is_nan());
    assert_eq!(back.arms[0], r.arms[0]);
}

#[test]
fn csv_has_header_and_one_row_per_arm_epoch_set_size() {
    let dir = temp_dir("csv");
    let r = fixture();
    write_report(&r, &dir).unwrap();
    let csv = read(&dir, "results.csv");
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], CSV_HEADER);
    // 3 arms × 3 epochs × 2 sets × (3 sizes + 1 single-member row).
    assert_eq!(lines.len() - 1, 3 * (EPOCHS + 1) * 2 * (SIZES.len() + 1));
    let width = CSV_HEADER.split(',').count();
    for l in &lines {
        assert_eq!(l.split(',').count(), width, "row `{l}`");
    }
    let col = |name: &str| CSV_HEADER.split(',').position(|c| c == name).unwrap();
    // The row for as-asyminit, epoch 2, ood, M = 10 carries the fixture's exact numbers.
    let row: Vec<&str> = lines
        .iter()
        .map(|l| l.split(',').collect::<Vec<_>>())
        .find(|f| {
            f[col("arm")] == "as-asyminit"
                && f[col("epoch")] == "2"
                && f[col("set")] == "ood"
                && f[col("kind")] == "ensemble"
                && f[col("m")] == "10"
        })
        .expect("row present");
    let kl = kl_value(0.02, SET_OOD, 2, 10);
    assert_eq!(row[col("kl_mean")].parse::<f64>().unwrap(), kl);
    assert_eq!(
        row[col("osp_mean")].parse::<f64>().unwrap(),
        4.0 - 10.0 * kl
    );
    assert_eq!(
        row[col("mean_train_loss")].parse::<f64>().unwrap(),
        2.3 / 2.0
    );
    let singles = lines.iter().filter(|l| l.contains(",single,1,")).count();
    assert_eq!(singles, 3 * (EPOCHS + 1) * 2);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn ordering_is_reported_as_holding_when_it_holds() {
    let r = fixture();
    let checks = ordering_checks(&r);
    assert_eq!(checks.len(), 4);
    assert!(checks.iter().all(|c| c.holds == Some(true)), "{checks:?}");
    let dir = temp_dir("order-holds");
    write_report(&r, &dir).unwrap();
    let md = read(&dir, "report.md");
    for set in ["test", "ood"] {
        assert!(md.contains(&format!(
            "KL order sym < as-syminit < as-asyminit on `{set}`: **holds**"
        )));
        assert!(md.contains(&format!(
            "OSP order sym > as-syminit > as-asyminit on `{set}`: **holds**"
        )));
    }
    assert!(!md.contains("does not hold"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn ordering_is_reported_as_failing_when_it_fails() {
    let r = fixture_broken_on_ood();
    let by = |set: &str, metric: &str| {
        ordering_checks(&r)
            .into_iter()
            .find(|c| c.set == set && c.metric == metric)
            .unwrap()
            .holds
    };
    assert_eq!(by("test", "KL"), Some(true));
    assert_eq!(by("test", "OSP"), Some(true));
    assert_eq!(by("ood", "KL"), Some(false));
    assert_eq!(by("ood", "OSP"), Some(false));
    let dir = temp_dir("order-fails");
    write_report(&r, &dir).unwrap();
    let md = read(&dir, "report.md");
    assert!(md.contains("KL order sym < as-syminit < as-asyminit on `test`: **holds**"));
    assert!(md.contains("KL order sym < as-syminit < as-asyminit on `ood`: **does not hold**"));
    assert!(md.contains("OSP order sym > as-syminit > as-asyminit on `ood`: **does not hold**"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn ordering_with_a_missing_arm_cannot_be_checked() {
    let mut r = fixture();
    r.arms.remove(1);
    assert!(ordering_checks(&r).iter().all(|c| c.holds.is_none()));
    // Ties are not a strict order.
    let mut r = fixture();
    let sym_ood = r.arms[0].epochs[EPOCHS].sets[1].by_size.clone();
    r.arms[1].epochs[EPOCHS].sets[1].by_size = sym_ood;
    let kl_ood = ordering_checks(&r)
        .into_iter()
        .find(|c| c.set == "ood" && c.metric == "KL")
        .unwrap();
    assert_eq!(kl_ood.holds, Some(false));
}

#[test]
fn report_states_run_info_paper_numbers_stats_and_learning() {
    let md = eqens::reproduce::report::report_markdown(&fixture());
    for needle in [
        "| seed | 7 |",
        "| members per arm | 25 |",
        "| learning rate | 0.01 |",
        "| elapsed | 1 h 2 min 4 s |",
        "## Headline: M = 25, epoch 2",
        "| sym | test | ",
        "| 3.965 |",
        "| 0.26 |",
        "| sym | test | 5..25 | -0.98 | ≈ −1 |",
        "| as-asyminit | ood | 25 | -12.50 | 7.9 | 1.2e-6 | sym lower |",
        "![Symmetric KL divergence vs ensemble size](kl_vs_m.svg)",
        "single members reach 0.800 test accuracy",
        "1 of 25 members diverged and were left out: 3 (loss is NaN at step 17)",
    ] {
        assert!(md.contains(needle), "report lacks `{needle}`:\n{md}");
    }
    assert!(!md.contains("barely learn"));
    // Negative control: a large p-value is not read as significant.
    let mut r = fixture();
    r.comparison.sym_lower_kl[0].p = 0.3;
    let md = eqens::reproduce::report::report_markdown(&r);
    assert!(md.contains("| 0.30 | not significant |"), "{md}");
    assert!(!md.contains("sym lower |"));
    // Negative control: members that do not learn are called out.
    let md = eqens::reproduce::report::report_markdown(&fixture_with(0.2));
    assert!(md.contains("single members reach only 0.200 test accuracy at epoch 2"));
    assert!(md.contains("barely learn"));
    assert!(md.contains("`--lr`") && md.contains("`--epochs`"));
}

#[test]
fn summary_table_snapshot() {
    insta::assert_snapshot!(summary_table(&fixture()));
}

#[test]
fn corrupt_results_json_is_an_error_not_a_panic() {
    let json = fixture().to_json();
    // Truncated file.
    let err = Results::from_json(&json[..json.len() / 2]).unwrap_err();
    assert!(
        matches!(err, Error::Data(ref m) if m.contains("line")),
        "{err:?}"
    );
    // Wrong type in a field.
    let err = Results::from_json(&json.replacen("\"seed\": 7", "\"seed\": \"seven\"", 1));
    assert!(matches!(err, Err(Error::Data(_))), "{err:?}");
    // Valid JSON, inconsistent content: unsorted sizes, duplicate arms.
    let mut r = fixture();
    r.run.sizes = vec![10, 5, 25];
    let err = Results::from_json(&r.to_json()).unwrap_err();
    assert!(
        matches!(err, Error::Data(ref m) if m.contains("sizes")),
        "{err:?}"
    );
    let mut r = fixture();
    r.arms[1].name = "sym".into();
    let err = Results::from_json(&r.to_json()).unwrap_err();
    assert!(
        matches!(err, Error::Data(ref m) if m.contains("twice")),
        "{err:?}"
    );
    assert!(Results::from_json("").is_err());
    // Missing file: Io naming the path.
    let missing = temp_dir("missing").join("results.json");
    let err = Results::load(&missing).unwrap_err();
    assert!(
        matches!(err, Error::Io(ref m) if m.contains("results.json")),
        "{err:?}"
    );
}

#[test]
fn unwritable_report_folder_is_an_io_error_naming_the_path() {
    let file = temp_dir("not-a-dir");
    std::fs::write(&file, "x").unwrap();
    let err = write_report(&fixture(), &file).unwrap_err();
    assert!(
        matches!(err, Error::Io(ref m) if m.contains("not-a-dir")),
        "{err:?}"
    );
    let _ = std::fs::remove_file(&file);
}
