//! Analysis of an architecture under a group: the invariant core 𝓛_0 = ∩_g ρ(g)𝓛 and the
//! hypotheses H4 (invariance), NOF compatibility, H5 (orthonormal parametrisation) and H2
//! (equivariant non-linearities), gathered in a [`CompatibilityReport`] (↔ `eqens analyze`).
//!
//! Every linear map is analysed on its parametrised *unit*: one k×k filter for a convolution
//! (the support and the action both factor over channel pairs, so the layer's dimensions are
//! `units` = C_out·C_in times the per-filter ones) or one whole matrix for a dense layer.
//!
//! Two methods compute the same quantities ([`Method`]):
//! - **orbits** (exact, any size): when the basis is one-hot on a set S of ambient indices and
//!   ρ(g) permutes the unit's entries, T𝓛 = span{e_i : i ∈ S} and everything is counting:
//!   dim H_G = #orbits, dim E = #orbits inside S, 𝓛_0 = span of the indices whose orbit lies in
//!   S, ‖[Π_𝓛, ρ(g)]‖_op ∈ {0, 1} (the commutator is a signed partial permutation), and on an
//!   orbit O of size m meeting S in s points Π_G is J/m, so [Π_𝓛, Π_G] restricted to O is
//!   (d1ᵀ − 1dᵀ)/m with d the indicator of S: a rank-2 antisymmetric matrix of norm
//!   √(s(m − s))/m (√3/4 for one corner of a C4 corner orbit);
//! - **dense** (definitional, unit dimension ≤ [`DENSE_MAX`]): the D×D matrices ρ(g) =
//!   [`GroupNetwork::unit_action`], Π_G = (1/|G|)Σ_g ρ(g), Π_𝓛 = QQᵀ from an SVD basis Q of
//!   T𝓛, ranks, span intersections and operator norms from [`crate::linalg`].

use super::layer::{LayerSpec, Unit};
use super::lift::GroupNetwork;
use super::network::Network;
use super::param::Basis;
use super::{Parametrisation, Support};
use crate::linalg;
use crate::rep::{GridGroup, Rep};
use crate::{Error, Result};
use faer::Mat;
use serde::Serialize;

mod layers;
mod render;

pub use layers::{layer_checks, random_ambient_weights, random_inputs, LayerCheck};
pub use render::{format_number, render_table};

/// Singular values below this count as zero when spans are intersected: the bases involved
/// are exact (entries 0, ±1, or unit vectors built in f64), so genuine directions have
/// singular values O(1) and round-off stays near 1e-15.
pub const SPAN_TOL: f64 = 1e-9;

/// Threshold of the verdicts: a defect, commutator norm or layer error ≤ `VERDICT_TOL` counts
/// as zero.
///
/// The orbit method is exact (its values are 0, 1 or √(s(m − s))/m). The dense method forms
/// products of orthogonal matrices and projectors of size D ≤ [`DENSE_MAX`] = 512 with O(1)
/// entries, whose round-off is ≤ D·ε ≈ 1.1e-13; the layer checks compare O(1) outputs of
/// sums of ≤ 10⁴ terms, ≈ 1e-13. Genuine failures are O(0.1..1) (a tap moved out of the
/// support has defect 1, pooling on an odd grid or a wrong padding changes outputs by O(1)),
/// so 1e-10 separates the two by more than two orders on each side. A defect that is
/// genuinely below 1e-10 cannot be told from round-off in f64 anyway.
pub const VERDICT_TOL: f64 = 1e-10;

/// Largest unit dimension D the dense method accepts (its D×D SVDs cost O(D³)).
pub const DENSE_MAX: usize = 512;

/// Orthonormality tolerance of H5: max |BᵀB − I| ≤ 1e-10. Gram–Schmidt bases are orthonormal
/// to ≈ D·ε ≈ 1e-13; a random normalised basis (the H5 control) is off by O(0.1).
pub const H5_TOL: f64 = 1e-10;

/// Seed of the random inputs and weights of the layer checks of [`analyze`] (fixed, so the
/// report is deterministic).
pub const ANALYZE_SEED: u64 = 0x00a7_a1e5;

/// The basis columns {B_k} of a parametrisation as a D×d matrix.
pub fn basis_matrix(p: &Parametrisation) -> Mat<f64> {
    let cols = p.basis_matrix();
    Mat::from_fn(p.ambient_dim(), cols.len(), |i, j| cols[j][i])
}

/// Orthonormal columns spanning the direction T𝓛 of one linear map's unit.
pub fn direction_basis(p: &Parametrisation) -> Mat<f64> {
    linalg::orthonormal_basis(&basis_matrix(p), SPAN_TOL)
}

/// Orthonormal columns spanning the direction of the invariant core 𝓛_0 = ∩_g ρ(g)𝓛 of
/// linear map `map` (in its unit's ambient space): {v ∈ T𝓛 : ρ(g)v ∈ T𝓛 for all g}.
pub fn invariant_core(gnet: &GroupNetwork, map: usize) -> Mat<f64> {
    let t = direction_basis(gnet.map_params()[map]);
    let mut core = t.clone();
    for g in 1..gnet.group().order() {
        if core.ncols() == 0 {
            break;
        }
        let moved = gnet.unit_action(map, g) * &t;
        core = linalg::intersection_basis(&core, &moved, SPAN_TOL);
    }
    core
}

/// The classification of one linear map's architecture 𝓛 under G.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// H4: ρ(g)𝓛 ⊆ 𝓛 for every g (direction and offset).
    Invariant,
    /// NOF compatibility [Π_𝓛, Π_G] = 0 holds but H4 fails (e.g. S5(v), or an invariant
    /// direction with a non-invariant offset).
    CompatibleNotInvariant,
    /// [Π_𝓛, Π_G] ≠ 0.
    Incompatible,
}

impl Verdict {
    /// "invariant", "compatible, not invariant" or "incompatible".
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Invariant => "invariant",
            Verdict::CompatibleNotInvariant => "compatible, not invariant",
            Verdict::Incompatible => "incompatible",
        }
    }
}

/// How a map was analysed (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// Exact counting on orbits: one-hot basis and a permutation action.
    Orbits,
    /// Dense D×D matrices and SVDs (D ≤ [`DENSE_MAX`]).
    Dense,
}

/// Dimensions of one unit (a filter or a matrix), or of a whole layer (units × per-unit).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Dims {
    /// dim H, the ambient space.
    pub ambient: usize,
    /// dim T𝓛, the direction of 𝓛.
    pub direction: usize,
    /// dim H_G = rank Π_G, the equivariant (fixed) maps.
    pub invariants: usize,
    /// dim E = dim(T𝓛 ∩ H_G) (the direction of E = 𝓛 ∩ H_G).
    pub equivariant: usize,
    /// dim 𝓛_0 = dim ∩_g ρ(g)T𝓛, the largest invariant architecture inside 𝓛.
    pub core: usize,
    /// dim span_g ρ(g)T𝓛, the smallest invariant architecture containing 𝓛.
    pub closure: usize,
}

impl Dims {
    fn times(self, n: usize) -> Dims {
        Dims {
            ambient: self.ambient * n,
            direction: self.direction * n,
            invariants: self.invariants * n,
            equivariant: self.equivariant * n,
            core: self.core * n,
            closure: self.closure * n,
        }
    }
}

/// The analysis of one linear map of the network.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MapReport {
    /// Index among the linear maps ([`Network::ambient_weights`] order).
    pub map: usize,
    /// Index of the layer holding the map.
    pub layer: usize,
    /// Layer kind, e.g. "conv2d", "dense", "attention W_q".
    pub kind: String,
    /// The unit the dimensions refer to, e.g. "3×3 filter", "[10, 64] matrix".
    pub unit: String,
    /// Number of units in the layer (C_out·C_in for a convolution, 1 otherwise).
    pub units: usize,
    /// How the numbers were computed.
    pub method: Method,
    /// Per-unit dimensions.
    pub dims: Dims,
    /// Layer totals: `units` × per-unit dimensions.
    pub totals: Dims,
    /// H4 (direction): max_g ‖(I − Π_{T𝓛}) ρ(g) Π_{T𝓛}‖_op.
    pub invariance_defect: f64,
    /// H4 (offset, S16): max_g ‖(I − Π_{T𝓛})(ρ(g)A_𝓛 − A_𝓛)‖ (0 without offset).
    pub offset_defect: f64,
    /// NOF compatibility: ‖[Π_𝓛, Π_G]‖_op.
    pub commutator_reynolds: f64,
    /// max_g ‖[Π_𝓛, ρ(g)]‖_op.
    pub commutator_group: f64,
    /// H5: the basis is orthonormal (to [`H5_TOL`]).
    pub orthonormal: bool,
    /// Whether 𝓛 has an offset A_𝓛.
    pub affine: bool,
    /// The classification (threshold [`VERDICT_TOL`]).
    pub verdict: Verdict,
    /// Ambient indices of the unit to add to reach the smallest invariant architecture
    /// containing 𝓛 (orbit method only; empty when 𝓛 is invariant).
    pub add: Vec<usize>,
    /// Ambient indices of the unit to drop to reach 𝓛_0 (orbit method only).
    pub drop: Vec<usize>,
    /// Human-readable advice (empty when 𝓛 is invariant).
    pub advice: Vec<String>,
}

/// The compatibility/invariance analysis of a network under a group (↔ `eqens analyze`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CompatibilityReport {
    /// The group's name.
    pub group: String,
    /// |G|.
    pub group_order: usize,
    /// One entry per linear map.
    pub maps: Vec<MapReport>,
    /// One entry per layer.
    pub layers: Vec<LayerCheck>,
    /// The worst verdict over the maps.
    pub verdict: Verdict,
    /// H5 for every map.
    pub orthonormal: bool,
    /// H1/H2 for every layer.
    pub layers_equivariant: bool,
    /// One-line overall verdict.
    pub summary: String,
}

impl CompatibilityReport {
    /// Whether the theorem's architectural hypotheses hold: every map invariant (H4),
    /// orthonormal (H5), and every layer commuting with G (H2).
    pub fn hypotheses_hold(&self) -> bool {
        self.verdict == Verdict::Invariant && self.orthonormal && self.layers_equivariant
    }

    /// The report as pretty-printed JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("the report serialises")
    }
}

/// Where a linear map sits and what its unit looks like.
struct MapInfo<'a> {
    layer: usize,
    kind: String,
    unit: String,
    units: usize,
    param: &'a Parametrisation,
    shape: Unit,
}

fn map_infos(net: &Network) -> Vec<MapInfo<'_>> {
    let mut out = Vec::new();
    for (i, layer) in net.layers().iter().enumerate() {
        let maps = layer.linear_maps();
        let several = maps.len() > 1;
        for m in maps {
            out.push(MapInfo {
                layer: i,
                // "conv2d", "dense", or "attention W_q" when a layer has several maps.
                kind: if several {
                    format!("{} {}", layer.spec.kind(), m.name)
                } else {
                    layer.spec.kind().into()
                },
                unit: m.unit.describe(),
                units: m.repeat,
                param: m.param,
                shape: m.unit,
            });
        }
    }
    out
}

/// The raw numbers of one map, from either method.
struct MapNumbers {
    dims: Dims,
    invariance_defect: f64,
    commutator_reynolds: f64,
    commutator_group: f64,
    add: Vec<usize>,
    drop: Vec<usize>,
}

/// The method [`analyze`] uses for map `map`: orbits when the basis is one-hot and the unit
/// action permutes entries, dense otherwise.
pub fn default_method(gnet: &GroupNetwork, map: usize) -> Method {
    let one_hot = matches!(gnet.map_params()[map].basis(), Basis::OneHot(_));
    if one_hot && gnet.unit_permutation(map, 0).is_some() {
        Method::Orbits
    } else {
        Method::Dense
    }
}

/// Analyses linear map `map` of `gnet` with the given method; errors if the method does not
/// apply (orbits: basis not one-hot or action not a permutation; dense: unit dimension above
/// [`DENSE_MAX`]) or `map` is out of range.
pub fn analyze_map(gnet: &GroupNetwork, map: usize, method: Method) -> Result<MapReport> {
    let infos = map_infos(gnet.network());
    let info = infos.get(map).ok_or_else(|| {
        Error::Invalid(format!(
            "map {map} does not exist: the network has {} linear maps",
            infos.len()
        ))
    })?;
    let p = info.param;
    let nums = match method {
        Method::Orbits => orbit_numbers(gnet, map, p)?,
        Method::Dense => dense_numbers(gnet, map, p)?,
    };
    let offset_defect = offset_defect(gnet, map, p);
    let invariant = nums.invariance_defect <= VERDICT_TOL && offset_defect <= VERDICT_TOL;
    let verdict = if invariant {
        Verdict::Invariant
    } else if nums.commutator_reynolds <= VERDICT_TOL {
        Verdict::CompatibleNotInvariant
    } else {
        Verdict::Incompatible
    };
    let mut report = MapReport {
        map,
        layer: info.layer,
        kind: info.kind.clone(),
        unit: info.unit.clone(),
        units: info.units,
        method,
        dims: nums.dims,
        totals: nums.dims.times(info.units),
        invariance_defect: nums.invariance_defect,
        offset_defect,
        commutator_reynolds: nums.commutator_reynolds,
        commutator_group: nums.commutator_group,
        orthonormal: p.is_orthonormal(H5_TOL),
        affine: p.offset().is_some(),
        verdict,
        add: nums.add,
        drop: nums.drop,
        advice: Vec::new(),
    };
    report.advice = advice(&report, info.shape);
    Ok(report)
}

/// Orbits of the unit's entries under the permutation action: `orbit[i]` is the orbit id of
/// entry i, ids in order of first appearance; also the orbit sizes.
fn orbits(perms: &[Vec<usize>]) -> (Vec<usize>, Vec<usize>) {
    let d = perms.first().map_or(0, Vec::len);
    let mut orbit = vec![usize::MAX; d];
    let mut sizes = Vec::new();
    for i in 0..d {
        if orbit[i] != usize::MAX {
            continue;
        }
        // {src[g][i] : g} = {g⁻¹·i : g} is the orbit of i.
        let id = sizes.len();
        let mut size = 0;
        for p in perms {
            let j = p[i];
            if orbit[j] == usize::MAX {
                orbit[j] = id;
                size += 1;
            }
        }
        sizes.push(size);
    }
    (orbit, sizes)
}

/// The orbits of the taps of a k×k filter under the grid group as row-major tap indices
/// r·k + c, each sorted, ordered by their first tap (from the filter action of
/// [`Rep::grid`]).
pub fn filter_orbit_indices(kind: GridGroup, k: usize) -> Result<Vec<Vec<usize>>> {
    let rep = Rep::grid(kind, k, k)?;
    let perms: Vec<Vec<usize>> = (0..rep.group().order())
        .map(|g| rep.permutation(g).expect("grid actions permute").to_vec())
        .collect();
    let (orbit, sizes) = orbits(&perms);
    let mut out = vec![Vec::new(); sizes.len()];
    for (i, &o) in orbit.iter().enumerate() {
        out[o].push(i);
    }
    Ok(out)
}

/// The orbits of [`filter_orbit_indices`] as (row, column) taps.
pub fn filter_orbits(kind: GridGroup, k: usize) -> Result<Vec<Vec<(usize, usize)>>> {
    Ok(filter_orbit_indices(kind, k)?
        .into_iter()
        .map(|o| o.into_iter().map(|i| (i / k, i % k)).collect())
        .collect())
}

fn orbit_numbers(gnet: &GroupNetwork, map: usize, p: &Parametrisation) -> Result<MapNumbers> {
    let Basis::OneHot(idx) = p.basis() else {
        return Err(Error::Invalid(format!(
            "map {map}: the orbit method needs a one-hot basis"
        )));
    };
    let perms: Vec<Vec<usize>> = (0..gnet.group().order())
        .map(|g| gnet.unit_permutation(map, g))
        .collect::<Option<_>>()
        .ok_or_else(|| {
            Error::Invalid(format!(
                "map {map}: the orbit method needs ρ(g) to permute the unit's entries"
            ))
        })?;
    let d = p.ambient_dim();
    let mut in_s = vec![false; d];
    idx.iter().for_each(|&i| in_s[i] = true);
    let (orbit, sizes) = orbits(&perms);
    let mut hits = vec![0usize; sizes.len()];
    for i in 0..d {
        if in_s[i] {
            hits[orbit[i]] += 1;
        }
    }
    let full = |o: usize| hits[o] == sizes[o];
    // [Π_𝓛, P_g][j, s] = (d_j − d_s)·[s = src[g][j]]: a signed partial permutation, of norm 1
    // iff some j has d_j ≠ d_{src[g][j]}. Since |gS| = |S|, that happens iff gS ≠ S, which is
    // also when (I − Π_𝓛)P_gΠ_𝓛 (columns e_{g·i}, i ∈ S, g·i ∉ S) is non-zero.
    let moves = perms
        .iter()
        .any(|src| (0..d).any(|j| in_s[j] != in_s[src[j]]));
    let defect = if moves { 1.0 } else { 0.0 };
    let commutator_reynolds = sizes
        .iter()
        .zip(&hits)
        .map(|(&m, &s)| ((s * (m - s)) as f64).sqrt() / m as f64)
        .fold(0.0, f64::max);
    let core: Vec<usize> = (0..d).filter(|&i| full(orbit[i])).collect();
    let closure: Vec<usize> = (0..d).filter(|&i| hits[orbit[i]] > 0).collect();
    Ok(MapNumbers {
        dims: Dims {
            ambient: d,
            direction: idx.len(),
            invariants: sizes.len(),
            equivariant: (0..sizes.len()).filter(|&o| full(o)).count(),
            core: core.len(),
            closure: closure.len(),
        },
        invariance_defect: defect,
        commutator_reynolds,
        commutator_group: defect,
        add: closure.iter().copied().filter(|&i| !in_s[i]).collect(),
        drop: (0..d).filter(|&i| in_s[i] && !full(orbit[i])).collect(),
    })
}

fn dense_numbers(gnet: &GroupNetwork, map: usize, p: &Parametrisation) -> Result<MapNumbers> {
    let d = p.ambient_dim();
    if d > DENSE_MAX {
        return Err(Error::Invalid(format!(
            "map {map}: the dense analysis handles units of dimension ≤ {DENSE_MAX}, this one \
             has {d} (use a one-hot basis and permutation representations for the exact \
             orbit analysis)"
        )));
    }
    let n = gnet.group().order();
    let q = direction_basis(p);
    let pi_l = &q * q.transpose();
    let eye = Mat::<f64>::identity(d, d);
    let rho: Vec<Mat<f64>> = (0..n).map(|g| gnet.unit_action(map, g)).collect();
    let mut pi_g = Mat::<f64>::zeros(d, d);
    for r in &rho {
        pi_g += r;
    }
    let pi_g = pi_g / faer::Scale(n as f64);
    let h_g = linalg::orthonormal_basis(&pi_g, SPAN_TOL);
    let outside = &eye - &pi_l;
    let mut defect: f64 = 0.0;
    let mut comm: f64 = 0.0;
    for r in &rho {
        defect = defect.max(linalg::op_norm(&(&outside * r * &pi_l)));
        comm = comm.max(linalg::op_norm(&linalg::commutator(&pi_l, r)));
    }
    // span_g ρ(g)T𝓛: the columns of every ρ(g)Q side by side.
    let blocks: Vec<Mat<f64>> = rho.iter().map(|r| r * &q).collect();
    let k = q.ncols().max(1);
    let moved = Mat::from_fn(d, n * q.ncols(), |i, c| blocks[c / k][(i, c % k)]);
    Ok(MapNumbers {
        dims: Dims {
            ambient: d,
            direction: q.ncols(),
            invariants: h_g.ncols(),
            equivariant: linalg::intersection_basis(&q, &h_g, SPAN_TOL).ncols(),
            core: invariant_core(gnet, map).ncols(),
            closure: linalg::rank(&moved, SPAN_TOL),
        },
        invariance_defect: defect,
        commutator_reynolds: linalg::op_norm(&linalg::commutator(&pi_l, &pi_g)),
        commutator_group: comm,
        add: Vec::new(),
        drop: Vec::new(),
    })
}

/// max_g ‖(I − Π_{T𝓛})(ρ(g)A_𝓛 − A_𝓛)‖ (S16), with Π_{T𝓛} from an orthonormal basis of T𝓛
/// applied as Q(Qᵀv) (never a D×D matrix); 0 without offset.
fn offset_defect(gnet: &GroupNetwork, map: usize, p: &Parametrisation) -> f64 {
    let Some(a) = p.offset() else { return 0.0 };
    let q: Vec<Vec<f64>> = match p.basis() {
        Basis::OneHot(idx) => idx
            .iter()
            .map(|&i| {
                let mut e = vec![0.0; a.len()];
                e[i] = 1.0;
                e
            })
            .collect(),
        Basis::Dense(_) => {
            let q = direction_basis(p);
            (0..q.ncols())
                .map(|k| (0..q.nrows()).map(|i| q[(i, k)]).collect())
                .collect()
        }
    };
    let mut worst: f64 = 0.0;
    for g in 0..gnet.group().order() {
        let mut v: Vec<f64> = gnet
            .lift_unit(map, g, a)
            .iter()
            .zip(a)
            .map(|(x, y)| x - y)
            .collect();
        for qk in &q {
            let c: f64 = qk.iter().zip(&v).map(|(x, y)| x * y).sum();
            v.iter_mut().zip(qk).for_each(|(x, y)| *x -= c * y);
        }
        worst = worst.max(v.iter().map(|x| x * x).sum::<f64>().sqrt());
    }
    worst
}

/// At most this many indices are listed in one advice line.
const ADVICE_LIST: usize = 8;

fn index_list(shape: Unit, idx: &[usize]) -> String {
    let mut names: Vec<String> = idx
        .iter()
        .take(ADVICE_LIST)
        .map(|&i| shape.index_name(i))
        .collect();
    if idx.len() > ADVICE_LIST {
        names.push(format!("… ({} more)", idx.len() - ADVICE_LIST));
    }
    names.join(", ")
}

fn advice(r: &MapReport, shape: Unit) -> Vec<String> {
    let mut out = Vec::new();
    let name = format!("map {} (layer {} {})", r.map, r.layer, r.kind);
    if r.invariance_defect > VERDICT_TOL {
        match r.method {
            Method::Orbits => {
                out.push(format!(
                    "{name}: smallest invariant architecture containing 𝓛 (union of orbits): add {} {}",
                    shape.noun(),
                    index_list(shape, &r.add)
                ));
                let core = if r.dims.core == 0 {
                    " (𝓛_0 = {0})"
                } else {
                    ""
                };
                out.push(format!(
                    "{name}: largest invariant architecture inside 𝓛 (𝓛_0): drop {} {}{core}",
                    shape.noun(),
                    index_list(shape, &r.drop)
                ));
            }
            Method::Dense => {
                out.push(format!(
                    "{name}: smallest invariant architecture containing 𝓛: span_g ρ(g)T𝓛 \
                     (dim {} instead of {})",
                    r.dims.closure, r.dims.direction
                ));
                out.push(format!(
                    "{name}: largest invariant architecture inside 𝓛: 𝓛_0 = ∩_g ρ(g)𝓛 \
                     (dim {})",
                    r.dims.core
                ));
            }
        }
    }
    if r.offset_defect > VERDICT_TOL {
        out.push(format!(
            "{name}: the offset A_𝓛 moves out of 𝓛 (ρ(g)A_𝓛 − A_𝓛 ∉ T𝓛): replace it by its \
             Reynolds average Π_G A_𝓛, or add the directions ρ(g)A_𝓛 − A_𝓛 to T𝓛"
        ));
    }
    if !r.orthonormal {
        out.push(format!(
            "{name}: the basis is not orthonormal (H5): orthonormalise it (Gram–Schmidt) so \
             that descent on θ follows the Frobenius metric"
        ));
    }
    out
}

/// The full analysis of a network under its group: every linear map with
/// [`default_method`], and the layer checks with [`ANALYZE_SEED`].
pub fn analyze(gnet: &GroupNetwork) -> Result<CompatibilityReport> {
    let maps = (0..gnet.num_maps())
        .map(|m| analyze_map(gnet, m, default_method(gnet, m)))
        .collect::<Result<Vec<_>>>()?;
    let layers = layer_checks(gnet, ANALYZE_SEED)?;
    let verdict = maps
        .iter()
        .map(|m| m.verdict)
        .max()
        .unwrap_or(Verdict::Invariant);
    let orthonormal = maps.iter().all(|m| m.orthonormal);
    let layers_equivariant = layers.iter().all(|l| l.equivariant);
    let failing: Vec<String> = layers
        .iter()
        .filter(|l| !l.equivariant)
        .map(|l| format!("{} ({})", l.layer, l.kind))
        .collect();
    let h2 = if failing.is_empty() {
        "every layer commutes with G (H1, H2)".to_string()
    } else {
        format!("layers {} do NOT commute with G", failing.join(", "))
    };
    let summary = format!(
        "architecture {}; parametrisation {}orthonormal (H5); {h2}; the ensemble theorem's \
         architectural hypotheses {}",
        verdict.label(),
        if orthonormal { "" } else { "NOT " },
        if verdict == Verdict::Invariant && orthonormal && layers_equivariant {
            "hold"
        } else {
            "FAIL"
        }
    );
    Ok(CompatibilityReport {
        group: gnet.group().name().to_string(),
        group_order: gnet.group().order(),
        maps,
        layers,
        verdict,
        orthonormal,
        layers_equivariant,
        summary,
    })
}

/// The network of `eqens analyze --support`: conv(1→C) on Ω → tanh → conv(C→C) on Ω →
/// flatten → dense(10), on `image_side`² one-channel images with same padding.
pub fn support_network(support: &Support, image_side: usize, channels: usize) -> Result<Network> {
    if channels == 0 {
        return Err(Error::Invalid("--channels must be at least 1".into()));
    }
    if image_side == 0 {
        return Err(Error::Invalid("--side must be at least 1".into()));
    }
    Network::new(
        &[1, image_side, image_side],
        vec![
            LayerSpec::conv(channels, support),
            LayerSpec::Tanh,
            LayerSpec::conv(channels, support),
            LayerSpec::Flatten,
            LayerSpec::dense_full(10),
        ],
    )
}

/// `eqens analyze --group … --support …`: [`analyze`] of [`support_network`] under exact
/// rotations/flips of the grid.
///
/// ```
/// use eqens::nn::analysis::{analyze_support, Verdict};
/// use eqens::nn::Support;
/// use eqens::rep::GridGroup;
///
/// // The paper's 𝓛^as (plus without centre + corner) is incompatible with C4:
/// // ‖[Π_𝓛, Π_G]‖ = √3/4 on each filter; 𝓛^sym satisfies every architectural hypothesis.
/// let asym = analyze_support(GridGroup::C4, &Support::plus_corner(), 8, 2)?;
/// assert_eq!(asym.maps[0].verdict, Verdict::Incompatible);
/// assert!((asym.maps[0].commutator_reynolds - 3f64.sqrt() / 4.0).abs() < 1e-12);
/// assert!(!asym.hypotheses_hold());
/// assert!(analyze_support(GridGroup::C4, &Support::plus(), 8, 2)?.hypotheses_hold());
/// # Ok::<(), eqens::Error>(())
/// ```
pub fn analyze_support(
    group: GridGroup,
    support: &Support,
    image_side: usize,
    channels: usize,
) -> Result<CompatibilityReport> {
    let net = support_network(support, image_side, channels)?;
    analyze(&GroupNetwork::on_images(net, group)?)
}
