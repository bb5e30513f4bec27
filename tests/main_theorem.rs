//! The main theorem (NF24, Thm 4.2) checked exactly for SGD with random augmentation.
//!
//! A tiny C4 network starts on the orbit of A_0 (θ_0 uniform over {ρ(g)A_0}, an invariant
//! law) and takes 3 SGD steps of batch 1 on samples x_1, x_2, x_3, step k transforming its
//! sample by h_k. Enumerating every start g_0 and every sequence (h_1, h_2, h_3) gives
//! 4·4³ = 256 members; with equal weights their mean is the EXACT expectation E[Φ_{A_3}]
//! over the uniform (Haar) augmentation draws, which the theorem says is equivariant — on
//! any input, to round-off. With the non-uniform law (0.7, 0.1, 0.1, 0.1) on each h_k the
//! weighted mean is the expectation under a non-Haar law (H7 dropped) and is not.
//!
//! The trajectory-level form with batches of two (`eqens::check::main_theorem`, also run by
//! `eqens check --only main`): one uniform draw per batch, shared by its samples, keeps the
//! exact expectation equivariant; a correlated law that is not invariant under
//! (A, g) ↦ (ρ(h)A, hg) breaks it. And THEORY's H6 on an affine 𝓛
//! (`eqens::check::s16_affine_architecture::bias_check`): the law re-centred at Π_G A_𝓛 gives
//! an exactly equivariant infinite ensemble.

use eqens::autodiff::Tape;
use eqens::check::main_theorem;
use eqens::check::s16_affine_architecture::bias_check;
use eqens::ensemble::{equivariance_error, run_members};
use eqens::nn::{GroupNetwork, LayerSpec, Network, Support, Target};
use eqens::rep::GridGroup;
use eqens::train::init::standard_normal;
use eqens::train::{init_theta, sgd_epoch, Augmentation, InitLaw, Samples, SgdConfig, Workspace};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

const STEPS: usize = 3;
const PROBES: usize = 4;

/// Tolerance on the relative error of the exact expectation. In exact arithmetic the 256
/// final members form a set closed under ρ(g) (ρ(g)·U(A; x, h) = U(ρ(g)A; x, g·h) at each
/// step), so the uniform mean is exactly equivariant; numerically each member's 3 steps
/// differ from the permuted member's by per-step round-off ~1e-15 relative, and the mean
/// of 256 outputs summed in another order adds ≲ 256·ε ≈ 6e-14 relative to the members'
/// scale. 1e-12 leaves a margin of ~20.
const TOLERANCE: f64 = 1e-12;

/// A non-Haar law moves each step toward one orientation; after 3 steps at lr 0.5 the
/// weighted expectation is O(0.1) from equivariant; 1e-3 is nine orders above the
/// tolerance.
const CONTROL_THRESHOLD: f64 = 1e-3;

struct Setup {
    gnet: GroupNetwork,
    x: Vec<f64>,
    labels: Vec<usize>,
    probes: Vec<f64>,
    theta0: Vec<f64>,
}

fn setup(seed: u64) -> Setup {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let net = Network::new(
        &[1, 4, 4],
        vec![
            LayerSpec::conv(2, &Support::plus()),
            LayerSpec::Tanh,
            LayerSpec::conv(2, &Support::full(3)),
            LayerSpec::Tanh,
            LayerSpec::Flatten,
            LayerSpec::dense_full(3),
        ],
    )
    .unwrap();
    let gnet = GroupNetwork::on_images(net, GridGroup::C4).unwrap();
    let theta0 = init_theta(&gnet, &InitLaw::Gaussian { scale: 1.0 }, &mut rng).unwrap();
    let x = (0..STEPS * 16).map(|_| standard_normal(&mut rng)).collect();
    let labels = vec![0, 2, 1];
    let probes = (0..PROBES * 16)
        .map(|_| 2.0 * standard_normal(&mut rng))
        .collect();
    Setup {
        gnet,
        x,
        labels,
        probes,
        theta0,
    }
}

/// Member index m = g_0·64 + h_1·16 + h_2·4 + h_3: its start element and augmentations.
fn decode(m: usize) -> (usize, [usize; STEPS]) {
    (m / 64, [(m / 16) % 4, (m / 4) % 4, m % 4])
}

/// The 256 members after 3 steps of batch-1 SGD (lr 0.5), in index order.
fn members(s: &Setup) -> Vec<Vec<f64>> {
    let law = Augmentation::None.law(s.gnet.group()).unwrap();
    let cfg = SgdConfig {
        lr: 0.5,
        batch: 1,
        epochs: 1,
        shuffle: false,
    };
    run_members(0..256, 2, |m| {
        let (g0, hs) = decode(m);
        let mut theta = s.gnet.lift_theta(g0, &s.theta0).unwrap();
        let mut ws = Workspace::<f64>::new(&s.gnet);
        // Unused: no shuffle and the law {e} draws nothing random.
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        for (k, &h) in hs.iter().enumerate() {
            let sample = Samples {
                x: &s.x[k * 16..(k + 1) * 16],
                n: 1,
                target: Target::Labels(&s.labels[k..k + 1]),
            };
            // With the law {e}, the step transforms its sample by left·e = h.
            sgd_epoch(
                &s.gnet, &mut ws, &mut theta, &sample, &cfg, &law, h, &mut rng,
            )
            .unwrap();
        }
        theta
    })
    .unwrap()
}

/// max_{g, x} ‖Σ_m w_m Φ_m(ρ_X(g)x) − ρ_Y(g) Σ_m w_m Φ_m(x)‖ over Σ_m w_m mean_x ‖Φ_m(x)‖.
fn weighted_error(s: &Setup, thetas: &[Vec<f64>], weights: &[f64]) -> f64 {
    let net = s.gnet.network();
    let mut inputs = vec![0.0; 4 * PROBES * 16];
    for (g, block) in inputs.chunks_mut(PROBES * 16).enumerate() {
        s.gnet.act_on_inputs(g, &s.probes, block);
    }
    let k = net.output_dim();
    let mut mean = vec![0.0; 4 * PROBES * k];
    let mut scale = 0.0;
    let mut tape = Tape::new();
    for (theta, &w) in thetas.iter().zip(weights) {
        let out = net.predict(&mut tape, theta, &inputs, 4 * PROBES).unwrap();
        mean.iter_mut().zip(&out).for_each(|(a, b)| *a += w * b);
        let norms: f64 = out[..PROBES * k]
            .chunks(k)
            .map(|v| v.iter().map(|x| x * x).sum::<f64>().sqrt())
            .sum();
        scale += w * norms / PROBES as f64;
    }
    let (base, moved) = mean.split_at(PROBES * k);
    let mut err: f64 = 0.0;
    let mut expected = vec![0.0; PROBES * k];
    for (g, got) in std::iter::once(base)
        .chain(moved.chunks(PROBES * k))
        .enumerate()
    {
        s.gnet.act_on_outputs(g, base, &mut expected);
        for (a, b) in got.iter().zip(&expected) {
            err = err.max((a - b).abs());
        }
    }
    err / scale
}

#[test]
fn the_exact_expectation_over_haar_augmentations_is_equivariant() {
    for seed in 0..3 {
        let s = setup(seed);
        let thetas = members(&s);
        let uniform = vec![1.0 / 256.0; 256];
        let e = weighted_error(&s, &thetas, &uniform);
        // The same ensemble through the library's evaluation.
        let all = [0, 1, 2, 3];
        let lib = equivariance_error(&s.gnet, &thetas, &s.probes, PROBES, &all, 2).unwrap();
        println!("seed {seed}: exact expectation error {e:.3e} (library {lib:.3e})");
        assert!(e <= TOLERANCE, "seed {seed}: {e:e}");
        assert!(lib <= TOLERANCE, "seed {seed}: {lib:e}");
        // Single members (one draw of the augmentations) are far from equivariant.
        let single = equivariance_error(&s.gnet, &thetas[..1], &s.probes, PROBES, &all, 1).unwrap();
        println!("seed {seed}: single member {single:.3}");
        assert!(single > CONTROL_THRESHOLD, "seed {seed}: {single:e}");
    }
}

#[test]
fn a_non_haar_law_gives_a_non_equivariant_expectation() {
    let p = [0.7, 0.1, 0.1, 0.1];
    for seed in 0..3 {
        let s = setup(seed);
        let thetas = members(&s);
        let weights: Vec<f64> = (0..256)
            .map(|m| {
                let (_, hs) = decode(m);
                0.25 * hs.iter().map(|&h| p[h]).product::<f64>()
            })
            .collect();
        assert!((weights.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        let e = weighted_error(&s, &thetas, &weights);
        println!("seed {seed}: non-Haar expectation error {e:.3}");
        assert!(e > CONTROL_THRESHOLD, "seed {seed}: {e:e}");
        // Dropping the orbit average instead (a fixed start, uniform h's) also breaks it.
        let fixed: Vec<f64> = (0..256)
            .map(|m| if m < 64 { 1.0 / 64.0 } else { 0.0 })
            .collect();
        let e = weighted_error(&s, &thetas, &fixed);
        println!("seed {seed}: fixed-start expectation error {e:.3}");
        assert!(e > CONTROL_THRESHOLD, "seed {seed}: {e:e}");
    }
}

#[test]
fn one_shared_uniform_draw_per_batch_keeps_the_expectation_exact() {
    for seed in 0..3 {
        let m = main_theorem::check(seed).unwrap();
        println!("seed {seed}: {}", m.case);
        assert!(m.holds(), "seed {seed}: {m:?}");
    }
}

#[test]
fn a_law_that_is_not_jointly_invariant_breaks_the_expectation() {
    for seed in 0..3 {
        let controls = main_theorem::controls(seed).unwrap();
        assert!(controls
            .iter()
            .any(|c| c.dropped == "joint law not invariant"));
        for c in controls {
            println!("seed {seed} [{}]: {}", c.dropped, c.case);
            assert!(c.failed_as_expected(), "seed {seed}: {c:?}");
        }
    }
}

#[test]
fn an_affine_law_recentred_at_the_reynolds_average_has_no_bias() {
    for seed in 0..4 {
        let m = bias_check(seed).unwrap();
        println!("seed {seed}: {}", m.case);
        assert!(m.holds(), "seed {seed}: {m:?}");
    }
}
