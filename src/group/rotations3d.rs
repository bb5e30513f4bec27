//! The finite rotation groups of R³: the cyclic C_n and dihedral D_n subgroups of SO(3) and
//! the rotation groups of the Platonic solids, tetrahedral T (order 12), octahedral O (24)
//! and icosahedral I (60), each with its defining 3×3 orthogonal matrices.
//!
//! **Construction.** Each group is the closure of a few generator matrices under the matrix
//! product (breadth-first, every new element s·x for a generator s and a known x); the
//! Cayley table is read off by matching each product against the known matrices, and is then
//! validated as a group by [`Group::from_table`] (every axiom, exhaustively).
//!
//! **Exactness.** T, O and I are closed in **exact arithmetic** in Q(√5)
//! ([`QSqrt5`]): in the orientation used here (the 2-fold axes of T along the coordinate
//! axes, its 3-fold axis along (1, 1, 1)) every entry of every element is one of 0, ±1, ±½,
//! ±φ/2, ±1/(2φ), with φ = (1 + √5)/2. Matching is exact equality, the table is exact, and
//! the representation is verified exactly (ρ(a)ρ(b) = ρ(ab) for all pairs, ρ(g)ᵀρ(g) = I,
//! det ρ(g) = 1); the entries are converted to f64 once, each with an error ≤ 2ε(|a| + √5|b|)
//! ≤ 4ε. C_n and D_n (rotations about the z axis by 2πk/n, and the half-turn about the x
//! axis) have entries cos, sin(2πk/n) outside Q(√5) for most n, so they are closed in f64
//! with the matching tolerance [`MATCH_TOL`] (derived there); their table is then confirmed
//! to be the one of [`Group::cyclic`] / [`Group::dihedral`] after relabelling the elements
//! r^k s^j, and the stored matrices are recomputed directly from the angles (one rounding
//! per entry).

use super::qsqrt5::QSqrt5;
use super::Group;
use crate::{Error, Result};
use std::f64::consts::PI;

/// Largest order built (the C_n, D_n of [`Rotations3d`] need n ≤ 2520, so |G| ≤ 5040, as
/// [`super::constructors::MAX_NAMED_ORDER`]).
pub const MAX_ORDER_3D: usize = 5040;

/// Entry-wise tolerance for deciding that two f64 rotation matrices are the same element
/// (C_n and D_n only).
///
/// Error model: an element found at breadth-first depth L is a product of L generators. In
/// the spectral norm a floating-point product of two orthogonal 3×3 matrices with errors
/// δ_A, δ_B has error ≤ δ_A + δ_B + δ_Aδ_B + 9ε (each entry rounds with ≤ 3ε relative to
/// Σ_k|a_ik||b_kj| ≤ 1; the Frobenius norm of 9 such errors is ≤ 9ε), and a generator is
/// stored with ≤ 3ε (one rounding per entry). So depth L carries ≤ 12ε(L + 1) ≤ 12ε|G|
/// ≤ 1.4e-11 for |G| ≤ 5040, and two copies of one element differ by ≤ 2.7e-11.
/// Distinct elements a ≠ b differ by a rotation b⁻¹a of angle θ ≥ 2π/|G|, so
/// ‖a − b‖_F = 2√2 sin(θ/2) and the largest entry is ≥ ‖a − b‖_F/3 ≥ 3.7e-4. 1e-9 sits
/// between the two with margins above 30 and 10⁵.
pub const MATCH_TOL: f64 = 1e-9;

/// A finite subgroup of SO(3), acting on R³ by its defining rotation matrices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rotations3d {
    /// C_n: rotations by 2πk/n about the z axis; element k is r^k (as [`Group::cyclic`]).
    Cyclic(usize),
    /// D_n (order 2n): C_n about z and the half-turn s about the x axis; element `j*n + k`
    /// is r^k s^j (as [`Group::dihedral`]).
    Dihedral(usize),
    /// T (order 12): the rotations of a regular tetrahedron inscribed in the cube [−1, 1]³
    /// (half-turns about the axes, third-turns about the diagonals); T ≅ A4.
    Tetrahedral,
    /// O (order 24): the rotations of the cube [−1, 1]³ (all signed permutation matrices of
    /// determinant 1); O ≅ S4, T ⊂ O.
    Octahedral,
    /// I (order 60): the rotations of a regular icosahedron with vertices (0, ±1, ±φ) and
    /// their cyclic permutations; I ≅ A5, T ⊂ I (O ⊄ I).
    Icosahedral,
}

/// The 3-D groups listed by `eqens groups` (parsed by [`Rotations3d::by_name`]).
pub const ROTATIONS_3D_NAMES: &[&str] = &["t", "o", "i", "c5-so3", "d3-so3"];

/// A row-major 3×3 matrix.
pub type Mat3 = [f64; 9];

/// The exact or approximate entries a closure works with.
trait Entry: Copy {
    fn zero() -> Self;
    fn add(self, o: Self) -> Self;
    fn mul(self, o: Self) -> Self;
    /// Whether two matrices are the same group element.
    fn same(a: &[Self; 9], b: &[Self; 9]) -> bool;
}

impl Entry for QSqrt5 {
    fn zero() -> Self {
        QSqrt5::ZERO
    }
    fn add(self, o: Self) -> Self {
        self + o
    }
    fn mul(self, o: Self) -> Self {
        self * o
    }
    fn same(a: &[Self; 9], b: &[Self; 9]) -> bool {
        a == b
    }
}

impl Entry for f64 {
    fn zero() -> Self {
        0.0
    }
    fn add(self, o: Self) -> Self {
        self + o
    }
    fn mul(self, o: Self) -> Self {
        self * o
    }
    fn same(a: &[Self; 9], b: &[Self; 9]) -> bool {
        a.iter().zip(b).all(|(x, y)| (x - y).abs() <= MATCH_TOL)
    }
}

fn matmul<E: Entry>(a: &[E; 9], b: &[E; 9]) -> [E; 9] {
    let mut out = [E::zero(); 9];
    for i in 0..3 {
        for j in 0..3 {
            let mut s = E::zero();
            for k in 0..3 {
                s = s.add(a[3 * i + k].mul(b[3 * k + j]));
            }
            out[3 * i + j] = s;
        }
    }
    out
}

/// Breadth-first closure of `gens` under the product; returns the elements (element 0 the
/// identity) and the Cayley table `table[x][y]` = index of x·y.
///
/// Every x ≠ e is found as s·x' for a generator s and an earlier x', so row x of the table
/// is row x' mapped through left multiplication by s: x·y = s·(x'·y).
#[allow(clippy::type_complexity)]
fn closure<E: Entry>(
    identity: [E; 9],
    gens: &[[E; 9]],
    max_order: usize,
) -> Result<(Vec<[E; 9]>, Vec<Vec<usize>>)> {
    let mut elements = vec![identity];
    let mut parent: Vec<(usize, usize)> = vec![(usize::MAX, usize::MAX)];
    let mut left: Vec<Vec<usize>> = vec![Vec::new(); gens.len()];
    let mut next = 0;
    while next < elements.len() {
        let x = next;
        next += 1;
        for (s, gen) in gens.iter().enumerate() {
            let product = matmul(gen, &elements[x]);
            let y = match elements.iter().position(|e| E::same(e, &product)) {
                Some(y) => y,
                None => {
                    if elements.len() >= max_order {
                        return Err(Error::NotAGroup(format!(
                            "the rotations generate more than {max_order} elements"
                        )));
                    }
                    elements.push(product);
                    parent.push((x, s));
                    elements.len() - 1
                }
            };
            left[s].push(y);
        }
    }
    let order = elements.len();
    let mut table: Vec<Vec<usize>> = vec![(0..order).collect()];
    for &(xp, s) in &parent[1..] {
        let row = (0..order).map(|y| left[s][table[xp][y]]).collect();
        table.push(row);
    }
    Ok((elements, table))
}

fn q(a: i64, b: i64, den: i64) -> QSqrt5 {
    QSqrt5::new(a, b, den)
}

fn int_matrix(m: [i64; 9]) -> [QSqrt5; 9] {
    m.map(QSqrt5::int)
}

/// The exact 3×3 identity.
fn exact_identity() -> [QSqrt5; 9] {
    int_matrix([1, 0, 0, 0, 1, 0, 0, 0, 1])
}

/// The 3-fold rotation x → y → z → x about (1, 1, 1).
fn third_turn() -> [QSqrt5; 9] {
    int_matrix([0, 0, 1, 1, 0, 0, 0, 1, 0])
}

/// The half-turn about the z axis.
fn half_turn_z() -> [QSqrt5; 9] {
    int_matrix([-1, 0, 0, 0, -1, 0, 0, 0, 1])
}

/// A 5-fold rotation of the icosahedron with vertices (0, ±1, ±φ) (cyclically permuted):
/// ½[[1, −φ, 1/φ], [φ, 1/φ, −1], [1/φ, 1, φ]], with φ/2 = (1 + √5)/4 and
/// 1/(2φ) = (√5 − 1)/4.
fn fifth_turn() -> [QSqrt5; 9] {
    let half = q(1, 0, 2);
    let phi2 = q(1, 1, 4);
    let iphi2 = q(-1, 1, 4);
    [half, -phi2, iphi2, phi2, iphi2, -half, iphi2, half, phi2]
}

fn det(m: &[QSqrt5; 9]) -> QSqrt5 {
    let t = |i: usize, j: usize, k: usize| m[i].mul(m[3 + j]).mul(m[6 + k]);
    t(0, 1, 2)
        .add(t(1, 2, 0))
        .add(t(2, 0, 1))
        .add(-t(2, 1, 0))
        .add(-t(0, 2, 1))
        .add(-t(1, 0, 2))
}

/// Exact check that `mats` with `table` is an orthogonal representation by rotations:
/// ρ(a)ρ(b) = ρ(ab) for all pairs, ρ(g)ᵀρ(g) = I and det ρ(g) = 1.
fn verify_exact(mats: &[[QSqrt5; 9]], table: &[Vec<usize>]) -> Result<()> {
    let eye = exact_identity();
    for (a, m) in mats.iter().enumerate() {
        let mut t = [QSqrt5::ZERO; 9];
        for i in 0..3 {
            for j in 0..3 {
                t[3 * i + j] = m[3 * j + i];
            }
        }
        if matmul(&t, m) != eye || det(m) != QSqrt5::ONE {
            return Err(Error::NotARepresentation(format!(
                "element {a} is not a rotation"
            )));
        }
        for (b, n) in mats.iter().enumerate() {
            if matmul(m, n) != mats[table[a][b]] {
                return Err(Error::NotARepresentation(format!(
                    "ρ({a})ρ({b}) ≠ ρ({a}·{b})"
                )));
            }
        }
    }
    Ok(())
}

/// The rotation by `angle` about the z axis composed with the half-turn about x when
/// `flip`; cos and sin are exact (0, ±1) at multiples of 90°.
fn z_rotation(k: usize, n: usize, flip: bool) -> Mat3 {
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
    let r = [c, -s, 0.0, s, c, 0.0, 0.0, 0.0, 1.0];
    if flip {
        // R·diag(1, −1, −1): negate columns 1 and 2.
        [r[0], -r[1], -r[2], r[3], -r[4], -r[5], r[6], -r[7], -r[8]]
    } else {
        r
    }
}

/// The order of element `a` in `table`.
fn element_order(table: &[Vec<usize>], a: usize) -> usize {
    let (mut x, mut k) = (a, 1);
    while x != 0 {
        x = table[x][a];
        k += 1;
    }
    k
}

/// Names `e`, then `rot{k}_{i}`: the i-th element of order k (in closure order).
fn order_names(table: &[Vec<usize>]) -> Vec<String> {
    let mut count = std::collections::HashMap::new();
    (0..table.len())
        .map(|a| {
            if a == 0 {
                return "e".to_string();
            }
            let k = element_order(table, a);
            let c = count.entry(k).or_insert(0);
            *c += 1;
            format!("rot{k}_{c}")
        })
        .collect()
}

impl Rotations3d {
    /// Parses `t`, `o`, `i` (also `tetrahedral`, `octahedral`, `icosahedral`), `cN-so3` and
    /// `dN-so3` (case-insensitive; 1 ≤ N ≤ 2520).
    pub fn by_name(name: &str) -> Result<Rotations3d> {
        let lower = name.trim().to_lowercase();
        let bad = || {
            Error::Invalid(format!(
                "unknown 3-D rotation group {name:?}: expected t, o, i, cN-so3 or dN-so3 \
                 (1 ≤ N ≤ 2520)"
            ))
        };
        match lower.as_str() {
            "t" | "tetrahedral" => return Ok(Rotations3d::Tetrahedral),
            "o" | "octahedral" => return Ok(Rotations3d::Octahedral),
            "i" | "icosahedral" => return Ok(Rotations3d::Icosahedral),
            _ => {}
        }
        let body = lower.strip_suffix("-so3").ok_or_else(bad)?;
        let mut chars = body.chars();
        let kind = chars.next().ok_or_else(bad)?;
        let n: usize = chars.as_str().parse().map_err(|_| bad())?;
        if !(1..=MAX_ORDER_3D / 2).contains(&n) {
            return Err(bad());
        }
        match kind {
            'c' => Ok(Rotations3d::Cyclic(n)),
            'd' => Ok(Rotations3d::Dihedral(n)),
            _ => Err(bad()),
        }
    }

    /// The group's order |G|.
    pub fn order(self) -> usize {
        match self {
            Rotations3d::Cyclic(n) => n,
            Rotations3d::Dihedral(n) => 2 * n,
            Rotations3d::Tetrahedral => 12,
            Rotations3d::Octahedral => 24,
            Rotations3d::Icosahedral => 60,
        }
    }

    /// The display name: `T`, `O`, `I`, `C5`, `D3`.
    pub fn name(self) -> String {
        match self {
            Rotations3d::Cyclic(n) => format!("C{n}"),
            Rotations3d::Dihedral(n) => format!("D{n}"),
            Rotations3d::Tetrahedral => "T".into(),
            Rotations3d::Octahedral => "O".into(),
            Rotations3d::Icosahedral => "I".into(),
        }
    }

    /// The exact generators of T, O, I (None for C_n, D_n).
    fn exact_generators(self) -> Option<Vec<[QSqrt5; 9]>> {
        let quarter_turn_z = int_matrix([0, -1, 0, 1, 0, 0, 0, 0, 1]);
        match self {
            Rotations3d::Tetrahedral => Some(vec![third_turn(), half_turn_z()]),
            Rotations3d::Octahedral => Some(vec![third_turn(), quarter_turn_z]),
            Rotations3d::Icosahedral => Some(vec![third_turn(), half_turn_z(), fifth_turn()]),
            _ => None,
        }
    }

    /// The group (a validated Cayley table, element 0 the identity) and the rotation matrix
    /// ρ(g) of every element (row-major), built by closure as the module docs describe.
    /// Errors for n = 0 or n > 2520; an internal inconsistency is reported as
    /// [`Error::NotAGroup`] / [`Error::NotARepresentation`] rather than a panic.
    pub fn build(self) -> Result<(Group, Vec<Mat3>)> {
        match self {
            Rotations3d::Cyclic(n) | Rotations3d::Dihedral(n) => {
                if n == 0 || n > MAX_ORDER_3D / 2 {
                    return Err(Error::Invalid(format!(
                        "{} needs 1 ≤ n ≤ {}",
                        if matches!(self, Rotations3d::Cyclic(_)) {
                            "C_n"
                        } else {
                            "D_n"
                        },
                        MAX_ORDER_3D / 2
                    )));
                }
                self.build_axial(n)
            }
            _ => {
                let gens = self
                    .exact_generators()
                    .expect("T, O, I have exact generators");
                let eye = exact_identity();
                let (elements, table) = closure(eye, &gens, MAX_ORDER_3D)?;
                if elements.len() != self.order() {
                    return Err(Error::NotAGroup(format!(
                        "the generators of {} closed to {} elements, expected {}",
                        self.name(),
                        elements.len(),
                        self.order()
                    )));
                }
                verify_exact(&elements, &table)?;
                let names = order_names(&table);
                let group = Group::from_table(table, Some(names))?.with_name(self.name());
                let mats = elements.iter().map(|m| m.map(QSqrt5::to_f64)).collect();
                Ok((group, mats))
            }
        }
    }

    /// C_n or D_n: f64 closure of r (and s), relabelled as r^k s^j and compared with the
    /// table of [`Group::cyclic`] / [`Group::dihedral`].
    fn build_axial(self, n: usize) -> Result<(Group, Vec<Mat3>)> {
        let dihedral = matches!(self, Rotations3d::Dihedral(_));
        let mut gens = vec![z_rotation(1, n, false)];
        if dihedral {
            gens.push(z_rotation(0, n, true));
        }
        let identity = z_rotation(0, n, false);
        let (elements, table) = closure(identity, &gens, MAX_ORDER_3D)?;
        let reference = if dihedral {
            Group::dihedral(n)
        } else {
            Group::cyclic(n)
        };
        if elements.len() != reference.order() {
            return Err(Error::NotAGroup(format!(
                "r and s closed to {} elements, expected {}",
                elements.len(),
                reference.order()
            )));
        }
        let find = |m: &Mat3| elements.iter().position(|e| f64::same(e, m));
        // index[c] = closure index of the canonical element c = r^k s^j (c = j*n + k).
        let index: Vec<usize> = (0..reference.order())
            .map(|c| find(&z_rotation(c % n, n, c >= n)))
            .collect::<Option<_>>()
            .ok_or_else(|| Error::NotAGroup("an element r^k s^j is missing".into()))?;
        let mut local = vec![usize::MAX; elements.len()];
        for (c, &i) in index.iter().enumerate() {
            local[i] = c;
        }
        let relabelled: Vec<Vec<usize>> = index
            .iter()
            .map(|&a| index.iter().map(|&b| local[table[a][b]]).collect())
            .collect();
        if relabelled != reference.table() {
            return Err(Error::NotAGroup(format!(
                "the closure's table is not the one of {}",
                reference.name()
            )));
        }
        let mats = (0..reference.order())
            .map(|c| z_rotation(c % n, n, c >= n))
            .collect();
        Ok((reference, mats))
    }
}

/// The indices in `parent` of the matrices `sub` (e.g. T inside I), matched to
/// [`MATCH_TOL`]; errors if one is missing.
pub fn embed(sub: &[Mat3], parent: &[Mat3]) -> Result<Vec<usize>> {
    sub.iter()
        .map(|m| {
            parent
                .iter()
                .position(|p| f64::same(p, m))
                .ok_or_else(|| Error::NotAGroup("a rotation is not in the parent group".into()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platonic_orders_and_element_orders() {
        for (kind, orders) in [
            // (order 1, 2, 3, 4, 5 counts)
            (Rotations3d::Tetrahedral, [1, 3, 8, 0, 0]),
            (Rotations3d::Octahedral, [1, 9, 8, 6, 0]),
            (Rotations3d::Icosahedral, [1, 15, 20, 0, 24]),
        ] {
            let (g, mats) = kind.build().unwrap();
            assert_eq!(g.order(), kind.order());
            assert_eq!(mats.len(), kind.order());
            let mut count = [0; 5];
            for a in 0..g.order() {
                count[g.element_order(a) - 1] += 1;
            }
            assert_eq!(count, orders, "{}", g.name());
        }
    }

    #[test]
    fn generators_of_an_infinite_group_are_refused() {
        // Control: I's generators plus O's quarter-turn generate an infinite group (no finite
        // subgroup of SO(3) contains both I and O); the closure stops at the cap.
        let mut gens = Rotations3d::Icosahedral.exact_generators().unwrap();
        gens.push(int_matrix([0, -1, 0, 1, 0, 0, 0, 0, 1]));
        let eye = exact_identity();
        assert!(closure(eye, &gens, 200).is_err());
    }

    #[test]
    fn exact_verification_catches_a_corrupted_table() {
        let gens = Rotations3d::Tetrahedral.exact_generators().unwrap();
        let eye = exact_identity();
        let (mats, mut table) = closure(eye, &gens, 100).unwrap();
        verify_exact(&mats, &table).unwrap();
        table[3].swap(4, 5);
        assert!(verify_exact(&mats, &table).is_err());
    }
}
