//! Gradient checks of every tape op: ⟨∇f, v⟩ against central differences along random
//! directions v, in f64, over random shapes (proptest), plus negative controls showing the
//! harness rejects wrong gradients.

use eqens::autodiff::{ConvGeom, Tape, Var};
use proptest::prelude::*;
use proptest::test_runner::Config;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

#[path = "support/conv_geometry.rs"]
mod conv_geometry;
use conv_geometry::{fixed_config, random_geom, uniform};

/// Step of the central difference.
const H: f64 = 1e-5;
/// Relative tolerance of the directional check, against the scale 1 + Σ_i |g_i v_i|.
///
/// The central difference (f(x+hv) − f(x−hv))/2h has truncation error h²/6·|f'''| ≈ 2e-11
/// for O(1)–O(10) third derivatives, and round-off ≈ n·ε·|f|/h with n ≲ 10³ terms summed in
/// f: 10³ · 1.1e-16 / 1e-5 ≈ 1e-8. So the error is ≲ 1e-8 × scale; 1e-6 leaves a 100× margin
/// while a relative gradient error of 1e-4 or more (any real bug) is far above it.
const TOL: f64 = 1e-6;
/// Random directions per case.
const DIRS: usize = 3;

/// Deterministic proptest configuration (fixed seed, no regression files).
fn config(cases: u32) -> Config {
    fixed_config(cases, 0xe9e45)
}

/// Entries in ±[0.05, 1]: away from the kink of ReLU (a step h|v| ≤ 1e-5 never crosses 0).
fn away_from_zero(rng: &mut ChaCha8Rng, n: usize) -> Vec<f64> {
    (0..n)
        .map(|_| {
            let m = rng.random_range(0.05..1.0);
            if rng.random::<bool>() {
                m
            } else {
                -m
            }
        })
        .collect()
}

/// Flat-vector harness: compares the claimed gradient with central differences of `f` along
/// `DIRS` random directions; `Err` names the first direction that disagrees.
fn directional_check(
    f: &mut dyn FnMut(&[f64]) -> f64,
    x: &[f64],
    grad: &[f64],
    rng: &mut ChaCha8Rng,
) -> Result<(), String> {
    assert_eq!(x.len(), grad.len());
    for d in 0..DIRS {
        let v = uniform(rng, x.len(), -1.0, 1.0);
        let ad: f64 = grad.iter().zip(&v).map(|(g, v)| g * v).sum();
        let scale = 1.0 + grad.iter().zip(&v).map(|(g, v)| (g * v).abs()).sum::<f64>();
        let xp: Vec<f64> = x.iter().zip(&v).map(|(x, v)| x + H * v).collect();
        let xm: Vec<f64> = x.iter().zip(&v).map(|(x, v)| x - H * v).collect();
        let fd = (f(&xp) - f(&xm)) / (2.0 * H);
        if (ad - fd).abs() > TOL * scale {
            return Err(format!(
                "direction {d}: ⟨∇f, v⟩ = {ad:e} but central difference = {fd:e} (scale {scale:e})"
            ));
        }
    }
    Ok(())
}

type Build<'a> = &'a dyn Fn(&mut Tape<f64>, &[Var]) -> Var;

/// Scalar f(x) = Σ out ⊙ r of a tape computation on leaves cut from the flat x, with r a fixed
/// random functional (seeded, so every evaluation uses the same r). One tape, reset between
/// evaluations.
struct TapeFn<'a> {
    tape: Tape<f64>,
    shapes: Vec<Vec<usize>>,
    build: Build<'a>,
}

impl<'a> TapeFn<'a> {
    fn new(shapes: Vec<Vec<usize>>, build: Build<'a>) -> Self {
        TapeFn {
            tape: Tape::new(),
            shapes,
            build,
        }
    }

    /// f(x) and, if asked, ∇f(x) (all leaves concatenated).
    fn eval(&mut self, x: &[f64], with_grad: bool) -> (f64, Vec<f64>) {
        let tape = &mut self.tape;
        tape.reset();
        let mut vars = Vec::new();
        let mut off = 0;
        for s in &self.shapes {
            let n: usize = s.iter().product();
            vars.push(tape.leaf(s, &x[off..off + n]));
            off += n;
        }
        assert_eq!(off, x.len(), "input length does not match the shapes");
        let out = (self.build)(tape, &vars);
        let mut rng = ChaCha8Rng::seed_from_u64(0xf00d);
        let r = uniform(&mut rng, tape.value(out).len(), -1.0, 1.0);
        let shape = tape.shape(out).to_vec();
        let rv = tape.leaf(&shape, &r);
        let prod = tape.mul(out, rv);
        let s = tape.sum_all(prod);
        let val = tape.value(s)[0];
        let mut grad = Vec::new();
        if with_grad {
            tape.backward(s);
            for &v in &vars {
                grad.extend_from_slice(tape.grad(v));
            }
        }
        (val, grad)
    }
}

/// The directional check of the tape's gradient of Σ build(leaves) ⊙ r at x.
fn check(shapes: Vec<Vec<usize>>, x: &[f64], seed: u64, build: Build) -> Result<(), String> {
    let mut tf = TapeFn::new(shapes, build);
    let (_, grad) = tf.eval(x, true);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    directional_check(&mut |x| tf.eval(x, false).0, x, &grad, &mut rng)
}

/// Random inputs in [−1, 1) for the given shapes, concatenated.
fn inputs(shapes: &[Vec<usize>], seed: u64) -> Vec<f64> {
    let n: usize = shapes.iter().map(|s| s.iter().product::<usize>()).sum();
    uniform(&mut ChaCha8Rng::seed_from_u64(seed), n, -1.0, 1.0)
}

/// Like [`check`] on random inputs; panics with the harness message on failure.
fn check_random(shapes: Vec<Vec<usize>>, seed: u64, build: Build) {
    let x = inputs(&shapes, seed);
    if let Err(e) = check(shapes.clone(), &x, seed ^ 0x5eed, build) {
        panic!("gradient check failed for shapes {shapes:?}: {e}");
    }
}

fn shape_strategy(max_rank: usize) -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(1usize..4, 1..=max_rank)
}

fn conv_geom_strategy() -> impl Strategy<Value = ConvGeom> {
    (
        (1usize..3, 1usize..3, 1usize..3, 1usize..6, 1usize..6),
        prop::sample::select(vec![1usize, 3, 5]),
        any::<u64>(),
    )
        .prop_map(|(sizes, k, seed)| random_geom(sizes, k, 1, seed))
}

proptest! {
    #![proptest_config(config(24))]

    #[test]
    fn matmul_gradients(m in 1usize..5, k in 1usize..5, n in 1usize..5, ta: bool, tb: bool, seed: u64) {
        let sa = if ta { vec![k, m] } else { vec![m, k] };
        let sb = if tb { vec![n, k] } else { vec![k, n] };
        check_random(vec![sa, sb], seed, &|t, v| t.matmul(v[0], v[1], ta, tb));
    }

    #[test]
    fn batch_matmul_gradients(b in 1usize..3, m in 1usize..4, k in 1usize..4, n in 1usize..4, ta: bool, tb: bool, seed: u64) {
        let sa = if ta { vec![b, k, m] } else { vec![b, m, k] };
        let sb = if tb { vec![b, n, k] } else { vec![b, k, n] };
        check_random(vec![sa, sb], seed, &|t, v| t.batch_matmul(v[0], v[1], ta, tb));
    }

    #[test]
    fn broadcast_binary_gradients(a in shape_strategy(4), cut in 0usize..5, which in 0usize..3, seed: u64) {
        let b = a[a.len() - cut.min(a.len())..].to_vec();
        check_random(vec![a, b], seed, &|t, v| match which {
            0 => t.add(v[0], v[1]),
            1 => t.sub(v[0], v[1]),
            _ => t.mul(v[0], v[1]),
        });
    }

    #[test]
    fn scale_sum_mean_reshape_gradients(a in shape_strategy(4), axis in 0usize..4, c in -3.0f64..3.0, seed: u64) {
        let axis = axis % a.len();
        let n: usize = a.iter().product();
        check_random(vec![a.clone()], seed, &|t, v| t.scale(v[0], c));
        check_random(vec![a.clone()], seed, &|t, v| t.sum_axis(v[0], axis));
        check_random(vec![a.clone()], seed, &|t, v| t.mean_axis(v[0], axis));
        check_random(vec![a.clone()], seed, &|t, v| t.sum_all(v[0]));
        check_random(vec![a.clone()], seed, &|t, v| t.reshape(v[0], &[n]));
    }

    #[test]
    fn tanh_relu_gradients(a in shape_strategy(3), seed: u64) {
        check_random(vec![a.clone()], seed, &|t, v| t.tanh(v[0]));
        let n: usize = a.iter().product();
        let x = away_from_zero(&mut ChaCha8Rng::seed_from_u64(seed), n);
        check(vec![a], &x, seed, &|t, v| t.relu(v[0])).unwrap();
    }

    #[test]
    fn conv2d_gradients(g in conv_geom_strategy(), seed: u64) {
        let sx = vec![g.batch, g.c_in, g.h, g.w];
        let sw = vec![g.c_out, g.c_in, g.taps.len()];
        check_random(vec![sx, sw], seed, &|t, v| t.conv2d(v[0], v[1], &g));
    }

    #[test]
    fn avg_pool2d_gradients(n in 1usize..3, c in 1usize..3, h in 1usize..8, w in 1usize..8, k in 1usize..4, seed: u64) {
        check_random(vec![vec![n, c, h, w]], seed, &|t, v| t.avg_pool2d(v[0], k));
    }

    #[test]
    fn layer_norm_gradients(first in 0usize..2, lead in 1usize..4, tail in prop::collection::vec(2usize..4, 2..=3), seed: u64) {
        // Groups of ≥ 4 entries drawn in [−1, 1): the variance stays well away from 0, so the
        // derivatives (∝ 1/σ³) stay O(10) and the central difference stays accurate.
        let mut shape = vec![lead];
        shape.extend(&tail);
        check_random(vec![shape], seed, &|t, v| t.layer_norm(v[0], first, 1e-5));
    }

    #[test]
    fn softmax_gradients(a in shape_strategy(3), seed: u64) {
        check_random(vec![a.clone()], seed, &|t, v| t.softmax(v[0]));
        check_random(vec![a], seed, &|t, v| t.log_softmax(v[0]));
    }

    #[test]
    fn loss_gradients(n in 1usize..5, k in 1usize..6, seed: u64) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let labels: Vec<usize> = (0..n).map(|_| rng.random_range(0..k)).collect();
        check_random(vec![vec![n, k]], seed, &|t, v| t.cross_entropy(v[0], &labels));
        check_random(vec![vec![n, k], vec![n, k]], seed, &|t, v| t.mse(v[0], v[1]));
    }

    #[test]
    fn attention_gradients(b in 0usize..3, n in 1usize..4, d in 1usize..4, dv in 1usize..4, seed: u64) {
        // b = 0: the 2-D form [n, d]; otherwise a leading batch axis of size b.
        let lead: Vec<usize> = if b == 0 { vec![] } else { vec![b] };
        let mk = |last: usize| [lead.clone(), vec![n, last]].concat();
        check_random(vec![mk(d), mk(d), mk(dv)], seed, &|t, v| t.attention(v[0], v[1], v[2]));
    }
}

proptest! {
    #![proptest_config(config(8))]

    /// The paper's layer pattern: conv → pool → tanh → layer norm → flatten → dense → CE.
    #[test]
    fn composite_network_gradient(g in conv_geom_strategy(), seed: u64) {
        let (ho, wo) = (g.h / 2, g.w / 2);
        let feat = g.c_out * ho * wo;
        let labels: Vec<usize> = (0..g.batch).map(|i| i % 3).collect();
        let shapes = vec![
            vec![g.batch, g.c_in, g.h, g.w],
            vec![g.c_out, g.c_in, g.taps.len()],
            vec![3, feat],
        ];
        check_random(shapes, seed, &|t, v| {
            let y = t.conv2d(v[0], v[1], &g);
            let p = t.avg_pool2d(y, 2);
            let a = t.tanh(p);
            let z = t.reshape(a, &[g.batch, feat]);
            let logits = t.matmul(z, v[2], false, true);
            t.cross_entropy(logits, &labels)
        });
    }
}

/// Negative control: the harness rejects gradients that are slightly off.
#[test]
fn harness_rejects_a_perturbed_gradient() {
    let shapes = vec![vec![3, 4], vec![4, 2]];
    let x = inputs(&shapes, 7);
    let build: Build = &|t, v| {
        let m = t.matmul(v[0], v[1], false, false);
        t.tanh(m)
    };
    let mut tf = TapeFn::new(shapes, build);
    let (_, grad) = tf.eval(&x, true);
    // The honest gradient passes…
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    directional_check(&mut |x| tf.eval(x, false).0, &x, &grad, &mut rng).unwrap();
    // …a gradient off by 0.1 % in every entry is rejected…
    let scaled: Vec<f64> = grad.iter().map(|g| g * 1.001).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    assert!(directional_check(&mut |x| tf.eval(x, false).0, &x, &scaled, &mut rng).is_err());
    // …and so is one with a single entry off by 1e-3.
    let mut one = grad.clone();
    one[5] += 1e-3;
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    assert!(directional_check(&mut |x| tf.eval(x, false).0, &x, &one, &mut rng).is_err());
}

/// Negative control: a wrong derivative formula (tanh′ = 1 − tanh instead of 1 − tanh²) fails.
#[test]
fn harness_rejects_a_wrong_formula() {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let x = uniform(&mut rng, 10, -1.0, 1.0);
    let mut f = |x: &[f64]| x.iter().map(|v| v.tanh()).sum::<f64>();
    let right: Vec<f64> = x.iter().map(|v| 1.0 - v.tanh().powi(2)).collect();
    let wrong: Vec<f64> = x.iter().map(|v| 1.0 - v.tanh()).collect();
    directional_check(&mut f, &x, &right, &mut rng).unwrap();
    assert!(directional_check(&mut f, &x, &wrong, &mut rng).is_err());
}

/// Negative control: central differences across the kink of ReLU disagree with ReLU′(0) = 0,
/// so the `away_from_zero` inputs of the ReLU check are necessary, not decorative.
#[test]
fn harness_sees_the_relu_kink() {
    let x = vec![0.0; 4];
    let build: Build = &|t, v| t.relu(v[0]);
    assert!(check(vec![vec![4]], &x, 11, build).is_err());
}
