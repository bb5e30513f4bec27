//! S13, projector algebra on one 3×3 filter, exact numbers (C4 and D4 alike: both have the
//! three tap orbits centre / edges / corners, so rank Π_G = 3):
//!
//! | 𝓛 | ‖[Π_𝓛, Π_G]‖ | max_g ‖[Π_𝓛, ρ(g)]‖ | dim E | dim 𝓛_0 | verdict |
//! |---|---|---|---|---|---|
//! | plus (+ centre) | 0 | 0 | 2 | 5 | invariant |
//! | plus-corner | √3/4 | 1 | 1 | 4 | incompatible |
//! | full | 0 | 0 | 3 | 9 | invariant |
//! | S5(v): H_G ⊕ span(a) ⊕ span(v) | 0 | – | 3 | 4 | compatible, not invariant |
//!
//! with a = +1,−1,+1,−1 on the arms (0,1),(1,0),(2,1),(1,2) (their cyclic order under r, so
//! ρ(r)a = −a; a is also fixed by the flip) and v = e_(0,0) − e_(0,2) (Π_G v = 0, ρ(r)v ∉ T𝓛).
//! For S5(v), H_G ⊕ span(a) is invariant and v is not, so 𝓛_0 has dimension 4.
//!
//! The seed varies what must not matter: the basis of T𝓛 (one-hot — the exact orbit method —
//! or a random mix of it, orthonormalised or not — the dense SVD method), the channel count
//! and the image size.

use super::roundoff::Budget;
use super::{Control, Measurement};
use crate::nn::analysis::{analyze, MapReport, Verdict};
use crate::nn::param::standard_normal;
use crate::nn::{GroupNetwork, LayerSpec, Network, Parametrisation, Support};
use crate::rep::GridGroup;
use crate::train::cases::worst;
use crate::{Error, Result};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Work W of the dense method on one 3×3 filter (the operator norms; dimensions and
/// verdicts must match exactly, an error ≥ 1 otherwise): it forms products of 9×9 matrices
/// (sums of 9 terms, ≤ 3 products per commutator) and takes SVDs of 9×9 matrices, whose
/// backward error is ≈ n²·u for n = 9. W = 81 covers both; the orbit method is exact.
pub const WORK: f64 = 81.0;

/// The tolerance of a case is the round-off budget ([`roundoff`]) SAFETY·u·W·κ with κ =
/// cond(B)², B the 9×d basis of T𝓛 of the worst architecture in the case: Π_𝓛 from a
/// non-orthonormal basis of condition c is accurate to ≈ c²·u (normal equations; an
/// orthonormalisation first gives c·u, so c² is the conservative choice). A random mix of
/// the spanning columns can have c ≈ 10..10³, which is why a fixed 1e-12 raised false alarms
/// (1.37e-12 at seed 424242).
fn budget(condition: f64) -> Budget {
    Budget {
        work: WORK,
        condition,
    }
}

/// cond(B)² of a parametrisation's basis (σ_max/σ_min of the 9×d basis matrix, squared).
fn basis_condition(param: &Parametrisation) -> f64 {
    let cols = param.basis_matrix();
    let d = cols.len();
    let mut data = vec![0.0; 9 * d];
    for (j, c) in cols.iter().enumerate() {
        for (i, v) in c.iter().enumerate() {
            data[i * d + j] = *v;
        }
    }
    let sv = crate::linalg::singular_values(&crate::linalg::from_row_major(9, d, &data));
    match (sv.first(), sv.last()) {
        (Some(&top), Some(&bottom)) if bottom > 0.0 => (top / bottom).powi(2),
        _ => f64::INFINITY,
    }
}

/// The architectures of S13.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Architecture {
    /// Plus + centre (𝓛^sym).
    Plus,
    /// Plus without centre + corner (0,0) (𝓛^as).
    PlusCorner,
    /// The full 3×3 filter (𝓛^cnn).
    Full,
    /// S5(v): H_G ⊕ span(a) ⊕ span(v).
    S5v,
}

impl Architecture {
    /// A short name.
    pub fn name(self) -> &'static str {
        match self {
            Architecture::Plus => "plus",
            Architecture::PlusCorner => "plus-corner",
            Architecture::Full => "full",
            Architecture::S5v => "S5(v) H_G⊕a⊕v",
        }
    }
}

/// The claimed numbers of one architecture (per 3×3 filter).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Claim {
    /// The architecture.
    pub architecture: Architecture,
    /// rank Π_G = dim H_G.
    pub rank_reynolds: usize,
    /// ‖[Π_𝓛, Π_G]‖_op.
    pub commutator_reynolds: f64,
    /// max_g ‖[Π_𝓛, ρ(g)]‖_op, when claimed.
    pub commutator_group: Option<f64>,
    /// dim E.
    pub dim_equivariant: usize,
    /// dim 𝓛_0.
    pub dim_core: usize,
    /// The classification.
    pub verdict: Verdict,
}

/// The table of S13 (the same for C4 and D4).
pub fn claims() -> Vec<Claim> {
    let claim = |architecture,
                 commutator_reynolds,
                 commutator_group,
                 dim_equivariant,
                 dim_core,
                 verdict| Claim {
        architecture,
        rank_reynolds: 3,
        commutator_reynolds,
        commutator_group,
        dim_equivariant,
        dim_core,
        verdict,
    };
    vec![
        claim(Architecture::Plus, 0.0, Some(0.0), 2, 5, Verdict::Invariant),
        claim(
            Architecture::PlusCorner,
            3f64.sqrt() / 4.0,
            Some(1.0),
            1,
            4,
            Verdict::Incompatible,
        ),
        claim(Architecture::Full, 0.0, Some(0.0), 3, 9, Verdict::Invariant),
        claim(
            Architecture::S5v,
            0.0,
            None,
            3,
            4,
            Verdict::CompatibleNotInvariant,
        ),
    ]
}

/// e_(r,c) on a 3×3 filter.
fn tap(r: usize, c: usize) -> Vec<f64> {
    let mut e = vec![0.0; 9];
    e[r * 3 + c] = 1.0;
    e
}

/// The arms in their cyclic order under the 90° rotation.
const ARMS: [(usize, usize); 4] = [(0, 1), (1, 0), (2, 1), (1, 2)];
const CORNERS: [(usize, usize); 4] = [(0, 0), (0, 2), (2, 0), (2, 2)];

/// a = +1, −1, +1, −1 on the arms (0,1), (1,0), (2,1), (1,2) (their cyclic order under r).
pub fn alternating_arms() -> Vec<f64> {
    let mut a = vec![0.0; 9];
    for (i, &(r, c)) in ARMS.iter().enumerate() {
        a[r * 3 + c] = if i % 2 == 0 { 1.0 } else { -1.0 };
    }
    a
}

/// Spanning columns of T𝓛 (one-hot for supports; H_G's orbit sums, a, v for S5(v)).
fn spanning_columns(arch: Architecture) -> Vec<Vec<f64>> {
    let support = match arch {
        Architecture::Plus => Support::plus(),
        Architecture::PlusCorner => Support::plus_corner(),
        Architecture::Full => Support::full(3),
        Architecture::S5v => {
            let sum = |taps: &[(usize, usize)]| -> Vec<f64> {
                let mut s = vec![0.0; 9];
                for &(r, c) in taps {
                    s[r * 3 + c] = 1.0;
                }
                s
            };
            let v: Vec<f64> = tap(0, 0)
                .iter()
                .zip(tap(0, 2))
                .map(|(x, y)| x - y)
                .collect();
            return vec![tap(1, 1), sum(&ARMS), sum(&CORNERS), alternating_arms(), v];
        }
    };
    support.taps().into_iter().map(|(r, c)| tap(r, c)).collect()
}

/// The parametrisation of an architecture with the basis variant `variant % 3`: 0 one-hot
/// (supports only; S5(v) is orthonormalised), 1 a random mix of the spanning columns (not
/// orthonormal), 2 the same mix orthonormalised. The direction T𝓛 is the same for all.
pub fn parametrisation(arch: Architecture, variant: u64, seed: u64) -> Result<Parametrisation> {
    let cols = spanning_columns(arch);
    if variant.is_multiple_of(3) {
        return match arch {
            Architecture::S5v => Parametrisation::orthonormalised(9, cols),
            _ => {
                let idx = cols
                    .iter()
                    .map(|c| c.iter().position(|&x| x == 1.0).expect("one-hot column"))
                    .collect();
                Parametrisation::one_hot(9, idx)
            }
        };
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let d = cols.len();
    // A Gaussian d×d mix is invertible with probability 1; from_columns rejects the
    // (probability-zero) singular draw with an error instead of a wrong answer.
    let mixed: Vec<Vec<f64>> = (0..d)
        .map(|_| {
            let w: Vec<f64> = (0..d).map(|_| standard_normal(&mut rng)).collect();
            (0..9)
                .map(|i| cols.iter().zip(&w).map(|(c, x)| c[i] * x).sum())
                .collect()
        })
        .collect();
    if variant % 3 == 1 {
        Parametrisation::from_columns(9, mixed)
    } else {
        Parametrisation::orthonormalised(9, mixed)
    }
}

/// The analysis of one architecture's first filter in a one-conv network (basis variant,
/// channels and image size from the seed), ‖ρ(r)a + a‖ for the S5(v) construction check,
/// and cond(B)² of the basis used.
pub fn measure_architecture(
    kind: GridGroup,
    arch: Architecture,
    seed: u64,
) -> Result<(MapReport, f64, f64)> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let param = parametrisation(arch, rng.random::<u64>(), rng.random::<u64>())?;
    let condition = basis_condition(&param);
    let side = rng.random_range(3..=6usize);
    let channels = rng.random_range(1..=3usize);
    let net = Network::new(
        &[1, side, side],
        vec![LayerSpec::conv_with(channels, 3, param), LayerSpec::Tanh],
    )?;
    let gnet = GroupNetwork::on_images(net, kind)?;
    let report = analyze(&gnet)?;
    let map = report
        .maps
        .into_iter()
        .next()
        .ok_or_else(|| Error::Invalid("internal: the S13 network has no linear map".into()))?;
    let a = alternating_arms();
    let ra = gnet.lift_unit(0, 1, &a);
    let eigen = ra
        .iter()
        .zip(&a)
        .map(|(x, y)| (x + y).powi(2))
        .sum::<f64>()
        .sqrt();
    Ok((map, eigen, condition))
}

/// The worst deviation of the measured numbers from `claims` under `kind`: |Δ| for norms,
/// |Δ| for dimensions, 1 for a wrong verdict, plus ‖ρ(r)a + a‖; and the largest cond(B)²
/// of the bases used.
pub fn deviation(kind: GridGroup, claims: &[Claim], seed: u64) -> Result<(f64, f64)> {
    let mut worst: f64 = 0.0;
    let mut condition: f64 = 1.0;
    for (i, c) in claims.iter().enumerate() {
        let (m, eigen, kappa) =
            measure_architecture(kind, c.architecture, seed.wrapping_add(i as u64))?;
        condition = condition.max(kappa);
        let dim = |a: usize, b: usize| (a as f64 - b as f64).abs();
        let errs = [
            dim(m.dims.invariants, c.rank_reynolds),
            (m.commutator_reynolds - c.commutator_reynolds).abs(),
            c.commutator_group
                .map_or(0.0, |x| (m.commutator_group - x).abs()),
            dim(m.dims.equivariant, c.dim_equivariant),
            dim(m.dims.core, c.dim_core),
            if m.verdict == c.verdict { 0.0 } else { 1.0 },
            eigen,
        ];
        for e in errs {
            worst = if e.is_nan() || worst.is_nan() {
                f64::NAN
            } else {
                worst.max(e)
            };
        }
    }
    Ok((worst, condition))
}

/// S13 under C4 and D4 for the seed's bases, channels and image sizes.
pub fn check(seed: u64) -> Result<Measurement> {
    let table = claims();
    let (e1, k1) = deviation(GridGroup::C4, &table, seed)?;
    let (e2, k2) = deviation(GridGroup::D4, &table, seed ^ 0x5eed)?;
    let b = budget(k1.max(k2));
    Ok(Measurement {
        statement: "S13",
        case: format!(
            "C4 and D4 on one 3×3 filter (plus, plus-corner, full, S5(v)), basis variants, \
             channels and sizes drawn per architecture ({})",
            b.describe()
        ),
        error: worst(e1, e2),
        tolerance: b.tolerance(),
        degenerate: 0,
    })
}

/// The controls of S13: corrupted tables must be rejected, and the C4 table must not fit the
/// subgroup C2 (rank Π_G = 5 there).
pub fn controls(seed: u64) -> Result<Vec<Control>> {
    let mut out = Vec::new();
    let corrupt = |f: &dyn Fn(&mut Claim)| -> Vec<Claim> {
        let mut t = claims();
        t.iter_mut()
            .filter(|c| c.architecture == Architecture::PlusCorner)
            .for_each(f);
        t
    };
    for kind in [GridGroup::C4, GridGroup::D4] {
        out.push(Control {
            statement: "S13",
            dropped: "table",
            case: format!("{}: corrupted claim dim E(plus-corner) = 2", kind.name()),
            error: deviation(kind, &corrupt(&|c| c.dim_equivariant = 2), seed)?.0,
            // Dimensions are integers: a wrong claim is off by ≥ 1.
            threshold: 0.5,
        });
        out.push(Control {
            statement: "S13",
            dropped: "table",
            case: format!(
                "{}: corrupted claim plus-corner compatible (‖[Π_𝓛, Π_G]‖ = 0)",
                kind.name()
            ),
            error: deviation(kind, &corrupt(&|c| c.commutator_reynolds = 0.0), seed)?.0,
            // The true value √3/4 ≈ 0.43 is ≥ 10⁸ × any case's tolerance away from 0.
            threshold: 0.1,
        });
    }
    out.push(Control {
        statement: "S13",
        dropped: "group",
        case: "the C4 table checked under the subgroup C2 (5 orbits on 3×3)".into(),
        error: deviation(GridGroup::C2, &claims(), seed)?.0,
        threshold: 0.5,
    });
    Ok(out)
}
