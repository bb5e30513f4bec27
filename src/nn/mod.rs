//! Layers and networks: parametrised linear layers (supports Ω, bases {B_k}, offsets A_𝓛),
//! shape inference, and the forward pass on the tape.
//!
//! A network's linear layer i lives in its ambient space H_i (a k×k filter bank or an
//! [out, in] matrix) and is restricted to an affine architecture 𝓛_i = A_𝓛 + T𝓛 through a
//! [`Parametrisation`]; θ concatenates the layers' coefficient blocks.

pub mod analysis;
pub mod layer;
pub mod lift;
pub mod network;
pub mod param;
pub mod point_cloud;
pub mod support;

pub use layer::{LayerSpec, Lift, LinearMap, Padding, Unit, LAYER_NORM_EPS};
pub use lift::GroupNetwork;
pub use network::{
    ExecutionPlan, Forward, Layer, LayerOutput, Network, PaperBasis, Target, MICRO_BATCH_BYTES,
};
pub use param::{Basis, Parametrisation, MEMBERSHIP_TOL};
pub use support::Support;
