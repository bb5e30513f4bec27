//! The paper's experiment (`docs/THEORY.md` §4) on the bundled 8×8 digits or 28×28 MNIST
//! subset: ensembles of the paper's network under a grid group (C2, C4, D4), trained by SGD
//! with full augmentation, evaluated at the chosen epochs ([`ReproduceConfig`]). [`reproduce`] runs it and writes the report; [`reproduce_shard`] trains one slice of
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

use super::checkpoint::{
    checkpoint_path, decode_theta, encode_theta, ArmState, Checkpoint, Checkpointer, MemberState,
};
use super::config::fnv1a;
pub use super::config::{
    group_name, parse_group, Arm, ArmInit, DataKind, OodKind, ReproduceConfig, ScalarKind,
    INIT_SCALE, PRESET_ARMS,
};
use super::evaluate::{compare_arms, evaluate_epoch, member_logits, EvalSet, EvalSpec};
use super::output::{check_report_dir, check_shard_file, write_file_atomic};
use super::report::write_report;
use super::results::{
    ArmArchitecture, ArmResult, Divergence, EpochEval, Results, RunInfo, EXPLODED,
    EXPLODED_LOSS_FACTOR, EXPLODED_THETA_FACTOR, SET_OOD, SET_TEST,
};
use super::shard::{
    config_difference, open_shards, shard_file_name, ArmSection, ShardFile, ShardHeader,
    ShardWriter, EVAL_FIELDS, SHARD_FORMAT,
};
use crate::autodiff::Tape;
use crate::data::{
    area_resize, digits_split, load_mnist5k, load_natural28, smoothed_noise_images,
    stratified_split, Dataset, SIDE28,
};
use crate::ensemble::{member_rng, member_seed, run_members, Shard};
use crate::nn::analysis::{analyze_support, Verdict};
use crate::nn::{GroupNetwork, Network, PaperBasis, Target};
use crate::rep::{GridGroup, Rep};
use crate::train::{init_theta, sgd_epoch, Augmentation, Law, Samples, SgdConfig, Workspace};
use crate::{Error, Result, Scalar};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rand_chacha::ChaCha8Rng;
use std::io::IsTerminal;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

mod sharded;
pub use sharded::*;

/// Fraction of the digits held out as the in-distribution test set.
pub const TEST_FRACTION: f64 = 0.2;
/// Seed of the train/test split (fixed: the data do not change with `--seed`).
pub const SPLIT_SEED: u64 = 0;
/// Seed of the out-of-distribution smoothed-noise images (fixed, like the split).
pub const OOD_SEED: u64 = 0x00D0_00D0;
/// Side of the digit images.
pub const IMAGE_SIDE: usize = 8;
/// Side and channels of the network `eqens analyze` builds by default, used for each arm's
/// H4 verdict (the verdict depends on the support and the group, not on these sizes).
pub const ANALYZE_SIDE: usize = 8;
/// Channels of the analysed network (as `eqens analyze`'s default).
pub const ANALYZE_CHANNELS: usize = 4;
/// Salt of the bootstrap seeds (FNV-1a of `bootstrap`), keeping them apart from member seeds.
const BOOTSTRAP_SALT: u64 = fnv1a("bootstrap");

/// The paper's network on `side`×`side` images with `arm`'s support, under `group`.
pub fn arm_network(arm: &Arm, side: usize, group: GridGroup) -> Result<GroupNetwork> {
    let net = Network::paper(side, arm.support(), PaperBasis::Orthonormal)?;
    GroupNetwork::on_images(net, group)
}

/// The arm's H4 / compatibility verdict under `group`, exactly as `eqens analyze --group …
/// --support …` computes it, and what the theory predicts for ‖E D‖².
pub fn arm_architecture(arm: &Arm, group: GridGroup) -> Result<ArmArchitecture> {
    let report = analyze_support(group, arm.support(), ANALYZE_SIDE, ANALYZE_CHANNELS)?;
    let holds = report.hypotheses_hold();
    let prediction = if holds {
        "0 (H1–H7 hold: the ensemble is equivariant at every training time)"
    } else if report.verdict != Verdict::Invariant && arm.init() == ArmInit::Sym {
        "open (not invariant, but the init starts in 𝓛_0; not covered by the theorem)"
    } else {
        "> 0 expected (hypotheses fail; no invariant initial law on 𝓛)"
    };
    Ok(ArmArchitecture {
        group: group_name(group),
        verdict: report.verdict.label().into(),
        hypotheses_hold: holds,
        summary: report.summary,
        prediction: prediction.into(),
    })
}

fn bootstrap_seed(arm_seed: u64, m: usize) -> u64 {
    member_seed(arm_seed ^ BOOTSTRAP_SALT, m)
}

/// A pool of reusable scratch objects (workspaces, tapes): a task takes one or makes one, and gives it
/// back, so at most one per running thread exists. They hold buffers only, never results.
struct Pool<S>(Mutex<Vec<S>>);

impl<S> Pool<S> {
    fn new() -> Self {
        Pool(Mutex::new(Vec::new()))
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
pub(crate) struct Setup<T> {
    pub(crate) train_x: Vec<T>,
    pub(crate) train_labels: Vec<usize>,
    sets: Vec<EvalSet<T>>,
    pub(crate) law: Law,
    pub(crate) group: GridGroup,
    pub(crate) side: usize,
    group_order: usize,
    sizes: Vec<usize>,
    threads: usize,
    /// Training epochs E (from `--epochs` or `--steps`).
    pub(crate) epochs: usize,
    /// Epochs evaluated, increasing, ending at E.
    eval_epochs: Vec<usize>,
    /// Mean and std of the raw training pixels (the normalisation).
    norm: (f64, f64),
}

/// The training subset kept by `--train-limit n`: samples ordered by (rank within their
/// class, class) — round-robin over the classes in storage order — and the first n kept,
/// in storage order.
fn limit_training(train: Dataset, limit: Option<usize>) -> Result<Dataset> {
    let Some(n) = limit else { return Ok(train) };
    if n >= train.len() {
        return Ok(train);
    }
    let labels = train
        .labels
        .as_ref()
        .ok_or_else(|| Error::Data("the training set has no labels".into()))?;
    let mut seen = vec![0usize; train.num_classes];
    let mut keys: Vec<(usize, usize, usize)> = labels
        .iter()
        .enumerate()
        .map(|(i, &l)| {
            seen[l] += 1;
            (seen[l], l, i)
        })
        .collect();
    keys.sort_unstable();
    let mut keep: Vec<usize> = keys[..n].iter().map(|k| k.2).collect();
    keep.sort_unstable();
    train.subset(&keep)
}

/// The natural patches for `side`×`side` inputs: `len` patches taken round-robin over the
/// 12 source photographs (patch t of source s is row 100·s + t; pick j is source j mod 12,
/// patch ⌊j / 12⌋), scaled to [0, 1] by /255 and not normalised (as the paper's OOD set);
/// for side 8, area-resized 28 → 8 ([`area_resize`], 3.5×3.5-pixel boxes).
pub fn natural_ood(len: usize, side: usize) -> Result<Dataset> {
    let (all, sources) = load_natural28()?;
    let mut names: Vec<&str> = Vec::new();
    for s in &sources {
        if !names.contains(&s.as_str()) {
            names.push(s);
        }
    }
    let by_source: Vec<Vec<usize>> = names
        .iter()
        .map(|n| (0..sources.len()).filter(|&i| sources[i] == *n).collect())
        .collect();
    let per = by_source.iter().map(Vec::len).min().unwrap_or(0);
    if len > per * by_source.len() {
        return Err(Error::Invalid(format!(
            "--ood-len {len}: the natural set has {} patches usable round-robin ({} sources × {per})",
            per * by_source.len(),
            by_source.len()
        )));
    }
    let pick: Vec<usize> = (0..len)
        .map(|j| by_source[j % by_source.len()][j / by_source.len()])
        .collect();
    let chosen = all.subset(&pick)?;
    let scaled: Vec<f64> = chosen.inputs.iter().map(|v| v / 255.0).collect();
    let inputs = if side == SIDE28 {
        scaled
    } else {
        area_resize(&scaled, SIDE28, side)?
    };
    Dataset::new(inputs, vec![1, side, side], None, None, 0, 0)
}

impl<T: Scalar> Setup<T> {
    pub(crate) fn new(cfg: &ReproduceConfig) -> Result<Setup<T>> {
        cfg.validate()?;
        crate::autodiff::simd::configured()?;
        let side = cfg.data.side();
        let (train, test, norm) = match cfg.data {
            DataKind::Digits if cfg.train_limit.is_none() => {
                let split = digits_split(TEST_FRACTION, SPLIT_SEED)?;
                (split.train, split.test, (split.mean, split.std))
            }
            DataKind::Digits | DataKind::Mnist => {
                let all = match cfg.data {
                    DataKind::Digits => crate::data::load_digits()?,
                    DataKind::Mnist => load_mnist5k()?,
                };
                let (train, mut test) =
                    stratified_split(&all, cfg.data.test_fraction(), SPLIT_SEED)?;
                let mut train = limit_training(train, cfg.train_limit)?;
                let (mean, std) = train.value_mean_std();
                train.normalise_with(mean, std)?;
                test.normalise_with(mean, std)?;
                (train, test, (mean, std))
            }
        };
        let ood = match cfg.ood {
            OodKind::Natural => natural_ood(cfg.ood_len, side)?,
            OodKind::Noise => smoothed_noise_images(cfg.ood_len, 1, side, side, OOD_SEED)?,
        };
        let rho_x = Rep::grid(cfg.group, side, side)?;
        let labels = |d: &Dataset| {
            d.labels
                .clone()
                .ok_or_else(|| Error::Data("the training data have no labels".into()))
        };
        let sets = vec![
            EvalSet::new(SET_TEST, &test.inputs, Some(labels(&test)?), &rho_x),
            EvalSet::new(SET_OOD, &ood.inputs, None, &rho_x),
        ];
        let train_labels = labels(&train)?;
        let epochs = cfg.resolved_epochs(train_labels.len())?;
        let train_len = train_labels.len();
        if cfg.batch > train_len {
            return Err(Error::Invalid(format!(
                "--batch {} is larger than the {train_len} training samples",
                cfg.batch
            )));
        }
        check_memory::<T>(cfg, &sets)?;
        Ok(Setup {
            train_x: train.inputs.iter().map(|&v| T::of(v)).collect(),
            train_labels,
            sets,
            law: Augmentation::Full.law(rho_x.group())?,
            group: cfg.group,
            side,
            group_order: rho_x.group().order(),
            sizes: cfg.used_sizes(),
            threads: cfg.threads,
            epochs,
            eval_epochs: cfg.eval_epochs(epochs),
            norm,
        })
    }

    pub(crate) fn network(&self, arm: &Arm) -> Result<GroupNetwork> {
        arm_network(arm, self.side, self.group)
    }

    fn run_info(
        &self,
        cfg: &ReproduceConfig,
        elapsed_secs: f64,
        shards: usize,
        train_secs: f64,
    ) -> RunInfo {
        let steps_per_epoch = self.train_labels.len().div_ceil(cfg.batch);
        RunInfo {
            version: env!("CARGO_PKG_VERSION").into(),
            seed: cfg.seed,
            members: cfg.members,
            epochs: self.epochs,
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
            data: cfg.data.name().into(),
            group: group_name(cfg.group),
            ood: cfg.ood.name().into(),
            steps_per_member: steps_per_epoch * self.epochs,
            eval_epochs: self.eval_epochs.clone(),
            train_mean: self.norm.0,
            train_std: self.norm.1,
            shards,
            train_secs,
            simd: crate::autodiff::simd::configured()
                .map_or_else(|e| e.to_string(), |l| l.name().into()),
        }
    }
}

/// Errors before any allocation if the run's main arrays cannot fit in this machine's
/// memory ([`crate::limits::check_memory`]). A lower bound: every member's θ in the training
/// scalar, plus (unless only training a shard) its logits on every evaluation set (|G| · C
/// f64 per image), which the bootstrap keeps for all members of an epoch.
fn check_memory<T: Scalar>(cfg: &ReproduceConfig, sets: &[EvalSet<T>]) -> Result<()> {
    let mut params = 0u128;
    let mut classes = 0u128;
    for arm in &cfg.arms {
        let net = arm_network(arm, cfg.data.side(), cfg.group)?;
        params = params.max(net.network().num_params() as u128);
        classes = classes.max(net.network().output_dim() as u128);
    }
    let (members, logits) = match cfg.shard {
        Some(s) => (s.members(cfg.members).len() as u128, 0),
        None => {
            let images: u128 = sets.iter().map(|s| s.n as u128).sum();
            (cfg.members as u128, images * 4 * classes * 8)
        }
    };
    let per_member = params * std::mem::size_of::<T>() as u128 + logits;
    crate::limits::check_memory(
        &format!("--members {}", cfg.members),
        members.saturating_mul(per_member),
    )
}

/// One member during training: θ, its own RNG stream, whether it is still in the ensemble.
struct Member<T> {
    index: usize,
    theta: Vec<T>,
    rng: ChaCha8Rng,
    alive: bool,
    /// max|θ_0|, the reference of the explosion bound.
    theta0_max: f64,
}

/// max|v| over `theta` (NaN if any entry is NaN).
fn max_abs<T: Scalar>(theta: &[T]) -> f64 {
    theta.iter().fold(0.0, |m: f64, v| {
        let a = v.f64().abs();
        if a.is_nan() || m.is_nan() {
            f64::NAN
        } else {
            m.max(a)
        }
    })
}

/// What one member's training epoch gave: `None` if it was already out, the mean loss, or the
/// message of its divergence.
type EpochOutcome = Option<std::result::Result<f64, String>>;

/// Draws θ_0 for members `range` of `arm` (in parallel, in member order).
fn init_members<T: Scalar>(
    threads: usize,
    gnet: &GroupNetwork,
    arm: &Arm,
    seed: u64,
    range: Range<usize>,
) -> Result<Vec<Member<T>>> {
    let law = arm.init_law();
    run_members(range, threads, |index| {
        let mut rng = member_rng(seed, index);
        let theta: Vec<T> = init_theta(gnet, &law, &mut rng)?
            .into_iter()
            .map(T::of)
            .collect();
        Ok(Member {
            index,
            theta0_max: max_abs(&theta),
            theta,
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
    let workspaces = Pool::new();
    let outcomes = run_members(0..cells.len(), setup.threads, |i| -> Result<EpochOutcome> {
        let mut m = cells[i].lock().expect("one task per member");
        if !m.alive {
            return Ok(None);
        }
        let Member {
            theta,
            rng,
            theta0_max,
            ..
        } = &mut **m;
        let r = workspaces.with(
            || Workspace::<T>::new(gnet),
            |ws| sgd_epoch(gnet, ws, theta, &data, cfg, &setup.law, 0, rng),
        );
        bar.inc(1);
        let loss_bound = EXPLODED_LOSS_FACTOR * (gnet.network().output_dim() as f64).ln();
        let theta_bound = EXPLODED_THETA_FACTOR * theta0_max.max(1.0);
        match r {
            Ok(loss) if loss > loss_bound => Ok(Some(Err(format!(
                "{EXPLODED}: epoch {epoch}: mean training loss {loss:.3e} above \
                 {EXPLODED_LOSS_FACTOR:e}·ln C = {loss_bound:.3e}"
            )))),
            Ok(loss) if max_abs(theta) > theta_bound => Ok(Some(Err(format!(
                "{EXPLODED}: epoch {epoch}: max|θ| {:.3e} above {EXPLODED_THETA_FACTOR:e}·max(1, \
                 max|θ_0|) = {theta_bound:.3e} (loss {loss:.3e})",
                max_abs(theta)
            )))),
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
        let tapes = Pool::new();
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

    fn finish(self, arm: &Arm, group: GridGroup) -> Result<ArmResult> {
        Ok(ArmResult {
            name: arm.name().into(),
            support: arm.support().name(),
            init: arm.init_name().into(),
            diverged_members: self.diverged,
            epochs: self.epochs,
            architecture: Some(arm_architecture(arm, group)?),
        })
    }
}

fn mark_dropped<T>(members: &mut [Member<T>], dropped: &[usize]) {
    for m in members.iter_mut().filter(|m| dropped.contains(&m.index)) {
        m.alive = false;
    }
}

/// A progress bar over members × epochs, drawn only if asked and stderr is a terminal.
fn arm_bar(progress: bool, arm: &Arm, len: usize) -> ProgressBar {
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
    bar.set_prefix(arm.name().to_string());
    bar
}

/// The state of arm `a`'s members and evaluator after its last evaluated epoch.
fn arm_state<T: Scalar>(
    a: usize,
    epoch: usize,
    members: &[Member<T>],
    ev: &ArmEvaluator<'_, T>,
) -> ArmState {
    ArmState {
        arm: a,
        epoch,
        diverged: ev.diverged.clone(),
        epochs: ev.epochs.clone(),
        members: members
            .iter()
            .map(|m| MemberState {
                index: m.index,
                alive: m.alive,
                rng_word_pos: m.rng.get_word_pos().to_string(),
                theta0_max: m.theta0_max,
                theta: if m.alive {
                    encode_theta(&m.theta)
                } else {
                    String::new()
                },
            })
            .collect(),
    }
}

/// Members restored from a checkpoint: each stream re-seeded and moved to its position.
fn restore_members<T: Scalar>(
    seed: u64,
    state: &ArmState,
    params: usize,
) -> Result<Vec<Member<T>>> {
    state
        .members
        .iter()
        .map(|m| {
            let bad = || Error::Data(format!("checkpoint: member {} is inconsistent", m.index));
            let mut rng = member_rng(seed, m.index);
            rng.set_word_pos(m.rng_word_pos.parse().map_err(|_| bad())?);
            let theta = if m.alive {
                decode_theta(&m.theta, params).ok_or_else(bad)?
            } else {
                vec![T::zero(); params]
            };
            Ok(Member {
                index: m.index,
                theta,
                rng,
                alive: m.alive,
                theta0_max: m.theta0_max,
            })
        })
        .collect()
}

/// Trains and evaluates arm number `a`, from `resume` if given, writing a checkpoint after
/// every evaluated epoch.
fn run_arm<T: Scalar>(
    setup: &Setup<T>,
    cfg: &ReproduceConfig,
    a: usize,
    progress: bool,
    resume: Option<&ArmState>,
    ckpt: &mut Checkpointer,
) -> Result<ArmResult> {
    let arm = &cfg.arms[a];
    let gnet = setup.network(arm)?;
    let seed = arm.seed(cfg.seed);
    let sgd = cfg.sgd(setup.epochs);
    let mut ev = ArmEvaluator::new(setup, &gnet, seed, cfg.resamples);
    let (mut members, first) = match resume {
        Some(state) => {
            ev.diverged = state.diverged.clone();
            ev.epochs = state.epochs.clone();
            let p = gnet.network().num_params();
            (restore_members::<T>(seed, state, p)?, state.epoch + 1)
        }
        None => (
            init_members::<T>(setup.threads, &gnet, arm, seed, 0..cfg.members)?,
            0,
        ),
    };
    let bar = arm_bar(progress, arm, cfg.members * setup.epochs);
    bar.set_position((cfg.members * first.saturating_sub(1)) as u64);
    for epoch in first..=setup.epochs {
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
        if !setup.eval_epochs.contains(&epoch) {
            continue;
        }
        let cands: Vec<(usize, &[T], Option<f64>)> = members
            .iter()
            .zip(&losses)
            .filter(|(m, _)| m.alive)
            .map(|(m, &l)| (m.index, &m.theta[..], l))
            .collect();
        let dropped = ev.epoch(epoch, &cands)?;
        mark_dropped(&mut members, &dropped);
        if ckpt.due() {
            ckpt.save(Some(arm_state(a, epoch, &members, &ev)))?;
        }
    }
    bar.finish_and_clear();
    ev.finish(arm, setup.group)
}

/// Compares the arms, stamps the run information, writes the report folder and returns the
/// results: the common end of an unsplit run and of a merge.
fn finish<T: Scalar>(
    setup: &Setup<T>,
    cfg: &ReproduceConfig,
    arms: Vec<ArmResult>,
    elapsed_secs: f64,
    shards: usize,
    train_secs: f64,
) -> Result<Results> {
    let results = Results {
        comparison: compare_arms(&arms),
        run: setup.run_info(cfg, elapsed_secs, shards, train_secs),
        divergence: Divergence::of(&arms),
        arms,
    };
    write_report(&results, &cfg.out_dir)?;
    Ok(results)
}

fn reproduce_in<T: Scalar>(
    cfg: &ReproduceConfig,
    opts: &RunOptions,
    resumed: Option<Checkpoint>,
) -> Result<Results> {
    let setup = Setup::<T>::new(cfg)?;
    let mut ckpt = Checkpointer::new(cfg, resumed.as_ref());
    let current = resumed.and_then(|c| c.current);
    for a in ckpt.done.len()..cfg.arms.len() {
        let from = current.as_ref().filter(|c| c.arm == a);
        let result = run_arm(&setup, cfg, a, opts.progress, from, &mut ckpt)?;
        ckpt.done.push(result);
        ckpt.save(None)?;
    }
    let secs = ckpt.elapsed_secs();
    let results = finish(&setup, cfg, ckpt.done.clone(), secs, 0, secs)?;
    ckpt.remove()?;
    Ok(results)
}

/// How a run treats existing output: the CLI's `--force` and `--resume`, and progress bars.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RunOptions {
    /// Draw progress bars (when stderr is a terminal).
    pub progress: bool,
    /// Replace an existing report or shard file (`--force`); also discards a checkpoint.
    pub force: bool,
    /// Continue from the checkpoint of an interrupted run, if there is one (`--resume`).
    pub resume: bool,
}

/// Runs the experiment (every member of every arm, evaluated at epochs 0..=E), writes the
/// report folder to `cfg.out_dir` ([`write_report`], replacing an existing report) and
/// returns the results. `progress` draws one bar per arm when stderr is a terminal. Errors
/// on a bad configuration, on a configuration with `shard` set (use [`reproduce_shard`]), if
/// every member of an arm diverges, or on I/O failure. Same as [`reproduce_with`] with
/// `force` set.
pub fn reproduce(cfg: &ReproduceConfig, progress: bool) -> Result<Results> {
    reproduce_with(
        cfg,
        &RunOptions {
            progress,
            force: true,
            resume: false,
        },
    )
}

/// [`reproduce`] with explicit [`RunOptions`]. Before any work it checks the output folder
/// ([`check_report_dir`]: refused if it is a file, unwritable, holds foreign files, or holds
/// a report and `force` is off) and the checkpoint `OUT.eqckpt` of an interrupted run: with
/// `resume` the run continues from it (bit-identical to an uninterrupted run); without
/// `resume` it is refused unless `force`. A checkpoint is written after every evaluated
/// epoch of every arm and removed once the report is in place.
pub fn reproduce_with(cfg: &ReproduceConfig, opts: &RunOptions) -> Result<Results> {
    if let Some(s) = cfg.shard {
        return Err(Error::Invalid(format!(
            "shard {s} given: a sharded run trains only and is written with reproduce_shard"
        )));
    }
    cfg.validate()?;
    let ck_path = checkpoint_path(&cfg.out_dir);
    let resumed = if ck_path.exists() {
        if opts.resume {
            Some(Checkpoint::load(&ck_path, cfg)?)
        } else if opts.force {
            None
        } else {
            return Err(Error::Invalid(format!(
                "{} holds the checkpoint of an interrupted run: pass --resume to continue it, \
                 or --force to start over",
                ck_path.display()
            )));
        }
    } else {
        None
    };
    check_report_dir(&cfg.out_dir, opts.force || resumed.is_some())?;
    match cfg.scalar {
        ScalarKind::F32 => reproduce_in::<f32>(cfg, opts, resumed),
        ScalarKind::F64 => reproduce_in::<f64>(cfg, opts, resumed),
    }
}
