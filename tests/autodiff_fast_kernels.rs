//! The optimised kernels on the shapes of the paper's networks, against direct references
//! written independently of them: the per-tap convolution formula, 2×2 pooling, layer norm
//! and matrix products as plain loops. Each formulation of the convolution (tap planes with
//! either weight-gradient product, gathered im2col, dense tiny grids) is exercised,
//! with several sample blocks and a ragged last block, and with scratch buffers reused
//! across geometries. Negative controls show the comparisons fail on wrong inputs.

use eqens::autodiff::kernels::{self, ConvGeom, Scratch};
use eqens::autodiff::Tape;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Relative tolerance against the scale Σ|terms| of each entry: both sides are f64 sums of
/// at most ~40 000 products (C_in·taps·N·H·W of the largest weight gradient here) in
/// different orders, each within n·1.1e-16·Σ|terms| ≈ 4.4e-12·Σ|terms| of the exact value
/// for n = 40 000 (and far less in practice: pairwise lanes and short chains); 1e-11 bounds
/// the difference of the two.
const TOL: f64 = 1e-11;

fn uniform(rng: &mut ChaCha8Rng, n: usize) -> Vec<f64> {
    (0..n).map(|_| rng.random_range(-1.0..1.0)).collect()
}

/// The largest |a − b| / scale over the entries (scale = Σ|terms|, floored at 1e-300).
fn worst(a: &[f64], b: &[f64], scale: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .zip(scale)
        .map(|((x, y), s)| (x - y).abs() / s.max(1e-300))
        .fold(0.0, f64::max)
}

/// A geometry with `same` padding (pad = (k−1)/2) and the given taps.
fn geom(
    batch: usize,
    c_in: usize,
    c_out: usize,
    h: usize,
    w: usize,
    k: usize,
    taps: &[(usize, usize)],
) -> ConvGeom {
    ConvGeom {
        batch,
        c_in,
        c_out,
        h,
        w,
        k,
        taps: taps.to_vec(),
        pad_top: (k - 1) / 2,
        pad_left: (k - 1) / 2,
        stride: 1,
    }
}

const PLUS: [(usize, usize); 5] = [(0, 1), (1, 0), (1, 1), (1, 2), (2, 1)];

/// The paper-like geometries, one per formulation and branch (see `kernels::conv`).
fn geometries() -> Vec<(&'static str, ConvGeom)> {
    vec![
        // Tap planes (H·W = 64), thin panel: weight gradient by lane dot products; blocks
        // of 8 samples, the last one ragged (29 = 3·8 + 5).
        ("tap planes, C_in 1", geom(29, 1, 16, 8, 8, 3, &PLUS)),
        // Tap planes (H·W = 16), tall panel: weight gradient by the tiled product; blocks
        // of 32 samples (40 = 32 + 8).
        ("tap planes, C_in 16", geom(40, 16, 16, 4, 4, 3, &PLUS)),
        // 28×28 first layer: one sample per block.
        ("tap planes, 28×28", geom(3, 1, 16, 28, 28, 3, &PLUS)),
        // Gathered im2col (H·W = 196 and 49), full 3×3 taps in a scrambled order.
        (
            "gathered, 14×14",
            geom(
                5,
                3,
                5,
                14,
                14,
                3,
                &[
                    (2, 2),
                    (0, 0),
                    (1, 1),
                    (0, 2),
                    (2, 0),
                    (1, 0),
                    (0, 1),
                    (2, 1),
                    (1, 2),
                ],
            ),
        ),
        ("gathered, 7×7", geom(11, 16, 16, 7, 7, 3, &PLUS)),
        // Dense (H·W ≤ taps): 2×2 grids with aligned rows, and a 1×3 grid (padded rows).
        ("dense, 2×2", geom(32, 16, 16, 2, 2, 3, &PLUS)),
        ("dense, 1×3", geom(7, 3, 5, 1, 3, 3, &PLUS)),
    ]
}

/// Signed offsets of tap t.
fn offset(g: &ConvGeom, t: usize) -> (isize, isize) {
    let (r, s) = g.taps[t];
    (
        r as isize - g.pad_top as isize,
        s as isize - g.pad_left as isize,
    )
}

/// The source pixel index of output pixel (i, j) under tap t, if inside the grid.
fn source(g: &ConvGeom, t: usize, i: usize, j: usize) -> Option<usize> {
    let (di, dj) = offset(g, t);
    let (si, sj) = (i as isize + di, j as isize + dj);
    ((0..g.h as isize).contains(&si) && (0..g.w as isize).contains(&sj))
        .then(|| si as usize * g.w + sj as usize)
}

/// y[n,o,i,j] = Σ_c Σ_t w[o,c,t] x[n,c,(i,j)+offset_t], and its Σ|terms|.
fn reference_forward(g: &ConvGeom, x: &[f64], w: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let (hw, nt) = (g.h * g.w, g.taps.len());
    let (mut y, mut scale) = (vec![0.0; g.y_len()], vec![0.0; g.y_len()]);
    for n in 0..g.batch {
        for o in 0..g.c_out {
            for i in 0..g.h {
                for j in 0..g.w {
                    let out = (n * g.c_out + o) * hw + i * g.w + j;
                    for c in 0..g.c_in {
                        for t in 0..nt {
                            if let Some(q) = source(g, t, i, j) {
                                let term =
                                    w[(o * g.c_in + c) * nt + t] * x[(n * g.c_in + c) * hw + q];
                                y[out] += term;
                                scale[out] += term.abs();
                            }
                        }
                    }
                }
            }
        }
    }
    (y, scale)
}

/// gx = convᵀ(gy) and gw = ∂⟨gy, conv(x, w)⟩/∂w from the same formula, with Σ|terms|.
#[allow(clippy::type_complexity)]
fn reference_backward(
    g: &ConvGeom,
    gy: &[f64],
    x: &[f64],
    w: &[f64],
) -> ((Vec<f64>, Vec<f64>), (Vec<f64>, Vec<f64>)) {
    let (hw, nt) = (g.h * g.w, g.taps.len());
    let (mut gx, mut sx) = (vec![0.0; g.x_len()], vec![0.0; g.x_len()]);
    let (mut gw, mut sw) = (vec![0.0; g.w_len()], vec![0.0; g.w_len()]);
    for n in 0..g.batch {
        for o in 0..g.c_out {
            for i in 0..g.h {
                for j in 0..g.w {
                    let gv = gy[(n * g.c_out + o) * hw + i * g.w + j];
                    for c in 0..g.c_in {
                        for t in 0..nt {
                            if let Some(q) = source(g, t, i, j) {
                                let (wi, xi) =
                                    ((o * g.c_in + c) * nt + t, (n * g.c_in + c) * hw + q);
                                gx[xi] += w[wi] * gv;
                                sx[xi] += (w[wi] * gv).abs();
                                gw[wi] += x[xi] * gv;
                                sw[wi] += (x[xi] * gv).abs();
                            }
                        }
                    }
                }
            }
        }
    }
    ((gx, sx), (gw, sw))
}

/// Runs the kernels (forward, then both adjoints accumulating onto non-zero starts) with
/// one scratch and returns the worst relative errors (forward, gx, gw) against the
/// references.
fn conv_errors(g: &ConvGeom, seed: u64, scratch: &mut Scratch<f64>) -> (f64, f64, f64) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (x, w, gy) = (
        uniform(&mut rng, g.x_len()),
        uniform(&mut rng, g.w_len()),
        uniform(&mut rng, g.y_len()),
    );
    let (gx0, gw0) = (uniform(&mut rng, g.x_len()), uniform(&mut rng, g.w_len()));
    // Stale, non-finite output: every entry must be overwritten.
    let mut y = vec![f64::NAN; g.y_len()];
    kernels::conv2d_forward_with(g, &x, &w, &mut y, scratch);
    let (gx_start, gw_start) = (gx0.clone(), gw0.clone());
    let (mut gx, mut gw) = (gx0, gw0);
    kernels::conv2d_backward_with(g, &gy, &x, &w, Some(&mut gx), Some(&mut gw), scratch);
    let (y_ref, sy) = reference_forward(g, &x, &w);
    let ((gx_ref, sx), (gw_ref, sw)) = reference_backward(g, &gy, &x, &w);
    let shift = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(u, v)| u + v).collect::<Vec<_>>();
    let scaled = |s: &[f64], start: &[f64]| {
        s.iter()
            .zip(start)
            .map(|(u, v)| u + v.abs())
            .collect::<Vec<_>>()
    };
    (
        worst(&y, &y_ref, &sy),
        worst(&gx, &shift(&gx_ref, &gx_start), &scaled(&sx, &gx_start)),
        worst(&gw, &shift(&gw_ref, &gw_start), &scaled(&sw, &gw_start)),
    )
}

#[test]
fn every_conv_formulation_matches_the_per_tap_formula() {
    // One scratch for all geometries, in an order that shrinks and regrows the buffers.
    let mut scratch = Scratch::new();
    for round in 0..2 {
        for (i, (name, g)) in geometries().into_iter().enumerate() {
            let (f, bx, bw) = conv_errors(&g, 100 * round + i as u64, &mut scratch);
            assert!(
                f <= TOL && bx <= TOL && bw <= TOL,
                "{name}: forward {f:e}, ∂x {bx:e}, ∂w {bw:e}"
            );
        }
    }
}

/// The separate adjoint entry points agree with the fused backward bit for bit.
#[test]
fn separate_adjoints_equal_the_fused_backward() {
    for (name, g) in geometries() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let (x, w, gy) = (
            uniform(&mut rng, g.x_len()),
            uniform(&mut rng, g.w_len()),
            uniform(&mut rng, g.y_len()),
        );
        let (mut gx, mut gw) = (vec![0.0; g.x_len()], vec![0.0; g.w_len()]);
        kernels::conv2d_backward_with(
            &g,
            &gy,
            &x,
            &w,
            Some(&mut gx),
            Some(&mut gw),
            &mut Scratch::new(),
        );
        let (mut gx2, mut gw2) = (vec![0.0; g.x_len()], vec![0.0; g.w_len()]);
        kernels::conv2d_backward_input(&g, &gy, &w, &mut gx2);
        kernels::conv2d_backward_weight(&g, &gy, &x, &mut gw2);
        assert!(gx == gx2 && gw == gw2, "{name}");
    }
}

/// Negative control: the comparison sees a wrong kernel input (two taps' weights swapped
/// on one channel pair) in every formulation.
#[test]
fn conv_comparison_detects_swapped_taps() {
    for (name, g) in geometries() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let (x, w) = (uniform(&mut rng, g.x_len()), uniform(&mut rng, g.w_len()));
        let mut wrong = w.clone();
        wrong.swap(0, 1);
        let mut y = vec![0.0; g.y_len()];
        kernels::conv2d_forward(&g, &x, &wrong, &mut y);
        let (y_ref, sy) = reference_forward(&g, &x, &w);
        assert!(
            worst(&y, &y_ref, &sy) > 1e-6,
            "{name}: a swapped tap went unnoticed"
        );
    }
}

/// f32 and f64 kernels agree to f32 precision on the paper geometries.
#[test]
fn conv_f32_matches_f64() {
    for (name, g) in geometries() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let (x, w, gy) = (
            uniform(&mut rng, g.x_len()),
            uniform(&mut rng, g.w_len()),
            uniform(&mut rng, g.y_len()),
        );
        let f = |v: &[f64]| v.iter().map(|&a| a as f32).collect::<Vec<f32>>();
        let (mut y32, mut gx32, mut gw32) = (
            vec![0f32; g.y_len()],
            vec![0f32; g.x_len()],
            vec![0f32; g.w_len()],
        );
        let mut s32 = Scratch::new();
        kernels::conv2d_forward_with(&g, &f(&x), &f(&w), &mut y32, &mut s32);
        kernels::conv2d_backward_with(
            &g,
            &f(&gy),
            &f(&x),
            &f(&w),
            Some(&mut gx32),
            Some(&mut gw32),
            &mut s32,
        );
        let (y, sy) = reference_forward(&g, &x, &w);
        let ((gx, sx), (gw, sw)) = reference_backward(&g, &gy, &x, &w);
        let up = |v: &[f32]| v.iter().map(|&a| a as f64).collect::<Vec<f64>>();
        // Rounding the inputs to f32 (≤ 6e-8 relative each) and summing ≤ 40 000 products in
        // f32 (≤ n·6e-8 relative to Σ|terms|, far less with pairwise lanes): 5e-4 bounds it.
        let e = [
            worst(&up(&y32), &y, &sy),
            worst(&up(&gx32), &gx, &sx),
            worst(&up(&gw32), &gw, &sw),
        ];
        assert!(e.iter().all(|&v| v <= 5e-4), "{name}: {e:?}");
    }
}

/// 2×2 average pooling over even and odd grids (fast row-pair path and per-plane path),
/// against the window formula, forward and adjoint.
#[test]
fn pool2_matches_the_window_formula() {
    for &(planes, h, w) in &[
        (512, 8, 8),
        (512, 4, 4),
        (7, 28, 28),
        (5, 14, 14),
        (3, 7, 7),
        (4, 5, 8),
        (2, 6, 3),
        (2, 2, 600),
    ] {
        let mut rng = ChaCha8Rng::seed_from_u64((planes * h * w) as u64);
        let x = uniform(&mut rng, planes * h * w);
        let (ho, wo) = (h / 2, w / 2);
        let gy = uniform(&mut rng, planes * ho * wo);
        let mut y = vec![f64::NAN; planes * ho * wo];
        kernels::avg_pool2d_forward(planes, h, w, 2, &x, &mut y);
        let start = uniform(&mut rng, planes * h * w);
        let mut gx = start.clone();
        kernels::avg_pool2d_backward(planes, h, w, 2, &gy, &mut gx);
        for p in 0..planes {
            for i in 0..h {
                for j in 0..w {
                    let xi = (p * h + i) * w + j;
                    let inside = i / 2 < ho && j / 2 < wo;
                    let want = start[xi]
                        + if inside {
                            gy[(p * ho + i / 2) * wo + j / 2] / 4.0
                        } else {
                            0.0
                        };
                    // One rounding of gy/4 (exact) plus one addition: ≤ 1 ulp of the result.
                    assert!(
                        (gx[xi] - want).abs() <= 2.3e-16 * want.abs().max(1e-300),
                        "{planes}×{h}×{w} ∂x at {xi}"
                    );
                }
            }
            for i in 0..ho {
                for j in 0..wo {
                    let at = |a: usize, b: usize| x[(p * h + 2 * i + a) * w + 2 * j + b];
                    let want = (at(0, 0) + at(0, 1) + at(1, 0) + at(1, 1)) / 4.0;
                    let scale =
                        (at(0, 0).abs() + at(0, 1).abs() + at(1, 0).abs() + at(1, 1).abs()) / 4.0;
                    // Three additions in another order: ≤ 3 ulps of the terms' scale.
                    assert!(
                        (y[(p * ho + i) * wo + j] - want).abs() <= 7e-16 * scale,
                        "{planes}×{h}×{w}"
                    );
                }
            }
        }
    }
}

/// Layer norm over groups with and without a tail beyond the lanes (3136 = 196·16, 65, 7),
/// against the two-pass formula; the backward against the closed form.
#[test]
fn layer_norm_matches_the_formula() {
    for &(groups, m) in &[(3, 3136), (5, 65), (4, 7), (32, 256)] {
        let mut rng = ChaCha8Rng::seed_from_u64(m as u64);
        let x: Vec<f64> = uniform(&mut rng, groups * m)
            .iter()
            .map(|v| 3.0 * v + 1.0)
            .collect();
        let gy = uniform(&mut rng, groups * m);
        let eps = 1e-5;
        let (mut y, mut rstd) = (vec![0.0; groups * m], vec![0.0; groups]);
        kernels::layer_norm_forward(&x, m, eps, &mut y, &mut rstd);
        let mut gx = vec![0.0; groups * m];
        kernels::layer_norm_backward(&gy, &y, &rstd, m, &mut gx);
        for gi in 0..groups {
            let xs = &x[gi * m..][..m];
            let mean = xs.iter().sum::<f64>() / m as f64;
            let var = xs.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / m as f64;
            let s = 1.0 / (var + eps).sqrt();
            // Sums of m ≤ 3136 terms in two orders: ≤ 2·m·1.1e-16 relative ≈ 7e-13.
            assert!((rstd[gi] - s).abs() <= 1e-12 * s, "rstd, m = {m}");
            let ys: Vec<f64> = xs.iter().map(|v| (v - mean) * s).collect();
            let g = &gy[gi * m..][..m];
            let mg = g.iter().sum::<f64>() / m as f64;
            let mgy = g.iter().zip(&ys).map(|(a, b)| a * b).sum::<f64>() / m as f64;
            for i in 0..m {
                // |x − mean|·s ≤ √m; errors of mean and s are ≤ 1e-12 relative: 1e-11 absolute.
                assert!((y[gi * m + i] - ys[i]).abs() <= 1e-11, "y, m = {m}");
                let want = s * (g[i] - mg - ys[i] * mgy);
                assert!((gx[gi * m + i] - want).abs() <= 1e-11 * s, "∂x, m = {m}");
            }
        }
    }
}

/// Matrix products of sizes around the tiles (rows not multiples of the tile, columns not
/// multiples of 16, every transpose), accumulating onto a non-zero c, against a triple loop.
#[test]
fn packed_products_match_the_triple_loop() {
    let mut scratch = Scratch::new();
    for &(m, k, n) in &[
        (32, 784, 10),
        (10, 32, 784),
        (33, 17, 31),
        (1, 1, 1),
        (9, 64, 16),
        (64, 3, 70),
    ] {
        for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
            let mut rng = ChaCha8Rng::seed_from_u64((m * 1000 + k * 10 + n) as u64);
            let (a, b, c0) = (
                uniform(&mut rng, m * k),
                uniform(&mut rng, k * n),
                uniform(&mut rng, m * n),
            );
            let mut c = c0.clone();
            kernels::gemm_acc_with(m, k, n, (&a, ta), (&b, tb), &mut c, &mut scratch);
            let opa = |i: usize, p: usize| if ta { a[p * m + i] } else { a[i * k + p] };
            let opb = |p: usize, j: usize| if tb { b[j * k + p] } else { b[p * n + j] };
            for i in 0..m {
                for j in 0..n {
                    let want: f64 =
                        c0[i * n + j] + (0..k).map(|p| opa(i, p) * opb(p, j)).sum::<f64>();
                    let scale: f64 = c0[i * n + j].abs()
                        + (0..k).map(|p| (opa(i, p) * opb(p, j)).abs()).sum::<f64>();
                    assert!(
                        (c[i * n + j] - want).abs() <= TOL * scale,
                        "{m}×{k}×{n} {ta} {tb}"
                    );
                }
            }
        }
    }
}

/// Negative control: the triple-loop comparison sees a product with the wrong transpose.
#[test]
fn product_comparison_detects_a_wrong_transpose() {
    let (m, k, n) = (5, 5, 5);
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let (a, b) = (uniform(&mut rng, m * k), uniform(&mut rng, k * n));
    let mut c = vec![0.0; m * n];
    kernels::gemm_acc_with(
        m,
        k,
        n,
        (&a, true),
        (&b, false),
        &mut c,
        &mut Scratch::new(),
    );
    let want: f64 = (0..k).map(|p| a[p] * b[p * n]).sum();
    assert!((c[0] - want).abs() > 1e-6, "a transposed a went unnoticed");
}

/// Reusing a tape (and its kernels' scratch buffers) on the paper's first block gives
/// bit-identical values and gradients (allocation counting is in tests/autodiff.rs).
#[test]
fn tape_reuse_is_bit_identical_on_paper_shapes() {
    let run = |t: &mut Tape<f32>| {
        t.reset();
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let g = geom(32, 1, 16, 8, 8, 3, &PLUS);
        let f = |v: Vec<f64>| v.into_iter().map(|a| a as f32).collect::<Vec<f32>>();
        let x = t.leaf(&[32, 1, 8, 8], &f(uniform(&mut rng, g.x_len())));
        let w = t.leaf(&[16, 1, 5], &f(uniform(&mut rng, g.w_len())));
        let y = t.conv2d(x, w, &g);
        let p = t.avg_pool2d(y, 2);
        let a = t.tanh(p);
        let l = t.layer_norm(a, 1, 1e-5);
        let l = t.reshape(l, &[32, 256]);
        let d = t.leaf(&[10, 256], &f(uniform(&mut rng, 2560)));
        let o = t.matmul(l, d, false, true);
        let labels: Vec<usize> = (0..32).map(|i| i % 10).collect();
        let loss = t.cross_entropy(o, &labels);
        t.backward(loss);
        (
            t.value(loss).to_vec(),
            t.grad(w).to_vec(),
            t.grad(d).to_vec(),
            t.grad(x).to_vec(),
        )
    };
    let mut t = Tape::new();
    let first = run(&mut t);
    let second = run(&mut t);
    assert_eq!(first, second);
}
