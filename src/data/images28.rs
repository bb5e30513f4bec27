//! The bundled 28×28 image sets (see `data/README.md`): 5,000 real MNIST digits
//! ([`load_mnist5k`], CC BY-SA 3.0) and 1,200 grayscale natural-image patches
//! ([`load_natural28`], public domain / CC0), the paper's in-distribution and
//! out-of-distribution data in its own setting (`docs/THEORY.md` §4.1).
//!
//! Both files are embedded in the binary, so nothing depends on the working directory. The
//! parsers reject malformed input with [`Error::Data`] naming the file, line and column,
//! and never panic. Pixels are returned raw, 0..=255 as `f64`.

use super::Dataset;
use crate::{Error, Result};
use std::io::Read;

/// The bundled `data/mnist5k.csv.gz`: gzip CSV, no header, 5000 rows × 785 integer columns
/// (784 pixels of a 28×28 image in row-major order, 0..=255, then the label 0..=9).
pub const MNIST5K_CSV_GZ: &[u8] = include_bytes!("../../data/mnist5k.csv.gz");
/// The bundled `data/natural28.csv.gz`: gzip CSV with one header row, 1200 rows × 785
/// columns (the source photograph's name, then 784 pixels 0..=255 in row-major order).
pub const NATURAL28_CSV_GZ: &[u8] = include_bytes!("../../data/natural28.csv.gz");

/// Side of the images (28).
pub const SIDE28: usize = 28;
const PIXELS: usize = SIDE28 * SIDE28;
const MAX_PIXEL: u32 = 255;
const CLASSES: usize = 10;
/// Refuse to inflate more than this many bytes (the files inflate to 9.1 MB and 3.3 MB).
const MAX_INFLATED: u64 = 64 << 20;

/// The 5,000 MNIST images: shape `[1, 28, 28]`, raw pixels 0..=255, labels 0..=9 (500 per
/// class, grouped by class in the file).
pub fn load_mnist5k() -> Result<Dataset> {
    parse_mnist_csv(MNIST5K_CSV_GZ, "mnist5k.csv.gz")
}

/// The 1,200 natural-image patches: shape `[1, 28, 28]`, raw pixels 0..=255, no labels, and
/// the source photograph of every patch (12 sources, 100 patches each).
pub fn load_natural28() -> Result<(Dataset, Vec<String>)> {
    parse_natural_csv(NATURAL28_CSV_GZ, "natural28.csv.gz")
}

/// Parses gzip bytes in the MNIST format (no header, 785 integer fields: 784 pixels in
/// 0..=255, then a label in 0..=9). `name` prefixes every error.
pub fn parse_mnist_csv(gz_bytes: &[u8], name: &str) -> Result<Dataset> {
    let csv = inflate(gz_bytes, name)?;
    let mut inputs = Vec::new();
    let mut labels = Vec::new();
    for_each_row(&csv, name, false, |line_no, fields| {
        for (c, field) in fields.iter().enumerate() {
            let v = field_uint(field, name, line_no, c + 1)?;
            if c < PIXELS {
                inputs.push(pixel(v, name, line_no, c + 1)?);
            } else if (v as usize) < CLASSES {
                labels.push(v as usize);
            } else {
                return Err(Error::Data(format!(
                    "{name}: line {line_no}, column {}: label {v} is outside 0..={}",
                    c + 1,
                    CLASSES - 1
                )));
            }
        }
        Ok(())
    })?;
    Dataset::new(
        inputs,
        vec![1, SIDE28, SIDE28],
        Some(labels),
        None,
        0,
        CLASSES,
    )
}

/// Parses gzip bytes in the natural-patch format (a header row, then rows of a source name
/// and 784 integer pixels in 0..=255). `name` prefixes every error.
pub fn parse_natural_csv(gz_bytes: &[u8], name: &str) -> Result<(Dataset, Vec<String>)> {
    let csv = inflate(gz_bytes, name)?;
    let mut inputs = Vec::new();
    let mut sources = Vec::new();
    for_each_row(&csv, name, true, |line_no, fields| {
        let source = std::str::from_utf8(fields[0])
            .ok()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| {
                Error::Data(format!(
                    "{name}: line {line_no}, column 1: the source name is empty or not UTF-8"
                ))
            })?;
        sources.push(source.to_string());
        for (c, field) in fields.iter().enumerate().skip(1) {
            let v = field_uint(field, name, line_no, c + 1)?;
            inputs.push(pixel(v, name, line_no, c + 1)?);
        }
        Ok(())
    })?;
    let data = Dataset::new(inputs, vec![1, SIDE28, SIDE28], None, None, 0, 0)?;
    Ok((data, sources))
}

/// Calls `row(line_no, fields)` for every data row (after the header if `header`), checking
/// that each has exactly 785 fields; errors if there is no data row.
fn for_each_row(
    csv: &[u8],
    name: &str,
    header: bool,
    mut row: impl FnMut(usize, &[&[u8]]) -> Result<()>,
) -> Result<()> {
    let body = csv.strip_suffix(b"\n").unwrap_or(csv);
    let mut rows = 0;
    let lines = (!body.is_empty()).then(|| body.split(|&b| b == b'\n'));
    for (idx, raw) in lines.into_iter().flatten().enumerate() {
        if header && idx == 0 {
            continue;
        }
        let line_no = idx + 1;
        let line = raw.strip_suffix(b"\r").unwrap_or(raw);
        let fields: Vec<&[u8]> = line.split(|&b| b == b',').collect();
        if fields.len() != PIXELS + 1 {
            return Err(Error::Data(format!(
                "{name}: line {line_no}, column {}: expected {} comma-separated fields, found {}",
                fields.len().min(PIXELS + 1) + 1,
                PIXELS + 1,
                fields.len()
            )));
        }
        row(line_no, &fields)?;
        rows += 1;
    }
    if rows == 0 {
        return Err(Error::Data(format!(
            "{name}: line {}, column 1: the file has no data rows",
            usize::from(header) + 1
        )));
    }
    Ok(())
}

fn field_uint(field: &[u8], name: &str, line: usize, col: usize) -> Result<u32> {
    let parsed = (!field.is_empty())
        .then(|| {
            field.iter().try_fold(0u32, |acc, &b| {
                b.is_ascii_digit()
                    .then(|| acc.checked_mul(10)?.checked_add(u32::from(b - b'0')))
                    .flatten()
            })
        })
        .flatten();
    parsed.ok_or_else(|| {
        Error::Data(format!(
            "{name}: line {line}, column {col}: {:?} is not a non-negative integer",
            String::from_utf8_lossy(field)
        ))
    })
}

fn pixel(v: u32, name: &str, line: usize, col: usize) -> Result<f64> {
    if v > MAX_PIXEL {
        return Err(Error::Data(format!(
            "{name}: line {line}, column {col}: pixel {v} is outside 0..={MAX_PIXEL}"
        )));
    }
    Ok(f64::from(v))
}

fn inflate(gz_bytes: &[u8], name: &str) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(gz_bytes)
        .take(MAX_INFLATED + 1)
        .read_to_end(&mut out)
        .map_err(|e| Error::Data(format!("{name}: corrupt gzip stream: {e}")))?;
    if out.len() as u64 > MAX_INFLATED {
        return Err(Error::Data(format!(
            "{name}: gzip stream inflates to more than {MAX_INFLATED} bytes"
        )));
    }
    Ok(out)
}

/// Box-averages `[n, side, side]` images down to `[n, out, out]` (area resampling): output
/// pixel (r, c) is the area-weighted mean of the input square [r·s, (r+1)·s) × [c·s, (c+1)·s)
/// with s = side / out (3.5 for 28 → 8), partially covered pixels weighted by the covered
/// fraction. The map commutes with the grid's rotations and flips (the weights of a pixel
/// pair depend only on their positions, symmetrically about the centre), so rotating then
/// resizing equals resizing then rotating.
pub fn area_resize(images: &[f64], side: usize, out: usize) -> Result<Vec<f64>> {
    if side == 0 || out == 0 || out > side || !images.len().is_multiple_of(side * side) {
        return Err(Error::Shape(format!(
            "area_resize: {} values are not whole {side}×{side} images, or {out} is not in 1..={side}",
            images.len()
        )));
    }
    // weights[o][i]: fraction of input row i inside output row o, times out/side.
    let scale = side as f64 / out as f64;
    let weights: Vec<Vec<(usize, f64)>> = (0..out)
        .map(|o| {
            let (lo, hi) = (o as f64 * scale, (o + 1) as f64 * scale);
            (0..side)
                .filter_map(|i| {
                    let overlap = (hi.min((i + 1) as f64) - lo.max(i as f64)).max(0.0);
                    (overlap > 0.0).then_some((i, overlap / scale))
                })
                .collect()
        })
        .collect();
    let mut result = Vec::with_capacity(images.len() / (side * side) * out * out);
    for img in images.chunks_exact(side * side) {
        for wr in &weights {
            for wc in &weights {
                let mut s = 0.0;
                for &(i, a) in wr {
                    for &(j, b) in wc {
                        s += a * b * img[i * side + j];
                    }
                }
                result.push(s);
            }
        }
    }
    Ok(result)
}
