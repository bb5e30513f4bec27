//! Shared by tests/groups.rs and tests/representations.rs: a proptest strategy for random
//! finite groups, ordered simple → complex so that shrinking ends at small cyclic groups.

// Each test file uses a different part of this module.
#![allow(dead_code)]
use eqens::group::{Group, Rotations3d};
use proptest::prelude::*;

/// How a random group was built (printed by proptest on failure).
#[derive(Debug, Clone)]
pub enum GroupSpec {
    Cyclic(usize),
    Dihedral(usize),
    Symmetric(usize),
    Product(Box<GroupSpec>, Box<GroupSpec>),
    /// The closure of random permutations of a few points.
    Permutations(Vec<Vec<usize>>),
    /// A finite rotation group of R³ (C_n, D_n about z; T, O, I), built by closure of its
    /// 3×3 matrices (`Rep::rotations_r3` is its defining representation).
    Rotations3d(Rotations3d),
}

impl GroupSpec {
    pub fn build(&self) -> Group {
        match self {
            GroupSpec::Cyclic(n) => Group::cyclic(*n),
            GroupSpec::Dihedral(n) => Group::dihedral(*n),
            GroupSpec::Symmetric(n) => Group::symmetric(*n).unwrap(),
            GroupSpec::Product(a, b) => Group::product(&a.build(), &b.build()),
            GroupSpec::Permutations(gens) => Group::from_permutations(gens, 5040).unwrap().0,
            GroupSpec::Rotations3d(kind) => kind.build().unwrap().0,
        }
    }

    /// The order known from theory (None for closures of random permutations).
    pub fn known_order(&self) -> Option<usize> {
        match self {
            GroupSpec::Cyclic(n) => Some(*n),
            GroupSpec::Dihedral(n) => Some(2 * n),
            GroupSpec::Symmetric(n) => Some((1..=*n).product()),
            GroupSpec::Product(a, b) => Some(a.known_order()? * b.known_order()?),
            GroupSpec::Permutations(_) => None,
            GroupSpec::Rotations3d(kind) => Some(kind.order()),
        }
    }
}

fn random_permutations(max_points: usize) -> impl Strategy<Value = GroupSpec> {
    (1..=max_points)
        .prop_flat_map(|m| {
            proptest::collection::vec(Just((0..m).collect::<Vec<usize>>()).prop_shuffle(), 1..=3)
        })
        .prop_map(GroupSpec::Permutations)
}

/// The finite rotation groups of R³: T, O, I, and C_n (n ≤ 8), D_n (n ≤ 6) about z.
pub fn rotations_3d() -> impl Strategy<Value = GroupSpec> {
    prop_oneof![
        (1..=8usize).prop_map(|n| GroupSpec::Rotations3d(Rotations3d::Cyclic(n))),
        (1..=6usize).prop_map(|n| GroupSpec::Rotations3d(Rotations3d::Dihedral(n))),
        Just(GroupSpec::Rotations3d(Rotations3d::Tetrahedral)),
        Just(GroupSpec::Rotations3d(Rotations3d::Octahedral)),
        Just(GroupSpec::Rotations3d(Rotations3d::Icosahedral)),
    ]
}

/// Random groups: cyclic (≤ 12), dihedral (≤ 8), symmetric (≤ 4), products of small ones,
/// closures of 1..3 random permutations of ≤ `max_points` points, finite rotation groups of
/// R³ ([`rotations_3d`]) — in that order.
pub fn any_group(max_points: usize) -> impl Strategy<Value = GroupSpec> {
    let small = prop_oneof![
        (1..=6usize).prop_map(GroupSpec::Cyclic),
        (1..=4usize).prop_map(GroupSpec::Dihedral),
        (1..=3usize).prop_map(GroupSpec::Symmetric),
    ];
    prop_oneof![
        (1..=12usize).prop_map(GroupSpec::Cyclic),
        (1..=8usize).prop_map(GroupSpec::Dihedral),
        (1..=4usize).prop_map(GroupSpec::Symmetric),
        (small.clone(), small).prop_map(|(a, b)| GroupSpec::Product(Box::new(a), Box::new(b))),
        random_permutations(max_points),
        rotations_3d(),
    ]
}
