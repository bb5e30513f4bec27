//! Ambient weights: A_i = A_𝓛 + Σ θ_k B_k of every linear map from θ, θ back from A ∈ 𝓛,
//! and the same network on the full ambient space H.

use super::{plan_convs, Layer, Network};
use crate::nn::layer::LinearMap;
use crate::{Error, Result};

impl Network {
    /// The ambient weights A_i = A_𝓛 + Σ θ_k B_k of every linear map, in layer order:
    /// a convolution gives [C_out, C_in, k, k] row-major, a dense layer [out, in], an
    /// attention layer three entries W_q, W_k, W_v.
    ///
    /// # Panics
    /// If `theta.len() != num_params()` (callers validate θ first).
    pub fn ambient_weights(&self, theta: &[f64]) -> Vec<Vec<f64>> {
        assert_eq!(theta.len(), self.num_params, "ambient_weights: θ length");
        let mut out = Vec::new();
        for layer in &self.layers {
            for (p, range) in layer.linear_blocks() {
                let block = &theta[range];
                let mut a = Vec::with_capacity(block.len() / p.dim() * p.ambient_dim());
                for filter in block.chunks(p.dim()) {
                    a.extend(p.expand(filter));
                }
                out.push(a);
            }
        }
        out
    }

    /// θ from ambient weights laid out as in [`Network::ambient_weights`] (per filter / per
    /// matrix least squares); errors on wrong counts or lengths, or if some A_i ∉ 𝓛_i.
    pub fn theta_from_ambient(&self, a: &[Vec<f64>]) -> Result<Vec<f64>> {
        let maps: Vec<(usize, LinearMap<'_>)> = self
            .layers
            .iter()
            .enumerate()
            .flat_map(|(i, l)| l.linear_maps().into_iter().map(move |m| (i, m)))
            .collect();
        if a.len() != maps.len() {
            return Err(Error::Shape(format!(
                "{} weight arrays for a network with {} linear maps",
                a.len(),
                maps.len()
            )));
        }
        let mut theta = Vec::with_capacity(self.num_params);
        for ((i, m), ai) in maps.into_iter().zip(a) {
            let kind = self.layers[i].spec.kind();
            let p = m.param;
            if ai.len() != m.repeat * p.ambient_dim() {
                return Err(Error::Shape(format!(
                    "layer {i} ({kind}): ambient weights of length {}, expected {}",
                    ai.len(),
                    m.repeat * p.ambient_dim()
                )));
            }
            for (j, filter) in ai.chunks(p.ambient_dim()).enumerate() {
                let t = p
                    .coefficients_of(filter)
                    .map_err(|e| Error::Invalid(format!("layer {i} ({kind}), block {j}: {e}")))?;
                theta.extend(t);
            }
        }
        Ok(theta)
    }

    /// The same network with every linear map parametrised by the full one-hot basis of its
    /// ambient space (𝓛 = H): its θ is the concatenation of [`Network::ambient_weights`], and
    /// `ambient_network().forward(concat(ambient_weights(θ)))` equals `forward(θ)`.
    pub fn ambient_network(&self) -> Network {
        let mut offset = 0;
        let layers: Vec<Layer> = self
            .layers
            .iter()
            .map(|l| {
                let spec = l.spec.ambient();
                let mut layer = Layer {
                    spec,
                    in_shape: l.in_shape.clone(),
                    out_shape: l.out_shape.clone(),
                    theta: 0..0,
                };
                let size: usize = layer.linear_blocks().iter().map(|(_, r)| r.len()).sum();
                layer.theta = offset..offset + size;
                offset += size;
                layer
            })
            .collect();
        Network {
            input_shape: self.input_shape.clone(),
            convs: plan_convs(&layers),
            layers,
            num_params: offset,
        }
    }
}
