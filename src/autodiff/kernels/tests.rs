//! Every instruction-set level gives bit-identical results (the levels change the vector
//! width, the register tiles and the transpositions; the summation orders are fixed in the
//! source), on the shapes of each kernel's code paths. Every level this CPU supports is run
//! and compared with the baseline; a level the CPU lacks cannot be run and is reported as
//! skipped. The levels' tile sizes differ (AVX-512 > AVX2 > baseline), so the comparisons
//! cover different main tiles, remainder tiles and transposition code.

use super::conv::at_level;
use super::elementwise::{
    LayerNormBackward, LayerNormForward, Pool2Backward, Pool2Forward, TanhBackward, TanhForward,
};
use super::gemm::PackedProduct;
use super::simd::{self, Level};
use super::{ConvGeom, Scratch};

fn data(n: usize, seed: u64) -> Vec<f64> {
    // A simple deterministic sequence in [−1, 1) with many distinct mantissas.
    (0..n)
        .map(|i| {
            let v = (i as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15 ^ seed) >> 11;
            (v as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
        })
        .collect()
}

pub(super) fn bits<T: crate::Scalar>(v: &[T]) -> Vec<u64> {
    v.iter().map(|x| x.f64().to_bits()).collect()
}

/// Runs `f` at every level the CPU supports and asserts all results are bit-identical.
fn same_at_every_level<T: crate::Scalar>(what: &str, f: impl Fn(Level) -> Vec<T>) {
    let base = bits(&f(Level::Baseline));
    for level in simd::supported_levels() {
        assert_eq!(
            bits(&f(level)),
            base,
            "{what}: {level:?} differs from the baseline"
        );
    }
}

/// Geometries covering every plan: tap planes (with the dot-product weight gradient when
/// C_in·|taps| ≤ C_out), gathered im2col, dense, batch lanes (with a partial last block of
/// lanes: 33 = 2·16 + 1 samples), and the stride-2 fused convolution + pooling plans
/// (gathered on phase planes, dense), with the plus and the full 3×3 supports.
fn geoms() -> Vec<ConvGeom> {
    let plus = vec![(0, 1), (1, 0), (1, 1), (1, 2), (2, 1)];
    let full = ConvGeom::full_taps(3);
    let g = |batch, c_in, c_out, h, w, taps: &Vec<(usize, usize)>, stride| ConvGeom {
        batch,
        c_in,
        c_out,
        h,
        w,
        k: 3,
        taps: taps.clone(),
        pad_top: 1,
        pad_left: 1,
        stride,
    };
    vec![
        g(9, 1, 16, 8, 8, &plus, 1),
        g(33, 16, 16, 4, 4, &plus, 1),
        g(17, 16, 16, 4, 4, &full, 1),
        g(5, 16, 16, 2, 2, &plus, 1),
        g(3, 4, 5, 7, 7, &plus, 1),
        g(2, 1, 3, 1, 3, &plus, 1),
        g(9, 1, 16, 8, 8, &plus, 2),
        g(7, 3, 16, 8, 8, &full, 2),
        g(2, 1, 16, 28, 28, &plus, 2),
        g(5, 16, 16, 2, 2, &plus, 2),
        g(6, 16, 10, 4, 4, &full, 2),
    ]
}

fn conv_all<T: crate::Scalar>() {
    for g in geoms() {
        let c = |v: Vec<f64>| v.into_iter().map(T::of).collect::<Vec<T>>();
        let (x, w, gy) = (
            c(data(g.x_len(), 1)),
            c(data(g.w_len(), 2)),
            c(data(g.y_len(), 3)),
        );
        same_at_every_level(&format!("conv forward {g:?}"), |level| {
            let mut y = vec![T::zero(); g.y_len()];
            at_level::forward(level, &g, &x, &w, &mut y);
            y
        });
        same_at_every_level(&format!("conv backward {g:?}"), |level| {
            let (mut gx, mut gw) = (c(data(g.x_len(), 4)), c(data(g.w_len(), 5)));
            at_level::backward(level, &g, (&gy, &x, &w), &mut gx, &mut gw);
            gx.extend(gw);
            gx
        });
    }
}

#[test]
fn conv_is_identical_at_every_level() {
    eprintln!(
        "levels compared: {:?}; not supported by this CPU (skipped): {:?}",
        simd::supported_levels(),
        Level::ALL
            .iter()
            .filter(|l| !l.supported())
            .collect::<Vec<_>>()
    );
    conv_all::<f32>();
    conv_all::<f64>();
}

/// The strided one-channel forward of the batch-lane formulation gives the gathered
/// formulation's bits (see `direct::applies_forward`), at every level, in f32 and f64.
fn strided_one_channel<T: crate::Scalar>() {
    let plus = vec![(0, 1), (1, 0), (1, 1), (1, 2), (2, 1)];
    // The digits network's fused first layer: the plus filter pooled 2×2 on a 4×4 support.
    let pooled: Vec<(usize, usize)> = (0..4)
        .flat_map(|r| (0..4).map(move |s| (r, s)))
        .filter(|&(r, s)| {
            (r, s) != (0, 0) && (r, s) != (0, 3) && (r, s) != (3, 0) && (r, s) != (3, 3)
        })
        .collect();
    let g = |batch, c_in, h, k, taps: &Vec<(usize, usize)>| ConvGeom {
        batch,
        c_in,
        c_out: 16,
        h,
        w: h,
        k,
        taps: taps.clone(),
        pad_top: (k - 1) / 2,
        pad_left: (k - 1) / 2,
        stride: 2,
    };
    let c = |v: Vec<f64>| v.into_iter().map(T::of).collect::<Vec<T>>();
    for g in [
        g(32, 1, 8, 4, &pooled),
        g(33, 1, 8, 3, &plus),
        g(3, 1, 6, 3, &ConvGeom::full_taps(3)),
    ] {
        assert!(super::direct::applies_forward(&g), "{g:?}");
        let (x, w) = (c(data(g.x_len(), 11)), c(data(g.w_len(), 12)));
        for level in simd::supported_levels() {
            let mut y = [vec![T::zero(); g.y_len()], vec![T::zero(); g.y_len()]];
            for (out, direct) in y.iter_mut().zip([true, false]) {
                at_level::forward_by(level, &g, (&x, &w), out, direct);
            }
            assert_eq!(bits(&y[0]), bits(&y[1]), "{level:?} {g:?}");
        }
    }
    // Negative control: with two input channels the batch-lane product sums taps then
    // channels, the gathered one channels then taps: the same values, other bits.
    let g2 = g(16, 2, 8, 3, &plus);
    assert!(!super::direct::applies_forward(&g2));
    let (x, w) = (c(data(g2.x_len(), 13)), c(data(g2.w_len(), 14)));
    let mut y = [vec![T::zero(); g2.y_len()], vec![T::zero(); g2.y_len()]];
    for (out, direct) in y.iter_mut().zip([true, false]) {
        at_level::forward_by(Level::Baseline, &g2, (&x, &w), out, direct);
    }
    assert_ne!(
        bits(&y[0]),
        bits(&y[1]),
        "two channels: the orders should differ"
    );
    // Each order's round-off is at most u·Σ|products| (the products) + (n − 1)·u·Σ|products|
    // (the sums) = n·u·Σ|products| ≤ 10·u·10 = 50ε, with n = 10 terms of magnitude below 1
    // and u = ε/2; between the two orders, 100ε.
    let eps = if std::mem::size_of::<T>() == 4 {
        f32::EPSILON as f64
    } else {
        f64::EPSILON
    };
    for (a, b) in y[0].iter().zip(&y[1]) {
        assert!((a.f64() - b.f64()).abs() <= 100.0 * eps, "{a:?} vs {b:?}");
    }
}

#[test]
fn strided_one_channel_forward_matches_gathered() {
    strided_one_channel::<f32>();
    strided_one_channel::<f64>();
}

/// `sum_lanes` gives each entry's lanes summed from 0 in lane order, at every level (37
/// entries: two transposed groups of 16 and a remainder, or four of 8 and a remainder).
fn lane_sums<T: crate::Scalar, const L: usize>() {
    let e = 37;
    // Magnitudes spread over 2⁻¹¹..2¹¹, so that the sums round and their order shows.
    let lanes: Vec<T> = data(e * L, 21)
        .into_iter()
        .enumerate()
        .map(|(i, v)| T::of(v * 2f64.powi((i * 7 % 23) as i32 - 11)))
        .collect();
    let in_order: Vec<T> = lanes
        .chunks_exact(L)
        .map(|row| row.iter().fold(T::zero(), |acc, &x| acc + x))
        .collect();
    for level in simd::supported_levels() {
        let mut sums = vec![T::zero(); e];
        let tile = &mut super::aligned::Aligned::default();
        simd::run_at(
            level,
            SumLanes::<T, L> {
                lanes: &lanes,
                sums: &mut sums,
                tile,
            },
        );
        assert_eq!(bits(&sums), bits(&in_order), "{level:?}");
    }
    // Negative control: the lanes in reverse order round differently for some entry.
    let reversed: Vec<T> = lanes
        .chunks_exact(L)
        .map(|row| row.iter().rev().fold(T::zero(), |acc, &x| acc + x))
        .collect();
    assert_ne!(bits(&reversed), bits(&in_order), "the order should show");
}

struct SumLanes<'a, T, const L: usize> {
    lanes: &'a [T],
    sums: &'a mut [T],
    tile: &'a mut super::aligned::Aligned<T>,
}

impl<T: crate::Scalar, const L: usize> simd::Job for SumLanes<'_, T, L> {
    type Output = ();
    fn run(self, level: Level) {
        super::lanes::sum_lanes::<T, L>(level, self.lanes, self.sums, self.tile)
    }
}

#[test]
fn lane_sums_keep_the_lane_order_at_every_level() {
    lane_sums::<f32, 16>();
    lane_sums::<f64, 8>();
}

/// `lanes::transpose` on shapes with whole tiles only, edges only and both, strides larger
/// than the shape, equals dst[j·ld_dst + i] = src[i·ld + j] at every level, and leaves the
/// rest of dst alone.
fn transposes<T: crate::Scalar>() {
    let l = super::gemm::nt_lanes::<T>();
    for (rows, cols) in [
        (l, l),
        (2 * l, 3 * l + 5),
        (l + 3, 2 * l),
        (l - 1, 7),
        (3, 2 * l + 1),
    ] {
        let (ld, ld_dst) = (cols + 2, rows + 3);
        let src: Vec<T> = data(rows * ld, 5).into_iter().map(T::of).collect();
        let mut want = vec![T::of(9.0); cols * ld_dst];
        for i in 0..rows {
            for j in 0..cols {
                want[j * ld_dst + i] = src[i * ld + j];
            }
        }
        for level in simd::supported_levels() {
            let mut dst = vec![T::of(9.0); cols * ld_dst];
            simd::run_at(
                level,
                Transpose {
                    src: &src,
                    ld,
                    shape: (rows, cols),
                    dst: &mut dst,
                    ld_dst,
                },
            );
            assert_eq!(bits(&dst), bits(&want), "{rows}×{cols} at {level:?}");
        }
        // Negative control: the copy without transposition differs.
        let mut copied = vec![T::of(9.0); cols * ld_dst];
        for i in 0..rows.min(cols) {
            for j in 0..cols.min(rows) {
                copied[j * ld_dst + i] = src[j * ld + i];
            }
        }
        assert_ne!(
            bits(&copied),
            bits(&want),
            "{rows}×{cols}: the layout should show"
        );
    }
}

struct Transpose<'a, T> {
    src: &'a [T],
    ld: usize,
    shape: (usize, usize),
    dst: &'a mut [T],
    ld_dst: usize,
}

impl<T: crate::Scalar> simd::Job for Transpose<'_, T> {
    type Output = ();
    fn run(self, level: Level) {
        let Transpose {
            src,
            ld,
            shape,
            dst,
            ld_dst,
        } = self;
        super::lanes::transpose(level, (src, ld), shape, (dst, ld_dst))
    }
}

#[test]
fn transposes_are_identical_at_every_level() {
    transposes::<f32>();
    transposes::<f64>();
}

fn others<T: crate::Scalar>() {
    let c = |v: Vec<f64>| v.into_iter().map(T::of).collect::<Vec<T>>();
    for &(m, k, n, ta, tb) in &[
        (32, 64, 10, false, true),
        (10, 32, 64, true, false),
        (7, 5, 33, true, true),
    ] {
        let (a, b) = (c(data(m * k, 6)), c(data(k * n, 7)));
        same_at_every_level("packed product", |level| {
            let mut out = c(data(m * n, 8));
            let scratch = &mut Scratch::new();
            let job = PackedProduct {
                dims: (m, k, n),
                a: (&a, ta),
                b: (&b, tb),
                c: &mut out,
                scratch,
            };
            simd::run_at(level, job);
            out
        });
    }
    for &(planes, h, w) in &[(64, 8, 8), (16, 4, 4), (3, 28, 28), (2, 7, 5)] {
        let (x, gy) = (
            c(data(planes * h * w, 9)),
            c(data(planes * (h / 2) * (w / 2), 10)),
        );
        same_at_every_level("pool", |level| {
            let mut y = vec![T::zero(); planes * (h / 2) * (w / 2)];
            simd::run_at(
                level,
                Pool2Forward {
                    planes,
                    h,
                    w,
                    x: &x,
                    y: &mut y,
                },
            );
            let mut gx = c(data(planes * h * w, 11));
            simd::run_at(
                level,
                Pool2Backward {
                    planes,
                    h,
                    w,
                    gy: &gy,
                    gx: &mut gx,
                },
            );
            y.extend(gx);
            y
        });
    }
    for &m in &[256, 65, 7] {
        let (x, gy) = (c(data(4 * m, 12)), c(data(4 * m, 13)));
        same_at_every_level("layer norm", |level| {
            let (mut y, mut rstd) = (vec![T::zero(); 4 * m], vec![T::zero(); 4]);
            let eps = T::of(1e-5);
            simd::run_at(
                level,
                LayerNormForward {
                    x: &x,
                    m,
                    eps,
                    y: &mut y,
                    rstd: &mut rstd,
                },
            );
            let mut gx = c(data(4 * m, 14));
            simd::run_at(
                level,
                LayerNormBackward {
                    gy: &gy,
                    y: &y,
                    rstd: &rstd,
                    m,
                    gx: &mut gx,
                },
            );
            y.extend(rstd);
            y.extend(gx);
            y
        });
    }
    let x: Vec<T> = data(1000, 15)
        .into_iter()
        .map(|v| T::of(v * 12.0))
        .collect();
    same_at_every_level("tanh", |level| {
        let mut y = vec![T::zero(); x.len()];
        simd::run_at(level, TanhForward { x: &x, y: &mut y });
        let mut gx = c(data(1000, 16));
        simd::run_at(
            level,
            TanhBackward {
                gy: &x,
                y: &y,
                gx: &mut gx,
            },
        );
        y.extend(gx);
        y
    });
}

#[test]
fn other_kernels_are_identical_at_every_level() {
    others::<f32>();
    others::<f64>();
}

/// Negative control: the bit comparison does see a one-ulp difference between the
/// reference run and a later one (a call counter, so that it fails on every host).
#[test]
#[should_panic(expected = "differs from the baseline")]
fn level_comparison_detects_one_ulp() {
    let calls = std::cell::Cell::new(0u64);
    same_at_every_level("perturbed", |_| {
        calls.set(calls.get() + 1);
        vec![f64::from_bits(
            (1.0f64 / 3.0).to_bits() + u64::from(calls.get() > 1),
        )]
    });
}

/// A resample's mean rows (repeated members, a span not starting at 0, 13 entries: vector
/// bodies and tails) are the same bits at every level and equal the definition's sum in
/// member order. Negative control: the same members in another order give other bits
/// (float addition is not associative), so the comparison sees the summation order.
#[test]
fn mean_rows_keep_the_member_order_at_every_level() {
    use super::elementwise::MeanRows;
    let tables: Vec<Vec<f64>> = (0..7).map(|i| data(40, 100 + i)).collect();
    let refs: Vec<&[f64]> = tables.iter().map(|t| t.as_slice()).collect();
    let members = [3, 0, 6, 3, 1, 5, 5, 2];
    let span = 17..30;
    let mean_at = |level: Level, members: &[usize]| -> Vec<f64> {
        let mut out = vec![f64::NAN; span.len()];
        simd::run_at(
            level,
            MeanRows {
                tables: &refs,
                members,
                span: span.clone(),
                out: &mut out,
            },
        );
        out
    };
    same_at_every_level("mean rows", |level| mean_at(level, &members));
    // The definition: entrywise sums in member order from +0, one division at the end.
    let mut want = vec![0.0; span.len()];
    for &i in &members {
        for (s, &v) in want.iter_mut().zip(&refs[i][span.clone()]) {
            *s += v;
        }
    }
    want.iter_mut().for_each(|s| *s /= members.len() as f64);
    assert_eq!(bits(&mean_at(Level::Baseline, &members)), bits(&want));
    let mut reordered = members;
    reordered.reverse();
    assert_ne!(
        bits(&mean_at(Level::Baseline, &reordered)),
        bits(&want),
        "control: another member order rounds differently"
    );
}

/// Forward and both adjoints of `g` with the scratch `s`, concatenated.
fn conv_with<T: crate::Scalar>(g: &ConvGeom, s: &mut Scratch<T>) -> Vec<T> {
    let c = |v: Vec<f64>| v.into_iter().map(T::of).collect::<Vec<T>>();
    let (x, w, gy) = (
        c(data(g.x_len(), 1)),
        c(data(g.w_len(), 2)),
        c(data(g.y_len(), 3)),
    );
    let mut y = vec![T::zero(); g.y_len()];
    super::conv2d_forward_with(g, &x, &w, &mut y, s);
    let (mut gx, mut gw) = (c(data(g.x_len(), 4)), c(data(g.w_len(), 5)));
    super::conv2d_backward_with(g, &gy, &x, &w, Some(&mut gx), Some(&mut gw), s);
    y.extend(gx);
    y.extend(gw);
    y
}

/// One scratch shared by every geometry of [`geoms`] and its one-sample and unpadded
/// variants, for two rounds (so tables are reused from the active slot, from the kept ones, and rebuilt after
/// eviction: more kinds of tables than [`super::KEPT_TABLES`]), gives the bits of a fresh
/// scratch per call. Negative control: tables built for one geometry but labelled as
/// another's give other results, so the comparison sees stale tables.
fn kept_tables<T: crate::Scalar>() {
    // Each geometry after its one-sample variant (fewer samples per block: their repeated
    // masks are too short for it) and before its unpadded one (tables of the same kinds).
    let all: Vec<ConvGeom> = geoms()
        .into_iter()
        .flat_map(|g| {
            let unpadded = ConvGeom {
                pad_top: 0,
                ..g.clone()
            };
            let single = ConvGeom {
                batch: 1,
                ..g.clone()
            };
            [single, g, unpadded]
        })
        .collect();
    let mut shared = Scratch::<T>::new();
    for round in 0..2 {
        for g in &all {
            assert_eq!(
                bits(&conv_with(g, &mut shared)),
                bits(&conv_with(g, &mut Scratch::<T>::new())),
                "round {round}: kept tables change {g:?}"
            );
        }
    }
    assert_eq!(
        shared.kept_taps.len(),
        super::KEPT_TABLES,
        "no table was evicted"
    );

    let a = geoms()[4].clone(); // gathered, stride 1: masks and shifts
    let b = ConvGeom {
        pad_top: 0,
        ..a.clone()
    };
    let mut stale = Scratch::<T>::new();
    conv_with(&a, &mut stale);
    let key = stale.taps.built_for.clone().expect("tables built");
    stale.taps.built_for = Some(super::TablesKey {
        geom: ConvGeom {
            batch: 0,
            ..b.clone()
        },
        ..key
    });
    assert_ne!(
        bits(&conv_with(&b, &mut stale)),
        bits(&conv_with(&b, &mut Scratch::<T>::new())),
        "control: another geometry's tables went unnoticed"
    );
}

#[test]
fn kept_tap_tables_give_the_bits_of_fresh_ones() {
    kept_tables::<f32>();
    kept_tables::<f64>();
}
