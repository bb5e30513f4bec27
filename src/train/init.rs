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
///
/// ```
/// use eqens::nn::{analysis::support_network, GroupNetwork, Support};
/// use eqens::rep::GridGroup;
/// use eqens::train::{init_theta, verify_orbit_membership, InitLaw};
/// use rand::SeedableRng;
///
/// let gnet =
///     GroupNetwork::on_images(support_network(&Support::plus_corner(), 6, 2)?, GridGroup::C4)?;
/// let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
/// // A symmetric init lies in the invariant core 𝓛_0: its orbit stays in 𝓛 ...
/// let sym = init_theta(&gnet, &InitLaw::Symmetric { scale: 1.0 }, &mut rng)?;
/// verify_orbit_membership(&gnet, &sym)?;
/// // ... an i.i.d. one on this non-invariant 𝓛 does not.
/// let iid = init_theta(&gnet, &InitLaw::Gaussian { scale: 1.0 }, &mut rng)?;
/// assert!(verify_orbit_membership(&gnet, &iid).is_err());
/// # Ok::<(), eqens::Error>(())
/// ```
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
            let maps = net.layers().iter().flat_map(|l| l.linear_blocks());
            for (map, (param, range)) in maps.enumerate() {
                if param.is_identity() {
                    // 𝓛 = H is invariant, 𝓛_0 = H and Q = I: A = z (no dense D×D unit
                    // action is built, which matters for wide dense layers).
                    theta.extend(range.map(|_| scale * standard_normal(rng)));
                    continue;
                }
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
            }
            verify_orbit_membership(gnet, &theta).map_err(|e| {
                Error::Invalid(format!(
                    "symmetric initialisation failed its membership check: {e}"
                ))
            })?;
            Ok(theta)
        }
    }
}

/// The membership check of a symmetric initialisation: ρ(g)A_θ ∈ 𝓛 for every g (↔
/// `lift_theta` succeeds), i.e. A_θ lies in the invariant core 𝓛_0. Errors naming the
/// first g that moves A_θ out of 𝓛. Never trust a "symmetric init" flag without it.
pub fn verify_orbit_membership(gnet: &GroupNetwork, theta: &[f64]) -> Result<()> {
    for g in 1..gnet.group().order() {
        gnet.lift_theta(g, theta).map_err(|e| {
            Error::Invalid(format!(
                "ρ({})A_θ ∉ 𝓛: A_θ is not in the invariant core 𝓛_0 ({e})",
                gnet.group().element_name(g)
            ))
        })?;
    }
    Ok(())
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
