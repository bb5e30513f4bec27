//! Elementary functions as branch-free arithmetic that LLVM vectorises: tanh for f32 and
//! f64, through expm1 with Cody–Waite range reduction and a Taylor polynomial.
//!
//! tanh(x) = sign(x) · E/(E + 2) with E = expm1(2|x|), and expm1(y) = 2ⁿ·expm1(r) + (2ⁿ − 1)
//! for y = n·ln 2 + r, |r| ≤ ln 2 / 2. Accuracy: a few ulps (checked against the standard
//! library in the unit tests); NaN propagates, ±∞ give ±1, |x| beyond the point where
//! tanh rounds to ±1 is clamped there.

/// tanh in f32, one value: the definition [`super::elementwise::TanhForward`] computes in
/// stages (and is tested against, bit for bit).
#[cfg(test)]
pub(crate) fn tanh_f32(x: f32) -> f32 {
    let (r, n) = reduce_f32(x);
    finish_f32(expm1_reduced_f32(r), n, x)
}

/// The range reduction of tanh_f32: 2|x| = n·ln 2 + r with |r| ≤ ln 2 / 2; returns (r, n).
#[inline(always)]
pub(crate) fn reduce_f32(x: f32) -> (f32, i32) {
    // tanh(a) rounds to 1 in f32 for a > 9.01; e^20 stays finite.
    let a = x.abs();
    let a = if a > 10.0 { 10.0 } else { a }; // NaN fails the test and stays NaN
    let y = 2.0 * a;
    // n = round(y / ln 2) by the 1.5·2²³ trick (round to nearest even, exact for |n| < 2²²).
    const MAGIC: f32 = 12_582_912.0;
    let t = y * std::f32::consts::LOG2_E + MAGIC;
    let n = t - MAGIC;
    let ni = t.to_bits().wrapping_sub(MAGIC.to_bits()) as i32;
    // r = y − n·ln 2 in two steps (ln 2 = HI + LO, HI with few significant bits).
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    ((y - n * LN2_HI) - n * LN2_LO, ni)
}

/// expm1(r) for a reduced r: r + r²(1/2 + r(1/6 + r(1/24 + r(1/120 + r(1/720 + r/5040))))).
#[inline(always)]
pub(crate) fn expm1_reduced_f32(r: f32) -> f32 {
    let p = 1.0 / 720.0 + r * (1.0 / 5040.0);
    let p = 1.0 / 120.0 + r * p;
    let p = 1.0 / 24.0 + r * p;
    let p = 1.0 / 6.0 + r * p;
    let p = 0.5 + r * p;
    r + r * r * p
}

/// tanh from expm1(r) = `em` and n: E = 2ⁿ·em + (2ⁿ − 1) = expm1(2|x|), tanh = ±E/(E + 2)
/// with the sign of x.
#[inline(always)]
pub(crate) fn finish_f32(em: f32, n: i32, x: f32) -> f32 {
    // 2ⁿ from its exponent bits (0 ≤ n ≤ 29 here).
    let scale = f32::from_bits(((n + 127) as u32) << 23);
    let e = scale * em + (scale - 1.0);
    (e / (e + 2.0)).copysign(x)
}

/// tanh in f64, one value, as [`tanh_f32`].
#[cfg(test)]
pub(crate) fn tanh_f64(x: f64) -> f64 {
    let (r, n) = reduce_f64(x);
    finish_f64(expm1_reduced_f64(r), n, x)
}

/// The range reduction of tanh_f64: 2|x| = n·ln 2 + r with |r| ≤ ln 2 / 2; returns (r, n).
#[inline(always)]
pub(crate) fn reduce_f64(x: f64) -> (f64, i64) {
    // tanh(a) rounds to 1 in f64 for a > 19.07; e^40 stays finite.
    let a = x.abs();
    let a = if a > 20.0 { 20.0 } else { a }; // NaN fails the test and stays NaN
    let y = 2.0 * a;
    // n = round(y / ln 2) by the 1.5·2⁵² trick.
    const MAGIC: f64 = 6_755_399_441_055_744.0;
    let t = y * std::f64::consts::LOG2_E + MAGIC;
    let n = t - MAGIC;
    let ni = t.to_bits().wrapping_sub(MAGIC.to_bits()) as i64;
    // fdlibm's split of ln 2: HI has 32 significant bits, so n·HI is exact for |n| < 2²⁰.
    const LN2_HI: f64 = f64::from_bits(0x3fe6_2e42_fee0_0000);
    const LN2_LO: f64 = f64::from_bits(0x3dea_39ef_3579_3c76);
    ((y - n * LN2_HI) - n * LN2_LO, ni)
}

/// expm1(r) for a reduced r: r + r²·Σ_{k≥2} r^(k−2)/k!, up to k = 13 (remainder < 2⁻⁵⁵
/// relative).
#[inline(always)]
pub(crate) fn expm1_reduced_f64(r: f64) -> f64 {
    const INV_FACT: [f64; 12] = [
        1.0 / 2.0,
        1.0 / 6.0,
        1.0 / 24.0,
        1.0 / 120.0,
        1.0 / 720.0,
        1.0 / 5_040.0,
        1.0 / 40_320.0,
        1.0 / 362_880.0,
        1.0 / 3_628_800.0,
        1.0 / 39_916_800.0,
        1.0 / 479_001_600.0,
        1.0 / 6_227_020_800.0,
    ];
    // Σ_k c_k r^k by Estrin's scheme: pairs, then pairs of pairs with r², r⁴, r⁸. Its chain
    // of dependent operations is about a third of Horner's 22, and a vector of tanh is bound
    // by that chain's latency (f64 layer-2 tanh of the digits network, batch 32, AVX2:
    // 23.8 µs with Horner).
    let c = &INV_FACT;
    let r2 = r * r;
    let r4 = r2 * r2;
    let r8 = r4 * r4;
    let q = |k: usize| c[k] + r * c[k + 1];
    let s0 = q(0) + r2 * q(2);
    let s1 = q(4) + r2 * q(6);
    let s2 = q(8) + r2 * q(10);
    let p = (s0 + r4 * s1) + r8 * s2;
    r + r2 * p
}

/// tanh from expm1(r) = `em` and n, as [`finish_f32`].
#[inline(always)]
pub(crate) fn finish_f64(em: f64, n: i64, x: f64) -> f64 {
    let scale = f64::from_bits(((n + 1023) as u64) << 52);
    let e = scale * em + (scale - 1.0);
    (e / (e + 2.0)).copysign(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Distance in units in the last place between two finite f64 of the same sign.
    fn ulps64(a: f64, b: f64) -> u64 {
        (a.to_bits() as i64 - b.to_bits() as i64).unsigned_abs()
    }

    fn ulps32(a: f32, b: f32) -> u32 {
        (a.to_bits() as i32 - b.to_bits() as i32).unsigned_abs()
    }

    /// Sweep of magnitudes 1e-12 … 40, both signs.
    fn sweep() -> impl Iterator<Item = f64> {
        (0..40_000).flat_map(|i| {
            let v = 10f64.powf(-12.0 + 13.6 * i as f64 / 40_000.0);
            [v, -v]
        })
    }

    #[test]
    fn tanh_f64_is_within_four_ulps_of_std() {
        let worst = sweep()
            .map(|x| ulps64(tanh_f64(x), x.tanh()))
            .max()
            .unwrap();
        // Each of em, the rescaling, e + 2 and the division rounds once (≤ ½ ulp each),
        // with em itself within ~1 ulp: a few ulps in total.
        assert!(worst <= 4, "tanh_f64 is {worst} ulps off");
    }

    #[test]
    fn tanh_f32_is_within_four_ulps_of_correctly_rounded() {
        let worst = sweep()
            .map(|x| {
                let x = x as f32;
                ulps32(tanh_f32(x), (x as f64).tanh() as f32)
            })
            .max()
            .unwrap();
        assert!(worst <= 4, "tanh_f32 is {worst} ulps off");
    }

    #[test]
    fn tanh_special_values() {
        assert!(tanh_f64(f64::NAN).is_nan() && tanh_f32(f32::NAN).is_nan());
        assert_eq!(tanh_f64(f64::INFINITY), 1.0);
        assert_eq!(tanh_f64(f64::NEG_INFINITY), -1.0);
        assert_eq!(tanh_f32(f32::INFINITY), 1.0);
        assert_eq!(tanh_f32(-1e30), -1.0);
        assert_eq!(tanh_f64(1e300), 1.0);
        assert_eq!(tanh_f64(0.0), 0.0);
        assert_eq!(tanh_f64(-0.0).to_bits(), (-0.0f64).to_bits());
        assert_eq!(tanh_f64(f64::MIN_POSITIVE), f64::MIN_POSITIVE);
    }

    /// Negative control: the ulp comparison does see a wrong function (tanh(x)(1 + 1e-13)).
    #[test]
    fn ulp_check_detects_a_perturbed_tanh() {
        let worst = sweep()
            .map(|x| ulps64(tanh_f64(x) * (1.0 + 1e-13), x.tanh()))
            .max()
            .unwrap();
        assert!(worst > 4);
    }
}
