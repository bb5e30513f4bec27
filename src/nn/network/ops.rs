//! The tape ops of the layer kinds (other than convolutions, see `conv`): the ambient
//! weights A = A_𝓛 + Σ θ_k B_k of a θ block on the tape, attention on a batch, and one
//! layer's forward.

use super::Layer;
use crate::autodiff::{Tape, Var};
use crate::nn::layer::{LayerSpec, LAYER_NORM_EPS};
use crate::nn::param::Parametrisation;
use crate::Scalar;
use std::ops::Range;

/// Converts f64 values to the tape's scalar.
pub(super) fn to_scalar<T: Scalar>(v: impl IntoIterator<Item = f64>) -> Vec<T> {
    v.into_iter().map(T::of).collect()
}

/// Ambient weights on the listed ambient indices, on the tape: coefficients [m, d] ↦
/// [m, |cols|] with row p = (A_𝓛 + Σ_k θ[p,k] B_k) restricted to `cols` (a matmul with the
/// restricted basis, plus the broadcast offset).
pub(super) fn expand_on_tape<T: Scalar>(
    tape: &mut Tape<T>,
    coeffs: Var,
    param: &Parametrisation,
    cols: &[usize],
) -> Var {
    let basis = param.basis_matrix();
    let b: Vec<T> = to_scalar(basis.iter().flat_map(|c| cols.iter().map(|&j| c[j])));
    let b = tape.constant(&[param.dim(), cols.len()], &b);
    let w = tape.matmul(coeffs, b, false, false);
    match param.offset() {
        Some(o) => {
            let o: Vec<T> = to_scalar(cols.iter().map(|&j| o[j]));
            let o = tape.constant(&[cols.len()], &o);
            tape.add(w, o)
        }
        None => w,
    }
}

/// A [rows, cols] weight matrix from its θ block (pushes the block's leaf).
fn matrix_on_tape<T: Scalar>(
    tape: &mut Tape<T>,
    theta: &[T],
    range: Range<usize>,
    param: &Parametrisation,
    (rows, cols): (usize, usize),
    blocks: &mut Vec<(Range<usize>, Var)>,
) -> Var {
    let block = &theta[range.clone()];
    if param.is_identity() {
        let leaf = tape.leaf(&[rows, cols], block);
        blocks.push((range, leaf));
        return leaf;
    }
    let leaf = tape.leaf(&[1, param.dim()], block);
    blocks.push((range, leaf));
    let all: Vec<usize> = (0..rows * cols).collect();
    let w = expand_on_tape(tape, leaf, param, &all);
    tape.reshape(w, &[rows, cols])
}

/// Scaled dot-product attention on a batch of `n` samples of `tokens` tokens each, with
/// q, k [n·tokens, d_k] and v [n·tokens, d_v]. One sample uses the tape's attention op;
/// several use one block-diagonal masked softmax, so samples never attend to each other
/// (masked scores are −1e30: exp underflows to exactly 0 in f32 and f64).
fn batched_attention<T: Scalar>(
    tape: &mut Tape<T>,
    (q, k, v): (Var, Var, Var),
    n: usize,
    tokens: usize,
    d_k: usize,
) -> Var {
    if n == 1 {
        return tape.attention(q, k, v);
    }
    let m = n * tokens;
    let mask: Vec<T> = (0..m * m)
        .map(|ij| {
            if (ij / m) / tokens == (ij % m) / tokens {
                T::zero()
            } else {
                T::of(-1e30)
            }
        })
        .collect();
    let mask = tape.constant(&[m, m], &mask);
    let s = tape.matmul(q, k, false, true);
    let s = tape.scale(s, T::of(1.0 / (d_k as f64).sqrt()));
    let s = tape.add(s, mask);
    let p = tape.softmax(s);
    tape.matmul(p, v, false, false)
}

/// One layer's forward on the tape; x is [N, ...in_shape], the result [N, ...out_shape].
pub(super) fn layer_forward<T: Scalar>(
    tape: &mut Tape<T>,
    layer: &Layer,
    theta: &[T],
    x: Var,
    n: usize,
    blocks: &mut Vec<(Range<usize>, Var)>,
) -> Var {
    match &layer.spec {
        LayerSpec::Conv2d { .. } => unreachable!("a convolution runs through its ConvPlan"),
        LayerSpec::Dense { out, param } => {
            let param = param.as_ref().expect("resolved at build");
            let wts = matrix_on_tape(
                tape,
                theta,
                layer.theta.clone(),
                param,
                (*out, layer.in_shape[0]),
                blocks,
            );
            tape.matmul(x, wts, false, true)
        }
        LayerSpec::AvgPool2d(k) => tape.avg_pool2d(x, *k),
        LayerSpec::Tanh => tape.tanh(x),
        LayerSpec::Relu => tape.relu(x),
        LayerSpec::LayerNorm => tape.layer_norm(x, 1, T::of(LAYER_NORM_EPS)),
        LayerSpec::Flatten => tape.reshape(x, &[n, layer.out_shape[0]]),
        LayerSpec::Attention { d_k, d_v, .. } => {
            let (tokens, dm) = (layer.in_shape[0], layer.in_shape[1]);
            let x2 = tape.reshape(x, &[n * tokens, dm]);
            let mut qkv = [x2; 3];
            for (slot, ((p, range), rows)) in qkv
                .iter_mut()
                .zip(layer.linear_blocks().into_iter().zip([*d_k, *d_k, *d_v]))
            {
                let wts = matrix_on_tape(tape, theta, range, p, (rows, dm), blocks);
                *slot = tape.matmul(x2, wts, false, true);
            }
            let y = batched_attention(tape, (qkv[0], qkv[1], qkv[2]), n, tokens, *d_k);
            tape.reshape(y, &[n, tokens, *d_v])
        }
        LayerSpec::AddConstant(c) => {
            let c: Vec<T> = to_scalar(c.iter().copied());
            let c = tape.constant(&layer.in_shape, &c);
            tape.add(x, c)
        }
    }
}
