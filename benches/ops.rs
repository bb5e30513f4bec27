//! Per-op profile of one training step: each kernel of the paper network's forward and
//! backward, called directly on the shapes of a batch-32 step and timed in isolation
//! (median of repeated runs), next to the whole `loss_and_grad`. Convolutions run on the
//! geometry the network uses (`Network::conv_geometry`: a convolution and the average
//! pooling after it as one strided convolution where the network fuses them), the first
//! without input gradient (the input is a constant). Prints one table per
//! network and scalar; the difference between the sum of the ops and the whole step is the
//! tape's own overhead (node bookkeeping, zero-filling, copies of leaves and reshapes).
//!
//! Run: `cargo bench --bench ops` (optionally `-- 8` or `-- 28` to pick a network).

mod common;

use common::*;
use eqens::autodiff::kernels::{self, Scratch};
use eqens::autodiff::Tape;
use eqens::nn::{LayerSpec, Target, LAYER_NORM_EPS};
use eqens::Scalar;
use std::hint::black_box;
use std::time::Instant;

/// Seconds per call of `f`: the minimum over `reps` timed runs of `inner` calls each (the
/// minimum is robust to preemption on a shared machine).
fn time(reps: usize, inner: usize, mut f: impl FnMut()) -> f64 {
    for _ in 0..inner {
        f();
    }
    let mut t: Vec<f64> = (0..reps)
        .map(|_| {
            let s = Instant::now();
            for _ in 0..inner {
                f();
            }
            s.elapsed().as_secs_f64() / inner as f64
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[0]
}

fn rand_vec<T: Scalar>(n: usize, seed: u64) -> Vec<T> {
    use rand::{RngExt, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    (0..n).map(|_| T::of(rng.random::<f64>() - 0.5)).collect()
}

/// Timings in seconds of one layer's forward and backward kernels on a batch of `n`,
/// with the row name; `None` for a layer that runs no kernel of its own (a pooling fused
/// into the convolution before it, or a kind the profile does not time).
fn time_layer<T: Scalar>(
    net: &eqens::nn::Network,
    i: usize,
    n: usize,
    (reps, inner): (usize, usize),
    scratch: &mut Scratch<T>,
) -> Option<(String, f64, f64)> {
    let layer = &net.layers()[i];
    let in_len = n * layer.in_shape.iter().product::<usize>();
    let out_len = n * layer.out_shape.iter().product::<usize>();
    let x = rand_vec::<T>(in_len, 10 + i as u64);
    let gy = rand_vec::<T>(out_len, 20 + i as u64);
    let mut y = vec![T::zero(); out_len];
    let mut gx = vec![T::zero(); in_len];
    let mut name = format!("{i:>2} {}", layer.spec.kind());
    let (fwd, bwd) = match &layer.spec {
        LayerSpec::Conv2d { .. } => {
            // The geometry the forward pass runs (stride p when the pooling after it is
            // fused), and no input gradient for the first layer (the input is a constant).
            let g = net.conv_geometry(i, n).expect("a convolution");
            let out_len = g.y_len();
            let mut y = vec![T::zero(); out_len];
            let gy = rand_vec::<T>(out_len, 20 + i as u64);
            let w = rand_vec::<T>(g.w_len(), 30 + i as u64);
            let mut gw = vec![T::zero(); g.w_len()];
            let f = time(reps, inner, || {
                kernels::conv2d_forward_with(&g, &x, &w, &mut y, scratch)
            });
            let b = time(reps, inner, || {
                kernels::conv2d_backward_with(
                    &g,
                    &gy,
                    &x,
                    &w,
                    (i > 0).then_some(&mut gx[..]),
                    Some(&mut gw),
                    scratch,
                )
            });
            if g.stride > 1 {
                name = format!("{i:>2} conv2d+avgpool{}", g.stride);
            }
            (f, b)
        }
        // Fused into the convolution before it.
        LayerSpec::AvgPool2d(_) if i > 0 && net.fused_pool(i - 1) > 1 => return None,
        LayerSpec::AvgPool2d(k) => {
            let (c, h, w) = (layer.in_shape[0], layer.in_shape[1], layer.in_shape[2]);
            let f = time(reps, inner, || {
                kernels::avg_pool2d_forward(n * c, h, w, *k, &x, &mut y)
            });
            let b = time(reps, inner, || {
                kernels::avg_pool2d_backward(n * c, h, w, *k, &gy, &mut gx)
            });
            (f, b)
        }
        LayerSpec::Tanh => {
            let f = time(reps, inner, || kernels::tanh_forward(&x, &mut y));
            let b = time(reps, inner, || kernels::tanh_backward(&gy, &x, &mut gx));
            (f, b)
        }
        LayerSpec::LayerNorm => {
            let m = in_len / n;
            let mut rstd = vec![T::zero(); n];
            let eps = T::of(LAYER_NORM_EPS);
            let f = time(reps, inner, || {
                kernels::layer_norm_forward(&x, m, eps, &mut y, &mut rstd)
            });
            let b = time(reps, inner, || {
                kernels::layer_norm_backward(&gy, &x, &rstd, m, &mut gx)
            });
            (f, b)
        }
        LayerSpec::Dense { out, .. } => {
            let d = layer.in_shape[0];
            let w = rand_vec::<T>(out * d, 40);
            let mut gw = vec![T::zero(); out * d];
            let f = time(reps, inner, || {
                y.fill(T::zero());
                kernels::gemm_acc_with(n, d, *out, (&x, false), (&w, true), &mut y, scratch)
            });
            let b = time(reps, inner, || {
                kernels::gemm_acc_with(n, *out, d, (&gy, false), (&w, false), &mut gx, scratch);
                kernels::gemm_acc_with(*out, n, d, (&gy, true), (&x, false), &mut gw, scratch);
            });
            (f, b)
        }
        LayerSpec::Flatten => {
            let f = time(reps, inner, || y.copy_from_slice(&x));
            let b = time(reps, inner, || {
                for (g, &v) in gx.iter_mut().zip(&gy) {
                    *g += v;
                }
            });
            (f, b)
        }
        _ => return None,
    };
    black_box((&y, &gx));
    Some((name, fwd, bwd))
}

/// Timings of the cross-entropy loss on random logits.
fn time_loss<T: Scalar>(k: usize, n: usize, (reps, inner): (usize, usize)) -> (String, f64, f64) {
    let logits = rand_vec::<T>(n * k, 50);
    let labels: Vec<usize> = (0..n).map(|i| i % k).collect();
    let mut probs = vec![T::zero(); n * k];
    let mut gl = vec![T::zero(); n * k];
    let f = time(reps, inner, || {
        black_box(kernels::cross_entropy_forward(
            &logits, k, &labels, &mut probs,
        ));
    });
    let b = time(reps, inner, || {
        kernels::cross_entropy_backward(T::one(), &probs, k, &labels, &mut gl)
    });
    ("   cross-entropy".into(), f, b)
}

fn profile<T: Scalar>(side: usize) {
    let gnet = paper_gnet(side);
    let net = gnet.network();
    let n = BATCH;
    // EQENS_OPS_QUICK=1: a few runs only (for callgrind or perf).
    let quick = std::env::var_os("EQENS_OPS_QUICK").is_some();
    let (reps, inner) = match (quick, side) {
        (true, _) => (2, 1),
        (false, 8) => (200, 4),
        (false, _) => (100, 1),
    };
    let mut rows: Vec<(String, f64, f64)> = Vec::new();
    let mut scratch = Scratch::<T>::new();
    let timing = (reps, inner);
    for i in 0..net.layers().len() {
        rows.extend(time_layer::<T>(net, i, n, timing, &mut scratch));
    }
    rows.push(time_loss::<T>(net.output_dim(), n, timing));

    // The whole step through the tape.
    let (x, labels) = synthetic_data::<T>(&gnet, n, 1);
    let theta = initial_theta::<T>(&gnet, 2);
    let mut tape = Tape::<T>::new();
    let mut grad = vec![T::zero(); net.num_params()];
    let whole = time(reps, inner, || {
        black_box(
            net.loss_and_grad(&mut tape, &theta, &x, n, Target::Labels(&labels), &mut grad)
                .unwrap(),
        );
    });

    print_profile::<T>(side, n, &rows, whole, step_flops(net, n));
}

/// Prints one profile table: each op's share of the whole step and the tape's rest.
fn print_profile<T: Scalar>(
    side: usize,
    n: usize,
    rows: &[(String, f64, f64)],
    whole: f64,
    flops: f64,
) {
    let name = if std::mem::size_of::<T>() == 4 {
        "f32"
    } else {
        "f64"
    };
    println!(
        "\n{side}×{side} paper network, {name}, batch {n}: one loss_and_grad = {:.1} µs",
        whole * 1e6
    );
    println!(
        "{:<22} {:>10} {:>10} {:>8}",
        "op", "fwd µs", "bwd µs", "% step"
    );
    let mut sum = 0.0;
    for (name, f, b) in rows {
        sum += f + b;
        println!(
            "{:<22} {:>10.2} {:>10.2} {:>7.1}%",
            name,
            f * 1e6,
            b * 1e6,
            100.0 * (f + b) / whole
        );
    }
    println!(
        "{:<22} {:>21.2} {:>7.1}%",
        "tape overhead (rest)",
        (whole - sum) * 1e6,
        100.0 * (whole - sum) / whole
    );
    println!("useful GFLOP/s of the step: {:.2}", flops / whole * 1e-9);
}

fn main() {
    common::announce_simd_level();
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let sides: Vec<usize> = if args.is_empty() {
        vec![8, 28]
    } else {
        args.iter().filter_map(|a| a.parse().ok()).collect()
    };
    for side in sides {
        profile::<f32>(side);
        profile::<f64>(side);
    }
}
