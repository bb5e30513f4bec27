//! The `eqens` command-line tool: list groups, analyse architectures, check the statements
//! of THEORY.md, reproduce the paper's experiment.

use clap::{Parser, Subcommand};
use eqens::group::constructors::BUILTIN_NAMES;
use eqens::group::Group;
use std::process::ExitCode;

/// Numerical checks of emergent equivariance in augmented ensembles.
#[derive(Parser, Debug)]
#[command(name = "eqens", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// List the built-in groups with their orders.
    Groups,
    /// Check every statement S1..S16 of THEORY.md over random cases, with its negative
    /// controls; exits non-zero if a statement fails or a control fails to fail.
    Check(CheckArgs),
    /// Analyse a convolutional architecture under a group: dims of T𝓛, H_G, E and 𝓛_0,
    /// invariance (H4) versus NOF compatibility, orthonormality (H5), per-layer equivariance
    /// (H2), and advice.
    Analyze(AnalyzeArgs),
    /// Reproduce the paper's ensemble experiment (Nordenfors & Flinth) on the bundled 8×8
    /// digits or 28×28 MNIST subset with exact grid rotations, and write a report folder.
    Reproduce(Box<ReproduceArgs>),
}

#[derive(clap::Args, Debug)]
struct ReproduceArgs {
    /// Training data: digits (bundled 8×8 UCI digits) or mnist (bundled 5,000 MNIST images,
    /// 28×28, the paper's network and setting).
    #[arg(long, default_value = "digits")]
    data: String,
    /// The group acting on the pixel grid: c2, c4 or d4 (augmentation, symmetric init and
    /// the H4 verdicts follow it).
    #[arg(long, default_value = "c4")]
    group: String,
    /// Out-of-distribution set: natural (grayscale natural-image patches in [0, 1]) or
    /// noise (smoothed Gaussian noise).
    #[arg(long, default_value = "natural")]
    ood: String,
    /// Training budget in SGD steps instead of --epochs (a whole number of epochs).
    #[arg(long)]
    steps: Option<usize>,
    /// Evaluate only at these epochs (0 = init; the last epoch is always evaluated).
    #[arg(long, value_delimiter = ',')]
    eval_at: Option<Vec<usize>>,
    /// Train on only this many training images (round-robin over the classes).
    #[arg(long)]
    train_limit: Option<usize>,
    /// Members per arm.
    #[arg(long, default_value_t = 1000)]
    members: usize,
    /// Training epochs (evaluated at init and after every epoch).
    #[arg(long, default_value_t = 10)]
    epochs: usize,
    /// SGD learning rate.
    #[arg(long, default_value_t = 0.01)]
    lr: f64,
    /// SGD batch size.
    #[arg(long, default_value_t = 32)]
    batch: usize,
    /// Master seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Arms, comma-separated: presets sym, as-syminit, as-asyminit, cnn, or
    /// name=support:init with support full, plus, plus-corner or a row-major k×k 0/1 mask
    /// and init iid or sym (e.g. diamond=0010001110111110111000100:iid).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "sym,as-syminit,as-asyminit,cnn"
    )]
    arms: Vec<String>,
    /// Worker threads (results do not depend on it; default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Ensemble sizes M (comma-separated; sizes above --members are dropped).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "5,10,25,50,75,100,250,500,1000"
    )]
    sizes: Vec<usize>,
    /// Bootstrap resamples per ensemble size.
    #[arg(long, default_value_t = 30)]
    resamples: usize,
    /// Number of out-of-distribution images.
    #[arg(long, default_value_t = 360)]
    ood_len: usize,
    /// Train in f64 instead of f32.
    #[arg(long)]
    f64: bool,
    /// Output folder (report, or the shard file with --shard).
    #[arg(long, default_value = "report")]
    out: std::path::PathBuf,
    /// Train only slice i of n of every arm's members (e.g. 2/4) and write it to --out.
    #[arg(long, conflicts_with = "merge")]
    shard: Option<String>,
    /// Evaluate the union of shard folders or files written with --shard.
    #[arg(long, num_args = 1..)]
    merge: Vec<std::path::PathBuf>,
    /// Join the report folders (or results.json files) of runs of disjoint arms with
    /// otherwise equal settings into one report in --out (no training).
    #[arg(long, num_args = 1.., conflicts_with_all = ["merge", "shard"])]
    combine: Vec<std::path::PathBuf>,
}

#[derive(clap::Args, Debug)]
struct AnalyzeArgs {
    /// The group acting on the pixel grid: c2 (180° rotations), c4 (90° rotations) or d4
    /// (rotations and flips).
    #[arg(long, default_value = "c4")]
    group: String,
    /// Filter support Ω: full, plus (plus + centre), plus-corner (plus without centre +
    /// corner (0,0)), or a row-major k×k mask such as 010111010.
    #[arg(long, default_value = "plus")]
    support: String,
    /// Side of the square input images.
    #[arg(long, default_value_t = 8)]
    side: usize,
    /// Channels of the hidden convolution.
    #[arg(long, default_value_t = 4)]
    channels: usize,
    /// Print the report as JSON instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args, Debug)]
struct CheckArgs {
    /// Random cases per statement.
    #[arg(long, default_value_t = 20)]
    cases: usize,
    /// Master seed (case i of statement n uses a seed derived from it).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Only these statements (e.g. `--only S5 --only S11`, or `--only S5,S11`).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Worker threads.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Print the summary as JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Also search for a shrunk counterexample for each hypothesis H1..H7, with this
    /// many random cases per hypothesis (0: skip).
    #[arg(long, default_value_t = 10)]
    counterexamples: usize,
}

fn groups() -> eqens::Result<()> {
    println!("{:<10} {:>6}  elements", "group", "order");
    for (name, g) in BUILTIN_NAMES.iter().zip(Group::builtin_list()) {
        let names = g.element_names();
        let shown: Vec<&str> = names.iter().take(8).map(String::as_str).collect();
        let more = if names.len() > 8 { ", …" } else { "" };
        println!(
            "{:<10} {:>6}  {}{}",
            name,
            g.order(),
            shown.join(", "),
            more
        );
    }
    Ok(())
}

fn analyze(args: AnalyzeArgs) -> eqens::Result<()> {
    use eqens::nn::analysis::{analyze_support, render_table};
    use eqens::nn::Support;
    use eqens::rep::GridGroup;
    let group = match args.group.to_ascii_lowercase().as_str() {
        "c2" => GridGroup::C2,
        "c4" => GridGroup::C4,
        "d4" => GridGroup::D4,
        other => {
            return Err(eqens::Error::Invalid(format!(
                "--group {other}: the pixel-grid groups are c2, c4 and d4"
            )))
        }
    };
    let support = Support::parse(&args.support)?;
    let report = analyze_support(group, &support, args.side, args.channels)?;
    if args.json {
        println!("{}", report.to_json());
    } else {
        print!("{}", render_table(&report));
    }
    Ok(())
}

fn reproduce(args: ReproduceArgs) -> eqens::Result<()> {
    use eqens::reproduce::config::parse_group;
    use eqens::reproduce::{merge_shards, reproduce, reproduce_shard, summary_table};
    use eqens::reproduce::{Arm, DataKind, OodKind, ReproduceConfig, ScalarKind, Shard};
    let defaults = ReproduceConfig::default();
    let cfg = ReproduceConfig {
        data: DataKind::parse(&args.data)?,
        group: parse_group(&args.group)?,
        ood: OodKind::parse(&args.ood)?,
        steps: args.steps,
        eval_at: args.eval_at,
        train_limit: args.train_limit,
        members: args.members,
        epochs: args.epochs,
        lr: args.lr,
        batch: args.batch,
        seed: args.seed,
        arms: args
            .arms
            .iter()
            .map(|a| Arm::parse(a))
            .collect::<eqens::Result<_>>()?,
        threads: args.threads.unwrap_or(defaults.threads),
        sizes: args.sizes,
        resamples: args.resamples,
        ood_len: args.ood_len,
        out_dir: args.out,
        shard: args.shard.as_deref().map(Shard::parse).transpose()?,
        scalar: if args.f64 {
            ScalarKind::F64
        } else {
            ScalarKind::F32
        },
    };
    cfg.validate()?;
    let progress = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let results = if !args.combine.is_empty() {
        let parts = args
            .combine
            .iter()
            .map(|p| {
                let file = if p.is_dir() {
                    p.join("results.json")
                } else {
                    p.clone()
                };
                eqens::reproduce::Results::load(&file)
            })
            .collect::<eqens::Result<Vec<_>>>()?;
        let results = eqens::reproduce::combine_results(parts)?;
        eqens::reproduce::write_report(&results, &cfg.out_dir)?;
        results
    } else if cfg.shard.is_some() {
        let path = reproduce_shard(&cfg, progress)?;
        println!("wrote shard {}", path.display());
        return Ok(());
    } else if !args.merge.is_empty() {
        merge_shards(&args.merge, &cfg)?
    } else {
        reproduce(&cfg, progress)?
    };
    print!("{}", summary_table(&results));
    println!(
        "report written to {}",
        cfg.out_dir.join("report.md").display()
    );
    Ok(())
}

/// Runs `eqens check`; `Ok(false)` when a statement failed or a control did not.
fn check(args: CheckArgs) -> eqens::Result<bool> {
    use eqens::check::{find_counterexamples, render_counterexample, render_summary};
    use eqens::check::{run_checks, CheckConfig};
    let cfg = CheckConfig {
        cases: args.cases,
        seed: args.seed,
        only: (!args.only.is_empty()).then_some(args.only),
        threads: args.threads,
        progress: !args.json,
    };
    let summary = run_checks(&cfg)?;
    let found = if args.counterexamples > 0 {
        find_counterexamples(args.seed, args.counterexamples)?
    } else {
        Vec::new()
    };
    if args.json {
        let rendered: Vec<String> = found.iter().map(render_counterexample).collect();
        let json = serde_json::json!({ "summary": summary, "counterexamples": rendered });
        println!(
            "{}",
            serde_json::to_string_pretty(&json).expect("serialisable")
        );
    } else {
        print!("{}", render_summary(&summary));
        if !found.is_empty() {
            println!("\nCounterexamples found by search and shrunk, one per dropped hypothesis:");
            for c in &found {
                println!("{}", render_counterexample(c));
            }
        }
    }
    Ok(summary.passed())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Groups => groups().map(|()| true),
        Command::Check(args) => check(args),
        Command::Analyze(args) => analyze(args).map(|()| true),
        Command::Reproduce(args) => reproduce(*args).map(|()| true),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("eqens: {e}");
            ExitCode::FAILURE
        }
    }
}
