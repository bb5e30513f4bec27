//! The finite rotation groups of R³ (C_n, D_n, T, O, I) as groups and representations, the
//! point-cloud actions and network, and the Haar sampler on SO(3) — each with a negative
//! control.

use eqens::group::rotations3d::{embed, Mat3};
use eqens::group::so3::{mul3, quaternion_to_matrix, rotate_points, transpose3, So3Law};
use eqens::group::{Group, Rotations3d};
use eqens::nn::point_cloud::{point_cloud_group_network, point_cloud_network};
use eqens::rep::Rep;
use eqens::train::so3::descend_so3;
use eqens::Error;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::sync::Arc;

const SOLIDS: [Rotations3d; 3] = [
    Rotations3d::Tetrahedral,
    Rotations3d::Octahedral,
    Rotations3d::Icosahedral,
];

fn det(m: &Mat3) -> f64 {
    m[0] * (m[4] * m[8] - m[5] * m[7]) - m[1] * (m[3] * m[8] - m[5] * m[6])
        + m[2] * (m[3] * m[7] - m[4] * m[6])
}

#[test]
fn the_platonic_groups_are_groups_of_rotations_with_valid_representations() {
    for kind in SOLIDS {
        let (g, mats) = kind.build().unwrap();
        assert_eq!(g.order(), kind.order());
        assert_eq!(g.name(), kind.name());
        // The table passes the exhaustive group check again.
        Group::from_table(g.table(), None).unwrap();
        for m in &mats {
            // det = 1 up to the one rounding per entry (≤ 4ε) times 6 terms.
            assert!(
                (det(m) - 1.0).abs() < 1e-14,
                "{}: det {}",
                kind.name(),
                det(m)
            );
        }
        let rep = Rep::rotations_r3(kind).unwrap();
        rep.validate().unwrap();
        // ρ(a)ρ(b) = ρ(ab) for all pairs, entry-wise to 1e-15: the matrices are exact in
        // Q(√5) and rounded once (≤ 4ε per entry; a product of three terms adds ≤ 3ε).
        for a in 0..g.order() {
            for b in 0..g.order() {
                let p = mul3(&mats[a], &mats[b]);
                let want = &mats[g.mul(a, b)];
                assert!(p.iter().zip(want).all(|(x, y)| (x - y).abs() < 1e-15));
            }
        }
        // Distinct elements are distinct matrices.
        for a in 0..g.order() {
            for b in 0..a {
                assert!(mats[a]
                    .iter()
                    .zip(&mats[b])
                    .any(|(x, y)| (x - y).abs() > 0.1));
            }
        }
    }
}

#[test]
fn icosahedral_entries_lie_in_the_golden_set() {
    let phi = (1.0 + 5f64.sqrt()) / 2.0;
    let allowed = [0.0, 1.0, 0.5, phi / 2.0, 1.0 / (2.0 * phi)];
    let (_, mats) = Rotations3d::Icosahedral.build().unwrap();
    for m in &mats {
        for v in m {
            assert!(
                allowed.iter().any(|a| (v.abs() - a).abs() < 1e-15),
                "entry {v}"
            );
        }
    }
}

#[test]
fn subgroups_embed_where_they_should_and_not_elsewhere() {
    let (t_group, t) = Rotations3d::Tetrahedral.build().unwrap();
    let (o_group, o) = Rotations3d::Octahedral.build().unwrap();
    let (i_group, i) = Rotations3d::Icosahedral.build().unwrap();
    for (parent_group, parent) in [(&o_group, &o), (&i_group, &i)] {
        let emb = embed(&t, parent).unwrap();
        assert!(parent_group.is_subgroup(&emb));
        for a in 0..12 {
            for b in 0..12 {
                assert_eq!(emb[t_group.mul(a, b)], parent_group.mul(emb[a], emb[b]));
            }
        }
    }
    // Control: O is not a subgroup of I (its quarter-turns are not in I).
    assert!(embed(&o, &i).is_err());
    // C5 and D3 about z are not in I in this orientation, but D2 (half-turns about the
    // axes) is in T.
    let (_, d2) = Rotations3d::Dihedral(2).build().unwrap();
    assert!(embed(&d2, &t).is_ok());
    let (_, c4) = Rotations3d::Cyclic(4).build().unwrap();
    assert!(embed(&c4, &o).is_ok());
    assert!(embed(&c4, &i).is_err());
}

#[test]
fn cyclic_and_dihedral_subgroups_match_the_abstract_tables() {
    for n in [1, 2, 3, 5, 7, 12, 100] {
        let (c, cm) = Rotations3d::Cyclic(n).build().unwrap();
        assert!(c.same_structure(&Group::cyclic(n)));
        let (d, dm) = Rotations3d::Dihedral(n).build().unwrap();
        assert!(d.same_structure(&Group::dihedral(n)));
        Rep::rotations_r3(Rotations3d::Cyclic(n)).unwrap();
        Rep::rotations_r3(Rotations3d::Dihedral(n)).unwrap();
        // Element k is the rotation by 2πk/n about z; element n is the half-turn about x.
        let t = 2.0 * std::f64::consts::PI / n as f64;
        assert!((cm[1 % n][0] - t.cos()).abs() < 1e-15 && (cm[1 % n][3] - t.sin()).abs() < 1e-15);
        assert_eq!(dm[n], [1.0, 0.0, 0.0, 0.0, -1.0, 0.0, 0.0, 0.0, -1.0]);
    }
}

#[test]
fn names_parse_and_bad_names_are_errors() {
    assert_eq!(Rotations3d::by_name("I").unwrap(), Rotations3d::Icosahedral);
    assert_eq!(
        Rotations3d::by_name(" octahedral ").unwrap(),
        Rotations3d::Octahedral
    );
    assert_eq!(Rotations3d::by_name("t").unwrap(), Rotations3d::Tetrahedral);
    assert_eq!(
        Rotations3d::by_name("C7-so3").unwrap(),
        Rotations3d::Cyclic(7)
    );
    assert_eq!(
        Rotations3d::by_name("d5-so3").unwrap(),
        Rotations3d::Dihedral(5)
    );
    for bad in ["", "x", "c0-so3", "d2521-so3", "c5", "q5-so3", "c-so3"] {
        assert!(
            matches!(Rotations3d::by_name(bad), Err(Error::Invalid(_))),
            "{bad:?}"
        );
    }
    assert!(Rotations3d::Cyclic(0).build().is_err());
    assert!(Rotations3d::Dihedral(3000).build().is_err());
}

#[test]
fn a_corrupted_matrix_is_not_a_representation() {
    let (g, mut mats) = Rotations3d::Icosahedral.build().unwrap();
    mats.swap(5, 6);
    let rows: Vec<Vec<f64>> = mats.iter().map(|m| m.to_vec()).collect();
    assert!(matches!(
        Rep::from_matrices(Arc::new(g), rows),
        Err(Error::NotARepresentation(_))
    ));
}

#[test]
fn point_clouds_rotate_point_by_point() {
    let rep = Rep::point_cloud_r3(Rotations3d::Octahedral, 2).unwrap();
    let (_, mats) = Rotations3d::Octahedral.build().unwrap();
    let x = [1.0, 2.0, 3.0, -4.0, 0.5, 0.25];
    for (g, m) in mats.iter().enumerate() {
        let mut a = [0.0; 6];
        let mut b = [0.0; 6];
        rep.apply(g, &x, &mut a);
        rotate_points(m, &x, &mut b);
        assert_eq!(a, b);
    }
}

#[test]
fn the_point_cloud_network_carries_the_regular_representation() {
    let gnet = point_cloud_group_network(Rotations3d::Tetrahedral, 3, 24).unwrap();
    assert_eq!(gnet.spaces()[1].dim(), 24);
    assert!(gnet.spaces()[1].is_permutation());
    assert_eq!(gnet.network().input_dim(), 9);
    assert_eq!(gnet.network().output_dim(), 3);
    assert!(point_cloud_group_network(Rotations3d::Icosahedral, 3, 100).is_err());
    assert!(point_cloud_network(0, 4).is_err());
    assert!(point_cloud_network(2, 0).is_err());
}

#[test]
fn so3_descent_rejects_bad_input() {
    let net = point_cloud_network(2, 4).unwrap();
    let mut theta = vec![0.1; net.num_params()];
    let x = vec![0.5; 12];
    let y = vec![0.5; 6];
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let law = So3Law::Haar;
    assert!(descend_so3(&net, &mut theta, &x, &y, 2, &law, 0.1, 2, &mut rng).is_ok());
    assert!(descend_so3(&net, &mut theta, &x[..9], &y, 2, &law, 0.1, 2, &mut rng).is_err());
    assert!(descend_so3(&net, &mut theta, &x, &y, 2, &law, -0.1, 2, &mut rng).is_err());
    let nan = So3Law::Concentrated { shift: f64::NAN };
    assert!(descend_so3(&net, &mut theta, &x, &y, 2, &nan, 0.1, 2, &mut rng).is_err());
}

/// Draws used by the moment tests.
const DRAWS: usize = 20_000;

/// (mean of R_ij, mean of R_ij²) per entry, and the Kolmogorov–Smirnov distance of each
/// entry's law from the uniform law on [−1, 1] (every entry of a Haar rotation is a
/// coordinate of a uniform unit vector of R³, uniform on [−1, 1] by Archimedes).
fn entry_stats(law: &So3Law, seed: u64) -> ([f64; 9], [f64; 9], [f64; 9]) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let draws: Vec<Mat3> = (0..DRAWS).map(|_| law.sample(&mut rng).unwrap()).collect();
    let mut mean = [0.0; 9];
    let mut sq = [0.0; 9];
    let mut ks = [0.0; 9];
    for e in 0..9 {
        let mut v: Vec<f64> = draws.iter().map(|m| m[e]).collect();
        mean[e] = v.iter().sum::<f64>() / DRAWS as f64;
        sq[e] = v.iter().map(|x| x * x).sum::<f64>() / DRAWS as f64;
        v.sort_by(f64::total_cmp);
        ks[e] = v
            .iter()
            .enumerate()
            .map(|(i, &x)| {
                let cdf = (x + 1.0) / 2.0;
                let lo = i as f64 / DRAWS as f64;
                let hi = (i + 1) as f64 / DRAWS as f64;
                (cdf - lo).abs().max((hi - cdf).abs())
            })
            .fold(0.0, f64::max);
    }
    (mean, sq, ks)
}

// Tolerances for 20,000 draws. R_ij is uniform on [−1, 1] under Haar: Var R_ij = 1/3, so
// the mean has standard error √(1/3/N) = 4.1e-3; R_ij² has mean 1/3 and variance
// 1/5 − 1/9 = 4/45, standard error 2.1e-3. Five standard errors: 0.02 and 0.0105. The
// Kolmogorov–Smirnov distance exceeds 1.95/√N = 0.0138 with probability 0.001; over nine
// (dependent) entries, 2.2/√N = 0.0156 keeps the chance of a false alarm below 1e-3.
const MEAN_TOL: f64 = 0.02;
const SQ_TOL: f64 = 0.0105;
const KS_TOL: f64 = 0.0156;

fn haar_violations(law: &So3Law, seed: u64) -> Vec<String> {
    let (mean, sq, ks) = entry_stats(law, seed);
    let mut out = Vec::new();
    for e in 0..9 {
        if mean[e].abs() > MEAN_TOL {
            out.push(format!("E[R_{e}] = {:.4}", mean[e]));
        }
        if (sq[e] - 1.0 / 3.0).abs() > SQ_TOL {
            out.push(format!("E[R_{e}²] = {:.4}", sq[e]));
        }
        if ks[e] > KS_TOL {
            out.push(format!("KS(R_{e}) = {:.4}", ks[e]));
        }
    }
    out
}

#[test]
fn quaternion_sampler_is_haar() {
    for seed in 0..3 {
        let v = haar_violations(&So3Law::Haar, seed);
        assert!(v.is_empty(), "seed {seed}: {v:?}");
    }
    // Concentrated with shift 0 is the same law.
    assert!(haar_violations(&So3Law::Concentrated { shift: 0.0 }, 7).is_empty());
}

#[test]
fn biased_samplers_are_caught() {
    // Uniform Euler angles: R_33 = cos β with β uniform, E[cos²β] = 1/2.
    let v = haar_violations(&So3Law::UniformEulerAngles, 0);
    assert!(v.iter().any(|s| s.starts_with("E[R_8²]")), "{v:?}");
    let v = haar_violations(&So3Law::Concentrated { shift: 1.0 }, 0);
    assert!(v.iter().any(|s| s.starts_with("E[R_0]")), "{v:?}");
    let v = haar_violations(&So3Law::AboutZ, 0);
    assert!(v.iter().any(|s| s.starts_with("KS(R_8)")), "{v:?}");
}

#[test]
fn haar_law_is_invariant_under_left_multiplication() {
    // Q·R has the law of R under Haar: the statistic R_33² has the same mean (1/3) before
    // and after left multiplication by a fixed Q. Both means come from the same draws, so
    // their difference has a standard error below 2·2.1e-3; the tolerance is SQ_TOL (5
    // standard errors of one mean). A concentrated law is not invariant: R ≈ I gives
    // R_33² ≈ 1 but (QR)_33² ≈ Q_33² = 0.297.
    let q = quaternion_to_matrix([0.3, 0.9, -0.2, 0.4]).unwrap();
    let gap = |law: So3Law| {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let (mut before, mut after) = (0.0, 0.0);
        for _ in 0..DRAWS {
            let r = law.sample(&mut rng).unwrap();
            before += r[8] * r[8];
            after += mul3(&q, &r)[8].powi(2);
        }
        ((after - before) / DRAWS as f64).abs()
    };
    assert!(gap(So3Law::Haar) < SQ_TOL, "{}", gap(So3Law::Haar));
    let biased = gap(So3Law::Concentrated { shift: 5.0 });
    assert!(biased > 10.0 * SQ_TOL, "{biased}");
    // Rotations are orthogonal: RᵀR = I.
    let r = So3Law::Haar
        .sample(&mut ChaCha8Rng::seed_from_u64(3))
        .unwrap();
    let i = mul3(&transpose3(&r), &r);
    assert!((i[0] - 1.0).abs() < 1e-15 && i[1].abs() < 1e-15);
}

#[test]
fn eqens_groups_lists_the_3d_groups() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_eqens"))
        .arg("groups")
        .output()
        .unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    for (name, order) in [("t", 12), ("o", 24), ("i", 60)] {
        assert!(
            stdout
                .lines()
                .any(|l| l.starts_with(&format!("{name} ")) && l.contains(&format!(" {order} "))),
            "{stdout}"
        );
    }
}
