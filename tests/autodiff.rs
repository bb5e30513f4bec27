//! Tape behaviour: fan-out accumulation, closed-form gradients, reset-and-reuse without
//! allocation (counted by a global allocator), f32 against f64, and the tape's contracts.

use eqens::autodiff::{ConvGeom, Op, Tape, Var};
use eqens::Scalar;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

// ---------------------------------------------------------------------------------------------
// Allocation counter: counts allocations of the current thread while a window is open.

struct CountingAlloc;

thread_local! {
    /// `Some(n)` while counting on this thread: n allocations so far.
    static ALLOCS: Cell<Option<usize>> = const { Cell::new(None) };
}

fn bump() {
    let _ = ALLOCS.try_with(|c| {
        if let Some(n) = c.get() {
            c.set(Some(n + 1));
        }
    });
}

unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        bump();
        System.alloc(layout)
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        bump();
        System.alloc_zeroed(layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        bump();
        System.realloc(ptr, layout, new_size)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
}

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

/// Runs `f` and returns how many allocations (including reallocations) it made on this thread.
fn count_allocs(f: impl FnOnce()) -> usize {
    ALLOCS.with(|c| c.set(Some(0)));
    f();
    ALLOCS.with(|c| c.replace(None)).unwrap()
}

// ---------------------------------------------------------------------------------------------
// A composite computation touching every op.

fn uniform(rng: &mut ChaCha8Rng, n: usize) -> Vec<f64> {
    (0..n).map(|_| rng.random_range(-1.0..1.0)).collect()
}

/// Inputs of [`composite`], in f64.
struct Inputs {
    x: Vec<f64>,
    w_conv: Vec<f64>,
    bias: Vec<f64>,
    w_dense: Vec<f64>,
    target: Vec<f64>,
}

const LABELS: [usize; 2] = [1, 3];

fn geom(batch: usize) -> ConvGeom {
    // 5×5 grid (odd: pooling drops the last row and column), 3×3 filter on 7 taps,
    // asymmetric padding.
    ConvGeom {
        batch,
        c_in: 1,
        c_out: 3,
        h: 5,
        w: 5,
        k: 3,
        taps: vec![(0, 0), (0, 1), (1, 0), (1, 1), (1, 2), (2, 1), (2, 2)],
        pad_top: 1,
        pad_left: 2,
        stride: 1,
    }
}

fn inputs(seed: u64, batch: usize) -> Inputs {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    Inputs {
        x: uniform(&mut rng, batch * 25),
        w_conv: uniform(&mut rng, 3 * 7),
        bias: uniform(&mut rng, 12),
        w_dense: uniform(&mut rng, 4 * 12),
        target: uniform(&mut rng, batch * 4),
    }
}

/// Converted copies of the inputs, made before any counting window.
struct Leaves<T> {
    x: Vec<T>,
    w_conv: Vec<T>,
    bias: Vec<T>,
    w_dense: Vec<T>,
    target: Vec<T>,
}

fn convert<T: Scalar>(i: &Inputs) -> Leaves<T> {
    let c = |v: &[f64]| v.iter().map(|&a| T::of(a)).collect();
    Leaves {
        x: c(&i.x),
        w_conv: c(&i.w_conv),
        bias: c(&i.bias),
        w_dense: c(&i.w_dense),
        target: c(&i.target),
    }
}

/// conv → pool → tanh → layer norm → flatten → +bias → relu → dense → {CE, softmax/MSE,
/// log-softmax}, plus attention over the normalised features with mean/sum reductions and a
/// squared difference. Every created node is recorded in `vars` (its capacity is reused);
/// the first five are the leaves. Returns the scalar loss.
fn composite<T: Scalar>(t: &mut Tape<T>, l: &Leaves<T>, g: &ConvGeom, vars: &mut Vec<Var>) -> Var {
    let b = g.batch;
    vars.clear();
    let rec = |v: Var, vars: &mut Vec<Var>| {
        vars.push(v);
        v
    };
    let x = rec(t.leaf(&[b, 1, 5, 5], &l.x), vars);
    let wc = rec(t.leaf(&[3, 1, 7], &l.w_conv), vars);
    let bias = rec(t.leaf(&[12], &l.bias), vars);
    let wd = rec(t.leaf(&[4, 12], &l.w_dense), vars);
    let target = rec(t.leaf(&[b, 4], &l.target), vars);
    let y = rec(t.conv2d(x, wc, g), vars);
    let p = rec(t.avg_pool2d(y, 2), vars);
    let a = rec(t.tanh(p), vars);
    let ln = rec(t.layer_norm(a, 1, T::of(1e-5)), vars);
    let flat = rec(t.reshape(ln, &[b, 12]), vars);
    let shifted = rec(t.add(flat, bias), vars);
    let r = rec(t.relu(shifted), vars);
    let logits = rec(t.matmul(r, wd, false, true), vars);
    let ce = rec(t.cross_entropy(logits, &LABELS[..b]), vars);
    let sm = rec(t.softmax(logits), vars);
    let mse = rec(t.mse(sm, target), vars);
    let lsm = rec(t.log_softmax(logits), vars);
    let lsm_s = rec(t.scale(lsm, T::of(-0.01)), vars);
    let lsm_sum = rec(t.sum_all(lsm_s), vars);
    let tokens = rec(t.reshape(ln, &[b, 3, 4]), vars);
    let att = rec(t.attention(tokens, tokens, tokens), vars);
    let m = rec(t.mean_axis(att, 1), vars);
    let s = rec(t.sum_axis(att, 2), vars);
    let d = rec(t.sub(m, target), vars);
    let d2 = rec(t.mul(d, d), vars);
    let d2_sum = rec(t.sum_all(d2), vars);
    let s_sum = rec(t.sum_all(s), vars);
    let s_term = rec(t.scale(s_sum, T::of(0.1)), vars);
    let l1 = rec(t.add(ce, mse), vars);
    let l2 = rec(t.add(l1, lsm_sum), vars);
    let l3 = rec(t.add(l2, d2_sum), vars);
    rec(t.add(l3, s_term), vars)
}

/// (values, gradients) of every recorded node, in f64.
fn snapshot<T: Scalar>(t: &Tape<T>, vars: &[Var]) -> (Vec<Vec<f64>>, Vec<Vec<f64>>) {
    let f = |s: &[T]| s.iter().map(|v| v.f64()).collect::<Vec<_>>();
    (
        vars.iter().map(|&v| f(t.value(v))).collect(),
        vars.iter().map(|&v| f(t.grad(v))).collect(),
    )
}

#[test]
fn reset_and_reuse_is_bit_identical_and_allocation_free() {
    let g = geom(2);
    let leaves = convert::<f64>(&inputs(1, 2));
    let mut tape = Tape::<f64>::new();
    let mut vars = Vec::new();
    let loss = composite(&mut tape, &leaves, &g, &mut vars);
    tape.backward(loss);
    let (v1, g1) = snapshot(&tape, &vars);
    let ptrs: Vec<*const f64> = vars.iter().map(|&v| tape.value(v).as_ptr()).collect();
    let n_nodes = tape.len();

    tape.reset();
    assert!(tape.is_empty());
    let allocs = count_allocs(|| {
        let loss = composite(&mut tape, &leaves, &g, &mut vars);
        tape.backward(loss);
    });
    assert_eq!(allocs, 0, "the second pass allocated {allocs} times");
    assert_eq!(tape.len(), n_nodes);
    let (v2, g2) = snapshot(&tape, &vars);
    let bits = |a: &Vec<Vec<f64>>| a.iter().flatten().map(|v| v.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&v1), bits(&v2), "values differ after reset");
    assert_eq!(bits(&g1), bits(&g2), "gradients differ after reset");
    let ptrs2: Vec<*const f64> = vars.iter().map(|&v| tape.value(v).as_ptr()).collect();
    assert_eq!(ptrs, ptrs2, "node buffers moved");
    // The gradients are not all zero (the comparison above is not vacuous).
    assert!(g2[0].iter().any(|&v| v != 0.0) && g2[1].iter().any(|&v| v != 0.0));
}

/// Negative control: the counter does see allocations — a pass with a larger batch must grow
/// buffers after reset, and an explicit allocation is counted.
#[test]
fn allocation_counter_sees_growth() {
    let mut tape = Tape::<f64>::new();
    let mut vars = Vec::new();
    let (g1, l1) = (geom(1), convert::<f64>(&inputs(2, 1)));
    let loss = composite(&mut tape, &l1, &g1, &mut vars);
    tape.backward(loss);
    let (g2, l2) = (geom(2), convert::<f64>(&inputs(2, 2)));
    tape.reset();
    let allocs = count_allocs(|| {
        let loss = composite(&mut tape, &l2, &g2, &mut vars);
        tape.backward(loss);
    });
    assert!(allocs > 0, "a larger pass must grow some buffer");
    assert_eq!(
        count_allocs(|| drop(std::hint::black_box(vec![0u8; 64]))),
        1
    );
}

/// f32 against f64 on the same (f32-representable) inputs, every op involved.
///
/// Tolerance: f32 unit round-off u = 2⁻²⁴ ≈ 6e-8. Each op accumulates at most n ≈ 12 terms
/// (layer-norm groups, dense rows), ≈ 15 ops are chained, and layer norm and softmax amplify
/// relative errors by at most κ ≈ 10 (1/σ of the pooled features), so errors stay below
/// n·L·κ·u ≈ 12·15·10·6e-8 ≈ 1.1e-4 of the largest gradient entry. We use 2e-4 (a
/// worst-case bound; the observed gap is ~4e-7, and a 1e-3 input shift gives > 2e-3).
const F32_TOL: f64 = 2e-4;

fn f32_vs_f64_gap(seed: u64, shift_f64_input: f64) -> f64 {
    let g = geom(2);
    let inp = inputs(seed, 2);
    let l32 = convert::<f32>(&inp);
    // f64 run on exactly the f32 values (so only arithmetic precision differs)…
    let mut l64 = convert::<f64>(&inp);
    for (a, &b) in l64.x.iter_mut().zip(&l32.x) {
        *a = b as f64 + shift_f64_input;
    }
    for (a, &b) in l64.w_conv.iter_mut().zip(&l32.w_conv) {
        *a = b as f64;
    }
    for (a, &b) in l64.bias.iter_mut().zip(&l32.bias) {
        *a = b as f64;
    }
    for (a, &b) in l64.w_dense.iter_mut().zip(&l32.w_dense) {
        *a = b as f64;
    }
    for (a, &b) in l64.target.iter_mut().zip(&l32.target) {
        *a = b as f64;
    }
    let (mut t32, mut t64) = (Tape::<f32>::new(), Tape::<f64>::new());
    let (mut vars32, mut vars64) = (Vec::new(), Vec::new());
    let loss32 = composite(&mut t32, &l32, &g, &mut vars32);
    let loss64 = composite(&mut t64, &l64, &g, &mut vars64);
    t32.backward(loss32);
    t64.backward(loss64);
    let (v32, g32) = snapshot(&t32, &vars32);
    let (v64, g64) = snapshot(&t64, &vars64);
    // Worst relative gap over the loss and the gradients of the five leaves.
    let mut worst =
        (v32.last().unwrap()[0] - v64.last().unwrap()[0]).abs() / v64.last().unwrap()[0].abs();
    for leaf in 0..5 {
        let max = g64[leaf].iter().fold(0.0f64, |m, v| m.max(v.abs()));
        for (a, b) in g32[leaf].iter().zip(&g64[leaf]) {
            worst = worst.max((a - b).abs() / max);
        }
    }
    worst
}

#[test]
fn f32_matches_f64_within_f32_precision() {
    for seed in 0..4 {
        let gap = f32_vs_f64_gap(seed, 0.0);
        assert!(
            gap <= F32_TOL,
            "seed {seed}: f32 differs from f64 by {gap:e}"
        );
        // The f32 run really is in f32: it cannot agree to f64 precision.
        assert!(
            gap > 1e-10,
            "seed {seed}: f32 agrees with f64 to {gap:e}, suspicious"
        );
    }
}

/// Negative control: the same tolerance rejects an f64 reference run on inputs shifted by 1e-3.
#[test]
fn f32_comparison_detects_shifted_inputs() {
    assert!(f32_vs_f64_gap(0, 1e-3) > F32_TOL);
}

// ---------------------------------------------------------------------------------------------
// Fan-out: a value used several times receives every contribution.

/// A few unit round-offs: formulas below repeat the tape's own few operations, so they agree
/// up to the rounding of ≲ 4 operations on O(1) values.
const CLOSE: f64 = 1e-15;

fn assert_close(a: &[f64], b: &[f64], tol: f64) {
    assert_eq!(a.len(), b.len());
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(
            (x - y).abs() <= tol * (1.0 + y.abs()),
            "entry {i}: {x} vs {y}"
        );
    }
}

#[test]
fn fan_out_accumulates_every_use() {
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let xs = uniform(&mut rng, 6);
    let mut t = Tape::<f64>::new();
    let x = t.leaf(&[6], &xs);

    // Σ x ⊙ x: both factors are x, gradient 2x.
    let sq = t.mul(x, x);
    let f = t.sum_all(sq);
    t.backward(f);
    let want: Vec<f64> = xs.iter().map(|v| 2.0 * v).collect();
    assert_close(t.grad(x), &want, CLOSE);

    // Diamond: a = tanh x, b = 3a, f = Σ a ⊙ b = Σ 3a²: gradient 6a(1 − a²).
    let a = t.tanh(x);
    let b = t.scale(a, 3.0);
    let c = t.mul(a, b);
    let f = t.sum_all(c);
    t.backward(f);
    let want: Vec<f64> = xs
        .iter()
        .map(|v| 6.0 * v.tanh() * (1.0 - v.tanh().powi(2)))
        .collect();
    assert_close(t.grad(x), &want, 4.0 * CLOSE);

    // Σ (A·A) for square A: both matmul arguments are A; G[i,j] = Σ_k A[j,k] + Σ_k A[k,i].
    let am = t.leaf(&[3, 3], &uniform(&mut rng, 9));
    let aa = t.matmul(am, am, false, false);
    let f = t.sum_all(aa);
    t.backward(f);
    let av = t.value(am).to_vec();
    let want: Vec<f64> = (0..9)
        .map(|ij| {
            let (i, j) = (ij / 3, ij % 3);
            (0..3).map(|k| av[j * 3 + k] + av[k * 3 + i]).sum()
        })
        .collect();
    assert_close(t.grad(am), &want, 4.0 * CLOSE);
}

/// Negative control: dropping one use (gradient of Σ x ⊙ x claimed to be x) is caught by the
/// same comparison.
#[test]
fn fan_out_comparison_detects_a_dropped_use() {
    let xs = [0.3, -0.7, 0.9];
    let mut t = Tape::<f64>::new();
    let x = t.leaf(&[3], &xs);
    let sq = t.mul(x, x);
    let f = t.sum_all(sq);
    t.backward(f);
    let result = std::panic::catch_unwind(|| assert_close(t.grad(x), &xs, CLOSE));
    assert!(result.is_err());
}

// ---------------------------------------------------------------------------------------------
// Closed forms.

#[test]
fn tanh_gradient_is_one_minus_tanh_squared() {
    let xs = uniform(&mut ChaCha8Rng::seed_from_u64(5), 10);
    let mut t = Tape::<f64>::new();
    let x = t.leaf(&[2, 5], &xs);
    let y = t.tanh(x);
    let f = t.sum_all(y);
    t.backward(f);
    let want: Vec<f64> = xs.iter().map(|v| 1.0 - v.tanh() * v.tanh()).collect();
    assert_close(t.grad(x), &want, CLOSE);
}

#[test]
fn relu_gradient_is_zero_at_zero() {
    let mut t = Tape::<f64>::new();
    let x = t.leaf(&[4], &[-1.0, 0.0, 2.0, -0.0]);
    let y = t.relu(x);
    assert_eq!(t.value(y), &[0.0, 0.0, 2.0, 0.0]);
    let f = t.sum_all(y);
    t.backward(f);
    assert_eq!(t.grad(x), &[0.0, 0.0, 1.0, 0.0]);
}

#[test]
fn cross_entropy_gradient_is_softmax_minus_onehot() {
    let (n, k) = (3, 4);
    let xs = uniform(&mut ChaCha8Rng::seed_from_u64(6), n * k);
    let labels = [2, 0, 3];
    let mut t = Tape::<f64>::new();
    let x = t.leaf(&[n, k], &xs);
    let ce = t.cross_entropy(x, &labels);
    t.backward(ce);
    let mut want = Vec::new();
    let mut loss = 0.0;
    for (r, &label) in labels.iter().enumerate() {
        let row = &xs[r * k..][..k];
        let z: f64 = row.iter().map(|v| v.exp()).sum();
        loss += z.ln() - row[label];
        for (j, v) in row.iter().enumerate() {
            want.push((v.exp() / z - if j == label { 1.0 } else { 0.0 }) / n as f64);
        }
    }
    assert_close(t.grad(x), &want, 4.0 * CLOSE);
    assert_close(t.value(ce), &[loss / n as f64], 4.0 * CLOSE);

    // Stability: logits shifted by 1000 give the same loss (naive exp would overflow).
    let shifted: Vec<f64> = xs.iter().map(|v| v + 1000.0).collect();
    let x2 = t.leaf(&[n, k], &shifted);
    let ce2 = t.cross_entropy(x2, &labels);
    // exp(1000) overflows; shifting by the row max is exact up to rounding the shift
    // (1000 has ulp 1.1e-13), so the losses agree to ~1e-13.
    assert!((t.value(ce2)[0] - loss / n as f64).abs() <= 1e-12);
    let lsm = t.log_softmax(x2);
    assert!(t.value(lsm).iter().all(|v| v.is_finite()));
}

#[test]
fn softmax_rows_sum_to_one_and_log_softmax_is_its_log() {
    let xs = uniform(&mut ChaCha8Rng::seed_from_u64(7), 2 * 3 * 5);
    let mut t = Tape::<f64>::new();
    let x = t.leaf(&[2, 3, 5], &xs);
    let s = t.softmax(x);
    let ls = t.log_softmax(x);
    for row in t.value(s).chunks(5) {
        // Five terms in [0, 1]: the sum is within 5 round-offs of 1.
        assert!((row.iter().sum::<f64>() - 1.0).abs() <= 5.0 * f64::EPSILON);
    }
    let logs: Vec<f64> = t.value(s).iter().map(|v| v.ln()).collect();
    assert_close(t.value(ls), &logs, 8.0 * CLOSE);
}

#[test]
fn layer_norm_output_has_mean_zero_and_variance_one() {
    let xs: Vec<f64> = uniform(&mut ChaCha8Rng::seed_from_u64(8), 3 * 2 * 4)
        .iter()
        .map(|v| 5.0 * v + 2.0)
        .collect();
    let (m, eps) = (8, 1e-5);
    let mut t = Tape::<f64>::new();
    let x = t.leaf(&[3, 2, 4], &xs);
    let y = t.layer_norm(x, 1, eps);
    for (yg, xg) in t.value(y).chunks(m).zip(xs.chunks(m)) {
        let mean = yg.iter().sum::<f64>() / m as f64;
        let var = yg.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / m as f64;
        let xm = xg.iter().sum::<f64>() / m as f64;
        let xvar = xg.iter().map(|v| (v - xm).powi(2)).sum::<f64>() / m as f64;
        // Sums of 8 O(1) terms: round-off ≲ 8·ε ≈ 2e-15.
        assert!(mean.abs() <= 1e-14, "group mean {mean}");
        // With eps inside the root the variance is σ²/(σ² + eps), just below 1.
        assert!(
            (var - xvar / (xvar + eps)).abs() <= 1e-14,
            "group variance {var}"
        );
        assert!(var < 1.0 && var > 1.0 - 1e-4);
    }
}

#[test]
fn avg_pool_drops_trailing_rows_and_columns() {
    let xs: Vec<f64> = (0..25).map(|v| v as f64).collect();
    let mut t = Tape::<f64>::new();
    let x = t.leaf(&[1, 1, 5, 5], &xs);
    let p = t.avg_pool2d(x, 2);
    assert_eq!(t.shape(p), &[1, 1, 2, 2]);
    // Windows {0,1,5,6}, {2,3,7,8}, {10,11,15,16}, {12,13,17,18}: exact in binary.
    assert_eq!(t.value(p), &[3.0, 5.0, 13.0, 15.0]);
    let f = t.sum_all(p);
    t.backward(f);
    for (idx, &g) in t.grad(x).iter().enumerate() {
        let (i, j) = (idx / 5, idx % 5);
        let want = if i < 4 && j < 4 { 0.25 } else { 0.0 };
        assert_eq!(g, want, "pixel ({i}, {j})");
    }
}

#[test]
fn reductions_mse_and_broadcasting_match_direct_formulas() {
    let xs = uniform(&mut ChaCha8Rng::seed_from_u64(9), 2 * 3 * 4);
    let ys = uniform(&mut ChaCha8Rng::seed_from_u64(10), 2 * 3 * 4);
    let mut t = Tape::<f64>::new();
    let x = t.leaf(&[2, 3, 4], &xs);
    let s = t.sum_axis(x, 1);
    assert_eq!(t.shape(s), &[2, 4]);
    let want: Vec<f64> = (0..8)
        .map(|o| (0..3).map(|l| xs[(o / 4) * 12 + l * 4 + o % 4]).sum())
        .collect();
    assert_close(t.value(s), &want, CLOSE);
    let m = t.mean_axis(x, 2);
    let want: Vec<f64> = xs.chunks(4).map(|c| c.iter().sum::<f64>() / 4.0).collect();
    assert_close(t.value(m), &want, CLOSE);

    // mse gradient 2(p − t)/n, and −2(p − t)/n for the target.
    let y = t.leaf(&[2, 3, 4], &ys);
    let l = t.mse(x, y);
    t.backward(l);
    let n = xs.len() as f64;
    let want: Vec<f64> = xs.iter().zip(&ys).map(|(a, b)| 2.0 * (a - b) / n).collect();
    assert_close(t.grad(x), &want, CLOSE);
    let neg: Vec<f64> = want.iter().map(|v| -v).collect();
    assert_close(t.grad(y), &neg, CLOSE);
    let mse: f64 = xs
        .iter()
        .zip(&ys)
        .map(|(a, b)| (a - b).powi(2))
        .sum::<f64>()
        / n;
    assert_close(t.value(l), &[mse], 4.0 * CLOSE);

    // Broadcast add: the bias gradient sums the output gradient over the leading axes.
    let b = t.leaf(&[4], &[0.1, 0.2, 0.3, 0.4]);
    let z = t.add(x, b);
    let w = t.leaf(&[2, 3, 4], &ys);
    let zw = t.mul(z, w);
    let f = t.sum_all(zw);
    t.backward(f);
    let want: Vec<f64> = (0..4)
        .map(|j| (0..6).map(|r| ys[r * 4 + j]).sum())
        .collect();
    assert_close(t.grad(b), &want, CLOSE);
}

// ---------------------------------------------------------------------------------------------
// Contracts.

#[test]
fn gradients_are_per_backward_and_zero_when_unreached() {
    let mut t = Tape::<f64>::new();
    let x = t.leaf(&[2], &[0.5, -1.5]);
    let unused = t.leaf(&[3], &[1.0, 2.0, 3.0]);
    let y = t.scale(x, 2.0);
    let f = t.sum_all(y);
    t.backward(f);
    assert_eq!(t.grad(x), &[2.0, 2.0]);
    assert_eq!(t.grad(unused), &[0.0, 0.0, 0.0]);
    // A second backward from the same output does not double the gradient.
    t.backward(f);
    assert_eq!(t.grad(x), &[2.0, 2.0]);
    // A backward from another output replaces it.
    let g = t.sum_all(x);
    t.backward(g);
    assert_eq!(t.grad(x), &[1.0, 1.0]);
    assert_eq!(t.grad(y), &[0.0, 0.0]);
    assert_eq!(t.op(y), Op::Scale { a: x, c: 2.0 });
    assert_eq!(t.op(x), Op::Leaf);
}

/// A small network's loss with its backward run; x and the target enter as constants, or as
/// leaves when `leaves`. Returns (x, conv weights, bias, dense weights).
fn small_net<T: Scalar>(t: &mut Tape<T>, l: &Leaves<T>, g: &ConvGeom, leaves: bool) -> [Var; 4] {
    let b = g.batch;
    let source = |t: &mut Tape<T>, shape: &[usize], data: &[T]| {
        if leaves {
            t.leaf(shape, data)
        } else {
            t.constant(shape, data)
        }
    };
    let x = source(t, &[b, 1, 5, 5], &l.x);
    let target = source(t, &[b, 4], &l.target);
    let wc = t.leaf(&[3, 1, 7], &l.w_conv);
    let bias = t.leaf(&[12], &l.bias);
    let wd = t.leaf(&[4, 12], &l.w_dense);
    let y = t.conv2d(x, wc, g);
    let p = t.avg_pool2d(y, 2);
    let a = t.tanh(p);
    let ln = t.layer_norm(a, 1, T::of(1e-5));
    let flat = t.reshape(ln, &[b, 12]);
    let shifted = t.add(flat, bias);
    let r = t.relu(shifted);
    let logits = t.matmul(r, wd, false, true);
    let ce = t.cross_entropy(logits, &LABELS[..b]);
    let sm = t.softmax(logits);
    let mse = t.mse(sm, target);
    let loss = t.add(ce, mse);
    t.backward(loss);
    [x, wc, bias, wd]
}

/// Constants change nothing downstream: the leaves' gradients are bit-identical whether x
/// and the target are leaves or constants (the skipped work is only ∂/∂x and ∂/∂target), and
/// a constant has no gradient to read. Negative control: as a leaf, x does receive a
/// non-zero gradient, so the constant path really skips something.
#[test]
fn constants_receive_no_gradient_and_change_no_other() {
    let g = geom(2);
    let l = convert::<f64>(&inputs(11, 2));
    let (mut t, mut u) = (Tape::<f64>::new(), Tape::<f64>::new());
    let [x, wc, bias, wd] = small_net(&mut t, &l, &g, false);
    let [xl, wc2, bias2, wd2] = small_net(&mut u, &l, &g, true);
    let grads = |t: &Tape<f64>, vs: [Var; 3]| -> Vec<Vec<f64>> {
        vs.iter().map(|&v| t.grad(v).to_vec()).collect()
    };
    assert_eq!(grads(&t, [wc, bias, wd]), grads(&u, [wc2, bias2, wd2]));
    assert!(
        u.grad(xl).iter().any(|&v| v != 0.0),
        "control: x as a leaf gets a gradient"
    );
    let result = std::panic::catch_unwind(|| t.grad(x).to_vec());
    assert!(
        result.is_err(),
        "reading the gradient of a constant must panic"
    );
}

/// A node pushed after the last backward has no gradient yet; reading it is a clear panic,
/// not a stale buffer.
#[test]
#[should_panic(expected = "no backward ran since")]
fn gradient_before_any_backward_panics() {
    let mut t = Tape::<f64>::new();
    let x = t.leaf(&[2], &[1.0, 2.0]);
    let f = t.sum_all(x);
    t.backward(f);
    let y = t.scale(x, 3.0);
    let _ = t.grad(y);
}

#[test]
#[should_panic(expected = "not one")]
fn backward_from_a_non_scalar_panics() {
    let mut t = Tape::<f64>::new();
    let x = t.leaf(&[2], &[1.0, 2.0]);
    t.backward(x);
}

#[test]
#[should_panic(expected = "not on this tape")]
fn a_var_from_before_reset_is_rejected() {
    let mut t = Tape::<f64>::new();
    let _ = t.leaf(&[1], &[1.0]);
    let x = t.leaf(&[1], &[2.0]);
    t.reset();
    let _ = t.value(x);
}

/// Ensembles train members on parallel threads: a tape must move between threads.
#[test]
fn tapes_are_send_and_sync() {
    fn assert_send_sync<X: Send + Sync>() {}
    assert_send_sync::<Tape<f32>>();
    assert_send_sync::<Tape<f64>>();
}
