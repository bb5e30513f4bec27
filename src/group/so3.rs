//! Laws on the rotation group SO(3) and rotations of point clouds in R³.
//!
//! SO(3) is not finite, so its Haar measure cannot be enumerated: it is sampled. A unit
//! quaternion q uniform on the sphere S³ maps to a Haar-distributed rotation R(q) (the double
//! cover S³ → SO(3), q ↦ R(q), is a homomorphism and left multiplication by a unit
//! quaternion is an isometry of S³, so the pushforward of the uniform law is left-invariant).
//! q is drawn as four i.i.d. N(0, 1) coordinates divided by their norm (the Gaussian law is
//! rotation-invariant in R⁴, so its direction is uniform on S³).
//!
//! The other laws of [`So3Law`] are the negative controls of THEORY S14 in three
//! dimensions: the naive sampler with uniform Euler angles, a law concentrated near the
//! identity, and the uniform law on the rotations about one axis (uniform, but on a subgroup).

use super::rotations3d::Mat3;
use crate::{Error, Result};
use rand::RngExt;
use std::f64::consts::PI;

/// A law on SO(3) from which augmentation rotations are drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum So3Law {
    /// The Haar (uniform) law: R(q) for q = z/‖z‖, z ~ N(0, I₄).
    Haar,
    /// The naive sampler: Z-Y-Z Euler angles α, β, γ each uniform (α, γ on [0, 2π), β on
    /// [0, π)). Not Haar: under Haar β has density sin(β)/2, so this law puts too much mass
    /// near the rotations about z (e.g. the mean of R₃₃² = cos²β is 1/2 instead of 1/3).
    UniformEulerAngles,
    /// R(q) for q = (z + shift·e_w)/‖z + shift·e_w‖, z ~ N(0, I₄): concentrated near the
    /// identity for shift > 0 (shift = 0 is Haar).
    Concentrated {
        /// The shift of the quaternion's real part (finite, ≥ 0).
        shift: f64,
    },
    /// Uniform rotations about the z axis: Haar on SO(2) ⊂ SO(3), not on SO(3).
    AboutZ,
}

/// A standard normal draw (Box–Muller on two uniforms, u₁ ∈ (0, 1]).
fn normal<R: rand::Rng + ?Sized>(rng: &mut R) -> f64 {
    let u1: f64 = 1.0 - rng.random::<f64>();
    let u2: f64 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (2.0 * PI * u2).cos()
}

/// The rotation matrix (row-major) of the unit quaternion q = (w, x, y, z) (normalised
/// here; q and −q give the same rotation). Errors if ‖q‖ is 0 or not finite.
pub fn quaternion_to_matrix(q: [f64; 4]) -> Result<Mat3> {
    let n = q.iter().map(|v| v * v).sum::<f64>().sqrt();
    if !(n.is_finite() && n > 0.0) {
        return Err(Error::Invalid(format!(
            "quaternion {q:?} has norm {n}: not a rotation"
        )));
    }
    let [w, x, y, z] = q.map(|v| v / n);
    Ok([
        1.0 - 2.0 * (y * y + z * z),
        2.0 * (x * y - w * z),
        2.0 * (x * z + w * y),
        2.0 * (x * y + w * z),
        1.0 - 2.0 * (x * x + z * z),
        2.0 * (y * z - w * x),
        2.0 * (x * z - w * y),
        2.0 * (y * z + w * x),
        1.0 - 2.0 * (x * x + y * y),
    ])
}

/// The rotation by `t` about the z axis.
fn about_z(t: f64) -> Mat3 {
    let (s, c) = t.sin_cos();
    [c, -s, 0.0, s, c, 0.0, 0.0, 0.0, 1.0]
}

/// The rotation by `t` about the y axis.
fn about_y(t: f64) -> Mat3 {
    let (s, c) = t.sin_cos();
    [c, 0.0, s, 0.0, 1.0, 0.0, -s, 0.0, c]
}

/// The product ab of row-major 3×3 matrices.
pub fn mul3(a: &Mat3, b: &Mat3) -> Mat3 {
    let mut out = [0.0; 9];
    for i in 0..3 {
        for j in 0..3 {
            out[3 * i + j] = (0..3).map(|k| a[3 * i + k] * b[3 * k + j]).sum();
        }
    }
    out
}

/// The transpose (= inverse of a rotation).
pub fn transpose3(a: &Mat3) -> Mat3 {
    [a[0], a[3], a[6], a[1], a[4], a[7], a[2], a[5], a[8]]
}

impl So3Law {
    /// Draws one rotation. Errors for a `Concentrated` shift that is negative or not finite.
    pub fn sample<R: rand::Rng + ?Sized>(&self, rng: &mut R) -> Result<Mat3> {
        match *self {
            So3Law::Haar => gaussian_quaternion(rng, 0.0),
            So3Law::Concentrated { shift } => {
                if !(shift.is_finite() && shift >= 0.0) {
                    return Err(Error::Invalid(format!(
                        "the shift of a concentrated law on SO(3) must be finite and ≥ 0, \
                         got {shift}"
                    )));
                }
                gaussian_quaternion(rng, shift)
            }
            So3Law::UniformEulerAngles => {
                let a = 2.0 * PI * rng.random::<f64>();
                let b = PI * rng.random::<f64>();
                let c = 2.0 * PI * rng.random::<f64>();
                Ok(mul3(&mul3(&about_z(a), &about_y(b)), &about_z(c)))
            }
            So3Law::AboutZ => Ok(about_z(2.0 * PI * rng.random::<f64>())),
        }
    }

    /// A short description for reports.
    pub fn describe(&self) -> String {
        match self {
            So3Law::Haar => "Haar (Gaussian unit quaternions)".into(),
            So3Law::UniformEulerAngles => "uniform Z-Y-Z Euler angles".into(),
            So3Law::Concentrated { shift } => {
                format!("quaternions N(0, I₄) + {shift}·e_w, normalised")
            }
            So3Law::AboutZ => "uniform rotations about z only".into(),
        }
    }
}

/// R(q) for q = z + shift·e_w, z ~ N(0, I₄) (redrawn in the probability-0 event z = 0).
fn gaussian_quaternion<R: rand::Rng + ?Sized>(rng: &mut R, shift: f64) -> Result<Mat3> {
    loop {
        let q = [normal(rng) + shift, normal(rng), normal(rng), normal(rng)];
        if q.iter().any(|&v| v != 0.0) {
            return quaternion_to_matrix(q);
        }
    }
}

/// Rotates every point of a cloud: `x` and `out` hold consecutive (x, y, z) triples, and
/// out_p = R x_p (the action trivial(N) ⊗ R on (R³)^N; no permutation of the points).
///
/// # Panics
/// If the lengths differ or are not multiples of 3.
pub fn rotate_points(r: &Mat3, x: &[f64], out: &mut [f64]) {
    assert!(
        x.len() == out.len() && x.len().is_multiple_of(3),
        "rotate_points: lengths {} and {} are not equal multiples of 3",
        x.len(),
        out.len()
    );
    for (p, o) in x.chunks_exact(3).zip(out.chunks_exact_mut(3)) {
        for i in 0..3 {
            o[i] = r[3 * i] * p[0] + r[3 * i + 1] * p[1] + r[3 * i + 2] * p[2];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quaternion_matrices_are_rotations() {
        let r = quaternion_to_matrix([0.3, -1.2, 0.5, 2.0]).unwrap();
        let rtr = mul3(&transpose3(&r), &r);
        for i in 0..3 {
            for j in 0..3 {
                let e = if i == j { 1.0 } else { 0.0 };
                assert!((rtr[3 * i + j] - e).abs() < 1e-15);
            }
        }
        assert!(quaternion_to_matrix([0.0; 4]).is_err());
        assert!(quaternion_to_matrix([f64::NAN, 0.0, 0.0, 1.0]).is_err());
        // The quarter turn about z: q = (cos 45°, 0, 0, sin 45°).
        let h = std::f64::consts::FRAC_1_SQRT_2;
        let q = quaternion_to_matrix([h, 0.0, 0.0, h]).unwrap();
        let want = [0.0, -1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0];
        assert!(q.iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-15));
    }
}
