//! Fault injection for long runs (issue 17): one test per numbered try of the issue, each
//! asserting the clear error (or the supported behaviour) and that nothing complete was lost.
//! Most tests run the release binary on a tiny configuration.

use eqens::reproduce::{reproduce, summary_table, Arm, ReproduceConfig};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const EQENS: &str = env!("CARGO_BIN_EXE_eqens");

/// A tiny run: all four arms unless `--arms` is given, 4 members, 1 epoch, 1 thread, small evaluation.
const TINY: [&str; 14] = [
    "reproduce",
    "--members",
    "4",
    "--epochs",
    "1",
    "--threads",
    "1",
    "--sizes",
    "2,4",
    "--resamples",
    "2",
    "--ood-len",
    "8",
    "--force",
];

fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("faults")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn run(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(EQENS);
    cmd.current_dir(dir).args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

/// `TINY` without `--force`, with `extra` appended; a flag of `extra` that `TINY` already has
/// (`--members 8`) replaces its value instead.
fn tiny(extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = TINY[..TINY.len() - 1]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let mut i = 0;
    while i < extra.len() {
        let at = args.iter().position(|a| a == extra[i]);
        match at {
            Some(k) if i + 1 < extra.len() && !extra[i + 1].starts_with("--") => {
                args[k + 1] = extra[i + 1].to_string();
                i += 2;
            }
            _ => {
                args.push(extra[i].to_string());
                i += 1;
            }
        }
    }
    args
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn ok(o: &Output) {
    assert!(o.status.success(), "failed: {}", stderr(o));
}

/// Every file of a folder with its bytes, sorted by name.
fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

/// Names in `dir` that start with `.` (temporary files or folders left behind).
fn hidden(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect()
}

/// results.json without the fields that vary between equal runs (times, threads).
fn comparable_json(dir: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join("results.json")).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let run = v["run"].as_object_mut().unwrap();
    for k in ["elapsed_secs", "train_secs", "threads"] {
        run.remove(k);
    }
    v
}

/// A pseudo-random number from the clock (printed by the tests that use it, to replay).
fn clock_random() -> u64 {
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u64;
    n.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 16
}

/// Two shards of a tiny two-arm run in `dir/s1`, `dir/s2`.
fn two_shards(dir: &Path, extra: &[&str]) {
    for i in 1..=2 {
        let shard = format!("{i}/2");
        let out = format!("s{i}");
        let mut a = tiny(&["--arms", "sym,cnn", "--shard", &shard, "--out", &out]);
        a.extend(extra.iter().map(|s| s.to_string()));
        ok(&run(dir, &strs(&a), &[]));
    }
}

/// Try 1: a flipped byte of θ, or an edited header, is refused naming the file and the part.
#[test]
fn t01_corrupt_shard_is_refused() {
    let dir = scratch("t01");
    two_shards(&dir, &[]);
    let merge = ["reproduce", "--merge", "s1", "s2", "--threads", "1"];
    let shard = dir.join("s2/shard-2-of-2.eqshard");
    let good = std::fs::read(&shard).unwrap();
    // Control: the intact shards merge.
    ok(&run(&dir, &[&merge[..], &["--out", "ok"]].concat(), &[]));

    // One bit of the body (θ of the first member, well inside the body).
    let mut body = good.clone();
    body[200] ^= 1;
    std::fs::write(&shard, &body).unwrap();
    let o = run(&dir, &[&merge[..], &["--out", "m1"]].concat(), &[]);
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(
        e.contains("shard-2-of-2.eqshard") && e.contains("body checksum mismatch"),
        "{e}"
    );
    assert!(!dir.join("m1").exists(), "a report was written");

    // An edit of the header: the version string "0.1.0" → "0.1.1" (same length).
    let mut head = good.clone();
    let at = head
        .windows(9)
        .rposition(|w| w == b"\"version\"")
        .expect("the header names the version");
    let digit = head[at..].iter().position(|&b| b == b'0').unwrap() + at + 4;
    head[digit] = head[digit].wrapping_add(1);
    std::fs::write(&shard, &head).unwrap();
    let o = run(&dir, &[&merge[..], &["--out", "m2"]].concat(), &[]);
    let e = stderr(&o);
    assert!(!o.status.success());
    assert!(
        e.contains("shard-2-of-2.eqshard") && e.contains("header checksum mismatch"),
        "{e}"
    );
    // Restored, it merges again: the check is about the bytes, not the file.
    std::fs::write(&shard, &good).unwrap();
    ok(&run(&dir, &[&merge[..], &["--out", "m3"]].concat(), &[]));
}

/// Try 2: a full disk while replacing a report leaves the old report complete and no
/// temporary files. Needs a small tmpfs (root); says so and stops if it cannot mount one.
#[test]
fn t02_full_disk_keeps_the_old_report() {
    let dir = scratch("t02");
    let mnt = dir.join("small");
    std::fs::create_dir_all(&mnt).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=256k", "tmpfs"])
        .arg(&mnt)
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        eprintln!("t02: cannot mount a tmpfs here (not root?): full-disk test not run");
        return;
    }
    let result = std::panic::catch_unwind(|| {
        // The old report: one arm (124 KiB in 4 KiB pages).
        ok(&run(
            &mnt,
            &strs(&tiny(&["--arms", "sym", "--out", "rep"])),
            &[],
        ));
        let old = snapshot(&mnt.join("rep"));
        // The new one: four arms (192 KiB) does not fit beside it in 256 KiB.
        let o = run(
            &mnt,
            &strs(&tiny(&[
                "--arms",
                "sym,as-syminit,as-asyminit,cnn",
                "--out",
                "rep",
                "--force",
            ])),
            &[],
        );
        let e = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "{e}");
        assert!(e.contains("No space left on device"), "{e}");
        assert_eq!(snapshot(&mnt.join("rep")), old, "the old report changed");
        assert!(hidden(&mnt).is_empty(), "left behind: {:?}", hidden(&mnt));
    });
    let _ = Command::new("umount").arg(&mnt).status();
    result.unwrap();
}

/// Try 3: `--out` naming a file is refused before any training (the stop hook would end a
/// run that trained with status 86 after its first checkpoint).
#[test]
fn t03_out_is_checked_before_work() {
    let dir = scratch("t03");
    std::fs::write(dir.join("afile"), "x\n").unwrap();
    let env = [
        ("EQENS_TEST_STOP_AFTER_CHECKPOINTS", "1"),
        ("EQENS_CHECKPOINT_SECS", "0"),
    ];
    let o = run(&dir, &strs(&tiny(&["--out", "afile"])), &env);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("afile exists and is not a folder"));
    assert_eq!(std::fs::read(dir.join("afile")).unwrap(), b"x\n");
    // A parent that is a file, and a folder with foreign files, likewise.
    let o = run(&dir, &strs(&tiny(&["--out", "afile/sub"])), &env);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    std::fs::create_dir(dir.join("mine")).unwrap();
    std::fs::write(dir.join("mine/notes.txt"), "keep").unwrap();
    let o = run(&dir, &[&TINY[..], &["--out", "mine"]].concat(), &env);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("notes.txt"), "{}", stderr(&o));
    assert_eq!(std::fs::read(dir.join("mine/notes.txt")).unwrap(), b"keep");
    // Control: a fresh folder trains (and the hook stops it after one checkpoint).
    let o = run(&dir, &strs(&tiny(&["--out", "fresh"])), &env);
    assert_eq!(o.status.code(), Some(86), "{}", stderr(&o));
}

/// Try 4: a report or shard is replaced only with --force, and a shard rerun killed at a
/// random moment leaves a complete shard (the old or the new).
#[test]
fn t04_no_silent_overwrite_and_no_truncated_shard() {
    let dir = scratch("t04");
    ok(&run(&dir, &strs(&tiny(&["--out", "rep"])), &[]));
    let old = snapshot(&dir.join("rep"));
    let o = run(&dir, &strs(&tiny(&["--out", "rep", "--seed", "5"])), &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("--force"), "{}", stderr(&o));
    assert_eq!(snapshot(&dir.join("rep")), old);
    ok(&run(
        &dir,
        &strs(&tiny(&["--out", "rep", "--seed", "5", "--force"])),
        &[],
    ));
    assert_ne!(snapshot(&dir.join("rep")), old);

    let shard = ["--shard", "1/1", "--out", "s"];
    ok(&run(&dir, &strs(&tiny(&shard)), &[]));
    let o = run(&dir, &strs(&tiny(&shard)), &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("already exists"), "{}", stderr(&o));
    // Kill a forced rerun after a random delay (0–1.5 s: before, during or after writing).
    let delay = clock_random() % 1500;
    eprintln!("t04: kill after {delay} ms");
    let mut child = Command::new(EQENS)
        .current_dir(&dir)
        .args(strs(&tiny(&[&shard[..], &["--force"]].concat())))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(delay));
    let _ = child.kill();
    let _ = child.wait();
    // Whatever the moment, the shard file is complete and verifies.
    ok(&run(
        &dir,
        &["reproduce", "--merge", "s", "--out", "m", "--threads", "1"],
        &[],
    ));
}

/// Try 5: sizes that cannot fit in memory are refused before allocating.
#[test]
fn t05_huge_sizes_are_refused() {
    let dir = scratch("t05");
    let o = run(
        &dir,
        &strs(&tiny(&["--members", "100000000", "--out", "r"])),
        &[],
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("needs at least"), "{}", stderr(&o));
    assert!(!dir.join("r").exists());
    let o = run(&dir, &["analyze", "--side", "100000"], &[]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("needs at least"), "{}", stderr(&o));
    // Control: the default analysis runs.
    ok(&run(&dir, &["analyze", "--side", "8"], &[]));
}

/// Try 6: thread counts above the bound are refused at once.
#[test]
fn t06_absurd_thread_counts_are_refused() {
    let dir = scratch("t06");
    let mut a = tiny(&["--out", "r"]);
    a[6] = "100000".into();
    let o = run(&dir, &strs(&a), &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("limit of 1024"), "{}", stderr(&o));
    let o = run(&dir, &["check", "--threads", "100000"], &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("limit of 1024"), "{}", stderr(&o));
}

/// Try 7: exploding members are counted in the summary, results.json and the exit status.
#[test]
fn t07_divergence_is_counted_and_sets_the_exit_status() {
    let dir = scratch("t07");
    // lr 1e3 blows the members up to finite but huge losses (≈ 1e8).
    let o = run(
        &dir,
        &strs(&tiny(&["--members", "8", "--lr", "1e3", "--out", "r"])),
        &[],
    );
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("exploded"), "{out}");
    let json = comparable_json(&dir.join("r"));
    let exploded = json["divergence"]["exploded"].as_u64().unwrap();
    assert!(exploded > 0, "{json}");
    // Control: the default learning rate: nothing left out, status 0.
    let o = run(&dir, &strs(&tiny(&["--members", "8", "--out", "c"])), &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(comparable_json(&dir.join("c"))["divergence"]["exploded"], 0);
}

/// Try 8: a closed standard output ends printing quietly, without changing the status.
#[test]
fn t08_broken_pipe_is_quiet() {
    let dir = scratch("t08");
    for args in [&["groups"][..], &strs(&tiny(&["--out", "r"]))[..]] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let o = Command::new(EQENS)
            .current_dir(&dir)
            .args(args)
            .stdout(writer)
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(0), "{args:?}: {}", stderr(&o));
        assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
    }
    // The report of the piped run was written all the same.
    assert!(dir.join("r/report.md").is_file());
}

/// Try 9: the summary table's columns stay apart whatever the numbers' widths.
#[test]
fn t09_summary_columns_never_run_together() {
    let cfg = ReproduceConfig {
        members: 4,
        epochs: 1,
        arms: vec![Arm::sym(), Arm::cnn()],
        threads: 1,
        sizes: vec![2, 4],
        resamples: 2,
        ood_len: 8,
        out_dir: scratch("t09").join("r"),
        ..ReproduceConfig::default()
    };
    let mut r = reproduce(&cfg, false).unwrap();
    let normal = summary_table(&r);
    // Huge numbers in every cell of the first arm.
    for set in &mut r.arms[0].epochs.last_mut().unwrap().sets {
        for s in &mut set.by_size {
            s.osp.mean = 1.802_4e11;
            s.kl.mean = -1.422_7e15;
            s.acc.mean = 123_456_789.0;
        }
    }
    let table = summary_table(&r);
    for t in [&normal, &table] {
        let lines: Vec<&str> = t.lines().skip(1).collect();
        // Header and rows: the same number of two-space-separated cells, right edges aligned.
        let cells = |l: &str| l.split("  ").filter(|c| !c.trim().is_empty()).count();
        assert!(lines.iter().all(|l| cells(l) == 6), "{t}");
        assert!(lines.iter().all(|l| l.len() == lines[0].len()), "{t}");
    }
    // Negative control: the old fixed 10-wide columns would have run these together.
    assert!(
        format!("{:>10}{:>10}", "180240000000", "-1400000000000000")
            .split(' ')
            .filter(|c| !c.is_empty())
            .count()
            == 1
    );
}

/// Try 10: a batch larger than the data is refused (the report would record a size that
/// was not used).
#[test]
fn t10_batch_larger_than_the_data_is_refused() {
    let dir = scratch("t10");
    let o = run(
        &dir,
        &strs(&tiny(&["--batch", "100000", "--out", "r"])),
        &[],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("training samples"), "{}", stderr(&o));
    assert!(!dir.join("r").exists());
    // Control: the largest allowed batch (the whole training split) runs and is recorded.
    let o = run(&dir, &strs(&tiny(&["--batch", "1438", "--out", "r"])), &[]);
    ok(&o);
    assert_eq!(comparable_json(&dir.join("r"))["run"]["batch"], 1438);
}

/// Try 11: every gzip member is read; trailing garbage is an error.
#[test]
fn t11_gzip_members_and_trailing_garbage() {
    use eqens::data::digits::{parse_digits, DIGITS_CSV_GZ};
    use std::io::{Read, Write};
    let whole = parse_digits(DIGITS_CSV_GZ).unwrap();
    let mut csv = Vec::new();
    flate2::read::GzDecoder::new(DIGITS_CSV_GZ)
        .read_to_end(&mut csv)
        .unwrap();
    let cut = csv.len() / 2
        + csv[csv.len() / 2..]
            .iter()
            .position(|&b| b == b'\n')
            .unwrap()
        + 1;
    let mut two = Vec::new();
    for part in [&csv[..cut], &csv[cut..]] {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(part).unwrap();
        two.extend(gz.finish().unwrap());
    }
    assert_eq!(parse_digits(&two).unwrap(), whole);
    let mut junk = DIGITS_CSV_GZ.to_vec();
    junk.extend_from_slice(b"junk");
    let e = parse_digits(&junk).unwrap_err().to_string();
    assert!(e.contains("4 bytes of trailing garbage"), "{e}");
}

/// Try 12: a merge reads the training settings from the shards, refuses shards of different
/// runs, and reports that it came from shards with the summed training time.
#[test]
fn t12_merge_takes_the_configuration_from_the_shards() {
    let dir = scratch("t12");
    let flags = ["--lr", "0.05", "--seed", "3"];
    two_shards(&dir, &flags);
    let o = run(
        &dir,
        &[
            "reproduce",
            "--merge",
            "s1",
            "s2",
            "--out",
            "m",
            "--threads",
            "1",
            "--sizes",
            "2,4",
            "--resamples",
            "2",
            "--ood-len",
            "8",
        ],
        &[],
    );
    ok(&o);
    let merged = comparable_json(&dir.join("m"));
    assert_eq!(merged["run"]["lr"], 0.05);
    assert_eq!(merged["run"]["shards"], 2);
    let md = std::fs::read_to_string(dir.join("m/report.md")).unwrap();
    assert!(md.contains("merged from 2 shards"), "{md}");
    let text = std::fs::read_to_string(dir.join("m/results.json")).unwrap();
    let full: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert!(full["run"]["train_secs"].as_f64().unwrap() > 0.0);
    // The same bits as the unsplit run with those flags.
    let mut a = tiny(&["--arms", "sym,cnn", "--out", "u"]);
    a.extend(flags.iter().map(|s| s.to_string()));
    ok(&run(&dir, &strs(&a), &[]));
    assert_eq!(
        std::fs::read(dir.join("m/results.csv")).unwrap(),
        std::fs::read(dir.join("u/results.csv")).unwrap()
    );
    // A shard of another run (other seed) is refused, naming the field.
    let a = tiny(&[
        "--arms", "sym,cnn", "--shard", "2/2", "--out", "x", "--lr", "0.05", "--seed", "4",
    ]);
    ok(&run(&dir, &strs(&a), &[]));
    let o = run(
        &dir,
        &["reproduce", "--merge", "s1", "x", "--out", "bad"],
        &[],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("seed: 4 vs 3") || stderr(&o).contains("seed: 3 vs 4"),
        "{}",
        stderr(&o)
    );
    // An explicit training flag that disagrees with the shards is refused too.
    let o = run(
        &dir,
        &[
            "reproduce",
            "--merge",
            "s1",
            "s2",
            "--out",
            "bad",
            "--lr",
            "0.01",
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("lr: 0.01 vs 0.05"), "{}", stderr(&o));
}

/// Try 13: an interrupted run resumes to the same bits as an uninterrupted one — stopped
/// after a random number of checkpoints, and killed after a random delay.
#[test]
fn t13_resume_gives_the_same_bits() {
    let dir = scratch("t13");
    let base = tiny(&["--arms", "sym,cnn", "--epochs", "3"]);
    let with = |extra: &[&str]| {
        let mut a = base.clone();
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };
    let every = [("EQENS_CHECKPOINT_SECS", "0")];
    ok(&run(&dir, &strs(&with(&["--out", "full"])), &every));
    let full_csv = std::fs::read(dir.join("full/results.csv")).unwrap();
    let full_json = comparable_json(&dir.join("full"));

    // 2 arms × 4 evaluated epochs + 2 arm ends = 10 checkpoints; stop after k in 1..=9.
    let k = 1 + clock_random() % 9;
    eprintln!("t13: stop after {k} checkpoints");
    let stop = [
        ("EQENS_CHECKPOINT_SECS", "0"),
        ("EQENS_TEST_STOP_AFTER_CHECKPOINTS", &k.to_string()[..]),
    ];
    let o = run(&dir, &strs(&with(&["--out", "part"])), &stop);
    assert_eq!(o.status.code(), Some(86), "{}", stderr(&o));
    assert!(dir.join("part.eqckpt").is_file());
    // Without --resume the checkpoint is not silently discarded.
    let o = run(&dir, &strs(&with(&["--out", "part"])), &every);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("--resume"), "{}", stderr(&o));
    // A resume with other training flags is refused.
    let o = run(
        &dir,
        &strs(&with(&["--out", "part", "--resume", "--seed", "9"])),
        &every,
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("seed"), "{}", stderr(&o));
    ok(&run(
        &dir,
        &strs(&with(&["--out", "part", "--resume"])),
        &every,
    ));
    assert_eq!(
        std::fs::read(dir.join("part/results.csv")).unwrap(),
        full_csv
    );
    assert_eq!(comparable_json(&dir.join("part")), full_json);
    assert!(
        !dir.join("part.eqckpt").exists(),
        "checkpoint left after success"
    );

    // A real kill after a random delay, then --resume (from the checkpoint if any).
    let delay = clock_random() % 2500;
    eprintln!("t13: kill after {delay} ms");
    let mut child = Command::new(EQENS)
        .current_dir(&dir)
        .args(strs(&with(&["--out", "killed"])))
        .env("EQENS_CHECKPOINT_SECS", "0")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(delay));
    let _ = child.kill();
    let _ = child.wait();
    if !dir.join("killed/report.md").is_file() || dir.join("killed.eqckpt").exists() {
        ok(&run(
            &dir,
            &strs(&with(&["--out", "killed", "--resume", "--force"])),
            &every,
        ));
    }
    assert_eq!(
        std::fs::read(dir.join("killed/results.csv")).unwrap(),
        full_csv
    );
    assert_eq!(comparable_json(&dir.join("killed")), full_json);

    // Negative control: a different run does differ in these comparisons.
    ok(&run(
        &dir,
        &strs(&with(&["--out", "other", "--seed", "1"])),
        &every,
    ));
    assert_ne!(comparable_json(&dir.join("other")), full_json);
}
