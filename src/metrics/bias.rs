//! The squared bias ‖E D‖² of i.i.d. random vectors D_1..D_M, without the variance term.
//!
//! For an ensemble, D_i is member i's equivariance defect (THEORY.md §2: D = Φ(ρ_X(g)x) −
//! ρ_Y(g)Φ(x) over inputs x and elements g) and E‖D̄_M‖² = ‖E D‖² + tr Σ / M: the error of
//! a finite ensemble mixes the bias b = E D the theorem is about with a variance term that
//! vanishes as M grows. The U-statistic over pairs
//!
//! U = (1/(M(M−1))) Σ_{i≠j} ⟨D_i, D_j⟩
//!
//! is unbiased for ‖b‖² (E⟨D_i, D_j⟩ = ⟨b, b⟩ for i ≠ j), so it separates the two at any M.
//!
//! **Computation in O(M·d), with care for cancellation.** The direct form
//! (‖Σ D_i‖² − Σ ‖D_i‖²)/(M(M−1)) subtracts two numbers of size ≈ M·E‖D‖² (plus M²‖b‖²)
//! whose difference is ≈ M²‖b‖²; when ‖b‖² ≪ E‖D‖² most of their digits cancel. We use the
//! same identity on centred vectors instead: with D̄ the mean and e_i = D_i − D̄ (two passes),
//! Σ‖D_i‖² = T + M‖D̄‖² with T = Σ‖e_i‖², and ‖Σ D_i‖² = M²‖D̄‖², so
//!
//! U = ‖D̄‖² − T / (M(M−1)).
//!
//! Both terms are now of the size of the answer or of its standard error (tr Σ / M), never
//! M times larger, and each is a sum of non-negative terms (no cancellation inside it).
//!
//! **Standard error: the jackknife.** Leaving out D_i gives, with a_i = ⟨D̄, e_i⟩ and
//! c_i = ‖e_i‖²,
//!
//! U_(−i) = ‖D̄‖² − [T + 2(M−2)·a_i − 2c_i] / ((M−1)(M−2)),
//!
//! whose mean over i is U, and the jackknife variance (M−1)/M · Σ_i (U_(−i) − U)² becomes
//! 4 / (M(M−1)(M−2)²) · Σ_i [(M−2)a_i − (c_i − T/M)]², again from centred quantities only.
//! It needs M ≥ 3. By Hoeffding, Var U = (4(M−1)·bᵀΣb + 2 tr Σ²)/(M(M−1)); the jackknife
//! estimates the first term consistently but the second about twice (to leading order
//! E se² ≈ (4(M−1)·bᵀΣb + 4 tr Σ²)/(M(M−1))), so the interval is conservative, most of all
//! near b = 0 where the second term dominates.
//!
//! **Test of ‖E D‖² = 0.** Under the null b = 0, Var U = 2 tr Σ² / (M(M−1)) exactly, and
//! tr Σ² = E⟨D_i, D_j⟩² for i ≠ j (independent, mean 0). We estimate it by the mean of
//! ⟨D_i, D_{(i+s) mod M}⟩² over the M·S pairs of S ≤ 8 cyclic shifts s (distinct pairs,
//! O(S·M·d)); under alternatives this mean grows (by 2bᵀΣb + ‖b‖⁴), which only makes the
//! test conservative. t = U / √(2·mean/(M(M−1))), one-sided p = P(T_{M−1} ≥ t). Under the
//! null U is a centred quadratic form, close to normal when no direction dominates Σ (many
//! comparable eigenvalues, as for defects over thousands of inputs × logits); with a few
//! dominant directions its right tail is heavier and the test is approximate.

use super::student_t::student_t_cdf;
use crate::{Error, Result};
use serde::{Deserialize, Deserializer, Serialize};

/// Two-sided confidence level of [`BiasEstimate::ci_low`] / [`BiasEstimate::ci_high`].
pub const BIAS_CI_LEVEL: f64 = 0.95;

/// The U-statistic estimate of ‖E D‖² with its jackknife standard error, a 95 % interval and
/// the one-sided test of ‖E D‖² = 0.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BiasEstimate {
    /// Number of draws M.
    pub members: usize,
    /// U, unbiased for ‖E D‖² (can be negative when ‖E D‖² is small).
    #[serde(deserialize_with = "null_as_nan")]
    pub estimate: f64,
    /// Jackknife standard error of U (NaN for M < 3).
    #[serde(deserialize_with = "null_as_nan")]
    pub se: f64,
    /// Lower end of the 95 % interval U ± t_{0.975, M−1}·se.
    #[serde(deserialize_with = "null_as_nan")]
    pub ci_low: f64,
    /// Upper end of the 95 % interval.
    #[serde(deserialize_with = "null_as_nan")]
    pub ci_high: f64,
    /// Standard deviation of U under the null ‖E D‖² = 0, √(2·tr Σ² / (M(M−1))) with
    /// tr Σ² estimated from pairs (see the module docs).
    #[serde(default, deserialize_with = "null_as_nan")]
    pub null_sd: f64,
    /// One-sided p-value of ‖E D‖² = 0 against ‖E D‖² > 0, from U / `null_sd` (NaN when
    /// `null_sd` is 0).
    #[serde(deserialize_with = "null_as_nan")]
    pub p_value: f64,
    /// The plug-in ‖D̄‖² (biased upwards by tr Σ / M), for comparison.
    #[serde(deserialize_with = "null_as_nan")]
    pub plugin: f64,
}

impl BiasEstimate {
    /// The estimate for the inner product ⟨a, b⟩·c (c > 0): every squared-norm field is
    /// multiplied by c; the p-value does not change.
    pub fn scaled(self, c: f64) -> BiasEstimate {
        BiasEstimate {
            estimate: self.estimate * c,
            se: self.se * c,
            ci_low: self.ci_low * c,
            ci_high: self.ci_high * c,
            null_sd: self.null_sd * c,
            plugin: self.plugin * c,
            ..self
        }
    }
}

/// The (1 − α/2)-quantile of Student's t with `dof` degrees of freedom, by bisection on
/// [`student_t_cdf`] (to 1e-12 in t).
fn t_quantile(p: f64, dof: f64) -> f64 {
    let (mut lo, mut hi) = (0.0f64, 1.0f64);
    while student_t_cdf(hi, dof) < p {
        hi *= 2.0;
    }
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if student_t_cdf(mid, dof) < p {
            lo = mid;
        } else {
            hi = mid;
        }
        if hi - lo < 1e-12 {
            break;
        }
    }
    0.5 * (lo + hi)
}

/// [`squared_mean_norm`] for draws produced on demand: `draw(i, buf)` writes D_i (length d)
/// into `buf`; it is called twice per draw, in two passes of i = 0..M (so the sums, taken in
/// draw order, are deterministic). The second pass keeps the last S + 1 draws and copies of
/// the first S (S ≤ 8 the shifts of the null variance): (2S + 1)·d values of memory.
/// Errors if M < 2, d = 0 or a draw is not finite.
pub fn squared_mean_norm_with(
    m: usize,
    d: usize,
    mut draw: impl FnMut(usize, &mut [f64]),
) -> Result<BiasEstimate> {
    if m < 2 {
        return Err(Error::Invalid(format!(
            "the squared-bias U-statistic needs at least 2 draws, got {m}"
        )));
    }
    if d == 0 {
        return Err(Error::Invalid("the draws have no coordinates".into()));
    }
    let mut buf = vec![0.0; d];
    let mut mean = vec![0.0; d];
    for i in 0..m {
        draw(i, &mut buf);
        if let Some(k) = buf.iter().position(|v| !v.is_finite()) {
            return Err(Error::Invalid(format!(
                "draw {i} has a non-finite coordinate {k}"
            )));
        }
        for (s, &v) in mean.iter_mut().zip(&buf) {
            *s += v;
        }
    }
    let mf = m as f64;
    mean.iter_mut().for_each(|s| *s /= mf);
    let b: f64 = mean.iter().map(|v| v * v).sum();
    // Null variance: the mean of ⟨D_i, D_j⟩² over the pairs (i, (i + s) mod M), s = 1..=S;
    // for s ≤ (M − 1)/2 these pairs are distinct (M = 2: the single pair (0, 1)).
    let shifts = ((m - 1) / 2).clamp(1, 8);
    let sweep = second_sweep(m, d, shifts, &mean, &mut draw);
    let (a, c) = (sweep.a, sweep.c);
    let t: f64 = c.iter().sum();
    let estimate = b - t / (mf * (mf - 1.0));
    let se = if m >= 3 {
        let cbar = t / mf;
        let ss: f64 = a
            .iter()
            .zip(&c)
            .map(|(&ai, &ci)| {
                let r = (mf - 2.0) * ai - (ci - cbar);
                r * r
            })
            .sum();
        (4.0 * ss / (mf * (mf - 1.0) * (mf - 2.0) * (mf - 2.0))).sqrt()
    } else {
        f64::NAN
    };
    let sq: f64 = sweep.dots.iter().map(|p| p * p).sum();
    let tr_sigma2 = sq / sweep.dots.len() as f64;
    let null_sd = (2.0 * tr_sigma2 / (mf * (mf - 1.0))).sqrt();
    let dof = mf - 1.0;
    let half = t_quantile(0.5 + BIAS_CI_LEVEL / 2.0, dof) * se;
    let p_value = if null_sd > 0.0 {
        1.0 - student_t_cdf(estimate / null_sd, dof)
    } else {
        f64::NAN
    };
    Ok(BiasEstimate {
        members: m,
        estimate,
        se,
        ci_low: estimate - half,
        ci_high: estimate + half,
        null_sd,
        p_value,
        plugin: b,
    })
}

/// What the second pass over the draws gives: a_i = ⟨D̄, e_i⟩ and c_i = ‖e_i‖² (e_i = D_i − D̄)
/// per draw, and the null variance's products `dots[(s − 1)·M + i]` = ⟨D_i, D_{(i+s) mod M}⟩
/// for s = 1..=S, shift by shift (M = 2: the single pair (0, 1)).
struct SecondSweep {
    a: Vec<f64>,
    c: Vec<f64>,
    dots: Vec<f64>,
}

/// The second pass: every draw once, its a_i and c_i and its inner products with the S draws
/// before it accumulated side by side in one loop over the coordinates (the cyclic pairs that
/// wrap past M − 1 come at the end, from copies of the first S draws). Every sum runs over
/// the coordinates in order, as its definition reads, so the bits do not depend on the
/// interleaving; the interleaving only lets the S + 2 chains of additions overlap instead of
/// waiting on each other's latency.
fn second_sweep(
    m: usize,
    d: usize,
    shifts: usize,
    mean: &[f64],
    draw: &mut impl FnMut(usize, &mut [f64]),
) -> SecondSweep {
    let ring_len = shifts + 1;
    let mut ring = vec![vec![0.0; d]; ring_len];
    let mut first: Vec<Vec<f64>> = Vec::with_capacity(shifts);
    let (mut a, mut c) = (Vec::with_capacity(m), Vec::with_capacity(m));
    let mut dots = vec![f64::NAN; m * shifts];
    for j in 0..m {
        draw(j, &mut ring[j % ring_len]);
        // Draw j − s sits in slot (j − s) mod (S + 1); before draw s exists its slot holds
        // another draw or zeros, and that product is not kept.
        let (now, before) = split_ring(&ring, j % ring_len, shifts);
        let (aj, cj, products) = centred_and_products(now, mean, &before);
        a.push(aj);
        c.push(cj);
        for (s, p) in (1..=shifts).zip(products) {
            if s <= j {
                dots[(s - 1) * m + j - s] = p;
            }
        }
        if j < shifts {
            first.push(now.to_vec());
        }
    }
    if m > 2 {
        for i in m - shifts..m {
            for s in m - i..=shifts {
                let x = &ring[i % ring_len];
                let y = &first[i + s - m];
                dots[(s - 1) * m + i] = x.iter().zip(y).map(|(u, v)| u * v).sum();
            }
        }
    } else {
        dots.truncate(1); // M = 2: (1, 0) repeats the pair (0, 1)
    }
    SecondSweep { a, c, dots }
}

/// The ring slot `now` and the slots of the S draws before it, nearest first.
fn split_ring(ring: &[Vec<f64>], now: usize, shifts: usize) -> (&[f64], Vec<&[f64]>) {
    let len = ring.len();
    let before = (1..=shifts)
        .map(|s| ring[(now + len - s) % len].as_slice())
        .collect();
    (ring[now].as_slice(), before)
}

/// (⟨D̄, e⟩, ‖e‖², [⟨x, y_s⟩]) with e = x − D̄, for up to 8 partners y_s, in one loop.
fn centred_and_products(x: &[f64], mean: &[f64], partners: &[&[f64]]) -> (f64, f64, Vec<f64>) {
    macro_rules! with {
        ($p:literal) => {{
            let ys: [&[f64]; $p] = std::array::from_fn(|s| partners[s]);
            let (ai, ci, dots) = centred_and_products_n::<$p>(x, mean, ys);
            (ai, ci, dots.to_vec())
        }};
    }
    match partners.len() {
        1 => with!(1),
        2 => with!(2),
        3 => with!(3),
        4 => with!(4),
        5 => with!(5),
        6 => with!(6),
        7 => with!(7),
        8 => with!(8),
        n => unreachable!("{n} partners: the shifts are clamped to 1..=8"),
    }
}

#[inline(always)]
fn centred_and_products_n<const P: usize>(
    x: &[f64],
    mean: &[f64],
    ys: [&[f64]; P],
) -> (f64, f64, [f64; P]) {
    let d = x.len();
    let (x, mean) = (&x[..d], &mean[..d]);
    let ys: [&[f64]; P] = ys.map(|y| &y[..d]);
    let (mut ai, mut ci) = (0.0, 0.0);
    let mut dots = [-0.0; P];
    for k in 0..d {
        let (v, mu) = (x[k], mean[k]);
        let e = v - mu;
        ai += mu * e;
        ci += e * e;
        for s in 0..P {
            dots[s] += v * ys[s][k];
        }
    }
    (ai, ci, dots)
}

/// U-statistic estimate of ‖E D‖² from i.i.d. draws D_1..D_M of equal length (see the
/// module docs), with its jackknife standard error, 95 % interval and one-sided test of
/// ‖E D‖² = 0. Errors if M < 2, the lengths differ or are 0, or a value is not finite.
pub fn squared_mean_norm(draws: &[&[f64]]) -> Result<BiasEstimate> {
    let d = draws.first().map_or(0, |x| x.len());
    if let Some((i, x)) = draws.iter().enumerate().find(|(_, x)| x.len() != d) {
        return Err(Error::Shape(format!(
            "draw {i} has {} coordinates, draw 0 has {d}",
            x.len()
        )));
    }
    squared_mean_norm_with(draws.len(), d, |i, buf| buf.copy_from_slice(draws[i]))
}

/// The equivariance defect of one member's logit table `[n, |G|, K]` (row g of input j is the
/// logits at ρ_X(g)x_j, row 0 the identity; ρ_Y trivial): D[j, g, k] = f(ρ_X(g)x_j)_k −
/// f(x_j)_k, written into `out` (same length as `table`).
///
/// # Panics
/// If the lengths differ or are not a multiple of |G|·K (tables are built by the crate).
pub fn orbit_defect(table: &[f64], group_order: usize, k: usize, out: &mut [f64]) {
    assert_eq!(table.len(), out.len(), "orbit_defect: output length");
    let row = group_order * k;
    assert!(
        row > 0 && table.len().is_multiple_of(row),
        "orbit_defect: table is not [n, |G|, K]"
    );
    for (orbit, o) in table.chunks_exact(row).zip(out.chunks_exact_mut(row)) {
        let base = &orbit[..k];
        for (x, y) in orbit.chunks_exact(k).zip(o.chunks_exact_mut(k)) {
            for ((yk, &xk), &bk) in y.iter_mut().zip(x).zip(base) {
                *yk = xk - bk;
            }
        }
    }
}

fn null_as_nan<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The O(M) centred form equals the definition (1/(M(M−1))) Σ_{i≠j} ⟨D_i, D_j⟩ computed
    /// pair by pair, and the closed-form jackknife equals leave-one-out recomputation.
    /// Tolerance: both sides are sums of ≤ M²·d = 10⁴·5 products of numbers of size ≤ 10,
    /// so their round-off is below 1e-10 relative to Σ|terms| (≈ 1e3 here): 1e-9 absolute.
    #[test]
    fn centred_form_and_jackknife_match_the_definitions() {
        let draws: Vec<Vec<f64>> = (0..7)
            .map(|i| {
                (0..5)
                    .map(|k| ((i * 7 + k * 3) % 11) as f64 - 4.0 + 0.3 * k as f64)
                    .collect()
            })
            .collect();
        let refs: Vec<&[f64]> = draws.iter().map(|d| d.as_slice()).collect();
        let u_direct = |set: &[&[f64]]| {
            let m = set.len() as f64;
            let mut s = 0.0;
            for (i, a) in set.iter().enumerate() {
                for (j, b) in set.iter().enumerate() {
                    if i != j {
                        s += a.iter().zip(b.iter()).map(|(x, y)| x * y).sum::<f64>();
                    }
                }
            }
            s / (m * (m - 1.0))
        };
        let est = squared_mean_norm(&refs).unwrap();
        assert!((est.estimate - u_direct(&refs)).abs() < 1e-9);
        let m = refs.len() as f64;
        let loo: Vec<f64> = (0..refs.len())
            .map(|i| {
                let rest: Vec<&[f64]> = (0..refs.len())
                    .filter(|&j| j != i)
                    .map(|j| refs[j])
                    .collect();
                u_direct(&rest)
            })
            .collect();
        let mean = loo.iter().sum::<f64>() / m;
        assert!((mean - est.estimate).abs() < 1e-9, "jackknife mean is U");
        let var = (m - 1.0) / m * loo.iter().map(|u| (u - mean).powi(2)).sum::<f64>();
        assert!(
            (var.sqrt() - est.se).abs() < 1e-9,
            "{} vs {}",
            var.sqrt(),
            est.se
        );
    }

    /// The second sweep's a_i, c_i and null-variance products, computed the direct way: a
    /// pass per quantity and every pair's inner product on its own.
    fn direct_sweep(
        draws: &[Vec<f64>],
        mean: &[f64],
        shifts: usize,
    ) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
        let m = draws.len();
        let (mut a, mut c) = (Vec::new(), Vec::new());
        for x in draws {
            let (mut ai, mut ci) = (0.0, 0.0);
            for (&v, &mu) in x.iter().zip(mean) {
                let e = v - mu;
                ai += mu * e;
                ci += e * e;
            }
            a.push(ai);
            c.push(ci);
        }
        let pairs: Vec<(usize, usize)> = if m == 2 {
            vec![(0, 1)]
        } else {
            (1..=shifts)
                .flat_map(|s| (0..m).map(move |i| (i, (i + s) % m)))
                .collect()
        };
        let dots = pairs
            .iter()
            .map(|&(i, j)| draws[i].iter().zip(&draws[j]).map(|(x, y)| x * y).sum())
            .collect();
        (a, c, dots)
    }

    /// The one-pass sweep (interleaved sums, a ring of recent draws, the wrapped pairs at the
    /// end) gives the same bits as the direct computation, for M from 2 (one pair) through
    /// sizes with S < 8 and S = 8 shifts. Negative control: one changed coordinate of one
    /// draw is seen in the products.
    #[test]
    fn second_sweep_equals_the_direct_computation_bit_for_bit() {
        let d = 13;
        for m in [2, 3, 4, 5, 6, 16, 17, 18, 19, 40] {
            let draws: Vec<Vec<f64>> = (0..m)
                .map(|i| {
                    (0..d)
                        .map(|k| (((i * 31 + k * 17) % 23) as f64 - 11.0) / 7.0 + 1e-3 * i as f64)
                        .collect()
                })
                .collect();
            let mut mean = vec![0.0; d];
            for x in &draws {
                mean.iter_mut().zip(x).for_each(|(s, v)| *s += v);
            }
            mean.iter_mut().for_each(|s| *s /= m as f64);
            let shifts = ((m - 1) / 2).clamp(1, 8);
            let (a, c, dots) = direct_sweep(&draws, &mean, shifts);
            let sweep = second_sweep(m, d, shifts, &mean, &mut |i, buf: &mut [f64]| {
                buf.copy_from_slice(&draws[i])
            });
            let bits = |v: &[f64]| -> Vec<u64> { v.iter().map(|x| x.to_bits()).collect() };
            assert_eq!(bits(&sweep.a), bits(&a), "a, M = {m}");
            assert_eq!(bits(&sweep.c), bits(&c), "c, M = {m}");
            assert_eq!(bits(&sweep.dots), bits(&dots), "products, M = {m}");

            let mut changed = draws.clone();
            changed[m - 1][d / 2] += 0.25;
            let off = second_sweep(m, d, shifts, &mean, &mut |i, buf: &mut [f64]| {
                buf.copy_from_slice(&changed[i])
            });
            assert_ne!(bits(&off.dots), bits(&dots), "control, M = {m}");
        }
    }

    #[test]
    fn t_quantile_inverts_the_cdf() {
        // Known values: t_{0.975, 10} = 2.228139, t_{0.975, 1e6} ≈ 1.959966.
        assert!((t_quantile(0.975, 10.0) - 2.228139).abs() < 1e-5);
        assert!((t_quantile(0.975, 1e6) - 1.959966).abs() < 1e-5);
    }
}
