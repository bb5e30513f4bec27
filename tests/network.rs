//! The layer catalogue and networks: supports, parametrisations (𝓛 = A_𝓛 + T𝓛), shape
//! inference and its errors, ambient weights ↔ θ, and the forward/backward pass on the tape
//! (gradient checks, fast path = general path, ambient network = network).

use eqens::autodiff::Tape;
use eqens::nn::{Basis, LayerSpec, Network, Padding, PaperBasis, Parametrisation, Support, Target};
use eqens::{Error, Scalar};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn normal(rng: &mut ChaCha8Rng) -> f64 {
    let u1: f64 = 1.0 - rng.random::<f64>();
    let u2: f64 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

fn normals(rng: &mut ChaCha8Rng, n: usize) -> Vec<f64> {
    (0..n).map(|_| normal(rng)).collect()
}

fn max_abs_diff(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

fn is_shape_err<T: std::fmt::Debug>(r: eqens::Result<T>) -> bool {
    matches!(r, Err(Error::Shape(_)))
}

// ---------------------------------------------------------------------------------------
// Supports
// ---------------------------------------------------------------------------------------

#[test]
fn supports_parse_name_and_taps() {
    let plus = Support::plus();
    assert_eq!(plus.taps(), vec![(0, 1), (1, 0), (1, 1), (1, 2), (2, 1)]);
    assert_eq!(plus.indices(), vec![1, 3, 4, 5, 7]);
    let pc = Support::plus_corner();
    assert_eq!(pc.taps(), vec![(0, 0), (0, 1), (1, 0), (1, 2), (2, 1)]);
    assert!(pc.contains(0, 0) && !pc.contains(1, 1) && !pc.contains(3, 0));
    assert_eq!(Support::full(3).len(), 9);
    for s in [Support::full(3), plus.clone(), pc.clone(), Support::full(5)] {
        assert_eq!(Support::parse(&s.name()).unwrap(), s);
        assert_eq!(s.to_string(), s.name());
    }
    assert_eq!(Support::parse("010111010").unwrap(), plus);
    assert_eq!(plus.name(), "plus");
    let odd = Support::parse("100000001").unwrap();
    assert_eq!(odd.name(), "100000001");
    assert_eq!(odd.taps(), vec![(0, 0), (2, 2)]);
}

#[test]
fn supports_reject_bad_descriptions() {
    // Wrong length (8 is not a square), even side (16 = 4²), bad character, empty mask.
    assert!(Support::parse("01011101").is_err());
    assert!(Support::parse("0101110101011101").is_err());
    assert!(Support::parse("01011101x").is_err());
    assert!(Support::parse("000000000").is_err());
    assert!(Support::parse("diamond").is_err());
    assert!(Support::from_mask(2, vec![true; 4]).is_err());
    assert!(Support::from_mask(3, vec![true; 8]).is_err());
}

// ---------------------------------------------------------------------------------------
// Parametrisations
// ---------------------------------------------------------------------------------------

/// Round-trip tolerance: expand is Σ of d ≤ 9 products and coefficients_of a QR solve of a
/// well-conditioned basis (random unit vectors in ≤ 9 dimensions have condition number
/// O(10)), so errors are a few hundred ε·‖θ‖ ≈ 1e-13 at most; 1e-11 leaves a margin.
const ROUND_TRIP_TOL: f64 = 1e-11;

fn random_columns(rng: &mut ChaCha8Rng, d: usize, ambient: usize) -> Vec<Vec<f64>> {
    (0..d).map(|_| normals(rng, ambient)).collect()
}

#[test]
fn parametrisation_round_trips() {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let support = Support::plus_corner();
    let offset = normals(&mut rng, 9);
    let params = vec![
        Parametrisation::from_support(&support),
        Parametrisation::random_normalised(9, &support.indices(), 7).unwrap(),
        Parametrisation::orthonormalised(9, random_columns(&mut rng, 4, 9)).unwrap(),
        Parametrisation::from_columns(9, random_columns(&mut rng, 6, 9)).unwrap(),
        Parametrisation::from_support(&support)
            .with_offset(offset.clone())
            .unwrap(),
        Parametrisation::random_normalised(9, &support.indices(), 8)
            .unwrap()
            .with_offset(offset)
            .unwrap(),
    ];
    for p in &params {
        for _ in 0..5 {
            let theta = normals(&mut rng, p.dim());
            let a = p.expand(&theta);
            let back = p.coefficients_of(&a).unwrap();
            assert!(max_abs_diff(&theta, &back) < ROUND_TRIP_TOL, "{p:?}");
        }
    }
}

#[test]
fn expand_is_offset_plus_basis_combination() {
    let p = Parametrisation::one_hot(4, vec![2, 0])
        .unwrap()
        .with_offset(vec![1.0, 0.0, 0.0, -1.0])
        .unwrap();
    assert_eq!(p.expand(&[5.0, 7.0]), vec![8.0, 0.0, 5.0, -1.0]);
    assert_eq!(p.support_indices(), vec![0, 2, 3]);
    assert_eq!(
        p.basis_matrix(),
        vec![vec![0.0, 0.0, 1.0, 0.0], vec![1.0, 0.0, 0.0, 0.0]]
    );
    let q =
        Parametrisation::from_columns(3, vec![vec![1.0, 1.0, 0.0], vec![0.0, 2.0, 0.0]]).unwrap();
    assert_eq!(q.expand(&[1.0, 0.5]), vec![1.0, 2.0, 0.0]);
    assert_eq!(q.support_indices(), vec![0, 1]);
}

#[test]
fn coefficients_of_rejects_weights_outside_the_architecture() {
    // Negative control: an ambient vector with weight on a tap outside Ω is not in 𝓛.
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let support = Support::plus();
    let outside = 0; // corner (0,0) ∉ plus
    let params = vec![
        Parametrisation::from_support(&support),
        Parametrisation::random_normalised(9, &support.indices(), 3).unwrap(),
        Parametrisation::from_support(&support)
            .with_offset(normals(&mut rng, 9))
            .unwrap(),
    ];
    for p in &params {
        let mut a = p.expand(&normals(&mut rng, p.dim()));
        assert!(p.coefficients_of(&a).is_ok());
        a[outside] += 1e-6;
        assert!(p.coefficients_of(&a).is_err(), "{p:?} accepted A ∉ 𝓛");
    }
    // Without its offset, an affine 𝓛's points are not in 𝓛 (offset with off-support mass).
    let mut offset = vec![0.0; 9];
    offset[outside] = 1.0;
    let affine = Parametrisation::from_support(&support)
        .with_offset(offset)
        .unwrap();
    let a = Parametrisation::from_support(&support).expand(&[1.0; 5]);
    assert!(affine.coefficients_of(&a).is_err());
    assert!(affine.coefficients_of(&[0.0; 8]).is_err());
}

#[test]
fn orthonormality_of_bases() {
    let support = Support::plus();
    // Gram entries are sums of ≤ 9 products: round-off ≤ 1e-15; 1e-12 is generous and far
    // below the O(0.1) off-diagonal entries of random unit vectors.
    let tol = 1e-12;
    assert!(Parametrisation::from_support(&support).is_orthonormal(tol));
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let gs = Parametrisation::orthonormalised(9, random_columns(&mut rng, 5, 9)).unwrap();
    assert!(gs.is_orthonormal(tol));
    // Control: random unit vectors are normalised but not orthogonal.
    let rn = Parametrisation::random_normalised(9, &support.indices(), 5).unwrap();
    assert!(!rn.is_orthonormal(tol));
    for c in rn.basis_matrix() {
        assert!((c.iter().map(|x| x * x).sum::<f64>() - 1.0).abs() < tol);
    }
    // It spans the same subspace as the one-hot basis on Ω.
    assert_eq!(rn.support_indices(), support.indices());
    assert_eq!(rn.dim(), support.len());
    let a = Parametrisation::from_support(&support).expand(&[1.0, -2.0, 3.0, 0.5, 4.0]);
    assert!(rn.coefficients_of(&a).is_ok());
    // Deterministic in the seed; different across seeds.
    assert_eq!(
        rn,
        Parametrisation::random_normalised(9, &support.indices(), 5).unwrap()
    );
    assert_ne!(
        rn,
        Parametrisation::random_normalised(9, &support.indices(), 6).unwrap()
    );
}

#[test]
fn parametrisations_reject_bad_input() {
    assert!(Parametrisation::one_hot(4, vec![0, 4]).is_err());
    assert!(Parametrisation::one_hot(4, vec![1, 1]).is_err());
    assert!(Parametrisation::random_normalised(4, &[0, 7], 1).is_err());
    assert!(Parametrisation::from_columns(3, vec![vec![1.0, 0.0]]).is_err());
    assert!(Parametrisation::from_columns(3, vec![vec![f64::NAN, 0.0, 0.0]]).is_err());
    // Dependent columns.
    let dep = vec![vec![1.0, 2.0, 0.0], vec![2.0, 4.0, 0.0]];
    assert!(Parametrisation::from_columns(3, dep.clone()).is_err());
    assert!(Parametrisation::orthonormalised(3, dep).is_err());
    assert!(Parametrisation::full(3).with_offset(vec![0.0; 2]).is_err());
    assert!(Parametrisation::full(3).coefficients_of(&[0.0; 4]).is_err());
    match Parametrisation::from_support(&Support::plus()).basis() {
        Basis::OneHot(idx) => assert_eq!(idx, &vec![1, 3, 4, 5, 7]),
        Basis::Dense(_) => panic!("from_support must be one-hot"),
    }
}

// ---------------------------------------------------------------------------------------
// Shape inference and its errors
// ---------------------------------------------------------------------------------------

#[test]
fn paper_network_shapes() {
    let net = Network::paper(8, &Support::plus(), PaperBasis::Orthonormal).unwrap();
    let shapes: Vec<(&str, Vec<usize>)> = net
        .layers()
        .iter()
        .map(|l| (l.spec.kind(), l.out_shape.clone()))
        .collect();
    let expected: Vec<(&str, Vec<usize>)> = vec![
        ("conv2d", vec![16, 8, 8]),
        ("avgpool2d", vec![16, 4, 4]),
        ("tanh", vec![16, 4, 4]),
        ("layernorm", vec![16, 4, 4]),
        ("conv2d", vec![16, 4, 4]),
        ("avgpool2d", vec![16, 2, 2]),
        ("tanh", vec![16, 2, 2]),
        ("layernorm", vec![16, 2, 2]),
        ("conv2d", vec![16, 2, 2]),
        ("tanh", vec![16, 2, 2]),
        ("layernorm", vec![16, 2, 2]),
        ("flatten", vec![64]),
        ("dense", vec![10]),
    ];
    assert_eq!(shapes, expected);
    assert_eq!(net.input_shape(), &[1, 8, 8]);
    assert_eq!(net.output_dim(), 10);
    assert_eq!(net.num_params(), 16 * 5 + 16 * 16 * 5 + 16 * 16 * 5 + 640);
    // θ blocks tile 0..num_params in layer order.
    let ranges: Vec<_> = net
        .layers()
        .iter()
        .filter(|l| !l.theta.is_empty())
        .map(|l| l.theta.clone())
        .collect();
    assert_eq!(
        ranges,
        vec![0..80, 80..1360, 1360..2640, 2640..3280],
        "θ layout"
    );
    // 28×28 digits: dense 16·7·7 → 10; the full support has 9 taps per filter.
    let big = Network::paper(28, &Support::full(3), PaperBasis::Orthonormal).unwrap();
    assert_eq!(big.layers()[11].out_shape, vec![784]);
    assert_eq!(big.num_params(), 16 * 9 + 2 * 16 * 16 * 9 + 7840);
    let rn = Network::paper(
        8,
        &Support::plus(),
        PaperBasis::RandomNormalised { seed: 3 },
    )
    .unwrap();
    assert_eq!(rn.num_params(), net.num_params());
    // The three conv layers get different random bases.
    let bases: Vec<_> = rn
        .layers()
        .iter()
        .flat_map(|l| l.spec.params())
        .take(3)
        .cloned()
        .collect();
    assert!(bases[0] != bases[1] && bases[1] != bases[2]);
    assert!(!bases[0].is_orthonormal(1e-12));
}

#[test]
fn pooling_on_odd_grids_is_allowed() {
    // 2×2 pooling on a 5×5 grid floors to 2×2: a negative control of the theory, not an error.
    let net = Network::new(
        &[1, 5, 5],
        vec![
            LayerSpec::conv(2, &Support::plus()),
            LayerSpec::AvgPool2d(2),
        ],
    )
    .unwrap();
    assert_eq!(net.layers()[1].out_shape, vec![2, 2, 2]);
    assert_eq!(net.output_dim(), 8);
}

#[test]
fn bad_descriptions_are_shape_errors() {
    let plus = Support::plus();
    // Dense on an image (no flatten).
    assert!(is_shape_err(Network::new(
        &[1, 4, 4],
        vec![LayerSpec::dense_full(3)]
    )));
    // Dense parametrisation of the wrong ambient size (in = 16, out = 3 → 48, not 40).
    assert!(is_shape_err(Network::new(
        &[1, 4, 4],
        vec![
            LayerSpec::Flatten,
            LayerSpec::dense_with(3, Parametrisation::full(40))
        ]
    )));
    // Conv on a flat input.
    assert!(is_shape_err(Network::new(
        &[16],
        vec![LayerSpec::conv(2, &plus)]
    )));
    // Support larger than the grid: plus taps at offset ±1 never reach a 1×1 grid.
    assert!(is_shape_err(Network::new(
        &[1, 1, 1],
        vec![LayerSpec::conv(2, &plus)]
    )));
    // ... but the centre tap alone is fine on 1×1, and plus is fine on 2×2.
    let centre = Support::parse("000010000").unwrap();
    assert!(Network::new(&[1, 1, 1], vec![LayerSpec::conv(2, &centre)]).is_ok());
    assert!(Network::new(&[1, 2, 2], vec![LayerSpec::conv(2, &plus)]).is_ok());
    // A 5×5 filter parametrisation on a layer declared 3×3.
    assert!(is_shape_err(Network::new(
        &[1, 6, 6],
        vec![LayerSpec::conv_with(
            2,
            3,
            Parametrisation::from_support(&Support::full(5))
        )]
    )));
    // Padding not below the filter side.
    assert!(is_shape_err(Network::new(
        &[1, 6, 6],
        vec![LayerSpec::Conv2d {
            out_channels: 2,
            kernel: 3,
            param: Parametrisation::from_support(&plus),
            padding: Padding { top: 3, left: 1 },
        }]
    )));
    // Pool window larger than the grid, zero window, pool on a flat input.
    assert!(is_shape_err(Network::new(
        &[1, 2, 2],
        vec![LayerSpec::AvgPool2d(3)]
    )));
    assert!(is_shape_err(Network::new(
        &[1, 2, 2],
        vec![LayerSpec::AvgPool2d(0)]
    )));
    assert!(is_shape_err(Network::new(
        &[4],
        vec![LayerSpec::AvgPool2d(2)]
    )));
    // The paper's net on 4×4 images reaches a 1×1 grid before its last 3×3 conv.
    assert!(is_shape_err(Network::paper(
        4,
        &plus,
        PaperBasis::Orthonormal
    )));
    // Attention on a 3-D input, zero d_k, wrong W_v ambient size.
    assert!(is_shape_err(Network::new(
        &[1, 3, 4],
        vec![LayerSpec::attention_full(2, 2)]
    )));
    assert!(is_shape_err(Network::new(
        &[3, 4],
        vec![LayerSpec::attention_full(0, 2)]
    )));
    assert!(is_shape_err(Network::new(
        &[3, 4],
        vec![LayerSpec::Attention {
            d_k: 2,
            d_v: 2,
            wq: None,
            wk: None,
            wv: Some(Parametrisation::full(12)),
        }]
    )));
    // A constant of the wrong size; empty and zero input shapes.
    assert!(is_shape_err(Network::new(
        &[2, 3],
        vec![LayerSpec::AddConstant(vec![0.0; 5])]
    )));
    assert!(is_shape_err(Network::new(&[], vec![LayerSpec::Tanh])));
    assert!(is_shape_err(Network::new(&[3, 0], vec![LayerSpec::Tanh])));
    // The message names the culprit layer.
    let err =
        Network::new(&[1, 4, 4], vec![LayerSpec::Tanh, LayerSpec::dense_full(3)]).unwrap_err();
    assert!(err.to_string().contains("layer 1 (dense)"), "{err}");
}

// ---------------------------------------------------------------------------------------
// Ambient weights ↔ θ (no tape)
// ---------------------------------------------------------------------------------------

/// A small network with every kind of parametrisation: one-hot conv, random normalised conv
/// with offset, a sparse dense layer with a non-orthonormal basis, a full dense layer.
fn mixed_network(seed: u64) -> Network {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let pc = Support::plus_corner();
    let dense_in = 3 * 2 * 2;
    let dense_param = Parametrisation::random_normalised(4 * dense_in, &[0, 5, 13, 30, 47], seed)
        .unwrap()
        .with_offset(normals(&mut rng, 4 * dense_in))
        .unwrap();
    Network::new(
        &[2, 5, 5],
        vec![
            LayerSpec::conv(3, &Support::plus()),
            LayerSpec::Tanh,
            LayerSpec::conv_with(
                3,
                3,
                Parametrisation::random_normalised(9, &pc.indices(), seed + 1)
                    .unwrap()
                    .with_offset(Parametrisation::from_support(&pc).expand(&normals(&mut rng, 5)))
                    .unwrap(),
            ),
            LayerSpec::AvgPool2d(2),
            LayerSpec::LayerNorm,
            LayerSpec::Flatten,
            LayerSpec::dense_with(4, dense_param),
            LayerSpec::Relu,
            LayerSpec::dense_full(3),
        ],
    )
    .unwrap()
}

#[test]
fn ambient_weights_round_trip_and_layout() {
    let net = mixed_network(10);
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let theta = normals(&mut rng, net.num_params());
    let a = net.ambient_weights(&theta);
    assert_eq!(
        a.iter().map(Vec::len).collect::<Vec<_>>(),
        vec![3 * 2 * 9, 3 * 3 * 9, 4 * 12, 3 * 4]
    );
    // Layout [C_out, C_in, k, k]: filter (o=1, c=0) of the one-hot plus conv holds θ[o,c,·]
    // on the plus taps and zero on the corners.
    let d = 5;
    let pair = 2; // o·C_in + c with o = 1, c = 0, C_in = 2
    let block = &theta[pair * d..(pair + 1) * d];
    let filter = &a[0][2 * 9..3 * 9];
    assert_eq!(filter[1], block[0]);
    assert_eq!(filter[4], block[2]);
    assert_eq!(filter[0], 0.0);
    // ROUND_TRIP_TOL: per-filter solves as in `parametrisation_round_trips`.
    let back = net.theta_from_ambient(&a).unwrap();
    assert!(max_abs_diff(&theta, &back) < ROUND_TRIP_TOL);
    // The ambient network's θ is the concatenation of the ambient weights.
    let amb = net.ambient_network();
    let flat: Vec<f64> = a.concat();
    assert_eq!(amb.num_params(), flat.len());
    assert_eq!(amb.theta_from_ambient(&a).unwrap(), flat);
    assert_eq!(amb.ambient_weights(&flat), a);
}

#[test]
fn theta_from_ambient_rejects_bad_weights() {
    let net = mixed_network(12);
    let mut rng = ChaCha8Rng::seed_from_u64(13);
    let theta = normals(&mut rng, net.num_params());
    let a = net.ambient_weights(&theta);
    // Negative control: mass on the corner (0,0) of a plus filter is outside 𝓛.
    let mut bad = a.clone();
    bad[0][9] += 1e-3;
    assert!(net.theta_from_ambient(&bad).is_err());
    // A dense weight outside the sparse basis' span.
    let mut bad = a.clone();
    bad[2][1] += 1e-3;
    assert!(net.theta_from_ambient(&bad).is_err());
    // Wrong count and wrong length.
    assert!(net.theta_from_ambient(&a[..3]).is_err());
    let mut bad = a;
    bad[3].pop();
    assert!(is_shape_err(net.theta_from_ambient(&bad)));
}

// ---------------------------------------------------------------------------------------
// Forward and backward on the tape
// ---------------------------------------------------------------------------------------

/// Loss at θ (f64) through `loss_and_grad`.
fn loss_at(net: &Network, theta: &[f64], x: &[f64], n: usize, target: Target<'_, f64>) -> f64 {
    let mut tape = Tape::new();
    let mut g = vec![0.0; net.num_params()];
    net.loss_and_grad(&mut tape, theta, x, n, target, &mut g)
        .unwrap()
}

/// Largest relative mismatch, over `dirs` random unit directions v, between the analytic
/// directional derivative ∇L·v and the central difference (L(θ+hv) − L(θ−hv))/2h.
fn directional_mismatch(
    net: &Network,
    theta: &[f64],
    grad: &[f64],
    x: &[f64],
    n: usize,
    target: Target<'_, f64>,
    rng: &mut ChaCha8Rng,
) -> f64 {
    let h = 1e-5;
    let mut worst: f64 = 0.0;
    for _ in 0..3 {
        let mut v = normals(rng, theta.len());
        let nv = v.iter().map(|x| x * x).sum::<f64>().sqrt();
        v.iter_mut().for_each(|x| *x /= nv);
        let plus: Vec<f64> = theta.iter().zip(&v).map(|(t, d)| t + h * d).collect();
        let minus: Vec<f64> = theta.iter().zip(&v).map(|(t, d)| t - h * d).collect();
        let fd =
            (loss_at(net, &plus, x, n, target) - loss_at(net, &minus, x, n, target)) / (2.0 * h);
        let an: f64 = grad.iter().zip(&v).map(|(g, d)| g * d).sum();
        worst = worst.max((fd - an).abs() / an.abs().max(1.0));
    }
    worst
}

/// Gradient-check tolerance (relative, f64): central differences with h = 1e-5 have
/// truncation error h²/6·|L'''| ≈ 2e-11·|L'''| and round-off ε·|L|/h ≈ 2e-11·|L|; with
/// |L'''|, |L| = O(1..10) on these small nets the error is ≲ 1e-9. 1e-6 leaves margin while a
/// wrong gradient (see the negative control) is off by O(1e-2) or more.
const GRAD_TOL: f64 = 1e-6;

fn random_param(rng: &mut ChaCha8Rng, ambient: usize, indices: &[usize]) -> Parametrisation {
    let seed = rng.random::<u64>();
    let p = match rng.random_range(0..3) {
        0 => Parametrisation::one_hot(ambient, indices.to_vec()).unwrap(),
        1 => Parametrisation::random_normalised(ambient, indices, seed).unwrap(),
        _ => {
            let cols = (0..indices.len())
                .map(|_| {
                    let mut c = vec![0.0; ambient];
                    indices.iter().for_each(|&i| c[i] = normal(rng));
                    c
                })
                .collect();
            Parametrisation::orthonormalised(ambient, cols).unwrap()
        }
    };
    if rng.random_range(0..3) == 0 {
        let offset = normals(rng, ambient);
        p.with_offset(offset).unwrap()
    } else {
        p
    }
}

fn random_support(rng: &mut ChaCha8Rng) -> Support {
    loop {
        let mask: Vec<bool> = (0..9).map(|_| rng.random_range(0..2) == 1).collect();
        if let Ok(s) = Support::from_mask(3, mask) {
            return s;
        }
    }
}

/// A random small conv net: 1–2 conv blocks (random supports and parametrisations, tanh or
/// relu, optional layer norm, optional 2×2 pooling, optional position-dependent constant),
/// then flatten → dense (random sparse parametrisation) → tanh → dense(3).
fn random_network(rng: &mut ChaCha8Rng) -> Network {
    let c0 = rng.random_range(1..3);
    let side = rng.random_range(4..7);
    let mut shape = [c0, side, side];
    let mut specs = Vec::new();
    for _ in 0..rng.random_range(1..3) {
        let c = rng.random_range(1..4);
        let support = random_support(rng);
        specs.push(LayerSpec::conv_with(
            c,
            3,
            random_param(rng, 9, &support.indices()),
        ));
        shape[0] = c;
        specs.push(if rng.random_range(0..2) == 0 {
            LayerSpec::Tanh
        } else {
            LayerSpec::Relu
        });
        if rng.random_range(0..2) == 0 {
            specs.push(LayerSpec::LayerNorm);
        }
        if shape[1] >= 4 && rng.random_range(0..2) == 0 {
            specs.push(LayerSpec::AvgPool2d(2));
            shape[1] /= 2;
            shape[2] /= 2;
        }
        if rng.random_range(0..4) == 0 {
            let size = shape.iter().product();
            specs.push(LayerSpec::AddConstant(normals(rng, size)));
        }
    }
    specs.push(LayerSpec::Flatten);
    let inp: usize = shape.iter().product();
    let hidden = rng.random_range(2..5);
    let ambient = hidden * inp;
    let mut idx: Vec<usize> = (0..ambient)
        .filter(|_| rng.random_range(0..3) == 0)
        .collect();
    if idx.is_empty() {
        idx.push(0);
    }
    specs.push(LayerSpec::dense_with(
        hidden,
        random_param(rng, ambient, &idx),
    ));
    specs.push(LayerSpec::Tanh);
    specs.push(LayerSpec::dense_full(3));
    Network::new(&[c0, side, side], specs).unwrap()
}

#[test]
fn gradient_check_on_random_networks() {
    let mut rng = ChaCha8Rng::seed_from_u64(20);
    let mut tape = Tape::new();
    let mut seen = std::collections::BTreeSet::new();
    for trial in 0..8 {
        let net = random_network(&mut rng);
        for l in net.layers() {
            seen.insert(l.spec.kind().to_string());
            for p in l.spec.params() {
                if p.offset().is_some() {
                    seen.insert(format!("{} offset", l.spec.kind()));
                }
                if !p.is_orthonormal(1e-12) {
                    seen.insert(format!("{} non-orthonormal", l.spec.kind()));
                }
                if matches!(p.basis(), Basis::Dense(_)) {
                    seen.insert(format!("{} dense-basis", l.spec.kind()));
                }
            }
        }
        let n = 3;
        let theta: Vec<f64> = normals(&mut rng, net.num_params())
            .iter()
            .map(|t| 0.5 * t)
            .collect();
        let x = normals(&mut rng, n * net.input_dim());
        let labels = [0usize, 2, 1];
        let values = normals(&mut rng, n * net.output_dim());
        let target = if trial % 2 == 0 {
            Target::Labels(&labels[..])
        } else {
            Target::Values(&values[..])
        };
        let mut grad = vec![0.0; net.num_params()];
        net.loss_and_grad(&mut tape, &theta, &x, n, target, &mut grad)
            .unwrap();
        let err = directional_mismatch(&net, &theta, &grad, &x, n, target, &mut rng);
        assert!(
            err < GRAD_TOL,
            "trial {trial}: mismatch {err:.3e} for {net:?}"
        );
    }
    // The seeded draws cover every layer kind and parametrisation path.
    for kind in [
        "relu",
        "tanh",
        "layernorm",
        "avgpool2d",
        "add-constant",
        "conv2d offset",
        "conv2d non-orthonormal",
        "conv2d dense-basis",
        "dense offset",
        "dense non-orthonormal",
    ] {
        assert!(seen.contains(kind), "no {kind} drawn: {seen:?}");
    }
}

#[test]
fn gradient_check_on_the_mixed_and_attention_networks() {
    let mut rng = ChaCha8Rng::seed_from_u64(21);
    let mut tape = Tape::new();
    let attn = Network::new(
        &[4, 3],
        vec![
            LayerSpec::Attention {
                d_k: 2,
                d_v: 3,
                wq: None,
                wk: Some(random_param(&mut rng, 6, &[0, 2, 3, 5])),
                wv: Some(random_param(&mut rng, 9, &[0, 1, 4, 5, 8])),
            },
            LayerSpec::LayerNorm,
            LayerSpec::Flatten,
            LayerSpec::dense_full(3),
        ],
    )
    .unwrap();
    for net in [mixed_network(22), attn] {
        let n = 2;
        let theta = normals(&mut rng, net.num_params());
        let x = normals(&mut rng, n * net.input_dim());
        let labels = [1usize, 2];
        let mut grad = vec![0.0; net.num_params()];
        let target = Target::Labels(&labels[..]);
        net.loss_and_grad(&mut tape, &theta, &x, n, target, &mut grad)
            .unwrap();
        let err = directional_mismatch(&net, &theta, &grad, &x, n, target, &mut rng);
        assert!(err < GRAD_TOL, "mismatch {err:.3e}");
        // Negative control: swapping the largest and the smallest gradient entries (a
        // misplaced block) fails the check.
        let by_size = |a: &usize, b: &usize| grad[*a].abs().total_cmp(&grad[*b].abs());
        let i = (0..grad.len()).max_by(by_size).unwrap();
        let j = (0..grad.len()).min_by(by_size).unwrap();
        grad.swap(i, j);
        let err = directional_mismatch(&net, &theta, &grad, &x, n, target, &mut rng);
        assert!(err > 1e3 * GRAD_TOL, "corrupted gradient passed: {err:.3e}");
    }
}

/// Forward agreement tolerance (f64): the compared computations are the same sums in a
/// different order (or with exact zeros added), so they differ by a few ε per operation;
/// over ≲ 10 layers of O(10)-term sums with O(1) values that is ≲ 1e-14, below 1e-12.
const SAME_MAP_TOL: f64 = 1e-12;

#[test]
fn ambient_network_computes_the_same_function() {
    let mut rng = ChaCha8Rng::seed_from_u64(30);
    let mut tape = Tape::new();
    for net in [
        mixed_network(31),
        random_network(&mut rng),
        random_network(&mut rng),
    ] {
        let n = 2;
        let theta = normals(&mut rng, net.num_params());
        let x = normals(&mut rng, n * net.input_dim());
        let y = net.predict(&mut tape, &theta, &x, n).unwrap();
        let amb = net.ambient_network();
        let mut a = net.ambient_weights(&theta);
        let y_amb = amb.predict(&mut tape, &a.concat(), &x, n).unwrap();
        assert!(max_abs_diff(&y, &y_amb) < SAME_MAP_TOL);
        // Negative control: the ambient network does use the weights outside 𝓛 — putting
        // mass on a tap outside the first conv's support changes the output.
        let outside = (0..9)
            .find(|&t| {
                !net.layers()[0].spec.params()[0]
                    .support_indices()
                    .contains(&t)
            })
            .unwrap_or(0);
        a[0][outside] += 1.0;
        let y_off = amb.predict(&mut tape, &a.concat(), &x, n).unwrap();
        assert!(max_abs_diff(&y, &y_off) > 1e-6);
    }
}

#[test]
fn fast_one_hot_conv_path_equals_general_path() {
    let mut rng = ChaCha8Rng::seed_from_u64(40);
    let mut tape = Tape::new();
    let support = Support::plus_corner();
    // The same one-hot basis, once as `OneHot` (fast path: coefficients are tap weights) and
    // once as explicit `Dense` columns (general path: matmul with the basis).
    let one_hot = Parametrisation::from_support(&support);
    let dense = Parametrisation::from_columns(9, one_hot.basis_matrix()).unwrap();
    let build = |p: Parametrisation| {
        Network::new(
            &[2, 5, 5],
            vec![
                LayerSpec::conv_with(3, 3, p.clone()),
                LayerSpec::Tanh,
                LayerSpec::conv_with(2, 3, p),
            ],
        )
        .unwrap()
    };
    let fast = build(one_hot.clone());
    let general = build(dense);
    let n = 2;
    let theta = normals(&mut rng, fast.num_params());
    let x = normals(&mut rng, n * fast.input_dim());
    let y_fast = fast.predict(&mut tape, &theta, &x, n).unwrap();
    let y_gen = general.predict(&mut tape, &theta, &x, n).unwrap();
    assert!(max_abs_diff(&y_fast, &y_gen) < SAME_MAP_TOL);
    // Their gradients agree too (same tolerance argument).
    let values = normals(&mut rng, n * fast.output_dim());
    let (mut g1, mut g2) = (vec![0.0; theta.len()], vec![0.0; theta.len()]);
    fast.loss_and_grad(&mut tape, &theta, &x, n, Target::Values(&values), &mut g1)
        .unwrap();
    general
        .loss_and_grad(&mut tape, &theta, &x, n, Target::Values(&values), &mut g2)
        .unwrap();
    assert!(max_abs_diff(&g1, &g2) < SAME_MAP_TOL);
    // Negative control: the same columns in another order are a different parametrisation.
    let mut cols = one_hot.basis_matrix();
    cols.swap(0, 1);
    let permuted = build(Parametrisation::from_columns(9, cols).unwrap());
    let y_perm = permuted.predict(&mut tape, &theta, &x, n).unwrap();
    assert!(max_abs_diff(&y_fast, &y_perm) > 1e-6);
}

#[test]
fn batched_attention_equals_per_sample_attention() {
    // A batch uses the block-diagonal masked softmax; one sample uses the tape's attention.
    let mut rng = ChaCha8Rng::seed_from_u64(50);
    let mut tape = Tape::new();
    let net = Network::new(&[4, 3], vec![LayerSpec::attention_full(2, 3)]).unwrap();
    assert_eq!(net.output_dim(), 12);
    let theta = normals(&mut rng, net.num_params());
    let n = 3;
    let x = normals(&mut rng, n * net.input_dim());
    let batch = net.predict(&mut tape, &theta, &x, n).unwrap();
    let d = net.input_dim();
    for s in 0..n {
        let one = net
            .predict(&mut tape, &theta, &x[s * d..(s + 1) * d], 1)
            .unwrap();
        assert!(max_abs_diff(&one, &batch[s * 12..(s + 1) * 12]) < SAME_MAP_TOL);
    }
    // Negative control: changing sample 0 leaves samples 1.. unchanged (no cross-talk) but
    // changes sample 0.
    let mut x2 = x.clone();
    x2[0] += 1.0;
    let batch2 = net.predict(&mut tape, &theta, &x2, n).unwrap();
    assert!(max_abs_diff(&batch[..12], &batch2[..12]) > 1e-6);
    assert_eq!(&batch[12..], &batch2[12..]);
}

#[test]
fn f32_and_f64_agree() {
    let net = Network::paper(8, &Support::plus(), PaperBasis::Orthonormal).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(60);
    let theta = normals(&mut rng, net.num_params());
    let n = 2;
    let x = normals(&mut rng, n * net.input_dim());
    let labels = [3usize, 7];
    let mut t64 = Tape::<f64>::new();
    let mut t32 = Tape::<f32>::new();
    let mut g64 = vec![0.0; net.num_params()];
    let mut g32 = vec![0.0f32; net.num_params()];
    let l64 = net
        .loss_and_grad(&mut t64, &theta, &x, n, Target::Labels(&labels), &mut g64)
        .unwrap();
    let theta32: Vec<f32> = theta.iter().map(|&t| f32::of(t)).collect();
    let x32: Vec<f32> = x.iter().map(|&t| f32::of(t)).collect();
    let l32 = net
        .loss_and_grad(
            &mut t32,
            &theta32,
            &x32,
            n,
            Target::Labels(&labels),
            &mut g32,
        )
        .unwrap();
    // f32 round-off (6e-8) through 13 layers with O(10)-term sums and layer norms: relative
    // errors ~1e-6..1e-5; 1e-3 separates that from a wrong computation (O(1) differences).
    assert!((l64 - l32.f64()).abs() < 1e-3 * l64.abs().max(1.0));
    let gmax = g64.iter().fold(0.0f64, |m, g| m.max(g.abs()));
    let gdiff = g64
        .iter()
        .zip(&g32)
        .fold(0.0f64, |m, (a, b)| m.max((a - b.f64()).abs()));
    assert!(gdiff < 1e-3 * gmax, "{gdiff} vs {gmax}");
    // predict resets the tape and returns [n, 10].
    let y = net.predict(&mut t32, &theta32, &x32, n).unwrap();
    assert_eq!(y.len(), n * 10);
}

#[test]
fn loss_and_grad_rejects_bad_input() {
    let net = mixed_network(70);
    let mut tape = Tape::<f64>::new();
    let p = net.num_params();
    let theta = vec![0.1; p];
    let x = vec![0.2; 2 * net.input_dim()];
    let mut grad = vec![0.0; p];
    let labels = [0usize, 1];
    let ok = net.loss_and_grad(&mut tape, &theta, &x, 2, Target::Labels(&labels), &mut grad);
    assert!(ok.is_ok());
    // Input length, θ length, gradient length, sample count 0.
    assert!(is_shape_err(net.loss_and_grad(
        &mut tape,
        &theta,
        &x[1..],
        2,
        Target::Labels(&labels),
        &mut grad
    )));
    assert!(is_shape_err(net.loss_and_grad(
        &mut tape,
        &theta[1..],
        &x,
        2,
        Target::Labels(&labels),
        &mut grad
    )));
    assert!(is_shape_err(net.loss_and_grad(
        &mut tape,
        &theta,
        &x,
        2,
        Target::Labels(&labels),
        &mut grad[1..]
    )));
    assert!(is_shape_err(net.predict(&mut tape, &theta, &[], 0)));
    // Label out of range (3 outputs), wrong label count, wrong target-value length.
    assert!(matches!(
        net.loss_and_grad(&mut tape, &theta, &x, 2, Target::Labels(&[0, 3]), &mut grad),
        Err(Error::Invalid(_))
    ));
    assert!(is_shape_err(net.loss_and_grad(
        &mut tape,
        &theta,
        &x,
        2,
        Target::Labels(&[0]),
        &mut grad
    )));
    assert!(is_shape_err(net.loss_and_grad(
        &mut tape,
        &theta,
        &x,
        2,
        Target::Values(&[0.0; 5]),
        &mut grad
    )));
}

/// Micro-batches: a training pass whose tape would exceed `MICRO_BATCH_BYTES` runs in
/// micro-batches whose gradients are summed with weights m/n. The split leaves the digits
/// f32 networks of every arm on one pass of 32 (the reproduction runs unsplit), splits
/// digits f64 into lane-aligned halves and the 28×28 network into a few samples; the split
/// loss and gradient equal the mean of per-sample passes (labels and values targets).
/// Negative control: the unweighted mean of the micro-batch losses (unequal sizes) differs.
#[test]
fn micro_batches_give_the_batch_mean() {
    for support in [Support::plus(), Support::plus_corner(), Support::full(3)] {
        let net = Network::paper(8, &support, PaperBasis::Orthonormal).unwrap();
        assert_eq!(
            net.micro_batch::<f32>(32),
            32,
            "digits f32 trains in one pass"
        );
        assert_eq!(
            net.micro_batch::<f64>(32),
            16,
            "digits f64: lane-aligned halves"
        );
    }
    let big = Network::paper(28, &Support::plus(), PaperBasis::Orthonormal).unwrap();
    let rows = big.micro_batch::<f32>(32);
    assert!((1..8).contains(&rows), "28×28 f32: {rows} rows per pass");

    let net = Network::paper(8, &Support::plus(), PaperBasis::Orthonormal).unwrap();
    let n = 40; // 16 + 16 + 8 in f64
    assert_eq!(net.micro_batch::<f64>(n), 16);
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let theta: Vec<f64> = normals(&mut rng, net.num_params())
        .iter()
        .map(|v| 0.3 * v)
        .collect();
    let x = normals(&mut rng, n * net.input_dim());
    let labels: Vec<usize> = (0..n).map(|i| (i * 7) % 10).collect();
    let values = normals(&mut rng, n * 10);
    let d = net.input_dim();
    let mut tape = Tape::new();
    for target in [Target::Labels(&labels), Target::Values(&values)] {
        let mut grad = vec![0.0; net.num_params()];
        let loss = net
            .loss_and_grad(&mut tape, &theta, &x, n, target, &mut grad)
            .unwrap();
        let (mut want_loss, mut want_grad) = (0.0, vec![0.0; net.num_params()]);
        let mut g = vec![0.0; net.num_params()];
        for i in 0..n {
            let t = match target {
                Target::Labels(l) => Target::Labels(&l[i..i + 1]),
                Target::Values(v) => Target::Values(&v[i * 10..(i + 1) * 10]),
            };
            let l = net
                .loss_and_grad(&mut tape, &theta, &x[i * d..(i + 1) * d], 1, t, &mut g)
                .unwrap();
            want_loss += l / n as f64;
            for (a, &b) in want_grad.iter_mut().zip(&g) {
                *a += b / n as f64;
            }
        }
        // Sums of 40 per-sample terms in another order: round-off ≈ 40 · 2⁻⁵³ relative.
        assert!((loss - want_loss).abs() <= 1e-13 * want_loss.abs().max(1.0));
        let scale = want_grad.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        assert!(max_abs_diff(&grad, &want_grad) <= 1e-13 * scale.max(1.0));

        // Control: the plain mean of the three micro-batch means weighs the last 8 samples
        // as much as each 16.
        let mut plain = 0.0;
        for (start, m) in [(0, 16), (16, 16), (32, 8)] {
            let t = match target {
                Target::Labels(l) => Target::Labels(&l[start..start + m]),
                Target::Values(v) => Target::Values(&v[start * 10..(start + m) * 10]),
            };
            plain += net
                .loss_and_grad(
                    &mut tape,
                    &theta,
                    &x[start * d..(start + m) * d],
                    m,
                    t,
                    &mut g,
                )
                .unwrap()
                / 3.0;
        }
        assert!(
            (plain - want_loss).abs() > 1e-6,
            "control: unweighted means differ"
        );
    }
}

/// Every kernel computes a sample from its own row alone (lanes, tiles and blocks only move
/// or regroup whole samples), so predictions are bit-identical however the rows are batched:
/// the evaluation's chunk size cannot change results. f32 and f64, 40 rows against chunks of
/// 1, 16 and 23. Control: perturbing one input changes that row's outputs and no other.
#[test]
fn predictions_do_not_depend_on_the_batching() {
    fn case<T: Scalar>() {
        for support in [Support::plus(), Support::full(3)] {
            let net = Network::paper(8, &support, PaperBasis::Orthonormal).unwrap();
            let mut rng = ChaCha8Rng::seed_from_u64(21);
            let theta: Vec<T> = normals(&mut rng, net.num_params())
                .into_iter()
                .map(T::of)
                .collect();
            let (n, d, k) = (40, net.input_dim(), net.output_dim());
            let mut x: Vec<T> = normals(&mut rng, n * d).into_iter().map(T::of).collect();
            let mut tape = Tape::new();
            let whole = net.predict(&mut tape, &theta, &x, n).unwrap();
            let mut parts = Vec::new();
            for (start, m) in [(0, 1), (1, 16), (17, 23)] {
                parts.extend(
                    net.predict(&mut tape, &theta, &x[start * d..(start + m) * d], m)
                        .unwrap(),
                );
            }
            let bits = |v: &[T]| -> Vec<u64> { v.iter().map(|a| a.f64().to_bits()).collect() };
            assert_eq!(bits(&whole), bits(&parts));
            x[5 * d + 3] += T::of(0.5);
            let moved = net.predict(&mut tape, &theta, &x, n).unwrap();
            for row in 0..n {
                let same =
                    bits(&moved[row * k..(row + 1) * k]) == bits(&whole[row * k..(row + 1) * k]);
                assert_eq!(same, row != 5, "control: row {row}");
            }
        }
    }
    case::<f32>();
    case::<f64>();
}

/// `linear_maps` is the one description of a layer's maps: per kind the unit, the repeat
/// count C_out·C_in (convolutions) or 1, the fan-in, the lift, and θ blocks that tile θ in
/// order with length repeat·d.
#[test]
fn linear_maps_describe_every_kind() {
    use eqens::nn::{Lift, Unit};
    let net = Network::new(
        &[2, 5, 5],
        vec![
            LayerSpec::conv(3, &Support::plus()),
            LayerSpec::Tanh,
            LayerSpec::Flatten,
            LayerSpec::dense_full(6),
        ],
    )
    .unwrap();
    let conv = net.layers()[0].linear_maps();
    assert_eq!(conv.len(), 1);
    assert_eq!(conv[0].unit, Unit::Filter { k: 3 });
    assert_eq!((conv[0].repeat, conv[0].fan_in), (3 * 2, 2 * 9));
    assert_eq!(
        (conv[0].lift, conv[0].theta.clone()),
        (Lift::GridFilter, 0..6 * 5)
    );
    assert!(net.layers()[1].linear_maps().is_empty());
    let dense = net.layers()[3].linear_maps();
    assert_eq!(dense[0].unit, Unit::Matrix { rows: 6, cols: 75 });
    assert_eq!((dense[0].repeat, dense[0].fan_in), (1, 75));
    assert_eq!(dense[0].theta, 30..30 + 6 * 75);
    assert_eq!(dense[0].lift, Lift::Sandwich);
    assert_eq!(net.num_params(), 30 + 6 * 75);

    let att = Network::new(&[4, 5], vec![LayerSpec::attention_full(2, 3)]).unwrap();
    let maps = att.layers()[0].linear_maps();
    let names: Vec<&str> = maps.iter().map(|m| m.name).collect();
    assert_eq!(names, ["W_q", "W_k", "W_v"]);
    let units: Vec<Unit> = maps.iter().map(|m| m.unit).collect();
    assert_eq!(
        units,
        [(2, 5), (2, 5), (3, 5)].map(|(rows, cols)| Unit::Matrix { rows, cols })
    );
    assert!(maps.iter().all(|m| m.lift == Lift::Fixed && m.fan_in == 5));
    assert_eq!(maps[2].theta, 20..35);
    // The ambient layer has the full one-hot basis of every unit.
    let ambient = net.layers()[0].spec.ambient();
    assert_eq!(ambient.params()[0].dim(), 9);
    assert_eq!(ambient.params()[0], &Parametrisation::full(9));
}
