//! Initial laws μ_0 of the coefficients θ (H6), and the orbit {ρ(g)A_0 : g ∈ G}.

use crate::nn::analysis::invariant_core;
use crate::nn::GroupNetwork;
use crate::{Error, Result};
use rand::RngExt;

/// An initial law of θ.
#[derive(Clone, Debug, PartialEq)]
pub enum InitLaw {
    /// i.i.d. N(0, scale²) on every coefficient θ_k (the paper's init with scale 1). On an
    /// orthonormal basis of an invariant 𝓛 this law is ρ-invariant (H6).
    Gaussian {
        /// Standard deviation.
        scale: f64,
    },
    /// "Symmetric initialisation": zero outside the invariant core 𝓛_0 = ∩_g ρ(g)𝓛. Each
    /// parametrised unit (one filter of a channel pair, or one dense matrix) is A = Q z with
    /// Q an orthonormal basis of 𝓛_0's direction and z ~ N(0, scale² I); membership
    /// ρ(g)A ∈ 𝓛 is verified for every g.
    Symmetric {
        /// Standard deviation of the coordinates in 𝓛_0.
        scale: f64,
    },
}

/// A standard normal draw by Box–Muller on two uniforms (u₁ ∈ (0, 1], u₂ ∈ [0, 1)).
pub fn standard_normal<R: rand::Rng + ?Sized>(rng: &mut R) -> f64 {
    let u1: f64 = 1.0 - rng.random::<f64>();
    let u2: f64 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

/// Draws θ_0 ~ `law` for `gnet`'s network. Errors on a non-finite or negative scale, on an
/// affine 𝓛 whose offset is not compatible with 𝓛_0, and — for `Symmetric` — if the drawn
/// A_0 fails the membership check ρ(g)A_0 ∈ 𝓛 for some g (`lift_theta` fails).
pub fn init_theta<R: rand::Rng + ?Sized>(
    gnet: &GroupNetwork,
    law: &InitLaw,
    rng: &mut R,
) -> Result<Vec<f64>> {
    let net = gnet.network();
    match *law {
        InitLaw::Gaussian { scale } => {
            check_scale(scale)?;
            Ok((0..net.num_params())
                .map(|_| scale * standard_normal(rng))
                .collect())
        }
        InitLaw::Symmetric { scale } => {
            check_scale(scale)?;
            let mut theta = Vec::with_capacity(net.num_params());
            let mut map = 0;
            for layer in net.layers() {
                for (param, range) in layer.linear_blocks() {
                    let core = invariant_core(gnet, map);
                    let units = range.len() / param.dim();
                    let mut a = vec![0.0; param.ambient_dim()];
                    for _ in 0..units {
                        let z: Vec<f64> = (0..core.ncols())
                            .map(|_| scale * standard_normal(rng))
                            .collect();
                        for (i, ai) in a.iter_mut().enumerate() {
                            *ai = param.offset().map_or(0.0, |o| o[i])
                                + (0..core.ncols()).map(|j| core[(i, j)] * z[j]).sum::<f64>();
                        }
                        theta.extend(param.coefficients_of(&a)?);
                    }
                    map += 1;
                }
            }
            for g in 1..gnet.group().order() {
                gnet.lift_theta(g, &theta).map_err(|e| {
                    Error::Invalid(format!(
                        "symmetric initialisation failed its membership check: ρ({})A_0 ∉ 𝓛 \
                         ({e})",
                        gnet.group().element_name(g)
                    ))
                })?;
            }
            Ok(theta)
        }
    }
}

fn check_scale(scale: f64) -> Result<()> {
    if !(scale.is_finite() && scale >= 0.0) {
        return Err(Error::Invalid(format!(
            "the initial scale must be finite and non-negative, got {scale}"
        )));
    }
    Ok(())
}

/// The orbit ρ(g)A_0 ↔ `lift_theta(g, θ_0)` for every g, in element order (member g of an
/// orbit ensemble); errors if some ρ(g)A_0 ∉ 𝓛.
pub fn orbit(gnet: &GroupNetwork, theta0: &[f64]) -> Result<Vec<Vec<f64>>> {
    (0..gnet.group().order())
        .map(|g| gnet.lift_theta(g, theta0))
        .collect()
}
