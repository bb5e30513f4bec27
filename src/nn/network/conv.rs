//! Convolution layers on the tape: each runs by a [`ConvPlan`] decided once at build — its
//! own filter at stride 1, or fused with the p×p average pooling after it into one strided
//! convolution by the pooled filter.

use super::ops::{expand_on_tape, to_scalar};
use super::Layer;
use crate::autodiff::{ConvGeom, Tape, Var};
use crate::nn::layer::LayerSpec;
use crate::Scalar;
use std::ops::Range;

/// How a convolution layer runs in the forward pass: its geometry (batch left 0) — its own
/// filter at stride 1, or, when the p×p average pooling after it is fused into it
/// ([`fused_pool`]), the pooled filter on the (k + p − 1)² grid at stride p — and in that
/// case the matrix P [|taps|, |pooled taps|] mapping tap weights to pooled weights
/// ([`pooled_taps`]).
#[derive(Clone, Debug, PartialEq)]
pub(super) struct ConvPlan {
    /// The geometry (batch 0).
    pub(super) geom: ConvGeom,
    /// P [|taps|, |pooled taps|] when the pooling is fused.
    pub(super) pooling: Option<Vec<f64>>,
}

/// Per layer, how a convolution runs ([`ConvPlan`]); `None` for other layers.
pub(super) fn plan_convs(layers: &[Layer]) -> Vec<Option<ConvPlan>> {
    layers
        .iter()
        .zip(layers.iter().skip(1).map(Some).chain([None]))
        .map(|(layer, next)| {
            let LayerSpec::Conv2d {
                out_channels,
                kernel,
                padding,
                ..
            } = &layer.spec
            else {
                return None;
            };
            let pool = next.map_or(1, |next| fused_pool(layer, next));
            let taps = conv_taps(layer);
            let (taps, pooling) = if pool > 1 {
                let (pooled, p) = pooled_taps(&taps, pool);
                (pooled, Some(p))
            } else {
                (taps, None)
            };
            let geom = ConvGeom {
                batch: 0,
                c_in: layer.in_shape[0],
                c_out: *out_channels,
                h: layer.in_shape[1],
                w: layer.in_shape[2],
                k: kernel + pool - 1,
                taps,
                pad_top: padding.top,
                pad_left: padding.left,
                stride: pool,
            };
            Some(ConvPlan { geom, pooling })
        })
        .collect()
}

/// A convolution layer on the tape as `plan` runs it; with p×p pooling fused, the
/// convolution followed by the pooling, as one convolution of stride p by the pooled filter
/// W'[u, v] = p⁻² Σ_{t, a, b < p : (r_t + a, s_t + b) = (u, v)} w_t on the taps (u, v) of a
/// (k + p − 1)² filter (a constant matrix P on the tape maps w to W', so gradients reach θ
/// through it).
#[allow(clippy::too_many_arguments)]
pub(super) fn conv_forward<T: Scalar>(
    tape: &mut Tape<T>,
    layer: &Layer,
    plan: &ConvPlan,
    theta: &[T],
    x: Var,
    n: usize,
    blocks: &mut Vec<(Range<usize>, Var)>,
) -> Var {
    let LayerSpec::Conv2d {
        out_channels,
        param,
        ..
    } = &layer.spec
    else {
        unreachable!("conv_forward on a {:?} layer", layer.spec)
    };
    let (c_out, c_in) = (*out_channels, layer.in_shape[0]);
    let block = &theta[layer.theta.clone()];
    // The weights on the taps of `conv_taps(layer)`, in that order.
    let (weights, nt) = match param.plain_one_hot() {
        // Fast path: the coefficients are the tap weights.
        Some(idx) => {
            let leaf = tape.leaf(&[c_out, c_in, param.dim()], block);
            blocks.push((layer.theta.clone(), leaf));
            (leaf, idx.len())
        }
        // General path: W[(C_out·C_in), S] = θ[(C_out·C_in), d] · B_Sᵀ (+ offset),
        // on the taps S where the parametrisation can be non-zero.
        None => {
            let leaf = tape.leaf(&[c_out * c_in, param.dim()], block);
            blocks.push((layer.theta.clone(), leaf));
            let cols = param.support_indices();
            let wts = expand_on_tape(tape, leaf, param, &cols);
            (tape.reshape(wts, &[c_out, c_in, cols.len()]), cols.len())
        }
    };
    let weights = match &plan.pooling {
        Some(p) => {
            let np = plan.geom.taps.len();
            let p = tape.constant(&[nt, np], &to_scalar(p.iter().copied()));
            let flat = tape.reshape(weights, &[c_out * c_in, nt]);
            let wp = tape.matmul(flat, p, false, false);
            tape.reshape(wp, &[c_out, c_in, np])
        }
        None => weights,
    };
    let geom = ConvGeom {
        batch: n,
        ..plan.geom.clone()
    };
    tape.conv2d(x, weights, &geom)
}

/// The pooling side p if `layer` (a convolution) and `next` (p×p average pooling) run as
/// one strided convolution ([`conv_forward`]), else 1. That is the same map with fewer
/// multiplications (12 pooled taps per output instead of 4 × 5 for the plus support) and no
/// full-resolution activation on the tape; it is used when p divides the grid and the
/// pooled output plane has at least as many pixels as the pooled filter has taps. Below
/// that the strided convolution's work is dominated by fixed costs, measured slower than
/// the stride-1 convolution plus pooling (digits: 186 µs against 154 µs per step for the
/// 4×4 layer, while the 8×8 and the 28×28 network's layers gain).
fn fused_pool(layer: &Layer, next: &Layer) -> usize {
    let (LayerSpec::Conv2d { .. }, LayerSpec::AvgPool2d(p)) = (&layer.spec, &next.spec) else {
        return 1;
    };
    let (p, h, w) = (*p, layer.in_shape[1], layer.in_shape[2]);
    if p < 2 || h % p != 0 || w % p != 0 {
        return 1;
    }
    if (h / p) * (w / p) >= pooled_taps(&conv_taps(layer), p).0.len() {
        p
    } else {
        1
    }
}

/// The taps (row, column) of a convolution layer's filter, in the order of its weights on
/// the tape (the basis order for a plain one-hot parametrisation, else increasing).
fn conv_taps(layer: &Layer) -> Vec<(usize, usize)> {
    let LayerSpec::Conv2d { kernel, param, .. } = &layer.spec else {
        return Vec::new();
    };
    let idx = param
        .plain_one_hot()
        .map_or_else(|| param.support_indices(), <[usize]>::to_vec);
    idx.iter().map(|&i| (i / kernel, i % kernel)).collect()
}

/// The taps of a filter followed by p×p average pooling, in row-major order on the
/// (k + p − 1)² grid, and the matrix P [|taps|, |pooled|] with P[t, t'] = p⁻² when
/// t' = t shifted by some (a, b) with a, b < p (each pair (t, t') arises at most once).
fn pooled_taps(taps: &[(usize, usize)], p: usize) -> (Vec<(usize, usize)>, Vec<f64>) {
    let mut pooled: Vec<(usize, usize)> = taps
        .iter()
        .flat_map(|&(r, s)| (0..p).flat_map(move |a| (0..p).map(move |b| (r + a, s + b))))
        .collect();
    pooled.sort_unstable();
    pooled.dedup();
    let inv = 1.0 / (p * p) as f64;
    let mut m = vec![0.0; taps.len() * pooled.len()];
    for (t, &(r, s)) in taps.iter().enumerate() {
        for (a, b) in (0..p).flat_map(|a| (0..p).map(move |b| (a, b))) {
            let col = pooled.binary_search(&(r + a, s + b)).expect("listed above");
            m[t * pooled.len() + col] = inv;
        }
    }
    (pooled, m)
}
