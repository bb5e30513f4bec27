//! Kernels against independent references: the convolution as a dense matrix, matmul as a
//! triple loop; and the adjoint identity ⟨Lx, y⟩ = ⟨x, Lᵀy⟩ for every linear tape op (the
//! backward pass is Lᵀ). Each property has a negative control.

use eqens::autodiff::kernels::{self, ConvGeom};
use eqens::autodiff::{Tape, Var};
use proptest::prelude::*;
use proptest::test_runner::Config;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

#[path = "support/conv_geometry.rs"]
mod conv_geometry;
use conv_geometry::{fixed_config, random_geom};

/// Relative tolerance of kernel-vs-reference and adjoint comparisons, against the scale
/// Σ |terms| (the sum of absolute values of every product entering the result).
///
/// Both sides are sums of products accumulated in different orders; a sum of n products in
/// f64 is within γ_n·Σ|terms| of the exact value, γ_n ≈ n·1.1e-16. The longest accumulation
/// chains here are n ≲ 500 (C_in·taps·N·H·W of the largest geometries), so each side is within
/// 5.5e-14·scale: 1e-12 bounds their difference with margin ~10×.
const TOL: f64 = 1e-12;

fn config(cases: u32) -> Config {
    fixed_config(cases, 0xe9e46)
}

/// `n` values uniform in [−1, 1).
fn uniform(rng: &mut ChaCha8Rng, n: usize) -> Vec<f64> {
    conv_geometry::uniform(rng, n, -1.0, 1.0)
}

fn abs(v: &[f64]) -> Vec<f64> {
    v.iter().map(|x| x.abs()).collect()
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// |a − b| ≤ TOL·scale entrywise, with `scale` the entrywise Σ|terms|.
fn close(a: &[f64], b: &[f64], scale: &[f64]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .zip(scale)
            .all(|((x, y), s)| (x - y).abs() <= TOL * s)
}

/// Random geometry: k ∈ {1, 3, 5}, random taps, order and paddings ([`random_geom`]).
fn geom_strategy() -> impl Strategy<Value = ConvGeom> {
    (
        (1usize..3, 1usize..4, 1usize..4, 1usize..7, 1usize..7),
        prop::sample::select(vec![1usize, 3, 5]),
        any::<u64>(),
    )
        .prop_map(|(sizes, k, seed)| random_geom(sizes, k, 1, seed))
}

/// The convolution of one image as a dense (C_out·H·W) × (C_in·H·W) matrix, built from the
/// full k×k filter bank F (zero off the support): M[(o,i,j), (c,i′,j′)] = F[o,c,r,s] where
/// (r, s) = (i′ − i + pad_top, j′ − j + pad_left) when inside the filter.
fn dense_conv(g: &ConvGeom, w: &[f64]) -> Vec<f64> {
    let (k, nt) = (g.k, g.taps.len());
    let mut full = vec![0.0; g.c_out * g.c_in * k * k];
    for o in 0..g.c_out {
        for c in 0..g.c_in {
            for (t, &(r, s)) in g.taps.iter().enumerate() {
                full[((o * g.c_in + c) * k + r) * k + s] += w[(o * g.c_in + c) * nt + t];
            }
        }
    }
    let (rows, cols) = (g.c_out * g.h * g.w, g.c_in * g.h * g.w);
    let mut m = vec![0.0; rows * cols];
    for o in 0..g.c_out {
        for i in 0..g.h {
            for j in 0..g.w {
                for c in 0..g.c_in {
                    for i2 in 0..g.h {
                        for j2 in 0..g.w {
                            let r = i2 as isize - i as isize + g.pad_top as isize;
                            let s = j2 as isize - j as isize + g.pad_left as isize;
                            if (0..k as isize).contains(&r) && (0..k as isize).contains(&s) {
                                let f = full[((o * g.c_in + c) * k + r as usize) * k + s as usize];
                                m[((o * g.h + i) * g.w + j) * cols + (c * g.h + i2) * g.w + j2] = f;
                            }
                        }
                    }
                }
            }
        }
    }
    m
}

/// y = M x for a rows×cols matrix.
fn matvec(m: &[f64], rows: usize, cols: usize, x: &[f64]) -> Vec<f64> {
    (0..rows).map(|r| dot(&m[r * cols..][..cols], x)).collect()
}

/// x = Mᵀ y.
fn matvec_t(m: &[f64], rows: usize, cols: usize, y: &[f64]) -> Vec<f64> {
    let mut x = vec![0.0; cols];
    for r in 0..rows {
        for c in 0..cols {
            x[c] += m[r * cols + c] * y[r];
        }
    }
    x
}

/// The dense reference applied image by image: y[n] = M x[n].
fn dense_apply(g: &ConvGeom, w: &[f64], x: &[f64]) -> Vec<f64> {
    let m = dense_conv(g, w);
    let (rows, cols) = (g.c_out * g.h * g.w, g.c_in * g.h * g.w);
    x.chunks(cols)
        .flat_map(|xn| matvec(&m, rows, cols, xn))
        .collect()
}

/// Forward, backward-input (accumulating) and backward-weight (accumulating) equal the
/// dense reference: M x, Mᵀ gy, and Σ_n gy[n]ᵀ (∂M/∂w_t) x[n] with ∂M/∂w_t the dense matrix
/// of the one-hot filter bank.
fn check_against_dense(g: &ConvGeom, seed: u64) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (x, w, gy) = (
        uniform(&mut rng, g.x_len()),
        uniform(&mut rng, g.w_len()),
        uniform(&mut rng, g.y_len()),
    );
    let (rows, cols) = (g.c_out * g.h * g.w, g.c_in * g.h * g.w);

    let mut y = vec![f64::NAN; g.y_len()];
    kernels::conv2d_forward(g, &x, &w, &mut y);
    let scale = dense_apply(g, &abs(&w), &abs(&x));
    assert!(close(&y, &dense_apply(g, &w, &x), &scale));

    let gx0 = uniform(&mut rng, g.x_len());
    let mut gx = gx0.clone();
    kernels::conv2d_backward_input(g, &gy, &w, &mut gx);
    let (m, m_abs) = (dense_conv(g, &w), dense_conv(g, &abs(&w)));
    let mut want = Vec::new();
    let mut scale = Vec::new();
    for n in 0..g.batch {
        let gyn = &gy[n * rows..][..rows];
        let back = matvec_t(&m, rows, cols, gyn);
        let back_abs = matvec_t(&m_abs, rows, cols, &abs(gyn));
        for c in 0..cols {
            want.push(gx0[n * cols + c] + back[c]);
            scale.push(gx0[n * cols + c].abs() + back_abs[c]);
        }
    }
    assert!(close(&gx, &want, &scale));

    let gw0 = uniform(&mut rng, g.w_len());
    let mut gw = gw0.clone();
    kernels::conv2d_backward_weight(g, &gy, &x, &mut gw);
    let mut want = gw0.clone();
    let mut scale = abs(&gw0);
    for idx in 0..g.w_len() {
        let mut onehot = vec![0.0; g.w_len()];
        onehot[idx] = 1.0;
        let e = dense_apply(g, &onehot, &x);
        let e_abs = dense_apply(g, &onehot, &abs(&x));
        want[idx] += dot(&gy, &e);
        scale[idx] += dot(&abs(&gy), &e_abs);
    }
    assert!(close(&gw, &want, &scale));
}

/// The three kernels in f32 on f64 data rounded to f32, against the same kernels in f64.
fn f32_and_f64_agree(g: &ConvGeom, seed: u64) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let round = |v: Vec<f64>| -> Vec<f64> { v.into_iter().map(|a| a as f32 as f64).collect() };
    let (x, w, gy) = (
        round(uniform(&mut rng, g.x_len())),
        round(uniform(&mut rng, g.w_len())),
        round(uniform(&mut rng, g.y_len())),
    );
    let single = |v: &[f64]| -> Vec<f32> { v.iter().map(|&a| a as f32).collect() };
    for (kernel, what, a, b) in [
        (Kernel::Forward, "forward", &x, &w),
        (Kernel::InputGrad, "input gradient", &gy, &w),
        (Kernel::WeightGrad, "weight gradient", &gy, &x),
    ] {
        let want = kernel.apply(g, a, b);
        let scale = kernel.apply(g, &abs(a), &abs(b));
        let got = kernel.apply(g, &single(a), &single(b));
        assert!(f32_agrees(&got, &want, &scale), "{what} {g:?}");
    }
}

/// f32 sums of at most C·T ≤ 16·9 products of entries ≤ 1, in the same order as f64: the
/// error is below (terms)·2⁻²⁴ of the scale Σ|terms| ≈ 1e-5 of it.
const F32_TOL: f64 = 1e-5;

/// |got − want| ≤ F32_TOL·(scale + 1) entrywise.
fn f32_agrees(got: &[f32], want: &[f64], scale: &[f64]) -> bool {
    got.len() == want.len()
        && got
            .iter()
            .zip(want)
            .zip(scale)
            .all(|((&u, &v), &s)| (u as f64 - v).abs() <= F32_TOL * (s + 1.0))
}

/// Control of `f32_agrees`: the f32 forward of a 4×4 batch-lane geometry agrees with f64,
/// and one output moved by 1e-3 (100× the tolerance) is seen.
#[test]
fn f32_agreement_detects_a_moved_output() {
    let g = random_geom((20, 3, 5, 4, 4), 3, 1, 9);
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let (x, w) = (uniform(&mut rng, g.x_len()), uniform(&mut rng, g.w_len()));
    let single = |v: &[f64]| -> Vec<f32> { v.iter().map(|&a| a as f32).collect() };
    let want = Kernel::Forward.apply(&g, &x, &w);
    let scale = Kernel::Forward.apply(&g, &abs(&x), &abs(&w));
    let mut got = Kernel::Forward.apply(&g, &single(&x), &single(&w));
    assert!(f32_agrees(&got, &want, &scale));
    got[g.y_len() / 2] += 1e-3;
    assert!(
        !f32_agrees(&got, &want, &scale),
        "control: a moved output is seen"
    );
}

/// One of the three convolution kernels.
#[derive(Clone, Copy)]
enum Kernel {
    Forward,
    InputGrad,
    WeightGrad,
}

impl Kernel {
    /// The kernel on its two operands ((x, w), (gy, w) or (gy, x)), into zeros.
    fn apply<T: eqens::Scalar>(self, g: &ConvGeom, a: &[T], b: &[T]) -> Vec<T> {
        match self {
            Kernel::Forward => {
                let mut y = vec![T::zero(); g.y_len()];
                kernels::conv2d_forward(g, a, b, &mut y);
                y
            }
            Kernel::InputGrad => {
                let mut gx = vec![T::zero(); g.x_len()];
                kernels::conv2d_backward_input(g, a, b, &mut gx);
                gx
            }
            Kernel::WeightGrad => {
                let mut gw = vec![T::zero(); g.w_len()];
                kernels::conv2d_backward_weight(g, a, b, &mut gw);
                gw
            }
        }
    }
}

/// Small stride-1 planes are computed with the samples in vector lanes (16 f32, 8 f64): on
/// batches of several lane blocks with a partial last one, and channel counts above the
/// register tiles, f64 equals the dense reference and f32 agrees with f64. (The random
/// geometries of `conv_matches_dense_matrix` have batches below one block.)
#[test]
fn conv_on_full_lane_blocks_matches_dense_matrix() {
    let cases = [
        ((35, 9, 17, 4, 4), 3),
        ((16, 16, 16, 2, 2), 3),
        ((19, 5, 12, 3, 5), 5),
        ((33, 16, 16, 4, 4), 1),
    ];
    for (i, (sizes, k)) in cases.into_iter().enumerate() {
        let g = random_geom(sizes, k, 1, i as u64);
        check_against_dense(&g, 40 + i as u64);
        f32_and_f64_agree(&g, 50 + i as u64);
    }
}

proptest! {
    #![proptest_config(config(32))]

    /// Forward, backward-input and backward-weight equal the dense reference
    /// ([`check_against_dense`]).
    #[test]
    fn conv_matches_dense_matrix(g in geom_strategy(), seed: u64) {
        check_against_dense(&g, seed);
    }

    /// gemm_acc equals the triple loop for every transpose combination, accumulating into c.
    #[test]
    fn gemm_matches_triple_loop(m in 1usize..6, k in 1usize..6, n in 1usize..6, ta: bool, tb: bool, seed: u64) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let (a, b, c0) = (uniform(&mut rng, m * k), uniform(&mut rng, k * n), uniform(&mut rng, m * n));
        let at = |i: usize, p: usize| if ta { a[p * m + i] } else { a[i * k + p] };
        let bt = |p: usize, j: usize| if tb { b[j * k + p] } else { b[p * n + j] };
        let mut c = c0.clone();
        kernels::gemm_acc(m, k, n, &a, ta, &b, tb, &mut c);
        for i in 0..m {
            for j in 0..n {
                let want = c0[i * n + j] + (0..k).map(|p| at(i, p) * bt(p, j)).sum::<f64>();
                let scale = c0[i * n + j].abs() + (0..k).map(|p| (at(i, p) * bt(p, j)).abs()).sum::<f64>();
                prop_assert!((c[i * n + j] - want).abs() <= TOL * scale);
            }
        }
    }
}

/// Negative control: the dense comparison notices an off-by-one padding and the flipped
/// (true convolution instead of cross-correlation) filter.
#[test]
fn dense_reference_detects_wrong_geometry() {
    let g = ConvGeom {
        batch: 1,
        c_in: 2,
        c_out: 2,
        h: 5,
        w: 4,
        k: 3,
        taps: vec![(0, 0), (0, 1), (1, 2), (2, 2)],
        pad_top: 1,
        pad_left: 2,
        stride: 1,
    };
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let (x, w) = (uniform(&mut rng, g.x_len()), uniform(&mut rng, g.w_len()));
    let mut y = vec![0.0; g.y_len()];
    kernels::conv2d_forward(&g, &x, &w, &mut y);
    let scale = dense_apply(&g, &abs(&w), &abs(&x));
    assert!(close(&y, &dense_apply(&g, &w, &x), &scale));
    let shifted = ConvGeom {
        pad_left: 1,
        stride: 1,
        ..g.clone()
    };
    assert!(!close(&y, &dense_apply(&shifted, &w, &x), &scale));
    let flipped = ConvGeom {
        taps: g.taps.iter().map(|&(r, s)| (2 - r, 2 - s)).collect(),
        ..g.clone()
    };
    assert!(!close(&y, &dense_apply(&flipped, &w, &x), &scale));
}

/// A linear map x ↦ L(x) on the tape; `abs` asks for the map with every fixed parameter
/// replaced by its absolute value (giving the Σ|terms| scale as ⟨|L| |x|, |y|⟩).
type Linear<'a> = &'a dyn Fn(&mut Tape<f64>, Var, bool) -> Var;

/// (⟨Lx, y⟩, ⟨x, Lᵀy⟩, scale) with Lᵀy taken from the tape's backward pass.
fn adjoint_pair(x_shape: &[usize], seed: u64, lin: Linear) -> (f64, f64, f64) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let x = uniform(&mut rng, x_shape.iter().product());
    let mut tape = Tape::new();
    let xv = tape.leaf(x_shape, &x);
    let lx = lin(&mut tape, xv, false);
    let y = uniform(&mut rng, tape.value(lx).len());
    let shape = tape.shape(lx).to_vec();
    let yv = tape.leaf(&shape, &y);
    let p = tape.mul(lx, yv);
    let s = tape.sum_all(p);
    tape.backward(s);
    let lhs = dot(tape.value(lx), &y);
    let rhs = dot(&x, tape.grad(xv));
    let mut abs_tape = Tape::new();
    let xa = abs_tape.leaf(x_shape, &abs(&x));
    let la = lin(&mut abs_tape, xa, true);
    let scale = dot(abs_tape.value(la), &abs(&y));
    (lhs, rhs, scale)
}

fn assert_adjoint(x_shape: &[usize], seed: u64, lin: Linear) {
    let (lhs, rhs, scale) = adjoint_pair(x_shape, seed, lin);
    assert!(
        (lhs - rhs).abs() <= TOL * scale,
        "⟨Lx, y⟩ = {lhs:e} but ⟨x, Lᵀy⟩ = {rhs:e} (scale {scale:e}) for x {x_shape:?}"
    );
}

/// A fixed random parameter leaf (absolute values when `abs`).
fn param(tape: &mut Tape<f64>, shape: &[usize], seed: u64, take_abs: bool) -> Var {
    let v = uniform(&mut ChaCha8Rng::seed_from_u64(seed), shape.iter().product());
    let v = if take_abs { abs(&v) } else { v };
    tape.leaf(shape, &v)
}

proptest! {
    #![proptest_config(config(32))]

    #[test]
    fn matmul_is_adjoint_in_each_argument(m in 1usize..6, k in 1usize..6, n in 1usize..6, ta: bool, tb: bool, seed: u64) {
        let sa = if ta { vec![k, m] } else { vec![m, k] };
        let sb = if tb { vec![n, k] } else { vec![k, n] };
        let sb2 = sb.clone();
        assert_adjoint(&sa, seed, &|t, x, ab| {
            let b = param(t, &sb2, seed ^ 1, ab);
            t.matmul(x, b, ta, tb)
        });
        assert_adjoint(&sb, seed, &|t, x, ab| {
            let a = param(t, &sa, seed ^ 2, ab);
            t.matmul(a, x, ta, tb)
        });
    }

    #[test]
    fn conv_is_adjoint_in_x_and_w(g in geom_strategy(), seed: u64) {
        let (sx, sw) = ([g.batch, g.c_in, g.h, g.w], [g.c_out, g.c_in, g.taps.len()]);
        assert_adjoint(&sx, seed, &|t, x, ab| {
            let w = param(t, &sw, seed ^ 1, ab);
            t.conv2d(x, w, &g)
        });
        assert_adjoint(&sw, seed, &|t, w, ab| {
            let x = param(t, &sx, seed ^ 2, ab);
            t.conv2d(x, w, &g)
        });
    }

    #[test]
    fn pool_reshape_sum_scale_are_adjoint(n in 1usize..3, c in 1usize..3, h in 1usize..8, w in 1usize..8, k in 1usize..4, axis in 0usize..4, s in -3.0f64..3.0, seed: u64) {
        let sx = [n, c, h, w];
        assert_adjoint(&sx, seed, &|t, x, _| t.avg_pool2d(x, k));
        assert_adjoint(&sx, seed, &|t, x, _| t.reshape(x, &[n, c * h * w]));
        assert_adjoint(&sx, seed, &|t, x, _| t.sum_axis(x, axis));
        assert_adjoint(&sx, seed, &|t, x, _| t.mean_axis(x, axis));
        assert_adjoint(&sx, seed, &|t, x, ab| t.scale(x, if ab { s.abs() } else { s }));
    }
}

/// Negative control: an adjoint with an off-by-one padding, and a pooling backward missing
/// its 1/k², both break ⟨Lx, y⟩ = ⟨x, Lᵀy⟩ by far more than the tolerance.
#[test]
fn adjoint_identity_detects_wrong_transposes() {
    let g = ConvGeom {
        batch: 2,
        c_in: 2,
        c_out: 3,
        h: 5,
        w: 6,
        k: 3,
        taps: ConvGeom::full_taps(3),
        pad_top: 1,
        pad_left: 1,
        stride: 1,
    };
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let (x, w, y) = (
        uniform(&mut rng, g.x_len()),
        uniform(&mut rng, g.w_len()),
        uniform(&mut rng, g.y_len()),
    );
    let mut lx = vec![0.0; g.y_len()];
    kernels::conv2d_forward(&g, &x, &w, &mut lx);
    let mut lx_abs = vec![0.0; g.y_len()];
    kernels::conv2d_forward(&g, &abs(&x), &abs(&w), &mut lx_abs);
    let scale = dot(&lx_abs, &abs(&y));
    let adjoint_gap = |geom: &ConvGeom| {
        let mut lty = vec![0.0; g.x_len()];
        kernels::conv2d_backward_input(geom, &y, &w, &mut lty);
        (dot(&lx, &y) - dot(&x, &lty)).abs()
    };
    assert!(adjoint_gap(&g) <= TOL * scale);
    assert!(
        adjoint_gap(&ConvGeom {
            pad_left: 2,
            stride: 1,
            ..g.clone()
        }) > 1e3 * TOL * scale
    );

    let (planes, h, wd, k) = (3, 5, 7, 2);
    let xp = uniform(&mut rng, planes * h * wd);
    let yp = uniform(&mut rng, planes * (h / k) * (wd / k));
    let mut px = vec![0.0; yp.len()];
    kernels::avg_pool2d_forward(planes, h, wd, k, &xp, &mut px);
    let mut pty = vec![0.0; xp.len()];
    kernels::avg_pool2d_backward(planes, h, wd, k, &yp, &mut pty);
    let scale = dot(&abs(&xp), &abs(&pty));
    assert!((dot(&px, &yp) - dot(&xp, &pty)).abs() <= TOL * scale);
    let wrong: Vec<f64> = pty.iter().map(|v| v * (k * k) as f64).collect();
    assert!((dot(&px, &yp) - dot(&xp, &wrong)).abs() > 1e3 * TOL * scale);
}

/// User-facing validation: a tap outside the k×k filter is an error, not a panic.
#[test]
fn geometry_validation_rejects_bad_taps() {
    let mut g = ConvGeom {
        batch: 1,
        c_in: 1,
        c_out: 1,
        h: 3,
        w: 3,
        k: 3,
        taps: vec![(0, 0), (2, 2)],
        pad_top: 1,
        pad_left: 1,
        stride: 1,
    };
    assert!(g.validate().is_ok());
    g.taps.push((3, 0));
    assert!(g.validate().is_err());
    g.k = 0;
    g.taps.clear();
    assert!(g.validate().is_err());
}
