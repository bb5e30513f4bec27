//! The paper's experiment (`docs/THEORY.md` §4) on the bundled 8×8 digits: ensembles of the
//! paper's network under C4, trained by SGD with rot90 augmentation, evaluated after every
//! epoch. [`reproduce`] runs it and writes the report; [`reproduce_shard`] trains one slice of
//! the members and [`merge_shards`] evaluates the union, bit-identically to [`reproduce`].
//!
//! **Seeds.** The data are fixed ([`SPLIT_SEED`], [`OOD_SEED`]); the master seed s only drives
//! the ensembles. Arm a has its own seed `s ^ salt(a)`, with salt(a) the FNV-1a hash of the
//! arm's name (so an arm gets the same members whichever arms are run alongside it), and
//! member i of arm a draws θ_0, its shuffles and its rotations from one ChaCha8 stream,
//! `member_rng(s ^ salt(a), i)`. The arms are thus independent samples — not paired by common
//! random numbers — which is what the Welch test between arms assumes. Bootstrap resamples of
//! size M use the seed `member_seed(s ^ salt(a) ^ BOOTSTRAP_SALT, M)`: the same sub-ensembles
//! (by position among the kept members) on both sets and at every epoch.
//!
//! **Parallelism.** Members (training, logits) and bootstrap resamples run through
//! [`run_members`], results in order; sums run in member or resample order, so nothing depends
//! on the thread count. Workspaces are reused across tasks, at most one per thread.
//!
//! **Divergence.** A member whose training loss or θ becomes non-finite, or whose logits are
//! non-finite, is dropped from that epoch on and recorded in `ArmResult::diverged_members`.

use super::evaluate::{compare_arms, evaluate_epoch, member_logits, EvalSet, EvalSpec};
use super::report::write_report;
use super::results::{
    ArmResult, EpochEval, Results, RunInfo, ARM_NAMES, PAPER_RESAMPLES, PAPER_SIZES, SET_OOD,
    SET_TEST,
};
use super::shard::{
    open_shards, shard_file_name, ArmSection, ShardHeader, ShardWriter, TrainingKey, SHARD_FORMAT,
};
use crate::autodiff::Tape;
use crate::data::{digits_split, smoothed_noise_images};
use crate::ensemble::{member_rng, member_seed, run_members, Shard};
use crate::nn::{GroupNetwork, Network, PaperBasis, Support, Target};
use crate::rep::{GridGroup, Rep};
use crate::train::{
    init_theta, sgd_epoch, Augmentation, InitLaw, Law, Samples, SgdConfig, Workspace,
};
use crate::{Error, Result, Scalar};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rand_chacha::ChaCha8Rng;
use std::io::IsTerminal;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Instant;

/// Fraction of the digits held out as the in-distribution test set.
pub const TEST_FRACTION: f64 = 0.2;
/// Seed of the train/test split of the digits (fixed: the data do not change with `--seed`).
pub const SPLIT_SEED: u64 = 0;
/// Seed of the out-of-distribution smoothed-noise images (fixed, like the split).
pub const OOD_SEED: u64 = 0x00D0_00D0;
/// Side of the digit images.
pub const IMAGE_SIDE: usize = 8;
/// Standard deviation of the initial coefficients (the paper: N(0, 1)).
pub const INIT_SCALE: f64 = 1.0;
/// Salt of the bootstrap seeds (FNV-1a of `bootstrap`), keeping them apart from member seeds.
const BOOTSTRAP_SALT: u64 = fnv1a("bootstrap");

/// FNV-1a, 64 bits, of a name (a stable salt, not cryptographic).
const fn fnv1a(name: &str) -> u64 {
    let bytes = name.as_bytes();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        h = (h ^ bytes[i] as u64).wrapping_mul(0x0100_0000_01b3);
        i += 1;
    }
    h
}

/// One arm of the experiment: an architecture 𝓛 (filter support Ω) and an initial law.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Arm {
    /// 𝓛^sym: plus + centre support, i.i.d. N(0, 1) init.
    Sym,
    /// 𝓛^as: plus without centre + corner, symmetric init (zero outside 𝓛_0: corner = 0).
    AsSymInit,
    /// 𝓛^as with i.i.d. N(0, 1) init.
    AsAsymInit,
    /// 𝓛^cnn: the full 3×3 filter, i.i.d. N(0, 1) init.
    Cnn,
}

impl Arm {
    /// The four arms in the paper's order.
    pub const ALL: [Arm; 4] = [Arm::Sym, Arm::AsSymInit, Arm::AsAsymInit, Arm::Cnn];

    /// The arm's name (`sym`, `as-syminit`, `as-asyminit`, `cnn`).
    pub fn name(self) -> &'static str {
        ARM_NAMES[self as usize]
    }

    /// Parses an arm name; unknown names are [`Error::Invalid`] listing the valid ones.
    pub fn parse(name: &str) -> Result<Arm> {
        Arm::ALL
            .into_iter()
            .find(|a| a.name() == name.trim())
            .ok_or_else(|| {
                Error::Invalid(format!(
                    "unknown arm `{name}` (expected one of {})",
                    ARM_NAMES.join(", ")
                ))
            })
    }

    /// The filter support Ω of the arm's convolutions.
    pub fn support(self) -> Support {
        match self {
            Arm::Sym => Support::plus(),
            Arm::AsSymInit | Arm::AsAsymInit => Support::plus_corner(),
            Arm::Cnn => Support::full(3),
        }
    }

    /// The arm's initial law μ_0 of θ.
    pub fn init_law(self) -> InitLaw {
        match self {
            Arm::AsSymInit => InitLaw::Symmetric { scale: INIT_SCALE },
            _ => InitLaw::Gaussian { scale: INIT_SCALE },
        }
    }

    /// Name of the initial law: `iid` or `symmetric`.
    pub fn init_name(self) -> &'static str {
        match self.init_law() {
            InitLaw::Symmetric { .. } => "symmetric",
            InitLaw::Gaussian { .. } => "iid",
        }
    }

    /// The paper's network on 8×8 digits with this arm's support, under C4 rotations.
    pub fn network(self) -> Result<GroupNetwork> {
        let net = Network::paper(IMAGE_SIDE, &self.support(), PaperBasis::Orthonormal)?;
        GroupNetwork::on_images(net, GridGroup::C4)
    }

    /// The arm's seed under master seed s: s ^ FNV-1a(name).
    pub fn seed(self, master: u64) -> u64 {
        master ^ fnv1a(self.name())
    }
}

/// The scalar training runs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScalarKind {
    /// f32 (the default, as the paper's PyTorch code).
    F32,
    /// f64 (`--f64`).
    F64,
}

impl ScalarKind {
    /// `f32` or `f64`.
    pub fn name(self) -> &'static str {
        match self {
            ScalarKind::F32 => "f32",
            ScalarKind::F64 => "f64",
        }
    }
}

/// Configuration of `eqens reproduce`; [`Default`] is the paper's setting.
#[derive(Debug, Clone, PartialEq)]
pub struct ReproduceConfig {
    /// Members per arm (paper: 1000).
    pub members: usize,
    /// Training epochs E (paper: 10); evaluations at 0 = init ..= E.
    pub epochs: usize,
    /// SGD learning rate (paper: 0.01).
    pub lr: f64,
    /// SGD batch size (paper: 32).
    pub batch: usize,
    /// Master seed s.
    pub seed: u64,
    /// Arms to run, in order (default: all four).
    pub arms: Vec<Arm>,
    /// Worker threads (results never depend on it).
    pub threads: usize,
    /// Ensemble sizes M (paper: 5 … 1000); sizes above `members` are dropped.
    pub sizes: Vec<usize>,
    /// Bootstrap resamples per size (paper: 30).
    pub resamples: usize,
    /// Number of out-of-distribution images.
    pub ood_len: usize,
    /// Output folder: the report, or the shard file of a sharded run.
    pub out_dir: PathBuf,
    /// Train only this slice of the members ([`reproduce_shard`]).
    pub shard: Option<Shard>,
    /// Training scalar.
    pub scalar: ScalarKind,
}

impl Default for ReproduceConfig {
    fn default() -> Self {
        ReproduceConfig {
            members: 1000,
            epochs: 10,
            lr: 0.01,
            batch: 32,
            seed: 0,
            arms: Arm::ALL.to_vec(),
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            sizes: PAPER_SIZES.to_vec(),
            resamples: PAPER_RESAMPLES,
            ood_len: 360,
            out_dir: PathBuf::from("eqens-reproduce"),
            shard: None,
            scalar: ScalarKind::F32,
        }
    }
}

impl ReproduceConfig {
    /// Checks every field; bad values are [`Error::Invalid`] naming the flag.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Invalid(m));
        if self.members == 0 {
            return bad("--members must be at least 1".into());
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return bad(format!("--lr must be finite and positive, got {}", self.lr));
        }
        if self.batch == 0 {
            return bad("--batch must be at least 1".into());
        }
        if self.threads == 0 {
            return bad("--threads must be at least 1".into());
        }
        if self.arms.is_empty() {
            return bad("--arms: no arm selected".into());
        }
        for (i, a) in self.arms.iter().enumerate() {
            if self.arms[..i].contains(a) {
                return bad(format!("--arms: `{}` is listed twice", a.name()));
            }
        }
        if self.sizes.contains(&0) {
            return bad("--sizes: ensemble sizes must be at least 1".into());
        }
        if self.used_sizes().is_empty() {
            return bad(format!(
                "--sizes: no ensemble size in {:?} is at most --members {}",
                self.sizes, self.members
            ));
        }
        if self.resamples < 2 {
            return bad(format!(
                "--resamples must be at least 2 (for a standard deviation), got {}",
                self.resamples
            ));
        }
        if self.ood_len == 0 {
            return bad("--ood-len must be at least 1".into());
        }
        Ok(())
    }

    /// The sizes M evaluated: the configured ones ≤ members, sorted, without repeats.
    pub fn used_sizes(&self) -> Vec<usize> {
        let mut s: Vec<usize> = self
            .sizes
            .iter()
            .copied()
            .filter(|&m| m <= self.members)
            .collect();
        s.sort_unstable();
        s.dedup();
        s
    }

    /// What determines the trained θ (shards merge only if it agrees).
    pub fn training_key(&self) -> TrainingKey {
        TrainingKey {
            members: self.members,
            epochs: self.epochs,
            lr: self.lr,
            batch: self.batch,
            seed: self.seed,
            scalar: self.scalar.name().into(),
            arms: self.arms.iter().map(|a| a.name().into()).collect(),
        }
    }

    fn sgd(&self) -> SgdConfig {
        SgdConfig {
            lr: self.lr,
            batch: self.batch,
            epochs: self.epochs,
            shuffle: true,
        }
    }
}

fn bootstrap_seed(arm_seed: u64, m: usize) -> u64 {
    member_seed(arm_seed ^ BOOTSTRAP_SALT, m)
}

/// Reusable scratch objects (workspaces, tapes): a task takes one or makes one, and gives it
/// back, so at most one per running thread exists. They hold buffers only, never results.
struct Scratch<S>(Mutex<Vec<S>>);

impl<S> Scratch<S> {
    fn new() -> Self {
        Scratch(Mutex::new(Vec::new()))
    }

    fn with<R>(&self, make: impl FnOnce() -> S, f: impl FnOnce(&mut S) -> R) -> R {
        let taken = self.0.lock().expect("scratch lock").pop();
        let mut s = taken.unwrap_or_else(make);
        let r = f(&mut s);
        self.0.lock().expect("scratch lock").push(s);
        r
    }
}

/// The data of a run, in the training scalar.
struct Setup<T> {
    train_x: Vec<T>,
    train_labels: Vec<usize>,
    sets: Vec<EvalSet<T>>,
    law: Law,
    group_order: usize,
    sizes: Vec<usize>,
    threads: usize,
}

impl<T: Scalar> Setup<T> {
    fn new(cfg: &ReproduceConfig) -> Result<Setup<T>> {
        cfg.validate()?;
        crate::autodiff::simd::configured()?;
        let split = digits_split(TEST_FRACTION, SPLIT_SEED)?;
        let ood = smoothed_noise_images(cfg.ood_len, 1, IMAGE_SIDE, IMAGE_SIDE, OOD_SEED)?;
        let rho_x = Rep::grid(GridGroup::C4, IMAGE_SIDE, IMAGE_SIDE)?;
        let labels = |d: &crate::data::Dataset| {
            d.labels
                .clone()
                .ok_or_else(|| Error::Data("the digits have no labels".into()))
        };
        let sets = vec![
            EvalSet::new(
                SET_TEST,
                &split.test.inputs,
                Some(labels(&split.test)?),
                &rho_x,
            ),
            EvalSet::new(SET_OOD, &ood.inputs, None, &rho_x),
        ];
        Ok(Setup {
            train_x: split.train.inputs.iter().map(|&v| T::of(v)).collect(),
            train_labels: labels(&split.train)?,
            sets,
            law: Augmentation::Full.law(rho_x.group())?,
            group_order: rho_x.group().order(),
            sizes: cfg.used_sizes(),
            threads: cfg.threads,
        })
    }

    fn run_info(&self, cfg: &ReproduceConfig, elapsed_secs: f64) -> RunInfo {
        RunInfo {
            version: env!("CARGO_PKG_VERSION").into(),
            seed: cfg.seed,
            members: cfg.members,
            epochs: cfg.epochs,
            lr: cfg.lr,
            batch: cfg.batch,
            threads: cfg.threads,
            elapsed_secs,
            sizes: self.sizes.clone(),
            resamples: cfg.resamples,
            train_len: self.train_labels.len(),
            test_len: self.sets[0].n,
            ood_len: self.sets[1].n,
            scalar: cfg.scalar.name().into(),
            simd: crate::autodiff::simd::configured()
                .map_or_else(|e| e.to_string(), |l| l.name().into()),
        }
    }
}

/// One member during training: θ, its own RNG stream, whether it is still in the ensemble.
struct Member<T> {
    index: usize,
    theta: Vec<T>,
    rng: ChaCha8Rng,
    alive: bool,
}

/// What one member's training epoch gave: `None` if it was already out, the mean loss, or the
/// message of its divergence.
type EpochOutcome = Option<std::result::Result<f64, String>>;

/// Draws θ_0 for members `range` of `arm` (in parallel, in member order).
fn init_members<T: Scalar>(
    threads: usize,
    gnet: &GroupNetwork,
    arm: Arm,
    seed: u64,
    range: Range<usize>,
) -> Result<Vec<Member<T>>> {
    let law = arm.init_law();
    run_members(range, threads, |index| {
        let mut rng = member_rng(seed, index);
        let theta = init_theta(gnet, &law, &mut rng)?;
        Ok(Member {
            index,
            theta: theta.into_iter().map(T::of).collect(),
            rng,
            alive: true,
        })
    })?
    .into_iter()
    .collect()
}

/// One SGD epoch for every alive member, in parallel. A divergence becomes that member's
/// outcome; any other error aborts.
fn train_epoch<T: Scalar>(
    setup: &Setup<T>,
    gnet: &GroupNetwork,
    cfg: &SgdConfig,
    members: &mut [Member<T>],
    epoch: usize,
    bar: &ProgressBar,
) -> Result<Vec<EpochOutcome>> {
    let data = Samples {
        x: &setup.train_x,
        n: setup.train_labels.len(),
        target: Target::Labels(&setup.train_labels),
    };
    let cells: Vec<Mutex<&mut Member<T>>> = members.iter_mut().map(Mutex::new).collect();
    let workspaces = Scratch::new();
    let outcomes = run_members(0..cells.len(), setup.threads, |i| -> Result<EpochOutcome> {
        let mut m = cells[i].lock().expect("one task per member");
        if !m.alive {
            return Ok(None);
        }
        let Member { theta, rng, .. } = &mut **m;
        let r = workspaces.with(
            || Workspace::<T>::new(gnet),
            |ws| sgd_epoch(gnet, ws, theta, &data, cfg, &setup.law, 0, rng),
        );
        bar.inc(1);
        match r {
            Ok(loss) => Ok(Some(Ok(loss))),
            Err(Error::Diverged { step, what, .. }) => Ok(Some(Err(format!(
                "epoch {epoch}, step {step}: {what} is not finite"
            )))),
            Err(e) => Err(e),
        }
    })?;
    outcomes.into_iter().collect()
}

/// Evaluates one arm epoch by epoch and records the members it drops.
struct ArmEvaluator<'a, T> {
    setup: &'a Setup<T>,
    net: &'a Network,
    seed: u64,
    resamples: usize,
    diverged: Vec<(usize, String)>,
    epochs: Vec<EpochEval>,
}

impl<'a, T: Scalar> ArmEvaluator<'a, T> {
    fn new(setup: &'a Setup<T>, gnet: &'a GroupNetwork, seed: u64, resamples: usize) -> Self {
        ArmEvaluator {
            setup,
            net: gnet.network(),
            seed,
            resamples,
            diverged: Vec::new(),
            epochs: Vec::new(),
        }
    }

    /// Evaluates `epoch` for the candidates (member index, θ, loss of this epoch), in member
    /// order; returns the indices of candidates dropped for non-finite logits.
    fn epoch(&mut self, epoch: usize, cands: &[(usize, &[T], Option<f64>)]) -> Result<Vec<usize>> {
        let (setup, net) = (self.setup, self.net);
        let tapes = Scratch::new();
        let logits = run_members(
            0..cands.len(),
            setup.threads,
            |c| -> Result<Vec<Vec<f64>>> {
                tapes.with(Tape::<T>::new, |tape| {
                    setup
                        .sets
                        .iter()
                        .map(|set| member_logits(net, tape, cands[c].1, set, setup.group_order))
                        .collect()
                })
            },
        )?;
        let (mut kept, mut losses, mut dropped) = (Vec::new(), Vec::new(), Vec::new());
        for (&(index, _, loss), l) in cands.iter().zip(logits) {
            let l = l?;
            if l.iter().flatten().all(|v| v.is_finite()) {
                kept.push(l);
                losses.extend(loss);
            } else {
                self.diverged
                    .push((index, format!("epoch {epoch}: non-finite logits")));
                dropped.push(index);
            }
        }
        let spec = EvalSpec {
            group_order: setup.group_order,
            classes: net.output_dim(),
            sizes: &setup.sizes,
            resamples: self.resamples,
        };
        let seed = self.seed;
        self.epochs.push(evaluate_epoch(
            setup.threads,
            epoch,
            &setup.sets,
            &kept,
            (epoch > 0).then_some(&losses[..]),
            &spec,
            |m| bootstrap_seed(seed, m),
        )?);
        Ok(dropped)
    }

    fn finish(self, arm: Arm) -> ArmResult {
        ArmResult {
            name: arm.name().into(),
            support: arm.support().name(),
            init: arm.init_name().into(),
            diverged_members: self.diverged,
            epochs: self.epochs,
        }
    }
}

fn mark_dropped<T>(members: &mut [Member<T>], dropped: &[usize]) {
    for m in members.iter_mut().filter(|m| dropped.contains(&m.index)) {
        m.alive = false;
    }
}

/// A progress bar over members × epochs, drawn only if asked and stderr is a terminal.
fn arm_bar(progress: bool, arm: Arm, len: usize) -> ProgressBar {
    let target = if progress && std::io::stderr().is_terminal() {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    };
    let bar = ProgressBar::with_draw_target(Some(len as u64), target);
    if let Ok(style) =
        ProgressStyle::with_template("{prefix:>12} [{bar:30}] {pos}/{len} member-epochs, ETA {eta}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_prefix(arm.name());
    bar
}

fn run_arm<T: Scalar>(
    setup: &Setup<T>,
    cfg: &ReproduceConfig,
    arm: Arm,
    progress: bool,
) -> Result<ArmResult> {
    let gnet = arm.network()?;
    let seed = arm.seed(cfg.seed);
    let sgd = cfg.sgd();
    let mut members = init_members::<T>(setup.threads, &gnet, arm, seed, 0..cfg.members)?;
    let bar = arm_bar(progress, arm, cfg.members * cfg.epochs);
    let mut ev = ArmEvaluator::new(setup, &gnet, seed, cfg.resamples);
    for epoch in 0..=cfg.epochs {
        let mut losses = vec![None; members.len()];
        if epoch > 0 {
            let outcomes = train_epoch(setup, &gnet, &sgd, &mut members, epoch, &bar)?;
            for ((m, o), loss) in members.iter_mut().zip(outcomes).zip(&mut losses) {
                match o {
                    Some(Ok(l)) => *loss = Some(l),
                    Some(Err(msg)) => {
                        m.alive = false;
                        ev.diverged.push((m.index, msg));
                    }
                    None => {}
                }
            }
        }
        let cands: Vec<(usize, &[T], Option<f64>)> = members
            .iter()
            .zip(&losses)
            .filter(|(m, _)| m.alive)
            .map(|(m, &l)| (m.index, &m.theta[..], l))
            .collect();
        let dropped = ev.epoch(epoch, &cands)?;
        mark_dropped(&mut members, &dropped);
    }
    bar.finish_and_clear();
    Ok(ev.finish(arm))
}

/// Compares the arms, stamps the run information, writes the report folder and returns the
/// results: the common end of an unsplit run and of a merge.
fn finish<T: Scalar>(
    setup: &Setup<T>,
    cfg: &ReproduceConfig,
    arms: Vec<ArmResult>,
    start: Instant,
) -> Result<Results> {
    let results = Results {
        comparison: compare_arms(&arms),
        run: setup.run_info(cfg, start.elapsed().as_secs_f64()),
        arms,
    };
    write_report(&results, &cfg.out_dir)?;
    Ok(results)
}

fn reproduce_in<T: Scalar>(cfg: &ReproduceConfig, progress: bool) -> Result<Results> {
    let start = Instant::now();
    let setup = Setup::<T>::new(cfg)?;
    let arms = cfg
        .arms
        .iter()
        .map(|&arm| run_arm(&setup, cfg, arm, progress))
        .collect::<Result<Vec<_>>>()?;
    finish(&setup, cfg, arms, start)
}

/// Runs the experiment (every member of every arm, evaluated at epochs 0..=E), writes the
/// report folder to `cfg.out_dir` ([`write_report`]) and returns the results. `progress`
/// draws one bar per arm when stderr is a terminal. Errors on a bad configuration, on a
/// configuration with `shard` set (use [`reproduce_shard`]), if every member of an arm
/// diverges, or on I/O failure.
pub fn reproduce(cfg: &ReproduceConfig, progress: bool) -> Result<Results> {
    if let Some(s) = cfg.shard {
        return Err(Error::Invalid(format!(
            "shard {s} given: a sharded run trains only and is written with reproduce_shard"
        )));
    }
    match cfg.scalar {
        ScalarKind::F32 => reproduce_in::<f32>(cfg, progress),
        ScalarKind::F64 => reproduce_in::<f64>(cfg, progress),
    }
}

fn shard_in<T: Scalar>(cfg: &ReproduceConfig, shard: Shard, progress: bool) -> Result<PathBuf> {
    let setup = Setup::<T>::new(cfg)?;
    let range = shard.members(cfg.members);
    std::fs::create_dir_all(&cfg.out_dir)
        .map_err(|e| Error::Io(format!("{}: {e}", cfg.out_dir.display())))?;
    let mut writer = ShardWriter::create(&cfg.out_dir.join(shard_file_name(&shard)))?;
    let sgd = cfg.sgd();
    let mut sections = Vec::new();
    for &arm in &cfg.arms {
        let gnet = arm.network()?;
        let seed = arm.seed(cfg.seed);
        let mut members = init_members::<T>(setup.threads, &gnet, arm, seed, range.clone())?;
        let bar = arm_bar(progress, arm, range.len() * cfg.epochs);
        let mut diverged = Vec::new();
        writer.epoch(None, members.iter().map(|m| &m.theta[..]))?;
        for epoch in 1..=cfg.epochs {
            let outcomes = train_epoch(&setup, &gnet, &sgd, &mut members, epoch, &bar)?;
            let mut losses = vec![f64::NAN; members.len()];
            for ((m, o), loss) in members.iter_mut().zip(outcomes).zip(&mut losses) {
                match o {
                    Some(Ok(l)) => *loss = l,
                    Some(Err(msg)) => {
                        m.alive = false;
                        diverged.push((m.index, epoch, msg));
                    }
                    None => {}
                }
            }
            writer.epoch(Some(&losses), members.iter().map(|m| &m.theta[..]))?;
        }
        bar.finish_and_clear();
        sections.push(ArmSection {
            name: arm.name().into(),
            num_params: gnet.network().num_params(),
            start: range.start,
            end: range.end,
            diverged,
        });
    }
    writer.finish(&ShardHeader {
        format: SHARD_FORMAT,
        version: env!("CARGO_PKG_VERSION").into(),
        training: cfg.training_key(),
        shard: shard.to_string(),
        arms: sections,
    })
}

/// Trains slice `cfg.shard` of the members of every arm and writes their θ at every epoch
/// (with losses and divergences) to `cfg.out_dir/shard-i-of-n.eqshard`; returns that path.
/// Errors if `cfg.shard` is `None`, on a bad configuration, or on I/O failure.
pub fn reproduce_shard(cfg: &ReproduceConfig, progress: bool) -> Result<PathBuf> {
    let shard = cfg
        .shard
        .ok_or_else(|| Error::Invalid("reproduce_shard needs a shard (--shard i/n)".into()))?;
    match cfg.scalar {
        ScalarKind::F32 => shard_in::<f32>(cfg, shard, progress),
        ScalarKind::F64 => shard_in::<f64>(cfg, shard, progress),
    }
}

fn merge_in<T: Scalar>(dirs: &[PathBuf], cfg: &ReproduceConfig) -> Result<Results> {
    let start = Instant::now();
    let setup = Setup::<T>::new(cfg)?;
    let shards = open_shards(dirs, &cfg.training_key())?;
    let mut arms = Vec::new();
    for (a, &arm) in cfg.arms.iter().enumerate() {
        let gnet = arm.network()?;
        let p = gnet.network().num_params();
        if let Some(s) = shards.iter().find(|s| s.header.arms[a].num_params != p) {
            return Err(Error::Data(format!(
                "{}: arm `{}` has {} parameters, this eqens builds {p}",
                s.path.display(),
                arm.name(),
                s.header.arms[a].num_params
            )));
        }
        let n = cfg.members;
        let mut diverged_at: Vec<Option<(usize, &str)>> = vec![None; n];
        for s in &shards {
            for (i, e, msg) in &s.header.arms[a].diverged {
                let slot = diverged_at.get_mut(*i).ok_or_else(|| {
                    Error::Data(format!(
                        "{}: diverged member {i} out of range",
                        s.path.display()
                    ))
                })?;
                *slot = Some((*e, msg.as_str()));
            }
        }
        let mut thetas = vec![T::zero(); n * p];
        let mut losses = vec![f64::NAN; n];
        let mut alive = vec![true; n];
        let mut ev = ArmEvaluator::new(&setup, &gnet, arm.seed(cfg.seed), cfg.resamples);
        for epoch in 0..=cfg.epochs {
            for s in &shards {
                let sec = &s.header.arms[a];
                s.read_epoch(
                    a,
                    epoch,
                    &mut losses[sec.start..sec.end],
                    &mut thetas[sec.start * p..sec.end * p],
                )?;
            }
            for (i, d) in diverged_at.iter().enumerate() {
                if let Some((e, msg)) = d {
                    if *e == epoch && alive[i] {
                        alive[i] = false;
                        ev.diverged.push((i, msg.to_string()));
                    }
                }
            }
            let cands: Vec<(usize, &[T], Option<f64>)> = (0..n)
                .filter(|&i| alive[i])
                .map(|i| {
                    (
                        i,
                        &thetas[i * p..(i + 1) * p],
                        (epoch > 0).then_some(losses[i]),
                    )
                })
                .collect();
            for i in ev.epoch(epoch, &cands)? {
                alive[i] = false;
            }
        }
        arms.push(ev.finish(arm));
    }
    finish(&setup, cfg, arms, start)
}

/// Loads the shard files in `dirs` (directories contribute every `.eqshard` file in them),
/// checks that they were trained with `cfg`'s training settings and cover every member of
/// every arm exactly once, evaluates them with `cfg`'s evaluation settings (sizes,
/// resamples, OOD set) exactly as [`reproduce`] would, writes the report to `cfg.out_dir`
/// and returns the results. Overlapping or missing members and mismatched configurations
/// are errors.
pub fn merge_shards(dirs: &[PathBuf], cfg: &ReproduceConfig) -> Result<Results> {
    match cfg.scalar {
        ScalarKind::F32 => merge_in::<f32>(dirs, cfg),
        ScalarKind::F64 => merge_in::<f64>(dirs, cfg),
    }
}
