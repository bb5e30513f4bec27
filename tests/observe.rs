//! Observability of training and of the forward pass: the per-step SGD observer changes no
//! bit, the draws listed by `draw_epoch` are the ones SGD makes (replayed by hand they give
//! the same θ bits), per-layer outputs end in `predict`'s output, and the execution plan
//! reports fusion and micro-batches.

use eqens::autodiff::Tape;
use eqens::nn::{GroupNetwork, LayerSpec, Network, PaperBasis, Support, Target};
use eqens::train::cases::{image_case, vector_case, Activations, Filters};
use eqens::train::{
    draw_epoch, sgd_epoch, sgd_epoch_observed, Augmentation, EpochDraws, SgdConfig, Workspace,
};
use eqens::Scalar;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

fn bits<T: Scalar>(v: &[T]) -> Vec<u64> {
    v.iter().map(|x| x.f64().to_bits()).collect()
}

/// Three epochs of plain SGD and of observed SGD from the same θ_0 and seed, in the scalar
/// T, on `case_seed`'s image (or vector) problem; returns (plain θ, observed θ, plain
/// losses, observed losses, the observed steps' (indices, elements) per epoch).
#[allow(clippy::type_complexity)]
fn plain_and_observed<T: Scalar>(
    case_seed: u64,
    vector: bool,
    left: usize,
) -> (
    Vec<T>,
    Vec<T>,
    Vec<f64>,
    Vec<f64>,
    Vec<Vec<(Vec<usize>, Vec<usize>)>>,
) {
    let case = if vector {
        vector_case(case_seed).unwrap()
    } else {
        image_case(
            case_seed,
            None,
            &Filters::InvariantSupport,
            Activations::Any,
        )
        .unwrap()
    };
    let gnet = &case.gnet;
    let x: Vec<T> = case.x.iter().map(|&v| T::of(v)).collect();
    let values: Vec<T> = case.values.iter().map(|&v| T::of(v)).collect();
    let data = eqens::train::Samples {
        x: &x,
        n: case.n,
        target: if vector {
            Target::Values(&values)
        } else {
            Target::Labels(&case.labels)
        },
    };
    let cfg = SgdConfig {
        lr: 0.05,
        batch: 3,
        epochs: 3,
        shuffle: true,
    };
    let law = Augmentation::Full.law(gnet.group()).unwrap();
    let theta0: Vec<T> = (0..gnet.network().num_params())
        .map(|k| T::of(((k * 7 + 3) as f64).sin() * 0.5))
        .collect();
    let (mut a, mut b) = (theta0.clone(), theta0);
    let (mut wa, mut wb) = (Workspace::<T>::new(gnet), Workspace::<T>::new(gnet));
    let (mut ra, mut rb) = (
        ChaCha8Rng::seed_from_u64(case_seed ^ 99),
        ChaCha8Rng::seed_from_u64(case_seed ^ 99),
    );
    let (mut la, mut lb, mut steps) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..cfg.epochs {
        la.push(sgd_epoch(gnet, &mut wa, &mut a, &data, &cfg, &law, left, &mut ra).unwrap());
        let mut epoch = Vec::new();
        let mut last_theta = Vec::new();
        let loss = sgd_epoch_observed(
            gnet,
            &mut wb,
            &mut b,
            &data,
            &cfg,
            &law,
            left,
            &mut rb,
            |s| {
                epoch.push((s.indices.to_vec(), s.elements.to_vec()));
                last_theta = s.theta.to_vec();
            },
        )
        .unwrap();
        // The observer's last θ is the θ the epoch ends with.
        assert_eq!(bits(&last_theta), bits(&b));
        lb.push(loss);
        steps.push(epoch);
    }
    (a, b, la, lb, steps)
}

#[test]
fn observed_sgd_is_bit_identical_to_plain_sgd() {
    for seed in 0..4 {
        let (a, b, la, lb, _) = plain_and_observed::<f32>(seed, false, 0);
        assert_eq!(bits(&a), bits(&b), "f32 image case {seed}");
        assert_eq!(la, lb);
        let (a, b, la, lb, _) = plain_and_observed::<f64>(seed, seed % 2 == 1, 0);
        assert_eq!(bits(&a), bits(&b), "f64 case {seed}");
        assert_eq!(la, lb);
    }
    // Negative control: another coupling element (other rotations) moves θ.
    let (a, _, _, _, _) = plain_and_observed::<f64>(0, false, 0);
    let (c, _, _, _, _) = plain_and_observed::<f64>(0, false, 1);
    assert_ne!(bits(&a), bits(&c));
}

#[test]
fn draw_epoch_lists_the_draws_sgd_makes() {
    for (seed, left) in [(0, 0), (1, 0), (2, 1), (3, 3)] {
        let case = image_case(seed, None, &Filters::InvariantSupport, Activations::Any).unwrap();
        let (_, _, _, _, observed) = plain_and_observed::<f64>(seed, false, left);
        let cfg = SgdConfig {
            lr: 0.05,
            batch: 3,
            epochs: 3,
            shuffle: true,
        };
        let law = Augmentation::Full.law(case.gnet.group()).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 99);
        for epoch in observed {
            let d: EpochDraws =
                draw_epoch(case.n, case.gnet.group(), &cfg, &law, left, &mut rng).unwrap();
            let listed: Vec<(Vec<usize>, Vec<usize>)> = d
                .batches
                .iter()
                .map(|b| (b.indices.clone(), b.elements.clone()))
                .collect();
            assert_eq!(listed, epoch, "case {seed}, left {left}");
            assert_eq!(d.order, listed.concat_indices());
        }
    }
}

trait ConcatIndices {
    fn concat_indices(&self) -> Vec<usize>;
}

impl ConcatIndices for Vec<(Vec<usize>, Vec<usize>)> {
    fn concat_indices(&self) -> Vec<usize> {
        self.iter().flat_map(|(i, _)| i.iter().copied()).collect()
    }
}

#[test]
fn replaying_listed_draws_by_hand_gives_sgds_theta_bits() {
    let case = image_case(5, None, &Filters::InvariantSupport, Activations::Smooth).unwrap();
    let gnet: &GroupNetwork = &case.gnet;
    let net = gnet.network();
    let x: Vec<f32> = case.x.iter().map(|&v| v as f32).collect();
    let data = eqens::train::Samples {
        x: &x,
        n: case.n,
        target: Target::Labels(&case.labels),
    };
    let cfg = SgdConfig {
        lr: 0.1,
        batch: 2,
        epochs: 2,
        shuffle: true,
    };
    let law = Augmentation::Full.law(gnet.group()).unwrap();
    let theta0: Vec<f32> = (0..net.num_params())
        .map(|k| (k as f32 * 0.3).cos())
        .collect();
    let mut trained = theta0.clone();
    let mut ws = Workspace::new(gnet);
    let mut rng = ChaCha8Rng::seed_from_u64(42);
    for _ in 0..cfg.epochs {
        sgd_epoch(gnet, &mut ws, &mut trained, &data, &cfg, &law, 0, &mut rng).unwrap();
    }
    // By hand: list the draws, then stack ρ_X(g)x per batch and step.
    let mut rng = ChaCha8Rng::seed_from_u64(42);
    let d = net.input_dim();
    let mut theta = theta0;
    let mut tape = Tape::new();
    let mut grad = vec![0.0f32; theta.len()];
    for _ in 0..cfg.epochs {
        let draws = draw_epoch(case.n, gnet.group(), &cfg, &law, 0, &mut rng).unwrap();
        for b in &draws.batches {
            let m = b.indices.len();
            let mut bx = vec![0.0f32; m * d];
            for (slot, (&i, &g)) in b.indices.iter().zip(&b.elements).enumerate() {
                gnet.input_rep().apply(
                    g,
                    &x[i * d..(i + 1) * d],
                    &mut bx[slot * d..(slot + 1) * d],
                );
            }
            let labels: Vec<usize> = b.indices.iter().map(|&i| case.labels[i]).collect();
            net.loss_and_grad(
                &mut tape,
                &theta,
                &bx,
                m,
                Target::Labels(&labels),
                &mut grad,
            )
            .unwrap();
            for (t, &g) in theta.iter_mut().zip(&grad) {
                *t -= 0.1f32 * g;
            }
        }
    }
    assert_eq!(bits(&theta), bits(&trained));
    // Negative control: the same replay without the rotations ends elsewhere.
    let mut rng = ChaCha8Rng::seed_from_u64(42);
    let mut plain: Vec<f32> = (0..net.num_params())
        .map(|k| (k as f32 * 0.3).cos())
        .collect();
    for _ in 0..cfg.epochs {
        let draws = draw_epoch(case.n, gnet.group(), &cfg, &law, 0, &mut rng).unwrap();
        for b in &draws.batches {
            let m = b.indices.len();
            let bx: Vec<f32> = b
                .indices
                .iter()
                .flat_map(|&i| x[i * d..(i + 1) * d].iter().copied())
                .collect();
            let labels: Vec<usize> = b.indices.iter().map(|&i| case.labels[i]).collect();
            net.loss_and_grad(
                &mut tape,
                &plain,
                &bx,
                m,
                Target::Labels(&labels),
                &mut grad,
            )
            .unwrap();
            for (t, &g) in plain.iter_mut().zip(&grad) {
                *t -= 0.1f32 * g;
            }
        }
    }
    assert_ne!(bits(&plain), bits(&trained));
}

#[test]
fn draw_epoch_rejects_bad_arguments() {
    let c4 = eqens::group::Group::cyclic(4);
    let law = Augmentation::Full.law(&c4).unwrap();
    let cfg = SgdConfig {
        lr: 0.1,
        batch: 2,
        epochs: 1,
        shuffle: false,
    };
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    assert!(draw_epoch(0, &c4, &cfg, &law, 0, &mut rng).is_err());
    assert!(draw_epoch(4, &c4, &cfg, &law, 4, &mut rng).is_err());
    let bad = SgdConfig {
        batch: 0,
        ..cfg.clone()
    };
    assert!(draw_epoch(4, &c4, &bad, &law, 0, &mut rng).is_err());
    let d8_law = Augmentation::Full
        .law(&eqens::group::Group::dihedral(4))
        .unwrap();
    assert!(draw_epoch(4, &c4, &cfg, &d8_law, 0, &mut rng).is_err());
    // Without shuffling the order is the identity.
    let d = draw_epoch(5, &c4, &cfg, &law, 0, &mut rng).unwrap();
    assert_eq!(d.order, [0, 1, 2, 3, 4]);
}

fn digits_net() -> Network {
    Network::paper(8, &Support::plus(), PaperBasis::Orthonormal).unwrap()
}

#[test]
fn per_layer_outputs_end_in_the_forward_output() {
    let nets = [
        digits_net(),
        Network::paper(
            8,
            &Support::full(3),
            PaperBasis::RandomNormalised { seed: 3 },
        )
        .unwrap(),
        image_case(7, None, &Filters::InvariantSupport, Activations::Any)
            .unwrap()
            .gnet
            .network()
            .clone(),
    ];
    for (k, net) in nets.iter().enumerate() {
        let theta: Vec<f64> = (0..net.num_params())
            .map(|j| ((j * 13 + k) as f64).sin())
            .collect();
        let n = 3;
        let x: Vec<f64> = (0..n * net.input_dim())
            .map(|j| ((j * 5) as f64 * 0.11).cos())
            .collect();
        let mut tape = Tape::new();
        let outs = net.forward_layers(&mut tape, &theta, &x, n).unwrap();
        let y = net.predict(&mut tape, &theta, &x, n).unwrap();
        assert_eq!(outs.len(), net.layers().len());
        assert_eq!(bits(&outs.last().unwrap().values), bits(&y), "network {k}");
        for (i, o) in outs.iter().enumerate() {
            assert_eq!(o.layer, i);
            assert_eq!(o.values.len(), o.shape.iter().product::<usize>());
            assert_eq!(o.shape[1..], net.layers()[i].out_shape[..]);
            assert_eq!(o.fused_into_next, net.fused_pool(i) > 1);
        }
        // A fused convolution's inspected output, pooled 2×2 by hand, is the fused result
        // up to round-off: a few ulps of the values' size (|v| ≲ 10 here, f64), so 1e-12.
        for i in (0..outs.len()).filter(|&i| outs[i].fused_into_next) {
            let (c, h, w) = (outs[i].shape[1], outs[i].shape[2], outs[i].shape[3]);
            let (full, pooled) = (&outs[i].values, &outs[i + 1].values);
            let mut worst = 0.0f64;
            for s in 0..n * c {
                for r in 0..h / 2 {
                    for q in 0..w / 2 {
                        let at = |a: usize, b: usize| full[s * h * w + a * w + b];
                        let mean = (at(2 * r, 2 * q)
                            + at(2 * r + 1, 2 * q)
                            + at(2 * r, 2 * q + 1)
                            + at(2 * r + 1, 2 * q + 1))
                            / 4.0;
                        let got = pooled[s * (h / 2) * (w / 2) + r * (w / 2) + q];
                        worst = worst.max((mean - got).abs());
                    }
                }
            }
            assert!(worst < 1e-12, "network {k}, layer {i}: {worst:e}");
        }
    }
    // The hidden layers are not the output: a wrong "last" would show here.
    let net = digits_net();
    let theta = vec![0.3; net.num_params()];
    let x = vec![0.5; 64];
    let outs = net.forward_layers(&mut Tape::new(), &theta, &x, 1).unwrap();
    assert_ne!(outs[outs.len() - 2].values.len(), 10);
    // Bad lengths are errors, not panics.
    assert!(net
        .forward_layers(&mut Tape::new(), &theta[1..], &x, 1)
        .is_err());
    assert!(net.forward_layers(&mut Tape::new(), &theta, &x, 2).is_err());
}

#[test]
fn execution_plan_reports_fusion_and_micro_batches() {
    let net = digits_net();
    // ARCHITECTURE.md: digits f32 trains a batch of 32 in one pass, f64 in 2 × 16.
    let p32 = net.execution_plan::<f32>(32);
    let p64 = net.execution_plan::<f64>(32);
    assert_eq!((p32.micro_batch, p32.passes), (32, 1));
    assert_eq!((p64.micro_batch, p64.passes), (16, 2));
    assert_eq!(p32.fused, [(0, 2)]);
    // Without a pooling layer nothing is fused.
    let plain = Network::new(
        &[1, 8, 8],
        vec![
            LayerSpec::conv(2, &Support::plus()),
            LayerSpec::Tanh,
            LayerSpec::Flatten,
            LayerSpec::dense_full(3),
        ],
    )
    .unwrap();
    assert!(plain.execution_plan::<f32>(8).fused.is_empty());
    // A 28×28 network needs several passes for a batch of 32 (ARCHITECTURE: passes of 3).
    let big = Network::paper(28, &Support::plus(), PaperBasis::Orthonormal).unwrap();
    let p = big.execution_plan::<f32>(32);
    assert!(p.passes > 1 && p.micro_batch * p.passes >= 32);
}
