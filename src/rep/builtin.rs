//! Built-in representations: trivial, sign, regular, natural, pixel grids, rotations of R²
//! and of point clouds.

use super::{Action, Rep};
use crate::group::{Family, Group};
use crate::{Error, Result};
use std::f64::consts::PI;
use std::sync::Arc;

/// The group acting on an h×w pixel grid by exact rotations and flips.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GridGroup {
    /// C2 = `Group::cyclic(2)`: r acts by the 180° rotation (any h×w).
    C2,
    /// C4 = `Group::cyclic(4)`: r acts by the 90° counter-clockwise rotation (`numpy.rot90`);
    /// needs h = w.
    C4,
    /// D4 = `Group::dihedral(4)`: r as for C4, s the left-right flip (col j ↦ w-1-j);
    /// needs h = w.
    D4,
}

impl GridGroup {
    /// Every grid group, smallest first.
    pub const ALL: [GridGroup; 3] = [GridGroup::C2, GridGroup::C4, GridGroup::D4];

    /// The one name table: "C2", "C4" or "D4" (messages, reports; [`GridGroup::from_str`]
    /// reads it case-insensitively, so "c4" on the command line).
    ///
    /// [`GridGroup::from_str`]: std::str::FromStr::from_str
    pub fn name(self) -> &'static str {
        match self {
            GridGroup::C2 => "C2",
            GridGroup::C4 => "C4",
            GridGroup::D4 => "D4",
        }
    }

    /// The abstract group G: `Group::cyclic(2)`, `Group::cyclic(4)` or `Group::dihedral(4)`.
    pub fn group(self) -> Group {
        match self {
            GridGroup::C2 => Group::cyclic(2),
            GridGroup::C4 => Group::cyclic(4),
            GridGroup::D4 => Group::dihedral(4),
        }
    }

    /// |G|: 2, 4 or 8.
    pub fn order(self) -> usize {
        match self {
            GridGroup::C2 => 2,
            GridGroup::C4 => 4,
            GridGroup::D4 => 8,
        }
    }
}

impl std::fmt::Display for GridGroup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for GridGroup {
    type Err = Error;

    /// Parses a [`GridGroup::name`], ignoring case and surrounding blanks ("c4", "D4").
    fn from_str(s: &str) -> Result<GridGroup> {
        let t = s.trim();
        GridGroup::ALL
            .into_iter()
            .find(|g| g.name().eq_ignore_ascii_case(t))
            .ok_or_else(|| {
                let names: Vec<String> = GridGroup::ALL
                    .iter()
                    .map(|g| g.name().to_ascii_lowercase())
                    .collect();
                let (last, rest) = names.split_last().expect("ALL is not empty");
                Error::Invalid(format!(
                    "{}: the pixel-grid groups are {} and {last}",
                    t.to_ascii_lowercase(),
                    rest.join(", ")
                ))
            })
    }
}

/// Index maps `src[g] = (point map of g⁻¹)` from each element's point map j ↦ g·j.
fn src_from_point_maps(group: &Group, points: &[Vec<usize>]) -> Vec<Vec<usize>> {
    (0..group.order())
        .map(|g| points[group.inv(g)].clone())
        .collect()
}

/// The 2×2 rotation by 2πk/n, row-major, exact (entries in {0, ±1}) at multiples of 90°.
fn rotation(k: usize, n: usize) -> [f64; 4] {
    let k = k % n;
    let (c, s) = if (4 * k).is_multiple_of(n) {
        match 4 * k / n {
            0 => (1.0, 0.0),
            1 => (0.0, 1.0),
            2 => (-1.0, 0.0),
            _ => (0.0, -1.0),
        }
    } else {
        let t = 2.0 * PI * k as f64 / n as f64;
        (t.cos(), t.sin())
    };
    [c, -s, s, c]
}

impl Rep {
    /// The trivial representation ρ(g) = I on R^dim (a permutation representation).
    pub fn trivial(group: Arc<Group>, dim: usize) -> Rep {
        let src = vec![(0..dim).collect::<Vec<_>>(); group.order()];
        Rep::new_unchecked(group, dim, Action::Permutation(src))
    }

    /// The sign character on R¹: parity for S_n, r^k s^j ↦ (−1)^j for D_n, r^k ↦ (−1)^k for
    /// C_n with n even. Errors for other groups (their family is not known to carry one).
    pub fn sign(group: Arc<Group>) -> Result<Rep> {
        let signs: Vec<f64> = match group.family() {
            Family::Cyclic(n) if n % 2 == 0 => (0..n)
                .map(|k| if k % 2 == 0 { 1.0 } else { -1.0 })
                .collect(),
            Family::Dihedral(n) => (0..2 * n).map(|x| if x < n { 1.0 } else { -1.0 }).collect(),
            Family::Symmetric(n) => {
                let (_, perms) = Group::symmetric_with_permutations(n)?;
                perms.iter().map(|p| parity(p)).collect()
            }
            _ => {
                return Err(Error::Invalid(format!(
                    "no built-in sign representation for {} (available for S_n, D_n and C_n \
                     with n even)",
                    group.name()
                )))
            }
        };
        Rep::from_matrices(group, signs.into_iter().map(|s| vec![s]).collect())
    }

    /// The regular representation on R^|G|: `(ρ(g)x)[j] = x[g⁻¹·j]`.
    pub fn regular(group: Arc<Group>) -> Rep {
        let n = group.order();
        let src = (0..n)
            .map(|g| (0..n).map(|j| group.mul(group.inv(g), j)).collect())
            .collect();
        Rep::from_permutations(group, src).expect("the regular representation is valid")
    }

    /// The natural representation of S_n (n ≤ 7) on R^n permuting coordinates.
    pub fn natural(n: usize) -> Result<Rep> {
        let (group, perms) = Group::symmetric_with_permutations(n)?;
        let src = src_from_point_maps(&group, &perms);
        Rep::from_permutations(Arc::new(group), src)
    }

    /// Exact rotations and flips of an h×w pixel grid (row-major pixels, row 0 on top); the
    /// group is built here (see [`GridGroup`]). The 90° rotation moves pixel (i, j) to
    /// (n-1-j, i), so `(ρ(r)x)[i][j] = x[j][n-1-i]` as `numpy.rot90`.
    ///
    /// ```
    /// use eqens::rep::{GridGroup, Rep};
    ///
    /// // A 2×2 image [[1, 2], [3, 4]] rotated by 90° counter-clockwise: np.rot90 gives
    /// // [[2, 4], [1, 3]].
    /// let rho = Rep::grid(GridGroup::C4, 2, 2)?;
    /// let mut out = [0.0; 4];
    /// rho.apply(1, &[1.0, 2.0, 3.0, 4.0], &mut out);
    /// assert_eq!(out, [2.0, 4.0, 1.0, 3.0]);
    /// // ρ(r²) = ρ(r)ρ(r): rotating twice is the element r² = 2.
    /// let mut twice = [0.0; 4];
    /// rho.apply(1, &out, &mut twice);
    /// let mut direct = [0.0; 4];
    /// rho.apply(2, &[1.0, 2.0, 3.0, 4.0], &mut direct);
    /// assert_eq!(twice, direct);
    /// // C4 needs a square grid.
    /// assert!(Rep::grid(GridGroup::C4, 2, 3).is_err());
    /// # Ok::<(), eqens::Error>(())
    /// ```
    pub fn grid(kind: GridGroup, h: usize, w: usize) -> Result<Rep> {
        if h == 0 || w == 0 {
            return Err(Error::Shape(format!(
                "a pixel grid needs h, w ≥ 1, got {h}×{w}"
            )));
        }
        if kind != GridGroup::C2 && h != w {
            return Err(Error::Shape(format!(
                "{kind:?} acts by 90° rotations and needs a square grid, got {h}×{w}"
            )));
        }
        let pixels = h * w;
        let point_map = |f: &dyn Fn(usize, usize) -> (usize, usize)| -> Vec<usize> {
            (0..pixels)
                .map(|p| {
                    let (i, j) = f(p / w, p % w);
                    i * w + j
                })
                .collect::<Vec<_>>()
        };
        let rot180 = point_map(&|i, j| (h - 1 - i, w - 1 - j));
        let rot90 = point_map(&|i, j| (w - 1 - j, i));
        let flip = point_map(&|i, j| (i, w - 1 - j));
        let identity: Vec<usize> = (0..pixels).collect();
        let compose = |a: &[usize], b: &[usize]| b.iter().map(|&j| a[j]).collect::<Vec<_>>();
        let rot_powers = |k: usize| (0..k).fold(identity.clone(), |acc, _| compose(&rot90, &acc));
        let points: Vec<Vec<usize>> = match kind {
            GridGroup::C2 => vec![identity.clone(), rot180],
            GridGroup::C4 => (0..4).map(rot_powers).collect(),
            GridGroup::D4 => {
                // Element j*4 + k is r^k s^j: first s^j, then r^k.
                (0..8)
                    .map(|x| {
                        let s = if x / 4 == 1 {
                            flip.clone()
                        } else {
                            identity.clone()
                        };
                        compose(&rot_powers(x % 4), &s)
                    })
                    .collect()
            }
        };
        let group = kind.group();
        let src = src_from_point_maps(&group, &points);
        Rep::from_permutations(Arc::new(group), src)
    }

    /// C_n acting on R² by the exact rotation matrices r^k ↦ R(2πk/n) (counter-clockwise);
    /// multiples of 90° have entries exactly 0, ±1. Errors for n = 0.
    pub fn rotations_r2(n: usize) -> Result<Rep> {
        if n == 0 {
            return Err(Error::Invalid("C_n needs n ≥ 1".into()));
        }
        let mats = (0..n).map(|k| rotation(k, n).to_vec()).collect();
        Rep::from_matrices(Arc::new(Group::cyclic(n)), mats)
    }

    /// C_n rotating each of `points` points of the plane: (R²)^points with layout
    /// [x0, y0, x1, y1, …], i.e. trivial(points) ⊗ rotations_r2(n). Errors for n = 0.
    pub fn point_cloud(n: usize, points: usize) -> Result<Rep> {
        let rot = Rep::rotations_r2(n)?;
        Rep::trivial(rot.group().clone(), points).tensor(&rot)
    }
}

/// +1 for an even permutation, −1 for an odd one (from the cycle lengths).
fn parity(p: &[usize]) -> f64 {
    let mut seen = vec![false; p.len()];
    let mut transpositions = 0;
    for start in 0..p.len() {
        let mut len: usize = 0;
        let mut j = start;
        while !seen[j] {
            seen[j] = true;
            j = p[j];
            len += 1;
        }
        transpositions += len.saturating_sub(1);
    }
    if transpositions % 2 == 0 {
        1.0
    } else {
        -1.0
    }
}
