//! Same seed → same bits at every SIMD level: whole-network SGD training (the paper's digits
//! and 28×28 networks, f32 and f64, with rot90 augmentation) run at every level this CPU
//! supports through `simd::with_level`, compared bit for bit with the baseline; and the
//! `EQENS_SIMD` variable, which the CLI refuses with a clear error when it cannot be
//! honoured. (The kernel-by-kernel comparison is in `src/autodiff/kernels/tests.rs`.)

use eqens::autodiff::simd::{self, Level};
use eqens::nn::{GroupNetwork, Network, PaperBasis, Support, Target};
use eqens::rep::GridGroup;
use eqens::train::{init_theta, sgd_epoch, Augmentation, InitLaw, Samples, SgdConfig, Workspace};
use eqens::Scalar;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::process::Command;

fn gnet(side: usize) -> GroupNetwork {
    let net = Network::paper(side, &Support::plus(), PaperBasis::Orthonormal).unwrap();
    GroupNetwork::on_images(net, GridGroup::C4).unwrap()
}

/// θ and the epoch losses after `epochs` epochs of augmented SGD over `n` seeded uniform
/// inputs (batches of 32 and a partial last one), from θ_0 ~ N(0, 1) with one entry moved
/// by `nudge` ulps (0 for the real runs).
fn train<T: Scalar>(gnet: &GroupNetwork, n: usize, epochs: usize, nudge: u64) -> Vec<u64> {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let d = gnet.network().input_dim();
    let x: Vec<T> = (0..n * d).map(|_| T::of(rng.random::<f64>())).collect();
    let labels: Vec<usize> = (0..n).map(|_| rng.random_range(0..10)).collect();
    let mut theta0 = init_theta(gnet, &InitLaw::Gaussian { scale: 1.0 }, &mut rng).unwrap();
    theta0[0] = f64::from_bits(theta0[0].to_bits() + nudge);
    let mut theta: Vec<T> = theta0.into_iter().map(T::of).collect();
    let data = Samples {
        x: &x,
        n,
        target: Target::Labels(&labels),
    };
    let cfg = SgdConfig {
        lr: 0.01,
        batch: 32,
        epochs,
        shuffle: true,
    };
    let law = Augmentation::Full.law(gnet.group()).unwrap();
    let mut ws = Workspace::new(gnet);
    let mut out = Vec::new();
    for e in 0..epochs {
        let loss = sgd_epoch(gnet, &mut ws, &mut theta, &data, &cfg, &law, e, &mut rng).unwrap();
        out.push(loss.to_bits());
    }
    out.extend(theta.iter().map(|v| v.f64().to_bits()));
    out
}

/// Trains at every supported level and asserts the bits equal the baseline's.
fn same_at_every_level<T: Scalar>(side: usize, n: usize, epochs: usize) {
    let g = gnet(side);
    let base = simd::with_level(Level::Baseline, || train::<T>(&g, n, epochs, 0)).unwrap();
    for level in simd::supported_levels() {
        let got = simd::with_level(level, || train::<T>(&g, n, epochs, 0)).unwrap();
        assert!(
            got == base,
            "{side}×{side} {}: training at {level} differs from the baseline",
            std::any::type_name::<T>()
        );
    }
    eprintln!(
        "{side}×{side} {}: identical at {:?}",
        std::any::type_name::<T>(),
        simd::supported_levels()
    );
}

#[test]
fn digits_network_trains_to_the_same_bits_at_every_level() {
    // 2 epochs of 77 samples: 3 batches each (32, 32, 13), the last one partial for the
    // batch lanes (16 f32 / 8 f64 samples per block).
    same_at_every_level::<f32>(8, 77, 2);
    same_at_every_level::<f64>(8, 77, 2);
}

#[test]
fn large_network_trains_to_the_same_bits_at_every_level() {
    // 28×28: the stride-2 fused convolution + pooling on phase planes, tap planes and the
    // batch lanes; one epoch of 40 samples (a batch of 32 and one of 8).
    same_at_every_level::<f32>(28, 40, 1);
    same_at_every_level::<f64>(28, 40, 1);
}

/// Negative control: a one-ulp change of θ_0 changes the trained bits, so the comparison
/// above would see a level that rounded a single operation differently.
#[test]
fn one_ulp_of_theta_changes_the_trained_bits() {
    let g = gnet(8);
    let a = train::<f64>(&g, 77, 2, 0);
    let b = train::<f64>(&g, 77, 2, 1);
    assert_ne!(a, b);
}

fn eqens(simd_env: &str) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_eqens"))
        .arg("groups")
        .env(simd::ENV, simd_env)
        .output()
        .unwrap()
}

#[test]
fn cli_refuses_an_unknown_level() {
    let out = eqens("avx9000");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("EQENS_SIMD=avx9000") && err.contains("unknown SIMD level"),
        "{err}"
    );
    assert!(out.stdout.is_empty(), "no work done before the error");
}

#[test]
fn cli_refuses_a_level_the_cpu_lacks_and_runs_the_others() {
    for level in Level::ALL {
        let out = eqens(level.name());
        if level.supported() {
            assert!(out.status.success(), "{level}: {out:?}");
        } else {
            assert!(!out.status.success(), "{level} is not supported here");
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(err.contains("not supported by this CPU"), "{err}");
        }
    }
}
