//! The configuration of `eqens reproduce` ([`ReproduceConfig`], serde-serialisable): the data
//! set ([`DataKind`]), the grid group, the arms ([`Arm`]: a name, a filter support Ω and an
//! initial law), the out-of-distribution set ([`OodKind`]), the training budget and the
//! epochs at which the ensembles are evaluated.

use super::results::{PAPER_RESAMPLES, PAPER_SIZES};
use crate::ensemble::Shard;
use crate::nn::Support;
use crate::rep::GridGroup;
use crate::train::{InitLaw, SgdConfig};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Standard deviation of the initial coefficients (the paper: N(0, 1)).
pub const INIT_SCALE: f64 = 1.0;

/// FNV-1a, 64 bits, of a name (a stable salt, not cryptographic).
pub(crate) const fn fnv1a(name: &str) -> u64 {
    let bytes = name.as_bytes();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        h = (h ^ bytes[i] as u64).wrapping_mul(0x0100_0000_01b3);
        i += 1;
    }
    h
}

/// The initial law of an arm's coefficients θ_0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ArmInit {
    /// i.i.d. N(0, 1) on every coefficient (`iid`).
    Iid,
    /// Symmetric: zero outside the invariant core 𝓛_0 of the run's group (`sym`).
    Sym,
}

impl ArmInit {
    /// The law μ_0.
    pub fn law(self) -> InitLaw {
        match self {
            ArmInit::Iid => InitLaw::Gaussian { scale: INIT_SCALE },
            ArmInit::Sym => InitLaw::Symmetric { scale: INIT_SCALE },
        }
    }

    /// `iid` or `sym` (as in an arm spec).
    pub fn spec_name(self) -> &'static str {
        match self {
            ArmInit::Iid => "iid",
            ArmInit::Sym => "sym",
        }
    }

    /// `iid` or `symmetric` (as in the report and results).
    pub fn name(self) -> &'static str {
        match self {
            ArmInit::Iid => "iid",
            ArmInit::Sym => "symmetric",
        }
    }
}

/// The preset arms by name: (name, support, init).
pub const PRESET_ARMS: [(&str, &str, ArmInit); 4] = [
    ("sym", "plus", ArmInit::Iid),
    ("as-syminit", "plus-corner", ArmInit::Sym),
    ("as-asyminit", "plus-corner", ArmInit::Iid),
    ("cnn", "full", ArmInit::Iid),
];

/// One arm of the experiment: a name, an architecture 𝓛 (the filter support Ω of every
/// convolution) and an initial law. Written and parsed as `name=support:init` (support:
/// `full`, `plus`, `plus-corner` or a row-major k×k 0/1 mask; init: `iid` or `sym`), or as a
/// preset's bare name (`sym`, `as-syminit`, `as-asyminit`, `cnn`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct Arm {
    name: String,
    support: Support,
    init: ArmInit,
}

impl Arm {
    /// 𝓛^sym: plus + centre support, i.i.d. init.
    pub fn sym() -> Arm {
        Arm::preset("sym").expect("preset")
    }
    /// 𝓛^as (plus without centre + corner) with symmetric init.
    pub fn as_syminit() -> Arm {
        Arm::preset("as-syminit").expect("preset")
    }
    /// 𝓛^as with i.i.d. init.
    pub fn as_asyminit() -> Arm {
        Arm::preset("as-asyminit").expect("preset")
    }
    /// 𝓛^cnn: the full 3×3 filter, i.i.d. init.
    pub fn cnn() -> Arm {
        Arm::preset("cnn").expect("preset")
    }

    /// The four preset arms in the paper's order.
    pub fn all_presets() -> Vec<Arm> {
        PRESET_ARMS
            .iter()
            .map(|p| Arm::preset(p.0).expect("preset"))
            .collect()
    }

    /// The preset called `name`, if any.
    pub fn preset(name: &str) -> Option<Arm> {
        PRESET_ARMS
            .iter()
            .find(|p| p.0 == name)
            .map(|&(n, s, i)| Arm {
                name: n.into(),
                support: Support::parse(s).expect("preset support"),
                init: i,
            })
    }

    /// An arm from its parts; the name must be non-empty and made of ASCII letters, digits,
    /// `-`, `_` or `.`.
    pub fn new(name: &str, support: Support, init: ArmInit) -> Result<Arm> {
        check_name(name)?;
        Ok(Arm {
            name: name.into(),
            support,
            init,
        })
    }

    /// Parses a preset name or `name=support:init`; every malformed spec is
    /// [`Error::Invalid`] saying what was expected.
    pub fn parse(spec: &str) -> Result<Arm> {
        let spec = spec.trim();
        let Some((name, rest)) = spec.split_once('=') else {
            return Arm::preset(spec).ok_or_else(|| {
                Error::Invalid(format!(
                    "unknown arm `{spec}`: expected a preset ({}) or name=support:init, e.g. \
                     diamond=0010001110111110111000100:iid",
                    PRESET_ARMS.map(|p| p.0).join(", ")
                ))
            });
        };
        let (support, init) = rest.rsplit_once(':').ok_or_else(|| {
            Error::Invalid(format!(
                "arm `{spec}`: expected name=support:init with init `iid` or `sym` (no `:` found)"
            ))
        })?;
        let init = match init.trim() {
            "iid" => ArmInit::Iid,
            "sym" => ArmInit::Sym,
            other => {
                return Err(Error::Invalid(format!(
                    "arm `{spec}`: unknown init law `{other}` (expected `iid` or `sym`)"
                )))
            }
        };
        let support =
            Support::parse(support).map_err(|e| Error::Invalid(format!("arm `{spec}`: {e}")))?;
        Arm::new(name.trim(), support, init)
            .map_err(|e| Error::Invalid(format!("arm `{spec}`: {e}")))
    }

    /// The arm's name (e.g. `sym`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The filter support Ω of the arm's convolutions.
    pub fn support(&self) -> &Support {
        &self.support
    }

    /// The initial law's kind.
    pub fn init(&self) -> ArmInit {
        self.init
    }

    /// The arm's initial law μ_0 of θ.
    pub fn init_law(&self) -> InitLaw {
        self.init.law()
    }

    /// Name of the initial law: `iid` or `symmetric`.
    pub fn init_name(&self) -> &'static str {
        self.init.name()
    }

    /// The full spec `name=support:init`, which [`Arm::parse`] reads back.
    pub fn spec(&self) -> String {
        format!(
            "{}={}:{}",
            self.name,
            self.support.name(),
            self.init.spec_name()
        )
    }

    /// The arm's seed under master seed s: s ^ FNV-1a(name).
    pub fn seed(&self, master: u64) -> u64 {
        master ^ fnv1a(&self.name)
    }
}

fn check_name(name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(Error::Invalid("an arm needs a non-empty name".into()));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        return Err(Error::Invalid(format!(
            "arm name `{name}` contains {c:?}; use ASCII letters, digits, `-`, `_` or `.`"
        )));
    }
    Ok(())
}

impl From<Arm> for String {
    fn from(a: Arm) -> String {
        a.spec()
    }
}

impl TryFrom<String> for Arm {
    type Error = Error;
    fn try_from(s: String) -> Result<Arm> {
        Arm::parse(&s)
    }
}

/// The training and in-distribution data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DataKind {
    /// The bundled 8×8 UCI digits (1797 images; 80 / 20 stratified split).
    Digits,
    /// The bundled 5,000 MNIST images, 28×28 (stratified 4,000 / 1,000 split).
    Mnist,
}

impl DataKind {
    /// `digits` or `mnist`.
    pub fn name(self) -> &'static str {
        match self {
            DataKind::Digits => "digits",
            DataKind::Mnist => "mnist",
        }
    }

    /// Parses `digits` or `mnist`.
    pub fn parse(s: &str) -> Result<DataKind> {
        match s.trim().to_ascii_lowercase().as_str() {
            "digits" => Ok(DataKind::Digits),
            "mnist" => Ok(DataKind::Mnist),
            other => Err(Error::Invalid(format!(
                "--data {other}: expected `digits` or `mnist`"
            ))),
        }
    }

    /// Side of the images (8 or 28).
    pub fn side(self) -> usize {
        match self {
            DataKind::Digits => 8,
            DataKind::Mnist => 28,
        }
    }

    /// Fraction held out as the in-distribution test set (digits 0.2; MNIST 0.2 = 1,000 of
    /// 5,000).
    pub fn test_fraction(self) -> f64 {
        0.2
    }
}

/// The out-of-distribution set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OodKind {
    /// Grayscale natural-image patches scaled to [0, 1], not normalised (area-resized to
    /// 8×8 for the digits).
    Natural,
    /// Smoothed Gaussian noise images (the earlier default).
    Noise,
}

impl OodKind {
    /// `natural` or `noise`.
    pub fn name(self) -> &'static str {
        match self {
            OodKind::Natural => "natural",
            OodKind::Noise => "noise",
        }
    }

    /// Parses `natural` or `noise`.
    pub fn parse(s: &str) -> Result<OodKind> {
        match s.trim().to_ascii_lowercase().as_str() {
            "natural" => Ok(OodKind::Natural),
            "noise" => Ok(OodKind::Noise),
            other => Err(Error::Invalid(format!(
                "--ood {other}: expected `natural` or `noise`"
            ))),
        }
    }
}

/// `c2`, `c4` or `d4`: [`GridGroup::name`] in the command line's lower case.
pub fn group_name(g: GridGroup) -> String {
    g.name().to_ascii_lowercase()
}

/// Parses `c2`, `c4` or `d4` (case-insensitive) as the `--group` flag ([`GridGroup`]'s
/// `FromStr`).
pub fn parse_group(s: &str) -> Result<GridGroup> {
    s.parse::<GridGroup>().map_err(|e| match e {
        Error::Invalid(m) => Error::Invalid(format!("--group {m}")),
        other => other,
    })
}

mod group_serde {
    use super::{group_name, parse_group};
    use crate::rep::GridGroup;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(g: &GridGroup, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&group_name(*g))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<GridGroup, D::Error> {
        let s = String::deserialize(d)?;
        parse_group(&s).map_err(serde::de::Error::custom)
    }
}

/// The scalar training runs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
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

/// Configuration of `eqens reproduce`; [`Default`] is the paper's setting on the digits.
/// Serialised whole into shard headers and checkpoints (but `out_dir` and `shard`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReproduceConfig {
    /// Training and test data (default: the digits).
    pub data: DataKind,
    /// The group acting on the pixel grid (default C4): augmentation, symmetric init and the
    /// H4 verdicts follow it.
    #[serde(with = "group_serde")]
    pub group: GridGroup,
    /// Members per arm (paper: 1000).
    pub members: usize,
    /// Training epochs E (paper: 10).
    pub epochs: usize,
    /// A budget in SGD steps instead of epochs: must be a whole number of epochs (checked
    /// by [`ReproduceConfig::resolved_epochs`]); `None` uses `epochs`.
    pub steps: Option<usize>,
    /// Epochs at which the ensembles are evaluated (0 = init); `None` = every epoch 0..=E.
    /// The last epoch is always evaluated.
    pub eval_at: Option<Vec<usize>>,
    /// SGD learning rate (paper: 0.01).
    pub lr: f64,
    /// SGD batch size (paper: 32).
    pub batch: usize,
    /// Master seed s.
    pub seed: u64,
    /// Arms to run, in order (default: the four presets).
    pub arms: Vec<Arm>,
    /// Worker threads (results never depend on it).
    pub threads: usize,
    /// Ensemble sizes M (paper: 5 … 1000); sizes above `members` are dropped.
    pub sizes: Vec<usize>,
    /// Bootstrap resamples per size (paper: 30).
    pub resamples: usize,
    /// The out-of-distribution set (default: natural patches).
    pub ood: OodKind,
    /// Number of out-of-distribution images.
    pub ood_len: usize,
    /// Use only this many training images (a stratified-order prefix; `None` = all), for
    /// small runs and tests.
    pub train_limit: Option<usize>,
    /// Output folder: the report, or the shard file of a sharded run (not serialised: it
    /// says where, not what).
    #[serde(skip)]
    pub out_dir: PathBuf,
    /// Train only this slice of the members (not serialised: it says which slice, not what).
    #[serde(skip)]
    pub shard: Option<Shard>,
    /// Training scalar.
    pub scalar: ScalarKind,
}

impl Default for ReproduceConfig {
    fn default() -> Self {
        ReproduceConfig {
            data: DataKind::Digits,
            group: GridGroup::C4,
            members: 1000,
            epochs: 10,
            steps: None,
            eval_at: None,
            lr: 0.01,
            batch: 32,
            seed: 0,
            arms: Arm::all_presets(),
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            sizes: PAPER_SIZES.to_vec(),
            resamples: PAPER_RESAMPLES,
            ood: OodKind::Natural,
            ood_len: 360,
            train_limit: None,
            out_dir: PathBuf::from("eqens-reproduce"),
            shard: None,
            scalar: ScalarKind::F32,
        }
    }
}

impl ReproduceConfig {
    /// Checks every field that does not need the data; bad values are [`Error::Invalid`]
    /// naming the flag.
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
        crate::limits::check_threads("--threads", self.threads)?;
        if self.steps == Some(0) {
            return bad("--steps must be at least 1".into());
        }
        if self.arms.is_empty() {
            return bad("--arms: no arm selected".into());
        }
        for (i, a) in self.arms.iter().enumerate() {
            if self.arms[..i].iter().any(|b| b.name() == a.name()) {
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
        if self.train_limit == Some(0) {
            return bad("--train-limit must be at least 1".into());
        }
        if self.group != GridGroup::C2 && self.data.side() == 0 {
            return bad("internal: image side 0".into());
        }
        if self.steps.is_none() {
            self.check_eval_at(self.epochs)?;
        }
        Ok(())
    }

    fn check_eval_at(&self, epochs: usize) -> Result<()> {
        if let Some(at) = &self.eval_at {
            if at.is_empty() {
                return Err(Error::Invalid("--eval-at: give at least one epoch".into()));
            }
            if let Some(&e) = at.iter().find(|&&e| e > epochs) {
                return Err(Error::Invalid(format!(
                    "--eval-at: epoch {e} is beyond the last epoch {epochs}"
                )));
            }
        }
        Ok(())
    }

    /// The number of epochs E of training on `train_len` images: `epochs`, or `steps`
    /// divided by the steps per epoch ⌈train_len / batch⌉, which must divide it (an error
    /// names the nearest whole-epoch budgets).
    pub fn resolved_epochs(&self, train_len: usize) -> Result<usize> {
        let Some(steps) = self.steps else {
            return Ok(self.epochs);
        };
        let per_epoch = train_len.div_ceil(self.batch).max(1);
        if !steps.is_multiple_of(per_epoch) {
            let lo = steps / per_epoch * per_epoch;
            return Err(Error::Invalid(format!(
                "--steps {steps} is not a whole number of epochs of {per_epoch} steps \
                 ({train_len} images, batch {}): use {} or {}",
                self.batch,
                lo.max(per_epoch),
                lo + per_epoch
            )));
        }
        let epochs = steps / per_epoch;
        self.check_eval_at(epochs)?;
        Ok(epochs)
    }

    /// The epochs evaluated for E training epochs: `eval_at` (or 0..=E), sorted, without
    /// repeats, always with E.
    pub fn eval_epochs(&self, epochs: usize) -> Vec<usize> {
        let mut v: Vec<usize> = match &self.eval_at {
            Some(at) => at.iter().copied().filter(|&e| e <= epochs).collect(),
            None => (0..=epochs).collect(),
        };
        v.push(epochs);
        v.sort_unstable();
        v.dedup();
        v
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

    pub(crate) fn sgd(&self, epochs: usize) -> SgdConfig {
        SgdConfig {
            lr: self.lr,
            batch: self.batch,
            epochs,
            shuffle: true,
        }
    }
}
