//! Small random training problems drawn from a seed, shared by the statement checks and the
//! tests: image classifiers under C4/D4 and a vector regression under C_n.

use super::risk::Samples;
use crate::ensemble::seeds::{mix64, GOLDEN};
use crate::group::Group;
use crate::nn::analysis::filter_orbit_indices;
use crate::nn::{GroupNetwork, LayerSpec, Network, Parametrisation, Support, Target};
use crate::rep::{GridGroup, Rep};
use crate::train::init::standard_normal;
use crate::Result;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::sync::Arc;

/// How the 3×3 filters of an image case are parametrised.
#[derive(Clone, Debug, PartialEq)]
pub enum Filters {
    /// One-hot on a random non-empty union of orbits of the 3×3 grid (invariant, H4, H5).
    InvariantSupport,
    /// One-hot on the given support (e.g. `Support::plus_corner()`, not invariant).
    OneHot(Support),
    /// A random normalised, non-orthonormal basis on a random invariant support with at
    /// least two taps (drops H5).
    NonOrthonormal,
    /// The compatible but not invariant direction of THEORY S5(v): T𝓛 = H_G ⊕ span(a) ⊕
    /// span(v), a = +1,−1,+1,−1 on the arms (top, left, bottom, right), v = e_(0,0) − e_(0,2);
    /// orthonormal basis.
    CompatibleNotInvariant,
}

/// Which activations an image case may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activations {
    /// tanh, ReLU, or layer norm + tanh (each layer independently).
    Any,
    /// tanh or layer norm + tanh: no ReLU, so long training cannot kill every unit and
    /// leave a constant (trivially equivariant) network.
    Smooth,
}

/// A training problem: a network under a group and labelled data.
#[derive(Clone, Debug)]
pub struct Case {
    /// The network with its representations.
    pub gnet: GroupNetwork,
    /// Inputs, row-major [n, input_dim], i.i.d. N(0, 1).
    pub x: Vec<f64>,
    /// Number of samples.
    pub n: usize,
    /// Class labels (classification cases) or empty.
    pub labels: Vec<usize>,
    /// Target values [n, output_dim] (regression cases) or empty.
    pub values: Vec<f64>,
    /// The case in human terms.
    pub description: String,
}

impl Case {
    /// The data as [`Samples`] (labels if present, else values).
    pub fn samples(&self) -> Samples<'_, f64> {
        let target = if self.labels.is_empty() {
            Target::Values(&self.values)
        } else {
            Target::Labels(&self.labels)
        };
        Samples {
            x: &self.x,
            n: self.n,
            target,
        }
    }
}

/// A random invariant 3×3 support: a non-empty union of orbits (each orbit in with
/// probability 1/2, redrawn if empty).
pub fn random_invariant_support(kind: GridGroup, rng: &mut ChaCha8Rng) -> Result<Support> {
    let orbits = filter_orbit_indices(kind, 3)?;
    loop {
        let mut mask = vec![false; 9];
        for orbit in &orbits {
            if rng.random_bool(0.5) {
                orbit.iter().for_each(|&i| mask[i] = true);
            }
        }
        if mask.iter().any(|&b| b) {
            return Support::from_mask(3, mask);
        }
    }
}

/// The orthonormal basis of the S5(v) direction H_G ⊕ span(a) ⊕ span(v) on 3×3 filters.
pub fn compatible_not_invariant(kind: GridGroup) -> Result<Parametrisation> {
    let mut cols: Vec<Vec<f64>> = filter_orbit_indices(kind, 3)?
        .into_iter()
        .map(|orbit| {
            let mut c = vec![0.0; 9];
            orbit.iter().for_each(|&i| c[i] = 1.0);
            c
        })
        .collect();
    // Arms (0,1) top, (1,0) left, (2,1) bottom, (1,2) right in rotation order.
    let mut a = vec![0.0; 9];
    a[1] = 1.0;
    a[3] = -1.0;
    a[7] = 1.0;
    a[5] = -1.0;
    let mut v = vec![0.0; 9];
    v[0] = 1.0;
    v[2] = -1.0;
    cols.push(a);
    cols.push(v);
    Parametrisation::orthonormalised(9, cols)
}

fn pick<T: Clone>(rng: &mut ChaCha8Rng, items: &[T]) -> T {
    items[rng.random_range(0..items.len())].clone()
}

/// `len` i.i.d. N(0, 1) draws from `rng`.
pub fn normals(rng: &mut ChaCha8Rng, len: usize) -> Vec<f64> {
    (0..len).map(|_| standard_normal(rng)).collect()
}

/// A random image classifier under `group` (C4 or D4 at random when `None`):
/// [c0, s, s] inputs (c0 ∈ {1, 2}, s ∈ {4, 6}) → conv(c1) → σ → avg-pool 2 → conv(c2) → σ'
/// → flatten → dense(K), K ∈ 3..=5, σ, σ' ∈ {tanh, relu, layer norm + tanh} (no relu for
/// [`Activations::Smooth`]); both convs parametrised by `filters`; n ∈ 5..=8 samples with
/// N(0, 1) pixels and uniform labels.
pub fn image_case(
    seed: u64,
    group: Option<GridGroup>,
    filters: &Filters,
    acts: Activations,
) -> Result<Case> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let kind = group.unwrap_or_else(|| pick(&mut rng, &[GridGroup::C4, GridGroup::D4]));
    let c0 = rng.random_range(1..=2);
    let side = pick(&mut rng, &[4, 6]);
    let (c1, c2) = (rng.random_range(2..=3), rng.random_range(2..=3));
    let classes = rng.random_range(3..=5);
    let n = rng.random_range(5..=8);
    let mut filter_param = |layer: u64| -> Result<(Parametrisation, String)> {
        Ok(match filters {
            Filters::InvariantSupport => {
                let s = random_invariant_support(kind, &mut rng)?;
                (Parametrisation::from_support(&s), format!("one-hot {s}"))
            }
            Filters::OneHot(s) => (Parametrisation::from_support(s), format!("one-hot {s}")),
            Filters::NonOrthonormal => {
                // One unit column on a single tap (the centre) would be orthonormal: redraw
                // until the support has at least two taps.
                let mut s = random_invariant_support(kind, &mut rng)?;
                while s.len() < 2 {
                    s = random_invariant_support(kind, &mut rng)?;
                }
                let p = Parametrisation::random_normalised(
                    9,
                    &s.indices(),
                    seed.wrapping_mul(31).wrapping_add(layer),
                )?;
                (p, format!("random-normalised on {s}"))
            }
            Filters::CompatibleNotInvariant => (
                compatible_not_invariant(kind)?,
                "compatible-not-invariant".into(),
            ),
        })
    };
    let (p1, d1) = filter_param(0)?;
    let (p2, d2) = filter_param(1)?;
    let all: [&[LayerSpec]; 3] = [
        &[LayerSpec::Tanh],
        &[LayerSpec::LayerNorm, LayerSpec::Tanh],
        &[LayerSpec::Relu],
    ];
    let activations = match acts {
        Activations::Any => &all[..],
        Activations::Smooth => &all[..2],
    };
    let (a1, a2) = (pick(&mut rng, activations), pick(&mut rng, activations));
    let mut specs = vec![LayerSpec::conv_with(c1, 3, p1)];
    specs.extend_from_slice(a1);
    specs.push(LayerSpec::AvgPool2d(2));
    specs.push(LayerSpec::conv_with(c2, 3, p2));
    specs.extend_from_slice(a2);
    specs.push(LayerSpec::Flatten);
    specs.push(LayerSpec::dense_full(classes));
    let kinds: Vec<&str> = specs.iter().map(LayerSpec::kind).collect();
    let net = Network::new(&[c0, side, side], specs)?;
    let gnet = GroupNetwork::on_images(net, kind)?;
    let x = normals(&mut rng, n * c0 * side * side);
    let labels = (0..n).map(|_| rng.random_range(0..classes)).collect();
    Ok(Case {
        gnet,
        x,
        n,
        labels,
        values: Vec::new(),
        description: format!(
            "{kind:?} on [{c0},{side},{side}], {} (filters {d1} / {d2}), {classes} classes, \
             n = {n}",
            kinds.join("→")
        ),
    })
}

/// A random vector regression under C_m (m ∈ {3, 4, 5, 6}) rotating p ∈ {2, 3} points of the
/// plane: R^{2p} → dense → tanh → dense → R², hidden space h copies (h ∈ {1, 2}) of the
/// regular representation, output rotated by ρ_Y = R(2πk/m) (non-trivial), MSE against
/// N(0, 1) target vectors; n ∈ 5..=8 samples.
pub fn vector_case(seed: u64) -> Result<Case> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let m = pick(&mut rng, &[3usize, 4, 5, 6]);
    let points = rng.random_range(2..=3);
    let copies = rng.random_range(1..=2);
    let n = rng.random_range(5..=8);
    let input = Rep::point_cloud(m, points)?;
    let group = Arc::new(Group::cyclic(m));
    let hidden = Rep::regular(group).feature_map(copies);
    let output = Rep::rotations_r2(m)?;
    let net = Network::new(
        &[2 * points],
        vec![
            LayerSpec::dense_full(hidden.dim()),
            LayerSpec::Tanh,
            LayerSpec::dense_full(2),
        ],
    )?;
    let gnet = GroupNetwork::new(net, vec![input, hidden.clone(), hidden, output])?;
    let x = normals(&mut rng, n * 2 * points);
    let values = normals(&mut rng, n * 2);
    Ok(Case {
        gnet,
        x,
        n,
        labels: Vec::new(),
        values,
        description: format!(
            "C{m} on {points} points of R² → {copies}×regular → R² (rotated), MSE, n = {n}"
        ),
    })
}

/// max(a, b) that propagates NaN (f64::max drops it), so a NaN error fails its check.
pub fn worst(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.max(b)
    }
}

/// An independent sub-seed: the SplitMix64 finaliser ([`mix64`]) of `seed` mixed with the
/// stream index.
pub fn sub_seed(seed: u64, stream: u64) -> u64 {
    mix64(
        seed ^ stream
            .wrapping_mul(GOLDEN)
            .wrapping_add(0x632B_E59B_D9B4_E019),
    )
}

/// The Euclidean norm of weights given per linear map (the Frobenius norm on H).
pub fn layers_norm(a: &[Vec<f64>]) -> f64 {
    a.iter().flatten().map(|v| v * v).sum::<f64>().sqrt()
}

/// ‖a − b‖ for weights given per linear map (same layout).
pub fn layers_dist(a: &[Vec<f64>], b: &[Vec<f64>]) -> f64 {
    assert_eq!(a.len(), b.len(), "layers_dist: different numbers of maps");
    a.iter()
        .zip(b)
        .flat_map(|(x, y)| {
            assert_eq!(x.len(), y.len(), "layers_dist: different map sizes");
            x.iter().zip(y).map(|(u, v)| (u - v) * (u - v))
        })
        .sum::<f64>()
        .sqrt()
}
