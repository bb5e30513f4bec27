//! Kernels behind the tape's operations: plain slices in, plain slices out.
//!
//! Forward kernels *overwrite* their outputs; backward kernels *accumulate* into their output
//! gradients (so a value used twice receives both contributions). Every kernel is a plain
//! function over slices with a fixed summation order (deterministic, no threads), so it can be
//! swapped for a faster one and benchmarked in isolation.

mod aligned;
mod conv;
mod direct;
mod elementwise;
mod gemm;
mod lanes;
mod math;
pub(crate) mod moves;
pub mod simd;

pub(crate) use gemm::nt_lanes;
#[cfg(test)]
mod tests;

use crate::{Error, Result, Scalar};
use aligned::Aligned;

/// Reusable buffers of the convolution and matrix-product kernels (grown on demand, never
/// shrunk): with them a kernel call allocates nothing once the buffers have reached the
/// sizes of its shapes. Grouped by job: data panels, tap tables, matrix-product packing.
#[derive(Clone, Debug, Default)]
pub struct Scratch<T> {
    /// Data rearranged for a convolution method (im2col panels, channel-major blocks,
    /// transposed weights, phase planes).
    panels: Panels<T>,
    /// Index tables of the convolution being run: which reads fall inside the grid.
    taps: TapTables,
    /// Tables of other geometries run before, kept for reuse ([`Scratch::tables_for`]): a
    /// network's layers alternate, and a 28×28 step runs each layer as 11 micro-batches.
    kept_taps: Vec<TapTables>,
    /// Packed operands of the matrix products.
    gemm: GemmPacking<T>,
}

/// Data panels of the convolution methods; what each buffer holds depends on the method.
#[derive(Clone, Debug, Default)]
struct Panels<T> {
    /// Convolution, im2col: the panel B or gB of a block. Dense: Xᵀ, [C_in·H·W, N].
    cols: Aligned<T>,
    /// Convolution, gathered im2col: channel-major output or output gradient of a block, [C_out, cols].
    /// Dense: the padded output or output gradient, [N, C_out·H·W padded].
    chan: Aligned<T>,
    /// Convolution, im2col: the weights in panel-row order, [C_out, K] (forward) or [K, C_out]
    /// (input gradient), then the weight gradient in weight order, [C_out, K].
    /// Dense: Mᵀ, [C_in·H·W, C_out·H·W padded].
    wt: Aligned<T>,
    /// Convolution, im2col: Gᵀ, [cols, C_out padded]. Dense: M, [C_out·H·W, C_in·H·W padded].
    gt: Aligned<T>,
    /// Convolution, im2col: the weight gradient in panel-row order, [K, C_out padded].
    /// Dense: gMᵀ, [C_in·H·W, C_out·H·W padded], or the padded input gradient.
    /// Batch lanes: the input gradient, then the input one tap reads, compacted.
    gwt: Aligned<T>,
    /// Strided convolution: the input (or its gradient) of a block split into phase planes,
    /// [samples, C_in, σ², ⌊H/σ⌋·⌊W/σ⌋]. Batch lanes: the output gradient one tap reads,
    /// compacted.
    poly: Aligned<T>,
}

/// Per-tap index tables of a convolution geometry.
#[derive(Clone, Debug, Default)]
struct TapTables {
    /// What the tables were built for (`None`: nothing yet).
    built_for: Option<TablesKey>,
    /// Per tap, which pixels of a plane read inside the grid.
    masks: Vec<bool>,
    /// Per tap, the mask repeated over the C_in planes of a sample (tap-planes layout).
    tmasks: Vec<bool>,
    /// Per tap: flat shift s = di·W + dj, and the pixel range [lo, hi) that may be valid.
    /// Strided geometries: the same on the ⌊H/σ⌋×⌊W/σ⌋ phase planes.
    shifts: Vec<(isize, usize, usize)>,
    /// Dense formulation: per tap t, the (output pixel p, input pixel q) pairs it links,
    /// `pairs[pair_starts[t]..pair_starts[t + 1]]`.
    pairs: Vec<(usize, usize)>,
    /// Start of each tap's pairs in `pairs` (|taps| + 1 entries).
    pair_starts: Vec<usize>,
    /// Batch-lane convolution: per tap t, the rows of output pixels whose read lies in the
    /// grid (first output pixel, first input pixel, length), `runs[run_starts[t]..run_starts[t + 1]]`.
    runs: Vec<(usize, usize, usize)>,
    /// Start of each tap's runs in `runs` (|taps| + 1 entries).
    run_starts: Vec<usize>,
    /// Strided convolution: per tap, the phase (a, b) = offset mod σ it reads, as a·σ + b.
    phases: Vec<usize>,
}

/// Which tables of a geometry a [`TapTables`] holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TablesKind {
    /// `masks` and `shifts`, and with `tiled` the masks repeated over the input channels.
    Masks { tiled: bool },
    /// Strided geometries: `masks`, `shifts`, `phases`, and the masks repeated over `per`
    /// samples.
    Strided { per: usize },
    /// The dense formulation's (output pixel, input pixel) pairs per tap.
    Pairs,
    /// The batch-lane product's (tap, pixel) lists per pixel, of the forward pass or of the
    /// input gradient.
    PixelLists { backward: bool },
    /// The batch-lane weight gradient's runs per tap.
    Runs,
}

/// What a [`TapTables`] depends on: its kind and the geometry without the batch size (the
/// per-block sample counts that depend on it are part of the kind).
#[derive(Clone, Debug, PartialEq, Eq)]
struct TablesKey {
    geom: ConvGeom,
    kind: TablesKind,
}

impl TapTables {
    /// Whether these are the `kind` tables of `g`: every field of the geometry but the
    /// batch size is compared (named one by one, so a new field must be added here).
    fn built_for(&self, g: &ConvGeom, kind: TablesKind) -> bool {
        self.built_for.as_ref().is_some_and(|key| {
            let ConvGeom {
                batch: _,
                c_in,
                c_out,
                h,
                w,
                k,
                taps,
                pad_top,
                pad_left,
                stride,
            } = &key.geom;
            key.kind == kind
                && (*c_in, *c_out, *h, *w, *k) == (g.c_in, g.c_out, g.h, g.w, g.k)
                && (*pad_top, *pad_left, *stride) == (g.pad_top, g.pad_left, g.stride)
                && *taps == g.taps
        })
    }
}

/// How many tap tables besides the active ones a scratch keeps. Counted for f32, a step
/// and an evaluation pass on one tape: the digits network builds 8 (pixel lists of its
/// three convolutions, those of the input gradients and the weight gradients' runs of two,
/// the first layer's strided backward), the 28×28 network 5.
const KEPT_TABLES: usize = 12;

/// Packed operands of a matrix product.
#[derive(Clone, Debug, Default)]
struct GemmPacking<T> {
    /// op(a) packed row-major, [m, k].
    packed_a: Aligned<T>,
    /// op(b) packed row-major with padded rows, [k, n padded].
    packed_b: Aligned<T>,
    /// The product with padded rows, [m, n padded].
    packed_c: Aligned<T>,
}

impl<T: Scalar> Scratch<T> {
    /// Empty buffers.
    pub fn new() -> Self {
        Self::default()
    }
}

impl<T> Scratch<T> {
    /// Makes `self.taps` the `kind` tables of `g`: as they are when they were the last
    /// built, from the kept ones when they were built before, else by `build` (on cleared
    /// tables). Tables depend on the geometry alone, so a kept one equals a rebuilt one.
    fn tables_for(
        &mut self,
        g: &ConvGeom,
        kind: TablesKind,
        build: impl FnOnce(&ConvGeom, &mut TapTables),
    ) {
        if self.taps.built_for(g, kind) {
            return;
        }
        if let Some(i) = self.kept_taps.iter().position(|t| t.built_for(g, kind)) {
            std::mem::swap(&mut self.taps, &mut self.kept_taps[i]);
            return;
        }
        // Keep the active tables; when full, reuse the buffers of the oldest kept ones.
        let mut spare = if self.kept_taps.len() >= KEPT_TABLES {
            self.kept_taps.remove(0)
        } else {
            TapTables::default()
        };
        std::mem::swap(&mut self.taps, &mut spare);
        if spare.built_for.is_some() {
            self.kept_taps.push(spare);
        }
        self.taps.built_for = None;
        build(g, &mut self.taps);
        self.taps.built_for = Some(TablesKey {
            geom: ConvGeom {
                batch: 0,
                ..g.clone()
            },
            kind,
        });
    }
}

/// Geometry of a zero-padded 2-D convolution (cross-correlation, as in PyTorch) whose k×k
/// filters are non-zero only on a list of taps, with stride σ ≥ 1.
///
/// `y[n,o,i,j] = Σ_c Σ_t w[o,c,t] · x[n,c, σi + r_t − pad_top, σj + s_t − pad_left]`, with
/// x = 0 outside the grid, for i < ⌊H/σ⌋, j < ⌊W/σ⌋: with σ = 1 the output keeps the input's
/// H×W, and with σ = p it is the σ = 1 convolution by the pooled filter followed by p×p
/// average pooling (`nn` fuses a convolution and the pooling after it this way). Symmetric
/// ("same") padding is pad_top = pad_left = (k−1)/2.
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
    /// Stride σ (1 for an ordinary convolution).
    pub stride: usize,
}

impl ConvGeom {
    /// All k² taps of a k×k filter in row-major order (the full support Ω = k×k).
    pub fn full_taps(k: usize) -> Vec<(usize, usize)> {
        (0..k).flat_map(|r| (0..k).map(move |s| (r, s))).collect()
    }

    /// Entries of kernel scratch one sample of the batch needs (an upper estimate: the
    /// batch-lane operands for small planes, the im2col panel and phase planes otherwise).
    pub fn scratch_per_sample(&self) -> usize {
        conv::scratch_per_sample(self)
    }

    /// Entries of the input x: N·C_in·H·W.
    pub fn x_len(&self) -> usize {
        self.batch * self.c_in * self.h * self.w
    }

    /// Entries of the weights w: C_out·C_in·|taps|.
    pub fn w_len(&self) -> usize {
        self.c_out * self.c_in * self.taps.len()
    }

    /// Output height ⌊H/σ⌋.
    pub fn out_h(&self) -> usize {
        self.h / self.stride.max(1)
    }

    /// Output width ⌊W/σ⌋.
    pub fn out_w(&self) -> usize {
        self.w / self.stride.max(1)
    }

    /// Entries of the output y: N·C_out·⌊H/σ⌋·⌊W/σ⌋.
    pub fn y_len(&self) -> usize {
        self.batch * self.c_out * self.out_h() * self.out_w()
    }

    /// Checks the geometry: k ≥ 1, σ ≥ 1 and every tap inside the k×k filter.
    pub fn validate(&self) -> Result<()> {
        if self.k == 0 {
            return Err(Error::Shape(
                "convolution filter side k must be at least 1".into(),
            ));
        }
        if self.stride == 0 {
            return Err(Error::Shape("convolution stride must be at least 1".into()));
        }
        if !self.h.is_multiple_of(self.stride) || !self.w.is_multiple_of(self.stride) {
            return Err(Error::Shape(format!(
                "a {}×{} grid does not split into {st}×{st} blocks (stride {st})",
                self.h,
                self.w,
                st = self.stride
            )));
        }
        if let Some(&(r, s)) = self.taps.iter().find(|&&(r, s)| r >= self.k || s >= self.k) {
            return Err(Error::Shape(format!(
                "tap ({r}, {s}) lies outside the {k}×{k} filter",
                k = self.k
            )));
        }
        Ok(())
    }

    /// Signed offset (row, column) of tap `t` into the unpadded input: (r − pad_top, s − pad_left).
    fn offset(&self, t: usize) -> (isize, isize) {
        let (r, s) = self.taps[t];
        (
            r as isize - self.pad_top as isize,
            s as isize - self.pad_left as isize,
        )
    }
}

/// Output indices i ∈ [lo, hi) of a length-`n` axis for which i + d stays in [0, n).
fn valid_range(d: isize, n: usize) -> (usize, usize) {
    let n = n as isize;
    let lo = (-d).clamp(0, n);
    let hi = (n - d).clamp(lo, n);
    (lo as usize, hi as usize)
}

/// y = conv(x, w): x is [N, C_in, H, W], w is [C_out, C_in, taps], y is [N, C_out, H, W].
///
/// Allocates its scratch buffers; [`conv2d_forward_with`] reuses caller-owned ones.
pub fn conv2d_forward<T: Scalar>(g: &ConvGeom, x: &[T], w: &[T], y: &mut [T]) {
    conv2d_forward_with(g, x, w, y, &mut Scratch::new());
}

/// [`conv2d_forward`] with reusable scratch buffers (no allocation once they have grown).
pub fn conv2d_forward_with<T: Scalar>(
    g: &ConvGeom,
    x: &[T],
    w: &[T],
    y: &mut [T],
    scratch: &mut Scratch<T>,
) {
    check_conv_lens(g, x.len(), w.len(), y.len());
    conv::forward(g, x, w, y, scratch);
}

/// gx += convᵀ(gy, w): the adjoint of [`conv2d_forward`] in x.
pub fn conv2d_backward_input<T: Scalar>(g: &ConvGeom, gy: &[T], w: &[T], gx: &mut [T]) {
    check_conv_lens(g, gx.len(), w.len(), gy.len());
    conv::backward(g, gy, &[], w, Some(gx), None, &mut Scratch::new());
}

/// gw += ∂⟨gy, conv(x, w)⟩/∂w: the adjoint of [`conv2d_forward`] in w.
pub fn conv2d_backward_weight<T: Scalar>(g: &ConvGeom, gy: &[T], x: &[T], gw: &mut [T]) {
    check_conv_lens(g, x.len(), gw.len(), gy.len());
    conv::backward(g, gy, x, &[], None, Some(gw), &mut Scratch::new());
}

/// Both adjoints at once, sharing the per-block work: gx += convᵀ(gy, w) and
/// gw += ∂⟨gy, conv(x, w)⟩/∂w, with reusable scratch buffers; either may be `None` (not
/// wanted, e.g. the gradient of a network's input).
#[allow(clippy::too_many_arguments)]
pub fn conv2d_backward_with<T: Scalar>(
    g: &ConvGeom,
    gy: &[T],
    x: &[T],
    w: &[T],
    gx: Option<&mut [T]>,
    gw: Option<&mut [T]>,
    scratch: &mut Scratch<T>,
) {
    check_conv_lens(g, x.len(), w.len(), gy.len());
    let (gx_len, gw_len) = (
        gx.as_ref().map_or(g.x_len(), |v| v.len()),
        gw.as_ref().map_or(g.w_len(), |v| v.len()),
    );
    check_conv_lens(g, gx_len, gw_len, gy.len());
    conv::backward(g, gy, x, w, gx, gw, scratch);
}

fn check_conv_lens(g: &ConvGeom, x: usize, w: usize, y: usize) {
    assert!(
        x == g.x_len() && w == g.w_len() && y == g.y_len(),
        "conv2d: buffers of lengths x {x}, w {w}, y {y} do not fit geometry {g:?}"
    );
    assert!(
        g.taps.iter().all(|&(r, s)| r < g.k && s < g.k),
        "conv2d: a tap lies outside the k×k filter in {g:?}"
    );
}

/// Σ_i a_i b_i, in index order.
fn dot<T: Scalar>(a: &[T], b: &[T]) -> T {
    let mut s = T::zero();
    for (&x, &y) in a.iter().zip(b) {
        s += x * y;
    }
    s
}

/// k×k average pooling with stride k over `planes` planes of h×w:
/// y[p, i, j] = k⁻² Σ_{a,b<k} x[p, ik + a, jk + b], y is [planes, ⌊h/k⌋, ⌊w/k⌋].
pub fn avg_pool2d_forward<T: Scalar>(
    planes: usize,
    h: usize,
    w: usize,
    k: usize,
    x: &[T],
    y: &mut [T],
) {
    let (ho, wo) = (h / k, w / k);
    assert!(
        x.len() == planes * h * w && y.len() == planes * ho * wo,
        "avg_pool2d: buffers of lengths {} and {} do not fit {planes}×{h}×{w} with k = {k}",
        x.len(),
        y.len()
    );
    if k == 2 {
        return simd::run(elementwise::Pool2Forward { planes, h, w, x, y });
    }
    let inv = T::one() / T::of((k * k) as f64);
    y.fill(T::zero());
    for p in 0..planes {
        let xp = &x[p * h * w..][..h * w];
        let yp = &mut y[p * ho * wo..][..ho * wo];
        for i in 0..ho {
            let yr = &mut yp[i * wo..][..wo];
            for a in 0..k {
                let xr = &xp[(i * k + a) * w..][..wo * k];
                for (yv, win) in yr.iter_mut().zip(xr.chunks_exact(k)) {
                    for &xv in win {
                        *yv += xv;
                    }
                }
            }
            for yv in yr.iter_mut() {
                *yv *= inv;
            }
        }
    }
}

/// gx += poolᵀ(gy): each window entry receives k⁻² times its window's output gradient;
/// dropped trailing rows and columns receive nothing.
pub fn avg_pool2d_backward<T: Scalar>(
    planes: usize,
    h: usize,
    w: usize,
    k: usize,
    gy: &[T],
    gx: &mut [T],
) {
    let (ho, wo) = (h / k, w / k);
    assert!(
        gx.len() == planes * h * w && gy.len() == planes * ho * wo,
        "avg_pool2d backward: buffers of lengths {} and {} do not fit {planes}×{h}×{w}, k = {k}",
        gx.len(),
        gy.len()
    );
    if k == 2 {
        return simd::run(elementwise::Pool2Backward {
            planes,
            h,
            w,
            gy,
            gx,
        });
    }
    let inv = T::one() / T::of((k * k) as f64);
    for p in 0..planes {
        let gxp = &mut gx[p * h * w..][..h * w];
        let gyp = &gy[p * ho * wo..][..ho * wo];
        for i in 0..ho {
            let gr = &gyp[i * wo..][..wo];
            for a in 0..k {
                let xr = &mut gxp[(i * k + a) * w..][..wo * k];
                for (&gv, win) in gr.iter().zip(xr.chunks_exact_mut(k)) {
                    let v = gv * inv;
                    for xv in win {
                        *xv += v;
                    }
                }
            }
        }
    }
}

/// Layer norm over consecutive groups of `m` entries: y = (x − μ)·s with s = 1/√(σ² + eps),
/// σ² the biased variance of the group. Writes s of each group into `rstd`. The sums over a
/// group use 8 partial sums added pairwise (a fixed order).
pub fn layer_norm_forward<T: Scalar>(x: &[T], m: usize, eps: T, y: &mut [T], rstd: &mut [T]) {
    assert!(
        m > 0 && x.len() == y.len() && x.len() == m * rstd.len(),
        "layer_norm: {} entries, groups of {m}, {} groups, output {}",
        x.len(),
        rstd.len(),
        y.len()
    );
    simd::run(elementwise::LayerNormForward { x, m, eps, y, rstd });
}

/// gx += s·(gy − mean(gy) − y·mean(gy ⊙ y)) per group: the layer-norm backward.
pub fn layer_norm_backward<T: Scalar>(gy: &[T], y: &[T], rstd: &[T], m: usize, gx: &mut [T]) {
    assert!(
        m > 0 && gy.len() == y.len() && gx.len() == y.len() && y.len() == m * rstd.len(),
        "layer_norm backward: inconsistent buffer lengths"
    );
    simd::run(elementwise::LayerNormBackward { gy, y, rstd, m, gx });
}

/// out = (Σ_i tables\[members_i\]\[span\]) / |members|: rows summed entrywise in `members`
/// order, then divided once (a bootstrap resample's mean logits over a block of inputs).
pub(crate) fn mean_rows(
    tables: &[&[f64]],
    members: &[usize],
    span: std::ops::Range<usize>,
    out: &mut [f64],
) {
    assert!(
        out.len() == span.len() && members.iter().all(|&i| tables[i].len() >= span.end),
        "mean_rows: inconsistent lengths"
    );
    simd::run(elementwise::MeanRows {
        tables,
        members,
        span,
        out,
    });
}

/// y = tanh(x) entrywise (a few ulps from the correctly rounded value; NaN stays NaN).
pub fn tanh_forward<T: Scalar>(x: &[T], y: &mut [T]) {
    assert_eq!(x.len(), y.len(), "tanh: input and output lengths differ");
    simd::run(elementwise::TanhForward { x, y });
}

/// gx += gy ⊙ (1 − y²) with y = tanh(x): the tanh backward.
pub fn tanh_backward<T: Scalar>(gy: &[T], y: &[T], gx: &mut [T]) {
    assert!(
        gy.len() == y.len() && gx.len() == y.len(),
        "tanh backward: bad lengths"
    );
    simd::run(elementwise::TanhBackward { gy, y, gx });
}

/// Row-wise softmax over rows of length `k`, shifted by the row maximum (stable).
pub fn softmax_forward<T: Scalar>(x: &[T], k: usize, y: &mut [T]) {
    assert!(
        k > 0 && x.len() == y.len() && x.len().is_multiple_of(k),
        "softmax: bad lengths"
    );
    for (xr, yr) in x.chunks_exact(k).zip(y.chunks_exact_mut(k)) {
        let max = row_max(xr);
        let mut z = T::zero();
        for (yv, &xv) in yr.iter_mut().zip(xr) {
            *yv = (xv - max).exp();
            z += *yv;
        }
        let inv = T::one() / z;
        for yv in yr.iter_mut() {
            *yv *= inv;
        }
    }
}

/// gx += y ⊙ (gy − ⟨gy, y⟩) per row: the softmax backward, y = softmax(x).
pub fn softmax_backward<T: Scalar>(gy: &[T], y: &[T], k: usize, gx: &mut [T]) {
    assert!(
        gy.len() == y.len() && gx.len() == y.len(),
        "softmax backward: bad lengths"
    );
    for ((gr, yr), xr) in gy
        .chunks_exact(k)
        .zip(y.chunks_exact(k))
        .zip(gx.chunks_exact_mut(k))
    {
        let d = dot(gr, yr);
        for ((gxv, &gv), &yv) in xr.iter_mut().zip(gr).zip(yr) {
            *gxv += yv * (gv - d);
        }
    }
}

/// Row-wise log-softmax x − max − log Σ exp(x − max) (stable).
pub fn log_softmax_forward<T: Scalar>(x: &[T], k: usize, y: &mut [T]) {
    assert!(
        k > 0 && x.len() == y.len() && x.len().is_multiple_of(k),
        "log_softmax: bad lengths"
    );
    for (xr, yr) in x.chunks_exact(k).zip(y.chunks_exact_mut(k)) {
        let lse = log_sum_exp(xr);
        for (yv, &xv) in yr.iter_mut().zip(xr) {
            *yv = xv - lse;
        }
    }
}

/// gx += gy − exp(y)·Σ gy per row: the log-softmax backward, y = log_softmax(x).
pub fn log_softmax_backward<T: Scalar>(gy: &[T], y: &[T], k: usize, gx: &mut [T]) {
    assert!(
        gy.len() == y.len() && gx.len() == y.len(),
        "log_softmax backward: bad lengths"
    );
    for ((gr, yr), xr) in gy
        .chunks_exact(k)
        .zip(y.chunks_exact(k))
        .zip(gx.chunks_exact_mut(k))
    {
        let s = gr.iter().copied().sum::<T>();
        for ((gxv, &gv), &yv) in xr.iter_mut().zip(gr).zip(yr) {
            *gxv += gv - yv.exp() * s;
        }
    }
}

/// Mean cross-entropy (1/N) Σ_r (logsumexp(x_r) − x_r\[label_r\]) of logits [N, k]; writes the
/// row softmax into `probs` (needed by the backward).
pub fn cross_entropy_forward<T: Scalar>(
    logits: &[T],
    k: usize,
    labels: &[usize],
    probs: &mut [T],
) -> T {
    assert!(
        k > 0 && logits.len() == k * labels.len() && probs.len() == logits.len(),
        "cross_entropy: {} logits, {} labels, rows of {k}",
        logits.len(),
        labels.len()
    );
    let mut total = T::zero();
    for ((xr, pr), &l) in logits
        .chunks_exact(k)
        .zip(probs.chunks_exact_mut(k))
        .zip(labels)
    {
        assert!(
            l < k,
            "cross_entropy: label {l} out of range for {k} classes"
        );
        let lse = log_sum_exp(xr);
        total += lse - xr[l];
        for (pv, &xv) in pr.iter_mut().zip(xr) {
            *pv = (xv - lse).exp();
        }
    }
    total / T::of(labels.len() as f64)
}

/// gx += (g/N)·(softmax − onehot(label)) per row: the cross-entropy backward.
pub fn cross_entropy_backward<T: Scalar>(
    g: T,
    probs: &[T],
    k: usize,
    labels: &[usize],
    gx: &mut [T],
) {
    assert!(
        probs.len() == gx.len() && probs.len() == k * labels.len(),
        "cross_entropy backward: bad lengths"
    );
    let c = g / T::of(labels.len() as f64);
    for ((pr, xr), &l) in probs
        .chunks_exact(k)
        .zip(gx.chunks_exact_mut(k))
        .zip(labels)
    {
        for (gxv, &pv) in xr.iter_mut().zip(pr) {
            *gxv += c * pv;
        }
        xr[l] -= c;
    }
}

fn row_max<T: Scalar>(r: &[T]) -> T {
    r.iter().copied().fold(T::neg_infinity(), T::max)
}

/// log Σ exp(r), shifted by the maximum.
fn log_sum_exp<T: Scalar>(r: &[T]) -> T {
    let max = row_max(r);
    let s: T = r.iter().map(|&v| (v - max).exp()).sum();
    max + s.ln()
}

/// c += op(a)·op(b) with op(a) m×k and op(b) k×n; op(a) = a stored m×k, or aᵀ with a stored
/// k×m when `trans_a`; likewise op(b) = b stored k×n, or bᵀ with b stored n×k.
///
/// For every entry of c the products are summed over the inner index in increasing order.
/// Allocates its scratch buffers; [`gemm_acc_with`] reuses caller-owned ones.
#[allow(clippy::too_many_arguments)]
pub fn gemm_acc<T: Scalar>(
    m: usize,
    k: usize,
    n: usize,
    a: &[T],
    trans_a: bool,
    b: &[T],
    trans_b: bool,
    c: &mut [T],
) {
    gemm_acc_with(m, k, n, (a, trans_a), (b, trans_b), c, &mut Scratch::new());
}

/// [`gemm_acc`] with reusable scratch buffers: op(a) and op(b) are packed row-major (rows
/// of op(b) and c padded to a multiple of 16) and multiplied by the register-tiled kernel.
pub fn gemm_acc_with<T: Scalar>(
    m: usize,
    k: usize,
    n: usize,
    (a, trans_a): (&[T], bool),
    (b, trans_b): (&[T], bool),
    c: &mut [T],
    scratch: &mut Scratch<T>,
) {
    assert!(
        a.len() == m * k && b.len() == k * n && c.len() == m * n,
        "gemm: lengths a {}, b {}, c {} do not fit {m}×{k} · {k}×{n}",
        a.len(),
        b.len(),
        c.len()
    );
    if m * n == 0 {
        return;
    }
    simd::run(gemm::PackedProduct {
        dims: (m, k, n),
        a: (a, trans_a),
        b: (b, trans_b),
        c,
        scratch,
    });
}
