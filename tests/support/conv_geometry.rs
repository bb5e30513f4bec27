//! Shared by tests/autodiff_kernels.rs, tests/autodiff_ops.rs and tests/autodiff_strided.rs:
//! random convolution geometries, random data and the deterministic proptest configuration.

use eqens::autodiff::ConvGeom;
use proptest::test_runner::{Config, RngSeed};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A geometry with the given sizes, filter side k and stride, seeded: a random subset of the
/// k×k taps (each kept with probability 0.6, never none) in random order — weight t belongs
/// to taps[t], whatever the order — and independent top and left paddings in 0..=k
/// (asymmetric, even beyond "same").
pub fn random_geom(
    (batch, c_in, c_out, h, w): (usize, usize, usize, usize, usize),
    k: usize,
    stride: usize,
    seed: u64,
) -> ConvGeom {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut taps: Vec<_> = ConvGeom::full_taps(k)
        .into_iter()
        .filter(|_| rng.random::<f64>() < 0.6)
        .collect();
    if taps.is_empty() {
        taps.push((rng.random_range(0..k), rng.random_range(0..k)));
    }
    for i in (1..taps.len()).rev() {
        taps.swap(i, rng.random_range(0..=i));
    }
    ConvGeom {
        batch,
        c_in,
        c_out,
        h,
        w,
        k,
        taps,
        pad_top: rng.random_range(0..=k),
        pad_left: rng.random_range(0..=k),
        stride,
    }
}

/// `cases` proptest cases from the fixed `seed`, without regression files (deterministic).
pub fn fixed_config(cases: u32, seed: u64) -> Config {
    Config {
        cases,
        rng_seed: RngSeed::Fixed(seed),
        failure_persistence: None,
        ..Config::default()
    }
}

/// `n` values uniform in [lo, hi).
pub fn uniform(rng: &mut ChaCha8Rng, n: usize, lo: f64, hi: f64) -> Vec<f64> {
    (0..n).map(|_| rng.random_range(lo..hi)).collect()
}
