//! Filter supports Ω: which taps of a k×k filter may carry weight.

use crate::{Error, Result};
use std::fmt;

/// A filter support Ω ⊆ {0..k}² of a k×k filter (k odd), stored as a row-major mask.
///
/// Tap (r, s) is row r, column s; its flat (ambient) index in one filter is `r·k + s`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Support {
    k: usize,
    mask: Vec<bool>,
}

/// The plus + centre support 𝓛^sym of the paper (C4-invariant).
const PLUS: [(usize, usize); 5] = [(0, 1), (1, 0), (1, 1), (1, 2), (2, 1)];
/// The plus-without-centre + corner support 𝓛^as of the paper (not C4-invariant).
const PLUS_CORNER: [(usize, usize); 5] = [(0, 0), (0, 1), (1, 0), (1, 2), (2, 1)];

impl Support {
    /// The full k×k support (𝓛^cnn for k = 3).
    ///
    /// # Panics
    /// If `k` is even or zero (a programming error; user input goes through
    /// [`Support::parse`] or [`Support::from_mask`], which return errors).
    pub fn full(k: usize) -> Support {
        assert!(
            k % 2 == 1,
            "Support::full needs an odd filter side, got {k}"
        );
        Support {
            k,
            mask: vec![true; k * k],
        }
    }

    /// Plus + centre on a 3×3 filter: {(0,1),(1,0),(1,1),(1,2),(2,1)} (the paper's 𝓛^sym).
    pub fn plus() -> Support {
        Self::from_taps(3, &PLUS)
    }

    /// Plus without centre + corner on a 3×3 filter: {(0,0),(0,1),(1,0),(1,2),(2,1)}
    /// (the paper's 𝓛^as; not a union of C4 orbits).
    ///
    /// ```
    /// use eqens::nn::Support;
    ///
    /// let sym = Support::plus();
    /// let asym = Support::plus_corner();
    /// assert_eq!((sym.len(), asym.len()), (5, 5));
    /// assert!(sym.contains(1, 1) && !asym.contains(1, 1)); // the centre
    /// assert!(asym.contains(0, 0) && !sym.contains(0, 0)); // the corner
    /// assert_eq!(asym.indices(), [0, 1, 3, 5, 7]);
    /// ```
    pub fn plus_corner() -> Support {
        Self::from_taps(3, &PLUS_CORNER)
    }

    fn from_taps(k: usize, taps: &[(usize, usize)]) -> Support {
        let mut mask = vec![false; k * k];
        for &(r, s) in taps {
            mask[r * k + s] = true;
        }
        Support { k, mask }
    }

    /// A support from a row-major k×k mask; errors if k is even or zero, the mask has the
    /// wrong length, or no tap is set.
    pub fn from_mask(k: usize, mask: Vec<bool>) -> Result<Support> {
        if k == 0 || k.is_multiple_of(2) {
            return Err(Error::Shape(format!(
                "a filter support needs an odd side k, got k = {k}"
            )));
        }
        if mask.len() != k * k {
            return Err(Error::Shape(format!(
                "a {k}×{k} support mask needs {} entries, got {}",
                k * k,
                mask.len()
            )));
        }
        if !mask.iter().any(|&b| b) {
            return Err(Error::Shape(format!(
                "the {k}×{k} support mask has no tap set"
            )));
        }
        Ok(Support { k, mask })
    }

    /// Parses `full` (3×3), `plus`, `plus-corner`, or a row-major mask of `0`/`1` characters
    /// of length k² with k odd (e.g. `010111010` is `plus`).
    pub fn parse(s: &str) -> Result<Support> {
        let s = s.trim();
        match s {
            "full" => return Ok(Support::full(3)),
            "plus" => return Ok(Support::plus()),
            "plus-corner" => return Ok(Support::plus_corner()),
            _ => {}
        }
        let mut mask = Vec::with_capacity(s.len());
        for (i, c) in s.chars().enumerate() {
            match c {
                '0' => mask.push(false),
                '1' => mask.push(true),
                _ => {
                    return Err(Error::Invalid(format!(
                        "support {s:?}: expected `full`, `plus`, `plus-corner` or a mask of \
                         0/1 characters, found {c:?} at position {i}"
                    )))
                }
            }
        }
        let k = (mask.len() as f64).sqrt().round() as usize;
        if k * k != mask.len() || k.is_multiple_of(2) {
            return Err(Error::Invalid(format!(
                "support mask {s:?} has {} characters; it must be k² with k odd (9, 25, …)",
                mask.len()
            )));
        }
        Support::from_mask(k, mask)
    }

    /// The filter side k.
    pub fn k(&self) -> usize {
        self.k
    }

    /// The taps (row, column) in row-major order.
    pub fn taps(&self) -> Vec<(usize, usize)> {
        self.indices()
            .into_iter()
            .map(|i| (i / self.k, i % self.k))
            .collect()
    }

    /// The flat indices `r·k + s` of the taps, ascending (ambient indices in one filter).
    pub fn indices(&self) -> Vec<usize> {
        (0..self.mask.len()).filter(|&i| self.mask[i]).collect()
    }

    /// Whether tap (r, s) belongs to Ω (false outside the k×k grid).
    pub fn contains(&self, r: usize, s: usize) -> bool {
        r < self.k && s < self.k && self.mask[r * self.k + s]
    }

    /// Number of taps |Ω|.
    pub fn len(&self) -> usize {
        self.mask.iter().filter(|&&b| b).count()
    }

    /// Whether Ω is empty (never true for a constructed support).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `full`, `plus`, `plus-corner` for the named 3×3 supports, else the mask string;
    /// [`Support::parse`] reads it back.
    pub fn name(&self) -> String {
        if self.k == 3 {
            if self.mask.iter().all(|&b| b) {
                return "full".into();
            }
            if *self == Support::plus() {
                return "plus".into();
            }
            if *self == Support::plus_corner() {
                return "plus-corner".into();
            }
        }
        self.mask
            .iter()
            .map(|&b| if b { '1' } else { '0' })
            .collect()
    }
}

impl fmt::Display for Support {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}
