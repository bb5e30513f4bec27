//! Shared set-up of the benchmarks: the paper's networks, synthetic data, members, and the
//! FLOP model of one training step.

#![allow(dead_code)] // each bench binary uses a subset

use eqens::nn::{GroupNetwork, Network, PaperBasis, Support};
use eqens::rep::GridGroup;
use eqens::train::{init_theta, Augmentation, InitLaw, Law, SgdConfig, Workspace};
use eqens::Scalar;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Minibatch size of every training benchmark (the paper's).
pub const BATCH: usize = 32;
/// Samples of the digits training set (sklearn digits, 80 % split).
pub const DIGITS_SAMPLES: usize = 1437;

/// The paper's network on side×side images with the `plus` support, under C4 (rot90).
pub fn paper_gnet(side: usize) -> GroupNetwork {
    let net = Network::paper(side, &Support::plus(), PaperBasis::Orthonormal).expect("paper net");
    GroupNetwork::on_images(net, GridGroup::C4).expect("C4 acts on square images")
}

/// Multiply–accumulates of one sample's forward pass, counted from the architecture: for
/// each convolution C_out·C_in·|Ω|·H·W (|Ω| = taps on the support, 5 for `plus`), for each
/// dense layer out·in. Pooling, tanh, layer norm and the loss are not counted (they are
/// O(activations), not O(weights × activations)).
pub fn macs_per_sample(net: &Network) -> usize {
    use eqens::nn::LayerSpec;
    net.layers()
        .iter()
        .map(|l| match &l.spec {
            LayerSpec::Conv2d {
                out_channels,
                param,
                ..
            } => {
                let taps = param.support_indices().len();
                out_channels * l.in_shape[0] * taps * l.in_shape[1] * l.in_shape[2]
            }
            LayerSpec::Dense { out, .. } => out * l.in_shape[0],
            _ => 0,
        })
        .sum()
}

/// Useful FLOPs of a forward pass on `batch` samples: 2·MACs·batch.
pub fn forward_flops(net: &Network, batch: usize) -> f64 {
    2.0 * (macs_per_sample(net) * batch) as f64
}

/// Useful FLOPs of forward + backward (one SGD step) on `batch` samples: 3 × the forward
/// (the backward of each linear map costs two products of the forward's size: ∂input and
/// ∂weights) = 6·MACs·batch. Digits: 6.0 MFLOP, 28×28: 74 MFLOP at batch 32.
pub fn step_flops(net: &Network, batch: usize) -> f64 {
    3.0 * forward_flops(net, batch)
}

/// Seeded uniform inputs in [0, 1) (digits are [0, 16] scaled to [0, 1]) and labels in 0..10.
pub fn synthetic_data<T: Scalar>(gnet: &GroupNetwork, n: usize, seed: u64) -> (Vec<T>, Vec<usize>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let d = gnet.network().input_dim();
    let x = (0..n * d).map(|_| T::of(rng.random::<f64>())).collect();
    let y = (0..n).map(|_| rng.random_range(0..10)).collect();
    (x, y)
}

/// θ_0 ~ N(0, 1) i.i.d. (the paper's initial law), in the scalar T.
pub fn initial_theta<T: Scalar>(gnet: &GroupNetwork, seed: u64) -> Vec<T> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    init_theta(gnet, &InitLaw::Gaussian { scale: 1.0 }, &mut rng)
        .expect("init")
        .into_iter()
        .map(T::of)
        .collect()
}

/// The Haar law on C4 (full rot90 augmentation).
pub fn full_law(gnet: &GroupNetwork) -> Law {
    Augmentation::Full.law(gnet.group()).expect("Haar law")
}

/// The paper's SGD settings (lr 0.01, batch 32, shuffled).
pub fn sgd_config() -> SgdConfig {
    SgdConfig {
        lr: 0.01,
        batch: BATCH,
        epochs: 1,
        shuffle: true,
    }
}

/// One ensemble member: its own workspace (tape), θ and RNG.
pub struct Member<T> {
    pub ws: Workspace<T>,
    pub theta: Vec<T>,
    pub rng: ChaCha8Rng,
}

impl<T: Scalar> Member<T> {
    pub fn new(gnet: &GroupNetwork, seed: u64) -> Member<T> {
        Member {
            ws: Workspace::new(gnet),
            theta: initial_theta(gnet, seed),
            rng: ChaCha8Rng::seed_from_u64(seed ^ 0x5eed),
        }
    }
}

/// Prints the SIMD level the kernels run at (`EQENS_SIMD`, else the CPU's best) and returns
/// it; exits with the error when `EQENS_SIMD` cannot be honoured.
pub fn announce_simd_level() -> eqens::autodiff::simd::Level {
    use eqens::autodiff::simd;
    match simd::configured() {
        Ok(level) => {
            println!(
                "SIMD level: {level} (this CPU's best: {}; {} forces one)",
                simd::detected(),
                simd::ENV
            );
            level
        }
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2)
        }
    }
}
