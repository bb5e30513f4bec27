//! S1: the lifted identity Φ_{ρ(g)A}(ρ_X(g)x) = ρ_Y(g)Φ_A(x)
//! (src/check/s01_lifted_identity.rs holds the cases and tolerances).

use eqens::check::s01_lifted_identity::{
    check, controls, lifted_identity_error, random_invariant_support,
};
use eqens::nn::{GroupNetwork, LayerSpec, Network};
use eqens::rep::GridGroup;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};

#[test]
fn s1_holds_on_random_cases() {
    for seed in 0..15 {
        let m = check(seed).unwrap();
        println!("{} {:e}", m.case, m.error);
        assert!(m.holds(), "seed {seed}: {m:?}");
    }
}

#[test]
fn s1_controls_fail_as_expected() {
    for seed in 0..4 {
        for c in controls(seed).unwrap() {
            println!("{} {:e}", c.case, c.error);
            assert!(c.failed_as_expected(), "seed {seed}: {c:?}");
        }
    }
}

/// Deterministic proptest configuration (fixed seed, no regression files).
fn config(cases: u32) -> Config {
    Config {
        cases,
        rng_seed: RngSeed::Fixed(0x05_01),
        failure_persistence: None,
        ..Config::default()
    }
}

fn grid() -> impl Strategy<Value = GridGroup> {
    prop_oneof![
        Just(GridGroup::C2),
        Just(GridGroup::C4),
        Just(GridGroup::D4)
    ]
}

fn sigma() -> impl Strategy<Value = Vec<LayerSpec>> {
    prop_oneof![
        Just(vec![LayerSpec::Tanh]),
        Just(vec![LayerSpec::Relu]),
        Just(vec![LayerSpec::Tanh, LayerSpec::LayerNorm]),
        Just(vec![LayerSpec::LayerNorm, LayerSpec::Relu]),
    ]
}

proptest! {
    #![proptest_config(config(24))]

    /// Image networks built from generated parts: group, even side, optional 2×2 pooling,
    /// widths, invariant supports (3×3 or 5×5), non-linearities.
    #[test]
    fn s1_holds_on_generated_image_networks(
        kind in grid(),
        half_side in 2usize..=4,
        pool in any::<bool>(),
        c0 in 1usize..=2,
        layers in proptest::collection::vec((1usize..=3, any::<bool>(), any::<u64>(), sigma()), 1..=3),
        out in 1usize..=4,
        seed in any::<u64>(),
    ) {
        let side = 2 * half_side;
        let mut specs = Vec::new();
        let mut current = side;
        for (i, (width, big, support_seed, sigma)) in layers.into_iter().enumerate() {
            let k = if big && current >= 5 { 5 } else { 3 };
            let support = random_invariant_support(kind, k, support_seed).unwrap();
            specs.push(LayerSpec::conv(width, &support));
            specs.extend(sigma);
            if pool && i == 0 && current / 2 >= 3 {
                specs.push(LayerSpec::AvgPool2d(2));
                current /= 2;
            }
        }
        specs.push(LayerSpec::Flatten);
        specs.push(LayerSpec::dense_full(out));
        let net = Network::new(&[c0, side, side], specs).unwrap();
        let gnet = GroupNetwork::on_images(net, kind).unwrap();
        let (e, budget) = lifted_identity_error(&gnet, seed).unwrap();
        prop_assert!(e <= budget.tolerance(), "{:?} side {}: error {:e}, {}", kind, side, e, budget.describe());
    }

    /// The seeded random cases (images, regular-rep dense networks, attention under S_n).
    #[test]
    fn s1_holds_on_random_seeds(seed in any::<u64>()) {
        let m = check(seed).unwrap();
        prop_assert!(m.holds(), "{:?}", m);
    }
}
