//! Parallel deterministic ensembles (THEORY.md §1: f̂_M(x) = (1/M) Σ_m Φ_{A^(m)}(x)).
//!
//! - [`seeds`]: member seeds `member_seed(master, i)` and per-member ChaCha8 generators;
//! - [`run`]: one rayon task per member in a dedicated pool, results in member order,
//!   failures named by member, the ensemble mean summed in member order;
//! - [`train`]: training one member (init from its own generator, then descent or SGD);
//! - [`store`]: versioned JSON files of trained members;
//! - [`shard`]: splitting the members of a run into shards `i/n` and merging them back.
//!
//! Determinism: a member's result depends only on (master seed, member index, inputs),
//! never on the thread count or on which thread ran it, and every sum over members runs in
//! member order; so 1 or 2 threads, and split-then-merged runs, are bit-identical.

pub mod run;
pub mod seeds;
pub mod shard;
pub mod store;
pub mod train;

pub use run::{ensemble_mean, ensemble_outputs, run_members, try_run_members, Outcomes};
pub use seeds::{member_rng, member_seed};
pub use shard::{merge, merge_files, Shard};
pub use store::{architecture_description, EnsembleFile, StoredMember, FORMAT_VERSION};
pub use train::{train_ensemble, train_member, Recipe, Schedule};
