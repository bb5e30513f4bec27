//! docs/cluster.md works as written: its Slurm scripts, run on one machine with n = 2
//! shards at a tiny scale, give a merged report equal to an unsplit run, and its Python
//! snippet loads the results (when python3 is installed).

use std::path::{Path, PathBuf};
use std::process::Command;

/// The tiny scale: 4 members, 1 epoch, two arms, small evaluation sets (a few seconds).
const FLAGS: &str = "--members 4 --epochs 1 --arms sym,as-asyminit --sizes 2,4 \
                     --resamples 3 --ood-len 12";

/// The fenced block right after `<!-- script: NAME -->` in docs/cluster.md.
fn script(name: &str) -> String {
    let page =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/cluster.md"))
            .expect("docs/cluster.md");
    let marker = format!("<!-- script: {name} -->");
    let at = page
        .find(&marker)
        .unwrap_or_else(|| panic!("docs/cluster.md has no {marker}"));
    let rest = &page[at + marker.len()..];
    let open = rest.find("```").expect("a fenced block after the marker");
    let body = &rest[open..];
    let body = &body[body.find('\n').expect("fence line") + 1..];
    body[..body.find("\n```").expect("closing fence")].to_string() + "\n"
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("eqens-cluster-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn run(cmd: &mut Command) {
    let out = cmd.output().expect("the command starts");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// results.json without what legitimately differs between runs (wall-clock time).
fn comparable_json(path: &Path) -> serde_json::Value {
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    // Times differ between runs, and a merged report records its shard count; everything
    // else must agree.
    let run = v["run"].as_object_mut().expect("run is an object");
    for key in ["elapsed_secs", "train_secs", "shards"] {
        run.remove(key);
    }
    v
}

#[test]
fn the_pages_scripts_merge_two_shards_into_the_unsplit_run() {
    let dir = scratch("two");
    let bin = env!("CARGO_BIN_EXE_eqens");
    std::fs::write(dir.join("shard.sbatch"), script("shard.sbatch")).unwrap();
    std::fs::write(dir.join("merge.sbatch"), script("merge.sbatch")).unwrap();
    let bash = |file: &str| {
        let mut c = Command::new("bash");
        c.arg(file)
            .current_dir(&dir)
            .env("EQENS", bin)
            .env("FLAGS", FLAGS)
            .env("SLURM_CPUS_PER_TASK", "1");
        c
    };
    // "The same thing on one machine": both array tasks, then the merge.
    for i in 1..=2 {
        run(bash("shard.sbatch")
            .env("SLURM_ARRAY_TASK_ID", i.to_string())
            .env("SLURM_ARRAY_TASK_COUNT", "2"));
    }
    for i in 1..=2 {
        assert!(dir.join(format!("shards/shard-{i}-of-2.eqshard")).is_file());
    }
    run(&mut bash("merge.sbatch"));
    // The unsplit run with the same flags.
    let mut unsplit = Command::new(bin);
    unsplit.current_dir(&dir).arg("reproduce");
    unsplit.args(FLAGS.split_whitespace());
    unsplit.args(["--threads", "1", "--out", "unsplit"]);
    run(&mut unsplit);

    let merged_csv = std::fs::read(dir.join("report/results.csv")).unwrap();
    let unsplit_csv = std::fs::read(dir.join("unsplit/results.csv")).unwrap();
    assert!(merged_csv.len() > 100);
    assert_eq!(merged_csv, unsplit_csv, "results.csv: merged ≠ unsplit");
    assert_eq!(
        comparable_json(&dir.join("report/results.json")),
        comparable_json(&dir.join("unsplit/results.json"))
    );

    // Negative control: a merge with other training flags is refused (and a missing shard).
    let mut bad = bash("merge.sbatch");
    bad.env("FLAGS", FLAGS.replace("--epochs 1", "--epochs 2"));
    assert!(!bad.output().unwrap().status.success());
    std::fs::remove_file(dir.join("shards/shard-2-of-2.eqshard")).unwrap();
    assert!(!bash("merge.sbatch").output().unwrap().status.success());

    // The Python snippet of the page loads the merged results (skipped without python3).
    let py = dir.join("load_results.py");
    std::fs::write(&py, script("load_results.py")).unwrap();
    match Command::new("python3")
        .arg(&py)
        .arg(dir.join("report/results.json"))
        .output()
    {
        Ok(out) => {
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(text.contains("4 members, 1 epochs, scalar f32"), "{text}");
            assert!(text.contains("sym          test  epoch 1 M=4"), "{text}");
            assert!(text.contains("sym < as-asyminit on ood: p ="), "{text}");
        }
        Err(e) => eprintln!("python3 not available ({e}): the Python snippet was not run"),
    }
    let _ = std::fs::remove_dir_all(&dir);
}
