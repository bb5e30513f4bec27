//! The training API: augmentation laws, initial laws, descent, SGD, divergence, f32/f64.

use eqens::group::Group;
use eqens::nn::{GroupNetwork, LayerSpec, Network, Parametrisation, Support, Target};
use eqens::rep::{GridGroup, Rep};
use eqens::train::cases::{image_case, vector_case, Activations, Filters};
use eqens::train::{
    augmented_loss_and_grad, descend, init_theta, nominal_loss_and_grad, orbit, sgd_epoch,
    verify_orbit_membership, Augmentation, InitLaw, Samples, SgdConfig, Workspace,
};
use eqens::Error;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

// ---------------------------------------------------------------- laws

#[test]
fn law_validation_rejects_bad_policies() {
    let c4 = Group::cyclic(4);
    let bad = [
        Augmentation::Subgroup(vec![0, 1]), // {e, r} is not closed
        Augmentation::Subgroup(vec![0, 4]), // out of range
        Augmentation::Subset(vec![0, 7]),   // out of range
        Augmentation::Subset(vec![0, 0]),   // repeated
        Augmentation::Subset(vec![]),       // empty
        Augmentation::Weighted(vec![0.5, 0.5, 0.5, -0.5]), // negative
        Augmentation::Weighted(vec![0.3, 0.3, 0.3, 0.3]), // sums to 1.2
        Augmentation::Weighted(vec![0.5, 0.5]), // wrong length
        Augmentation::Weighted(vec![f64::NAN, 0.5, 0.25, 0.25]),
    ];
    for aug in bad {
        assert!(
            matches!(aug.law(&c4), Err(Error::Invalid(_))),
            "{aug:?} should be rejected"
        );
    }
}

#[test]
fn valid_laws_have_the_right_support_and_haar_flag() {
    let c4 = Group::cyclic(4);
    let full = Augmentation::Full.law(&c4).unwrap();
    assert_eq!(full.elements(), &[0, 1, 2, 3]);
    assert!(full.is_haar(&c4));
    let none = Augmentation::None.law(&c4).unwrap();
    assert_eq!((none.elements(), none.probs()), (&[0][..], &[1.0][..]));
    assert!(!none.is_haar(&c4));
    let sub = Augmentation::Subgroup(vec![0, 2]).law(&c4).unwrap();
    assert_eq!(sub.probs(), &[0.5, 0.5]);
    assert!(!sub.is_haar(&c4));
    assert!(Augmentation::Weighted(vec![0.25; 4])
        .law(&c4)
        .unwrap()
        .is_haar(&c4));
    let skew = Augmentation::Weighted(vec![0.7, 0.1, 0.1, 0.1])
        .law(&c4)
        .unwrap();
    assert!(!skew.is_haar(&c4));
    // Zero weights leave the support.
    let two = Augmentation::Weighted(vec![0.5, 0.0, 0.5, 0.0])
        .law(&c4)
        .unwrap();
    assert_eq!(two.elements(), &[0, 2]);
}

/// Pearson's χ² of observed counts against expected probabilities.
fn chi_square(counts: &[usize], probs: &[f64], draws: usize) -> f64 {
    counts
        .iter()
        .zip(probs)
        .map(|(&c, &p)| {
            let e = p * draws as f64;
            (c as f64 - e).powi(2) / e
        })
        .sum()
}

#[test]
fn haar_and_weighted_sampling_frequencies() {
    const DRAWS: usize = 80_000;
    let d4 = Group::dihedral(4);
    let full = Augmentation::Full.law(&d4).unwrap();
    let mut counts = [0usize; 8];
    let mut r = rng(7);
    for _ in 0..DRAWS {
        counts[full.sample(&mut r)] += 1;
    }
    // χ² with 7 degrees of freedom: P(χ² > 24.32) = 0.001; the seed is fixed, so this is
    // deterministic, and a biased sampler (e.g. one element 1% too frequent, Δχ² ≈ 64)
    // fails it.
    let chi = chi_square(&counts, &[1.0 / 8.0; 8], DRAWS);
    assert!(chi < 24.32, "Haar χ² = {chi}, counts {counts:?}");

    let c4 = Group::cyclic(4);
    let w = [0.7, 0.1, 0.1, 0.1];
    let skew = Augmentation::Weighted(w.to_vec()).law(&c4).unwrap();
    let mut counts = [0usize; 4];
    for _ in 0..DRAWS {
        counts[skew.sample(&mut r)] += 1;
    }
    // χ² with 3 degrees of freedom: P(χ² > 16.27) = 0.001.
    let chi = chi_square(&counts, &w, DRAWS);
    assert!(chi < 16.27, "weighted χ² = {chi}, counts {counts:?}");
    // Control: the same counts are far from uniform (χ² in the tens of thousands).
    let chi_uniform = chi_square(&counts, &[0.25; 4], DRAWS);
    assert!(chi_uniform > 1000.0, "χ² against uniform = {chi_uniform}");

    // The subgroup law only ever draws its elements.
    let sub = Augmentation::Subgroup(vec![0, 2]).law(&c4).unwrap();
    assert!((0..1000).all(|_| matches!(sub.sample(&mut r), 0 | 2)));
}

#[test]
fn full_law_draws_exactly_as_group_sample() {
    let d4 = Group::dihedral(4);
    let full = Augmentation::Full.law(&d4).unwrap();
    let (mut a, mut b) = (rng(3), rng(3));
    for _ in 0..1000 {
        assert_eq!(full.sample(&mut a), d4.sample(&mut b));
    }
}

// ---------------------------------------------------------------- initial laws

fn corner_net() -> GroupNetwork {
    let net = Network::new(
        &[1, 6, 6],
        vec![
            LayerSpec::conv(2, &Support::plus_corner()),
            LayerSpec::Tanh,
            LayerSpec::conv(2, &Support::plus_corner()),
            LayerSpec::Flatten,
            LayerSpec::dense_full(3),
        ],
    )
    .unwrap();
    GroupNetwork::on_images(net, GridGroup::C4).unwrap()
}

#[test]
fn symmetric_init_on_plus_corner_zeroes_the_corner_and_passes_membership() {
    let gnet = corner_net();
    let theta = init_theta(&gnet, &InitLaw::Symmetric { scale: 1.0 }, &mut rng(1)).unwrap();
    // Conv θ blocks are [C_out, C_in, 5] over the taps (0,0),(0,1),(1,0),(1,2),(2,1): the
    // corner (0,0) is coefficient 0 of every filter; its C4 orbit leaves the support.
    let conv_len: usize = gnet.network().layers()[..3]
        .iter()
        .map(|l| l.theta.len())
        .sum();
    let filters: Vec<&[f64]> = theta[..conv_len].chunks(5).collect();
    assert_eq!(filters.len(), 2 + 4);
    for f in &filters {
        assert_eq!(f[0], 0.0, "corner coefficient must be exactly zero: {f:?}");
        assert!(
            f[1..].iter().any(|&v| v != 0.0),
            "arms must be drawn: {f:?}"
        );
    }
    verify_orbit_membership(&gnet, &theta).unwrap();
    // The orbit: |G| members, member e is θ_0 itself.
    let members = orbit(&gnet, &theta).unwrap();
    assert_eq!(members.len(), 4);
    assert_eq!(members[0], theta);
}

#[test]
fn non_invariant_symmetric_init_fails_membership() {
    // The paper's released "symmetric init" zeroed nothing: that is Gaussian on plus-corner.
    let gnet = corner_net();
    let theta = init_theta(&gnet, &InitLaw::Gaussian { scale: 1.0 }, &mut rng(1)).unwrap();
    assert!(matches!(
        verify_orbit_membership(&gnet, &theta),
        Err(Error::Invalid(_))
    ));
    assert!(orbit(&gnet, &theta).is_err());
}

#[test]
fn symmetric_init_on_a_non_invariant_affine_architecture_is_rejected() {
    // 𝓛 = e_(0,0) + span(plus): ρ(r)A_𝓛 − A_𝓛 = e_(2,0) − e_(0,0) ∉ T𝓛, so no A ∈ 𝓛 has its
    // orbit in 𝓛 (S16); the membership check must refuse to call the draw symmetric.
    let plus = Parametrisation::from_support(&Support::plus());
    let mut offset = vec![0.0; 9];
    offset[0] = 1.0;
    let affine = plus.with_offset(offset).unwrap();
    let net = Network::new(
        &[1, 4, 4],
        vec![
            LayerSpec::conv_with(1, 3, affine),
            LayerSpec::Flatten,
            LayerSpec::dense_full(2),
        ],
    )
    .unwrap();
    let gnet = GroupNetwork::on_images(net, GridGroup::C4).unwrap();
    let r = init_theta(&gnet, &InitLaw::Symmetric { scale: 1.0 }, &mut rng(1));
    assert!(matches!(r, Err(Error::Invalid(_))), "{r:?}");
}

#[test]
fn gaussian_init_has_the_requested_scale() {
    let gnet = corner_net();
    let theta = init_theta(&gnet, &InitLaw::Gaussian { scale: 3.0 }, &mut rng(5)).unwrap();
    assert_eq!(theta.len(), gnet.network().num_params());
    let n = theta.len() as f64;
    let mean = theta.iter().sum::<f64>() / n;
    let var = theta.iter().map(|t| (t - mean).powi(2)).sum::<f64>() / n;
    // n ≈ 130 draws: the sample standard deviation is within ±20% of 3 with overwhelming
    // probability (its relative s.e. is 1/√(2n) ≈ 6%).
    assert!((var.sqrt() - 3.0).abs() < 0.6, "std {}", var.sqrt());
    assert!(init_theta(&gnet, &InitLaw::Gaussian { scale: f64::NAN }, &mut rng(5)).is_err());
    assert!(init_theta(&gnet, &InitLaw::Symmetric { scale: -1.0 }, &mut rng(5)).is_err());
}

// ---------------------------------------------------------------- risks and descent

#[test]
fn nominal_risk_is_the_identity_law() {
    let case = image_case(4, None, &Filters::InvariantSupport, Activations::Any).unwrap();
    let gnet = &case.gnet;
    let theta = init_theta(gnet, &InitLaw::Gaussian { scale: 1.0 }, &mut rng(2)).unwrap();
    let mut ws = Workspace::new(gnet);
    let (mut g1, mut g2) = (vec![0.0; theta.len()], vec![0.0; theta.len()]);
    let law = Augmentation::None.law(gnet.group()).unwrap();
    let a = augmented_loss_and_grad(gnet, &mut ws, &theta, &case.samples(), &law, &mut g1).unwrap();
    let b = nominal_loss_and_grad(gnet, &mut ws, &theta, &case.samples(), &mut g2).unwrap();
    assert_eq!(a, b);
    assert_eq!(g1, g2);
}

#[test]
fn bad_inputs_are_errors() {
    let case = vector_case(1).unwrap();
    let gnet = &case.gnet;
    let law = Augmentation::Full.law(gnet.group()).unwrap();
    let mut ws = Workspace::new(gnet);
    let p = gnet.network().num_params();
    let mut theta = vec![0.1; p];
    let mut grad = vec![0.0; p];
    let s = case.samples();
    let short = Samples {
        x: &case.x[1..],
        ..s
    };
    assert!(matches!(
        augmented_loss_and_grad(gnet, &mut ws, &theta, &short, &law, &mut grad),
        Err(Error::Shape(_))
    ));
    assert!(matches!(
        augmented_loss_and_grad(gnet, &mut ws, &theta[1..], &s, &law, &mut grad),
        Err(Error::Shape(_))
    ));
    for lr in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        assert!(matches!(
            descend(gnet, &mut ws, &mut theta, &s, &law, lr, 1, |_, _, _| {}),
            Err(Error::Invalid(_))
        ));
    }
    let cfg = SgdConfig {
        lr: 0.1,
        batch: 0,
        epochs: 1,
        shuffle: true,
    };
    assert!(sgd_epoch(gnet, &mut ws, &mut theta, &s, &cfg, &law, 0, &mut rng(0)).is_err());
    let cfg = SgdConfig { batch: 2, ..cfg };
    let order = gnet.group().order();
    assert!(matches!(
        sgd_epoch(
            gnet,
            &mut ws,
            &mut theta,
            &s,
            &cfg,
            &law,
            order,
            &mut rng(0)
        ),
        Err(Error::Invalid(_))
    ));
    // A law of another, larger group.
    let big = Augmentation::Full.law(&Group::cyclic(order + 3)).unwrap();
    assert!(augmented_loss_and_grad(gnet, &mut ws, &theta, &s, &big, &mut grad).is_err());
}

#[test]
fn descent_decreases_the_augmented_risk() {
    let case = image_case(11, None, &Filters::InvariantSupport, Activations::Smooth).unwrap();
    let gnet = &case.gnet;
    let mut theta = init_theta(gnet, &InitLaw::Gaussian { scale: 0.5 }, &mut rng(3)).unwrap();
    let law = Augmentation::Full.law(gnet.group()).unwrap();
    let mut ws = Workspace::new(gnet);
    let mut losses = Vec::new();
    descend(
        gnet,
        &mut ws,
        &mut theta,
        &case.samples(),
        &law,
        0.1,
        30,
        |k, _, l| {
            assert_eq!(k, losses.len());
            losses.push(l);
        },
    )
    .unwrap();
    assert_eq!(losses.len(), 30);
    assert!(losses[29] < losses[0], "{losses:?}");
}

/// A C4-invariant separable problem: 1×4×4 images, label 1 iff the mean pixel is positive
/// (a rotation-invariant rule, margin kept ≥ 0.25).
fn separable_problem(n: usize) -> (GroupNetwork, Vec<f64>, Vec<usize>) {
    use rand::RngExt;
    let net = Network::new(
        &[1, 4, 4],
        vec![
            LayerSpec::conv(2, &Support::full(3)),
            LayerSpec::Tanh,
            LayerSpec::Flatten,
            LayerSpec::dense_full(2),
        ],
    )
    .unwrap();
    let gnet = GroupNetwork::on_images(net, GridGroup::C4).unwrap();
    let mut r = rng(21);
    let mut x = Vec::with_capacity(n * 16);
    let mut labels = Vec::with_capacity(n);
    while labels.len() < n {
        let img: Vec<f64> = (0..16).map(|_| r.random_range(-1.0..1.0)).collect();
        let mean = img.iter().sum::<f64>() / 16.0;
        if mean.abs() < 0.25 {
            continue;
        }
        labels.push(usize::from(mean > 0.0));
        x.extend(img);
    }
    (gnet, x, labels)
}

#[test]
fn sgd_epochs_decrease_the_loss_on_a_separable_problem() {
    let n = 40;
    let (gnet, x, labels) = separable_problem(n);
    let data = Samples {
        x: &x,
        n,
        target: Target::Labels(&labels),
    };
    let law = Augmentation::Full.law(gnet.group()).unwrap();
    // batch 16 on 40 samples: the last batch of every epoch holds 8.
    let cfg = SgdConfig {
        lr: 0.2,
        batch: 16,
        epochs: 15,
        shuffle: true,
    };
    let mut theta = init_theta(&gnet, &InitLaw::Gaussian { scale: 0.3 }, &mut rng(4)).unwrap();
    let mut ws = Workspace::new(&gnet);
    let mut r = rng(9);
    let losses: Vec<f64> = (0..cfg.epochs)
        .map(|_| sgd_epoch(&gnet, &mut ws, &mut theta, &data, &cfg, &law, 0, &mut r).unwrap())
        .collect();
    // Cross-entropy starts near log 2 ≈ 0.69; a separable problem is fitted well below half.
    println!("SGD epoch losses {losses:?}");
    assert!(
        losses[cfg.epochs - 1] < 0.5 * losses[0],
        "epoch losses {losses:?}"
    );
}

#[test]
fn coupled_sgd_members_stay_on_the_orbit() {
    // Member g (left = g) from ρ(g)A_0 with the same seed tracks ρ(g)·(member e) (S6).
    let case = image_case(
        5,
        Some(GridGroup::C4),
        &Filters::InvariantSupport,
        Activations::Smooth,
    )
    .unwrap();
    let gnet = &case.gnet;
    let law = Augmentation::Full.law(gnet.group()).unwrap();
    let cfg = SgdConfig {
        lr: 0.05,
        batch: 3,
        epochs: 3,
        shuffle: true,
    };
    let theta0 = init_theta(gnet, &InitLaw::Gaussian { scale: 1.0 }, &mut rng(8)).unwrap();
    let mut ws = Workspace::new(gnet);
    let train = |g: usize, ws: &mut Workspace<f64>| {
        let mut theta = gnet.lift_theta(g, &theta0).unwrap();
        let mut r = rng(77);
        for _ in 0..cfg.epochs {
            sgd_epoch(gnet, ws, &mut theta, &case.samples(), &cfg, &law, g, &mut r).unwrap();
        }
        theta
    };
    let base = train(0, &mut ws);
    let norm = base.iter().map(|v| v * v).sum::<f64>().sqrt();
    for g in 1..4 {
        let member = train(g, &mut ws);
        let expected = gnet.lift_theta(g, &base).unwrap();
        let err = member
            .iter()
            .zip(&expected)
            .map(|(a, b)| (a - b).powi(2))
            .sum::<f64>()
            .sqrt();
        // THEORY S6: relative 1e-6 after tens of steps (per-sample round-off is amplified).
        println!("coupled g = {g}: relative error {:.2e}", err / norm);
        assert!(err / norm < 1e-6, "g = {g}: relative error {}", err / norm);
    }
    // Control: without the coupling (left = e for the moved member) it leaves the orbit.
    let mut uncoupled = gnet.lift_theta(1, &theta0).unwrap();
    let mut r = rng(77);
    for _ in 0..cfg.epochs {
        sgd_epoch(
            gnet,
            &mut ws,
            &mut uncoupled,
            &case.samples(),
            &cfg,
            &law,
            0,
            &mut r,
        )
        .unwrap();
    }
    let expected = gnet.lift_theta(1, &base).unwrap();
    let err = uncoupled
        .iter()
        .zip(&expected)
        .map(|(a, b)| (a - b).powi(2))
        .sum::<f64>()
        .sqrt();
    println!("uncoupled: relative error {:.2e}", err / norm);
    assert!(err / norm > 1e-3, "uncoupled relative error {}", err / norm);
}

// ---------------------------------------------------------------- divergence

/// A linear 2 → 2 network under C4 rotating R² (MSE): large steps blow up geometrically.
fn linear_problem() -> (GroupNetwork, Vec<f64>, Vec<f64>) {
    let rot = Rep::rotations_r2(4).unwrap();
    let net = Network::new(&[2], vec![LayerSpec::dense_full(2)]).unwrap();
    let gnet = GroupNetwork::new(net, vec![rot.clone(), rot]).unwrap();
    let x = vec![1.0, 2.0, -1.5, 0.5, 0.3, -2.0];
    let y = vec![0.5, -1.0, 1.0, 1.0, -0.2, 0.7];
    (gnet, x, y)
}

#[test]
fn huge_learning_rate_diverges_with_an_error() {
    let (gnet, x, y) = linear_problem();
    let s = Samples {
        x: &x,
        n: 3,
        target: Target::Values(&y),
    };
    let law = Augmentation::Full.law(gnet.group()).unwrap();
    let mut ws = Workspace::new(&gnet);
    let mut theta = vec![0.1; 4];
    let r = descend(&gnet, &mut ws, &mut theta, &s, &law, 1e6, 200, |_, _, _| {});
    assert!(matches!(r, Err(Error::Diverged { member: 0, .. })), "{r:?}");
    let cfg = SgdConfig {
        lr: 1e6,
        batch: 1,
        epochs: 1,
        shuffle: false,
    };
    let mut theta = vec![0.1; 4];
    let mut r_all = Ok(0.0);
    for _ in 0..100 {
        r_all = sgd_epoch(&gnet, &mut ws, &mut theta, &s, &cfg, &law, 0, &mut rng(1));
        if r_all.is_err() {
            break;
        }
    }
    assert!(matches!(r_all, Err(Error::Diverged { .. })), "{r_all:?}");
}

#[test]
fn nan_input_diverges_at_step_zero() {
    let (gnet, mut x, y) = linear_problem();
    x[3] = f64::NAN;
    let s = Samples {
        x: &x,
        n: 3,
        target: Target::Values(&y),
    };
    let law = Augmentation::Full.law(gnet.group()).unwrap();
    let mut ws = Workspace::new(&gnet);
    let mut theta = vec![0.1; 4];
    let r = descend(&gnet, &mut ws, &mut theta, &s, &law, 0.1, 5, |_, _, _| {});
    assert!(matches!(r, Err(Error::Diverged { step: 0, .. })), "{r:?}");
    let cfg = SgdConfig {
        lr: 0.1,
        batch: 3,
        epochs: 1,
        shuffle: false,
    };
    let r = sgd_epoch(&gnet, &mut ws, &mut theta, &s, &cfg, &law, 0, &mut rng(1));
    assert!(matches!(r, Err(Error::Diverged { step: 0, .. })), "{r:?}");
}

// ---------------------------------------------------------------- scalars

#[test]
fn f32_and_f64_both_train() {
    let case = image_case(2, None, &Filters::InvariantSupport, Activations::Smooth).unwrap();
    let gnet = &case.gnet;
    let theta64 = init_theta(gnet, &InitLaw::Gaussian { scale: 0.5 }, &mut rng(6)).unwrap();
    let law = Augmentation::Full.law(gnet.group()).unwrap();

    let mut t64 = theta64.clone();
    let mut l64 = Vec::new();
    descend(
        gnet,
        &mut Workspace::new(gnet),
        &mut t64,
        &case.samples(),
        &law,
        0.1,
        10,
        |_, _, l| l64.push(l),
    )
    .unwrap();

    let x32: Vec<f32> = case.x.iter().map(|&v| v as f32).collect();
    let s32 = Samples {
        x: &x32,
        n: case.n,
        target: Target::Labels(&case.labels),
    };
    let mut t32: Vec<f32> = theta64.iter().map(|&v| v as f32).collect();
    let mut l32 = Vec::new();
    descend(
        gnet,
        &mut Workspace::new(gnet),
        &mut t32,
        &s32,
        &law,
        0.1f32,
        10,
        |_, _, l| l32.push(l),
    )
    .unwrap();
    assert!(l64[9] < l64[0] && l32[9] < l32[0], "{l64:?} {l32:?}");
    // f32 follows f64 to single-precision accuracy: relative ε_32 ≈ 6e-8 per operation over
    // 10 steps of a small network stays well below 1e-3.
    for (a, b) in l64.iter().zip(&l32) {
        assert!((a - *b as f64).abs() <= 1e-3 * a.abs(), "{a} vs {b}");
    }
    // SGD in f32 too.
    let cfg = SgdConfig {
        lr: 0.1,
        batch: 3,
        epochs: 1,
        shuffle: true,
    };
    let loss = sgd_epoch(
        gnet,
        &mut Workspace::new(gnet),
        &mut t32,
        &s32,
        &cfg,
        &law,
        0,
        &mut rng(2),
    )
    .unwrap();
    assert!(loss.is_finite());
}
