//! Training dynamics (THEORY.md §1 "Risks and dynamics"): augmentation laws on G, initial
//! laws of θ, the nominal and augmented risks with their gradients, full-batch descent on
//! R_aug (the Euler scheme of the augmented flow) and SGD with random augmentation.
//!
//! Everything is generic over the scalar `T` (f32 for experiments, f64 for checks);
//! randomness comes from caller-supplied seeded RNGs.

pub mod augment;
pub mod cases;
pub mod descent;
pub mod init;
pub mod observe;
pub mod risk;
pub mod sgd;

pub use augment::{Augmentation, Law};
pub use descent::descend;
pub use init::{init_theta, orbit, verify_orbit_membership, InitLaw};
pub use observe::{draw_epoch, sgd_epoch_observed, BatchDraw, EpochDraws, SgdStep};
pub use risk::{augmented_loss_and_grad, nominal_loss_and_grad, Samples, Workspace};
pub use sgd::{sgd_epoch, SgdConfig};
