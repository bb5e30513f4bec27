//! The equivariance error of an ensemble on probe inputs.

use super::run::{ensemble_mean, run_members};
use crate::autodiff::Tape;
use crate::metrics::equivariance_error as pair_error;
use crate::nn::{GroupNetwork, Network};
use crate::{Error, Result};

/// The relative equivariance error of the ensemble f̂ of `thetas` on `n` probe inputs
/// `probes` (row-major [n, input_dim]):
/// max over g ∈ `elements` and probes x of ‖f̂(ρ_X(g)x) − ρ_Y(g)f̂(x)‖, divided by the
/// members' output scale, the mean over members m and probes x of ‖Φ_{θ_m}(x)‖.
///
/// The scale is the members' and not the ensemble's: round-off enters each member's output
/// relative to that output's size, while the mean over an orbit may cancel most of it (an
/// invariant ensemble of large, disagreeing logits is small), so dividing by ‖f̂(x)‖ would
/// measure the cancellation, not the equivariance. One scalar for all probes, so that one
/// output near zero does not inflate the error. One member gives that member's own error
/// relative to its own scale. NaN propagates. Errors on no members, no elements, an element ∉ G, or bad lengths.
///
/// ```
/// use eqens::ensemble::equivariance_error;
/// use eqens::nn::{analysis::support_network, GroupNetwork, Support};
/// use eqens::rep::GridGroup;
/// use eqens::train::orbit;
///
/// // S5: the orbit ensemble {ρ(g)A_0 : g ∈ G} of an invariant architecture is exactly
/// // equivariant, while one member alone is not.
/// let gnet = GroupNetwork::on_images(support_network(&Support::plus(), 5, 2)?, GridGroup::C4)?;
/// let theta0: Vec<f64> =
///     (0..gnet.network().num_params()).map(|k| (k as f64 * 1.3).sin()).collect();
/// let members = orbit(&gnet, &theta0)?;
/// let probes: Vec<f64> = (0..3 * 25).map(|k| (k as f64 * 0.7).cos()).collect();
/// let all = [0, 1, 2, 3];
/// let ensemble = equivariance_error(&gnet, &members, &probes, 3, &all, 1)?;
/// let single = equivariance_error(&gnet, &members[..1], &probes, 3, &all, 1)?;
/// assert!(ensemble < 1e-13, "{ensemble}");
/// assert!(single > 1e-3, "{single}");
/// # Ok::<(), eqens::Error>(())
/// ```
pub fn equivariance_error(
    gnet: &GroupNetwork,
    thetas: &[Vec<f64>],
    probes: &[f64],
    n: usize,
    elements: &[usize],
    threads: usize,
) -> Result<f64> {
    let order = gnet.group().order();
    if elements.is_empty() {
        return Err(Error::Invalid(
            "equivariance error over no group elements".into(),
        ));
    }
    if let Some(g) = elements.iter().find(|&&g| g >= order) {
        return Err(Error::Invalid(format!(
            "element {g} is out of range for {} (order {order})",
            gnet.group().name()
        )));
    }
    equivariance_error_under(
        gnet.network(),
        thetas,
        probes,
        n,
        elements.len(),
        |j, x, out| gnet.act_on_inputs(elements[j], x, out),
        |j, y, out| gnet.act_on_outputs(elements[j], y, out),
        threads,
    )
}

/// The relative equivariance error of the ensemble of `thetas` under `actions` pairs of
/// transformations (T_X^j, T_Y^j), j < `actions`, that need not come from a finite group
/// (e.g. rotations of the plane by arbitrary angles): max over j and probes x of
/// ‖f̂(T_X^j x) − T_Y^j f̂(x)‖ over the members' output scale, exactly as
/// [`equivariance_error`]. `act_in(j, x, out)` applies T_X^j to the `n` probes (row-major
/// [n, input_dim]) and `act_out(j, y, out)` applies T_Y^j to `n` outputs.
#[allow(clippy::too_many_arguments)]
pub fn equivariance_error_under(
    net: &Network,
    thetas: &[Vec<f64>],
    probes: &[f64],
    n: usize,
    actions: usize,
    act_in: impl Fn(usize, &[f64], &mut [f64]),
    act_out: impl Fn(usize, &[f64], &mut [f64]),
    threads: usize,
) -> Result<f64> {
    let d_in = net.input_dim();
    if n == 0 || probes.len() != n * d_in {
        return Err(Error::Shape(format!(
            "{} probe values for {n} inputs of {d_in} entries",
            probes.len()
        )));
    }
    if actions == 0 {
        return Err(Error::Invalid(
            "equivariance error under no transformation".into(),
        ));
    }
    // Block 0: the probes x; block 1 + j: T_X^j x.
    let mut inputs = vec![0.0; (1 + actions) * n * d_in];
    inputs[..n * d_in].copy_from_slice(probes);
    for (j, block) in inputs[n * d_in..].chunks_mut(n * d_in).enumerate() {
        act_in(j, probes, block);
    }
    let count = (1 + actions) * n;
    let outs = run_members(0..thetas.len(), threads, |m| {
        net.predict(&mut Tape::new(), &thetas[m], &inputs, count)
    })?
    .into_iter()
    .collect::<Result<Vec<_>>>()?;
    let out = ensemble_mean(&outs)?;
    let k = net.output_dim();
    let norm = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>().sqrt();
    let scale = outs
        .iter()
        .flat_map(|o| o[..n * k].chunks(k).map(norm))
        .sum::<f64>()
        / (thetas.len() * n) as f64;
    let (base, moved) = out.split_at(n * k);
    let mut expected = vec![0.0; actions * n * k];
    for (j, block) in expected.chunks_mut(n * k).enumerate() {
        act_out(j, base, block);
    }
    let mut worst: f64 = 0.0;
    for (a, b) in moved.chunks(k).zip(expected.chunks(k)) {
        let e = pair_error(a, b) / scale;
        worst = if e.is_nan() || worst.is_nan() {
            f64::NAN
        } else {
            worst.max(e)
        };
    }
    Ok(worst)
}
