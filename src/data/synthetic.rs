//! Seeded synthetic inputs (ChaCha8): Gaussian images, smoothed noise images (an
//! out-of-distribution set for the digits experiment) and point clouds in R².
//!
//! Every law here is invariant under rotations and flips of the grid / plane, so none of
//! these inputs favours one group element over another.

use super::Dataset;
use crate::{Error, Result};
use rand::{Rng, RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// One standard normal draw by the Box–Muller transform (the cosine branch only, so that the
/// stream of draws is simple to reason about).
fn standard_normal<R: Rng>(rng: &mut R) -> f64 {
    // u1 ∈ (0, 1] so that ln u1 is finite; u2 ∈ [0, 1).
    let u1 = 1.0 - rng.random::<f64>();
    let u2 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// n × (product of `dims`), with overflow reported as an error.
fn total_len(n: usize, dims: &[usize]) -> Result<usize> {
    dims.iter()
        .try_fold(n, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| Error::Invalid(format!("{n} samples of shape {dims:?} overflow usize")))
}

/// n images `[c, h, w]` with i.i.d. N(0, 1) pixels, no labels.
pub fn gaussian_images(n: usize, c: usize, h: usize, w: usize, seed: u64) -> Result<Dataset> {
    let len = total_len(n, &[c, h, w])?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let inputs = (0..len).map(|_| standard_normal(&mut rng)).collect();
    Dataset::new(inputs, vec![c, h, w], None, None, 0, 0)
}

/// n images `[c, h, w]` of Gaussian noise blurred per channel by [`binomial_blur_3x3`], then
/// shifted and scaled (per image, by one scalar each) to mean 0 and population std 1 over
/// all c·h·w values. A constant image (only possible when c·h·w = 1) is left at 0.
///
/// The blur kernel is invariant under the dihedral group of the square, and the rescaling is
/// a global affine map, so the law of these images is invariant under rot90 and flips when
/// h = w. They look nothing like digits: the out-of-distribution set.
pub fn smoothed_noise_images(n: usize, c: usize, h: usize, w: usize, seed: u64) -> Result<Dataset> {
    let mut data = gaussian_images(n, c, h, w, seed)?;
    let plane = h * w;
    let image = c * plane;
    if image == 0 {
        return Ok(data);
    }
    for img in data.inputs.chunks_exact_mut(image) {
        for ch in img.chunks_exact_mut(plane) {
            let blurred = binomial_blur_3x3(ch, h, w);
            ch.copy_from_slice(&blurred);
        }
        let m = img.iter().sum::<f64>() / image as f64;
        let var = img.iter().map(|&v| (v - m) * (v - m)).sum::<f64>() / image as f64;
        let s = var.sqrt();
        for v in img.iter_mut() {
            *v = if s > 0.0 { (*v - m) / s } else { 0.0 };
        }
    }
    Ok(data)
}

/// Blurs one `h × w` plane (row-major) with the 3×3 binomial kernel
/// [1 2 1]ᵀ[1 2 1] / 16, with zero padding outside the plane. The kernel and the zero padding
/// are invariant under the symmetries of the square, so for h = w the blur commutes with
/// rot90 and the flips.
///
/// # Panics
/// If `plane.len() != h * w` (an internal shape).
pub fn binomial_blur_3x3(plane: &[f64], h: usize, w: usize) -> Vec<f64> {
    assert_eq!(plane.len(), h * w, "blur: plane is not h × w");
    const K: [f64; 3] = [1.0, 2.0, 1.0];
    let mut out = vec![0.0; h * w];
    for i in 0..h {
        for j in 0..w {
            let mut acc = 0.0;
            for (di, ki) in K.iter().enumerate() {
                for (dj, kj) in K.iter().enumerate() {
                    let (Some(si), Some(sj)) = ((i + di).checked_sub(1), (j + dj).checked_sub(1))
                    else {
                        continue;
                    };
                    if si < h && sj < w {
                        acc += ki * kj * plane[si * w + sj];
                    }
                }
            }
            out[i * w + j] = acc / 16.0;
        }
    }
    out
}

/// n point clouds of `points` points in R² with i.i.d. N(0, 1) coordinates (a rotation
/// invariant law), layout `[x0, y0, x1, y1, …]`, shape `[points, 2]`, no labels.
pub fn point_clouds(n: usize, points: usize, seed: u64) -> Result<Dataset> {
    let len = total_len(n, &[points, 2])?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let inputs = (0..len).map(|_| standard_normal(&mut rng)).collect();
    Dataset::new(inputs, vec![points, 2], None, None, 0, 0)
}
