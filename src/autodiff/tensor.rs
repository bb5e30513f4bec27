//! Row-major tensors generic over the scalar.

use crate::{Error, Result, Scalar};

/// A row-major tensor: a shape and its data.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor<T> {
    shape: Vec<usize>,
    data: Vec<T>,
}

impl<T: Scalar> Tensor<T> {
    /// A tensor from its shape and row-major data; errors if the sizes disagree.
    pub fn new(shape: Vec<usize>, data: Vec<T>) -> Result<Self> {
        let n: usize = shape.iter().product();
        if n != data.len() {
            return Err(Error::Shape(format!(
                "shape {shape:?} holds {n} entries but {} were given",
                data.len()
            )));
        }
        Ok(Tensor { shape, data })
    }

    /// The zero tensor of a shape.
    pub fn zeros(shape: Vec<usize>) -> Self {
        let n = shape.iter().product();
        Tensor {
            shape,
            data: vec![T::zero(); n],
        }
    }

    /// The shape.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// The row-major data.
    pub fn data(&self) -> &[T] {
        &self.data
    }

    /// The row-major data, mutably.
    pub fn data_mut(&mut self) -> &mut [T] {
        &mut self.data
    }

    /// Consumes the tensor, returning its data.
    pub fn into_data(self) -> Vec<T> {
        self.data
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// Whether the tensor has no entries.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The same data under another shape with as many entries.
    pub fn reshape(self, shape: Vec<usize>) -> Result<Self> {
        Tensor::new(shape, self.data)
    }
}
