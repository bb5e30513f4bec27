//! Evaluation of one arm at one epoch: every member's logits on the orbits ρ_X(g)x of every
//! evaluation input, then bootstrap sub-ensembles of each size M (mean logits → accuracy, OSP,
//! symmetric KL) and single-member distributions; and the statistics comparing the arms.
//!
//! Logit tables are row-major `[n, |G|, K]` in f64: input j's orbit table `[|G|, K]` (row 0 =
//! identity) is contiguous, as `metrics::osp` and `metrics::symmetric_kl` expect.

use super::results::{
    ArmResult, Comparison, EpochEval, KlSlope, MeanStd, SetEval, SingleStats, SizeStat, Spread,
    WelchTest,
};
use crate::autodiff::kernels::mean_rows;
use crate::autodiff::Tape;
use crate::ensemble::run_members;
use crate::metrics::{
    argmax, bootstrap_indices, loglog_slope, mean_std, orbit_defect, osp, squared_mean_norm_with,
    symmetric_kl, welch_one_sided, BiasEstimate,
};
use crate::nn::Network;
use crate::rep::Rep;
use crate::{Error, Result, Scalar};

/// Inputs per forward pass during evaluation: 16 inputs × |G| = 4 rotations = 64 rows,
/// whose activations stay in the core's L2 cache. Measured (init-only evaluation of two arms,
/// user time): 4 % less than 8 inputs, 32 no better. Each row's logits do not depend on the
/// chunk (every kernel computes a sample from its own row alone).
pub const EVAL_CHUNK: usize = 16;

/// Smallest ensemble size M in the log-log fit of KL versus M (the paper's M = 5 is left out:
/// the 1/M law is asymptotic).
pub const SLOPE_MIN_M: usize = 10;

/// One evaluation set with its inputs already transformed: `orbits` holds ρ_X(g)x_j for every
/// input j and element g, row-major `[n, |G|, input_dim]`, in the training scalar `T`.
pub(crate) struct EvalSet<T> {
    /// Set name, `test` or `ood`.
    pub name: &'static str,
    /// Number of inputs n.
    pub n: usize,
    /// ρ_X(g)x_j, `[n, |G|, input_dim]`.
    pub orbits: Vec<T>,
    /// Labels (accuracy is reported for labelled sets only).
    pub labels: Option<Vec<usize>>,
}

impl<T: Scalar> EvalSet<T> {
    /// Transforms `inputs` (`[n, d]` row-major, f64) by every ρ_X(g) and rounds to `T`.
    pub fn new(
        name: &'static str,
        inputs: &[f64],
        labels: Option<Vec<usize>>,
        rho_x: &Rep,
    ) -> EvalSet<T> {
        let d = rho_x.dim();
        let order = rho_x.group().order();
        let n = inputs.len() / d;
        let mut orbits = vec![0.0; n * order * d];
        for (j, x) in inputs.chunks_exact(d).enumerate() {
            for g in 0..order {
                let at = (j * order + g) * d;
                rho_x.apply(g, x, &mut orbits[at..at + d]);
            }
        }
        let orbits = orbits.into_iter().map(T::of).collect();
        EvalSet {
            name,
            n,
            orbits,
            labels,
        }
    }
}

/// What a set evaluation needs besides the logits.
pub(crate) struct EvalSpec<'a> {
    /// |G|.
    pub group_order: usize,
    /// Number of classes K.
    pub classes: usize,
    /// Ensemble sizes M, increasing.
    pub sizes: &'a [usize],
    /// Bootstrap resamples per size.
    pub resamples: usize,
}

/// One member's logits on the whole set, `[n, |G|, K]` in f64, by forward passes of
/// [`EVAL_CHUNK`] inputs (all their rotations) at a time.
pub(crate) fn member_logits<T: Scalar>(
    net: &Network,
    tape: &mut Tape<T>,
    theta: &[T],
    set: &EvalSet<T>,
    group_order: usize,
) -> Result<Vec<f64>> {
    let rows_per_input = group_order;
    let d = net.input_dim();
    let mut out = Vec::with_capacity(set.n * rows_per_input * net.output_dim());
    for chunk in set.orbits.chunks(EVAL_CHUNK * rows_per_input * d) {
        let rows = chunk.len() / d;
        let logits = net.predict(tape, theta, chunk, rows)?;
        out.extend(logits.iter().map(|v| v.f64()));
    }
    Ok(out)
}

/// Whether the identity row's argmax is the label (`None` for an unlabelled set), the OSP
/// and the symmetric KL of one input's orbit table `[|G|, K]`.
fn orbit_metrics(orbit: &[f64], label: Option<usize>, g: usize, k: usize) -> (bool, f64, f64) {
    let correct = label.is_some_and(|l| argmax(&orbit[..k]) == l);
    (correct, osp(orbit, g, k) as f64, symmetric_kl(orbit, g, k))
}

/// (accuracy at the identity, mean OSP, mean symmetric KL) from per-input metrics in input
/// order (sums taken in that order); accuracy is NaN for an unlabelled set.
fn summarise(
    per_input: impl ExactSizeIterator<Item = (bool, f64, f64)>,
    labelled: bool,
) -> [f64; 3] {
    let n = per_input.len() as f64;
    let (mut correct, mut osp_sum, mut kl_sum) = (0usize, 0.0, 0.0);
    for (c, o, d) in per_input {
        correct += usize::from(c);
        osp_sum += o;
        kl_sum += d;
    }
    let acc = if labelled {
        correct as f64 / n
    } else {
        f64::NAN
    };
    [acc, osp_sum / n, kl_sum / n]
}

/// (accuracy at the identity, mean OSP, mean symmetric KL) of one logit table `[n, |G|, K]`.
fn table_metrics(logits: &[f64], labels: Option<&[usize]>, g: usize, k: usize) -> [f64; 3] {
    let per_input = logits
        .chunks_exact(g * k)
        .enumerate()
        .map(|(j, orbit)| orbit_metrics(orbit, labels.map(|l| l[j]), g, k));
    summarise(per_input, labels.is_some())
}

/// Inputs per block of the bootstrap evaluation: a block's rows of 1000 members (8 inputs ×
/// 4 rotations × 10 logits × 8 bytes × 1000 ≈ 2.5 MB) stay in cache while all resamples
/// read them, instead of every resample streaming every member's whole table from memory.
const INPUT_BLOCK: usize = 8;

/// Per-input metrics of every resample (`tasks[t]` lists its members), `[t][j]`: inputs in
/// blocks of [`INPUT_BLOCK`] (in parallel), and within a block every resample's mean table
/// f̂_M (members summed in resample order, then divided by M once, as [`crate::metrics::mean_logits`]).
fn resample_metrics(
    threads: usize,
    logits: &[&[f64]],
    labels: Option<&[usize]>,
    tasks: &[&[usize]],
    (g, k): (usize, usize),
) -> Result<Vec<Vec<(bool, f64, f64)>>> {
    let orbit_len = g * k;
    let n = logits.first().map_or(0, |l| l.len() / orbit_len);
    let blocks = run_members(0..n.div_ceil(INPUT_BLOCK), threads, |b| {
        let inputs = b * INPUT_BLOCK..n.min((b + 1) * INPUT_BLOCK);
        let span = inputs.start * orbit_len..inputs.end * orbit_len;
        let mut sum = vec![0.0; span.len()];
        let per_task: Vec<Vec<(bool, f64, f64)>> = tasks
            .iter()
            .map(|members| {
                mean_rows(logits, members, span.clone(), &mut sum);
                sum.chunks_exact(orbit_len)
                    .zip(inputs.clone())
                    .map(|(orbit, j)| orbit_metrics(orbit, labels.map(|l| l[j]), g, k))
                    .collect()
            })
            .collect();
        per_task
    })?;
    Ok((0..tasks.len())
        .map(|t| blocks.iter().flat_map(|b| b[t].iter().copied()).collect())
        .collect())
}

fn spread(values: &[f64]) -> Spread {
    let (mean, std) = mean_std(values);
    let (mut min, mut max) = (f64::INFINITY, f64::NEG_INFINITY);
    for &v in values {
        if v.is_nan() {
            return Spread {
                mean,
                std,
                min: f64::NAN,
                max: f64::NAN,
            };
        }
        min = min.min(v);
        max = max.max(v);
    }
    Spread {
        mean,
        std,
        min,
        max,
    }
}

fn mean_std_of(values: &[f64]) -> MeanStd {
    let (mean, std) = mean_std(values);
    MeanStd { mean, std }
}

/// Evaluates one set for the kept members: `logits[i]` is kept member i's table and
/// `boot[s]` the resamples (indices into `logits`) for size `spec.sizes[s]`. Sub-ensembles
/// are averaged in resample order ([`crate::metrics::mean_logits`]); the resamples run in parallel
/// ([`run_members`]) and are collected in order, so nothing depends on the thread count.
pub(crate) fn evaluate_set(
    threads: usize,
    name: &str,
    labels: Option<&[usize]>,
    logits: &[&[f64]],
    boot: &[Vec<Vec<usize>>],
    spec: &EvalSpec<'_>,
) -> Result<SetEval> {
    let (g, k) = (spec.group_order, spec.classes);
    let tasks: Vec<&[usize]> = boot.iter().flatten().map(|r| r.as_slice()).collect();
    let per_task: Vec<[f64; 3]> = resample_metrics(threads, logits, labels, &tasks, (g, k))?
        .into_iter()
        .map(|per_input| summarise(per_input.into_iter(), labels.is_some()))
        .collect();
    let singles = run_members(0..logits.len(), threads, |i| {
        table_metrics(logits[i], labels, g, k)
    })?;
    let column = |rows: &[[f64; 3]], c: usize| -> Vec<f64> { rows.iter().map(|r| r[c]).collect() };
    let by_size: Vec<SizeStat> = spec
        .sizes
        .iter()
        .enumerate()
        .map(|(s, &m)| {
            let rows = &per_task[s * spec.resamples..(s + 1) * spec.resamples];
            SizeStat {
                m,
                acc: mean_std_of(&column(rows, 0)),
                osp: mean_std_of(&column(rows, 1)),
                kl: mean_std_of(&column(rows, 2)),
            }
        })
        .collect();
    let last = spec.sizes.len() - 1;
    let kl_at_largest_m = column(&per_task[last * spec.resamples..], 2);
    let bias = squared_bias(logits, g, k)?;
    Ok(SetEval {
        set: name.to_string(),
        by_size,
        single_members: SingleStats {
            acc: spread(&column(&singles, 0)),
            osp: spread(&column(&singles, 1)),
            kl: spread(&column(&singles, 2)),
        },
        kl_at_largest_m,
        bias,
    })
}

/// The U-statistic estimate of ‖E D‖² over the members' logit tables `[n, |G|, K]`, with
/// D_i = member i's defect f(ρ_X(g)x_j) − f(x_j) ([`orbit_defect`]) and ‖·‖² the mean over
/// the n inputs and |G| elements of the squared norm over the K logits (so the estimate is
/// on the scale of E‖f̂_M(ρ_X(g)x) − f̂_M(x)‖² per input and element). `None` for fewer than
/// 2 members. Sums run in member order (deterministic).
pub(crate) fn squared_bias(logits: &[&[f64]], g: usize, k: usize) -> Result<Option<BiasEstimate>> {
    if logits.len() < 2 {
        return Ok(None);
    }
    let d = logits[0].len();
    let cells = d / k.max(1);
    let est = squared_mean_norm_with(logits.len(), d, |i, buf| orbit_defect(logits[i], g, k, buf))?;
    Ok(Some(est.scaled(1.0 / cells as f64)))
}

/// The bootstrap resamples of every size for a population of `population` kept members:
/// size M uses `bootstrap_indices(population, M, resamples, seed_of(M))`.
pub(crate) fn bootstrap_tables(
    population: usize,
    spec: &EvalSpec<'_>,
    seed_of: impl Fn(usize) -> u64,
) -> Vec<Vec<Vec<usize>>> {
    spec.sizes
        .iter()
        .map(|&m| bootstrap_indices(population, m, spec.resamples, seed_of(m)))
        .collect()
}

/// Evaluates one epoch of one arm from its kept members' logits (`logits[i][set]`, member
/// order) and their losses of this epoch (`None` at init; summed in member order).
pub(crate) fn evaluate_epoch<T: Scalar>(
    threads: usize,
    epoch: usize,
    sets: &[EvalSet<T>],
    logits: &[Vec<Vec<f64>>],
    losses: Option<&[f64]>,
    spec: &EvalSpec<'_>,
    seed_of: impl Fn(usize) -> u64,
) -> Result<EpochEval> {
    if logits.is_empty() {
        return Err(Error::Invalid(format!(
            "every member diverged by epoch {epoch}: nothing left to evaluate (try a lower --lr)"
        )));
    }
    let boot = bootstrap_tables(logits.len(), spec, seed_of);
    let sets = sets
        .iter()
        .enumerate()
        .map(|(s, set)| {
            let tables: Vec<&[f64]> = logits.iter().map(|l| l[s].as_slice()).collect();
            evaluate_set(
                threads,
                set.name,
                set.labels.as_deref(),
                &tables,
                &boot,
                spec,
            )
        })
        .collect::<Result<Vec<_>>>()?;
    let mean_train_loss = losses.map(|l| l.iter().sum::<f64>() / l.len() as f64);
    Ok(EpochEval {
        epoch,
        mean_train_loss,
        sets,
    })
}

/// The statistics comparing the arms at the last epoch: KL-vs-M slopes over M ≥
/// [`SLOPE_MIN_M`] per arm and set (only where at least two sizes qualify; NaN when a KL is
/// not positive), and one-sided Welch tests of sym's KL against every other arm at the
/// largest M from the bootstrap resamples (NaN when the test is undefined, e.g. zero
/// variance).
pub fn compare_arms(arms: &[ArmResult]) -> Comparison {
    let mut kl_slopes = Vec::new();
    for arm in arms {
        let Some(last) = arm.last_epoch() else {
            continue;
        };
        for set in &last.sets {
            let points: Vec<&SizeStat> =
                set.by_size.iter().filter(|s| s.m >= SLOPE_MIN_M).collect();
            if points.len() < 2 {
                continue;
            }
            let ms: Vec<f64> = points.iter().map(|s| s.m as f64).collect();
            let kls: Vec<f64> = points.iter().map(|s| s.kl.mean).collect();
            kl_slopes.push(KlSlope {
                arm: arm.name.clone(),
                set: set.set.clone(),
                m_from: points[0].m,
                m_to: points[points.len() - 1].m,
                slope: loglog_slope(&ms, &kls).unwrap_or(f64::NAN),
            });
        }
    }
    let mut sym_lower_kl = Vec::new();
    if let Some(sym_last) = arms
        .iter()
        .find(|a| a.name == "sym")
        .and_then(|a| a.last_epoch())
    {
        for other in arms.iter().filter(|a| a.name != "sym") {
            let Some(other_last) = other.last_epoch() else {
                continue;
            };
            for sym_set in &sym_last.sets {
                let (Some(other_set), Some(m)) =
                    (other_last.set(&sym_set.set), sym_set.largest().map(|s| s.m))
                else {
                    continue;
                };
                let (t, dof, p) =
                    match welch_one_sided(&sym_set.kl_at_largest_m, &other_set.kl_at_largest_m) {
                        Ok(w) => (w.t, w.dof, w.p_value),
                        Err(_) => (f64::NAN, f64::NAN, f64::NAN),
                    };
                sym_lower_kl.push(WelchTest {
                    arm: other.name.clone(),
                    set: sym_set.set.clone(),
                    m,
                    t,
                    dof,
                    p,
                });
            }
        }
    }
    Comparison {
        kl_slopes,
        sym_lower_kl,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::mean_logits;
    use rand::{RngExt, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// Every resample's metrics, computed the direct way: the whole mean table by
    /// `mean_logits`, then `table_metrics`.
    fn direct(
        logits: &[&[f64]],
        labels: &[usize],
        tasks: &[&[usize]],
        gk: (usize, usize),
    ) -> Vec<[f64; 3]> {
        tasks
            .iter()
            .map(|members| {
                let tables: Vec<&[f64]> = members.iter().map(|&i| logits[i]).collect();
                table_metrics(&mean_logits(&tables), Some(labels), gk.0, gk.1)
            })
            .collect()
    }

    /// The input-blocked bootstrap gives bit-identical metrics to the direct computation
    /// (same summation order per entry and per input), for a set whose size is not a
    /// multiple of the block, on 1 and 2 threads. Negative control: a changed logit of one
    /// resampled member is seen.
    #[test]
    fn blocked_bootstrap_equals_the_direct_computation() {
        let (g, k, n, members) = (4, 10, 2 * INPUT_BLOCK + 3, 23);
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let tables: Vec<Vec<f64>> = (0..members)
            .map(|_| {
                (0..n * g * k)
                    .map(|_| rng.random_range(-3.0..3.0))
                    .collect()
            })
            .collect();
        let labels: Vec<usize> = (0..n).map(|j| j % k).collect();
        let boot: Vec<Vec<usize>> = (0..6)
            .map(|r| (0..3 + r).map(|_| rng.random_range(0..members)).collect())
            .collect();
        let tasks: Vec<&[usize]> = boot.iter().map(|b| b.as_slice()).collect();
        let logits: Vec<&[f64]> = tables.iter().map(|t| t.as_slice()).collect();
        let want = direct(&logits, &labels, &tasks, (g, k));
        for threads in [1, 2] {
            let got: Vec<[f64; 3]> =
                resample_metrics(threads, &logits, Some(&labels), &tasks, (g, k))
                    .unwrap()
                    .into_iter()
                    .map(|per_input| summarise(per_input.into_iter(), true))
                    .collect();
            let bits =
                |v: &[[f64; 3]]| -> Vec<u64> { v.iter().flatten().map(|x| x.to_bits()).collect() };
            assert_eq!(bits(&got), bits(&want), "{threads} threads");
        }
        let mut changed = tables.clone();
        changed[boot[0][0]][7] += 0.5;
        let logits2: Vec<&[f64]> = changed.iter().map(|t| t.as_slice()).collect();
        let off = direct(&logits2, &labels, &tasks, (g, k));
        assert_ne!(
            off[0][2].to_bits(),
            want[0][2].to_bits(),
            "control: the KL moves"
        );
    }
}
