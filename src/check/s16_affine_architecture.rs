//! S16, affine architectures 𝓛 = A_𝓛 + T𝓛: if ρ(g)A_𝓛 − A_𝓛 ∉ T𝓛 for some g, 𝓛 is not
//! invariant and no invariant law lives on it; the analysis must detect it,
//! max_g ‖(I − Π_{T𝓛})(ρ(g)A_𝓛 − A_𝓛)‖ > 0, and must not flag a harmless offset.
//!
//! Cases on the C4- and D4-invariant `plus` support (seeded: group, channels, image size,
//! offset values, one-hot or mixed basis of T𝓛):
//! - must hold (defect ≤ [`TOL`], verdict "invariant"): an invariant offset (a random filter
//!   constant on every tap orbit), and a non-invariant offset inside T𝓛 (random values on the
//!   plus taps: ρ(g)A_𝓛 − A_𝓛 ∈ T𝓛, so ρ(g)𝓛 = 𝓛);
//! - controls (must fail): a random offset with weight on the corners (ρ(g)A_𝓛 − A_𝓛 has a
//!   corner component outside T𝓛), both as a defect and as a verdict.
//!
//! The "ensembles on it keep a bias" half of S16 is measured exactly on a network that is
//! linear in its weights ([`mean_member_error`]): the bias controls of [`controls`] and the
//! re-centred law of [`bias_check`].

use super::{Control, Measurement};
use crate::ensemble::equivariance_error;
use crate::nn::analysis::{analyze_map, default_method, filter_orbits, MapReport, Verdict};
use crate::nn::param::standard_normal;
use crate::nn::{GroupNetwork, LayerSpec, Network, Parametrisation, Support, Target};
use crate::rep::GridGroup;
use crate::train::cases::{normals, sub_seed};
use crate::train::{descend, Augmentation, Samples, Workspace};
use crate::Result;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Tolerance of the offset defect for offsets that must pass.
///
/// With a one-hot basis ρ(g)A_𝓛 − A_𝓛 is a difference of equal entries (exactly 0 outside
/// T𝓛); with a mixed basis the projection uses an SVD basis of 9-vectors, round-off
/// ≈ 9·ε·‖A_𝓛‖ ≈ 1e-14 for ‖A_𝓛‖ = O(1). 1e-12 leaves a margin of 100.
pub const TOL: f64 = 1e-12;

/// Threshold the control's defect must exceed: a corner weight c moves to another corner,
/// giving a defect ≥ |c|·√2·(…) = O(1) for N(0, 1) offsets; 1e-3 is far below that and far
/// above round-off.
pub const CONTROL_THRESHOLD: f64 = 1e-3;

/// Which offset A_𝓛 to put on the `plus` support.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Offset {
    /// Constant on every tap orbit of the group (ρ(g)A_𝓛 = A_𝓛).
    Invariant,
    /// Random on the plus taps only (ρ(g)A_𝓛 − A_𝓛 ∈ T𝓛).
    InsideDirection,
    /// Random on all nine taps (ρ(g)A_𝓛 − A_𝓛 ∉ T𝓛).
    Corners,
}

/// The report of a one-conv network whose filter architecture is `plus` with the given
/// offset, under `kind`; the seed draws the offset values, the basis (one-hot or a random
/// orthonormalised mix of the plus taps), channels and image size.
pub fn measure(kind: GridGroup, offset: Offset, seed: u64) -> Result<MapReport> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let plus = Support::plus();
    let mut a = vec![0.0; 9];
    match offset {
        Offset::Invariant => {
            for orbit in filter_orbits(kind, 3)? {
                let v = standard_normal(&mut rng);
                orbit.iter().for_each(|&(r, c)| a[r * 3 + c] = v);
            }
        }
        Offset::InsideDirection => {
            for i in plus.indices() {
                a[i] = standard_normal(&mut rng);
            }
        }
        Offset::Corners => {
            a.iter_mut().for_each(|x| *x = standard_normal(&mut rng));
        }
    }
    let param = if rng.random_bool(0.5) {
        Parametrisation::from_support(&plus)
    } else {
        let cols: Vec<Vec<f64>> = (0..plus.len())
            .map(|_| {
                let mut c = vec![0.0; 9];
                plus.indices()
                    .into_iter()
                    .for_each(|i| c[i] = standard_normal(&mut rng));
                c
            })
            .collect();
        Parametrisation::orthonormalised(9, cols)?
    }
    .with_offset(a)?;
    let side = rng.random_range(3..=6usize);
    let channels = rng.random_range(1..=3usize);
    let net = Network::new(
        &[1, side, side],
        vec![LayerSpec::conv_with(channels, 3, param), LayerSpec::Tanh],
    )?;
    let gnet = GroupNetwork::on_images(net, kind)?;
    analyze_map(&gnet, 0, default_method(&gnet, 0))
}

/// The groups of a seed: C4 for even seeds, D4 for odd ones.
fn group_of(seed: u64) -> GridGroup {
    if seed.is_multiple_of(2) {
        GridGroup::C4
    } else {
        GridGroup::D4
    }
}

/// S16 (must hold): an invariant offset and an offset inside T𝓛 are not flagged — the worst
/// offset defect, or 1 if either verdict is not "invariant".
pub fn check(seed: u64) -> Result<Measurement> {
    let kind = group_of(seed);
    let mut error: f64 = 0.0;
    let mut methods = Vec::new();
    for (i, offset) in [Offset::Invariant, Offset::InsideDirection]
        .into_iter()
        .enumerate()
    {
        let m = measure(kind, offset, seed.wrapping_mul(3).wrapping_add(i as u64))?;
        let wrong = if m.verdict == Verdict::Invariant {
            0.0
        } else {
            1.0
        };
        error = error.max(m.offset_defect).max(wrong);
        methods.push(format!("{:?}", m.method).to_lowercase());
    }
    Ok(Measurement {
        statement: "S16",
        case: format!(
            "{}: plus support with an invariant offset and with an offset inside T𝓛 ({} methods)",
            kind.name(),
            methods.join("/")
        ),
        error,
        tolerance: TOL,
        degenerate: 0,
    })
}

/// The controls of S16 (H4 dropped through the offset): a random offset with corner weights
/// must give a defect above [`CONTROL_THRESHOLD`] and a verdict other than "invariant";
/// and the bias of the infinite ensemble ([`mean_member_error`]) with that offset (H4) and
/// with an offset inside T𝓛 that is not ρ-invariant, the law A_𝓛 + N(0, Π_{T𝓛}) centred at
/// it (H6: 𝓛 is invariant but this law on it is not).
pub fn controls(seed: u64) -> Result<Vec<Control>> {
    let kind = group_of(seed);
    let m = measure(kind, Offset::Corners, seed.wrapping_mul(3).wrapping_add(2))?;
    let bias = |offset: Offset| mean_member_error(kind, offset, false, sub_seed(seed, 7));
    let (h4, h4_case) = bias(Offset::Corners)?;
    let (h6, h6_case) = bias(Offset::InsideDirection)?;
    Ok(vec![
        Control {
            statement: "S16",
            dropped: "H4 (bias)",
            case: format!("offset with corner weights (𝓛 not invariant): {h4_case}"),
            error: h4,
            threshold: BIAS_THRESHOLD,
        },
        Control {
            statement: "S16",
            dropped: "H6 (bias)",
            case: format!(
                "offset inside T𝓛, not invariant, law centred at it (𝓛 invariant, law not): \
                 {h6_case}"
            ),
            error: h6,
            threshold: BIAS_THRESHOLD,
        },
        Control {
            statement: "S16",
            dropped: "H4",
            case: format!(
                "{}: plus support, random offset on all nine taps: defect",
                kind.name()
            ),
            error: m.offset_defect,
            threshold: CONTROL_THRESHOLD,
        },
        Control {
            statement: "S16",
            dropped: "H4",
            case: format!(
                "{}: plus support, random offset on all nine taps: verdict {}",
                kind.name(),
                m.verdict.label()
            ),
            // 1 when the verdict is not "invariant"; a boolean, so any threshold in (0, 1).
            error: if m.verdict == Verdict::Invariant {
                0.0
            } else {
                1.0
            },
            threshold: 0.5,
        },
    ])
}

/// Descent steps of the mean member in the bias measurements.
pub const BIAS_STEPS: usize = 10;
/// Step size of the mean member.
pub const BIAS_LR: f64 = 0.1;

/// Tolerance of [`bias_check`]: the mean member starts at Π_G A_𝓛 ∈ H_G (exact up to the
/// orbit average of ≤ 4 taps, ~ε), every step maps H_G into itself up to the round-off of
/// one conv forward/backward pass summed in another order (≲ 1e-15 relative, S4), and the
/// equivariance error of one linear conv on permuted probes is ~ε: ≲ 1e-14 after 10 steps.
/// 1e-12 (the statement's own tolerance for exact identities) leaves a margin of 100.
pub const BIAS_TOL: f64 = 1e-12;

/// The bias controls' error must exceed this: the mean member keeps a non-invariant part of
/// size O(‖A_𝓛 − Π_G A_𝓛‖) ~ ‖A_𝓛‖, an O(0.1..1) relative error (recorded in the case);
/// 1e-6 is 10⁶ above [`BIAS_TOL`].
pub const BIAS_THRESHOLD: f64 = 1e-6;

/// The relative equivariance error of the INFINITE ensemble after [`BIAS_STEPS`] steps of
/// full-augmentation descent, on a one-conv network Φ_A(x) = A ⋆ x (3×3 filter on a 5×5
/// image, no non-linearity, image output rotated by ρ_Y) with the plus architecture and
/// offset A_𝓛 = `offset` (replaced by its Reynolds average Π_G A_𝓛 when `recentre`), and
/// the law A_0 = A_𝓛 + N(0, Π_{T𝓛}) (θ_0 ~ N(0, I) on the one-hot basis).
///
/// Exact, without sampling: Φ_A(x) is linear in A and the loss is a mean squared error, so
/// R_aug is quadratic and one descent step A ↦ A − lr·Π_{T𝓛}∇R_aug(A) is affine; hence
/// E(A_t) is the trajectory from E(A_0) = A_𝓛 (θ = 0) and E[Φ_{A_t}(x)] = Φ_{E(A_t)}(x). The
/// infinite ensemble is the single network at that trajectory, whose error is the bias ‖b‖
/// relative to the outputs. Returns (error, description).
pub fn mean_member_error(
    kind: GridGroup,
    offset: Offset,
    recentre: bool,
    seed: u64,
) -> Result<(f64, String)> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let plus = Support::plus();
    let mut a = vec![0.0; 9];
    match offset {
        Offset::Invariant => {
            for orbit in filter_orbits(kind, 3)? {
                let v = standard_normal(&mut rng);
                orbit.iter().for_each(|&(r, c)| a[r * 3 + c] = v);
            }
        }
        Offset::InsideDirection => plus
            .indices()
            .into_iter()
            .for_each(|i| a[i] = standard_normal(&mut rng)),
        Offset::Corners => a.iter_mut().for_each(|x| *x = standard_normal(&mut rng)),
    }
    if recentre {
        // Π_G on one 1→1 filter: the mean over each tap orbit.
        for orbit in filter_orbits(kind, 3)? {
            let mean = orbit.iter().map(|&(r, c)| a[r * 3 + c]).sum::<f64>() / orbit.len() as f64;
            orbit.iter().for_each(|&(r, c)| a[r * 3 + c] = mean);
        }
    }
    let param = Parametrisation::from_support(&plus).with_offset(a)?;
    let side = 5;
    let net = Network::new(
        &[1, side, side],
        vec![LayerSpec::conv_with(1, 3, param), LayerSpec::Flatten],
    )?;
    let gnet = GroupNetwork::on_images(net, kind)?;
    let d = side * side;
    let (n, probes_n) = (4, 4);
    let x = normals(&mut rng, n * d);
    let y = normals(&mut rng, n * d);
    let probes = normals(&mut rng, probes_n * d);
    let samples = Samples {
        x: &x,
        n,
        target: Target::Values(&y),
    };
    let law = Augmentation::Full.law(gnet.group())?;
    let mut theta = vec![0.0; gnet.network().num_params()];
    let mut ws = Workspace::<f64>::new(&gnet);
    descend(
        &gnet,
        &mut ws,
        &mut theta,
        &samples,
        &law,
        BIAS_LR,
        BIAS_STEPS,
        |_, _, _| {},
    )?;
    let all: Vec<usize> = (0..gnet.group().order()).collect();
    let error = equivariance_error(&gnet, &[theta], &probes, probes_n, &all, 1)?;
    Ok((
        error,
        format!(
            "{}, conv(1) on {plus} with offset {offset:?}{}, {side}×{side} images, MSE, \
             mean member after {BIAS_STEPS} steps (lr {BIAS_LR}) → infinite-ensemble error \
             {error:.3e}",
            kind.name(),
            if recentre {
                " re-centred at Π_G A_𝓛"
            } else {
                ""
            }
        ),
    ))
}

/// The must-hold side of the bias measurement (THEORY H6 on an affine 𝓛): with an offset
/// inside T𝓛 that is not invariant, the law re-centred at Π_G A_𝓛 (which lies in 𝓛 because
/// 𝓛 is invariant) makes the infinite ensemble exactly equivariant.
pub fn bias_check(seed: u64) -> Result<Measurement> {
    let kind = group_of(seed);
    let (error, case) = mean_member_error(kind, Offset::InsideDirection, true, sub_seed(seed, 7))?;
    Ok(Measurement {
        statement: "S16",
        case,
        error,
        tolerance: BIAS_TOL,
        degenerate: 0,
    })
}
