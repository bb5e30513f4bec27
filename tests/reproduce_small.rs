//! `eqens reproduce` at a small scale: snapshot of the summary, the report folder,
//! determinism across thread counts, shards merged == unsplit, bad shards and configurations
//! rejected, and the init-time 1/M behaviour of the sym ensemble.

use eqens::reproduce::{
    merge_shards, reproduce, reproduce_shard, summary_table, Arm, OodKind, ReproduceConfig,
    Results, ScalarKind, Shard,
};
use eqens::Error;
use std::path::PathBuf;

/// A fresh, empty scratch folder under cargo's per-target temporary directory.
fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("reproduce_small")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The small configuration of the snapshot: every arm, 12 members, 1 epoch (the cost is
/// fixed by the 1437 training and 360 test digits: keep the members few). It trains in f64.
/// The snapshot does not depend on the machine's vector unit: every SIMD level sums in the
/// same order, so f32 and f64 runs are bit-identical across levels (tests/simd_levels.rs,
/// src/autodiff/kernels/tests.rs).
fn small(out: &str) -> ReproduceConfig {
    ReproduceConfig {
        scalar: ScalarKind::F64,
        members: 12,
        epochs: 1,
        seed: 7,
        threads: 2,
        sizes: vec![3, 10, 12],
        resamples: 5,
        ood_len: 20,
        // The snapshot predates the natural-image OOD default; it keeps the noise set so
        // that its numbers stay those of the earlier runs.
        ood: OodKind::Noise,
        out_dir: scratch(out),
        ..ReproduceConfig::default()
    }
}

/// A smaller configuration for the determinism and shard tests: two arms (so that shard
/// files hold several sections), 5 members, 1 epoch.
fn tiny(out: &str) -> ReproduceConfig {
    ReproduceConfig {
        members: 5,
        epochs: 1,
        seed: 11,
        arms: vec![Arm::sym(), Arm::as_syminit()],
        threads: 2,
        sizes: vec![2, 5],
        resamples: 3,
        ood_len: 8,
        out_dir: scratch(out),
        ..ReproduceConfig::default()
    }
}

/// The results JSON without the fields that legitimately vary between equivalent runs
/// (wall-clock times, thread count, and whether it was merged from shards).
fn comparable(r: &Results) -> String {
    let mut r = r.clone();
    r.run.elapsed_secs = 0.0;
    r.run.train_secs = 0.0;
    r.run.shards = 0;
    r.run.threads = 0;
    r.to_json()
}

#[test]
fn small_run_snapshot_and_report_folder() {
    let cfg = small("snapshot");
    let r = reproduce(&cfg, false).unwrap();
    insta::assert_snapshot!(summary_table(&r));

    for f in ["report.md", "results.json", "results.csv"] {
        assert!(cfg.out_dir.join(f).is_file(), "{f} missing");
    }
    let svgs = std::fs::read_dir(&cfg.out_dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "svg")
        })
        .count();
    assert!(svgs > 0, "no SVG plot written");
    let loaded = Results::load(&cfg.out_dir.join("results.json")).unwrap();
    assert_eq!(loaded.to_json(), r.to_json());

    // Structure: epochs 0..=E, both sets, the configured sizes, and metric ranges.
    assert_eq!(r.run.sizes, vec![3, 10, 12]);
    assert_eq!(r.arms.len(), 4);
    for arm in &r.arms {
        assert!(arm.diverged_members.is_empty(), "{}: divergence", arm.name);
        let epochs: Vec<usize> = arm.epochs.iter().map(|e| e.epoch).collect();
        assert_eq!(epochs, vec![0, 1]);
        assert!(arm.epochs[0].mean_train_loss.is_none());
        assert!(arm.epochs[1].mean_train_loss.unwrap().is_finite());
        for ep in &arm.epochs {
            let sets: Vec<&str> = ep.sets.iter().map(|s| s.set.as_str()).collect();
            assert_eq!(sets, vec!["test", "ood"]);
            for set in &ep.sets {
                assert_eq!(set.kl_at_largest_m.len(), 5);
                for s in &set.by_size {
                    assert!((1.0..=4.0).contains(&s.osp.mean), "OSP {}", s.osp.mean);
                    assert!(s.kl.mean >= 0.0 && s.kl.mean.is_finite());
                    if set.set == "test" {
                        assert!((0.0..=1.0).contains(&s.acc.mean));
                    } else {
                        assert!(s.acc.mean.is_nan(), "OOD has no labels: acc must be NaN");
                    }
                }
            }
        }
    }
    // KL-vs-M slopes over M ∈ {10, 12} (M ≥ 10) for every arm and set; Welch tests of sym
    // against the three other arms on both sets at the largest M.
    assert_eq!(r.comparison.kl_slopes.len(), 8);
    assert!(r
        .comparison
        .kl_slopes
        .iter()
        .all(|s| (s.m_from, s.m_to) == (10, 12)));
    assert_eq!(r.comparison.sym_lower_kl.len(), 6);
    assert!(r.comparison.sym_lower_kl.iter().all(|w| w.m == 12));
}

#[test]
fn same_seed_same_results_for_one_or_two_threads() {
    let mut cfg = tiny("threads-2");
    cfg.arms = vec![Arm::as_asyminit()];
    let two = reproduce(&cfg, false).unwrap();
    cfg.threads = 1;
    cfg.out_dir = scratch("threads-1");
    let one = reproduce(&cfg, false).unwrap();
    assert_eq!(comparable(&one), comparable(&two));

    // Negative control: the comparison sees a change of seed.
    cfg.seed += 1;
    cfg.out_dir = scratch("threads-1-other-seed");
    let other = reproduce(&cfg, false).unwrap();
    assert_ne!(comparable(&one), comparable(&other));
}

#[test]
fn f64_training_runs_and_differs_from_f32() {
    let mut cfg = tiny("f32");
    cfg.arms = vec![Arm::sym()];
    let a = reproduce(&cfg, false).unwrap();
    cfg.scalar = ScalarKind::F64;
    cfg.out_dir = scratch("f64");
    let b = reproduce(&cfg, false).unwrap();
    assert_eq!(b.run.scalar, "f64");
    assert_ne!(comparable(&a), comparable(&b));
}

#[test]
fn shards_merged_equal_the_unsplit_run() {
    let cfg = tiny("unsplit");
    let unsplit = reproduce(&cfg, false).unwrap();

    let mut dirs = Vec::new();
    for i in 1..=2 {
        let mut s = tiny(&format!("shard-{i}"));
        s.shard = Some(Shard { index: i, count: 2 });
        let path = reproduce_shard(&s, false).unwrap();
        assert!(path.is_file());
        dirs.push(s.out_dir);
    }
    let mut m = tiny("merged");
    let merged = merge_shards(&dirs, &m).unwrap();
    assert_eq!(comparable(&merged), comparable(&unsplit));
    assert!(m.out_dir.join("report.md").is_file());

    // Evaluation settings may change at merge time (they do not touch θ).
    m.resamples = 4;
    m.out_dir = scratch("merged-4");
    let more = merge_shards(&dirs, &m).unwrap();
    assert_eq!(more.run.resamples, 4);
    assert_ne!(comparable(&more), comparable(&unsplit));

    // Missing members: only shard 1/2.
    let e = merge_shards(&dirs[..1], &tiny("bad-1")).unwrap_err();
    assert!(
        matches!(&e, Error::Invalid(msg) if msg.contains("missing")),
        "{e}"
    );
    // Overlap: shard 1/2 twice.
    let twice = vec![dirs[0].clone(), dirs[0].clone(), dirs[1].clone()];
    let e = merge_shards(&twice, &tiny("bad-2")).unwrap_err();
    assert!(
        matches!(&e, Error::Invalid(msg) if msg.contains("twice")),
        "{e}"
    );
    // Configuration mismatch (learning rate, arms, scalar).
    let mut other = tiny("bad-3");
    other.lr = 0.02;
    let e = merge_shards(&dirs, &other).unwrap_err();
    assert!(
        matches!(&e, Error::Invalid(msg) if msg.contains("lr")),
        "{e}"
    );
    let mut other = tiny("bad-4");
    other.arms = vec![Arm::sym()];
    assert!(merge_shards(&dirs, &other).is_err());
    let mut other = tiny("bad-5");
    other.scalar = ScalarKind::F64;
    assert!(merge_shards(&dirs, &other).is_err());
    // An empty folder.
    let e = merge_shards(&[scratch("empty")], &tiny("bad-6")).unwrap_err();
    assert!(matches!(e, Error::Invalid(_)), "{e}");
}

#[test]
fn corrupt_shard_files_are_rejected() {
    let mut s = tiny("corrupt-src");
    s.arms = vec![Arm::sym()];
    s.shard = Some(Shard { index: 1, count: 1 });
    let path = reproduce_shard(&s, false).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let mut cfg = s.clone();
    cfg.shard = None;
    cfg.out_dir = scratch("corrupt-ok");
    // Control: the intact file merges.
    merge_shards(std::slice::from_ref(&path), &cfg).unwrap();

    let write = |name: &str, b: &[u8]| {
        let p = scratch(name).join("x.eqshard");
        std::fs::write(&p, b).unwrap();
        p
    };
    // Truncated: one byte of θ missing.
    let mut cut = bytes.clone();
    cut.remove(100);
    let e = merge_shards(&[write("corrupt-cut", &cut)], &cfg).unwrap_err();
    assert!(matches!(e, Error::Data(_)), "{e}");
    // Bad magic.
    let mut magic = bytes.clone();
    magic[0] = b'X';
    let e = merge_shards(&[write("corrupt-magic", &magic)], &cfg).unwrap_err();
    assert!(matches!(e, Error::Data(_)), "{e}");
    // Unknown format version.
    let mut version = bytes.clone();
    version[8] = 99;
    let e = merge_shards(&[write("corrupt-version", &version)], &cfg).unwrap_err();
    assert!(matches!(e, Error::Data(_)), "{e}");
    // Too short to be a shard.
    let e = merge_shards(&[write("corrupt-short", &bytes[..10])], &cfg).unwrap_err();
    assert!(matches!(e, Error::Data(_)), "{e}");
}

#[test]
fn bad_shard_specs_and_configurations_are_errors() {
    for bad in ["0/2", "3/2", "1/0", "a/2", "1/b", "12", "", "-1/2"] {
        assert!(
            matches!(Shard::parse(bad), Err(Error::Invalid(_))),
            "`{bad}` accepted"
        );
    }
    let s = Shard::parse("2/3").unwrap();
    assert_eq!((s.index, s.count), (2, 3));
    assert_eq!(s.to_string(), "2/3");

    assert!(matches!(Arm::parse("nope"), Err(Error::Invalid(_))));
    assert_eq!(Arm::parse("as-syminit").unwrap(), Arm::as_syminit());

    let base = tiny("bad-config");
    let broken: Vec<(&str, ReproduceConfig)> = vec![
        (
            "members 0",
            ReproduceConfig {
                members: 0,
                ..base.clone()
            },
        ),
        (
            "lr < 0",
            ReproduceConfig {
                lr: -0.1,
                ..base.clone()
            },
        ),
        (
            "lr NaN",
            ReproduceConfig {
                lr: f64::NAN,
                ..base.clone()
            },
        ),
        (
            "batch 0",
            ReproduceConfig {
                batch: 0,
                ..base.clone()
            },
        ),
        (
            "threads 0",
            ReproduceConfig {
                threads: 0,
                ..base.clone()
            },
        ),
        (
            "no arms",
            ReproduceConfig {
                arms: vec![],
                ..base.clone()
            },
        ),
        (
            "arm twice",
            ReproduceConfig {
                arms: vec![Arm::sym(), Arm::sym()],
                ..base.clone()
            },
        ),
        (
            "size 0",
            ReproduceConfig {
                sizes: vec![0, 5],
                ..base.clone()
            },
        ),
        (
            "sizes too big",
            ReproduceConfig {
                sizes: vec![50],
                ..base.clone()
            },
        ),
        (
            "1 resample",
            ReproduceConfig {
                resamples: 1,
                ..base.clone()
            },
        ),
        (
            "ood 0",
            ReproduceConfig {
                ood_len: 0,
                ..base.clone()
            },
        ),
        (
            "shard given",
            ReproduceConfig {
                shard: Some(Shard { index: 1, count: 2 }),
                ..base.clone()
            },
        ),
    ];
    for (what, cfg) in broken {
        assert!(
            matches!(reproduce(&cfg, false), Err(Error::Invalid(_))),
            "{what} accepted"
        );
    }
    assert!(matches!(
        reproduce_shard(&base, false),
        Err(Error::Invalid(_))
    ));
}

#[test]
fn diverged_members_are_dropped_recorded_and_merged_alike() {
    // lr = 1e3: with this seed some members' losses explode (finite, above 1e6·ln C, or θ
    // beyond 1e6 times its start) within the epoch while others stay bounded. (A larger lr
    // such as 3e36, which overflows f32 for some members, now explodes all the others too.)
    let cfg = ReproduceConfig {
        lr: 1e3,
        members: 8,
        sizes: vec![2, 4],
        arms: vec![Arm::sym()],
        ..tiny("diverge")
    };
    let r = reproduce(&cfg, false).unwrap();
    let diverged = &r.arm("sym").unwrap().diverged_members;
    assert!(
        !diverged.is_empty() && diverged.len() < cfg.members,
        "expected some but not all of {} members to diverge, got {diverged:?}",
        cfg.members
    );
    assert!(diverged
        .iter()
        .all(|(_, m)| m.contains("not finite") || m.starts_with("exploded")));
    assert_eq!(r.divergence.total(), diverged.len());
    let report = std::fs::read_to_string(cfg.out_dir.join("report.md")).unwrap();
    assert!(report.contains("diverged"));

    // The sharded run drops the same members and evaluates the same survivors.
    let mut dirs = Vec::new();
    for i in 1..=2 {
        let mut s = cfg.clone();
        s.out_dir = scratch(&format!("diverge-shard-{i}"));
        s.shard = Some(Shard { index: i, count: 2 });
        reproduce_shard(&s, false).unwrap();
        dirs.push(s.out_dir);
    }
    let mut m = cfg.clone();
    m.out_dir = scratch("diverge-merged");
    assert_eq!(
        comparable(&merge_shards(&dirs, &m).unwrap()),
        comparable(&r)
    );

    // Control: when every member diverges there is nothing to evaluate, and that is an error.
    let all = ReproduceConfig {
        lr: 1e38,
        out_dir: scratch("diverge-all"),
        ..cfg
    };
    let e = reproduce(&all, false).unwrap_err();
    assert!(
        matches!(&e, Error::Invalid(msg) if msg.contains("diverged")),
        "{e}"
    );
}

#[test]
fn sym_ensemble_kl_falls_with_m_at_init() {
    // At init the sym law is ρ-invariant (i.i.d. N(0,1) on an invariant support, orthonormal
    // basis), so E[f] is equivariant and the ensemble's KL shrinks as members are added. With
    // a fixed seed the bootstrap mean at M = 12 is below that at M = 3 and below a single
    // member's, on both sets. Nothing stronger is guaranteed at this scale.
    let r = reproduce(
        &ReproduceConfig {
            arms: vec![Arm::sym()],
            epochs: 0,
            ..small("init")
        },
        false,
    )
    .unwrap();
    let init = &r.arm("sym").unwrap().epochs[0];
    assert_eq!(init.epoch, 0);
    for set in &init.sets {
        let kl = |m: usize| set.at_m(m).unwrap().kl.mean;
        assert!(
            kl(12) < kl(3),
            "{}: KL(12) {} ≥ KL(3) {}",
            set.set,
            kl(12),
            kl(3)
        );
        assert!(
            kl(12) < set.single_members.kl.mean,
            "{}: ensemble KL {} ≥ single-member KL {}",
            set.set,
            kl(12),
            set.single_members.kl.mean
        );
    }
}

/// The moderate-scale timing run of the report (not part of the default suite):
/// `cargo test --release --test reproduce_small -- --ignored --nocapture`.
#[test]
#[ignore]
fn moderate_scale_timing() {
    let cfg = ReproduceConfig {
        members: 100,
        epochs: 2,
        threads: 2,
        sizes: vec![5, 10, 25, 50, 75, 100],
        out_dir: scratch("moderate"),
        ..ReproduceConfig::default()
    };
    let start = std::time::Instant::now();
    let r = reproduce(&cfg, false).unwrap();
    println!("{}", summary_table(&r));
    println!("elapsed {:.1} s", start.elapsed().as_secs_f64());
}
