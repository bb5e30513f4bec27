//! Representations: every built-in over random groups is an orthogonal homomorphism;
//! sums, tensors, restrictions, `apply` and characters agree; the Reynolds projector and
//! Hom_G bases are right — each property with a negative control.

// Index loops over group elements read like the mathematics they check.
#![allow(clippy::needless_range_loop)]

#[path = "support/group_strategy.rs"]
mod group_strategy;

use eqens::group::Group;
use eqens::linalg::{self, RANK_TOL};
use eqens::rep::{
    hom_basis, invariant_dim_by_character, invariant_dim_by_nullspace, reynolds, GridGroup, Rep,
};
use eqens::Error;
use faer::Mat;
use group_strategy::{any_group, GroupSpec};
use proptest::prelude::*;
use proptest::test_runner::RngSeed;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::sync::Arc;

/// Entry-wise tolerance of the checks below: every matrix here has entries in [−1, 1] and
/// d ≤ 200, so a product entry carries at most d·ε ≈ 4.4e-14 of round-off (plus ~ε from the
/// stored cos/sin values); a real violation is O(0.1..1).
const TOL: f64 = 1e-12;

fn max_diff(a: &Mat<f64>, b: &Mat<f64>) -> f64 {
    linalg::max_abs(&(a - b))
}

/// H1 checked densely over all pairs: ρ(e) = I, ρ(gh) = ρ(g)ρ(h), ρ(g)ᵀρ(g) = I,
/// ρ(g)ᵀ = ρ(g⁻¹). `mats[g]` is ρ(g).
fn rep_axioms(group: &Group, mats: &[Mat<f64>]) -> Result<(), String> {
    let d = mats[0].nrows();
    let eye = Mat::<f64>::identity(d, d);
    if max_diff(&mats[0], &eye) > TOL {
        return Err("ρ(e) ≠ I".into());
    }
    for g in 0..group.order() {
        let gt = mats[g].transpose().to_owned();
        if max_diff(&(&gt * &mats[g]), &eye) > TOL {
            return Err(format!("ρ({g}) not orthogonal"));
        }
        if max_diff(&gt, &mats[group.inv(g)]) > TOL {
            return Err(format!("ρ({g})ᵀ ≠ ρ({g}⁻¹)"));
        }
        for h in 0..group.order() {
            if max_diff(&(&mats[g] * &mats[h]), &mats[group.mul(g, h)]) > TOL {
                return Err(format!("ρ({g}·{h}) ≠ ρ({g})ρ({h})"));
            }
        }
    }
    Ok(())
}

fn all_matrices(rep: &Rep) -> Vec<Mat<f64>> {
    (0..rep.group().order()).map(|g| rep.matrix(g)).collect()
}

/// Built-in representations of the group described by `spec` (and derived ones).
fn reps_for(spec: &GroupSpec) -> Vec<(String, Rep)> {
    let g = Arc::new(spec.build());
    let mut reps = vec![
        ("trivial(1)".to_string(), Rep::trivial(g.clone(), 1)),
        ("trivial(3)".to_string(), Rep::trivial(g.clone(), 3)),
        ("regular".to_string(), Rep::regular(g.clone())),
    ];
    if let Ok(sign) = Rep::sign(g.clone()) {
        reps.push(("sign".into(), sign));
    }
    match spec {
        GroupSpec::Cyclic(n) => {
            reps.push(("rotations_r2".into(), Rep::rotations_r2(*n).unwrap()));
            reps.push(("point_cloud(3)".into(), Rep::point_cloud(*n, 3).unwrap()));
        }
        GroupSpec::Symmetric(n) => reps.push(("natural".into(), Rep::natural(*n).unwrap())),
        GroupSpec::Rotations3d(kind) => {
            reps.push(("rotations_r3".into(), Rep::rotations_r3(*kind).unwrap()));
            reps.push((
                "point_cloud_r3(2)".into(),
                Rep::point_cloud_r3(*kind, 2).unwrap(),
            ));
        }
        GroupSpec::Permutations(gens) => {
            let (h, perms) = Group::from_permutations(gens, 5040).unwrap();
            let src = (0..h.order()).map(|x| perms[h.inv(x)].clone()).collect();
            reps.push((
                "points".into(),
                Rep::from_permutations(g.clone(), src).unwrap(),
            ));
        }
        _ => {}
    }
    // Derived: a mixed sum, a tensor with a matrix rep, a feature map.
    let last = reps.last().unwrap().1.clone();
    let sum = reps[2].1.direct_sum(&last).unwrap();
    reps.push(("regular ⊕ last".into(), sum));
    let tensor = last.tensor(&reps[1].1).unwrap();
    reps.push(("last ⊗ trivial(3)".into(), tensor));
    reps.push(("feature_map(2) of last".into(), last.feature_map(2)));
    reps
}

fn random_vec(rng: &mut ChaCha8Rng, d: usize) -> Vec<f64> {
    (0..d).map(|_| rng.random_range(-1.0..1.0)).collect()
}

proptest! {
    // Fixed seed: the same cases on every run (determinism); shrinking still applies.
    #![proptest_config(ProptestConfig {
        cases: 48,
        rng_seed: RngSeed::Fixed(0x5EED),
        ..ProptestConfig::default()
    })]

    #[test]
    fn builtins_are_orthogonal_representations(spec in any_group(4), seed in any::<u64>()) {
        let order = spec.build().order();
        prop_assume!(order <= 32);
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        for (name, rep) in reps_for(&spec) {
            prop_assert!(rep.validate().is_ok(), "{}", name);
            let mats = all_matrices(&rep);
            rep_axioms(rep.group(), &mats).map_err(|e| TestCaseError::fail(format!("{name}: {e}")))?;
            let d = rep.dim();
            for g in 0..order {
                let x = random_vec(&mut rng, d);
                let mut out = vec![0.0; d];
                rep.apply(g, &x, &mut out);
                let xm = Mat::from_fn(d, 1, |i, _| x[i]);
                let expected = &mats[g] * &xm;
                for i in 0..d {
                    prop_assert!((out[i] - expected[(i, 0)]).abs() <= TOL, "{}: apply ≠ matrix", name);
                }
                // f32: relative round-off ~ d·2⁻²⁴ ≈ 1.2e-5 for d ≤ 200, inputs |x| ≤ 1.
                let x32: Vec<f32> = x.iter().map(|&v| v as f32).collect();
                let mut out32 = vec![0f32; d];
                rep.apply(g, &x32, &mut out32);
                for i in 0..d {
                    prop_assert!((out32[i] as f64 - out[i]).abs() <= 1e-4, "{}: f32 apply", name);
                }
                prop_assert!((rep.character(g) - (0..d).map(|i| mats[g][(i, i)]).sum::<f64>()).abs() <= TOL);
                prop_assert_eq!(rep.permutation(g).is_some(), rep.is_permutation());
            }
        }
    }

    #[test]
    fn restriction_agrees_with_parent(spec in any_group(4), picks in proptest::collection::vec(any::<usize>(), 0..3)) {
        let g = spec.build();
        prop_assume!(g.order() <= 32);
        let gens: Vec<usize> = picks.iter().map(|p| p % g.order()).collect();
        let sub = g.subgroup(&g.generated(&gens)).unwrap();
        for (name, rep) in reps_for(&spec) {
            let res = rep.restrict(&sub);
            prop_assert!(res.validate().is_ok(), "{}", name);
            prop_assert_eq!(res.group().order(), sub.group.order());
            for (i, &parent) in sub.embedding.iter().enumerate() {
                prop_assert_eq!(res.matrix(i), rep.matrix(parent), "{}", name);
            }
        }
    }

    #[test]
    fn characters_of_sums_and_tensors(spec in any_group(4), i in any::<usize>(), j in any::<usize>(), k in any::<usize>()) {
        prop_assume!(spec.build().order() <= 32);
        let reps = reps_for(&spec);
        let pick = |s: usize| reps[s % reps.len()].1.clone();
        let (a, b, c) = (pick(i), pick(j), pick(k));
        prop_assume!((a.dim() + b.dim()) * c.dim() <= 400);
        let left = a.direct_sum(&b).unwrap().tensor(&c).unwrap();
        let right = a.tensor(&c).unwrap().direct_sum(&b.tensor(&c).unwrap()).unwrap();
        prop_assert_eq!(left.dim(), right.dim());
        for g in 0..a.group().order() {
            let (chi_a, chi_b, chi_c) = (a.character(g), b.character(g), c.character(g));
            // |χ| ≤ d ≤ 400 here, so the round-off of a trace is ≤ 400·ε·… ≪ 1e-10.
            prop_assert!((left.character(g) - right.character(g)).abs() <= 1e-10);
            prop_assert!((left.character(g) - (chi_a + chi_b) * chi_c).abs() <= 1e-10);
        }
    }

    #[test]
    fn reynolds_projects_onto_the_fixed_vectors(spec in any_group(4)) {
        prop_assume!(spec.build().order() <= 32);
        for (name, rep) in reps_for(&spec) {
            let p = reynolds(&rep);
            prop_assert!(max_diff(&(&p * &p), &p) <= TOL, "{}: not idempotent", name);
            prop_assert!(max_diff(&p.transpose().to_owned(), &p) <= TOL, "{}: not symmetric", name);
            let by_char = invariant_dim_by_character(&rep);
            let by_null = invariant_dim_by_nullspace(&rep, None);
            prop_assert_eq!(by_char, by_null, "{}: the two oracles disagree", name);
            prop_assert_eq!(linalg::rank(&p, RANK_TOL), by_char, "{}", name);
            // range(P) is fixed by every ρ(g) ...
            let u = linalg::orthonormal_basis(&p, RANK_TOL);
            for g in 0..rep.group().order() {
                prop_assert!(max_diff(&(&rep.matrix(g) * &u), &u) <= 1e-10, "{}", name);
            }
            // ... and every fixed vector (null space of the stacked ρ(s) − I) is in range(P).
            let d = rep.dim();
            let gens = rep.group().generating_set();
            let stacked = Mat::from_fn(gens.len().max(1) * d, d, |row, j| {
                if gens.is_empty() { return 0.0; }
                let (s, i) = (gens[row / d], row % d);
                rep.matrix(s)[(i, j)] - if i == j { 1.0 } else { 0.0 }
            });
            let fixed = linalg::nullspace(&stacked, RANK_TOL);
            prop_assert_eq!(fixed.ncols(), by_char);
            prop_assert!(max_diff(&(&p * &fixed), &fixed) <= 1e-10, "{}", name);
        }
    }

    #[test]
    fn hom_basis_is_an_orthonormal_basis_of_equivariant_maps(spec in any_group(4), i in any::<usize>(), j in any::<usize>(), seed in any::<u64>()) {
        prop_assume!(spec.build().order() <= 32);
        let reps = reps_for(&spec);
        let v = &reps[i % reps.len()].1;
        let w = &reps[j % reps.len()].1;
        prop_assume!(v.dim() * w.dim() <= 400);
        let basis = hom_basis(v, w).unwrap();
        prop_assert_eq!(basis.len(), invariant_dim_by_character(&w.tensor(v).unwrap()));
        let n = v.group().order();
        let equivariance_error = |a: &Mat<f64>| {
            (0..n).map(|g| max_diff(&(&w.matrix(g) * a), &(a * &v.matrix(g)))).fold(0.0, f64::max)
        };
        for (x, a) in basis.iter().enumerate() {
            prop_assert_eq!(a.shape(), (w.dim(), v.dim()));
            prop_assert!(equivariance_error(a) <= 1e-10);
            for (y, b) in basis.iter().enumerate() {
                let expected = if x == y { 1.0 } else { 0.0 };
                prop_assert!((linalg::frobenius_dot(a, b) - expected).abs() <= 1e-10);
            }
        }
        // Negative control: a random matrix is not equivariant unless Hom_G(V, W) is everything.
        if basis.len() < v.dim() * w.dim() {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let a = Mat::from_fn(w.dim(), v.dim(), |_, _| rng.random_range(-1.0..1.0));
            prop_assert!(equivariance_error(&a) > 1e-6);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 32,
        rng_seed: RngSeed::Fixed(0x11A1),
        ..ProptestConfig::default()
    })]

    #[test]
    fn intersection_of_spans_finds_a_planted_subspace(
        n in 6usize..=30, k in 0usize..=3, ka in 0usize..=4, kb in 0usize..=4, seed in any::<u64>()
    ) {
        // span(a) = span(c) + span(ea), span(b) = span(c) + span(eb) with c, ea, eb random:
        // generically span(a) ∩ span(b) = span(c) when k + ka + kb ≤ n.
        prop_assume!(k + ka + kb <= n);
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut random = |cols: usize| Mat::from_fn(n, cols, |_, _| rng.random_range(-1.0..1.0));
        let (c, ea, eb) = (random(k), random(ka), random(kb));
        let join = |x: &Mat<f64>, y: &Mat<f64>| {
            Mat::from_fn(n, x.ncols() + y.ncols(), |i, j| {
                if j < x.ncols() { x[(i, j)] } else { y[(i, j - x.ncols())] }
            })
        };
        let (a, b) = (join(&c, &ea), join(&c, &eb));
        prop_assert_eq!(linalg::rank(&a, RANK_TOL) + linalg::nullspace(&a, RANK_TOL).ncols(), a.ncols());
        let inter = linalg::intersection_basis(&a, &b, RANK_TOL);
        prop_assert_eq!(inter.ncols(), k);
        let eye = Mat::<f64>::identity(n, n);
        let (pa, pb) = (linalg::projector_onto(&a), linalg::projector_onto(&b));
        // Random O(1) data of size ≤ 30: residuals are round-off (~1e-14) unless outside.
        prop_assert!(linalg::max_abs(&(&(&eye - &pa) * &inter)) <= 1e-9);
        prop_assert!(linalg::max_abs(&(&(&eye - &pb) * &inter)) <= 1e-9);
        prop_assert!(max_diff(&(inter.transpose() * &inter), &Mat::identity(k, k)) <= 1e-9);
        // Negative control: a direction of span(a) outside span(c) is not in span(b).
        if ka > 0 {
            let x = ea.subcols(0, 1).to_owned();
            prop_assert!(linalg::max_abs(&(&(&eye - &pb) * &x)) > 1e-3);
        }
    }
}

fn c4_grid_src(n: usize, wrong_r3: bool) -> Vec<Vec<usize>> {
    let rep = Rep::grid(GridGroup::C4, n, n).unwrap();
    let mut src: Vec<Vec<usize>> = (0..4)
        .map(|g| rep.permutation(g).unwrap().to_vec())
        .collect();
    if wrong_r3 {
        // ρ(r³) should be the clockwise rotation; use the counter-clockwise one instead.
        src[3] = src[1].clone();
    }
    src
}

#[test]
fn grid_rotations_match_numpy_rot90_and_flips() {
    for n in 1..=5 {
        let x: Vec<f64> = (0..n * n).map(|v| v as f64).collect();
        let d4 = Rep::grid(GridGroup::D4, n, n).unwrap();
        let mut out = vec![0.0; n * n];
        d4.apply(1, &x, &mut out);
        for i in 0..n {
            for j in 0..n {
                // numpy.rot90(x)[i][j] = x[j][n-1-i]
                assert_eq!(out[i * n + j], x[j * n + n - 1 - i]);
            }
        }
        d4.apply(4, &x, &mut out);
        for i in 0..n {
            for j in 0..n {
                assert_eq!(
                    out[i * n + j],
                    x[i * n + n - 1 - j],
                    "s is the left-right flip"
                );
            }
        }
        // ρ(r^k s^j) = ρ(r)^k ρ(s)^j, and the C4 grid agrees with D4's rotations.
        let c4 = Rep::grid(GridGroup::C4, n, n).unwrap();
        for e in 0..8 {
            let (j, k) = (e / 4, e % 4);
            let mut m = Mat::<f64>::identity(n * n, n * n);
            for _ in 0..k {
                m = &d4.matrix(1) * &m;
            }
            if j == 1 {
                m = &m * &d4.matrix(4);
            }
            assert_eq!(d4.matrix(e), m);
            if j == 0 {
                assert_eq!(c4.matrix(e), m);
            }
        }
    }
    let c2 = Rep::grid(GridGroup::C2, 2, 3).unwrap();
    let x: Vec<f64> = (0..6).map(|v| v as f64).collect();
    let mut out = vec![0.0; 6];
    c2.apply(1, &x, &mut out);
    assert_eq!(out, vec![5.0, 4.0, 3.0, 2.0, 1.0, 0.0]);
    assert!(matches!(
        Rep::grid(GridGroup::C4, 2, 3),
        Err(Error::Shape(_))
    ));
    assert!(matches!(
        Rep::grid(GridGroup::D4, 3, 2),
        Err(Error::Shape(_))
    ));
    assert!(matches!(
        Rep::grid(GridGroup::C2, 0, 3),
        Err(Error::Shape(_))
    ));
}

#[test]
fn feature_maps_act_on_every_channel_alike() {
    let grid = Rep::grid(GridGroup::D4, 3, 3).unwrap();
    let fm = grid.feature_map(4);
    assert!(fm.is_permutation());
    assert_eq!(fm.dim(), 36);
    for g in 0..8 {
        let spatial = grid.permutation(g).unwrap();
        let full = fm.permutation(g).unwrap();
        for c in 0..4 {
            for p in 0..9 {
                assert_eq!(full[c * 9 + p], c * 9 + spatial[p]);
            }
        }
    }
}

#[test]
fn point_cloud_layout_and_exact_quarter_turns() {
    let pc = Rep::point_cloud(4, 2).unwrap();
    let x = [1.0, 2.0, 3.0, 4.0];
    let mut out = [0.0; 4];
    pc.apply(1, &x, &mut out);
    // r = +90°: (x, y) ↦ (−y, x), exactly.
    assert_eq!(out, [-2.0, 1.0, -4.0, 3.0]);
    let r16 = Rep::rotations_r2(16).unwrap();
    let angle = 2.0 * std::f64::consts::PI / 16.0;
    assert!((r16.matrix(1)[(1, 0)] - angle.sin()).abs() <= TOL);
}

#[test]
fn wrong_direction_rotations_are_not_representations() {
    // The correct C4 grid action is accepted; the same maps with ρ(r³) turning the wrong way
    // are rejected, naming a failing pair.
    let c4 = Arc::new(Group::cyclic(4));
    assert!(Rep::from_permutations(c4.clone(), c4_grid_src(3, false)).is_ok());
    match Rep::from_permutations(c4.clone(), c4_grid_src(3, true)) {
        Err(Error::NotARepresentation(msg)) => {
            assert!(msg.contains("g = #") && msg.contains("h = #"), "{msg}")
        }
        other => panic!("accepted: {other:?}"),
    }
    // The test's own dense checker agrees.
    let dense = |src: &[Vec<usize>]| -> Vec<Mat<f64>> {
        src.iter()
            .map(|s| {
                let mut m = Mat::zeros(9, 9);
                for (j, &i) in s.iter().enumerate() {
                    m[(j, i)] = 1.0;
                }
                m
            })
            .collect()
    };
    assert!(rep_axioms(&c4, &dense(&c4_grid_src(3, false))).is_ok());
    assert!(rep_axioms(&c4, &dense(&c4_grid_src(3, true))).is_err());

    // D4 with ρ(r^k s) built as ρ(s)ρ(r^k) (composition in the wrong order).
    let d4 = Rep::grid(GridGroup::D4, 3, 3).unwrap();
    let group = d4.group().clone();
    let mats: Vec<Vec<f64>> = (0..8)
        .map(|e| {
            let m = if e >= 4 {
                &d4.matrix(4) * &d4.matrix(e - 4)
            } else {
                d4.matrix(e)
            };
            linalg::to_row_major(&m)
        })
        .collect();
    assert!(matches!(
        Rep::from_matrices(group.clone(), mats),
        Err(Error::NotARepresentation(_))
    ));

    // C8 on R² with r³ rotating clockwise.
    let c8 = Rep::rotations_r2(8).unwrap();
    let mut mats: Vec<Vec<f64>> = (0..8)
        .map(|g| linalg::to_row_major(&c8.matrix(g)))
        .collect();
    mats[3] = linalg::to_row_major(&c8.matrix(5));
    assert!(matches!(
        Rep::from_matrices(c8.group().clone(), mats),
        Err(Error::NotARepresentation(_))
    ));
}

#[test]
fn a_consistently_clockwise_convention_is_still_a_representation() {
    // r ↦ rot90 clockwise together with s ↦ flip, used consistently (ρ(r^k s^j) = R⁻ᵏ Sʲ),
    // is ρ composed with the automorphism r ↦ r⁻¹ of D4: a valid representation. Only
    // mixing directions breaks H1 (see the test above), so that is the negative control.
    let d4 = Rep::grid(GridGroup::D4, 3, 3).unwrap();
    let group = d4.group().clone();
    let mats: Vec<Vec<f64>> = (0..8)
        .map(|e| {
            let (j, k) = (e / 4, e % 4);
            linalg::to_row_major(&d4.matrix(j * 4 + (4 - k) % 4))
        })
        .collect();
    assert!(Rep::from_matrices(group, mats).is_ok());
}

#[test]
fn non_orthogonal_matrices_are_rejected() {
    // A shear-reflection: an involution (so ρ is a homomorphism of C2) but not orthogonal.
    let shear = Mat::from_fn(2, 2, |i, j| [[1.0, 1.0], [0.0, -1.0]][i][j]);
    assert!(max_diff(&(&shear * &shear), &Mat::identity(2, 2)) == 0.0);
    let c2 = Arc::new(Group::cyclic(2));
    let mats = vec![vec![1.0, 0.0, 0.0, 1.0], linalg::to_row_major(&shear)];
    match Rep::from_matrices(c2.clone(), mats) {
        Err(Error::NotARepresentation(msg)) => assert!(msg.contains("orthogonal"), "{msg}"),
        other => panic!("accepted: {other:?}"),
    }
    let flip = vec![vec![1.0, 0.0, 0.0, 1.0], vec![0.0, 1.0, 1.0, 0.0]];
    assert!(Rep::from_matrices(c2.clone(), flip).is_ok());
    // Malformed input.
    assert!(Rep::from_matrices(c2.clone(), vec![vec![1.0]]).is_err());
    assert!(Rep::from_matrices(c2.clone(), vec![vec![1.0; 4], vec![1.0; 3]]).is_err());
    assert!(Rep::from_matrices(c2.clone(), vec![vec![1.0], vec![f64::NAN]]).is_err());
    assert!(Rep::from_permutations(c2.clone(), vec![vec![0, 1], vec![1, 1]]).is_err());
    assert!(Rep::from_permutations(c2.clone(), vec![vec![0, 1], vec![1, 0, 2]]).is_err());
    assert!(Rep::from_permutations(c2, vec![vec![1, 0], vec![1, 0]]).is_err());
}

#[test]
fn sign_natural_and_mismatched_groups() {
    let s3 = Rep::sign(Arc::new(Group::symmetric(3).unwrap())).unwrap();
    let g = s3.group().clone();
    for x in 0..6 {
        let expected = if g.element_order(x) == 2 { -1.0 } else { 1.0 };
        assert_eq!(s3.character(x), expected, "{}", g.element_name(x));
    }
    assert!(Rep::sign(Arc::new(Group::cyclic(3))).is_err());
    assert!(Rep::sign(Arc::new(Group::by_name("c2xc2").unwrap())).is_err());
    assert!(Rep::natural(8).is_err());
    assert!(Rep::rotations_r2(0).is_err());
    let a = Rep::regular(Arc::new(Group::cyclic(3)));
    let b = Rep::regular(Arc::new(Group::cyclic(4)));
    assert!(matches!(a.direct_sum(&b), Err(Error::Invalid(_))));
    assert!(a.tensor(&b).is_err());
    assert!(hom_basis(&a, &b).is_err());
}

#[test]
#[should_panic(expected = "not a homomorphism")]
fn restriction_along_a_non_homomorphism_panics() {
    let c4 = Group::cyclic(4);
    let mut sub = c4.subgroup(&[0, 2]).unwrap();
    sub.embedding = vec![0, 1]; // {e, r}: not closed, so not a homomorphism
    Rep::regular(Arc::new(c4)).restrict(&sub);
}

#[test]
fn averaging_over_a_non_subgroup_is_not_a_projector() {
    // Negative control for the Reynolds checks: the average of ρ(e) and ρ(r) in C4.
    let rep = Rep::regular(Arc::new(Group::cyclic(4)));
    let avg = (&rep.matrix(0) + &rep.matrix(1)) * faer::Scale(0.5);
    assert!(max_diff(&(&avg * &avg), &avg) > 0.1);
    // And a generating set of a proper subgroup overcounts invariants: ⟨r²⟩ fixes 2 dims.
    assert_eq!(invariant_dim_by_nullspace(&rep, Some(&[2])), 2);
    assert_eq!(invariant_dim_by_character(&rep), 1);
}

#[test]
fn nalgebra_agrees_on_the_rank_of_the_reynolds_projector() {
    // The last case (324×324) is where faer's default divide-and-conquer SVD went wrong.
    let pc = Rep::point_cloud(12, 3).unwrap();
    let pc3 = pc.tensor(&Rep::trivial(pc.group().clone(), 3)).unwrap();
    for rep in [
        Rep::grid(GridGroup::D4, 4, 4).unwrap(),
        Rep::point_cloud(3, 2).unwrap(),
        Rep::natural(4)
            .unwrap()
            .tensor(&Rep::natural(4).unwrap())
            .unwrap(),
        pc3.tensor(&pc3).unwrap(),
    ] {
        let p = reynolds(&rep);
        let d = rep.dim();
        let q = nalgebra::DMatrix::from_fn(d, d, |i, j| p[(i, j)]);
        let sv = q.singular_values();
        let rank_nalgebra = sv.iter().filter(|&&s| s > RANK_TOL).count();
        assert_eq!(rank_nalgebra, linalg::rank(&p, RANK_TOL));
        assert_eq!(rank_nalgebra, invariant_dim_by_character(&rep));
    }
}

#[test]
fn linalg_intersection_and_nullspace() {
    // span(e0, e1) ∩ span(e1 + e2, e0) = span(e0) ⊕ ... : here the intersection is span(e0).
    let a = Mat::from_fn(3, 2, |i, j| if i == j { 1.0 } else { 0.0 });
    let b = Mat::from_fn(3, 2, |i, j| [[0.0, 1.0], [1.0, 0.0], [1.0, 0.0]][i][j]);
    let inter = linalg::intersection_basis(&a, &b, RANK_TOL);
    assert_eq!(inter.ncols(), 1);
    assert!((inter[(0, 0)].abs() - 1.0).abs() <= TOL);
    assert_eq!(linalg::intersection_basis(&a, &a, RANK_TOL).ncols(), 2);
    let m = Mat::from_fn(2, 3, |i, j| [[1.0, 1.0, 0.0], [0.0, 0.0, 1.0]][i][j]);
    let null = linalg::nullspace(&m, RANK_TOL);
    assert_eq!(null.ncols(), 1);
    assert!(linalg::max_abs(&(&m * &null)) <= TOL);
    let proj = linalg::projector_onto(&a);
    assert!(max_diff(&(&proj * &proj), &proj) <= TOL);
    assert!(
        (linalg::op_norm(&linalg::commutator(&proj, &linalg::projector_onto(&b))) - 0.5).abs()
            <= 1e-9
    );
}

#[test]
fn rot90_of_a_3x3_grid_snapshot() {
    let rep = Rep::grid(GridGroup::C4, 3, 3).unwrap();
    let src = rep.permutation(1).unwrap();
    let text: String = src
        .chunks(3)
        .map(|row| {
            row.iter()
                .map(|j| j.to_string())
                .collect::<Vec<_>>()
                .join(" ")
                + "\n"
        })
        .collect();
    insta::assert_snapshot!("rot90_3x3_source_indices", text);
}

#[test]
fn invariant_dimensions_snapshot() {
    let named = |name: &str| Arc::new(Group::by_name(name).unwrap());
    let rows: Vec<(&str, Rep)> = vec![
        ("trivial(2)", Rep::trivial(named("c4"), 2)),
        ("regular", Rep::regular(named("d4"))),
        ("sign", Rep::sign(named("s3")).unwrap()),
        ("natural", Rep::natural(4).unwrap()),
        (
            "natural⊗natural",
            Rep::natural(3)
                .unwrap()
                .tensor(&Rep::natural(3).unwrap())
                .unwrap(),
        ),
        ("grid 3×3", Rep::grid(GridGroup::C2, 3, 3).unwrap()),
        ("grid 2×3", Rep::grid(GridGroup::C2, 2, 3).unwrap()),
        ("grid 3×3", Rep::grid(GridGroup::C4, 3, 3).unwrap()),
        ("grid 4×4", Rep::grid(GridGroup::C4, 4, 4).unwrap()),
        ("grid 3×3", Rep::grid(GridGroup::D4, 3, 3).unwrap()),
        ("grid 28×28", Rep::grid(GridGroup::C4, 28, 28).unwrap()),
        ("rotations_r2", Rep::rotations_r2(4).unwrap()),
        ("point_cloud(3)", Rep::point_cloud(8, 3).unwrap()),
        (
            "feature_map(2) of 3×3",
            Rep::grid(GridGroup::C4, 3, 3).unwrap().feature_map(2),
        ),
    ];
    let mut text = String::from("group | representation | dim | invariant dim\n");
    for (name, rep) in rows {
        let by_char = invariant_dim_by_character(&rep);
        if rep.dim() <= 200 {
            assert_eq!(by_char, invariant_dim_by_nullspace(&rep, None), "{name}");
        }
        text.push_str(&format!(
            "{} | {} | {} | {}\n",
            rep.group().name(),
            name,
            rep.dim(),
            by_char
        ));
    }
    // dim Hom_C4(grid 3×3, grid 3×3): the equivariant 9×9 maps.
    let g = Rep::grid(GridGroup::C4, 3, 3).unwrap();
    text.push_str(&format!(
        "C4 | Hom(grid 3×3, grid 3×3) | 81 | {}\n",
        hom_basis(&g, &g).unwrap().len()
    ));
    insta::assert_snapshot!("invariant_dimensions", text);
}

/// One name table for the grid groups: `name` and `FromStr` round-trip (case-insensitive),
/// `order` and `group` agree with the action `Rep::grid` builds, and an unknown name is a
/// clear error.
#[test]
fn grid_group_names_parse_and_agree_with_the_action() {
    use eqens::rep::GridGroup;
    let names: Vec<&str> = GridGroup::ALL.iter().map(|g| g.name()).collect();
    assert_eq!(names, ["C2", "C4", "D4"]);
    for g in GridGroup::ALL {
        assert_eq!(g.name().parse::<GridGroup>().unwrap(), g);
        assert_eq!(
            format!(" {} ", g.name().to_lowercase())
                .parse::<GridGroup>()
                .unwrap(),
            g
        );
        assert_eq!(g.to_string(), g.name());
        let rep = Rep::grid(g, 3, 3).unwrap();
        assert_eq!(rep.group().order(), g.order());
        assert_eq!(**rep.group(), g.group());
    }
    let err = "c8".parse::<GridGroup>().unwrap_err().to_string();
    assert!(err.contains("c8") && err.contains("c2, c4 and d4"), "{err}");
}
