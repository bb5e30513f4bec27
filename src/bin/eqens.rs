//! The `eqens` command-line tool: list groups, analyse architectures, check the statements
//! of THEORY.md, reproduce the paper's experiment.

use clap::parser::ValueSource;
use clap::{ArgMatches, CommandFactory, FromArgMatches, Parser, Subcommand};
use eqens::group::constructors::BUILTIN_NAMES;
use eqens::group::rotations3d::{Rotations3d, ROTATIONS_3D_NAMES};
use eqens::group::Group;
use std::io::Write;
use std::process::ExitCode;

/// Exit status of `reproduce` when the report (or shard) was written but members diverged.
const EXIT_DIVERGED: u8 = 3;

/// Exit statuses, printed under `eqens reproduce --help`.
const EXIT_HELP: &str = "Exit status: 0 success; 1 error (bad flag value, unusable --out, \
corrupt shard, full disk, …: nothing complete is replaced); 2 usage error; 3 the report or \
shard was written but members diverged (non-finite, or exploded: an epoch's mean loss above \
1e6·ln C or max|θ| above 1e6·max(1, max|θ_0|)); they are left out, listed in report.md and \
counted in results.json (`divergence`) and the printed summary. A closed standard output \
(e.g. `| head`) ends printing silently without changing the status.

Safety: --out is checked before any work; reports and shards are written to a temporary \
sibling and renamed into place; an existing report or shard is replaced only with --force. \
An unsplit run checkpoints to OUT.eqckpt after every epoch of every arm; --resume continues \
it to the same bits as an uninterrupted run. --merge reads the training settings from the \
shard headers (checksummed); training flags given with --merge must agree with them.";

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
    /// controls; exits non-zero if a statement fails, a control fails to fail, or the search
    /// finds no counterexample for some dropped hypothesis.
    Check(CheckArgs),
    /// Analyse a convolutional architecture under a group: dims of T𝓛, H_G, E and 𝓛_0,
    /// invariance (H4) versus NOF compatibility, orthonormality (H5), per-layer equivariance
    /// (H2), and advice.
    Analyze(AnalyzeArgs),
    /// Reproduce the paper's ensemble experiment (Nordenfors & Flinth) on the bundled 8×8
    /// digits or 28×28 MNIST subset with exact grid rotations, and write a report folder.
    #[command(after_help = EXIT_HELP)]
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
    /// Evaluate the union of shard folders or files written with --shard (training settings
    /// are read from the shards).
    #[arg(long, num_args = 1..)]
    merge: Vec<std::path::PathBuf>,
    /// Join the report folders (or results.json files) of runs of disjoint arms with
    /// otherwise equal settings into one report in --out (no training).
    #[arg(long, num_args = 1.., conflicts_with_all = ["merge", "shard"])]
    combine: Vec<std::path::PathBuf>,
    /// Replace an existing report or shard file (and discard an interrupted run's checkpoint).
    #[arg(long)]
    force: bool,
    /// Continue an interrupted run from its checkpoint OUT.eqckpt (same flags as the run).
    #[arg(long, conflicts_with_all = ["shard", "merge"])]
    resume: bool,
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
    /// many random cases per hypothesis (0: skip); a hypothesis without one fails the check.
    #[arg(long, default_value_t = 10)]
    counterexamples: usize,
}

/// Standard output that treats a closed pipe (`eqens groups | head -1`) as the reader having
/// seen enough: further output is dropped silently and the exit status is unchanged.
struct Out;

impl Out {
    fn print(&self, text: &str) -> eqens::Result<()> {
        let mut out = std::io::stdout().lock();
        match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
            Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                Err(eqens::Error::Io(format!("standard output: {e}")))
            }
            _ => Ok(()),
        }
    }

    fn line(&self, text: &str) -> eqens::Result<()> {
        self.print(&format!("{text}\n"))
    }
}

fn groups() -> eqens::Result<()> {
    let mut text = format!("{:<10} {:>6}  elements\n", "group", "order");
    for (name, g) in BUILTIN_NAMES.iter().zip(Group::builtin_list()) {
        let names = g.element_names();
        let shown: Vec<&str> = names.iter().take(8).map(String::as_str).collect();
        let more = if names.len() > 8 { ", …" } else { "" };
        text.push_str(&format!(
            "{:<10} {:>6}  {}{}\n",
            name,
            g.order(),
            shown.join(", "),
            more
        ));
    }
    text.push_str("\nfinite rotation groups of R³ (3×3 rotation matrices; for point clouds):\n");
    for name in ROTATIONS_3D_NAMES {
        let (g, _) = Rotations3d::by_name(name)?.build()?;
        text.push_str(&format!(
            "{:<10} {:>6}  {}\n",
            name,
            g.order(),
            rotations_3d_note(name)
        ));
    }
    Out.print(&text)
}

/// What a 3-D group name stands for, for `eqens groups`.
fn rotations_3d_note(name: &str) -> &'static str {
    match name {
        "t" => "tetrahedral T ≅ A4 (exact)",
        "o" => "octahedral O ≅ S4, T ⊂ O (exact)",
        "i" => "icosahedral I ≅ A5, T ⊂ I (exact in Q(√5))",
        _ => "cN-so3 / dN-so3: C_N about z / D_N with the half-turn about x",
    }
}

fn analyze(args: AnalyzeArgs) -> eqens::Result<()> {
    use eqens::nn::analysis::{analyze_support, render_table};
    use eqens::nn::Support;
    let group = eqens::reproduce::config::parse_group(&args.group)?;
    let support = Support::parse(&args.support)?;
    analyze_memory(&args)?;
    let report = analyze_support(group, &support, args.side, args.channels)?;
    if args.json {
        Out.line(&report.to_json())
    } else {
        Out.print(&render_table(&report))
    }
}

/// Refuses an analysis whose dense matrices cannot fit: the network has P ≥ 10·channels·side²
/// parameters (the dense layer alone), and the analysis builds P×P f64 projectors, so it
/// needs at least 8·P² bytes.
fn analyze_memory(args: &AnalyzeArgs) -> eqens::Result<()> {
    let p = 10u128
        .saturating_mul(args.channels as u128)
        .saturating_mul((args.side as u128).saturating_mul(args.side as u128));
    eqens::limits::check_memory(
        &format!(
            "analyze --side {} --channels {} (P ≥ {p} parameters, P×P matrices)",
            args.side, args.channels
        ),
        8u128.saturating_mul(p.saturating_mul(p)),
    )
}

/// Runs `eqens reproduce`; `Ok(false)` when members diverged (exit status 3).
fn reproduce(args: ReproduceArgs, matches: &ArgMatches) -> eqens::Result<bool> {
    use eqens::reproduce::config::parse_group;
    use eqens::reproduce::{combine_results, write_report, Results};
    use eqens::reproduce::{merge_shards_with, reproduce_shard_with, reproduce_with};
    use eqens::reproduce::{shard_config, summary_table};
    use eqens::reproduce::{
        Arm, DataKind, OodKind, ReproduceConfig, RunOptions, ScalarKind, Shard,
    };
    let given = |id: &str| matches.value_source(id) == Some(ValueSource::CommandLine);
    // A merge starts from the shards' configuration: only flags given explicitly override
    // it (and must then agree with the shards for training settings).
    let base = if args.merge.is_empty() {
        ReproduceConfig::default()
    } else {
        shard_config(&args.merge)?
    };
    let pick = |id: &str| args.merge.is_empty() || given(id);
    // The flag's value when `pick` says it counts, else the base configuration's.
    macro_rules! chosen {
        ($id:literal, $arg:expr, $base:expr) => {
            if pick($id) {
                $arg
            } else {
                $base
            }
        };
    }
    let cfg = ReproduceConfig {
        data: chosen!("data", DataKind::parse(&args.data)?, base.data),
        group: chosen!("group", parse_group(&args.group)?, base.group),
        ood: chosen!("ood", OodKind::parse(&args.ood)?, base.ood),
        steps: chosen!("steps", args.steps, base.steps),
        eval_at: chosen!("eval_at", args.eval_at, base.eval_at.clone()),
        train_limit: chosen!("train_limit", args.train_limit, base.train_limit),
        members: chosen!("members", args.members, base.members),
        epochs: chosen!("epochs", args.epochs, base.epochs),
        lr: chosen!("lr", args.lr, base.lr),
        batch: chosen!("batch", args.batch, base.batch),
        seed: chosen!("seed", args.seed, base.seed),
        arms: chosen!(
            "arms",
            args.arms
                .iter()
                .map(|a| Arm::parse(a))
                .collect::<eqens::Result<_>>()?,
            base.arms.clone()
        ),
        threads: args.threads.unwrap_or(ReproduceConfig::default().threads),
        sizes: chosen!("sizes", args.sizes, base.sizes.clone()),
        resamples: chosen!("resamples", args.resamples, base.resamples),
        ood_len: chosen!("ood_len", args.ood_len, base.ood_len),
        out_dir: args.out,
        shard: args.shard.as_deref().map(Shard::parse).transpose()?,
        scalar: if !pick("f64") {
            base.scalar
        } else if args.f64 {
            ScalarKind::F64
        } else {
            ScalarKind::F32
        },
    };
    cfg.validate()?;
    let opts = RunOptions {
        progress: std::io::IsTerminal::is_terminal(&std::io::stderr()),
        force: args.force,
        resume: args.resume,
    };
    if !args.combine.is_empty() {
        let parts = args
            .combine
            .iter()
            .map(|p| {
                let file = if p.is_dir() {
                    p.join("results.json")
                } else {
                    p.clone()
                };
                Results::load(&file)
            })
            .collect::<eqens::Result<Vec<_>>>()?;
        let results = combine_results(parts)?;
        eqens::reproduce::output::check_report_dir(&cfg.out_dir, args.force)?;
        write_report(&results, &cfg.out_dir)?;
        Out.print(&summary_table(&results))?;
        Out.line(&format!(
            "report written to {}",
            cfg.out_dir.join("report.md").display()
        ))?;
        return Ok(results.divergence.total() == 0);
    }
    if cfg.shard.is_some() {
        let s = reproduce_shard_with(&cfg, &opts)?;
        Out.line(&format!("wrote shard {}", s.path.display()))?;
        if s.divergence.total() > 0 {
            Out.line(&format!(
                "members left out: {} non-finite, {} exploded",
                s.divergence.non_finite, s.divergence.exploded
            ))?;
        }
        return Ok(s.divergence.total() == 0);
    }
    let results = if !args.merge.is_empty() {
        merge_shards_with(&args.merge, &cfg, &opts)?
    } else {
        reproduce_with(&cfg, &opts)?
    };
    Out.print(&summary_table(&results))?;
    Out.line(&format!(
        "report written to {}",
        cfg.out_dir.join("report.md").display()
    ))?;
    Ok(results.divergence.total() == 0)
}

/// Runs `eqens check`; `Ok(false)` when a statement failed or a control did not.
fn check(args: CheckArgs) -> eqens::Result<bool> {
    use eqens::check::{find_counterexamples, render_counterexample, render_summary};
    use eqens::check::{run_checks, CheckConfig};
    eqens::limits::check_threads("--threads", args.threads)?;
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
    // Each dropped hypothesis must break the theorem on some searched case, as a negative
    // control must fail: a search that finds nothing fails the check.
    let missing: Vec<&str> = if args.counterexamples > 0 {
        eqens::check::search::missing_counterexamples(&found)
            .into_iter()
            .map(|p| p.label())
            .collect()
    } else {
        Vec::new()
    };
    if args.json {
        let rendered: Vec<String> = found.iter().map(render_counterexample).collect();
        let json = serde_json::json!({
            "summary": summary,
            "counterexamples": rendered,
            "counterexamples_missing": missing,
        });
        Out.line(&serde_json::to_string_pretty(&json).expect("serialisable"))?;
    } else {
        Out.print(&render_summary(&summary))?;
        if !found.is_empty() {
            Out.line("\nCounterexamples found by search and shrunk, one per dropped hypothesis:")?;
            for c in &found {
                Out.line(&render_counterexample(c))?;
            }
        }
        for label in &missing {
            Out.line(&format!(
                "FAILED: no counterexample found for {label} within {} cases",
                args.counterexamples
            ))?;
        }
    }
    Ok(summary.passed() && missing.is_empty())
}

fn main() -> ExitCode {
    let matches = Cli::command().get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    // An unknown or unsupported EQENS_SIMD is refused before any work (never a silent
    // fallback to another level).
    if let Err(e) = eqens::autodiff::simd::configured() {
        eprintln!("eqens: {e}");
        return ExitCode::FAILURE;
    }
    let result = match cli.command {
        Command::Groups => groups().map(|()| true),
        Command::Check(args) => check(args),
        Command::Analyze(args) => analyze(args).map(|()| true),
        Command::Reproduce(args) => {
            let sub = matches
                .subcommand_matches("reproduce")
                .expect("the reproduce subcommand was parsed");
            match reproduce(*args, sub) {
                Ok(false) => return ExitCode::from(EXIT_DIVERGED),
                other => other,
            }
        }
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
