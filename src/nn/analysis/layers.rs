//! The layer checks of [`analyze`](super::analyze): every layer, linear or not, run alone
//! on random inputs, against the group (H2 for σ_i, the one-layer lifted identity for linear
//! maps); plus the random weights and inputs shared with the S1 check.

use super::VERDICT_TOL;
use crate::autodiff::{ConvGeom, Tape};
use crate::nn::layer::{LayerSpec, Padding};
use crate::nn::param::standard_normal;
use crate::nn::{GroupNetwork, Layer, Network};
use crate::rep::Rep;
use crate::Result;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

/// The numerical check of one layer's commutation with G on random inputs.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LayerCheck {
    /// Layer index.
    pub layer: usize,
    /// Layer kind.
    pub kind: String,
    /// "H2" for a parameter-free layer: max_g ‖σ(ρ_in(g)v) − ρ_out(g)σ(v)‖_∞; "H1" for a
    /// linear layer with random ambient weights A: max_g ‖L_{ρ(g)A}(ρ_in(g)v) −
    /// ρ_out(g)L_A(v)‖_∞ (the lifted identity of one layer).
    pub hypothesis: &'static str,
    /// The worst error over g and the random inputs.
    pub error: f64,
    /// `error ≤ VERDICT_TOL`.
    pub equivariant: bool,
    /// Why the layer fails, when known (e.g. asymmetric padding, odd grid).
    pub note: Option<String>,
}

/// Random ambient weights A ∈ H for every linear map of `net` (layout of
/// [`Network::ambient_weights`]): i.i.d. N(0, 1/fan_in) entries, fan_in = C_in·k² for a
/// convolution and the input width for dense and attention maps, so that outputs stay O(1).
pub fn random_ambient_weights(net: &Network, seed: u64) -> Vec<Vec<f64>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut out = Vec::new();
    for m in net.layers().iter().flat_map(|l| l.linear_maps()) {
        let scale = 1.0 / (m.fan_in as f64).sqrt();
        let len = m.repeat * m.unit.dim();
        out.push(
            (0..len)
                .map(|_| scale * standard_normal(&mut rng))
                .collect(),
        );
    }
    out
}

/// `n` i.i.d. N(0, 1) samples of dimension `dim`, row-major.
pub fn random_inputs(n: usize, dim: usize, seed: u64) -> Vec<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n * dim).map(|_| standard_normal(&mut rng)).collect()
}

/// ρ(g) applied to every row of `x`, as a new vector.
fn act_rows(rep: &Rep, g: usize, x: &[f64]) -> Vec<f64> {
    let mut out = vec![0.0; x.len()];
    crate::nn::lift::act_rows(rep, g, x, &mut out);
    out
}

/// Samples of the layer checks.
const CHECK_SAMPLES: usize = 2;

/// One layer's output on `n` samples with ambient weights `w` (all of the layer's maps
/// concatenated): convolutions run on the tape with the full k×k tap list (taps that never
/// land contribute zero), other layers as a one-layer [`Network`].
fn layer_output(net: &Network, layer: usize, w: &[f64], x: &[f64], n: usize) -> Result<Vec<f64>> {
    let l = &net.layers()[layer];
    let mut tape = Tape::<f64>::new();
    if let LayerSpec::Conv2d {
        out_channels,
        kernel,
        padding,
        ..
    } = &l.spec
    {
        let (c_in, h, wd) = (l.in_shape[0], l.in_shape[1], l.in_shape[2]);
        let k = *kernel;
        let geom = ConvGeom {
            batch: n,
            c_in,
            c_out: *out_channels,
            h,
            w: wd,
            k,
            taps: ConvGeom::full_taps(k),
            pad_top: padding.top,
            pad_left: padding.left,
            stride: 1,
        };
        let xv = tape.leaf(&[n, c_in, h, wd], x);
        let wv = tape.leaf(&[*out_channels, c_in, k * k], w);
        let y = tape.conv2d(xv, wv, &geom);
        return Ok(tape.value(y).to_vec());
    }
    let spec = l.spec.ambient();
    let single = Network::new(&l.in_shape, vec![spec])?;
    single.predict(&mut tape, w, x, n)
}

/// The layer checks of [`analyze`](super::analyze): H2 for parameter-free layers, the
/// one-layer lifted identity for linear layers, with random inputs (and weights) drawn
/// from `seed`.
pub fn layer_checks(gnet: &GroupNetwork, seed: u64) -> Result<Vec<LayerCheck>> {
    let net = gnet.network();
    let a = random_ambient_weights(net, seed);
    let order = gnet.group().order();
    let lifted: Vec<Vec<Vec<f64>>> = (0..order).map(|g| gnet.lift(g, &a)).collect();
    let mut out = Vec::with_capacity(net.layers().len());
    let mut map = 0;
    for (i, l) in net.layers().iter().enumerate() {
        let n_maps = l.linear_maps().len();
        let concat = |w: &[Vec<f64>]| -> Vec<f64> { w[map..map + n_maps].concat() };
        let dim_in: usize = l.in_shape.iter().product();
        let x = random_inputs(CHECK_SAMPLES, dim_in, seed.wrapping_add(1 + i as u64));
        let (rin, rout) = (&gnet.spaces()[i], &gnet.spaces()[i + 1]);
        let y = layer_output(net, i, &concat(&a), &x, CHECK_SAMPLES)?;
        let mut error: f64 = 0.0;
        for (g, lg) in lifted.iter().enumerate() {
            let yg = layer_output(net, i, &concat(lg), &act_rows(rin, g, &x), CHECK_SAMPLES)?;
            let want = act_rows(rout, g, &y);
            let e = yg
                .iter()
                .zip(&want)
                .map(|(u, v)| (u - v).abs())
                .fold(0.0, f64::max);
            error = if e.is_nan() || error.is_nan() {
                f64::NAN
            } else {
                error.max(e)
            };
        }
        map += n_maps;
        let equivariant = error <= VERDICT_TOL;
        out.push(LayerCheck {
            layer: i,
            kind: l.spec.kind().into(),
            hypothesis: if n_maps > 0 { "H1" } else { "H2" },
            error,
            equivariant,
            note: if equivariant { None } else { failure_note(l) },
        });
    }
    Ok(out)
}

/// A likely cause of a layer's failure to commute with G.
fn failure_note(l: &Layer) -> Option<String> {
    match &l.spec {
        LayerSpec::Conv2d {
            kernel, padding, ..
        } if *padding != Padding::same(*kernel) => Some(format!(
            "padding (top {}, left {}) is not symmetric: rotating filters matches rotating \
             inputs only with same padding {}",
            padding.top,
            padding.left,
            (kernel - 1) / 2
        )),
        LayerSpec::AvgPool2d(k)
            if !l.in_shape[1].is_multiple_of(*k) || !l.in_shape[2].is_multiple_of(*k) =>
        {
            Some(format!(
                "{k}×{k} pooling on a {}×{} grid drops trailing rows/columns, which rotation \
                 moves to the other side",
                l.in_shape[1], l.in_shape[2]
            ))
        }
        LayerSpec::AddConstant(_) => Some("the added constant is not G-invariant".into()),
        LayerSpec::Conv2d { .. }
        | LayerSpec::AvgPool2d(_)
        | LayerSpec::Dense { .. }
        | LayerSpec::Tanh
        | LayerSpec::Relu
        | LayerSpec::LayerNorm
        | LayerSpec::Flatten
        | LayerSpec::Attention { .. } => None,
    }
}
