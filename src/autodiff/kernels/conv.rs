//! The support-restricted convolution as register-tiled matrix products ([`super::gemm`]).
//!
//! Four formulations, chosen by the geometry (H·W pixels per plane, T taps, stride σ):
//!
//! - **batch lanes** (σ = 1, H·W ≤ 16: the small planes of the digits network). Tap by tap
//!   with the samples in the vector lanes, skipping the reads outside the grid
//!   ([`super::direct`]).
//! - **tap planes** (H·W a multiple of [`COL_UNIT`]). Samples are processed in blocks of
//!   about [`BLOCK_COLS`] pixels. For each tap t and sample n, the panel holds the whole
//!   [C_in, H·W] block of x[n] shifted by the tap's flat offset di·W + dj, with the pixels
//!   whose source falls outside their plane zeroed: one vectorised pass per (t, n). As a
//!   matrix B [(t, c), (n, p)] this is the im2col panel ([`View::tap_planes`]). Forward:
//!   Y = W · B, written straight into y ([`View::planes`]). Weight gradient: gWᵀ += B · Gᵀ
//!   (Gᵀ the output gradient gathered pixel-major). Input gradient: gB = Wᵀ · G with G
//!   read straight from gy, then each (t, n) block of gB is shifted back and added onto
//!   x[n]'s gradient.
//! - **gathered im2col** (other grids). The same with one panel row per (c, t), gathered
//!   plane by plane into blocks of about [`BLOCK_COLS`] columns (padded to [`COL_UNIT`]),
//!   and the products' outputs scattered back.
//!   A strided geometry (σ > 1, a convolution fused with the average pooling after it)
//!   takes this formulation unless its output plane is tiny: its input is first split into
//!   σ² phase planes ([`to_phases`]), on which every tap is a stride-1 shift. (With one
//!   input channel and at most 16 output pixels, its forward pass runs in batch lanes,
//!   with the same bits: [`direct::applies_forward`].)
//! - **dense** (other tiny input planes, H·W ≤ T). The convolution of one sample is the
//!   matrix M [(C_out·⌊H/σ⌋·⌊W/σ⌋), (C_in·H·W)] with M[(o,p), (c,q)] = w[o,c,t] when q is
//!   what output pixel p reads through tap t ([`prepare_pairs`]). Then Y = X · Mᵀ,
//!   gX += gY · M and gMᵀ = Xᵀ · gY with X, Y the [N, C·H·W] tensors themselves; gw[o,c,t]
//!   sums gMᵀ over the pixel pairs of tap t. For H·W ≤ T this is no more work than im2col
//!   and needs no gathering.
//!
//! The summation order of every entry is fixed by the geometry alone (see
//! [`super::gemm`]); as with any matrix formulation, a non-finite input or weight may turn
//! into NaN outputs that the exact per-tap formula would not touch (0·∞).

use super::direct;
use super::gemm::{gemm, gemm_nt_lanes, nt_lanes, pad_cols, View, COL_UNIT};
use super::lanes::transpose;
use super::simd::{self, Job, Level};
use super::{aligned::Aligned, valid_range, ConvGeom, Panels, Scratch, TablesKind, TapTables};
use crate::Scalar;

mod dense;
mod gathered;
mod panels;
mod plan;
mod tap_planes;
use dense::*;
use gathered::*;
use panels::*;
pub(crate) use plan::scratch_per_sample;
use plan::*;
use tap_planes::*;

/// Target number of output pixels (columns) per block.
const BLOCK_COLS: usize = 256;

/// The forward job: y = conv(x, w).
struct Forward<'a, T> {
    g: &'a ConvGeom,
    x: &'a [T],
    w: &'a [T],
    y: &'a mut [T],
    s: &'a mut Scratch<T>,
}

impl<T: Scalar> Job for Forward<'_, T> {
    type Output = ();
    #[inline(always)]
    fn run(self, level: Level) {
        let Forward { g, x, w, y, s } = self;
        if g.batch * g.out_h() * g.out_w() * g.c_out == 0 {
            return;
        }
        let plan = forward_plan(g);
        prepare(g, plan, s);
        match plan {
            Plan::BatchLanes => direct::forward(level, g, x, w, y, s),
            Plan::TapPlanes { per } => tap_planes_forward(level, g, per, x, w, y, s),
            Plan::Gathered { per } => gathered_forward(level, g, per, x, w, y, s),
            Plan::Dense => dense_forward(level, g, x, w, y, s),
        }
    }
}

/// The backward job: gx += convᵀ(gy, w) and gw += ∂⟨gy, conv(x, w)⟩/∂w (either optional).
struct Backward<'a, T> {
    g: &'a ConvGeom,
    gy: &'a [T],
    x: &'a [T],
    w: &'a [T],
    gx: Option<&'a mut [T]>,
    gw: Option<&'a mut [T]>,
    s: &'a mut Scratch<T>,
}

impl<T: Scalar> Job for Backward<'_, T> {
    type Output = ();
    #[inline(always)]
    fn run(self, level: Level) {
        let Backward {
            g,
            gy,
            x,
            w,
            gx,
            gw,
            s,
        } = self;
        if g.batch * g.out_h() * g.out_w() * g.c_out * g.c_in * g.taps.len() == 0 {
            return;
        }
        let plan = plan(g);
        prepare(g, plan, s);
        let grads = Grads { gy, x, w, gx, gw };
        match plan {
            Plan::BatchLanes => direct::backward(level, g, grads, s),
            Plan::TapPlanes { per } => tap_planes_backward(level, g, per, grads, s),
            Plan::Gathered { per } => gathered_backward(level, g, per, grads, s),
            Plan::Dense => dense_backward(level, g, grads, s),
        }
    }
}

/// The arguments of a backward pass.
pub(super) struct Grads<'a, T> {
    pub(super) gy: &'a [T],
    pub(super) x: &'a [T],
    pub(super) w: &'a [T],
    pub(super) gx: Option<&'a mut [T]>,
    pub(super) gw: Option<&'a mut [T]>,
}

/// y = conv(x, w) using `scratch` (see [`super::conv2d_forward`]). Never inlined, so that
/// profiles attribute its time.
#[inline(never)]
pub(crate) fn forward<T: Scalar>(g: &ConvGeom, x: &[T], w: &[T], y: &mut [T], s: &mut Scratch<T>) {
    simd::run(Forward { g, x, w, y, s })
}

/// gx += convᵀ(gy, w) and gw += the weight gradient, using `scratch`. Never inlined.
#[inline(never)]
pub(crate) fn backward<T: Scalar>(
    g: &ConvGeom,
    gy: &[T],
    x: &[T],
    w: &[T],
    gx: Option<&mut [T]>,
    gw: Option<&mut [T]>,
    s: &mut Scratch<T>,
) {
    simd::run(Backward {
        g,
        gy,
        x,
        w,
        gx,
        gw,
        s,
    })
}

/// [`forward`] and [`backward`] at a given instruction-set level (for the level tests).
#[cfg(test)]
pub(crate) mod at_level {
    use super::*;

    pub(crate) fn forward<T: Scalar>(level: Level, g: &ConvGeom, x: &[T], w: &[T], y: &mut [T]) {
        let s = &mut Scratch::new();
        simd::run_at(level, Forward { g, x, w, y, s })
    }

    /// The forward pass by the batch-lane formulation (`direct`) or by the gathered one,
    /// whatever [`direct::applies_forward`] says (the geometry must take the gathered plan).
    pub(crate) fn forward_by<T: Scalar>(
        level: Level,
        g: &ConvGeom,
        (x, w): (&[T], &[T]),
        y: &mut [T],
        direct: bool,
    ) {
        struct By<'a, T> {
            g: &'a ConvGeom,
            x: &'a [T],
            w: &'a [T],
            y: &'a mut [T],
            direct: bool,
        }
        impl<T: Scalar> Job for By<'_, T> {
            type Output = ();
            fn run(self, level: Level) {
                let (g, s) = (self.g, &mut Scratch::new());
                if self.direct {
                    return direct::forward(level, g, self.x, self.w, self.y, s);
                }
                let plan = plan(g);
                let Plan::Gathered { per } = plan else {
                    panic!("forward_by: {g:?} does not take the gathered plan")
                };
                prepare(g, plan, s);
                gathered_forward(level, g, per, self.x, self.w, self.y, s)
            }
        }
        simd::run_at(level, By { g, x, w, y, direct })
    }

    pub(crate) fn backward<T: Scalar>(
        level: Level,
        g: &ConvGeom,
        (gy, x, w): (&[T], &[T], &[T]),
        gx: &mut [T],
        gw: &mut [T],
    ) {
        let s = &mut Scratch::new();
        let (gx, gw) = (Some(gx), Some(gw));
        simd::run_at(
            level,
            Backward {
                g,
                gy,
                x,
                w,
                gx,
                gw,
                s,
            },
        )
    }
}
