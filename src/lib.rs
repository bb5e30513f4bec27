//! # eqens — emergent equivariance, checked numerically
//!
//! Ensembles of networks trained with data augmentation are equivariant on average when the
//! architecture 𝓛, the parametrisation, the initial law and the augmentation respect the group
//! G (Nordenfors & Flinth 2024). This crate builds every object of that theory — finite groups
//! and representations, a reverse-mode tape, architectures as subspaces with the lifted action
//! ρ(g)A, augmented training and ensembles, metrics — so that the statements S1..S16 of
//! `docs/THEORY.md` can be checked by `cargo test` and `eqens check`.
//!
//! Conventions (see `docs/ARCHITECTURE.md`): left actions, (ρ(g)x)\[j\] = x\[g⁻¹·j\], so that
//! ρ(gh) = ρ(g)ρ(h); element 0 of every group is the identity.

pub mod autodiff;
pub mod check;
pub mod data;
pub mod ensemble;
pub mod error;
pub mod group;
pub mod limits;
pub mod linalg;
pub mod metrics;
pub mod nn;
pub mod rep;
pub mod reproduce;
pub mod scalar;
pub mod train;

pub use error::{Error, Result};
pub use scalar::Scalar;
