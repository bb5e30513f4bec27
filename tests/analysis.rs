//! The lifted action and the compatibility analysis: ρ(g)A is an orthogonal representation
//! of G on H that matches the dense definition; "invariant" ⇔ the support is a union of
//! orbits; the two analysis methods agree; H2 failures are reported; `render_table`
//! snapshots.

use eqens::autodiff::{ConvGeom, Tape};
use eqens::check::s01_lifted_identity::{random_case, random_image_case, random_vector_case};
use eqens::linalg;
use eqens::nn::analysis::{
    analyze, analyze_map, analyze_support, random_ambient_weights, render_table, Method, Verdict,
    DENSE_MAX, VERDICT_TOL,
};
use eqens::nn::{GroupNetwork, LayerSpec, Network, Padding, PaperBasis, Parametrisation, Support};
use eqens::rep::GridGroup;
use eqens::Error;
use faer::Mat;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};

/// Deterministic proptest configuration (fixed seed, no regression files).
fn config(cases: u32) -> Config {
    Config {
        cases,
        rng_seed: RngSeed::Fixed(0x0a7a_1e5e),
        failure_persistence: None,
        ..Config::default()
    }
}

/// Largest |x − y| over two weight lists.
fn max_diff(a: &[Vec<f64>], b: &[Vec<f64>]) -> f64 {
    a.iter()
        .flatten()
        .zip(b.iter().flatten())
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

fn frobenius(a: &[Vec<f64>]) -> f64 {
    a.iter().flatten().map(|x| x * x).sum::<f64>().sqrt()
}

/// The lifted action on permutation representations moves entries without arithmetic, so
/// the homomorphism and the norm are exact up to the one rounding of a sum of squares
/// (≈ D·ε relative); 1e-12 is generous.
const LIFT_TOL: f64 = 1e-12;

#[test]
fn lift_is_an_orthogonal_representation_on_h() {
    for seed in 0..9 {
        let (gnet, case) = random_case(seed).unwrap();
        let a = random_ambient_weights(gnet.network(), seed);
        let group = gnet.group().clone();
        let norm = frobenius(&a);
        for g in 0..group.order() {
            let ga = gnet.lift(g, &a);
            assert!(
                (frobenius(&ga) - norm).abs() <= LIFT_TOL * norm.max(1.0),
                "{case}: ρ(g) does not preserve the Frobenius norm"
            );
            for h in 0..group.order() {
                let lhs = gnet.lift(g, &gnet.lift(h, &a));
                let rhs = gnet.lift(group.mul(g, h), &a);
                assert!(max_diff(&lhs, &rhs) <= LIFT_TOL, "{case}: ρ(g)ρ(h) ≠ ρ(gh)");
            }
        }
        assert_eq!(max_diff(&gnet.lift(0, &a), &a), 0.0, "{case}: ρ(e) ≠ I");
    }
}

/// Negative control of the homomorphism test: D4 is not abelian, so composing in the wrong
/// order, ρ(h)ρ(g) against ρ(gh), must be caught for some pair.
#[test]
fn wrong_composition_order_is_caught() {
    let net = Network::new(
        &[1, 5, 5],
        vec![LayerSpec::conv(2, &Support::full(3)), LayerSpec::Tanh],
    )
    .unwrap();
    let gnet = GroupNetwork::on_images(net, GridGroup::D4).unwrap();
    let a = random_ambient_weights(gnet.network(), 3);
    let group = gnet.group().clone();
    let worst = (0..8)
        .flat_map(|g| (0..8).map(move |h| (g, h)))
        .map(|(g, h)| {
            max_diff(
                &gnet.lift(h, &gnet.lift(g, &a)),
                &gnet.lift(group.mul(g, h), &a),
            )
        })
        .fold(0.0, f64::max);
    assert!(worst > 0.1, "wrong order not detected: {worst}");
}

/// The dense operator M(A) of a convolution with ambient filters `w` [C_out, C_in, k, k]:
/// column j is the conv applied to the j-th basis input.
fn conv_operator(
    c_in: usize,
    c_out: usize,
    side: usize,
    k: usize,
    padding: Padding,
    w: &[f64],
) -> Mat<f64> {
    let n_in = c_in * side * side;
    let n_out = c_out * side * side;
    let mut eye = vec![0.0; n_in * n_in];
    for j in 0..n_in {
        eye[j * n_in + j] = 1.0;
    }
    let geom = ConvGeom {
        batch: n_in,
        c_in,
        c_out,
        h: side,
        w: side,
        k,
        taps: ConvGeom::full_taps(k),
        pad_top: padding.top,
        pad_left: padding.left,
        stride: 1,
    };
    let mut tape = Tape::<f64>::new();
    let x = tape.leaf(&[n_in, c_in, side, side], &eye);
    let wv = tape.leaf(&[c_out, c_in, k * k], w);
    let y = tape.conv2d(x, wv, &geom);
    let y = tape.value(y);
    Mat::from_fn(n_out, n_in, |i, j| y[j * n_out + i])
}

/// Exact: both sides are the same products of entries with permutation matrices (0/1).
const OPERATOR_TOL: f64 = 1e-14;

#[test]
fn conv_lift_equals_the_dense_definition() {
    for (kind, seed) in [(GridGroup::C4, 1), (GridGroup::D4, 2), (GridGroup::C2, 3)] {
        let (c_in, c_out, side, k) = (2, 3, 5, 3);
        let net = Network::new(
            &[c_in, side, side],
            vec![LayerSpec::conv(c_out, &Support::full(k)), LayerSpec::Tanh],
        )
        .unwrap();
        let gnet = GroupNetwork::on_images(net, kind).unwrap();
        let a = random_ambient_weights(gnet.network(), seed);
        let same = Padding::same(k);
        let m = conv_operator(c_in, c_out, side, k, same, &a[0]);
        let group = gnet.group().clone();
        for g in 0..group.order() {
            let (rin, rout) = (gnet.spaces()[0].matrix(g), gnet.spaces()[1].matrix(g));
            let want = &rout * &m * rin.transpose();
            let got = conv_operator(c_in, c_out, side, k, same, &gnet.lift(g, &a)[0]);
            assert!(
                linalg::max_abs(&(&got - &want)) <= OPERATOR_TOL,
                "{kind:?} g={g}"
            );
            // Control: the filter rotated by g⁻¹ differs whenever g ≠ g⁻¹.
            if group.inv(g) != g {
                let wrong =
                    conv_operator(c_in, c_out, side, k, same, &gnet.lift(group.inv(g), &a)[0]);
                assert!(linalg::max_abs(&(&wrong - &want)) > 0.01, "{kind:?} g={g}");
            }
        }
        // Control: with padding (0, 0) the rotated filter no longer matches the rotated
        // operator (the identity needs symmetric padding).
        let asym = Padding { top: 0, left: 0 };
        let m = conv_operator(c_in, c_out, side, k, asym, &a[0]);
        let g = 1;
        let want = &gnet.spaces()[1].matrix(g) * &m * gnet.spaces()[0].matrix(g).transpose();
        let got = conv_operator(c_in, c_out, side, k, asym, &gnet.lift(g, &a)[0]);
        assert!(
            linalg::max_abs(&(&got - &want)) > 0.01,
            "{kind:?}: asymmetric padding"
        );
    }
}

#[test]
fn dense_lift_equals_rep_matrices() {
    for seed in [1, 4, 7, 10] {
        let (gnet, case) = random_vector_case(seed).unwrap();
        check_dense_maps(&gnet, seed, &case);
    }
    // The final dense layer of an image network: columns permuted, invariant logits.
    let (gnet, case) = random_image_case(5).unwrap();
    check_dense_maps(&gnet, 5, &case);
}

fn check_dense_maps(gnet: &GroupNetwork, seed: u64, case: &str) {
    let a = random_ambient_weights(gnet.network(), seed);
    let mut map = 0;
    for (i, layer) in gnet.network().layers().iter().enumerate() {
        let n = layer.spec.params().len();
        if let LayerSpec::Dense { out, .. } = layer.spec {
            let inp = layer.in_shape[0];
            let am = linalg::from_row_major(out, inp, &a[map]);
            for g in 0..gnet.group().order() {
                let want =
                    gnet.spaces()[i + 1].matrix(g) * &am * gnet.spaces()[i].matrix(g).transpose();
                let got = linalg::from_row_major(out, inp, &gnet.lift(g, &a)[map]);
                assert!(
                    linalg::max_abs(&(&got - &want)) <= OPERATOR_TOL,
                    "{case}: g={g}"
                );
            }
        }
        map += n;
    }
}

/// A one-conv network (3 channels, 7×7 images) whose filter architecture is one-hot on `mask`.
fn masked_net(kind: GridGroup, k: usize, mask: Vec<bool>) -> GroupNetwork {
    let support = Support::from_mask(k, mask).unwrap();
    let net = Network::new(
        &[1, 7, 7],
        vec![LayerSpec::conv(3, &support), LayerSpec::Tanh],
    )
    .unwrap();
    GroupNetwork::on_images(net, kind).unwrap()
}

/// A map of filter coordinates (i, j) ↦ (i', j').
type PointMap = Box<dyn Fn(usize, usize) -> (usize, usize)>;

/// The grid group's generators as coordinate maps of docs/ARCHITECTURE.md (rot90:
/// (i, j) ↦ (k−1−j, i); flip: (i, j) ↦ (i, k−1−j)), written here independently of `Rep`.
fn generators(kind: GridGroup, k: usize) -> Vec<PointMap> {
    let rot90 = move |i: usize, j: usize| (k - 1 - j, i);
    let rot180 = move |i: usize, j: usize| (k - 1 - i, k - 1 - j);
    let flip = move |i: usize, j: usize| (i, k - 1 - j);
    match kind {
        GridGroup::C2 => vec![Box::new(rot180)],
        GridGroup::C4 => vec![Box::new(rot90)],
        GridGroup::D4 => vec![Box::new(rot90), Box::new(flip)],
    }
}

/// Whether the mask is closed under the generators, i.e. a union of orbits.
fn union_of_orbits(kind: GridGroup, k: usize, mask: &[bool]) -> bool {
    let gens = generators(kind, k);
    (0..k * k).filter(|&p| mask[p]).all(|p| {
        gens.iter().all(|f| {
            let (i, j) = f(p / k, p % k);
            mask[i * k + j]
        })
    })
}

/// The smallest union of orbits containing the mask: apply the generators until nothing
/// changes.
fn close_under_group(kind: GridGroup, k: usize, mut mask: Vec<bool>) -> Vec<bool> {
    let gens = generators(kind, k);
    while !union_of_orbits(kind, k, &mask) {
        for p in 0..k * k {
            if mask[p] {
                for f in &gens {
                    let (i, j) = f(p / k, p % k);
                    mask[i * k + j] = true;
                }
            }
        }
    }
    mask
}

fn kind_strategy() -> impl Strategy<Value = GridGroup> {
    prop_oneof![
        Just(GridGroup::C2),
        Just(GridGroup::C4),
        Just(GridGroup::D4)
    ]
}

/// Random non-empty masks on 3×3 and 5×5; half of them closed into unions of orbits so both
/// verdicts are well represented.
fn mask_strategy() -> impl Strategy<Value = (GridGroup, usize, Vec<bool>)> {
    (
        kind_strategy(),
        prop_oneof![Just(3usize), Just(5usize)],
        any::<bool>(),
    )
        .prop_flat_map(|(kind, k, close)| {
            proptest::collection::vec(any::<bool>(), k * k)
                .prop_filter("non-empty", |m| m.iter().any(|&b| b))
                .prop_map(move |m| {
                    let m = if close {
                        close_under_group(kind, k, m)
                    } else {
                        m
                    };
                    (kind, k, m)
                })
        })
}

/// Norms compared between the exact orbit method and the dense SVD method: 9×9 or 25×25
/// SVDs, round-off ≤ 25·ε·O(1) ≈ 6e-15; 1e-12 leaves a margin.
const METHOD_TOL: f64 = 1e-12;

proptest! {
    #![proptest_config(config(64))]

    #[test]
    fn invariant_iff_union_of_orbits((kind, k, mask) in mask_strategy()) {
        let expected = union_of_orbits(kind, k, &mask);
        let gnet = masked_net(kind, k, mask);
        for method in [Method::Orbits, Method::Dense] {
            let r = analyze_map(&gnet, 0, method).unwrap();
            prop_assert_eq!(r.verdict == Verdict::Invariant, expected, "{:?}", method);
            // A one-hot support is never "compatible, not invariant" (Π_𝓛 diagonal).
            prop_assert!(r.verdict != Verdict::CompatibleNotInvariant);
        }
    }

    #[test]
    fn orbit_and_dense_methods_agree((kind, k, mask) in mask_strategy()) {
        let gnet = masked_net(kind, k, mask);
        let o = analyze_map(&gnet, 0, Method::Orbits).unwrap();
        let d = analyze_map(&gnet, 0, Method::Dense).unwrap();
        prop_assert_eq!(o.dims, d.dims);
        prop_assert_eq!(o.verdict, d.verdict);
        for (x, y) in [
            (o.invariance_defect, d.invariance_defect),
            (o.commutator_reynolds, d.commutator_reynolds),
            (o.commutator_group, d.commutator_group),
        ] {
            prop_assert!((x - y).abs() <= METHOD_TOL, "{} vs {}", x, y);
        }
    }
}

#[test]
fn methods_agree_on_dense_layers_between_regular_reps() {
    for seed in [1, 4, 7] {
        let (gnet, case) = random_vector_case(seed).unwrap();
        for map in 0..gnet.num_maps() {
            let o = analyze_map(&gnet, map, Method::Orbits).unwrap();
            let d = analyze_map(&gnet, map, Method::Dense).unwrap();
            assert_eq!(o.dims, d.dims, "{case}");
            // dim H_G of the dense method is the rank of the Reynolds average of
            // unit_action; for a permutation action it equals the number of orbits.
            assert!(
                o.dims.invariants > 0 && o.verdict == Verdict::Invariant,
                "{case}"
            );
        }
    }
}

#[test]
fn non_commuting_layers_are_reported() {
    let kind = GridGroup::C4;
    let plus = || LayerSpec::conv(2, &Support::plus());
    let tail = || {
        [
            LayerSpec::Tanh,
            LayerSpec::Flatten,
            LayerSpec::dense_full(3),
        ]
    };
    let build = |side: usize, specs: Vec<LayerSpec>| {
        let mut specs = specs;
        specs.extend(tail());
        GroupNetwork::on_images(Network::new(&[1, side, side], specs).unwrap(), kind).unwrap()
    };
    // Clean network: every hypothesis holds.
    let clean = analyze(&build(6, vec![plus(), LayerSpec::AvgPool2d(2)])).unwrap();
    assert!(clean.hypotheses_hold(), "{}", render_table(&clean));

    let cases: Vec<(GroupNetwork, usize, &str)> = vec![
        (
            build(5, vec![plus(), LayerSpec::AvgPool2d(2)]),
            1,
            "pooling",
        ),
        (
            build(
                6,
                vec![
                    plus(),
                    LayerSpec::AddConstant((0..72).map(|i| i as f64 / 72.0).collect()),
                ],
            ),
            1,
            "constant",
        ),
        (
            build(
                6,
                vec![LayerSpec::Conv2d {
                    out_channels: 2,
                    kernel: 3,
                    param: Parametrisation::from_support(&Support::plus()),
                    padding: Padding { top: 0, left: 0 },
                }],
            ),
            0,
            "padding",
        ),
    ];
    for (gnet, layer, note) in cases {
        let r = analyze(&gnet).unwrap();
        let check = &r.layers[layer];
        assert!(!check.equivariant, "{}", render_table(&r));
        assert!(
            check.note.as_deref().unwrap_or("").contains(note),
            "{check:?}"
        );
        assert!(!r.layers_equivariant && !r.hypotheses_hold());
        assert!(r.summary.contains("do NOT commute"), "{}", r.summary);
        // The architecture itself is still invariant: the failure is in the layers.
        assert_eq!(r.verdict, Verdict::Invariant);
    }
    // An invariant constant (the same value everywhere) commutes: not flagged.
    let r = analyze(&build(
        6,
        vec![plus(), LayerSpec::AddConstant(vec![0.3; 72])],
    ))
    .unwrap();
    assert!(r.hypotheses_hold(), "{}", render_table(&r));
}

#[test]
fn non_orthonormal_basis_is_reported() {
    let p = Parametrisation::random_normalised(9, &Support::plus().indices(), 5).unwrap();
    let net = Network::new(
        &[1, 5, 5],
        vec![LayerSpec::conv_with(2, 3, p), LayerSpec::Tanh],
    )
    .unwrap();
    let r = analyze(&GroupNetwork::on_images(net, GridGroup::C4).unwrap()).unwrap();
    assert!(!r.orthonormal && !r.hypotheses_hold());
    assert_eq!(r.maps[0].method, Method::Dense);
    // Same direction as the one-hot plus: still invariant.
    assert_eq!(r.maps[0].verdict, Verdict::Invariant);
    assert!(r.maps[0].advice.iter().any(|a| a.contains("H5")));
}

#[test]
fn paper_network_plus_corner_is_incompatible_with_advice() {
    let net = Network::paper(28, &Support::plus_corner(), PaperBasis::Orthonormal).unwrap();
    let r = analyze(&GroupNetwork::on_images(net, GridGroup::C4).unwrap()).unwrap();
    assert!(r.layers_equivariant, "{}", render_table(&r));
    assert_eq!(r.verdict, Verdict::Incompatible);
    for m in &r.maps[..3] {
        assert_eq!(m.verdict, Verdict::Incompatible);
        assert_eq!(m.units * 9, m.totals.ambient);
        assert!(
            m.advice[0].ends_with("add taps (0,2), (2,0), (2,2)"),
            "{:?}",
            m.advice
        );
        assert!(m.advice[1].contains("drop taps (0,0)"), "{:?}", m.advice);
    }
    let dense = &r.maps[3];
    assert_eq!(
        (dense.verdict, dense.dims.ambient),
        (Verdict::Invariant, 10 * 16 * 49)
    );
    assert!(dense.commutator_reynolds <= VERDICT_TOL);
}

#[test]
fn bad_inputs_are_errors() {
    let plus = Support::plus();
    assert!(matches!(
        analyze_support(GridGroup::C4, &plus, 6, 0),
        Err(Error::Invalid(_))
    ));
    assert!(matches!(
        analyze_support(GridGroup::C4, &plus, 0, 2),
        Err(Error::Invalid(_))
    ));
    // A 3×3 support on a 1×1 image: taps never reach the grid.
    assert!(matches!(
        analyze_support(GridGroup::C4, &plus, 1, 2),
        Err(Error::Shape(_))
    ));
    let gnet = masked_net(GridGroup::C4, 3, vec![true; 9]);
    assert!(matches!(
        analyze_map(&gnet, 5, Method::Orbits),
        Err(Error::Invalid(_))
    ));
    // The dense method refuses units above DENSE_MAX instead of allocating D² entries.
    let net = Network::paper(28, &Support::plus(), PaperBasis::Orthonormal).unwrap();
    let gnet = GroupNetwork::on_images(net, GridGroup::C4).unwrap();
    assert!(gnet.unit_dim(3) > DENSE_MAX);
    assert!(matches!(
        analyze_map(&gnet, 3, Method::Dense),
        Err(Error::Invalid(_))
    ));
    // The orbit method needs a one-hot basis.
    let p = Parametrisation::random_normalised(9, &plus.indices(), 1).unwrap();
    let net = Network::new(&[1, 5, 5], vec![LayerSpec::conv_with(1, 3, p)]).unwrap();
    let gnet = GroupNetwork::on_images(net, GridGroup::C4).unwrap();
    assert!(matches!(
        analyze_map(&gnet, 0, Method::Orbits),
        Err(Error::Invalid(_))
    ));
}

#[test]
fn report_serialises_to_json() {
    let r = analyze_support(GridGroup::D4, &Support::plus_corner(), 6, 2).unwrap();
    let v: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
    assert_eq!(v["group_order"], 8);
    assert_eq!(v["verdict"], "incompatible");
    assert_eq!(v["maps"][0]["dims"]["equivariant"], 1);
    assert_eq!(v["maps"][0]["method"], "orbits");
    assert_eq!(v["maps"][0]["add"], serde_json::json!([2, 6, 8]));
    assert_eq!(v["maps"][0]["drop"], serde_json::json!([0]));
    assert_eq!(v["layers"][1]["hypothesis"], "H2");
}

#[test]
fn render_table_snapshots() {
    for (kind, name) in [(GridGroup::C4, "c4"), (GridGroup::D4, "d4")] {
        for support in ["plus", "plus-corner", "full"] {
            let r = analyze_support(kind, &Support::parse(support).unwrap(), 6, 2).unwrap();
            let table = render_table(&r);
            assert_eq!(table, render_table(&r), "deterministic");
            insta::assert_snapshot!(format!("{name}_{support}"), table);
        }
    }
}
