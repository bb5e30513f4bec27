//! S7 — initial laws: i.i.d. Gaussian coefficients on an invariant support give a law whose
//! covariance commutes with every ρ(g) (within Monte-Carlo error); on a non-invariant
//! support it does not; a "symmetric initialisation" lands in the invariant core 𝓛_0
//! exactly (checked by membership, never trusted from a flag), a Gaussian one does not.

use super::{Control, Measurement};
use crate::linalg::{commutator, max_abs, projector_onto};
use crate::nn::analysis::direction_basis;
use crate::nn::{GroupNetwork, LayerSpec, Network, Support};
use crate::rep::GridGroup;
use crate::train::cases::{random_invariant_support, sub_seed, worst};
use crate::train::{init_theta, InitLaw};
use crate::Result;
use faer::Mat;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Monte-Carlo draws of one filter's ambient 9-vector.
pub const DRAWS: usize = 20_000;

/// Tolerance on max_g max_ij |[C, ρ(g)]_ij| for the sample second-moment matrix C of the
/// filter (the law is centred, so this is its covariance), with a per-case false-alarm
/// rate ≤ 1e-6 from a non-asymptotic tail bound (the entries are means of products of
/// Gaussians, heavier-tailed than a normal approximation would assume). Each entry of C is
/// the mean of N = 20 000 draws of a_i a_j with a ~ N(0, I) on the support: a_i² is χ²₁, and
/// a_i a_j = (u² − v²)/2 with u, v = (a_i ± a_j)/√2 independent N(0, 1). By Laurent and
/// Massart's bound for χ²_N, P(|χ²_N/N − 1| ≥ 2√(x/N) + 2x/N) ≤ 2e^{−x}, so every entry of C
/// is within δ = 2√(x/N) + 2x/N of its mean except with probability ≤ 4e^{−x}. A commutator
/// entry of a permutation ρ(g) with C is a difference of two entries of C whose means agree
/// (the law is invariant), hence ≤ 2δ. A union over the ≤ 7·81 = 567 commutator entries,
/// each involving two entries of C, needs 567·2·4e^{−x} ≤ 1e-6, i.e. x = 22.2, which gives
/// δ = 0.069 and 2δ = 0.138; the tolerance is 0.15.
pub const COVARIANCE_TOLERANCE: f64 = 0.15;

/// On plus-corner the covariance has C_(0,0),(0,0) ≈ 1 while the rotated corners have
/// exactly 0, so the commutator has an entry ≈ 1 (within δ = 0.069 of it, except with
/// probability ≤ 1e-6, by the bound of [`COVARIANCE_TOLERANCE`]); the control's threshold
/// is 0.5, halfway between.
pub const COVARIANCE_THRESHOLD: f64 = 0.5;

/// Tolerance on the relative distance of ρ(g)A_0 from 𝓛 for a symmetric initialisation:
/// A_0 = Qz with Q an orthonormal basis of 𝓛_0 computed by SVD/QR in f64, whose components
/// outside 𝓛_0 are round-off O(9·ε) ≈ 2e-15 relative; coefficient extraction and the tap
/// permutation ρ(g) are exact. 1e-12 leaves a margin of ~500.
pub const CORE_TOLERANCE: f64 = 1e-12;

/// A Gaussian initialisation on plus-corner puts an N(0, 1) coefficient on the corner
/// (0,0) of each of the 12 filters (4 + 8); rotating moves it outside 𝓛, at relative
/// distance ≈ ‖corners‖/‖A‖ ≈ 1/√5 ≈ 0.45. Falling below 1e-2 would need all 12 corner
/// coefficients below ~0.03: probability < 1e-17.
pub const CORE_THRESHOLD: f64 = 1e-2;

fn filter_network(kind: GridGroup, support: &Support) -> Result<GroupNetwork> {
    let net = Network::new(&[1, 3, 3], vec![LayerSpec::conv(1, support)])?;
    GroupNetwork::on_images(net, kind)
}

/// max_g max_ij |[C, ρ(g)]_ij| for the Monte-Carlo second-moment matrix C of the single
/// filter of a Gaussian initialisation on `support`.
fn covariance_commutator(kind: GridGroup, support: &Support, seed: u64) -> Result<f64> {
    let gnet = filter_network(kind, support)?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut c = Mat::<f64>::zeros(9, 9);
    for _ in 0..DRAWS {
        let theta = init_theta(&gnet, &InitLaw::Gaussian { scale: 1.0 }, &mut rng)?;
        let a = &gnet.network().ambient_weights(&theta)[0];
        for i in 0..9 {
            for j in 0..9 {
                c[(i, j)] += a[i] * a[j];
            }
        }
    }
    c *= 1.0 / DRAWS as f64;
    let mut err = 0.0;
    for g in 1..gnet.group().order() {
        err = worst(err, max_abs(&commutator(&c, &gnet.unit_action(0, g))));
    }
    Ok(err)
}

fn kind_of(seed: u64) -> GridGroup {
    if ChaCha8Rng::seed_from_u64(seed).random_bool(0.5) {
        GridGroup::C4
    } else {
        GridGroup::D4
    }
}

/// S7 (covariance): a Gaussian initialisation on a random invariant 3×3 support (C4 or D4)
/// has a covariance that commutes with every ρ(g), to Monte-Carlo error.
pub fn check(seed: u64) -> Result<Measurement> {
    let kind = kind_of(sub_seed(seed, 0));
    let support =
        random_invariant_support(kind, &mut ChaCha8Rng::seed_from_u64(sub_seed(seed, 1)))?;
    let error = covariance_commutator(kind, &support, sub_seed(seed, 2))?;
    Ok(Measurement {
        statement: "S7",
        case: format!(
            "{kind:?}, Gaussian init on one-hot {support}, {DRAWS} draws, max |[C, ρ(g)]|"
        ),
        error,
        tolerance: COVARIANCE_TOLERANCE,
        degenerate: 0,
    })
}

/// Two convolutions on plus-corner, 5×5 images: conv(4) → tanh → conv(2).
fn plus_corner_network() -> Result<GroupNetwork> {
    let s = Support::plus_corner();
    let net = Network::new(
        &[1, 5, 5],
        vec![
            LayerSpec::conv(4, &s),
            LayerSpec::Tanh,
            LayerSpec::conv(2, &s),
        ],
    )?;
    GroupNetwork::on_images(net, GridGroup::C4)
}

/// (max_g ‖(I − Π_𝓛)ρ(g)A_θ‖ / ‖A_θ‖, number of g ≠ e for which `lift_theta` rejects θ):
/// the distance of the orbit from 𝓛, and the membership check of the network code.
pub fn core_membership(gnet: &GroupNetwork, theta: &[f64]) -> Result<(f64, usize)> {
    let net = gnet.network();
    let a = net.ambient_weights(theta);
    let projectors: Vec<Mat<f64>> = gnet
        .map_params()
        .iter()
        .map(|p| projector_onto(&direction_basis(p)))
        .collect();
    let norm: f64 = a.iter().flatten().map(|v| v * v).sum::<f64>().sqrt();
    let (mut dist, mut rejected) = (0.0, 0);
    for g in 1..gnet.group().order() {
        if gnet.lift_theta(g, theta).is_err() {
            rejected += 1;
        }
        let moved = gnet.lift(g, &a);
        let mut sq = 0.0;
        for (m, p) in moved.iter().zip(&projectors) {
            let d = p.nrows();
            for unit in m.chunks(d) {
                let v = Mat::from_fn(d, 1, |i, _| unit[i]);
                let r = &v - p * &v;
                sq += (0..d).map(|i| r[(i, 0)] * r[(i, 0)]).sum::<f64>();
            }
        }
        dist = worst(dist, sq.sqrt() / norm);
    }
    Ok((dist, rejected))
}

/// S7 (symmetric initialisation): on plus-corner, `InitLaw::Symmetric` lands in 𝓛_0: every
/// ρ(g)A_0 lies in 𝓛 to round-off, and `lift_theta` accepts it for every g (a rejection
/// makes the error infinite).
pub fn check_symmetric_init(seed: u64) -> Result<Measurement> {
    let gnet = plus_corner_network()?;
    let theta = init_theta(
        &gnet,
        &InitLaw::Symmetric { scale: 1.0 },
        &mut ChaCha8Rng::seed_from_u64(sub_seed(seed, 3)),
    )?;
    let (dist, rejected) = core_membership(&gnet, &theta)?;
    Ok(Measurement {
        statement: "S7",
        case: format!(
            "C4, plus-corner conv(4)→tanh→conv(2), symmetric init: distance of ρ(g)A_0 from 𝓛 \
             {dist:.2e}, lift_theta rejects {rejected} of 3"
        ),
        error: if rejected == 0 { dist } else { f64::INFINITY },
        tolerance: CORE_TOLERANCE,
        degenerate: 0,
    })
}

/// Controls: the covariance of a Gaussian initialisation on plus-corner does not commute
/// with ρ(r); a Gaussian initialisation on plus-corner is not in 𝓛_0 — by distance, and by
/// `lift_theta` (the error is the number of rejected g, which must be positive).
pub fn controls(seed: u64) -> Result<Vec<Control>> {
    let corner = Support::plus_corner();
    let cov = covariance_commutator(GridGroup::C4, &corner, sub_seed(seed, 2))?;
    let gnet = plus_corner_network()?;
    let theta = init_theta(
        &gnet,
        &InitLaw::Gaussian { scale: 1.0 },
        &mut ChaCha8Rng::seed_from_u64(sub_seed(seed, 3)),
    )?;
    let (dist, rejected) = core_membership(&gnet, &theta)?;
    Ok(vec![
        Control {
            statement: "S7",
            dropped: "H4",
            case: format!("C4, Gaussian init on plus-corner: max |[C, ρ(g)]| = {cov:.3}"),
            error: cov,
            threshold: COVARIANCE_THRESHOLD,
        },
        Control {
            statement: "S7",
            dropped: "H6",
            case: format!("C4, plus-corner, Gaussian init: distance of ρ(g)A_0 from 𝓛 {dist:.3}"),
            error: dist,
            threshold: CORE_THRESHOLD,
        },
        Control {
            statement: "S7",
            dropped: "H6",
            case: format!("C4, plus-corner, Gaussian init: lift_theta rejects {rejected} of 3 g"),
            error: rejected as f64,
            threshold: 0.0,
        },
    ])
}
