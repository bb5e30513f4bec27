//! Parallel deterministic ensembles: seeds, thread-count independence, shards, files,
//! failures that name their member.

use eqens::ensemble::{
    ensemble_mean, ensemble_outputs, member_seed, merge, merge_files, run_members,
    train_ensemble, try_run_members, EnsembleFile, Recipe, Schedule, Shard,
};
use eqens::rep::GridGroup;
use eqens::train::cases::{image_case, Activations, Case, Filters};
use eqens::train::{Augmentation, InitLaw, SgdConfig};
use eqens::Error;
use std::path::PathBuf;

const MASTER: u64 = 20_241_001;
const TOTAL: usize = 7;

fn case() -> Case {
    image_case(3, Some(GridGroup::C4), &Filters::InvariantSupport, Activations::Smooth).unwrap()
}

fn sgd_recipe(lr: f64) -> Recipe {
    Recipe {
        init: InitLaw::Gaussian { scale: 1.0 },
        augmentation: Augmentation::Full,
        schedule: Schedule::Sgd(SgdConfig {
            lr,
            batch: 2,
            epochs: 2,
            shuffle: true,
        }),
    }
}

fn train(case: &Case, recipe: &Recipe, members: std::ops::Range<usize>, threads: usize) -> Vec<(usize, Vec<f64>)> {
    let out = train_ensemble(&case.gnet, &case.samples(), recipe, MASTER, members, threads).unwrap();
    assert!(out.failures.is_empty(), "{:?}", out.failures);
    out.successes
}

fn bits(v: &[f64]) -> Vec<u64> {
    v.iter().map(|x| x.to_bits()).collect()
}

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("eqens-ensemble-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

#[test]
fn member_seeds_are_distinct_and_depend_on_the_master() {
    let seeds: std::collections::HashSet<u64> = (0..10_000).map(|i| member_seed(MASTER, i)).collect();
    assert_eq!(seeds.len(), 10_000);
    assert_ne!(member_seed(MASTER, 0), member_seed(MASTER + 1, 0));
    assert_eq!(member_seed(5, 9), member_seed(5, 9));
}

#[test]
fn run_members_keeps_member_order_and_rejects_zero_threads() {
    let out = run_members(3..40, 2, |i| i * i).unwrap();
    assert_eq!(out, (3..40).map(|i| i * i).collect::<Vec<_>>());
    assert!(matches!(run_members(0..3, 0, |i| i), Err(Error::Invalid(_))));
}

#[test]
fn same_seed_gives_bit_identical_members_and_outputs_on_1_and_2_threads() {
    let case = case();
    let recipe = sgd_recipe(0.1);
    let one = train(&case, &recipe, 0..TOTAL, 1);
    let two = train(&case, &recipe, 0..TOTAL, 2);
    assert_eq!(one.len(), TOTAL);
    for ((i, a), (j, b)) in one.iter().zip(&two) {
        assert_eq!(i, j);
        assert_eq!(bits(a), bits(b), "member {i}");
    }
    // Members differ from one another (their seeds differ).
    assert_ne!(bits(&one[0].1), bits(&one[1].1));
    let thetas = |v: &[(usize, Vec<f64>)]| v.iter().map(|(_, t)| t.clone()).collect::<Vec<_>>();
    let net = case.gnet.network();
    let y1 = ensemble_outputs(net, &thetas(&one), &case.x, case.n, 1).unwrap();
    let y2 = ensemble_outputs(net, &thetas(&two), &case.x, case.n, 2).unwrap();
    assert_eq!(bits(&y1), bits(&y2));
    // A different master seed gives different members (the seed is really used).
    let other = train_ensemble(&case.gnet, &case.samples(), &recipe, MASTER + 1, 0..1, 1).unwrap();
    assert_ne!(bits(&other.successes[0].1), bits(&one[0].1));
}

#[test]
fn ensemble_mean_sums_in_member_order_and_checks_lengths() {
    let m = ensemble_mean(&[vec![1.0, 2.0], vec![3.0, 6.0]]).unwrap();
    assert_eq!(m, vec![2.0, 4.0]);
    assert!(ensemble_mean::<f64, Vec<f64>>(&[]).is_err());
    assert!(matches!(ensemble_mean(&[vec![1.0], vec![1.0, 2.0]]), Err(Error::Shape(_))));
}

#[test]
fn shard_specs_parse_and_partition() {
    assert_eq!(Shard::parse("2/3").unwrap(), Shard { index: 2, count: 3 });
    assert_eq!(" 1 / 1 ".parse::<Shard>().unwrap(), Shard { index: 1, count: 1 });
    for bad in ["3/2", "0/2", "0/0", "a/b", "x", "1/", "/2", "-1/2", "1/2/3"] {
        assert!(matches!(Shard::parse(bad), Err(Error::Invalid(_))), "{bad:?} accepted");
    }
    for total in [0, 1, 5, 7, 100] {
        for count in 1..=9 {
            let mut next = 0;
            for index in 1..=count {
                let r = Shard { index, count }.members(total);
                assert_eq!(r.start, next, "total {total}, shard {index}/{count}");
                assert!(r.len() <= total / count + 1);
                next = r.end;
            }
            assert_eq!(next, total);
        }
    }
}

fn shard_file(case: &Case, recipe: &Recipe, shard: Shard) -> EnsembleFile {
    let members = train(case, recipe, shard.members(TOTAL), 2);
    EnsembleFile::new(&case.gnet, recipe.describe(), MASTER, TOTAL, members).unwrap()
}

#[test]
fn merged_shards_are_bit_identical_to_the_unsplit_run() {
    let case = case();
    let recipe = sgd_recipe(0.1);
    let whole = EnsembleFile::new(&case.gnet, recipe.describe(), MASTER, TOTAL, train(&case, &recipe, 0..TOTAL, 1)).unwrap();
    let paths: Vec<PathBuf> = (1..=3)
        .map(|k| {
            let p = tmp(&format!("shard-{k}.json"));
            shard_file(&case, &recipe, Shard { index: k, count: 3 }).save(&p).unwrap();
            p
        })
        .collect();
    // Shard order in the argument list does not matter.
    let merged = merge_files(&[&paths[2], &paths[0], &paths[1]]).unwrap();
    assert_eq!(merged.indices(), (0..TOTAL).collect::<Vec<_>>());
    for (a, b) in merged.members.iter().zip(&whole.members) {
        assert_eq!(a.index, b.index);
        assert_eq!(bits(&a.theta), bits(&b.theta), "member {}", a.index);
    }
    assert_eq!(merged, whole);
    let net = case.gnet.network();
    let y_merged = ensemble_outputs(net, &merged.thetas(), &case.x, case.n, 2).unwrap();
    let y_whole = ensemble_outputs(net, &whole.thetas(), &case.x, case.n, 1).unwrap();
    assert_eq!(bits(&y_merged), bits(&y_whole));
}

#[test]
fn merge_rejects_overlaps_gaps_and_other_runs() {
    let case = case();
    let recipe = sgd_recipe(0.1);
    let s = |k, n| shard_file(&case, &recipe, Shard { index: k, count: n });
    let (a, b, c) = (s(1, 3), s(2, 3), s(3, 3));
    assert!(merge(vec![a.clone(), b.clone(), c.clone()]).is_ok());
    // Missing shard.
    let e = merge(vec![a.clone(), c.clone()]).unwrap_err();
    assert!(matches!(e, Error::Invalid(ref m) if m.contains("missing")), "{e}");
    // Overlap: shard 1/2 covers shard 1/3 and part of 2/3.
    let e = merge(vec![s(1, 2), b.clone(), c.clone()]).unwrap_err();
    assert!(matches!(e, Error::Invalid(ref m) if m.contains("overlapping")), "{e}");
    // The same shard twice.
    assert!(merge(vec![a.clone(), a.clone(), b.clone(), c.clone()]).is_err());
    // Another master seed, another recipe, another architecture, another version.
    let mut other = b.clone();
    other.master_seed += 1;
    let e = merge(vec![a.clone(), other, c.clone()]).unwrap_err();
    assert!(e.to_string().contains("master seed"), "{e}");
    let other_recipe = sgd_recipe(0.2);
    let e = merge(vec![a.clone(), shard_file(&case, &other_recipe, Shard { index: 2, count: 3 }), c.clone()]).unwrap_err();
    assert!(e.to_string().contains("training"), "{e}");
    let mut other = b.clone();
    other.architecture.push('x');
    assert!(merge(vec![a.clone(), other, c.clone()]).unwrap_err().to_string().contains("architecture"));
    let mut other = b.clone();
    other.format_version = 99;
    assert!(merge(vec![a.clone(), other, c.clone()]).is_err());
    assert!(merge(vec![]).is_err());
}

#[test]
fn save_load_round_trip_is_exact() {
    let case = case();
    let recipe = sgd_recipe(0.1);
    let file = shard_file(&case, &recipe, Shard { index: 1, count: 1 });
    let p = tmp("round-trip.json");
    file.save(&p).unwrap();
    let back = EnsembleFile::load(&p).unwrap();
    assert_eq!(back, file);
    for (a, b) in back.members.iter().zip(&file.members) {
        assert_eq!(bits(&a.theta), bits(&b.theta));
    }
    back.check_network(&case.gnet).unwrap();
    // Awkward values survive too (shortest round-trip representation).
    let awkward = vec![(0usize, vec![0.1 + 0.2; case.gnet.network().num_params()])];
    let mut f = EnsembleFile::new(&case.gnet, "t".into(), 1, 1, awkward).unwrap();
    f.members[0].theta[0] = 5e-324;
    f.members[0].theta[1] = -1.797_693_134_862_315_7e308;
    f.members[0].theta[2] = 1.0 / 3.0;
    let back = EnsembleFile::from_json(&f.to_json().unwrap()).unwrap();
    assert_eq!(bits(&back.members[0].theta), bits(&f.members[0].theta));
}

#[test]
fn corrupt_or_foreign_files_are_rejected_with_clear_errors() {
    let case = case();
    let recipe = sgd_recipe(0.1);
    let file = shard_file(&case, &recipe, Shard { index: 1, count: 2 });
    let json = file.to_json().unwrap();
    // Truncated.
    let e = EnsembleFile::from_json(&json[..json.len() / 2]).unwrap_err();
    assert!(matches!(e, Error::Data(ref m) if m.contains("not valid JSON")), "{e}");
    // Wrong version.
    let v2 = json.replacen("\"format_version\":1", "\"format_version\":2", 1);
    let e = EnsembleFile::from_json(&v2).unwrap_err();
    assert!(matches!(e, Error::Data(ref m) if m.contains("format version 2")), "{e}");
    // Missing version.
    let e = EnsembleFile::from_json("{\"members\": []}").unwrap_err();
    assert!(e.to_string().contains("format_version"), "{e}");
    // A field of the wrong type.
    let bad = json.replacen("\"master_seed\":", "\"master_seed\":\"s\",\"x\":", 1);
    assert!(matches!(EnsembleFile::from_json(&bad), Err(Error::Data(_))));
    // An index outside the run.
    let mut f = file.clone();
    f.members[0].index = TOTAL + 3;
    assert!(matches!(f.to_json(), Err(Error::Data(_))));
    // A θ of another network.
    let mut f = file.clone();
    f.members[0].theta.pop();
    assert!(f.validate().is_err());
    // Members of another architecture.
    let other = image_case(4, Some(GridGroup::C4), &Filters::InvariantSupport, Activations::Smooth).unwrap();
    assert!(matches!(file.check_network(&other.gnet), Err(Error::Invalid(_))));
    // Non-finite θ cannot be stored.
    let p = case.gnet.network().num_params();
    assert!(EnsembleFile::new(&case.gnet, "t".into(), 1, 1, vec![(0, vec![f64::NAN; p])]).is_err());
    // Unreadable path, and a garbage file.
    assert!(matches!(EnsembleFile::load(&tmp("does-not-exist.json")), Err(Error::Io(_))));
    let garbage = tmp("garbage.json");
    std::fs::write(&garbage, b"\x00\x01 not json").unwrap();
    let e = EnsembleFile::load(&garbage).unwrap_err();
    assert!(matches!(e, Error::Io(_) | Error::Data(_)), "{e}");
}

#[test]
fn a_diverging_member_is_named_and_the_others_are_kept() {
    let case = case();
    let samples = case.samples();
    let good = sgd_recipe(0.1);
    let huge = sgd_recipe(1e300);
    let out = try_run_members(0..5, 2, |i| {
        let recipe = if i == 3 { &huge } else { &good };
        eqens::ensemble::train_member(&case.gnet, &samples, recipe, MASTER, i)
    })
    .unwrap();
    assert_eq!(out.successes.iter().map(|(i, _)| *i).collect::<Vec<_>>(), vec![0, 1, 2, 4]);
    assert_eq!(out.failures.len(), 1);
    let (i, e) = &out.failures[0];
    assert_eq!(*i, 3);
    assert!(matches!(e, Error::Diverged { member: 3, .. }), "{e}");
    assert!(e.to_string().contains("member 3"), "{e}");
    // The kept members equal those of a run without the diverging one.
    let clean = train(&case, &good, 0..5, 1);
    for (i, t) in &out.successes {
        assert_eq!(bits(t), bits(&clean[*i].1));
    }
    // The whole run with a huge step: every member fails, each with its own index.
    let all = train_ensemble(&case.gnet, &samples, &huge, MASTER, 2..5, 2).unwrap();
    assert!(all.successes.is_empty());
    let named: Vec<usize> = all
        .failures
        .iter()
        .map(|(_, e)| match e {
            Error::Diverged { member, .. } => *member,
            other => panic!("{other}"),
        })
        .collect();
    assert_eq!(named, vec![2, 3, 4]);
    assert!(all.into_all().is_err());
}
