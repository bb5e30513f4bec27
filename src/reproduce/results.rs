//! The results of one `eqens reproduce` run: what was run ([`RunInfo`]), what every arm scored
//! per epoch, set and ensemble size ([`ArmResult`]), and the statistics comparing the arms
//! ([`Comparison`]). Serialisable to JSON (round-trips) and to a tidy CSV.
//!
//! The statistics (log-log slopes, Welch tests) are computed by the experiment code with
//! `metrics`; this module only stores them.

use crate::metrics::BiasEstimate;
use crate::{Error, Result};
use serde::{Deserialize, Deserializer, Serialize};
use std::io::Write;
use std::path::Path;

/// Name of the in-distribution evaluation set (held-out digits).
pub const SET_TEST: &str = "test";
/// Name of the out-of-distribution evaluation set (smoothed noise images).
pub const SET_OOD: &str = "ood";
/// The paper's arms, in the expected order of decreasing equivariance (KL increasing),
/// then the unrestricted control 𝓛^cnn.
pub const ARM_NAMES: [&str; 4] = ["sym", "as-syminit", "as-asyminit", "cnn"];
/// The paper's ensemble sizes M.
pub const PAPER_SIZES: [usize; 9] = [5, 10, 25, 50, 75, 100, 250, 500, 1000];
/// The paper's number of bootstrap resamples per ensemble size.
pub const PAPER_RESAMPLES: usize = 30;
/// Ensemble size M of the paper's reported numbers.
pub const PAPER_M: usize = 1000;
/// Epoch of the paper's reported numbers.
pub const PAPER_EPOCH: usize = 10;

/// One number the paper reports (at M = [`PAPER_M`], epoch [`PAPER_EPOCH`]): the ensemble's
/// OSP and symmetric KL for one arm on one set. The paper's `test` set is MNIST and its `ood`
/// set grayscale CIFAR-10; ours are the bundled digits and smoothed noise.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PaperPoint {
    /// Arm name (`sym`, `as-syminit`, `as-asyminit`).
    pub arm: &'static str,
    /// Set name ([`SET_TEST`] or [`SET_OOD`]).
    pub set: &'static str,
    /// Orbit same prediction, OSP ∈ [1, 4].
    pub osp: f64,
    /// Symmetric KL divergence DIV.
    pub kl: f64,
}

/// The paper's published numbers (`docs/THEORY.md` §4).
pub const PAPER_NUMBERS: [PaperPoint; 6] = [
    PaperPoint {
        arm: "sym",
        set: SET_TEST,
        osp: 3.965,
        kl: 0.0040,
    },
    PaperPoint {
        arm: "as-syminit",
        set: SET_TEST,
        osp: 3.952,
        kl: 0.0083,
    },
    PaperPoint {
        arm: "as-asyminit",
        set: SET_TEST,
        osp: 3.908,
        kl: 0.029,
    },
    PaperPoint {
        arm: "sym",
        set: SET_OOD,
        osp: 3.855,
        kl: 0.032,
    },
    PaperPoint {
        arm: "as-syminit",
        set: SET_OOD,
        osp: 3.805,
        kl: 0.067,
    },
    PaperPoint {
        arm: "as-asyminit",
        set: SET_OOD,
        osp: 3.65,
        kl: 0.26,
    },
];

/// The paper's number for `arm` on `set`, if it reports one.
pub fn paper_point(arm: &str, set: &str) -> Option<&'static PaperPoint> {
    PAPER_NUMBERS.iter().find(|p| p.arm == arm && p.set == set)
}

/// What was run: configuration, sizes of the data sets, timing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    /// eqens version that produced the run.
    pub version: String,
    /// Master seed s (member i uses `member_seed(s, i)`).
    pub seed: u64,
    /// Members trained per arm.
    pub members: usize,
    /// Training epochs E (evaluations at epochs 0 = init ..= E).
    pub epochs: usize,
    /// SGD learning rate.
    pub lr: f64,
    /// SGD batch size.
    pub batch: usize,
    /// Worker threads used (results do not depend on it).
    pub threads: usize,
    /// Wall-clock time of the whole run, seconds.
    pub elapsed_secs: f64,
    /// Ensemble sizes M evaluated, increasing.
    pub sizes: Vec<usize>,
    /// Bootstrap resamples per ensemble size.
    pub resamples: usize,
    /// Number of training images.
    pub train_len: usize,
    /// Number of in-distribution test images.
    pub test_len: usize,
    /// Number of out-of-distribution images.
    pub ood_len: usize,
    /// Scalar type of training, `"f32"` or `"f64"`.
    pub scalar: String,
    /// Training data, `digits` or `mnist`.
    #[serde(default)]
    pub data: String,
    /// Grid group of the augmentation, `c2`, `c4` or `d4`.
    #[serde(default)]
    pub group: String,
    /// Out-of-distribution set, `natural` or `noise`.
    #[serde(default)]
    pub ood: String,
    /// SGD steps per member (epochs × ⌈train_len / batch⌉).
    #[serde(default)]
    pub steps_per_member: usize,
    /// Epochs evaluated (0 = init), increasing.
    #[serde(default)]
    pub eval_epochs: Vec<usize>,
    /// Mean of the raw training pixels (the normalisation x ↦ (x − mean) / std).
    #[serde(default, deserialize_with = "null_as_nan")]
    pub train_mean: f64,
    /// Population std of the raw training pixels.
    #[serde(default, deserialize_with = "null_as_nan")]
    pub train_std: f64,
    /// Number of shard files this report was merged from (0: trained by this run).
    #[serde(default)]
    pub shards: usize,
    /// Training time, seconds: for a merge the sum of the shards' run times (`elapsed_secs`
    /// is then the merge alone); otherwise the run's own time, summed over resumed sessions.
    #[serde(default)]
    pub train_secs: f64,
    /// SIMD level the kernels of this process ran at (`avx512`, `avx2`, `baseline`; results
    /// do not depend on it); empty in files written before it was recorded.
    #[serde(default)]
    pub simd: String,
}

/// Mean ± standard deviation over bootstrap resamples.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MeanStd {
    /// Mean over resamples.
    #[serde(deserialize_with = "null_as_nan")]
    pub mean: f64,
    /// Standard deviation over resamples.
    #[serde(deserialize_with = "null_as_nan")]
    pub std: f64,
}

/// The ensemble's metrics at one ensemble size M (bootstrap mean ± std).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SizeStat {
    /// Ensemble size M.
    pub m: usize,
    /// Accuracy of the mean logits.
    pub acc: MeanStd,
    /// Orbit same prediction OSP ∈ [1, |G|] of the mean logits (S9).
    pub osp: MeanStd,
    /// Symmetric KL divergence DIV of the mean logits (S10).
    pub kl: MeanStd,
}

/// Distribution of one metric over a population: mean, std, min, max.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Spread {
    /// Mean.
    #[serde(deserialize_with = "null_as_nan")]
    pub mean: f64,
    /// Standard deviation.
    #[serde(deserialize_with = "null_as_nan")]
    pub std: f64,
    /// Minimum.
    #[serde(deserialize_with = "null_as_nan")]
    pub min: f64,
    /// Maximum.
    #[serde(deserialize_with = "null_as_nan")]
    pub max: f64,
}

/// Metrics of single members (M = 1), as a distribution over the members.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SingleStats {
    /// Accuracy of single members.
    pub acc: Spread,
    /// OSP of single members.
    pub osp: Spread,
    /// Symmetric KL of single members.
    pub kl: Spread,
}

/// One evaluation set at one epoch: ensemble metrics versus M, single-member metrics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SetEval {
    /// Set name, [`SET_TEST`] or [`SET_OOD`].
    pub set: String,
    /// Ensemble metrics per size M, M increasing.
    pub by_size: Vec<SizeStat>,
    /// Single-member distribution.
    pub single_members: SingleStats,
    /// Symmetric KL of every bootstrap resample at the largest M (input of the Welch test).
    #[serde(deserialize_with = "nulls_as_nan")]
    pub kl_at_largest_m: Vec<f64>,
    /// U-statistic estimate of ‖E D‖² over all kept members (D = a member's equivariance
    /// defect f(ρ_X(g)x) − f(x) on this set; ‖·‖² the mean over inputs and group elements
    /// of the squared Euclidean norm of the K logits), `None` with fewer than 2 members.
    #[serde(default)]
    pub bias: Option<BiasEstimate>,
}

/// All evaluations at one epoch (0 = initialisation).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochEval {
    /// Epoch, 0 = init.
    pub epoch: usize,
    /// Mean training loss over members during this epoch (`None` at init).
    pub mean_train_loss: Option<f64>,
    /// One entry per evaluation set.
    pub sets: Vec<SetEval>,
}

/// One arm of the experiment: architecture, initial law, and its evaluations per epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArmResult {
    /// Arm name, e.g. `sym`.
    pub name: String,
    /// Filter support Ω, e.g. `plus+centre`.
    pub support: String,
    /// Initial law, e.g. `iid` or `symmetric`.
    pub init: String,
    /// Members left out because training diverged: (member index, message).
    pub diverged_members: Vec<(usize, String)>,
    /// Evaluations, epoch increasing.
    pub epochs: Vec<EpochEval>,
    /// The arm's H4 / compatibility verdict under the run's group (`eqens analyze`).
    #[serde(default)]
    pub architecture: Option<ArmArchitecture>,
}

/// What `eqens analyze` says of an arm's architecture under the run's group, and what the
/// theory then predicts for the ensemble's squared bias ‖E D‖².
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArmArchitecture {
    /// The group, `c2`, `c4` or `d4`.
    pub group: String,
    /// `invariant`, `compatible, not invariant` or `incompatible` (H4 / NOF compatibility).
    pub verdict: String,
    /// Whether the theorem's architectural hypotheses (H4, H5, H2) hold.
    pub hypotheses_hold: bool,
    /// `eqens analyze`'s one-line summary.
    pub summary: String,
    /// The theory's prediction for ‖E D‖².
    pub prediction: String,
}

/// Fitted slope of log KL versus log M for one arm and set, over M ∈ [m_from, m_to], at the
/// last epoch. KL ∝ 1/M gives slope −1; a plateau gives slope ≈ 0.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KlSlope {
    /// Arm name.
    pub arm: String,
    /// Set name.
    pub set: String,
    /// Smallest M in the fit.
    pub m_from: usize,
    /// Largest M in the fit.
    pub m_to: usize,
    /// Least-squares slope of log KL on log M.
    #[serde(deserialize_with = "null_as_nan")]
    pub slope: f64,
}

/// One-sided Welch test of "`sym` has lower KL than `arm`" on one set at ensemble size `m`,
/// from the bootstrap resamples' KL values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WelchTest {
    /// The arm `sym` is compared with.
    pub arm: String,
    /// Set name.
    pub set: String,
    /// Ensemble size M.
    pub m: usize,
    /// Welch's t statistic (negative when sym's KL is lower).
    #[serde(deserialize_with = "null_as_nan")]
    pub t: f64,
    /// Welch–Satterthwaite degrees of freedom.
    #[serde(deserialize_with = "null_as_nan")]
    pub dof: f64,
    /// One-sided p-value.
    #[serde(deserialize_with = "null_as_nan")]
    pub p: f64,
}

/// The statistics comparing the arms, computed by the experiment code.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// KL-vs-M slopes per arm and set at the last epoch.
    pub kl_slopes: Vec<KlSlope>,
    /// Welch tests of sym's KL against each other arm at the largest M.
    pub sym_lower_kl: Vec<WelchTest>,
}

/// Everything one run produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Results {
    /// What was run.
    pub run: RunInfo,
    /// One entry per arm.
    pub arms: Vec<ArmResult>,
    /// Statistics comparing the arms.
    pub comparison: Comparison,
    /// Members left out for divergence, counted ([`Divergence::of`] the arms).
    #[serde(default)]
    pub divergence: Divergence,
}

/// Start of the message of a member left out because its training exploded: finite, but an
/// epoch's mean loss above [`EXPLODED_LOSS_FACTOR`] · ln C or θ grown beyond
/// [`EXPLODED_THETA_FACTOR`] times its start ([`ArmResult::diverged_members`]).
pub const EXPLODED: &str = "exploded";

/// A member explodes when an epoch's mean training loss exceeds this factor times ln C, the
/// cross-entropy of the uniform prediction over C classes (≈ 2.3e6 for 10 classes). Members
/// of the default run stay below 11 (epoch 1, the worst); 1e6 is far above any learning run.
pub const EXPLODED_LOSS_FACTOR: f64 = 1e6;

/// A member explodes when max|θ| exceeds this factor times max(1, max|θ_0|): the N(0, 1)
/// initial coefficients are O(1) and trained ones stay within a few times that.
pub const EXPLODED_THETA_FACTOR: f64 = 1e6;

/// Members left out of the ensembles, by reason, over all arms and per arm.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Divergence {
    /// Members whose loss, θ or logits became NaN or infinite.
    pub non_finite: usize,
    /// Members whose training exploded (finite but above the stated bounds).
    pub exploded: usize,
    /// (arm, non-finite, exploded) per arm.
    pub by_arm: Vec<(String, usize, usize)>,
}

impl Divergence {
    /// Counts the arms' `diverged_members`: a message starting with [`EXPLODED`] is an
    /// explosion, any other a non-finite value.
    pub fn of(arms: &[ArmResult]) -> Divergence {
        let mut d = Divergence::default();
        for a in arms {
            let exploded = a
                .diverged_members
                .iter()
                .filter(|(_, m)| m.starts_with(EXPLODED))
                .count();
            let non_finite = a.diverged_members.len() - exploded;
            d.non_finite += non_finite;
            d.exploded += exploded;
            d.by_arm.push((a.name.clone(), non_finite, exploded));
        }
        d
    }

    /// Members left out in total.
    pub fn total(&self) -> usize {
        self.non_finite + self.exploded
    }
}

/// The CSV header of [`Results::write_csv`].
pub const CSV_HEADER: &str = "arm,support,init,epoch,mean_train_loss,set,kind,m,\
acc_mean,acc_std,acc_min,acc_max,osp_mean,osp_std,osp_min,osp_max,kl_mean,kl_std,kl_min,kl_max,\
bias_members,bias,bias_se,bias_ci_low,bias_ci_high,bias_p";

impl SetEval {
    /// The ensemble metrics at size `m`, if evaluated.
    pub fn at_m(&self, m: usize) -> Option<&SizeStat> {
        self.by_size.iter().find(|s| s.m == m)
    }

    /// The ensemble metrics at the largest evaluated M.
    pub fn largest(&self) -> Option<&SizeStat> {
        self.by_size.last()
    }
}

impl EpochEval {
    /// The evaluation on set `name`, if present.
    pub fn set(&self, name: &str) -> Option<&SetEval> {
        self.sets.iter().find(|s| s.set == name)
    }
}

impl ArmResult {
    /// The evaluation at the last epoch.
    pub fn last_epoch(&self) -> Option<&EpochEval> {
        self.epochs.last()
    }
}

impl Results {
    /// The arm called `name`, if present.
    pub fn arm(&self, name: &str) -> Option<&ArmResult> {
        self.arms.iter().find(|a| a.name == name)
    }

    /// The largest ensemble size M of the run.
    pub fn largest_m(&self) -> Option<usize> {
        self.run.sizes.last().copied()
    }

    /// The last epoch evaluated by any arm.
    pub fn last_epoch(&self) -> Option<usize> {
        self.arms
            .iter()
            .filter_map(|a| a.last_epoch())
            .map(|e| e.epoch)
            .max()
    }

    /// Checks the structure: sizes positive and increasing, arm names unique and non-empty,
    /// epochs increasing, set names unique per epoch, M increasing per set.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Data(format!("results: {m}")));
        if self.run.sizes.is_empty() {
            return bad("run.sizes is empty".into());
        }
        if !strictly_increasing(&self.run.sizes) || self.run.sizes[0] == 0 {
            return bad(format!(
                "run.sizes must be positive and strictly increasing, got {:?}",
                self.run.sizes
            ));
        }
        if self.arms.is_empty() {
            return bad("no arms".into());
        }
        for (i, arm) in self.arms.iter().enumerate() {
            if arm.name.is_empty() {
                return bad(format!("arm {i} has an empty name"));
            }
            if self.arms[..i].iter().any(|a| a.name == arm.name) {
                return bad(format!("arm name `{}` appears twice", arm.name));
            }
            let epochs: Vec<usize> = arm.epochs.iter().map(|e| e.epoch).collect();
            if !strictly_increasing(&epochs) {
                return bad(format!(
                    "arm `{}`: epochs must be strictly increasing, got {epochs:?}",
                    arm.name
                ));
            }
            for ep in &arm.epochs {
                for (j, set) in ep.sets.iter().enumerate() {
                    let at = format!("arm `{}`, epoch {}, set `{}`", arm.name, ep.epoch, set.set);
                    if ep.sets[..j].iter().any(|s| s.set == set.set) {
                        return bad(format!("{at} appears twice"));
                    }
                    let ms: Vec<usize> = set.by_size.iter().map(|s| s.m).collect();
                    if !strictly_increasing(&ms) || ms.first() == Some(&0) {
                        return bad(format!(
                            "{at}: M must be positive and strictly increasing, got {ms:?}"
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// Pretty-printed JSON of the whole run (non-finite numbers become `null`).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("Results holds only JSON-representable types")
    }

    /// Parses and validates JSON written by [`Results::to_json`]; `null` numbers read as NaN.
    /// A corrupt or inconsistent document is an [`Error::Data`] naming line and column.
    pub fn from_json(text: &str) -> Result<Results> {
        let results: Results =
            serde_json::from_str(text).map_err(|e| Error::Data(format!("results.json: {e}")))?;
        results.validate()?;
        Ok(results)
    }

    /// Reads and parses a results.json file ([`Error::Io`] names the path).
    pub fn load(path: &Path) -> Result<Results> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::Io(format!("{}: {e}", path.display())))?;
        Results::from_json(&text).map_err(|e| match e {
            Error::Data(m) => Error::Data(format!("{}: {m}", path.display())),
            other => other,
        })
    }

    /// Writes the tidy CSV: [`CSV_HEADER`], then per (arm, epoch, set) one row of kind
    /// `ensemble` per M (bootstrap mean ± std; min and max empty) and one row of kind `single`
    /// with M = 1 (distribution over members); the last six columns (the squared-bias
    /// estimate of the (arm, epoch, set), [`SetEval::bias`]) repeat on each of its rows and
    /// are empty without an estimate. Returns the number of data rows.
    pub fn write_csv<W: Write>(&self, out: &mut W) -> std::io::Result<usize> {
        writeln!(out, "{CSV_HEADER}")?;
        let mut rows = 0;
        for arm in &self.arms {
            for ep in &arm.epochs {
                let loss = ep
                    .mean_train_loss
                    .map(|l| l.to_string())
                    .unwrap_or_default();
                for set in &ep.sets {
                    let lead = [
                        csv_field(&arm.name),
                        csv_field(&arm.support),
                        csv_field(&arm.init),
                        ep.epoch.to_string(),
                        loss.clone(),
                        csv_field(&set.set),
                    ]
                    .join(",");
                    let bias = set.bias.map_or(",,,,,".to_string(), |b| {
                        format!(
                            "{},{},{},{},{},{}",
                            b.members, b.estimate, b.se, b.ci_low, b.ci_high, b.p_value
                        )
                    });
                    for s in &set.by_size {
                        let ms = |v: MeanStd| format!("{},{},,", v.mean, v.std);
                        writeln!(
                            out,
                            "{lead},ensemble,{},{},{},{},{bias}",
                            s.m,
                            ms(s.acc),
                            ms(s.osp),
                            ms(s.kl)
                        )?;
                        rows += 1;
                    }
                    let sp = |v: Spread| format!("{},{},{},{}", v.mean, v.std, v.min, v.max);
                    let single = &set.single_members;
                    writeln!(
                        out,
                        "{lead},single,1,{},{},{},{bias}",
                        sp(single.acc),
                        sp(single.osp),
                        sp(single.kl)
                    )?;
                    rows += 1;
                }
            }
        }
        Ok(rows)
    }
}

fn strictly_increasing(v: &[usize]) -> bool {
    v.windows(2).all(|w| w[0] < w[1])
}

/// Quotes a CSV field when it holds a comma, quote or line break.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// serde_json writes non-finite numbers as `null`; read them back as NaN.
fn null_as_nan<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

/// [`null_as_nan`] for every element of a vector.
fn nulls_as_nan<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Vec<f64>, D::Error> {
    let v = Vec::<Option<f64>>::deserialize(d)?;
    Ok(v.into_iter().map(|x| x.unwrap_or(f64::NAN)).collect())
}
