//! The layer catalogue: linear layers (parametrised by a [`Parametrisation`]) and the
//! parameter-free maps σ_i between them.

use super::param::Parametrisation;
use super::support::Support;
use std::ops::Range;

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
    /// space: the row-major matrix [out, in]; θ block layout `[d]`.
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
            LayerSpec::AvgPool2d(_)
            | LayerSpec::Tanh
            | LayerSpec::Relu
            | LayerSpec::LayerNorm
            | LayerSpec::Flatten
            | LayerSpec::AddConstant(_) => vec![],
        }
    }

    /// The linear maps A_i of this layer on per-sample inputs of shape `in_shape`, in θ
    /// order: the one place that says, per kind, what each map's parametrised unit is, how
    /// many units repeat, its fan-in and how ρ(g) lifts onto it. Each map's `theta` is
    /// relative to the layer's block ([`Layer::linear_maps`](super::Layer::linear_maps)
    /// shifts it). Unresolved `None` parametrisations are skipped; `in_shape` must fit the
    /// kind (as [`Network::new`](super::Network::new) checks).
    pub fn linear_maps(&self, in_shape: &[usize]) -> Vec<LinearMap<'_>> {
        // (name, parametrisation, unit, repeat, fan-in, lift) per map.
        type Row<'p> = (&'static str, &'p Parametrisation, Unit, usize, usize, Lift);
        let rows: Vec<Row<'_>> = match self {
            LayerSpec::Conv2d {
                out_channels,
                kernel: k,
                param,
                ..
            } => {
                let c_in = in_shape[0];
                // One k×k filter per (out, in) channel pair: θ block [C_out, C_in, d].
                vec![(
                    "filter",
                    param,
                    Unit::Filter { k: *k },
                    out_channels * c_in,
                    c_in * k * k,
                    Lift::GridFilter,
                )]
            }
            LayerSpec::Dense { out, param } => {
                let cols = in_shape[0];
                let unit = Unit::Matrix { rows: *out, cols };
                param
                    .iter()
                    .map(|p| ("A", p, unit, 1, cols, Lift::Sandwich))
                    .collect()
            }
            LayerSpec::Attention {
                d_k,
                d_v,
                wq,
                wk,
                wv,
            } => {
                let dm = in_shape[1];
                [("W_q", wq, *d_k), ("W_k", wk, *d_k), ("W_v", wv, *d_v)]
                    .into_iter()
                    .filter_map(|(name, p, rows)| {
                        let unit = Unit::Matrix { rows, cols: dm };
                        p.as_ref().map(|p| (name, p, unit, 1, dm, Lift::Fixed))
                    })
                    .collect()
            }
            LayerSpec::AvgPool2d(_)
            | LayerSpec::Tanh
            | LayerSpec::Relu
            | LayerSpec::LayerNorm
            | LayerSpec::Flatten
            | LayerSpec::AddConstant(_) => vec![],
        };
        let mut start = 0;
        rows.into_iter()
            .map(|(name, param, unit, repeat, fan_in, lift)| {
                let len = repeat * param.dim();
                start += len;
                LinearMap {
                    name,
                    param,
                    unit,
                    repeat,
                    fan_in,
                    lift,
                    theta: start - len..start,
                }
            })
            .collect()
    }

    /// The same layer with every linear map parametrised by the full one-hot basis of its
    /// unit (𝓛_i = H_i); unresolved `None`s stay `None` (they resolve to the same).
    pub fn ambient(&self) -> LayerSpec {
        let full = |p: &Option<Parametrisation>| {
            p.as_ref().map(|p| Parametrisation::full(p.ambient_dim()))
        };
        match self {
            LayerSpec::Conv2d {
                out_channels,
                kernel,
                padding,
                ..
            } => LayerSpec::Conv2d {
                out_channels: *out_channels,
                kernel: *kernel,
                param: Parametrisation::full(kernel * kernel),
                padding: *padding,
            },
            LayerSpec::Dense { out, param } => LayerSpec::Dense {
                out: *out,
                param: full(param),
            },
            LayerSpec::Attention {
                d_k,
                d_v,
                wq,
                wk,
                wv,
            } => LayerSpec::Attention {
                d_k: *d_k,
                d_v: *d_v,
                wq: full(wq),
                wk: full(wk),
                wv: full(wv),
            },
            LayerSpec::AvgPool2d(_)
            | LayerSpec::Tanh
            | LayerSpec::Relu
            | LayerSpec::LayerNorm
            | LayerSpec::Flatten
            | LayerSpec::AddConstant(_) => self.clone(),
        }
    }
}

/// The parametrised unit of a linear map: the ambient space H_i its [`Parametrisation`]
/// lives on (one filter, or one matrix), row-major.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// A k×k filter (ambient dimension k²).
    Filter {
        /// Filter side k.
        k: usize,
    },
    /// A [rows, cols] matrix (ambient dimension rows·cols).
    Matrix {
        /// Rows (outputs).
        rows: usize,
        /// Columns (inputs).
        cols: usize,
    },
}

impl Unit {
    /// The ambient dimension of one unit.
    pub fn dim(self) -> usize {
        match self {
            Unit::Filter { k } => k * k,
            Unit::Matrix { rows, cols } => rows * cols,
        }
    }

    /// "k×k filter" or "[rows, cols] matrix", for messages.
    pub fn describe(self) -> String {
        match self {
            Unit::Filter { k } => format!("{k}×{k} filter"),
            Unit::Matrix { rows, cols } => format!("[{rows}, {cols}] matrix"),
        }
    }

    /// The name of entry `i`: `(r,c)` for a filter tap, `[o,i]` for a matrix entry.
    pub fn index_name(self, i: usize) -> String {
        match self {
            Unit::Filter { k } => format!("({},{})", i / k, i % k),
            Unit::Matrix { cols, .. } => format!("[{},{}]", i / cols, i % cols),
        }
    }

    /// "taps" or "entries".
    pub fn noun(self) -> &'static str {
        match self {
            Unit::Filter { .. } => "taps",
            Unit::Matrix { .. } => "entries",
        }
    }
}

/// How ρ(g) lifts onto one unit of a linear map A_i: ρ(g)A_i = ρ_{i+1}(g) A_i ρ_i(g)⁻¹.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lift {
    /// A convolution between grid actions: ρ(g) rotates (or flips) every k×k filter about
    /// its centre (a tap permutation).
    GridFilter,
    /// A dense map between X_in and X_out: A ↦ ρ_out(g) A ρ_in(g)ᵀ.
    Sandwich,
    /// Fixed by every g (attention weights act on features carrying the trivial
    /// representation).
    Fixed,
}

/// One linear map A_i of a layer, as [`LayerSpec::linear_maps`] describes it.
#[derive(Clone, Debug, PartialEq)]
pub struct LinearMap<'a> {
    /// The map's name within its layer: "filter", "A", "W_q", "W_k" or "W_v".
    pub name: &'static str,
    /// The parametrisation 𝓛_i of one unit.
    pub param: &'a Parametrisation,
    /// The parametrised unit.
    pub unit: Unit,
    /// How many units the map has, each with its own coefficients (C_out·C_in filters for a
    /// convolution, 1 otherwise); the θ block is [repeat, d].
    pub repeat: usize,
    /// Inputs summed into one output entry (C_in·k² for a convolution, the input width for
    /// a matrix), the scale of random weights N(0, 1/fan_in).
    pub fan_in: usize,
    /// How ρ(g) acts on a unit.
    pub lift: Lift,
    /// The map's coefficients in θ (relative to its layer's block for
    /// [`LayerSpec::linear_maps`], absolute for [`Layer::linear_maps`](super::Layer::linear_maps)).
    pub theta: Range<usize>,
}
