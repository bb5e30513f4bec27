//! Shape inference: each layer's description resolved (`None` parametrisations become the
//! full one-hot basis) and checked against the shape of its input.

use crate::nn::layer::{LayerSpec, Padding};
use crate::nn::param::Parametrisation;
use crate::{Error, Result};

fn shape_err(i: usize, kind: &str, msg: String) -> Error {
    Error::Shape(format!("layer {i} ({kind}): {msg}"))
}

/// Resolves a `None` (full one-hot) parametrisation and checks its ambient dimension.
fn resolve(
    i: usize,
    kind: &str,
    what: &str,
    p: Option<Parametrisation>,
    ambient: usize,
) -> Result<Parametrisation> {
    let p = p.unwrap_or_else(|| Parametrisation::full(ambient));
    if p.ambient_dim() != ambient {
        return Err(shape_err(
            i,
            kind,
            format!(
                "the parametrisation of {what} has ambient dimension {} but the layer needs \
                 {ambient}",
                p.ambient_dim()
            ),
        ));
    }
    if p.dim() == 0 {
        return Err(shape_err(
            i,
            kind,
            format!("the parametrisation of {what} has no coefficients"),
        ));
    }
    Ok(p)
}

/// Shape inference for one layer: the resolved spec and the per-sample output shape.
pub(super) fn infer(i: usize, spec: LayerSpec, s: &[usize]) -> Result<(LayerSpec, Vec<usize>)> {
    let kind = spec.kind();
    let image = || -> Result<(usize, usize, usize)> {
        match *s {
            [c, h, w] => Ok((c, h, w)),
            _ => Err(shape_err(
                i,
                kind,
                format!("needs images [C, H, W] per sample (input [N, C, H, W]), got {s:?}"),
            )),
        }
    };
    match spec {
        LayerSpec::Conv2d {
            out_channels,
            kernel,
            param,
            padding,
        } => {
            let (_, h, w) = image()?;
            if out_channels == 0 || kernel == 0 {
                return Err(shape_err(
                    i,
                    kind,
                    "zero output channels or filter side".into(),
                ));
            }
            if padding.top >= kernel || padding.left >= kernel {
                return Err(shape_err(
                    i,
                    kind,
                    format!("padding {padding:?} must be below the filter side {kernel}"),
                ));
            }
            let what = format!("the {kernel}×{kernel} filter");
            let param = resolve(i, kind, &what, Some(param), kernel * kernel)?;
            taps_reach_grid(&param, kernel, padding, (h, w))
                .map_err(|msg| shape_err(i, kind, msg))?;
            let spec = LayerSpec::Conv2d {
                out_channels,
                kernel,
                param,
                padding,
            };
            Ok((spec, vec![out_channels, h, w]))
        }
        LayerSpec::Dense { out, param } => {
            let [inp] = *s else {
                return Err(shape_err(
                    i,
                    kind,
                    format!("needs flat vectors per sample (use flatten first), got {s:?}"),
                ));
            };
            if out == 0 {
                return Err(shape_err(i, kind, "zero outputs".into()));
            }
            let what = format!("the [{out}, {inp}] matrix");
            let p = resolve(i, kind, &what, param, out * inp)?;
            Ok((
                LayerSpec::Dense {
                    out,
                    param: Some(p),
                },
                vec![out],
            ))
        }
        LayerSpec::AvgPool2d(k) => {
            let (c, h, w) = image()?;
            if k == 0 || k > h || k > w {
                return Err(shape_err(
                    i,
                    kind,
                    format!("window {k} does not fit the {h}×{w} grid"),
                ));
            }
            Ok((spec, vec![c, h / k, w / k]))
        }
        LayerSpec::Flatten => Ok((spec, vec![s.iter().product()])),
        LayerSpec::Attention {
            d_k,
            d_v,
            wq,
            wk,
            wv,
        } => {
            let [n, dm] = *s else {
                return Err(shape_err(
                    i,
                    kind,
                    format!("needs tokens [n, d_model] per sample, got {s:?}"),
                ));
            };
            if d_k == 0 || d_v == 0 {
                return Err(shape_err(i, kind, "d_k and d_v must be positive".into()));
            }
            let wq = resolve(i, kind, &format!("W_q [{d_k}, {dm}]"), wq, d_k * dm)?;
            let wk = resolve(i, kind, &format!("W_k [{d_k}, {dm}]"), wk, d_k * dm)?;
            let wv = resolve(i, kind, &format!("W_v [{d_v}, {dm}]"), wv, d_v * dm)?;
            let spec = LayerSpec::Attention {
                d_k,
                d_v,
                wq: Some(wq),
                wk: Some(wk),
                wv: Some(wv),
            };
            Ok((spec, vec![n, d_v]))
        }
        LayerSpec::AddConstant(ref c) => {
            check_constant(i, c, s)?;
            Ok((spec, s.to_vec()))
        }
        LayerSpec::Tanh | LayerSpec::Relu | LayerSpec::LayerNorm => Ok((spec, s.to_vec())),
    }
}

/// Whether every filter tap of `param` reads an in-grid pixel for some output position: a
/// tap at offset (r − top, t − left) does iff |r − top| < H and |t − left| < W; a tap that
/// never does means a support larger than the grid.
fn taps_reach_grid(
    param: &Parametrisation,
    kernel: usize,
    padding: Padding,
    (h, w): (usize, usize),
) -> std::result::Result<(), String> {
    for idx in param.support_indices() {
        let (r, t) = (idx / kernel, idx % kernel);
        let dr = r as isize - padding.top as isize;
        let dt = t as isize - padding.left as isize;
        if dr.unsigned_abs() >= h || dt.unsigned_abs() >= w {
            return Err(format!(
                "filter tap ({r},{t}) never reaches the {h}×{w} grid (support larger than the \
                 grid)"
            ));
        }
    }
    Ok(())
}

/// An added constant must have one finite value per entry of a sample.
fn check_constant(i: usize, c: &[f64], s: &[usize]) -> Result<()> {
    let size: usize = s.iter().product();
    if c.len() != size {
        return Err(shape_err(
            i,
            "add-constant",
            format!(
                "{} values for samples of shape {s:?} ({size} entries)",
                c.len()
            ),
        ));
    }
    if c.iter().any(|x| !x.is_finite()) {
        return Err(Error::Invalid(format!(
            "layer {i} (add-constant): non-finite value"
        )));
    }
    Ok(())
}
