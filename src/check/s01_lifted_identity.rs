//! S1, the lifted identity: Φ_{ρ(g)A}(ρ_X(g)x) = ρ_Y(g)Φ_A(x) for every g, for random
//! A ∈ H (all of the ambient space, not only 𝓛) and random x.
//!
//! Random cases ([`random_case`]): image networks under C4/D4/C2 (invariant supports, random
//! widths and depths, tanh/ReLU/layer norm/2×2 average pooling on even grids); dense networks
//! between regular representations of C_n; self-attention on sets under S_n permuting tokens.
//! The controls break H2 or the lift at one place: a position-dependent bias and 2×2 pooling
//! on an odd grid (H2); asymmetric padding and filters rotated the wrong way ("wrong lift":
//! every ρ_i is still a representation — on abelian C4 even g ↦ ρ(g⁻¹) is one — but the
//! filter rotation no longer is ρ'_{i+1}(g)A_iρ_i(g)⁻¹ of the implemented map).

use super::roundoff::{self, Budget};
use super::{Control, Measurement};
use crate::group::Group;
use crate::nn::analysis::{filter_orbits, random_ambient_weights, random_inputs};
use crate::nn::{GroupNetwork, LayerSpec, Network, Padding, Support};
use crate::rep::{GridGroup, Rep};
use crate::Result;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The tolerance of a case is its round-off budget ([`roundoff`]): both sides evaluate the
/// same network (ambient weights permuted exactly by the lift, inputs permuted exactly by
/// ρ_X(g)) with the same products summed in another order, so each side has backward error
/// u·W with W = [`roundoff::network_work`] of the ambient network, and the relative error of
/// the output is at most κ times that, κ measured on the case by perturbing A and,
/// separately, every layer's input ([`roundoff::activation_condition`]). Both sides
/// round, hence W is counted twice. A control must exceed [`roundoff::CONTROL_FACTOR`] ×
/// its own case's tolerance; a real break (wrong padding, odd pooling, bias) is O(0.01..1).
/// Samples x per case.
const SAMPLES: usize = 3;

/// An action on ambient weights, (g, A) ↦ L(g, A), laid out as in
/// [`Network::ambient_weights`].
pub type LiftFn<'a> = &'a dyn Fn(usize, &[Vec<f64>]) -> Vec<Vec<f64>>;

/// max over g of ‖Φ_{L(g, A)}(ρ_X(g)x) − ρ_Y(g)Φ_A(x)‖ / ‖Φ_A(x)‖ (all samples together)
/// with random A ∈ H (from [`random_ambient_weights`]) and x ~ N(0, I), where `lift(g, A)` is
/// the action under test (the correct one is [`GroupNetwork::lift`]), and the case's
/// round-off budget. Networks run as their [`Network::ambient_network`] with θ = concat(A).
/// A case whose outputs all vanish (every ReLU dead) compares in absolute terms: the error
/// is 0 if the other side vanishes too, +∞ otherwise ([`roundoff::relative`]).
pub fn lifted_identity_error_with(
    gnet: &GroupNetwork,
    seed: u64,
    lift: LiftFn<'_>,
) -> Result<(f64, Budget)> {
    let net = gnet.network();
    let ambient = net.ambient_network();
    let a = random_ambient_weights(net, seed);
    let theta = a.concat();
    let x = random_inputs(SAMPLES, net.input_dim(), seed.wrapping_add(1));
    let mut tape = crate::autodiff::Tape::<f64>::new();
    let y = ambient.predict(&mut tape, &theta, &x, SAMPLES)?;
    let scale = norm(&y);
    let mut worst: f64 = 0.0;
    for g in 0..gnet.group().order() {
        let mut xg = vec![0.0; x.len()];
        gnet.act_on_inputs(g, &x, &mut xg);
        let yg = ambient.predict(&mut tape, &lift(g, &a).concat(), &xg, SAMPLES)?;
        let mut want = vec![0.0; y.len()];
        gnet.act_on_outputs(g, &y, &mut want);
        let d: Vec<f64> = yg.iter().zip(&want).map(|(u, v)| u - v).collect();
        let e = roundoff::relative(norm(&d), scale);
        if e.is_nan() {
            return Ok((f64::NAN, Budget::unconditioned()));
        }
        worst = worst.max(e);
    }
    let condition = roundoff::sensitivity(&theta, scale, seed ^ 0x5e75, |t| {
        ambient.predict(&mut crate::autodiff::Tape::<f64>::new(), t, &x, SAMPLES)
    })?;
    // Round-off perturbs weights and activations; the two add (both against the same W).
    let condition = condition.max(1.0)
        + roundoff::activation_condition(&ambient, &theta, &x, SAMPLES, seed ^ 0xac7)?;
    let work = 2.0 * roundoff::network_work(&ambient);
    Ok((worst, Budget { work, condition }))
}

fn norm(v: &[f64]) -> f64 {
    v.iter().map(|x| x * x).sum::<f64>().sqrt()
}

/// [`lifted_identity_error_with`] for the correct lifted action ρ(g)A.
pub fn lifted_identity_error(gnet: &GroupNetwork, seed: u64) -> Result<(f64, Budget)> {
    lifted_identity_error_with(gnet, seed, &|g, a| gnet.lift(g, a))
}

/// A random union of orbits of the k×k filter taps under the grid group (never empty).
pub fn random_invariant_support(kind: GridGroup, k: usize, seed: u64) -> Result<Support> {
    let orbits = filter_orbits(kind, k)?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut mask = vec![false; k * k];
    let forced = rng.random_range(0..orbits.len());
    for (o, orbit) in orbits.iter().enumerate() {
        if o == forced || rng.random_bool(0.5) {
            for &(r, c) in orbit {
                mask[r * k + c] = true;
            }
        }
    }
    Support::from_mask(k, mask)
}

/// A random image network under C4, D4 or C2 (see the module docs).
pub fn random_image_case(seed: u64) -> Result<(GroupNetwork, String)> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let kind = [GridGroup::C4, GridGroup::D4, GridGroup::C2][rng.random_range(0..3usize)];
    let input_side = [4usize, 6, 8][rng.random_range(0..3usize)];
    let mut side = input_side;
    let c0 = rng.random_range(1..=2usize);
    let depth = rng.random_range(1..=3usize);
    let mut specs = Vec::new();
    let mut desc = Vec::new();
    for _ in 0..depth {
        let k = if side >= 5 && rng.random_bool(0.3) {
            5
        } else {
            3
        };
        let support = random_invariant_support(kind, k, rng.random::<u64>())?;
        let width = rng.random_range(1..=3usize);
        specs.push(LayerSpec::conv(width, &support));
        desc.push(format!("conv{k}×{k}({width}, {support})"));
        let sigma: Vec<LayerSpec> = match rng.random_range(0..4usize) {
            0 => vec![LayerSpec::Tanh],
            1 => vec![LayerSpec::Relu],
            2 => vec![LayerSpec::Tanh, LayerSpec::LayerNorm],
            // 2×2 pooling only on an even grid that stays ≥ 3 wide (room for 3×3 taps).
            _ if side.is_multiple_of(2) && side / 2 >= 3 => {
                side /= 2;
                vec![LayerSpec::AvgPool2d(2), LayerSpec::Tanh]
            }
            _ => vec![LayerSpec::Tanh],
        };
        desc.extend(sigma.iter().map(|s| s.kind().to_string()));
        specs.extend(sigma);
    }
    let out = rng.random_range(2..=5usize);
    specs.push(LayerSpec::Flatten);
    specs.push(LayerSpec::dense_full(out));
    let net = Network::new(&[c0, input_side, input_side], specs)?;
    let case = format!(
        "{} on {c0}×{input_side}×{input_side}: {} → dense({out})",
        kind.name(),
        desc.join(" → ")
    );
    Ok((GroupNetwork::on_images(net, kind)?, case))
}

/// A random dense network between regular representations of C_n (n = 2..6): hidden spaces
/// carry `c` copies of the regular representation, the output is regular or trivial.
pub fn random_vector_case(seed: u64) -> Result<(GroupNetwork, String)> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let n = rng.random_range(2..=6usize);
    let regular = Rep::regular(std::sync::Arc::new(Group::cyclic(n)));
    let depth = rng.random_range(1..=3usize);
    let widths: Vec<usize> = (0..=depth).map(|_| rng.random_range(1..=3usize)).collect();
    let trivial_out = rng.random_bool(0.5);
    let mut specs = Vec::new();
    let mut spaces = vec![regular.feature_map(widths[0])];
    for (i, &w) in widths.iter().enumerate().skip(1) {
        let last = i == depth;
        let out = if last && trivial_out {
            Rep::trivial(regular.group().clone(), w)
        } else {
            regular.feature_map(w)
        };
        specs.push(LayerSpec::dense_full(out.dim()));
        spaces.push(out.clone());
        if !last {
            let sigma = match rng.random_range(0..3usize) {
                0 => LayerSpec::Tanh,
                1 => LayerSpec::Relu,
                _ => LayerSpec::LayerNorm,
            };
            specs.push(sigma);
            spaces.push(out);
        }
    }
    let net = Network::new(&[n * widths[0]], specs)?;
    let case = format!(
        "C{n} regular reps, widths {widths:?} (copies), {} output",
        if trivial_out { "trivial" } else { "regular" }
    );
    Ok((GroupNetwork::new(net, spaces)?, case))
}

/// Self-attention on a set of n tokens (n = 3, 4) under S_n permuting the tokens:
/// attention → tanh → attention, optionally → layer norm, or → flatten → dense (invariant
/// output).
pub fn random_attention_case(seed: u64) -> Result<(GroupNetwork, String)> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let n = rng.random_range(3..=4usize);
    let natural = Rep::natural(n)?;
    let group = natural.group().clone();
    let tokens = |d: usize| natural.tensor(&Rep::trivial(group.clone(), d));
    let dm = rng.random_range(2..=4usize);
    let (dk1, dv1) = (rng.random_range(1..=3usize), rng.random_range(2..=3usize));
    let (dk2, dv2) = (rng.random_range(1..=3usize), rng.random_range(1..=3usize));
    let mut specs = vec![
        LayerSpec::attention_full(dk1, dv1),
        LayerSpec::Tanh,
        LayerSpec::attention_full(dk2, dv2),
    ];
    let mut spaces = vec![tokens(dm)?, tokens(dv1)?, tokens(dv1)?, tokens(dv2)?];
    let tail = rng.random_range(0..3usize);
    let tail_name = match tail {
        0 => "",
        1 => {
            specs.push(LayerSpec::LayerNorm);
            spaces.push(tokens(dv2)?);
            " → layernorm"
        }
        _ => {
            specs.push(LayerSpec::Flatten);
            spaces.push(tokens(dv2)?);
            specs.push(LayerSpec::dense_full(2));
            spaces.push(Rep::trivial(group.clone(), 2));
            " → flatten → dense(2)"
        }
    };
    let net = Network::new(&[n, dm], specs)?;
    let case = format!(
        "S{n} on {n} tokens of size {dm}: attention({dk1},{dv1}) → tanh → attention({dk2},{dv2}){tail_name}"
    );
    Ok((GroupNetwork::new(net, spaces)?, case))
}

/// The random case of `seed`: image, vector or attention network by `seed % 3`.
pub fn random_case(seed: u64) -> Result<(GroupNetwork, String)> {
    match seed % 3 {
        0 => random_image_case(seed),
        1 => random_vector_case(seed),
        _ => random_attention_case(seed),
    }
}

/// S1 on [`random_case`]`(seed)`.
pub fn check(seed: u64) -> Result<Measurement> {
    let (gnet, case) = random_case(seed)?;
    let (error, budget) = lifted_identity_error(&gnet, seed)?;
    Ok(Measurement {
        statement: "S1",
        case: format!("{case} ({})", budget.describe()),
        error,
        tolerance: budget.tolerance(),
        degenerate: 0,
    })
}

/// A C4 or D4 (from the seed) image network: conv(2) on `plus` → `middle` → tanh → flatten →
/// dense(3), on `side`² images; `first` replaces the first convolution when given.
fn control_net(
    seed: u64,
    side: usize,
    first: Option<LayerSpec>,
    middle: Vec<LayerSpec>,
) -> Result<(GroupNetwork, GridGroup)> {
    let kind = if seed.is_multiple_of(2) {
        GridGroup::C4
    } else {
        GridGroup::D4
    };
    let mut specs = vec![first.unwrap_or_else(|| LayerSpec::conv(2, &Support::plus()))];
    specs.extend(middle);
    specs.extend([
        LayerSpec::Tanh,
        LayerSpec::Flatten,
        LayerSpec::dense_full(3),
    ]);
    let net = Network::new(&[1, side, side], specs)?;
    Ok((GroupNetwork::on_images(net, kind)?, kind))
}

/// The controls of S1, each must exceed [`roundoff::CONTROL_FACTOR`] × its case's tolerance:
/// - H2: a position-dependent bias (`AddConstant` of a random vector);
/// - H2: 2×2 average pooling on an odd grid;
/// - wrong lift: asymmetric padding (top 0, left 0) of a 3×3 convolution, for which rotating
///   the filter is not the lifted action on the implemented linear map;
/// - wrong lift: filters rotated by g⁻¹ while the inputs are rotated by g (not H1: on
///   abelian C4, g ↦ ρ(g⁻¹) is still a representation).
pub fn controls(seed: u64) -> Result<Vec<Control>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0xc0de);
    let side = [5usize, 7][rng.random_range(0..2usize)];
    let even = side + 1;
    let mut out = Vec::new();

    let bias = random_inputs(1, 2 * even * even, rng.random::<u64>());
    let (gnet, kind) = control_net(seed, even, None, vec![LayerSpec::AddConstant(bias)])?;
    out.push(control(
        "H2",
        format!("{kind:?}, {even}×{even}: conv → add a random position-dependent bias"),
        lifted_identity_error(&gnet, seed)?,
    ));

    let (gnet, kind) = control_net(seed, side, None, vec![LayerSpec::AvgPool2d(2)])?;
    out.push(control(
        "H2",
        format!("{kind:?}: 2×2 average pooling on an odd {side}×{side} grid"),
        lifted_identity_error(&gnet, seed)?,
    ));

    let asym = LayerSpec::Conv2d {
        out_channels: 2,
        kernel: 3,
        param: crate::nn::Parametrisation::from_support(&Support::full(3)),
        padding: Padding { top: 0, left: 0 },
    };
    let (gnet, kind) = control_net(seed, even, Some(asym), vec![])?;
    out.push(control(
        "wrong lift",
        format!("{kind:?}: 3×3 convolution with asymmetric padding (top 0, left 0)"),
        lifted_identity_error(&gnet, seed)?,
    ));

    let full = LayerSpec::conv(2, &Support::full(3));
    let (gnet, kind) = control_net(seed, even, Some(full), vec![])?;
    let convs = conv_maps(gnet.network());
    let group = gnet.group().clone();
    let wrong = |g: usize, a: &[Vec<f64>]| -> Vec<Vec<f64>> {
        let (right, inverse) = (gnet.lift(g, a), gnet.lift(group.inv(g), a));
        right
            .into_iter()
            .zip(inverse)
            .zip(&convs)
            .map(|((r, i), &conv)| if conv { i } else { r })
            .collect()
    };
    out.push(control(
        "wrong lift",
        format!("{kind:?}: filters rotated by g⁻¹ while inputs are rotated by g"),
        lifted_identity_error_with(&gnet, seed, &wrong)?,
    ));
    Ok(out)
}

/// A control of S1 from its measured error and its case's budget.
fn control(dropped: &'static str, case: String, (error, budget): (f64, Budget)) -> Control {
    Control {
        statement: "S1",
        dropped,
        case: format!("{case} ({})", budget.describe()),
        error,
        threshold: roundoff::control_threshold(budget.tolerance()),
    }
}

/// For every linear map, whether it is a convolution.
fn conv_maps(net: &Network) -> Vec<bool> {
    net.layers()
        .iter()
        .flat_map(|l| {
            let n = l.spec.params().len();
            std::iter::repeat_n(matches!(l.spec, LayerSpec::Conv2d { .. }), n)
        })
        .collect()
}
