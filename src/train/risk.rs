//! Risks on a data set: the nominal risk R(A) and the augmented risk
//! R_aug(A) = Σ_g p_g · mean_i ℓ(Φ_A(ρ_X(g)x_i), ρ_Y(g)y_i), with ∇_θ of both.

use super::augment::Law;
use crate::autodiff::Tape;
use crate::nn::{GroupNetwork, Network, Target};
use crate::{Error, Result, Scalar};

/// A data set of `n` samples: inputs `x` row-major [n, input_dim] and their targets
/// (labels for cross-entropy, values [n, output_dim] for mean squared error).
#[derive(Clone, Copy, Debug)]
pub struct Samples<'a, T> {
    /// Inputs, row-major [n, input_dim].
    pub x: &'a [T],
    /// Number of samples.
    pub n: usize,
    /// The targets y.
    pub target: Target<'a, T>,
}

impl<T> Samples<'_, T> {
    /// Checks the lengths against the network: n ≥ 1, |x| = n·input_dim, one label per
    /// sample (each < output_dim) or n·output_dim target values.
    pub fn check(&self, net: &Network) -> Result<()> {
        if self.n == 0 || self.x.len() != self.n * net.input_dim() {
            return Err(Error::Shape(format!(
                "inputs of length {} for {} samples of {} entries",
                self.x.len(),
                self.n,
                net.input_dim()
            )));
        }
        let k = net.output_dim();
        match self.target {
            Target::Labels(l) => {
                if l.len() != self.n {
                    return Err(Error::Shape(format!(
                        "{} labels for {} samples",
                        l.len(),
                        self.n
                    )));
                }
                if let Some((i, &y)) = l.iter().enumerate().find(|&(_, &y)| y >= k) {
                    return Err(Error::Invalid(format!(
                        "label {y} of sample {i} is out of range: the network has {k} outputs"
                    )));
                }
            }
            Target::Values(v) => {
                if v.len() != self.n * k {
                    return Err(Error::Shape(format!(
                        "target values of length {} for {} samples of {k} outputs",
                        v.len(),
                        self.n
                    )));
                }
            }
        }
        Ok(())
    }
}

/// Reusable buffers for training one network: the tape and scratch space for transformed
/// samples, targets and gradients. After the first step with a given batch size nothing is
/// allocated by the training code itself (the buffers only grow).
pub struct Workspace<T> {
    pub(crate) tape: Tape<T>,
    /// Transformed inputs ρ_X(g)x.
    pub(crate) x: Vec<T>,
    /// Transformed target values ρ_Y(g)y.
    pub(crate) y: Vec<T>,
    /// Labels of a minibatch.
    pub(crate) labels: Vec<usize>,
    /// The gradient of one term of the sum over g, or of a minibatch.
    pub(crate) grad: Vec<T>,
    /// The sample order of an SGD epoch.
    pub(crate) order: Vec<usize>,
    /// The group elements applied to the samples of an SGD minibatch.
    pub(crate) drawn: Vec<usize>,
}

impl<T: Scalar> Workspace<T> {
    /// A workspace for `gnet` (gradient buffer of length num_params; the other buffers grow
    /// on first use).
    pub fn new(gnet: &GroupNetwork) -> Workspace<T> {
        Workspace {
            tape: Tape::new(),
            x: Vec::new(),
            y: Vec::new(),
            labels: Vec::new(),
            grad: vec![T::zero(); gnet.network().num_params()],
            order: Vec::new(),
            drawn: Vec::new(),
        }
    }

    /// The tape (e.g. for [`Network::predict`] between steps).
    pub fn tape(&mut self) -> &mut Tape<T> {
        &mut self.tape
    }
}

pub(crate) fn check_theta_grad<T>(net: &Network, theta: &[T], grad: Option<&[T]>) -> Result<()> {
    if theta.len() != net.num_params() {
        return Err(Error::Shape(format!(
            "θ has length {} but the network has {} coefficients",
            theta.len(),
            net.num_params()
        )));
    }
    if let Some(g) = grad {
        if g.len() != net.num_params() {
            return Err(Error::Shape(format!(
                "gradient buffer has length {} but the network has {} coefficients",
                g.len(),
                net.num_params()
            )));
        }
    }
    Ok(())
}

/// R_aug(θ) = Σ_g p_g · loss(Φ_θ(ρ_X(g)x), ρ_Y(g)y) over the law's elements (in the law's
/// order), and ∇_θ R_aug written into `grad`. The loss is the network's mean cross-entropy
/// (labels) or mean squared error (values). Labels are never transformed (classification
/// has trivial ρ_Y, H3); target values are transformed by ρ_Y(g) (↔ `act_on_outputs`).
pub fn augmented_loss_and_grad<T: Scalar>(
    gnet: &GroupNetwork,
    ws: &mut Workspace<T>,
    theta: &[T],
    samples: &Samples<T>,
    law: &Law,
    grad: &mut [T],
) -> Result<T> {
    let net = gnet.network();
    check_theta_grad(net, theta, Some(grad))?;
    samples.check(net)?;
    let Workspace {
        tape,
        x,
        y,
        grad: term_grad,
        ..
    } = ws;
    x.resize(samples.x.len(), T::zero());
    term_grad.resize(net.num_params(), T::zero());
    grad.iter_mut().for_each(|v| *v = T::zero());
    let mut loss = T::zero();
    for (&g, &p) in law.elements().iter().zip(law.probs()) {
        if g >= gnet.group().order() {
            return Err(Error::Invalid(format!(
                "the augmentation law has element {g}, but {} has order {}",
                gnet.group().name(),
                gnet.group().order()
            )));
        }
        gnet.act_on_inputs(g, samples.x, x);
        let target = match samples.target {
            Target::Labels(l) => Target::Labels(l),
            Target::Values(v) => {
                y.resize(v.len(), T::zero());
                gnet.act_on_outputs(g, v, y);
                Target::Values(&y[..])
            }
        };
        let term = net.loss_and_grad(tape, theta, x, samples.n, target, term_grad)?;
        let p = T::of(p);
        loss += p * term;
        for (a, &b) in grad.iter_mut().zip(term_grad.iter()) {
            *a += p * b;
        }
    }
    Ok(loss)
}

/// The nominal risk R(θ) (the law {e}) and ∇_θ R written into `grad`.
pub fn nominal_loss_and_grad<T: Scalar>(
    gnet: &GroupNetwork,
    ws: &mut Workspace<T>,
    theta: &[T],
    samples: &Samples<T>,
    grad: &mut [T],
) -> Result<T> {
    let net = gnet.network();
    check_theta_grad(net, theta, Some(grad))?;
    samples.check(net)?;
    net.loss_and_grad(
        &mut ws.tape,
        theta,
        samples.x,
        samples.n,
        samples.target,
        grad,
    )
}
