//! Finite groups G as Cayley tables.
//!
//! A [`Group`] is materialised as its multiplication table over element indices `0..|G|`.
//! Element `0` is always the identity e. `mul(a, b)` is the product a·b; when elements act on
//! something (points, pixels, vectors) a·b means "first b, then a", so that left actions
//! compose as (a·b)·x = a·(b·x) and representations satisfy ρ(gh) = ρ(g)ρ(h).
//!
//! Constructors live in [`constructors`] (C_n, D_n, S_n, direct products, closures of
//! permutations, parsing by name); subgroups, generating sets and Haar sampling in
//! [`subgroup`]; validation of user-supplied tables in [`table`].

pub mod constructors;
pub mod subgroup;
pub mod table;

pub use subgroup::Subgroup;

/// Which family a group was built as; lets representations such as the sign character
/// recover the group's structure without guessing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    /// The cyclic group C_n; element k is r^k.
    Cyclic(usize),
    /// The dihedral group D_n of order 2n; element `j*n + k` is r^k s^j.
    Dihedral(usize),
    /// The symmetric group S_n in the element order of [`Group::symmetric`].
    Symmetric(usize),
    /// Anything else: products, subgroups, tables, closures of permutations.
    Other,
}

/// A finite group G materialised as a Cayley table (element 0 is the identity e).
///
/// Composition convention: `mul(a, b)` = a·b, which acts as "first b, then a".
///
/// ```
/// use eqens::group::Group;
///
/// // D4: element j·4 + k is r^k s^j, so r = 1 and s = 4; s r s = r⁻¹.
/// let d4 = Group::dihedral(4);
/// assert_eq!(d4.order(), 8);
/// let (r, s) = (1, 4);
/// assert_eq!(d4.mul(s, d4.mul(r, s)), d4.inv(r));
/// assert_eq!(d4.inv(r), 3); // r⁻¹ = r³
/// assert_eq!(d4.element_order(r), 4);
/// // C4 is abelian, D4 is not.
/// let c4 = Group::cyclic(4);
/// assert_eq!(c4.mul(1, 3), c4.identity());
/// assert_ne!(d4.mul(r, s), d4.mul(s, r));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    name: String,
    family: Family,
    order: usize,
    /// Row-major Cayley table: `table[a * order + b]` = a·b.
    table: Vec<u32>,
    inverses: Vec<usize>,
    names: Vec<String>,
}

impl Group {
    /// Builds a group from a table already known to be a group with identity 0 (internal,
    /// trusted constructors only); computes the inverses.
    pub(crate) fn from_trusted_table(
        name: String,
        family: Family,
        order: usize,
        table: Vec<u32>,
        names: Vec<String>,
    ) -> Group {
        assert_eq!(table.len(), order * order, "internal: table size");
        assert_eq!(names.len(), order, "internal: names size");
        let mut inverses = vec![usize::MAX; order];
        for (a, inv) in inverses.iter_mut().enumerate() {
            let row = &table[a * order..(a + 1) * order];
            *inv = row
                .iter()
                .position(|&c| c == 0)
                .expect("internal: every row of a group table contains the identity");
        }
        let g = Group {
            name,
            family,
            order,
            table,
            inverses,
            names,
        };
        debug_assert!(g.order == 0 || (0..g.order).all(|a| g.mul(0, a) == a && g.mul(a, 0) == a));
        g
    }

    /// |G|, the number of elements.
    pub fn order(&self) -> usize {
        self.order
    }

    /// The group's display name, e.g. "C4", "D4", "S3", "C2×C3".
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The family the group was built as (see [`Family`]).
    pub fn family(&self) -> Family {
        self.family
    }

    /// Returns the group renamed (the table is unchanged).
    pub fn with_name(mut self, name: impl Into<String>) -> Group {
        self.name = name.into();
        self
    }

    /// The product a·b ("first b, then a" when acting).
    #[inline]
    pub fn mul(&self, a: usize, b: usize) -> usize {
        self.table[a * self.order + b] as usize
    }

    /// The inverse a⁻¹.
    #[inline]
    pub fn inv(&self, a: usize) -> usize {
        self.inverses[a]
    }

    /// The identity e, always element 0.
    #[inline]
    pub fn identity(&self) -> usize {
        0
    }

    /// The display name of element `a`, e.g. `e`, `r^2 s`, `(0 1 2)`.
    pub fn element_name(&self, a: usize) -> &str {
        &self.names[a]
    }

    /// All element names, indexed by element.
    pub fn element_names(&self) -> &[String] {
        &self.names
    }

    /// The Cayley table as rows: `table()[a][b]` = a·b (an owned copy, e.g. for printing or
    /// for a round trip through [`Group::from_table`]; use [`Group::mul`] in hot loops).
    pub fn table(&self) -> Vec<Vec<usize>> {
        self.table
            .chunks(self.order.max(1))
            .take(self.order)
            .map(|row| row.iter().map(|&c| c as usize).collect())
            .collect()
    }

    /// True if both groups have the same Cayley table (names are ignored): representations
    /// of such groups can be summed, tensored and compared.
    pub fn same_structure(&self, other: &Group) -> bool {
        self.order == other.order && self.table == other.table
    }

    /// The order of element `a`: the least k ≥ 1 with a^k = e.
    pub fn element_order(&self, a: usize) -> usize {
        let mut k = 1;
        let mut x = a;
        while x != 0 {
            x = self.mul(x, a);
            k += 1;
        }
        k
    }

    /// Formats an element for error messages: `#index (name)`.
    pub(crate) fn describe(&self, a: usize) -> String {
        format!("#{a} ({})", self.names[a])
    }
}
