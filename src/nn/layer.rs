//! The layer catalogue: linear layers (parametrised by a [`Parametrisation`]) and the
//! parameter-free maps σ_i between them.

use super::param::Parametrisation;
use super::support::Support;

/// Zero padding of a convolution: rows above and columns left of the grid. The output keeps
/// the input's H×W, so the padding below/right is implied (k − 1 − top, k − 1 − left).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Padding {
    /// Zero rows above the grid.
    pub top: usize,
    /// Zero columns left of the grid.
    pub left: usize,
}

impl Padding {
    /// Symmetric ("same") padding (k − 1)/2 on every side, for odd k.
    pub fn same(k: usize) -> Padding {
        Padding {
            top: (k.saturating_sub(1)) / 2,
            left: (k.saturating_sub(1)) / 2,
        }
    }
}

/// Layer norm's ε: (x − mean)/√(var + ε) with the biased variance.
pub const LAYER_NORM_EPS: f64 = 1e-5;

/// One layer of a network, described before shape inference.
///
/// Linear layers whose ambient space depends on the input size (dense, attention) take an
/// `Option<Parametrisation>`: `None` means the full one-hot basis of the ambient space
/// (𝓛 = H), resolved by [`Network::new`](super::Network::new); after building, every
/// [`Layer`](super::Layer)'s spec holds `Some`.
#[derive(Clone, Debug, PartialEq)]
pub enum LayerSpec {
    /// Stride-1 zero-padded 2-D cross-correlation [N, C_in, H, W] → [N, C_out, H, W]; no bias.
    /// The filter basis lives on one k×k filter (ambient dimension k²) and is replicated over
    /// every (out, in) channel pair; θ block layout [C_out, C_in, d].
    Conv2d {
        /// C_out.
        out_channels: usize,
        /// Filter side k.
        kernel: usize,
        /// Parametrisation of one filter (ambient dimension k²).
        param: Parametrisation,
        /// Zero padding (the output keeps the grid size).
        padding: Padding,
    },
    /// y = A x on flat vectors [N, in] → [N, out] (use `Flatten` before); no bias. Ambient
    /// space: the row-major matrix [out, in]; θ block layout [d].
    Dense {
        /// Output size.
        out: usize,
        /// Parametrisation of the [out, in] matrix; `None` = full one-hot.
        param: Option<Parametrisation>,
    },
    /// k×k average pooling with stride k; trailing rows/columns that do not fill a window are
    /// dropped (floor), which is allowed on purpose (odd grids are a negative control of H2).
    AvgPool2d(usize),
    /// tanh, elementwise.
    Tanh,
    /// max(0, x), elementwise.
    Relu,
    /// Layer norm without affine parameters over all axes of each sample, ε =
    /// [`LAYER_NORM_EPS`].
    LayerNorm,
    /// Reshape each sample to a flat vector.
    Flatten,
    /// Single-head self-attention on tokens [n, d_model] → [n, d_v]:
    /// softmax(Q Kᵀ/√d_k) V with Q = X W_qᵀ, K = X W_kᵀ, V = X W_vᵀ, no biases.
    /// Ambient spaces: W_q, W_k ∈ [d_k, d_model], W_v ∈ [d_v, d_model]; θ block layout
    /// [wq | wk | wv].
    Attention {
        /// Query/key size d_k.
        d_k: usize,
        /// Value size d_v.
        d_v: usize,
        /// Parametrisation of W_q; `None` = full one-hot.
        wq: Option<Parametrisation>,
        /// Parametrisation of W_k; `None` = full one-hot.
        wk: Option<Parametrisation>,
        /// Parametrisation of W_v; `None` = full one-hot.
        wv: Option<Parametrisation>,
    },
    /// Adds a fixed position-dependent vector (per-sample shape, row-major). Breaks
    /// equivariance (H2): used only as a negative control.
    AddConstant(Vec<f64>),
}

impl LayerSpec {
    /// Convolution with a one-hot basis on the support Ω and same padding (k = Ω's side).
    pub fn conv(out_channels: usize, support: &Support) -> LayerSpec {
        LayerSpec::Conv2d {
            out_channels,
            kernel: support.k(),
            param: Parametrisation::from_support(support),
            padding: Padding::same(support.k()),
        }
    }

    /// Convolution with a k×k filter parametrisation and same padding.
    pub fn conv_with(out_channels: usize, kernel: usize, param: Parametrisation) -> LayerSpec {
        LayerSpec::Conv2d {
            out_channels,
            kernel,
            param,
            padding: Padding::same(kernel),
        }
    }

    /// Dense layer with the full one-hot basis of [out, in] (in is inferred at build time).
    pub fn dense_full(out: usize) -> LayerSpec {
        LayerSpec::Dense { out, param: None }
    }

    /// Dense layer with an explicit parametrisation of the [out, in] matrix.
    pub fn dense_with(out: usize, param: Parametrisation) -> LayerSpec {
        LayerSpec::Dense {
            out,
            param: Some(param),
        }
    }

    /// Attention with full one-hot bases for W_q, W_k, W_v.
    pub fn attention_full(d_k: usize, d_v: usize) -> LayerSpec {
        LayerSpec::Attention {
            d_k,
            d_v,
            wq: None,
            wk: None,
            wv: None,
        }
    }

    /// A short name for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            LayerSpec::Conv2d { .. } => "conv2d",
            LayerSpec::Dense { .. } => "dense",
            LayerSpec::AvgPool2d(_) => "avgpool2d",
            LayerSpec::Tanh => "tanh",
            LayerSpec::Relu => "relu",
            LayerSpec::LayerNorm => "layernorm",
            LayerSpec::Flatten => "flatten",
            LayerSpec::Attention { .. } => "attention",
            LayerSpec::AddConstant(_) => "add-constant",
        }
    }

    /// The parametrisations of the layer's linear maps, in θ order (empty for parameter-free
    /// layers; unresolved `None`s are skipped).
    pub fn params(&self) -> Vec<&Parametrisation> {
        match self {
            LayerSpec::Conv2d { param, .. } => vec![param],
            LayerSpec::Dense { param, .. } => param.iter().collect(),
            LayerSpec::Attention { wq, wk, wv, .. } => [wq, wk, wv].into_iter().flatten().collect(),
            _ => vec![],
        }
    }
}
