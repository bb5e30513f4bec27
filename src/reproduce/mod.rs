//! The paper's experiment (`docs/THEORY.md` §4) and its report.
//!
//! Four arms — `sym` (support 𝓛^sym), `as-syminit` (𝓛^as, corner coefficient zero at init),
//! `as-asyminit` (𝓛^as, i.i.d. init) and `cnn` (full 3×3) — are trained with rot90
//! augmentation and evaluated on the ensemble's mean logits (accuracy, OSP, symmetric KL) on
//! the in-distribution set `test` and the out-of-distribution set `ood`, versus ensemble size
//! M (bootstrap mean ± std) and versus epoch.
//!
//! - [`results`]: the data model every run fills, with JSON and CSV output;
//! - [`report`]: the report folder (report.md, results.json, results.csv, SVG plots) and a
//!   compact terminal summary;
//! - [`plots`]: the SVG figures;
//! - [`combine`]: runs of disjoint arms joined into one report;
//! - [`config`]: the configuration (data, group, arms, budget, evaluation epochs, OOD set);
//! - [`experiment`]: the run itself ([`reproduce`], [`reproduce_shard`], [`merge_shards`]);
//! - [`evaluate`]: member logits on rotation orbits, bootstrap ensembles, arm comparisons;
//! - [`output`]: checked, atomic writes of reports and shards;
//! - [`checkpoint`]: checkpoints of an unsplit run and `--resume`;
//! - [`shard`]: `--shard i/n` slices and their `.eqshard` files;
//! - [`stream`]: member i's exact training stream (θ_0, batches, rotations), for replays.

pub mod checkpoint;
pub mod combine;
pub mod config;
pub mod evaluate;
pub mod experiment;
pub mod output;
pub mod plots;
pub mod report;
pub mod results;
pub mod shard;
pub mod stream;

pub use combine::combine_results;
pub use config::{Arm, ArmInit, DataKind, OodKind, ReproduceConfig, ScalarKind};
pub use experiment::{
    merge_shards, merge_shards_with, reproduce, reproduce_shard, reproduce_shard_with,
    reproduce_with, shard_config, RunOptions, ShardSummary,
};
pub use report::{ordering_checks, summary_table, write_report, OrderingCheck};
pub use results::{
    ArmArchitecture, ArmResult, Comparison, Divergence, EpochEval, KlSlope, MeanStd, PaperPoint,
    Results, RunInfo, SetEval, SingleStats, SizeStat, Spread, WelchTest,
};
pub use shard::Shard;
pub use stream::{member_stream, training_set, MemberStream, TrainingSet};
