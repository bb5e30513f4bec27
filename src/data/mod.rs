//! Inputs for the experiments: the bundled UCI digits ([`digits`]), the bundled 28×28 MNIST
//! subset and natural-image patches ([`images28`]), seeded synthetic inputs
//! ([`synthetic`]), and the one container they all come in, [`Dataset`].
//!
//! Storage is `f64` throughout; [`Dataset::batch_into`] converts a batch to the training
//! scalar `T: Scalar`.

pub mod digits;
pub mod images28;
pub mod synthetic;

pub use digits::{
    digits_split, load_digits, load_digits_from, parse_digits, stratified_split, DigitsSplit,
    DIGITS_CSV_GZ,
};
pub use images28::{
    area_resize, load_mnist5k, load_natural28, parse_mnist_csv, parse_natural_csv, MNIST5K_CSV_GZ,
    NATURAL28_CSV_GZ, SIDE28,
};
pub use synthetic::{binomial_blur_3x3, gaussian_images, point_clouds, smoothed_noise_images};

use crate::{Error, Result, Scalar};

/// A set of n samples x_i ∈ X (flattened, row-major), with optional class labels or vector
/// targets y_i.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// The inputs x_i, `n × input_len` row-major (sample i is
    /// `inputs[i * input_len .. (i + 1) * input_len]`).
    pub inputs: Vec<f64>,
    /// The shape of one sample, e.g. `[1, 8, 8]` for a digit or `[points, 2]` for a point cloud.
    pub input_shape: Vec<usize>,
    /// Class labels in `0..num_classes`, one per sample (classification), if any.
    pub labels: Option<Vec<usize>>,
    /// Vector targets y_i, `n × target_dim` row-major (regression), if any.
    pub targets: Option<Vec<f64>>,
    /// Length of one target vector (0 when `targets` is `None`).
    pub target_dim: usize,
    /// Number of classes K (0 when there are no labels).
    pub num_classes: usize,
}

impl Dataset {
    /// Builds a dataset and checks that every part has a consistent size: `inputs.len()` is a
    /// multiple of the product of `input_shape`, labels (one per sample) lie in
    /// `0..num_classes`, and targets hold `n × target_dim` values.
    pub fn new(
        inputs: Vec<f64>,
        input_shape: Vec<usize>,
        labels: Option<Vec<usize>>,
        targets: Option<Vec<f64>>,
        target_dim: usize,
        num_classes: usize,
    ) -> Result<Self> {
        let input_len = input_shape
            .iter()
            .try_fold(1usize, |acc, &d| acc.checked_mul(d))
            .ok_or_else(|| Error::Shape(format!("input shape {input_shape:?} overflows")))?;
        if input_len == 0 {
            return Err(Error::Shape(format!(
                "input shape {input_shape:?} has no entries"
            )));
        }
        if !inputs.len().is_multiple_of(input_len) {
            return Err(Error::Shape(format!(
                "{} input values are not a whole number of samples of shape {input_shape:?}",
                inputs.len()
            )));
        }
        let n = inputs.len() / input_len;
        if let Some(labels) = &labels {
            if labels.len() != n {
                return Err(Error::Shape(format!(
                    "{} labels for {n} samples",
                    labels.len()
                )));
            }
            if let Some((i, &l)) = labels.iter().enumerate().find(|(_, &l)| l >= num_classes) {
                return Err(Error::Shape(format!(
                    "label {l} of sample {i} is outside 0..{num_classes}"
                )));
            }
        }
        match &targets {
            Some(t) if Some(t.len()) != n.checked_mul(target_dim) => {
                return Err(Error::Shape(format!(
                    "{} target values for {n} samples of target dimension {target_dim}",
                    t.len()
                )));
            }
            None if target_dim != 0 => {
                return Err(Error::Shape(format!(
                    "target dimension {target_dim} given without targets"
                )));
            }
            _ => {}
        }
        Ok(Dataset {
            inputs,
            input_shape,
            labels,
            targets,
            target_dim,
            num_classes,
        })
    }

    /// Number of values in one sample (the product of `input_shape`).
    pub fn input_len(&self) -> usize {
        self.input_shape.iter().product()
    }

    /// Number of samples n.
    pub fn len(&self) -> usize {
        self.inputs.len() / self.input_len().max(1)
    }

    /// Whether the dataset holds no samples.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Sample i as a slice of `input_len` values.
    ///
    /// # Panics
    /// If `i >= len()` (an internal index, not user input).
    pub fn input(&self, i: usize) -> &[f64] {
        let d = self.input_len();
        &self.inputs[i * d..(i + 1) * d]
    }

    /// The samples at `indices` (in that order, repeats allowed) as a new dataset.
    pub fn subset(&self, indices: &[usize]) -> Result<Dataset> {
        let n = self.len();
        if let Some(&bad) = indices.iter().find(|&&i| i >= n) {
            return Err(Error::Invalid(format!(
                "sample index {bad} is out of range for a dataset of {n} samples"
            )));
        }
        let d = self.input_len();
        let mut inputs = Vec::with_capacity(indices.len() * d);
        for &i in indices {
            inputs.extend_from_slice(self.input(i));
        }
        let labels = self
            .labels
            .as_ref()
            .map(|l| indices.iter().map(|&i| l[i]).collect());
        let targets = self.targets.as_ref().map(|t| {
            let td = self.target_dim;
            let mut out = Vec::with_capacity(indices.len() * td);
            for &i in indices {
                out.extend_from_slice(&t[i * td..(i + 1) * td]);
            }
            out
        });
        Ok(Dataset {
            inputs,
            input_shape: self.input_shape.clone(),
            labels,
            targets,
            target_dim: self.target_dim,
            num_classes: self.num_classes,
        })
    }

    /// Writes the inputs at `indices` into `out` (cleared first) as a `[batch, input_shape…]`
    /// row-major batch in the scalar `T` (rounded for `f32`).
    ///
    /// # Panics
    /// If an index is `>= len()`; batch indices are produced by the crate's samplers.
    pub fn batch_into<T: Scalar>(&self, indices: &[usize], out: &mut Vec<T>) {
        out.clear();
        out.reserve(indices.len() * self.input_len());
        for &i in indices {
            out.extend(self.input(i).iter().map(|&v| T::of(v)));
        }
    }

    /// Replaces every input value v by (v − mean) / std: one global affine map, which
    /// commutes with every permutation of pixels (so with rotations and flips).
    pub fn normalise_with(&mut self, mean: f64, std: f64) -> Result<()> {
        if !(mean.is_finite() && std.is_finite() && std > 0.0) {
            return Err(Error::Invalid(format!(
                "normalisation needs a finite mean and a positive finite std, got {mean}, {std}"
            )));
        }
        for v in &mut self.inputs {
            *v = (*v - mean) / std;
        }
        Ok(())
    }

    /// Mean and population standard deviation (divisor N) over all input values of all
    /// samples, summed in storage order. Returns `(NaN, NaN)` for an empty dataset.
    ///
    /// This is the normalisation [`digits_split`] applies and the experiment's recorded
    /// results (`docs/results`) were computed with; kept as is so that they stay
    /// reproducible. To compare with numpy (`x.mean()`, `x.std()`, pairwise sums) use
    /// [`Dataset::value_mean_std_pairwise`]: on the raw digits' training split (92,032
    /// integer pixel values) the means agree exactly and the standard deviations differ by
    /// 2.7e-13 relative (`tests/stats_sums.rs`), enough to change the normalised inputs'
    /// bits and hence the recorded results.
    pub fn value_mean_std(&self) -> (f64, f64) {
        let n = self.inputs.len() as f64;
        let mean = self.inputs.iter().sum::<f64>() / n;
        let var = self
            .inputs
            .iter()
            .map(|&v| (v - mean) * (v - mean))
            .sum::<f64>()
            / n;
        (mean, var.sqrt())
    }

    /// Mean and population standard deviation (divisor N) of all input values with pairwise
    /// sums ([`pairwise_sum`](crate::metrics::pairwise_sum)), step by step as numpy's
    /// `x.mean()` and `x.std()`: rounding error O(u·log N) instead of O(u·N) for
    /// [`Dataset::value_mean_std`]. `(NaN, NaN)` for an empty dataset.
    ///
    /// ```
    /// use eqens::data::Dataset;
    ///
    /// let d = Dataset::new(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], vec![3], None, None, 0, 0)?;
    /// let (mean, std) = d.value_mean_std_pairwise();
    /// assert_eq!(mean, 3.5);
    /// assert_eq!(std, (17.5f64 / 6.0).sqrt()); // Σ(x − 3.5)² = 17.5
    /// # Ok::<(), eqens::Error>(())
    /// ```
    pub fn value_mean_std_pairwise(&self) -> (f64, f64) {
        use crate::metrics::pairwise_sum;
        let n = self.inputs.len() as f64;
        let mean = pairwise_sum(&self.inputs) / n;
        let sq: Vec<f64> = self
            .inputs
            .iter()
            .map(|&v| (v - mean) * (v - mean))
            .collect();
        (mean, (pairwise_sum(&sq) / n).sqrt())
    }
}
