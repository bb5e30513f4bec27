//! Choosing a formulation for a geometry ([`Plan`]) and preparing its tap tables and
//! buffers in the scratch.

use super::*;

/// Which formulation a geometry uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Plan {
    /// Tap planes, `per` samples per block.
    TapPlanes { per: usize },
    /// Gathered im2col, `per` samples per block.
    Gathered { per: usize },
    /// Dense per-sample matrix.
    Dense,
    /// Tap by tap in the batch-lane layout ([`super::direct`]).
    BatchLanes,
}

pub(super) fn plan(g: &ConvGeom) -> Plan {
    let hw = g.out_h() * g.out_w();
    let per = (BLOCK_COLS / hw.max(1)).clamp(1, g.batch.max(1));
    if direct::applies(g) {
        Plan::BatchLanes
    } else if g.h * g.w <= g.taps.len() {
        Plan::Dense
    } else if g.stride > 1 {
        Plan::Gathered { per }
    } else if hw.is_multiple_of(COL_UNIT) {
        Plan::TapPlanes { per }
    } else {
        Plan::Gathered { per }
    }
}

/// The formulation of a geometry's forward pass: [`plan`]'s, except that the strided
/// one-channel geometries of [`direct::applies_forward`] run in batch lanes (their backward
/// keeps [`plan`]'s).
pub(super) fn forward_plan(g: &ConvGeom) -> Plan {
    if direct::applies_forward(g) {
        Plan::BatchLanes
    } else {
        plan(g)
    }
}

/// Fills the scratch's geometry tables that `plan`'s kernels read (the batch-lane kernels
/// build their own).
pub(super) fn prepare<T>(g: &ConvGeom, plan: Plan, s: &mut Scratch<T>) {
    match plan {
        Plan::BatchLanes => {}
        Plan::Dense => s.tables_for(g, TablesKind::Pairs, prepare_pairs),
        Plan::Gathered { per } if g.stride > 1 => {
            s.tables_for(g, TablesKind::Strided { per }, |g, t| {
                prepare_strided(g, per, t)
            })
        }
        Plan::Gathered { .. } => s.tables_for(g, TablesKind::Masks { tiled: false }, |g, t| {
            prepare_taps(g, t, false)
        }),
        Plan::TapPlanes { .. } => s.tables_for(g, TablesKind::Masks { tiled: true }, |g, t| {
            prepare_taps(g, t, true)
        }),
    }
}

/// See [`ConvGeom::scratch_per_sample`].
pub(crate) fn scratch_per_sample(g: &ConvGeom) -> usize {
    let (hw, out_hw) = (g.h * g.w, g.out_h() * g.out_w());
    match plan(g) {
        // Forward: input and output in lanes. Backward: the output gradient, the input
        // gradient (or the input), and one tap's compacted output gradient and input.
        Plan::BatchLanes => 2 * (g.c_in + g.c_out) * hw,
        _ => g.taps.len() * g.c_in * out_hw + g.c_in * hw,
    }
}

/// Fills the tap masks and shifts of `g` (and the repeated masks of the tap-planes layout
/// when `tiled`).
fn prepare_taps(g: &ConvGeom, taps: &mut TapTables, tiled: bool) {
    let (h, w) = (g.h, g.w);
    let hw = h * w;
    taps.masks.clear();
    taps.masks.resize(g.taps.len() * hw, false);
    taps.shifts.clear();
    for (t, mask) in taps.masks.chunks_exact_mut(hw.max(1)).enumerate() {
        taps.shifts.push(tap_mask(g.offset(t), (h, w), mask));
    }
    if tiled {
        taps.tmasks.clear();
        for mask in taps.masks.chunks_exact(hw.max(1)) {
            for _ in 0..g.c_in {
                taps.tmasks.extend_from_slice(mask);
            }
        }
    }
}

/// Marks in `mask` (an h×w plane, all false) the pixels p whose tap read p + (di, dj)
/// lies in the plane; returns the flat shift di·w + dj and the range [lo, hi) of p that may
/// be valid, clamped so that reads p + shift stay in bounds even for the masked pixels in it.
pub(super) fn tap_mask(
    (di, dj): (isize, isize),
    (h, w): (usize, usize),
    mask: &mut [bool],
) -> (isize, usize, usize) {
    let (i0, i1) = valid_range(di, h);
    let (j0, j1) = valid_range(dj, w);
    if i0 == i1 || j0 == j1 {
        return (0, 0, 0); // the tap never lands inside the grid: all masked
    }
    for i in i0..i1 {
        mask[i * w + j0..i * w + j1].fill(true);
    }
    let shift = di * w as isize + dj;
    let lo = (i0 * w).max((-shift).max(0) as usize);
    let hi = (i1 * w).min(((h * w) as isize - shift).max(0) as usize);
    (shift, lo, hi.max(lo))
}

/// Strided geometry (σ divides H and W): pixel (σi' + a, σj' + b) of a plane is pixel
/// (i', j') of phase plane (a, b), so tap offset (di, dj) reads phase (di mod σ, dj mod σ)
/// at offset (⌊di/σ⌋, ⌊dj/σ⌋), a stride-1 read on the (H/σ)×(W/σ) phase planes. Fills each
/// tap's phase, shift on those planes, and its mask repeated over `per` samples (`tmasks`).
fn prepare_strided(g: &ConvGeom, per: usize, taps: &mut TapTables) {
    let (st, ho, wo) = (g.stride as isize, g.out_h(), g.out_w());
    let hw = ho * wo;
    taps.masks.clear();
    taps.masks.resize(g.taps.len() * hw, false);
    taps.shifts.clear();
    taps.phases.clear();
    for (t, mask) in taps.masks.chunks_exact_mut(hw.max(1)).enumerate() {
        let (di, dj) = g.offset(t);
        let (a, b) = (di.rem_euclid(st), dj.rem_euclid(st));
        taps.phases.push((a * st + b) as usize);
        taps.shifts.push(tap_mask(
            (di.div_euclid(st), dj.div_euclid(st)),
            (ho, wo),
            mask,
        ));
    }
    taps.tmasks.clear();
    for mask in taps.masks.chunks_exact(hw.max(1)) {
        for _ in 0..per {
            taps.tmasks.extend_from_slice(mask);
        }
    }
}
