//! A small reverse-mode automatic differentiation engine, written from scratch.
//!
//! [`Tensor`] holds row-major data; [`Tape`] is a Wengert list: nodes are pushed in execution
//! order, each recording an [`Op`] and its inputs, and `backward` is one reverse
//! scan with one `match` holding every gradient formula. Kernels (convolution, pooling, …)
//! live in [`kernels`].

pub mod kernels;
pub mod tape;
pub mod tensor;

pub use kernels::{simd, ConvGeom};
pub use tape::{Op, Tape, Var};
pub use tensor::Tensor;
