//! Networks under a group: a representation on every space X_0..X_L, and the lifted action
//! ρ(g)A = (ρ_{i+1}(g) A_i ρ_i(g)⁻¹)_i on the layers (↔ [`GroupNetwork::lift`]).
//!
//! On ambient weights the action is computed with index maps and `Rep::apply`, never with
//! dense operator matrices: a convolution between spatial grid actions rotates (or flips)
//! each k×k filter about its centre; a dense layer gets ρ_out(g) A ρ_in(g)ᵀ (a column
//! permutation when the output is invariant). Attention layers act on tokens: their feature
//! spaces carry the trivial representation, so W_q, W_k, W_v are fixed by ρ(g).

use super::layer::{LayerSpec, Lift, Unit};
use super::network::Network;
use super::Parametrisation;
use crate::group::Group;
use crate::rep::{GridGroup, Rep};
use crate::{Error, Result, Scalar};
use faer::Mat;
use std::sync::Arc;

/// How the group acts on one linear map's parametrised unit (one k×k filter, or one
/// [out, in] matrix): the unit's ambient space is where [`Parametrisation`]s live.
///
/// [`Parametrisation`]: super::Parametrisation
#[derive(Clone, Debug)]
enum MapAction {
    /// A convolution between spatial actions: ρ(g) permutes the taps of every filter.
    Filter(Rep),
    /// A dense map between X_in and X_out: A ↦ ρ_out(g) A ρ_in(g)ᵀ.
    Dense { input: Rep, output: Rep },
    /// Attention weights on trivial feature spaces: fixed by every g.
    Fixed(usize),
}

/// A [`Network`] whose every space carries a representation of one finite group G.
///
/// `spaces[i]` acts on the per-sample input of layer i (flattened, row-major) and
/// `spaces[L]` on the output: ρ_X = `spaces[0]`, ρ_Y = `spaces[L]`.
#[derive(Clone, Debug)]
pub struct GroupNetwork {
    net: Network,
    spaces: Vec<Rep>,
    maps: Vec<MapAction>,
}

impl GroupNetwork {
    /// A network with explicit representations on its L + 1 spaces. Convolutions need
    /// [`GroupNetwork::on_images`] (their filter action comes from the grid group).
    pub fn new(net: Network, spaces: Vec<Rep>) -> Result<GroupNetwork> {
        Self::build(net, spaces, None)
    }

    /// An image network under exact rotations/flips of the pixel grid: every C×H×W space
    /// carries the grid action on each channel, `Flatten` keeps its input's action, and a
    /// dense layer's output carries the trivial representation (invariant logits), as in
    /// the paper's classifier.
    pub fn on_images(net: Network, kind: GridGroup) -> Result<GroupNetwork> {
        let mut spaces: Vec<Rep> = Vec::with_capacity(net.layers().len() + 1);
        let first = image_rep(kind, net.input_shape())?;
        let group = first.group().clone();
        spaces.push(first);
        for layer in net.layers() {
            let prev = spaces.last().expect("non-empty");
            // Images carry the grid action, flattening keeps it, a dense layer's output is
            // invariant, and a shape-preserving layer keeps its input's action.
            let next = match &layer.spec {
                LayerSpec::Flatten => prev.clone(),
                _ if layer.out_shape.len() == 3 => image_rep(kind, &layer.out_shape)?,
                LayerSpec::Dense { .. } => {
                    Rep::trivial(group.clone(), layer.out_shape.iter().product())
                }
                LayerSpec::Conv2d { .. }
                | LayerSpec::AvgPool2d(_)
                | LayerSpec::Tanh
                | LayerSpec::Relu
                | LayerSpec::LayerNorm
                | LayerSpec::Attention { .. }
                | LayerSpec::AddConstant(_) => {
                    if layer.out_shape != layer.in_shape {
                        return Err(Error::Invalid(format!(
                            "on_images: cannot infer the action on the output of a {} layer of \
                             shape {:?}",
                            layer.spec.kind(),
                            layer.out_shape
                        )));
                    }
                    prev.clone()
                }
            };
            spaces.push(next);
        }
        Self::build(net, spaces, Some(kind))
    }

    fn build(net: Network, spaces: Vec<Rep>, grid: Option<GridGroup>) -> Result<GroupNetwork> {
        let layers = net.layers();
        if spaces.len() != layers.len() + 1 {
            return Err(Error::Shape(format!(
                "{} representations for a network with {} layers (need one per space, {})",
                spaces.len(),
                layers.len(),
                layers.len() + 1
            )));
        }
        let group = spaces[0].group().clone();
        for (i, rep) in spaces.iter().enumerate() {
            if **rep.group() != *group {
                return Err(Error::Invalid(format!(
                    "space {i} carries a representation of {}, space 0 one of {}",
                    rep.group().name(),
                    group.name()
                )));
            }
            let dim: usize = if i == 0 {
                net.input_shape().iter().product()
            } else {
                layers[i - 1].out_shape.iter().product()
            };
            if rep.dim() != dim {
                return Err(Error::Shape(format!(
                    "space {i} has dimension {dim} but its representation has dimension {}",
                    rep.dim()
                )));
            }
        }
        let mut maps = Vec::new();
        for (i, layer) in layers.iter().enumerate() {
            for m in layer.linear_maps() {
                maps.push(match (m.lift, m.unit) {
                    (Lift::GridFilter, Unit::Filter { k }) => {
                        let kind = grid.ok_or_else(|| {
                            Error::Invalid(format!(
                                "layer {i} is a convolution: build the network with \
                                 GroupNetwork::on_images"
                            ))
                        })?;
                        MapAction::Filter(Rep::grid(kind, k, k)?)
                    }
                    (Lift::Sandwich, _) => MapAction::Dense {
                        input: spaces[i].clone(),
                        output: spaces[i + 1].clone(),
                    },
                    (Lift::Fixed, unit) => MapAction::Fixed(unit.dim()),
                    (Lift::GridFilter, unit) => {
                        return Err(Error::Invalid(format!(
                            "layer {i}: a grid filter action on a {}",
                            unit.describe()
                        )))
                    }
                });
            }
        }
        Ok(GroupNetwork { net, spaces, maps })
    }

    /// The network.
    pub fn network(&self) -> &Network {
        &self.net
    }

    /// The group G.
    pub fn group(&self) -> &Arc<Group> {
        self.spaces[0].group()
    }

    /// The representations ρ_0..ρ_L on the spaces X_0..X_L.
    pub fn spaces(&self) -> &[Rep] {
        &self.spaces
    }

    /// ρ_X, on the network's input.
    pub fn input_rep(&self) -> &Rep {
        &self.spaces[0]
    }

    /// ρ_Y, on the network's output.
    pub fn output_rep(&self) -> &Rep {
        self.spaces.last().expect("non-empty")
    }

    /// Number of linear maps (entries of [`Network::ambient_weights`]).
    pub fn num_maps(&self) -> usize {
        self.maps.len()
    }

    /// The parametrisations of the linear maps, in the order of [`Network::ambient_weights`].
    pub fn map_params(&self) -> Vec<&Parametrisation> {
        self.net
            .layers()
            .iter()
            .flat_map(|l| l.linear_blocks().into_iter().map(|(p, _)| p))
            .collect()
    }

    /// ρ(g)A ↔ `lift`: the lifted action on ambient weights laid out as in
    /// [`Network::ambient_weights`]. Defined for every A ∈ H, not only A ∈ 𝓛.
    ///
    /// # Panics
    /// If `a` does not have the layout of [`Network::ambient_weights`].
    pub fn lift(&self, g: usize, a: &[Vec<f64>]) -> Vec<Vec<f64>> {
        assert_eq!(
            a.len(),
            self.maps.len(),
            "lift: one weight array per linear map"
        );
        self.maps
            .iter()
            .zip(a)
            .map(|(m, ai)| {
                let unit = unit_dim(m);
                let mut out = vec![0.0; ai.len()];
                for (src, dst) in ai.chunks(unit).zip(out.chunks_mut(unit)) {
                    act_on_unit(m, g, src, dst);
                }
                out
            })
            .collect()
    }

    /// The coefficients of ρ(g)A_θ: errors when ρ(g)A_θ ∉ 𝓛 (a non-invariant architecture
    /// moves A_θ out of it).
    ///
    /// ```
    /// use eqens::autodiff::Tape;
    /// use eqens::nn::{analysis::support_network, GroupNetwork, Support};
    /// use eqens::rep::GridGroup;
    ///
    /// // S1: Φ_{ρ(g)A}(ρ_X(g)x) = ρ_Y(g)Φ_A(x); classification logits carry the trivial ρ_Y.
    /// let gnet = GroupNetwork::on_images(support_network(&Support::plus(), 5, 2)?, GridGroup::C4)?;
    /// let net = gnet.network();
    /// let theta: Vec<f64> = (0..net.num_params()).map(|k| (k as f64 * 0.37).sin()).collect();
    /// let x: Vec<f64> = (0..25).map(|k| (k as f64 * 0.91).cos()).collect();
    /// let mut gx = vec![0.0; 25];
    /// gnet.act_on_inputs(1, &x, &mut gx);
    /// let lifted = gnet.lift_theta(1, &theta)?;
    /// let mut tape = Tape::new();
    /// let y = net.predict(&mut tape, &theta, &x, 1)?;
    /// let y_lifted = net.predict(&mut tape, &lifted, &gx, 1)?;
    /// assert!(y.iter().zip(&y_lifted).all(|(a, b)| (a - b).abs() < 1e-12));
    /// // The plus-corner architecture is not invariant: ρ(r)A leaves 𝓛.
    /// let asym =
    ///     GroupNetwork::on_images(support_network(&Support::plus_corner(), 5, 2)?, GridGroup::C4)?;
    /// let theta = vec![1.0; asym.network().num_params()];
    /// assert!(asym.lift_theta(1, &theta).is_err());
    /// # Ok::<(), eqens::Error>(())
    /// ```
    pub fn lift_theta(&self, g: usize, theta: &[f64]) -> Result<Vec<f64>> {
        self.check_theta(theta)?;
        let a = self.net.ambient_weights(theta);
        self.net.theta_from_ambient(&self.lift(g, &a))
    }

    /// The dense matrix of ρ(g) on the parametrised unit of linear map `map` (a k²×k² tap
    /// permutation for a convolution, an (out·in)² matrix for a dense layer), for the
    /// analysis and for checking `lift` against the definition.
    pub fn unit_action(&self, map: usize, g: usize) -> Mat<f64> {
        let m = &self.maps[map];
        let d = unit_dim(m);
        let mut mat = Mat::zeros(d, d);
        let mut e = vec![0.0; d];
        let mut col = vec![0.0; d];
        for j in 0..d {
            e[j] = 1.0;
            act_on_unit(m, g, &e, &mut col);
            for (i, &v) in col.iter().enumerate() {
                mat[(i, j)] = v;
            }
            e[j] = 0.0;
        }
        mat
    }

    /// The dimension of the parametrised unit of linear map `map` (k² for a convolution,
    /// out·in for a dense layer).
    pub fn unit_dim(&self, map: usize) -> usize {
        unit_dim(&self.maps[map])
    }

    /// ρ(g)a on one parametrised unit of linear map `map` (one filter or one matrix), without
    /// forming the dense [`GroupNetwork::unit_action`].
    ///
    /// # Panics
    /// If `a.len()` is not [`GroupNetwork::unit_dim`].
    pub fn lift_unit(&self, map: usize, g: usize, a: &[f64]) -> Vec<f64> {
        let m = &self.maps[map];
        assert_eq!(a.len(), unit_dim(m), "lift_unit: wrong unit length");
        let mut out = vec![0.0; a.len()];
        act_on_unit(m, g, a, &mut out);
        out
    }

    /// The index map of ρ(g) on the unit of linear map `map` when ρ(g) permutes the unit's
    /// entries, `(ρ(g)a)[j] = a[src[j]]` (filters; dense maps between permutation
    /// representations; attention weights), and `None` when it mixes them (a matrix
    /// representation on either side of a dense map).
    pub fn unit_permutation(&self, map: usize, g: usize) -> Option<Vec<usize>> {
        match &self.maps[map] {
            MapAction::Filter(rep) => rep.permutation(g).map(<[usize]>::to_vec),
            MapAction::Dense { input, output } => {
                // (ρ(g)A)[o, j] = A[src_out[o], src_in[j]] (see `act_on_unit`).
                let (src_in, src_out) = (input.permutation(g)?, output.permutation(g)?);
                let n_in = input.dim();
                Some(
                    src_out
                        .iter()
                        .flat_map(|&o| src_in.iter().map(move |&j| o * n_in + j))
                        .collect(),
                )
            }
            MapAction::Fixed(d) => Some((0..*d).collect()),
        }
    }

    /// ρ_X(g) applied to each of the `n` samples of `x` (row-major [n, input_dim]).
    pub fn act_on_inputs<T: Scalar>(&self, g: usize, x: &[T], out: &mut [T]) {
        act_rows(&self.spaces[0], g, x, out);
    }

    /// ρ_Y(g) applied to each of the rows of `y` (row-major [n, output_dim]).
    pub fn act_on_outputs<T: Scalar>(&self, g: usize, y: &[T], out: &mut [T]) {
        act_rows(self.output_rep(), g, y, out);
    }

    fn check_theta(&self, theta: &[f64]) -> Result<()> {
        if theta.len() != self.net.num_params() {
            return Err(Error::Shape(format!(
                "θ has length {} but the network has {} coefficients",
                theta.len(),
                self.net.num_params()
            )));
        }
        Ok(())
    }
}

/// The grid action on a C×H×W space.
fn image_rep(kind: GridGroup, shape: &[usize]) -> Result<Rep> {
    match shape {
        [c, h, w] => Ok(Rep::grid(kind, *h, *w)?.feature_map(*c)),
        _ => Err(Error::Shape(format!(
            "on_images: expected a C×H×W input, got shape {shape:?}"
        ))),
    }
}

fn unit_dim(m: &MapAction) -> usize {
    match m {
        MapAction::Filter(rep) => rep.dim(),
        MapAction::Dense { input, output } => input.dim() * output.dim(),
        MapAction::Fixed(d) => *d,
    }
}

/// dst = ρ(g)·src on one parametrised unit.
fn act_on_unit(m: &MapAction, g: usize, src: &[f64], dst: &mut [f64]) {
    match m {
        MapAction::Filter(rep) => rep.apply(g, src, dst),
        MapAction::Dense { input, output } => {
            // (A ρ_in(g)ᵀ) has rows ρ_in(g)·a_o; then ρ_out(g) acts on every column.
            let (n_in, n_out) = (input.dim(), output.dim());
            let mut tmp = vec![0.0; n_in * n_out];
            for (row, out_row) in src.chunks(n_in).zip(tmp.chunks_mut(n_in)) {
                input.apply(g, row, out_row);
            }
            let mut col = vec![0.0; n_out];
            let mut col_out = vec![0.0; n_out];
            for j in 0..n_in {
                for (o, c) in col.iter_mut().enumerate() {
                    *c = tmp[o * n_in + j];
                }
                output.apply(g, &col, &mut col_out);
                for (o, &v) in col_out.iter().enumerate() {
                    dst[o * n_in + j] = v;
                }
            }
        }
        MapAction::Fixed(_) => dst.copy_from_slice(src),
    }
}

/// out = ρ(g) applied to every row of `x` (row-major [n, ρ.dim()]).
pub(crate) fn act_rows<T: Scalar>(rep: &Rep, g: usize, x: &[T], out: &mut [T]) {
    let d = rep.dim();
    assert_eq!(x.len(), out.len(), "act: input and output lengths differ");
    assert_eq!(
        x.len() % d.max(1),
        0,
        "act: length is not a multiple of the space's dimension"
    );
    for (src, dst) in x.chunks(d).zip(out.chunks_mut(d)) {
        rep.apply(g, src, dst);
    }
}
