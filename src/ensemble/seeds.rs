//! Member seeds: member i of an ensemble with master seed s is trained from
//! `ChaCha8Rng::seed_from_u64(member_seed(s, i))`.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// The SplitMix64 increment (the golden-ratio constant 2⁶⁴/φ).
pub const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// The SplitMix64 finaliser: a bijection of u64 with full avalanche.
pub fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The seed of member `i` under master seed `master`: two rounds of SplitMix64,
/// `mix64(mix64(master + GOLDEN) + (i + 1)·GOLDEN)`.
///
/// The inner round scrambles the master seed so that nearby masters give unrelated streams;
/// the outer one adds the member's SplitMix64 step and finalises. For a fixed master the map
/// i ↦ seed is injective (an odd multiple of i followed by a bijection), so no two members
/// of a run share a seed, and member seeds depend on nothing but (master, i) — not on the
/// thread count, the shard, or the order in which members run.
///
/// ```
/// use eqens::ensemble::{member_rng, member_seed};
/// use rand::RngExt;
///
/// // Member seeds depend on (master, i) only, and differ between members.
/// assert_eq!(member_seed(0, 5), member_seed(0, 5));
/// let seeds: std::collections::HashSet<u64> = (0..1000).map(|i| member_seed(0, i)).collect();
/// assert_eq!(seeds.len(), 1000);
/// assert_ne!(member_seed(1, 5), member_seed(0, 5));
/// // member_rng is ChaCha8 seeded with it.
/// let (mut a, mut b) = (member_rng(3, 2), member_rng(3, 2));
/// assert_eq!(a.random::<u64>(), b.random::<u64>());
/// ```
pub fn member_seed(master: u64, i: usize) -> u64 {
    let base = mix64(master.wrapping_add(GOLDEN));
    mix64(base.wrapping_add((i as u64).wrapping_add(1).wrapping_mul(GOLDEN)))
}

/// The generator of member `i`: ChaCha8 seeded with [`member_seed`]`(master, i)`.
pub fn member_rng(master: u64, i: usize) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(member_seed(master, i))
}
