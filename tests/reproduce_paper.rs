//! `eqens reproduce` in the paper's own setting: `--data mnist` (28×28, the paper's network),
//! `--group d4`, custom arms, step budgets, `--eval-at`, the natural-image OOD set, combining
//! runs of disjoint arms, the bundled 28×28 loaders, and clear errors for bad specs. Small
//! runs only (few members, one epoch, a training subset).

use eqens::data::{area_resize, load_mnist5k, load_natural28, parse_mnist_csv, parse_natural_csv};
use eqens::rep::{GridGroup, Rep};
use eqens::reproduce::experiment::natural_ood;
use eqens::reproduce::{
    combine_results, reproduce, Arm, ArmInit, DataKind, OodKind, ReproduceConfig, Results,
};
use eqens::Error;
use std::io::Write;
use std::path::PathBuf;

fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("reproduce_paper")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// 3 members, 1 epoch on 64 training images (2 SGD steps), 12 OOD images.
fn tiny(out: &str, data: DataKind, arms: Vec<Arm>) -> ReproduceConfig {
    ReproduceConfig {
        data,
        members: 3,
        epochs: 1,
        seed: 5,
        arms,
        threads: 2,
        sizes: vec![2, 3],
        resamples: 2,
        ood_len: 12,
        train_limit: Some(64),
        out_dir: scratch(out),
        ..ReproduceConfig::default()
    }
}

fn comparable(r: &Results) -> String {
    let mut r = r.clone();
    r.run.elapsed_secs = 0.0;
    r.run.train_secs = 0.0;
    r.run.threads = 0;
    r.to_json()
}

#[test]
fn mnist_runs_the_papers_network_end_to_end() {
    let mut cfg = tiny("mnist", DataKind::Mnist, vec![Arm::sym()]);
    cfg.eval_at = Some(vec![1]);
    let r = reproduce(&cfg, false).unwrap();
    assert_eq!(r.run.data, "mnist");
    assert_eq!(
        (r.run.train_len, r.run.test_len, r.run.ood_len),
        (64, 1000, 12)
    );
    assert_eq!(r.run.steps_per_member, 2);
    assert_eq!(r.run.eval_epochs, vec![1]);
    let arm = &r.arms[0];
    assert_eq!(
        arm.epochs.iter().map(|e| e.epoch).collect::<Vec<_>>(),
        vec![1]
    );
    for set in &arm.epochs[0].sets {
        let b = set.bias.expect("a bias estimate for 3 members");
        assert_eq!(b.members, 3);
        assert!(b.estimate.is_finite() && b.se.is_finite() && b.null_sd > 0.0);
        assert!(b.ci_low <= b.estimate && b.estimate <= b.ci_high);
    }
    let a = arm.architecture.as_ref().unwrap();
    assert_eq!((a.group.as_str(), a.verdict.as_str()), ("c4", "invariant"));
    assert!(a.hypotheses_hold);
    let md = std::fs::read_to_string(cfg.out_dir.join("report.md")).unwrap();
    assert!(md.contains("5,000 real MNIST"), "the report names the data");
    assert!(md.contains("Squared bias"));
    assert!(cfg.out_dir.join("bias_vs_epoch.svg").is_file());
    let csv = std::fs::read_to_string(cfg.out_dir.join("results.csv")).unwrap();
    assert!(csv.lines().next().unwrap().ends_with("bias_ci_high,bias_p"));
}

#[test]
fn d4_follows_the_group_in_verdicts_and_symmetric_init() {
    let cfg = ReproduceConfig {
        group: GridGroup::D4,
        ..tiny("d4", DataKind::Digits, vec![Arm::sym(), Arm::as_syminit()])
    };
    let r = reproduce(&cfg, false).unwrap();
    assert_eq!(r.run.group, "d4");
    let sym = r.arm("sym").unwrap().architecture.clone().unwrap();
    assert_eq!(sym.verdict, "invariant", "plus + centre is D4-invariant");
    let asym = r.arm("as-syminit").unwrap().architecture.clone().unwrap();
    assert!(!asym.hypotheses_hold, "the corner tap breaks D4 invariance");
    assert!(asym.prediction.starts_with("open"));
    // Control: under C2 the same plus support is invariant too, and plus-corner is not.
    let c2 =
        eqens::reproduce::experiment::arm_architecture(&Arm::as_asyminit(), GridGroup::C2).unwrap();
    assert!(!c2.hypotheses_hold && c2.prediction.starts_with("> 0"));
}

#[test]
fn custom_arms_run_and_specs_round_trip() {
    let diamond = Arm::parse("diamond=0010001110111110111000100:iid").unwrap();
    let as5 = Arm::parse("as5=1110011100111110010000100:sym").unwrap();
    assert_eq!((diamond.support().k(), diamond.support().len()), (5, 13));
    assert_eq!(as5.init(), ArmInit::Sym);
    for a in [&diamond, &as5, &Arm::cnn()] {
        assert_eq!(&Arm::parse(&a.spec()).unwrap(), a, "{}", a.spec());
    }
    // 5×5 filters need the 28×28 data (the digits' last convolution sees a 2×2 grid):
    // a clear shape error on the digits, a run on MNIST.
    let digits = tiny("custom-digits", DataKind::Digits, vec![diamond.clone()]);
    assert!(matches!(reproduce(&digits, false), Err(Error::Shape(m)) if m.contains("grid")));
    let mut cfg = tiny("custom", DataKind::Mnist, vec![diamond, as5]);
    cfg.eval_at = Some(vec![1]);
    let r = reproduce(&cfg, false).unwrap();
    let d = r.arm("diamond").unwrap();
    assert_eq!(d.support, "0010001110111110111000100");
    assert_eq!(d.architecture.as_ref().unwrap().verdict, "invariant");
    let a = r.arm("as5").unwrap();
    assert_eq!(a.init, "symmetric");
    assert!(!a.architecture.as_ref().unwrap().hypotheses_hold);
    // The configuration, arms included, round-trips through serde (the shard header), but
    // for `out_dir` and `shard`, which say where and which slice and are not serialised.
    let json = serde_json::to_string(&cfg).unwrap();
    let back: ReproduceConfig = serde_json::from_str(&json).unwrap();
    assert_eq!(
        back,
        ReproduceConfig {
            out_dir: std::path::PathBuf::new(),
            shard: None,
            ..cfg
        }
    );
}

#[test]
fn bad_specs_are_clear_errors() {
    for (spec, needle) in [
        ("nope", "unknown arm"),
        ("x=0101:iid", "k²"),
        ("x=010111010:foo", "init law"),
        ("x=010111010", "no `:`"),
        ("=plus:iid", "non-empty name"),
        ("a b=plus:iid", "contains"),
        ("x=000000000:iid", "no tap"),
        ("x=01a111010:iid", "0/1"),
    ] {
        match Arm::parse(spec) {
            Err(e) => assert!(e.to_string().contains(needle), "{spec}: {e}"),
            Ok(a) => panic!("{spec} parsed as {a:?}"),
        }
    }
    assert!(DataKind::parse("cifar").is_err());
    assert!(OodKind::parse("cifar").is_err());
    assert!(eqens::reproduce::config::parse_group("c8").is_err());
    let dup = tiny("dup", DataKind::Digits, vec![Arm::sym(), Arm::sym()]);
    assert!(matches!(dup.validate(), Err(Error::Invalid(m)) if m.contains("twice")));
    let mut late = tiny("late", DataKind::Digits, vec![Arm::sym()]);
    late.eval_at = Some(vec![0, 2]);
    assert!(matches!(reproduce(&late, false), Err(Error::Invalid(m)) if m.contains("--eval-at")));
    // Control: the same configuration with a valid --eval-at runs.
    late.eval_at = Some(vec![0, 1]);
    reproduce(&late, false).unwrap();
    // The CLI reports bad specs as errors, not panics.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_eqens"))
        .args(["reproduce", "--arms", "sym,x=0101:iid", "--out"])
        .arg(scratch("cli"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("x=0101:iid") && !err.contains("panicked"),
        "{err}"
    );
}

#[test]
fn step_budgets_must_be_whole_epochs() {
    // 64 images, batch 32: 2 steps per epoch.
    let mut cfg = tiny("steps", DataKind::Digits, vec![Arm::sym()]);
    cfg.epochs = 7;
    cfg.steps = Some(2);
    let r = reproduce(&cfg, false).unwrap();
    assert_eq!((r.run.epochs, r.run.steps_per_member), (1, 2));
    cfg.steps = Some(3);
    let e = reproduce(&cfg, false).unwrap_err();
    assert!(e.to_string().contains("use 2 or 4"), "{e}");
}

#[test]
fn arms_run_apart_combine_to_the_joint_run() {
    let joint = reproduce(
        &tiny(
            "joint",
            DataKind::Digits,
            vec![Arm::sym(), Arm::as_asyminit()],
        ),
        false,
    )
    .unwrap();
    let a = reproduce(&tiny("part-a", DataKind::Digits, vec![Arm::sym()]), false).unwrap();
    let b = reproduce(
        &tiny("part-b", DataKind::Digits, vec![Arm::as_asyminit()]),
        false,
    )
    .unwrap();
    let combined = combine_results(vec![a.clone(), b.clone()]).unwrap();
    assert_eq!(comparable(&combined), comparable(&joint));
    // Controls: an arm twice, or parts with other settings, are refused.
    assert!(combine_results(vec![a.clone(), a.clone()]).is_err());
    let mut other = b;
    other.run.seed += 1;
    assert!(combine_results(vec![a, other]).is_err());
}

#[test]
fn bundled_28x28_sets_load_and_the_natural_ood_is_prepared_as_stated() {
    let mnist = load_mnist5k().unwrap();
    assert_eq!(
        (mnist.len(), mnist.input_shape.clone()),
        (5000, vec![1, 28, 28])
    );
    let labels = mnist.labels.as_ref().unwrap();
    for c in 0..10 {
        assert_eq!(labels.iter().filter(|&&l| l == c).count(), 500);
    }
    let (nat, sources) = load_natural28().unwrap();
    assert_eq!((nat.len(), sources.len()), (1200, 1200));
    let ood = natural_ood(24, 8).unwrap();
    assert_eq!(ood.input_shape, vec![1, 8, 8]);
    assert!(ood.inputs.iter().all(|v| (0.0..=1.0).contains(v)));
    assert!(natural_ood(1201, 28).is_err());
    // Area resizing commutes with the grid's rotations and flips (D4). Each output pixel is
    // a sum of ≤ 16 weighted pixels ≤ 1: the two orders differ by round-off ≤ 16·ε·1, so
    // 1e-13 is ample.
    let raw: Vec<f64> = nat.inputs[..784].iter().map(|v| v / 255.0).collect();
    let (r28, r8) = (
        Rep::grid(GridGroup::D4, 28, 28).unwrap(),
        Rep::grid(GridGroup::D4, 8, 8).unwrap(),
    );
    for g in 0..8 {
        let mut gx = vec![0.0; 784];
        r28.apply(g, &raw, &mut gx);
        let a = area_resize(&gx, 28, 8).unwrap();
        let mut b = vec![0.0; 64];
        r8.apply(g, &area_resize(&raw, 28, 8).unwrap(), &mut b);
        assert!(
            a.iter().zip(&b).all(|(x, y)| (x - y).abs() < 1e-13),
            "g = {g}"
        );
    }
    // Control: a crop of the top-left 8×8 pixels does not commute with the rotation.
    let crop = |x: &[f64]| -> Vec<f64> { (0..64).map(|i| x[(i / 8) * 28 + i % 8]).collect() };
    let mut gx = vec![0.0; 784];
    r28.apply(1, &raw, &mut gx);
    let mut b = vec![0.0; 64];
    r8.apply(1, &crop(&raw), &mut b);
    assert!(crop(&gx).iter().zip(&b).any(|(x, y)| (x - y).abs() > 1e-3));
}

fn gz(text: &str) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(text.as_bytes()).unwrap();
    e.finish().unwrap()
}

#[test]
fn malformed_28x28_files_are_clear_errors() {
    let row = |px: &str, last: &str| {
        let mut f = vec![px; 784];
        f.push(last);
        f.join(",")
    };
    let good = format!("{}\n", row("0", "3"));
    assert_eq!(parse_mnist_csv(&gz(&good), "m").unwrap().len(), 1);
    for (text, needle) in [
        (row("256", "3"), "pixel 256"),
        (row("0", "10"), "label 10"),
        (row("x", "3"), "not a non-negative integer"),
        ("1,2,3".to_string(), "expected 785"),
        (String::new(), "no data rows"),
    ] {
        let e = parse_mnist_csv(&gz(&text), "m").unwrap_err();
        assert!(matches!(&e, Error::Data(m) if m.contains(needle)), "{e}");
    }
    assert!(matches!(
        parse_mnist_csv(b"not gzip", "m"),
        Err(Error::Data(m)) if m.contains("gzip")
    ));
    let header = format!("source,{}\n", vec!["p"; 784].join(","));
    let e = parse_natural_csv(&gz(&header), "n").unwrap_err();
    assert!(
        matches!(&e, Error::Data(m) if m.contains("no data rows")),
        "{e}"
    );
    let one = format!("{header}{}\n", row("7", "8").replacen("7", "cat", 1));
    let (d, s) = parse_natural_csv(&gz(&one), "n").unwrap();
    assert_eq!((d.len(), s[0].as_str()), (1, "cat"));
}
