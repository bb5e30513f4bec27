//! The bundled UCI optical hand-written digits (Alpaydin & Kaynak 1998, CC BY 4.0; see
//! `data/README.md`): 1797 grayscale 8×8 images with pixels in 0..=16 and labels 0..=9.
//!
//! The file is embedded in the binary ([`DIGITS_CSV_GZ`]), so nothing depends on the working
//! directory. The parser rejects every malformed input with [`Error::Data`] naming the line
//! and column, and never panics.

use super::Dataset;
use crate::{Error, Result};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::io::Read;
use std::path::Path;

/// The bundled `data/digits.csv.gz`, byte for byte: gzip CSV, no header, 1797 rows × 65
/// integer columns (64 pixels of an 8×8 image in row-major order, then the label).
pub const DIGITS_CSV_GZ: &[u8] = include_bytes!("../../data/digits.csv.gz");

/// Side of a digit image (8).
pub const DIGIT_SIDE: usize = 8;
/// Pixels per digit image (64).
const PIXELS: usize = DIGIT_SIDE * DIGIT_SIDE;
/// Largest pixel value (16: the number of "on" bits in a 4×4 block).
const MAX_PIXEL: u32 = 16;
/// Number of classes (digits 0..=9).
const CLASSES: usize = 10;
/// Refuse to inflate more than this many bytes (the real file inflates to 264 712 bytes).
const MAX_INFLATED: u64 = 64 << 20;

/// Parses the bundled digits: 1797 samples of shape `[1, 8, 8]`, raw pixels 0..=16 as `f64`,
/// labels 0..=9.
pub fn load_digits() -> Result<Dataset> {
    parse_digits(DIGITS_CSV_GZ)
}

/// Reads and parses a digits file in the bundled format from `path`.
pub fn load_digits_from(path: impl AsRef<Path>) -> Result<Dataset> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| Error::Io(format!("{}: {e}", path.display())))?;
    parse_digits(&bytes)
}

/// Parses gzip-compressed digits CSV bytes. Lines and columns in error messages are 1-based.
///
/// Every gzip member is read. Rejected with [`Error::Data`]: a corrupt or truncated gzip
/// stream (CRC and length are checked), trailing bytes that are not a gzip member, a line without exactly 65 fields, a field that is not a plain decimal integer,
/// a pixel outside 0..=16, a label outside 0..=9, and a file with no rows. A final `\n` is
/// allowed; a `\r` before it is tolerated.
pub fn parse_digits(gz_bytes: &[u8]) -> Result<Dataset> {
    let csv = inflate(gz_bytes)?;
    let mut body: &[u8] = &csv;
    if let Some(stripped) = body.strip_suffix(b"\n") {
        body = stripped;
    }
    if body.is_empty() {
        return Err(Error::Data(
            "line 1, column 1: the digits file has no rows".into(),
        ));
    }
    let mut inputs = Vec::new();
    let mut labels = Vec::new();
    for (line_idx, raw_line) in body.split(|&b| b == b'\n').enumerate() {
        let line_no = line_idx + 1;
        let line = raw_line.strip_suffix(b"\r").unwrap_or(raw_line);
        let fields: Vec<&[u8]> = line.split(|&b| b == b',').collect();
        if fields.len() != PIXELS + 1 {
            return Err(Error::Data(format!(
                "line {line_no}, column {}: expected {} comma-separated fields, found {}",
                // The first missing column, or the first extra one.
                fields.len().min(PIXELS + 1) + 1,
                PIXELS + 1,
                fields.len()
            )));
        }
        for (col_idx, field) in fields.iter().enumerate() {
            let col_no = col_idx + 1;
            let value = parse_uint(field).ok_or_else(|| {
                Error::Data(format!(
                    "line {line_no}, column {col_no}: {:?} is not a non-negative integer",
                    String::from_utf8_lossy(field)
                ))
            })?;
            if col_idx < PIXELS {
                if value > MAX_PIXEL {
                    return Err(Error::Data(format!(
                        "line {line_no}, column {col_no}: pixel {value} is outside 0..={MAX_PIXEL}"
                    )));
                }
                inputs.push(f64::from(value));
            } else {
                if value as usize >= CLASSES {
                    return Err(Error::Data(format!(
                        "line {line_no}, column {col_no}: label {value} is outside 0..={}",
                        CLASSES - 1
                    )));
                }
                labels.push(value as usize);
            }
        }
    }
    Dataset::new(
        inputs,
        vec![1, DIGIT_SIDE, DIGIT_SIDE],
        Some(labels),
        None,
        0,
        CLASSES,
    )
}

/// Inflates a gzip file, with a cap on the output size. Every member of a multi-member
/// file is read (as `gzip` and `cat a.gz b.gz` make them), each with its CRC and length
/// checked; bytes after the last member that do not start another member are an error.
fn inflate(gz_bytes: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut rest = gz_bytes;
    let mut member = 0;
    loop {
        member += 1;
        let mut decoder = flate2::bufread::GzDecoder::new(rest);
        let budget = MAX_INFLATED + 1 - out.len() as u64;
        (&mut decoder)
            .take(budget)
            .read_to_end(&mut out)
            .map_err(|e| {
                Error::Data(format!(
                    "corrupt gzip stream in member {member} (before CSV line 1, column 1): {e}"
                ))
            })?;
        if out.len() as u64 > MAX_INFLATED {
            return Err(Error::Data(format!(
                "gzip stream inflates to more than {MAX_INFLATED} bytes (before CSV line 1, column 1)"
            )));
        }
        rest = decoder.into_inner();
        if rest.is_empty() {
            return Ok(out);
        }
        if !rest.starts_with(&[0x1f, 0x8b]) {
            return Err(Error::Data(format!(
                "{} bytes of trailing garbage after gzip member {member} (at byte {}; not \
                 another gzip member)",
                rest.len(),
                gz_bytes.len() - rest.len()
            )));
        }
    }
}

/// Parses a plain decimal integer (ASCII digits only, no sign, no spaces) that fits in `u32`.
fn parse_uint(field: &[u8]) -> Option<u32> {
    if field.is_empty() {
        return None;
    }
    field.iter().try_fold(0u32, |acc, &b| {
        if b.is_ascii_digit() {
            acc.checked_mul(10)?.checked_add(u32::from(b - b'0'))
        } else {
            None
        }
    })
}

/// The digits, split and normalised: `train` and `test` hold x ↦ (x − mean) / std with the
/// training split's statistics.
#[derive(Debug, Clone, PartialEq)]
pub struct DigitsSplit {
    /// Training samples, normalised.
    pub train: Dataset,
    /// Test samples, normalised with the training statistics.
    pub test: Dataset,
    /// Mean of all raw training pixel values (one scalar).
    pub mean: f64,
    /// Population standard deviation (divisor N) of all raw training pixel values (one scalar).
    pub std: f64,
}

/// Splits the bundled digits into train and test ([`stratified_split`]; the same seed always
/// gives the same split) and normalises both with ONE scalar mean and ONE scalar standard
/// deviation taken over all pixels of all training images (population std, divisor N), so
/// that the training inputs have mean 0 and std 1.
///
/// The scalar choice is required, not cosmetic: x ↦ (x − m)/s with scalars commutes with
/// every pixel permutation ρ_X(g), so the normalised data keep exact rotation/flip
/// equivariance. A per-pixel mean and std would not commute with rotations (the mean image
/// of the digits is not rotation invariant) and would break the theory's hypotheses.
///
/// `test_fraction` (the usual value is 0.2) must lie strictly between 0 and 1.
pub fn digits_split(test_fraction: f64, seed: u64) -> Result<DigitsSplit> {
    let all = load_digits()?;
    let (mut train, mut test) = stratified_split(&all, test_fraction, seed)?;
    let (mean, std) = train.value_mean_std();
    train.normalise_with(mean, std)?;
    test.normalise_with(mean, std)?;
    Ok(DigitsSplit {
        train,
        test,
        mean,
        std,
    })
}

/// A deterministic stratified split of a labelled dataset: for every class c, its samples'
/// indices are shuffled (Fisher–Yates, ChaCha8 seeded with `seed`, classes in order 0..K)
/// and the first round(n_c · test_fraction) go to the test split. Both splits keep the
/// original sample order. Errors if there are no labels, if `test_fraction` is not in
/// (0, 1), or if either split would be empty.
pub fn stratified_split(
    data: &Dataset,
    test_fraction: f64,
    seed: u64,
) -> Result<(Dataset, Dataset)> {
    if !(test_fraction > 0.0 && test_fraction < 1.0) {
        return Err(Error::Invalid(format!(
            "test fraction {test_fraction} must lie strictly between 0 and 1"
        )));
    }
    let labels = data
        .labels
        .as_ref()
        .ok_or_else(|| Error::Invalid("a stratified split needs class labels".into()))?;
    let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); data.num_classes];
    for (i, &l) in labels.iter().enumerate() {
        by_class[l].push(i);
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut in_test = vec![false; data.len()];
    for members in &mut by_class {
        for i in (1..members.len()).rev() {
            let j = rng.random_range(0..=i as u64) as usize;
            members.swap(i, j);
        }
        let take = (members.len() as f64 * test_fraction).round() as usize;
        for &i in &members[..take.min(members.len())] {
            in_test[i] = true;
        }
    }
    let test_idx: Vec<usize> = (0..data.len()).filter(|&i| in_test[i]).collect();
    let train_idx: Vec<usize> = (0..data.len()).filter(|&i| !in_test[i]).collect();
    if test_idx.is_empty() || train_idx.is_empty() {
        return Err(Error::Invalid(format!(
            "test fraction {test_fraction} leaves {} training and {} test samples; both must be non-empty",
            train_idx.len(),
            test_idx.len()
        )));
    }
    Ok((data.subset(&train_idx)?, data.subset(&test_idx)?))
}
