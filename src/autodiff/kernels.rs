//! Kernels behind the tape's operations: plain slices in, plain slices out.
//!
//! Backward kernels *accumulate* into their output gradients.

use crate::Scalar;

/// Geometry of a stride-1, zero-padded 2-D convolution (cross-correlation, as in PyTorch)
/// whose k×k filters are non-zero only on a list of taps.
///
/// y[n,o,i,j] = Σ_c Σ_t w[o,c,t] · x[n,c, i + r_t − pad_top, j + s_t − pad_left], with
/// x = 0 outside the grid; the output keeps the input's H×W. Symmetric ("same") padding is
/// pad_top = pad_left = (k−1)/2.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConvGeom {
    /// Batch size N.
    pub batch: usize,
    /// Input channels.
    pub c_in: usize,
    /// Output channels.
    pub c_out: usize,
    /// Grid height H.
    pub h: usize,
    /// Grid width W.
    pub w: usize,
    /// Filter side k.
    pub k: usize,
    /// Taps (row r, column s) of the k×k filter that carry weights, in weight order.
    pub taps: Vec<(usize, usize)>,
    /// Zero rows added above the grid.
    pub pad_top: usize,
    /// Zero columns added left of the grid.
    pub pad_left: usize,
}

/// y = conv(x, w): x is [N, C_in, H, W], w is [C_out, C_in, taps], y is [N, C_out, H, W].
pub fn conv2d_forward<T: Scalar>(g: &ConvGeom, x: &[T], w: &[T], y: &mut [T]) {
    let _ = (g, x, w, y);
    todo!()
}
