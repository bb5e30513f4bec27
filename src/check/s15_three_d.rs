//! S15 in three dimensions: the finite rotation groups T, O, I ⊂ SO(3) on point clouds in
//! R³, and SO(3) itself by Haar sampling.
//!
//! **Finite groups.** Case: N = 3 ordered points of R³ → dense(120) → tanh → dense(120) →
//! tanh → dense(3) ([`point_cloud_group_network`]), hidden spaces 120/|G| copies of the
//! regular representation (120 = lcm(12, 24, 60), so the network, A_0 ~ N(0, 0.5²) i.i.d.,
//! the data — 4 clouds with N(0, 1) coordinates and N(0, 1) targets in R³, mean squared
//! error — and the probes are the same for T, O and I: only the group changes). Members
//! ρ(g)A_0, g ∈ G, each take [`STEPS`] steps of descent on the G-augmented risk (summed over
//! G exactly). The orbit ensemble is exactly G-equivariant ([`check_exact`]); its error
//! under [`ROTATIONS`] Haar-random rotations of SO(3) falls with |G| along T (12), O (24),
//! I (60) ([`check_decrease`]; O ⊄ I, so this is an ordering by order, as C4, C8, C16 in
//! the plane).
//!
//! **SO(3).** Members are independent: θ_0 ~ N(0, 0.5²) i.i.d. on the network with trivial
//! hidden representations ([`point_cloud_network`], width [`HAAR_WIDTH`]), then
//! [`HAAR_STEPS`] steps of descent where every step rotates every sample by a fresh
//! R ∼ law ([`descend_so3`]). Under the Haar law the defects
//! D_m = (Φ_m(R_j x_p) − R_j Φ_m(x_p))_{j, p} at fixed probes x_p and fixed test rotations
//! R_j are i.i.d. with mean 0, so E‖D̄_M‖² = E‖D_1‖²/M: the plateau ratio
//! r_M = M·E‖D̄_M‖²/E‖D_1‖² stays at 1. The verdict ([`check_haar`]) is the whole
//! population's ratio r against its derived zero-mean interval
//! ([`crate::check::zero_mean`]). A non-uniform law leaves a bias b = E D ≠ 0 and
//! r_M ≈ 1 + (M − 1)‖b‖²/E‖D_1‖² grows ([`controls_haar`]; S14 in 3-D).

use super::common::{run_fallible_members, train};
use super::zero_mean::ratio_test;
use super::{s15_finite_rotations, Control, Measurement};
use crate::autodiff::Tape;
use crate::ensemble::{equivariance_error, equivariance_error_under, member_rng};
use crate::group::so3::{rotate_points, So3Law};
use crate::group::{rotations3d, Rotations3d};
use crate::nn::point_cloud::{point_cloud_group_network, point_cloud_network};
use crate::nn::Target;
use crate::train::cases::{normals, sub_seed, worst};
use crate::train::init::standard_normal;
use crate::train::so3::descend_so3;
use crate::train::{init_theta, orbit, Augmentation, InitLaw, Samples};
use crate::{Error, Result};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The finite groups, in increasing order.
pub const SOLIDS: [Rotations3d; 3] = [
    Rotations3d::Tetrahedral,
    Rotations3d::Octahedral,
    Rotations3d::Icosahedral,
];
/// Points per cloud.
pub const POINTS: usize = 3;
/// Hidden width of the finite-group network: lcm(12, 24, 60).
pub const WIDTH: usize = 120;
/// Training clouds.
pub const SAMPLES: usize = 4;
/// Probe clouds.
pub const PROBES: usize = 4;
/// Descent steps of the orbit ensembles.
pub const STEPS: usize = 10;
/// Step size of the orbit ensembles.
pub const LR: f64 = 0.1;
/// Haar-random test rotations of the SO(3) error.
pub const ROTATIONS: usize = 32;
const THREADS: usize = 2;

/// Tolerance on the relative G error of an orbit ensemble. The matrices of T, O, I are
/// exact in Q(√5) and rounded once to f64 (≤ 4ε per entry), so ρ is a representation to
/// ~1e-15 and the lifted identity holds to ~1e-15 relative; member g's trajectory equals
/// ρ(g) times member e's up to per-step round-off ~1e-15·‖∇‖ (sums over |G|·4 ≤ 240 samples
/// and 120-wide products add ~√(120)·ε per entry), amplified at most by the step map's
/// Lipschitz constant (≈ 1 at lr 0.1) over 10 steps; the mean over ≤ 60 members adds
/// ~60ε. Everything stays ≲ 1e-13; 1e-10 keeps a wide margin and sits seven orders below
/// the controls, as in the planar S15.
pub const TOLERANCE: f64 = 1e-10;

/// A control's G error must exceed this: without augmentation (or with augmentation over a
/// subgroup) the members leave the orbit by O(lr·‖∇R‖) per step, ≳ 1e-2 after 10 steps.
pub const CONTROL_THRESHOLD: f64 = 1e-3;

/// The network under G.
fn group_network(kind: Rotations3d) -> Result<crate::nn::GroupNetwork> {
    point_cloud_group_network(kind, POINTS, WIDTH)
}

/// The fixed test rotations R_1..R_J, Haar-distributed (drawn from `seed`).
fn test_rotations(seed: u64, count: usize) -> Result<Vec<rotations3d::Mat3>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..count).map(|_| So3Law::Haar.sample(&mut rng)).collect()
}

/// One solid: (G error of the orbit ensemble, its SO(3) error, SO(3) error of member e).
fn run_solid(kind: Rotations3d, aug: &Augmentation, seed: u64) -> Result<(f64, f64, f64)> {
    let gnet = group_network(kind)?;
    let net = gnet.network();
    let mut rng = ChaCha8Rng::seed_from_u64(sub_seed(seed, 0));
    let theta0 = init_theta(&gnet, &InitLaw::Gaussian { scale: 0.5 }, &mut rng)?;
    let x = normals(&mut rng, SAMPLES * 3 * POINTS);
    let y = normals(&mut rng, SAMPLES * 3);
    let probes = normals(&mut rng, PROBES * 3 * POINTS);
    let rotations = test_rotations(sub_seed(seed, 1), ROTATIONS)?;
    let samples = Samples {
        x: &x,
        n: SAMPLES,
        target: Target::Values(&y),
    };
    let law = aug.law(gnet.group())?;
    let starts = orbit(&gnet, &theta0)?;
    let order = gnet.group().order();
    let members = run_fallible_members(0..order, THREADS, |g| -> Result<Vec<f64>> {
        let mut theta = starts[g].clone();
        train(&gnet, &mut theta, &samples, &law, LR, STEPS)?;
        Ok(theta)
    })?;
    let all: Vec<usize> = (0..order).collect();
    let group_error = equivariance_error(&gnet, &members, &probes, PROBES, &all, THREADS)?;
    let so3 = |thetas: &[Vec<f64>]| {
        equivariance_error_under(
            net,
            thetas,
            &probes,
            PROBES,
            ROTATIONS,
            |j, x, out| rotate_points(&rotations[j], x, out),
            |j, y, out| rotate_points(&rotations[j], y, out),
            THREADS,
        )
    };
    Ok((group_error, so3(&members)?, so3(&members[..1])?))
}

/// The G and SO(3) errors of the full-augmentation orbit ensembles of T, O, I.
#[derive(Clone, Debug, PartialEq)]
pub struct Errors {
    /// Relative G error, per group of [`SOLIDS`].
    pub group: [f64; 3],
    /// Relative SO(3) error of the ensemble under the test rotations, per group.
    pub so3: [f64; 3],
    /// Relative SO(3) error of the single member e, per group.
    pub so3_member: [f64; 3],
}

/// The errors of the three orbit ensembles (same network, A_0, data, probes and test
/// rotations for T, O and I).
pub fn errors(seed: u64) -> Result<Errors> {
    let mut out = Errors {
        group: [0.0; 3],
        so3: [0.0; 3],
        so3_member: [0.0; 3],
    };
    for (i, &kind) in SOLIDS.iter().enumerate() {
        let (g, so3, member) = run_solid(kind, &Augmentation::Full, seed)?;
        out.group[i] = g;
        out.so3[i] = so3;
        out.so3_member[i] = member;
    }
    Ok(out)
}

fn describe(e: &Errors) -> String {
    format!(
        "{POINTS} points of R³ → dense({WIDTH})→tanh→dense({WIDTH})→tanh→dense(3), hidden \
         regular reps, MSE, orbit ensembles with full augmentation, lr {LR}, {STEPS} steps; \
         T / O / I: G error {:.1e} / {:.1e} / {:.1e}; SO(3) error over {ROTATIONS} Haar \
         rotations {:.3e} / {:.3e} / {:.3e} (single member {:.2} / {:.2} / {:.2})",
        e.group[0],
        e.group[1],
        e.group[2],
        e.so3[0],
        e.so3[1],
        e.so3[2],
        e.so3_member[0],
        e.so3_member[1],
        e.so3_member[2]
    )
}

/// S15 in 3-D (exactness): the worst G error of the T, O, I orbit ensembles.
pub fn check_exact(seed: u64) -> Result<Measurement> {
    let e = errors(seed)?;
    Ok(Measurement {
        statement: "S15",
        case: describe(&e),
        error: e.group.iter().copied().fold(0.0, worst),
        tolerance: TOLERANCE,
        degenerate: 0,
    })
}

/// S15 in 3-D (decrease): max(SO(3)_O / SO(3)_T, SO(3)_I / SO(3)_O), which must stay
/// below 1.
pub fn check_decrease(seed: u64) -> Result<Measurement> {
    let e = errors(seed)?;
    Ok(Measurement {
        statement: "S15",
        case: describe(&e),
        error: worst(e.so3[1] / e.so3[0], e.so3[2] / e.so3[1]),
        tolerance: 1.0,
        degenerate: 0,
    })
}

/// Controls of the finite groups (H7 dropped): each of T, O, I without augmentation, and I
/// augmented uniformly over its subgroup T only (uniform, but not over G).
pub fn controls_exact(seed: u64) -> Result<Vec<Control>> {
    let mut out = Vec::new();
    for &kind in &SOLIDS {
        let (g, _, _) = run_solid(kind, &Augmentation::None, seed)?;
        out.push(Control {
            statement: "S15",
            dropped: "H7",
            case: format!(
                "{} on point clouds in R³, orbit ensemble without augmentation: error {g:.3e}",
                kind.name()
            ),
            error: g,
            threshold: CONTROL_THRESHOLD,
        });
    }
    let (_, t_mats) = Rotations3d::Tetrahedral.build()?;
    let (_, i_mats) = Rotations3d::Icosahedral.build()?;
    let t_in_i = rotations3d::embed(&t_mats, &i_mats)?;
    let (g, _, _) = run_solid(
        Rotations3d::Icosahedral,
        &Augmentation::Subgroup(t_in_i),
        seed,
    )?;
    out.push(Control {
        statement: "S15",
        dropped: "H7",
        case: format!("I on point clouds in R³, augmentation uniform on T ⊂ I: I error {g:.3e}"),
        error: g,
        threshold: CONTROL_THRESHOLD,
    });
    Ok(out)
}

/// Members of the SO(3) population.
pub const POPULATION: usize = 2000;
/// Ensemble sizes M of the plateau ratio (≥ 10 disjoint groups each in the population).
pub const SIZES: [usize; 6] = [5, 10, 20, 50, 100, 200];
/// Random partitions of the population per size.
pub const PARTITIONS: usize = 10;
/// Hidden width of the SO(3) network.
pub const HAAR_WIDTH: usize = 16;
/// Descent steps of each SO(3) member.
pub const HAAR_STEPS: usize = 10;
/// Step size of the SO(3) members.
pub const HAAR_LR: f64 = 0.1;
/// Probe clouds of D_m.
pub const HAAR_PROBES: usize = 4;
/// Test rotations of D_m.
pub const HAAR_ROTATIONS: usize = 8;

/// The defects D_m of `members` independent members trained under `law`.
fn haar_population(seed: u64, law: &So3Law, members: usize) -> Result<Vec<Vec<f64>>> {
    let net = point_cloud_network(POINTS, HAAR_WIDTH)?;
    let mut rng = ChaCha8Rng::seed_from_u64(sub_seed(seed, 0));
    let x = normals(&mut rng, SAMPLES * 3 * POINTS);
    let y = normals(&mut rng, SAMPLES * 3);
    let probes = normals(&mut rng, HAAR_PROBES * 3 * POINTS);
    let rotations = test_rotations(sub_seed(seed, 1), HAAR_ROTATIONS)?;
    let d_in = 3 * POINTS;
    // Block 0: the probes; block 1 + j: R_j applied to them.
    let mut inputs = vec![0.0; (1 + HAAR_ROTATIONS) * HAAR_PROBES * d_in];
    inputs[..HAAR_PROBES * d_in].copy_from_slice(&probes);
    for (j, block) in inputs[HAAR_PROBES * d_in..]
        .chunks_mut(HAAR_PROBES * d_in)
        .enumerate()
    {
        rotate_points(&rotations[j], &probes, block);
    }
    let master = sub_seed(seed, 2);
    run_fallible_members(0..members, THREADS, |m| -> Result<Vec<f64>> {
        let mut rng = member_rng(master, m);
        // θ_0 ~ N(0, 0.5²) i.i.d. on every weight (the full parametrisation): invariant
        // under the lifted action of every rotation, an isometry of the weights (H6).
        let mut theta: Vec<f64> = (0..net.num_params())
            .map(|_| 0.5 * standard_normal(&mut rng))
            .collect();
        descend_so3(
            &net, &mut theta, &x, &y, SAMPLES, law, HAAR_LR, HAAR_STEPS, &mut rng,
        )?;
        let out = net.predict(
            &mut Tape::new(),
            &theta,
            &inputs,
            (1 + HAAR_ROTATIONS) * HAAR_PROBES,
        )?;
        let (base, moved) = out.split_at(HAAR_PROBES * 3);
        let mut d = vec![0.0; HAAR_ROTATIONS * HAAR_PROBES * 3];
        for (j, (block, got)) in d
            .chunks_mut(HAAR_PROBES * 3)
            .zip(moved.chunks(HAAR_PROBES * 3))
            .enumerate()
        {
            rotate_points(&rotations[j], base, block);
            block.iter_mut().zip(got).for_each(|(e, o)| *e = o - *e);
        }
        Ok(d)
    })
}

/// The plateau ratios of a population: r_M = M·(mean of ‖D̄‖² over the disjoint groups of
/// size M of [`PARTITIONS`] random partitions)/(mean ‖D_m‖²) and their standard errors.
#[derive(Clone, Debug, PartialEq)]
pub struct Plateau {
    /// E‖D_1‖² (population mean).
    pub single: f64,
    /// r_M per size of [`SIZES`].
    pub ratios: Vec<f64>,
    /// The standard error of r_M under the 1/M law (one partition's groups).
    pub se: Vec<f64>,
}

impl Plateau {
    /// max_M |r_M − 1| / se_M.
    pub fn z(&self) -> f64 {
        self.ratios
            .iter()
            .zip(&self.se)
            .map(|(r, s)| (r - 1.0).abs() / s)
            .fold(0.0, worst)
    }

    fn describe(&self) -> String {
        let r: Vec<String> = SIZES
            .iter()
            .zip(self.ratios.iter().zip(&self.se))
            .map(|(m, (r, s))| format!("{m}: {r:.3} ± {s:.3}"))
            .collect();
        format!(
            "M·E‖D̄_M‖²/E‖D_1‖² = {} ({:.1} standard errors from 1 at worst)",
            r.join(", "),
            self.z()
        )
    }
}

/// The plateau ratios of `defects` (see [`Plateau`]); errors if the population is smaller
/// than 10 groups of the largest size.
pub fn plateau(defects: &[Vec<f64>], seed: u64) -> Result<Plateau> {
    let p = defects.len();
    let largest = SIZES[SIZES.len() - 1];
    if p < 10 * largest {
        return Err(Error::Invalid(format!(
            "the plateau ratio needs ≥ {} members, got {p}",
            10 * largest
        )));
    }
    let dim = defects[0].len();
    let sq = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>();
    let norms: Vec<f64> = defects.iter().map(|d| sq(d)).collect();
    let single = norms.iter().sum::<f64>() / p as f64;
    let fourth = norms.iter().map(|n| n * n).sum::<f64>() / p as f64;
    // Σ = E[D Dᵀ] (uncentred: the mean is 0 under the statement); tr Σ² = ‖Σ‖_F².
    let mut sigma = vec![0.0; dim * dim];
    for d in defects {
        for (i, &a) in d.iter().enumerate() {
            for (s, &b) in sigma[i * dim..(i + 1) * dim].iter_mut().zip(d) {
                *s += a * b;
            }
        }
    }
    let tr_sigma2 = sigma.iter().map(|s| s * s).sum::<f64>() / (p * p) as f64;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut order: Vec<usize> = (0..p).collect();
    let mut mean = vec![0.0; dim];
    let mut ratios = Vec::with_capacity(SIZES.len());
    let mut se = Vec::with_capacity(SIZES.len());
    for &m in &SIZES {
        let (mut total, mut groups) = (0.0, 0usize);
        for _ in 0..PARTITIONS {
            for i in (1..p).rev() {
                order.swap(i, rng.random_range(0..=i));
            }
            for group in order.chunks_exact(m) {
                mean.iter_mut().for_each(|v| *v = 0.0);
                for &i in group {
                    mean.iter_mut().zip(&defects[i]).for_each(|(a, b)| *a += b);
                }
                total += sq(&mean) / (m * m) as f64;
                groups += 1;
            }
        }
        ratios.push(m as f64 * (total / groups as f64) / single);
        let mf = m as f64;
        let var = 2.0 * (mf - 1.0) / mf * tr_sigma2 + (fourth - single * single) / mf;
        se.push((var.max(0.0) / (p / m) as f64).sqrt() / single);
    }
    Ok(Plateau { single, ratios, se })
}

fn haar_case(law: &So3Law, members: usize) -> String {
    format!(
        "SO(3): {POINTS} points of R³ → dense({HAAR_WIDTH})→tanh→dense({HAAR_WIDTH})→tanh→\
         dense(3), trivial hidden reps, N(0, 0.5²) init, {HAAR_STEPS} steps (lr {HAAR_LR}) \
         with every sample rotated by a fresh draw of {}, {members} members, D over \
         {HAAR_PROBES} probes × {HAAR_ROTATIONS} Haar test rotations",
        law.describe()
    )
}

/// S15 for SO(3) with `members` members: the whole-population ratio r of Haar-augmented
/// members' defects against its zero-mean interval ([`ratio_test`], false-alarm rate ≤
/// [`FALSE_ALARM`](super::zero_mean::FALSE_ALARM) per case); the plateau curve r_M is shown in the case.
pub fn check_haar_with(seed: u64, members: usize) -> Result<Measurement> {
    let defects = haar_population(seed, &So3Law::Haar, members)?;
    let p = plateau(&defects, sub_seed(seed, 3))?;
    let t = ratio_test(&defects)?;
    let (error, tolerance) = t.verdict();
    Ok(Measurement {
        statement: "S15",
        case: format!(
            "{}; {}; {}",
            haar_case(&So3Law::Haar, members),
            t.describe(),
            p.describe()
        ),
        error,
        tolerance,
        degenerate: 0,
    })
}

/// [`check_haar_with`] on [`POPULATION`] members.
pub fn check_haar(seed: u64) -> Result<Measurement> {
    check_haar_with(seed, POPULATION)
}

/// The non-uniform laws of the SO(3) controls (H7 dropped; S14 in 3-D): quaternions
/// shifted by 3·e_w (concentrated near the identity) and uniform rotations about z. A shift
/// of 2 left a plateau too weak to call on one seed (43 standard errors, r_200 = 5.2, against
/// 100..300 elsewhere).
pub const CONTROL_LAWS: [So3Law; 2] = [So3Law::Concentrated { shift: 3.0 }, So3Law::AboutZ];

/// Controls for SO(3) with `members` members: the laws of [`CONTROL_LAWS`] leave a bias,
/// so r ≈ 1 + (P − 1)‖b‖²/E‖D_1‖²; the error is r − 1 and the threshold the upper end of
/// the case's own zero-mean interval ([`ratio_test`]): the statement's check fails.
pub fn controls_haar_with(seed: u64, members: usize) -> Result<Vec<Control>> {
    CONTROL_LAWS
        .iter()
        .map(|law| {
            let defects = haar_population(seed, law, members)?;
            let p = plateau(&defects, sub_seed(seed, 3))?;
            let t = ratio_test(&defects)?;
            Ok(Control {
                statement: "S15",
                dropped: "H7",
                case: format!(
                    "error = r − 1: {}; {}; {}",
                    haar_case(law, members),
                    t.describe(),
                    p.describe()
                ),
                error: t.ratio - 1.0,
                threshold: t.upper,
            })
        })
        .collect()
}

/// [`controls_haar_with`] on [`POPULATION`] members.
pub fn controls_haar(seed: u64) -> Result<Vec<Control>> {
    controls_haar_with(seed, POPULATION)
}

/// The S15 entry of `eqens check`: the planar check of [`s15_finite_rotations`] and the
/// 3-D checks [`check_exact`] and [`check_haar`]; the measurement returned is the one
/// closest to (or furthest past) its tolerance, with the three cases described.
pub fn check(seed: u64) -> Result<Measurement> {
    let parts = [
        s15_finite_rotations::check(seed)?,
        check_exact(sub_seed(seed, 15))?,
        check_haar(sub_seed(seed, 16))?,
    ];
    let ratio = |m: &Measurement| {
        let r = m.error / m.tolerance;
        if r.is_nan() {
            f64::INFINITY
        } else {
            r
        }
    };
    let worst_at = (0..parts.len())
        .max_by(|&a, &b| ratio(&parts[a]).total_cmp(&ratio(&parts[b])))
        .expect("three parts");
    let labels = ["R², C_n", "R³, T/O/I", "R³, SO(3) Haar"];
    let all: Vec<String> = parts
        .iter()
        .zip(labels)
        .map(|(m, l)| {
            format!(
                "[{l}: error {:.2e} ≤ {:.0e}? {}]",
                m.error, m.tolerance, m.case
            )
        })
        .collect();
    let chosen = &parts[worst_at];
    Ok(Measurement {
        statement: "S15",
        case: format!("worst: {}; {}", labels[worst_at], all.join(" ")),
        error: chosen.error,
        tolerance: chosen.tolerance,
        degenerate: 0,
    })
}

/// The controls of `eqens check`'s S15 entry: the planar ones, then the 3-D ones.
pub fn controls(seed: u64) -> Result<Vec<Control>> {
    let mut out = s15_finite_rotations::controls(seed)?;
    out.extend(controls_exact(sub_seed(seed, 15))?);
    out.extend(controls_haar(sub_seed(seed, 16))?);
    Ok(out)
}
