//! The strided convolution (σ > 1) and the network's fusion of a convolution with the
//! average pooling after it: the kernel against the direct formula and its adjoints, and the
//! fused network against the same network evaluated layer by layer without fusion. Each
//! property has a negative control.

use eqens::autodiff::kernels::{self, ConvGeom};
use eqens::autodiff::Tape;
use eqens::nn::{LayerSpec, Network, PaperBasis, Support, Target, LAYER_NORM_EPS};
use proptest::prelude::*;
use proptest::test_runner::Config;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

#[path = "support/conv_geometry.rs"]
mod conv_geometry;
use conv_geometry::{fixed_config, random_geom};

/// Relative tolerance against the scale Σ|terms| of each entry: both sides are f64 sums of
/// at most C_in·|taps|·N·H·W ≤ 3·25·3·144 ≈ 1.1e4 products in different orders, each within
/// γ_n·Σ|terms| ≈ 1.2e-12·Σ|terms| of the exact value in the worst case; 1e-11 bounds their
/// difference (the typical error is √n-fold smaller).
const TOL: f64 = 1e-11;

fn config(cases: u32) -> Config {
    fixed_config(cases, 0x57_21de)
}

/// `n` values uniform in [−1, 1).
fn uniform(rng: &mut ChaCha8Rng, n: usize) -> Vec<f64> {
    conv_geometry::uniform(rng, n, -1.0, 1.0)
}

fn close(a: &[f64], b: &[f64], scale: &[f64]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .zip(scale)
            .all(|((x, y), s)| (x - y).abs() <= TOL * s)
}

/// Random strided geometry: σ ∈ {2, 3}, grids of 1..=4 blocks of σ×σ per side, k ∈ {1, 3, 5},
/// a random subset of the taps in random order, paddings 0..=k. Input planes of 4..=144
/// pixels against 1..=25 taps, so both the dense and the gathered formulation occur.
fn strided_geom() -> impl Strategy<Value = ConvGeom> {
    (
        (1usize..4, 1usize..4, 1usize..4, 1usize..5, 1usize..5),
        prop::sample::select(vec![2usize, 3]),
        prop::sample::select(vec![1usize, 3, 5]),
        any::<u64>(),
    )
        .prop_map(|((batch, c_in, c_out, bh, bw), stride, k, seed)| {
            random_geom(
                (batch, c_in, c_out, bh * stride, bw * stride),
                k,
                stride,
                seed,
            )
        })
}

/// Calls f(y index, x index, w index) for every product of the direct formula
/// y[n,o,i,j] += w[o,c,t]·x[n,c, σi + r_t − pad_top, σj + s_t − pad_left].
fn for_each_term(g: &ConvGeom, mut f: impl FnMut(usize, usize, usize)) {
    let (ho, wo, nt) = (g.out_h(), g.out_w(), g.taps.len());
    for n in 0..g.batch {
        for o in 0..g.c_out {
            for i in 0..ho {
                for j in 0..wo {
                    for c in 0..g.c_in {
                        for (t, &(r, s)) in g.taps.iter().enumerate() {
                            let a = (g.stride * i + r) as isize - g.pad_top as isize;
                            let b = (g.stride * j + s) as isize - g.pad_left as isize;
                            if (0..g.h as isize).contains(&a) && (0..g.w as isize).contains(&b) {
                                let yi = ((n * g.c_out + o) * ho + i) * wo + j;
                                let xi = ((n * g.c_in + c) * g.h + a as usize) * g.w + b as usize;
                                f(yi, xi, (o * g.c_in + c) * nt + t);
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The direct formula, with each entry's scale Σ|terms|: (y, scale).
fn reference_forward(g: &ConvGeom, x: &[f64], w: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let (mut y, mut scale) = (vec![0.0; g.y_len()], vec![0.0; g.y_len()]);
    for_each_term(g, |yi, xi, wi| {
        y[yi] += w[wi] * x[xi];
        scale[yi] += (w[wi] * x[xi]).abs();
    });
    (y, scale)
}

/// The adjoints of the direct formula: (gx, gx scale, gw, gw scale).
fn reference_backward(
    g: &ConvGeom,
    gy: &[f64],
    x: &[f64],
    w: &[f64],
) -> (Vec<f64>, Vec<f64>, Vec<f64>, Vec<f64>) {
    let (mut gx, mut sx) = (vec![0.0; g.x_len()], vec![0.0; g.x_len()]);
    let (mut gw, mut sw) = (vec![0.0; g.w_len()], vec![0.0; g.w_len()]);
    for_each_term(g, |yi, xi, wi| {
        gx[xi] += w[wi] * gy[yi];
        sx[xi] += (w[wi] * gy[yi]).abs();
        gw[wi] += x[xi] * gy[yi];
        sw[wi] += (x[xi] * gy[yi]).abs();
    });
    (gx, sx, gw, sw)
}

fn random_case(g: &ConvGeom, seed: u64) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (
        uniform(&mut rng, g.x_len()),
        uniform(&mut rng, g.w_len()),
        uniform(&mut rng, g.y_len()),
    )
}

proptest! {
    #![proptest_config(config(96))]

    /// Forward and both adjoints of the strided kernel equal the direct formula, and the
    /// weight gradient does not depend on whether the input gradient is wanted.
    #[test]
    fn strided_kernel_matches_the_direct_formula(g in strided_geom(), seed in any::<u64>()) {
        let (x, w, gy) = random_case(&g, seed);
        let mut y = vec![f64::NAN; g.y_len()];
        kernels::conv2d_forward(&g, &x, &w, &mut y);
        let (want, scale) = reference_forward(&g, &x, &w);
        prop_assert!(close(&y, &want, &scale), "forward differs for {g:?}");

        let (want_gx, sx, want_gw, sw) = reference_backward(&g, &gy, &x, &w);
        let (mut gx, mut gw) = (vec![0.0; g.x_len()], vec![0.0; g.w_len()]);
        let s = &mut kernels::Scratch::new();
        kernels::conv2d_backward_with(&g, &gy, &x, &w, Some(&mut gx), Some(&mut gw), s);
        prop_assert!(close(&gx, &want_gx, &sx), "input gradient differs for {g:?}");
        prop_assert!(close(&gw, &want_gw, &sw), "weight gradient differs for {g:?}");

        let mut gw_alone = vec![0.0; g.w_len()];
        kernels::conv2d_backward_with(&g, &gy, &x, &w, None, Some(&mut gw_alone), s);
        prop_assert_eq!(gw_alone, gw);
    }
}

/// A 3×3 "same" convolution at stride 2 on 6×6 grids.
fn six_by_six_stride_2(batch: usize, c_in: usize, c_out: usize) -> ConvGeom {
    ConvGeom {
        batch,
        c_in,
        c_out,
        h: 6,
        w: 6,
        k: 3,
        taps: ConvGeom::full_taps(3),
        pad_top: 1,
        pad_left: 1,
        stride: 2,
    }
}

/// Negative control: the comparison sees a wrong stride (the same geometry at σ = 1 reads
/// other pixels) and a wrong weight.
#[test]
fn control_the_comparison_sees_a_wrong_stride_or_weight() {
    let g = six_by_six_stride_2(2, 2, 3);
    let (x, w, _) = random_case(&g, 7);
    let (want, scale) = reference_forward(&g, &x, &w);
    let mut y = vec![0.0; g.y_len()];
    kernels::conv2d_forward(&g, &x, &w, &mut y);
    assert!(close(&y, &want, &scale));

    let unstrided = ConvGeom {
        stride: 1,
        ..g.clone()
    };
    let mut full = vec![0.0; unstrided.y_len()];
    kernels::conv2d_forward(&unstrided, &x, &w, &mut full);
    assert!(!close(&full[..g.y_len()], &want, &scale));

    let mut w2 = w.clone();
    w2[5] += 1e-6;
    kernels::conv2d_forward(&g, &x, &w2, &mut y);
    assert!(!close(&y, &want, &scale));
}

/// A stride must be positive and split the grid into whole blocks.
#[test]
fn strides_that_do_not_split_the_grid_are_rejected() {
    let g = six_by_six_stride_2(1, 1, 1);
    assert!(g.validate().is_ok());
    let odd = ConvGeom { h: 7, ..g.clone() };
    let err = odd.validate().unwrap_err().to_string();
    assert!(err.contains("7×6") && err.contains("stride 2"), "{err}");
    let zero = ConvGeom { stride: 0, ..g };
    assert!(zero.validate().unwrap_err().to_string().contains("stride"));
}

/// The network evaluated layer by layer on a tape, without fusion: every convolution at
/// stride 1 on the full k×k filter (its ambient weights A_i), pooling as its own op.
/// `pool_scale` multiplies each pooled output (1 for the network itself; the negative
/// control uses another value).
fn unfused_outputs(net: &Network, theta: &[f64], x: &[f64], n: usize, pool_scale: f64) -> Vec<f64> {
    let mut tape = Tape::<f64>::new();
    let mut shape = vec![n];
    shape.extend_from_slice(net.input_shape());
    let mut h = tape.constant(&shape, x);
    let ambient = net.ambient_weights(theta);
    let mut maps = ambient.iter();
    for layer in net.layers() {
        h = match &layer.spec {
            LayerSpec::Conv2d {
                out_channels,
                kernel,
                padding,
                ..
            } => {
                let (c_in, k) = (layer.in_shape[0], *kernel);
                let geom = ConvGeom {
                    batch: n,
                    c_in,
                    c_out: *out_channels,
                    h: layer.in_shape[1],
                    w: layer.in_shape[2],
                    k,
                    taps: ConvGeom::full_taps(k),
                    pad_top: padding.top,
                    pad_left: padding.left,
                    stride: 1,
                };
                let a = maps.next().expect("one ambient map per convolution");
                let wv = tape.constant(&[*out_channels, c_in, k * k], a);
                tape.conv2d(h, wv, &geom)
            }
            LayerSpec::AvgPool2d(p) => {
                let pooled = tape.avg_pool2d(h, *p);
                tape.scale(pooled, pool_scale)
            }
            LayerSpec::Tanh => tape.tanh(h),
            LayerSpec::LayerNorm => tape.layer_norm(h, 1, LAYER_NORM_EPS),
            LayerSpec::Flatten => tape.reshape(h, &[n, layer.out_shape[0]]),
            LayerSpec::Dense { out, .. } => {
                let a = maps.next().expect("one ambient map per dense layer");
                let wv = tape.constant(&[*out, layer.in_shape[0]], a);
                tape.matmul(h, wv, false, true)
            }
            other => panic!("unexpected layer {other:?} in the paper network"),
        };
    }
    tape.value(h).to_vec()
}

/// (network, θ, inputs) for the paper network with `support` on side×side images.
fn paper_case(
    side: usize,
    support: &Support,
    n: usize,
    seed: u64,
) -> (Network, Vec<f64>, Vec<f64>) {
    let net = Network::paper(side, support, PaperBasis::Orthonormal).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let theta = uniform(&mut rng, net.num_params());
    let x = uniform(&mut rng, n * net.input_dim());
    (net, theta, x)
}

/// Outputs of the fused network (28×28: both pooled convolutions fused; 8×8, plus and full
/// 3×3 filters: the first) against the unfused evaluation. Tolerance: the logits are O(1)
/// (layer-normalised features times O(1) weights) and both sides differ only by the
/// round-off of sums of at most 16·16 products per convolution output, passed through tanh
/// (1-Lipschitz), layer norm and further sums; 1e-11 absolute leaves two orders of
/// magnitude over the observed ~1e-14.
#[test]
fn fused_network_equals_the_layer_by_layer_evaluation() {
    for (side, support, n) in [
        (8, Support::plus(), 5),
        (8, Support::full(3), 5),
        (28, Support::plus(), 2),
    ] {
        let (net, theta, x) = paper_case(side, &support, n, side as u64);
        assert_eq!(
            net.fused_pool(0),
            2,
            "{side}×{side}: the first convolution is fused"
        );
        let fused = net.predict(&mut Tape::<f64>::new(), &theta, &x, n).unwrap();
        let max_gap = |other: &[f64]| {
            fused
                .iter()
                .zip(other)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f64::max)
        };
        let gap = max_gap(&unfused_outputs(&net, &theta, &x, n, 1.0));
        assert!(
            gap <= 1e-11,
            "{side}×{side}: fused and unfused differ by {gap:e}"
        );
        // Negative control: a pooling that sums instead of averaging is seen.
        let off = max_gap(&unfused_outputs(&net, &theta, &x, n, 4.0));
        assert!(
            off > 1e-3,
            "{side}×{side}: the control was not seen ({off:e})"
        );
    }
}

/// ∇_θ of the fused 28×28 network against central differences on coordinates of every
/// layer. Step 1e-5: truncation O(h²·f‴) ≈ 1e-10 and cancellation O(ε/h) ≈ 1e-11 for an O(1)
/// loss, so 1e-7 (relative to max(1, |g|)) bounds the difference with margin.
#[test]
fn fused_network_gradient_matches_finite_differences() {
    let n = 2;
    let (net, theta, x) = paper_case(28, &Support::plus(), n, 3);
    let labels = [3usize, 7];
    let mut tape = Tape::<f64>::new();
    let mut grad = vec![0.0; net.num_params()];
    net.loss_and_grad(&mut tape, &theta, &x, n, Target::Labels(&labels), &mut grad)
        .unwrap();
    let loss = |t: &[f64]| {
        let mut g = vec![0.0; t.len()];
        net.loss_and_grad(&mut Tape::new(), t, &x, n, Target::Labels(&labels), &mut g)
            .unwrap()
    };
    let h = 1e-5;
    let coords: Vec<usize> = net
        .layers()
        .iter()
        .filter(|l| !l.theta.is_empty())
        .flat_map(|l| [l.theta.start, l.theta.start + 3, l.theta.end - 1])
        .collect();
    assert_eq!(
        coords.len(),
        12,
        "three coordinates in each of the four linear layers"
    );
    for &i in &coords {
        let (mut up, mut down) = (theta.clone(), theta.clone());
        up[i] += h;
        down[i] -= h;
        let fd = (loss(&up) - loss(&down)) / (2.0 * h);
        assert!(
            (fd - grad[i]).abs() <= 1e-7 * grad[i].abs().max(1.0),
            "θ[{i}]: backward {} against central difference {fd}",
            grad[i]
        );
    }
    // Negative control: a wrong gradient entry would be seen.
    let i = coords[0];
    let fd = {
        let (mut up, mut down) = (theta.clone(), theta.clone());
        up[i] += h;
        down[i] -= h;
        (loss(&up) - loss(&down)) / (2.0 * h)
    };
    let wrong = grad[i] * 1.01 + 1e-3;
    assert!((fd - wrong).abs() > 1e-7 * wrong.abs().max(1.0));
}
