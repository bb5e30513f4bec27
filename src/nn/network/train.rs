//! A training pass: the loss of a batch against its target and ∇_θ, run as micro-batches
//! whose tape memory stays within [`MICRO_BATCH_BYTES`].

use super::{Network, Target, MICRO_BATCH_BYTES};
use crate::autodiff::Tape;
use crate::{Error, Result, Scalar};

impl Network {
    /// The loss of `n` samples against `target` and its gradient ∇_θ (written into `grad`).
    /// Resets and reuses the tape. Errors on wrong lengths or labels ≥ output_dim.
    pub fn loss_and_grad<T: Scalar>(
        &self,
        tape: &mut Tape<T>,
        theta: &[T],
        x: &[T],
        n: usize,
        target: Target<'_, T>,
        grad: &mut [T],
    ) -> Result<T> {
        self.check_inputs(theta, x, n)?;
        if grad.len() != self.num_params {
            return Err(Error::Shape(format!(
                "gradient buffer has length {} but the network has {} coefficients",
                grad.len(),
                self.num_params
            )));
        }
        let k = self.output_dim();
        match target {
            Target::Labels(l) => {
                if l.len() != n {
                    return Err(Error::Shape(format!("{} labels for {n} samples", l.len())));
                }
                if let Some((i, &y)) = l.iter().enumerate().find(|&(_, &y)| y >= k) {
                    return Err(Error::Invalid(format!(
                        "label {y} of sample {i} is out of range: the network has {k} outputs"
                    )));
                }
            }
            Target::Values(v) => {
                if v.len() != n * k {
                    return Err(Error::Shape(format!(
                        "target values of length {} for {n} samples of {k} outputs",
                        v.len()
                    )));
                }
            }
        }
        let rows = self.micro_batch::<T>(n);
        let d = self.input_dim();
        let (mut total, mut start) = (T::zero(), 0);
        loop {
            let m = rows.min(n - start);
            tape.reset();
            let f = self.forward(tape, theta, &x[start * d..(start + m) * d], m)?;
            let loss = match target {
                Target::Labels(l) => tape.cross_entropy(f.output, &l[start..start + m]),
                Target::Values(v) => {
                    let t = tape.constant(&[m, k], &v[start * k..(start + m) * k]);
                    tape.mse(f.output, t)
                }
            };
            if m == n {
                tape.backward(loss);
                f.theta_grad_into(tape, grad);
                return Ok(tape.value(loss)[0]);
            }
            // The batch mean is Σ over micro-batches of (m/n)·(their mean): the same weight
            // scales each micro-batch's gradient, summed into `grad` in micro-batch order.
            let share = T::of(m as f64 / n as f64);
            let weighted = tape.scale(loss, share);
            tape.backward(weighted);
            if start == 0 {
                grad.fill(T::zero());
            }
            for (range, var) in f.param_vars() {
                for (a, &b) in grad[range.clone()].iter_mut().zip(tape.grad(*var)) {
                    *a += b;
                }
            }
            total += tape.value(weighted)[0];
            start += m;
            if start == n {
                return Ok(total);
            }
        }
    }

    /// Samples per forward/backward pass of [`Network::loss_and_grad`]: all `n` if their
    /// tape memory fits [`MICRO_BATCH_BYTES`], else as many as fit (rounded down to a whole
    /// number of the convolution kernels' vector lanes, 16 f32 / 8 f64, when at least that
    /// many fit; at least 1).
    pub fn micro_batch<T: Scalar>(&self, n: usize) -> usize {
        let per_sample = self.tape_floats_per_sample() * std::mem::size_of::<T>();
        let fit = (MICRO_BATCH_BYTES / per_sample.max(1)).max(1);
        if fit >= n {
            return n.max(1);
        }
        let lanes = crate::autodiff::kernels::nt_lanes::<T>();
        if fit >= lanes {
            fit / lanes * lanes
        } else {
            fit
        }
    }

    /// An estimate of the tape entries one sample costs in a training pass: the value and
    /// the gradient of the input and of every layer output the forward computes (a fused
    /// convolution's pre-pooling output is never formed), plus the largest convolution
    /// scratch ([`ConvGeom::scratch_per_sample`]).
    fn tape_floats_per_sample(&self) -> usize {
        let mut values = self.input_dim();
        let mut panel = 0;
        for (layer, conv) in self.layers.iter().zip(&self.convs) {
            if let Some(c) = conv {
                panel = panel.max(c.geom.scratch_per_sample());
            }
            if conv.as_ref().is_none_or(|c| c.pooling.is_none()) {
                values += layer.out_shape.iter().product::<usize>();
            }
        }
        2 * values + panel
    }
}
