//! The equivariance error of an ensemble on probe inputs.

use super::run::{ensemble_mean, run_members};
use crate::autodiff::Tape;
use crate::metrics::equivariance_error as pair_error;
use crate::nn::GroupNetwork;
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
pub fn equivariance_error(
    gnet: &GroupNetwork,
    thetas: &[Vec<f64>],
    probes: &[f64],
    n: usize,
    elements: &[usize],
    threads: usize,
) -> Result<f64> {
    let net = gnet.network();
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
    let d_in = net.input_dim();
    if n == 0 || probes.len() != n * d_in {
        return Err(Error::Shape(format!(
            "{} probe values for {n} inputs of {d_in} entries",
            probes.len()
        )));
    }
    // Block 0: the probes x; block 1 + j: ρ_X(elements[j])x.
    let mut inputs = vec![0.0; (1 + elements.len()) * n * d_in];
    inputs[..n * d_in].copy_from_slice(probes);
    for (&g, block) in elements.iter().zip(inputs[n * d_in..].chunks_mut(n * d_in)) {
        gnet.act_on_inputs(g, probes, block);
    }
    let count = (1 + elements.len()) * n;
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
    let mut expected = vec![0.0; elements.len() * n * k];
    for (&g, block) in elements.iter().zip(expected.chunks_mut(n * k)) {
        gnet.act_on_outputs(g, base, block);
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
