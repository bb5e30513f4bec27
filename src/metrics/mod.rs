//! Metrics on ensemble outputs, all group-agnostic: callers pass already-transformed outputs
//! as plain slices.
//!
//! An **orbit table** is, for one input x and every g ∈ G in group element order (element 0
//! is the identity), the ensemble's mean logits at ρ_X(g)x: a row-major `&[f64]` of shape
//! `[|G|, K]`. For classification ρ_Y is trivial, so row g is compared with row 0.
//!
//! Shapes of these tables are produced by the crate itself; a mismatch is an internal bug and
//! panics with a message. Statistics on user-facing data ([`loglog_slope`],
//! [`welch_one_sided`]) return [`crate::Error`] instead.

pub mod bias;
pub mod chi2_mixture;
pub mod classification;
pub mod equivariance;
pub mod stats;
pub mod student_t;

pub use bias::{orbit_defect, squared_mean_norm, squared_mean_norm_with, BiasEstimate};
pub use chi2_mixture::chi2_mixture_bounds;
pub use classification::{accuracy, argmax, log_softmax, mean_logits, osp, symmetric_kl};
pub use equivariance::{
    equivariance_error, equivariance_sq_error, equivariance_stats, EquivarianceStats,
};
pub use stats::{
    bootstrap_indices, compensated_sum, loglog_slope, mean_std, mean_std_pairwise, pairwise_sum,
};
pub use student_t::{
    ln_gamma, regularized_incomplete_beta, student_t_cdf, welch_one_sided, WelchResult,
};
