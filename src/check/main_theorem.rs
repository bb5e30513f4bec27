//! The main theorem (NF24, Thm 4.2) at trajectory level, checked exactly for SGD.
//!
//! SGD's final weights are a function Ψ(A_0, g) of the start and of the augmentation draws
//! g = (g_{k,j}) (step k, sample j), and ρ(h)Ψ(A_0, g) = Ψ(ρ(h)A_0, hg) (S6). So the law of
//! A_k is invariant as soon as the JOINT law of (A_0, g) is invariant under
//! (A, g) ↦ (ρ(h)A, hg) — independent per-sample draws are one such law, not the only one.
//! [`check`] takes the law "A_0 uniform on the orbit of a Gaussian B, one uniform g_k per
//! batch shared by all its samples" (per-sample draws are fully correlated, yet the joint
//! law is invariant) and computes the expectation EXACTLY by enumerating the |G|·|G|^k
//! equally likely (start, draws) pairs. The controls keep everything but one ingredient:
//! - "joint law not invariant": the two samples of batch k get g_k and g_k⁻¹ — every draw is
//!   uniform on G, yet (g, g⁻¹) ↦ (hg, hg⁻¹) is not of the form (g', g'⁻¹);
//! - "H6": a fixed start A_0 = B (uniform shared draws);
//! - "H7": shared draws with weights (0.7, 0.1, 0.1, 0.1);
//! - "ensemble (M = 1)": one member (one start, one draw sequence) — a single member need
//!   not be equivariant.
//!
//! Case: C4 on 1×4×4 images, conv(2) on plus → tanh → conv(2) on the full 3×3 → tanh →
//! flatten → dense(3 classes), cross-entropy; [`STEPS`] SGD steps of batch [`BATCH`] at lr
//! [`LR`] on fixed batches of N(0, 1) images with fixed labels; N(0, 2²) probes.

use super::{Control, Measurement};
use crate::autodiff::Tape;
use crate::ensemble::run_members;
use crate::nn::{GroupNetwork, LayerSpec, Network, Support, Target};
use crate::rep::GridGroup;
use crate::train::cases::{normals, sub_seed};
use crate::train::init::standard_normal;
use crate::train::{init_theta, sgd_epoch, Augmentation, InitLaw, Samples, SgdConfig, Workspace};
use crate::{Error, Result};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// SGD steps (one fixed batch each).
pub const STEPS: usize = 3;
/// Samples per batch.
pub const BATCH: usize = 2;
/// Step size (large, so that three steps move the members far from their start).
pub const LR: f64 = 0.5;
/// Probe images.
pub const PROBES: usize = 4;
/// |G| for C4.
const ORDER: usize = 4;
/// Members of an enumeration: |G| starts × |G|^STEPS draw sequences.
const MEMBERS: usize = ORDER * ORDER * ORDER * ORDER;
const THREADS: usize = 2;
/// Pixels of one 1×4×4 image.
const PIXELS: usize = 16;

/// Tolerance of [`check`] (relative to the members' output scale). In exact arithmetic the
/// 256 members form a set closed under A ↦ ρ(h)A (member (c, g) ↦ member (hc, hg)), so their
/// uniform mean is exactly equivariant. In floating point member (hc, hg) differs from
/// ρ(h)·member (c, g) by the round-off of 3 steps on permuted inputs (each step's gradient
/// sums the same terms in another order, ~1e-15 relative; at lr 0.5 a step's Jacobian has
/// norm ≲ 2, so ≲ 1e-14 after 3 steps), and the weighted mean of 256 outputs adds ≲ 256·ε
/// ≈ 6e-14 relative. 1e-12 is ≳ 10× that bound.
pub const TOLERANCE: f64 = 1e-12;

/// The controls' errors must exceed this. Each dropped ingredient changes the expectation
/// by a finite amount: three steps at lr 0.5 move a member by O(1) relative, and a law that
/// is not invariant weights the moved members unevenly, an O(0.01..1) relative error
/// (recorded in each case); 1e-6 is 10⁶ × [`TOLERANCE`].
pub const CONTROL_THRESHOLD: f64 = 1e-6;

/// The network, its Gaussian B, the batches and the probes of one case.
struct Setup {
    gnet: GroupNetwork,
    theta0: Vec<f64>,
    x: Vec<f64>,
    labels: Vec<usize>,
    probes: Vec<f64>,
}

fn setup(seed: u64) -> Result<Setup> {
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
    )?;
    let gnet = GroupNetwork::on_images(net, GridGroup::C4)?;
    let theta0 = init_theta(&gnet, &InitLaw::Gaussian { scale: 1.0 }, &mut rng)?;
    let x = normals(&mut rng, STEPS * BATCH * PIXELS);
    let labels = (0..STEPS * BATCH).map(|i| i % 3).collect();
    let probes = (0..PROBES * PIXELS)
        .map(|_| 2.0 * standard_normal(&mut rng))
        .collect();
    Ok(Setup {
        gnet,
        theta0,
        x,
        labels,
        probes,
    })
}

/// How the per-sample elements of batch k derive from its draw g_k.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Draws {
    /// Every sample of the batch gets g_k (one shared draw per batch).
    Shared,
    /// Sample 0 gets g_k, sample 1 gets g_k⁻¹ (uniform marginals, not jointly invariant).
    Inverse,
}

/// Member index m = c·|G|³ + g_0·|G|² + g_1·|G| + g_2: its start element c and draws g_k.
fn decode(m: usize) -> (usize, [usize; STEPS]) {
    let mut draws = [0; STEPS];
    let mut rest = m;
    for k in (0..STEPS).rev() {
        draws[k] = rest % ORDER;
        rest /= ORDER;
    }
    (rest, draws)
}

/// The |G|^{1+STEPS} members, in index order: member (c, g) starts at ρ(c)B and takes
/// step k on batch k with its samples transformed by the elements `draws` derives from g_k
/// (the library's `sgd_epoch` on the transformed batch, no further augmentation).
fn members(s: &Setup, draws: Draws) -> Result<Vec<Vec<f64>>> {
    let gnet = &s.gnet;
    let group = gnet.group();
    let none = Augmentation::None.law(group)?;
    let cfg = SgdConfig {
        lr: LR,
        batch: BATCH,
        epochs: 1,
        shuffle: false,
    };
    run_members(0..MEMBERS, THREADS, |m| -> Result<Vec<f64>> {
        let (c, gs) = decode(m);
        let mut theta = gnet.lift_theta(c, &s.theta0)?;
        let mut ws = Workspace::<f64>::new(gnet);
        // Unused: no shuffle, and the law {e} has nothing random to draw.
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let mut xb = vec![0.0; BATCH * PIXELS];
        for (k, &g) in gs.iter().enumerate() {
            for j in 0..BATCH {
                let e = match (draws, j % 2) {
                    (Draws::Inverse, 1) => group.inv(g),
                    _ => g,
                };
                let i = k * BATCH + j;
                gnet.act_on_inputs(
                    e,
                    &s.x[i * PIXELS..(i + 1) * PIXELS],
                    &mut xb[j * PIXELS..(j + 1) * PIXELS],
                );
            }
            let batch = Samples {
                x: &xb,
                n: BATCH,
                target: Target::Labels(&s.labels[k * BATCH..(k + 1) * BATCH]),
            };
            sgd_epoch(gnet, &mut ws, &mut theta, &batch, &cfg, &none, 0, &mut rng)?;
        }
        Ok(theta)
    })?
    .into_iter()
    .collect()
}

/// The relative equivariance error of the weighted mean f = Σ_m w_m Φ_m:
/// max over g ∈ C4 and probes x of ‖f(ρ_X(g)x) − ρ_Y(g)f(x)‖, over the members' output scale
/// Σ_m w_m mean_x ‖Φ_m(x)‖ (the library's `equivariance_error` for weights; members with
/// weight 0 are skipped).
fn weighted_error(s: &Setup, thetas: &[Vec<f64>], weights: &[f64]) -> Result<f64> {
    let net = s.gnet.network();
    let k = net.output_dim();
    let mut inputs = vec![0.0; ORDER * PROBES * PIXELS];
    for (g, block) in inputs.chunks_mut(PROBES * PIXELS).enumerate() {
        s.gnet.act_on_inputs(g, &s.probes, block);
    }
    let mut mean = vec![0.0; ORDER * PROBES * k];
    let mut scale = 0.0;
    let mut tape = Tape::new();
    for (theta, &w) in thetas.iter().zip(weights) {
        if w == 0.0 {
            continue;
        }
        let out = net.predict(&mut tape, theta, &inputs, ORDER * PROBES)?;
        mean.iter_mut().zip(&out).for_each(|(a, b)| *a += w * b);
        let norms: f64 = out[..PROBES * k]
            .chunks(k)
            .map(|v| v.iter().map(|x| x * x).sum::<f64>().sqrt())
            .sum();
        scale += w * norms / PROBES as f64;
    }
    let (base, moved) = mean.split_at(PROBES * k);
    let mut expected = vec![0.0; PROBES * k];
    let mut err: f64 = 0.0;
    for (g, got) in moved.chunks(PROBES * k).enumerate() {
        s.gnet.act_on_outputs(g + 1, base, &mut expected);
        for (a, b) in got.chunks(k).zip(expected.chunks(k)) {
            let d = a
                .iter()
                .zip(b)
                .map(|(u, v)| (u - v) * (u - v))
                .sum::<f64>()
                .sqrt();
            if d.is_nan() {
                return Ok(f64::NAN);
            }
            err = err.max(d);
        }
    }
    if scale.is_nan() || scale <= 0.0 {
        return Err(Error::Invalid(format!(
            "the members' output scale is {scale}"
        )));
    }
    Ok(err / scale)
}

/// The main theorem for SGD with one shared uniform draw per batch: the exact expectation
/// over the invariant joint law of (A_0, g) is equivariant on off-distribution probes.
pub fn check(seed: u64) -> Result<Measurement> {
    let s = setup(sub_seed(seed, 0))?;
    let thetas = members(&s, Draws::Shared)?;
    let error = weighted_error(&s, &thetas, &[1.0 / MEMBERS as f64; MEMBERS])?;
    Ok(Measurement {
        statement: "main",
        case: format!(
            "C4 on [1,4,4], conv(2) plus→tanh→conv(2) full→tanh→flatten→dense(3), {STEPS} SGD \
             steps of batch {BATCH} at lr {LR}; A_0 uniform on the orbit of a Gaussian B, one \
             uniform g_k per batch shared by its samples; exact expectation over {MEMBERS} \
             equally likely (start, draws) pairs → error {error:.2e}"
        ),
        error,
        tolerance: TOLERANCE,
        degenerate: 0,
    })
}

/// One control arm: its `dropped` label, what it changes, the members and their weights.
type Arm<'a> = (&'static str, &'a str, &'a [Vec<f64>], &'a [f64]);

/// The controls (see the module docs), each the exact expectation under its law.
pub fn controls(seed: u64) -> Result<Vec<Control>> {
    let s = setup(sub_seed(seed, 0))?;
    let shared = members(&s, Draws::Shared)?;
    let inverse = members(&s, Draws::Inverse)?;
    let uniform = vec![1.0 / MEMBERS as f64; MEMBERS];
    let per_start = MEMBERS / ORDER;
    // Fixed start: the members with c = e, uniform draws.
    let fixed: Vec<f64> = (0..MEMBERS)
        .map(|m| {
            if m < per_start {
                1.0 / per_start as f64
            } else {
                0.0
            }
        })
        .collect();
    let p = [0.7, 0.1, 0.1, 0.1];
    let non_haar: Vec<f64> = (0..MEMBERS)
        .map(|m| {
            let (_, gs) = decode(m);
            gs.iter().map(|&g| p[g]).product::<f64>() / ORDER as f64
        })
        .collect();
    let mut single = vec![0.0; MEMBERS];
    single[0] = 1.0;
    let arms: [Arm<'_>; 4] = [
        (
            "joint law not invariant",
            "batch k's two samples get g_k and g_k⁻¹ (each uniform on G, jointly not \
             invariant under g ↦ hg)",
            &inverse,
            &uniform,
        ),
        (
            "H6",
            "fixed start A_0 = B (law not invariant), uniform shared draws",
            &shared,
            &fixed,
        ),
        (
            "H7",
            "shared draws with weights (0.7, 0.1, 0.1, 0.1), A_0 uniform on the orbit",
            &shared,
            &non_haar,
        ),
        (
            "ensemble (M = 1)",
            "one member: start B, draws (e, e, e)",
            &shared,
            &single,
        ),
    ];
    arms.into_iter()
        .map(|(dropped, what, thetas, weights)| {
            let error = weighted_error(&s, thetas, weights)?;
            Ok(Control {
                statement: "main",
                dropped,
                case: format!("{what}: exact expectation → error {error:.3e}"),
                error,
                threshold: CONTROL_THRESHOLD,
            })
        })
        .collect()
}
