//! Analyse your own architecture: is it invariant under the group (H4), compatible with it
//! (NOF), orthonormally parametrised (H5)? And what to change if not.
//!
//! Run: `cargo run --release --example analyze_architecture`

use eqens::nn::analysis::{analyze, Verdict};
use eqens::nn::{GroupNetwork, LayerSpec, Network, Support};
use eqens::rep::GridGroup;

pub fn main() -> eqens::Result<()> {
    // A 3×3 support of your own, as a row-major mask: the top row and the centre.
    let mine = Support::from_mask(
        3,
        vec![true, true, true, false, true, false, false, false, false],
    )?;
    for (name, support) in [
        ("top row + centre", mine),
        ("plus + centre", Support::plus()),
    ] {
        // 10×10 one-channel images → conv(4) → tanh → 2×2 pooling → conv(4) → flatten
        // → dense(5), under exact rotations and flips of the grid (D4).
        let net = Network::new(
            &[1, 10, 10],
            vec![
                LayerSpec::conv(4, &support),
                LayerSpec::Tanh,
                LayerSpec::AvgPool2d(2),
                LayerSpec::conv(4, &support),
                LayerSpec::Flatten,
                LayerSpec::dense_full(5),
            ],
        )?;
        let gnet = GroupNetwork::on_images(net, GridGroup::D4)?;
        let report = analyze(&gnet)?;
        println!("== {name} ({support}) under D4");
        println!("{}", report.summary);
        for m in &report.maps {
            println!(
                "  map {} ({}, {}): {} — dim T𝓛 {}, dim E {}, dim 𝓛_0 {}, ‖[Π_𝓛, Π_G]‖ = {:.4}",
                m.map,
                m.kind,
                m.unit,
                m.verdict.label(),
                m.dims.direction,
                m.dims.equivariant,
                m.dims.core,
                m.commutator_reynolds
            );
            for a in &m.advice {
                println!("    advice: {a}");
            }
        }
        // The verdicts drive what the ensemble theorem promises.
        let expected = if name.starts_with("plus") {
            Verdict::Invariant
        } else {
            Verdict::Incompatible
        };
        assert_eq!(report.maps[0].verdict, expected, "{name}");
    }
    Ok(())
}
