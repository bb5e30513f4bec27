//! Train a small ensemble with rotation augmentation on the bundled digits and measure its
//! equivariance against a single member's (THEORY: the ensemble mean becomes equivariant).
//!
//! Run: `cargo run --release --example train_ensemble`

use eqens::data::digits_split;
use eqens::ensemble::{equivariance_error, train_ensemble, Recipe, Schedule};
use eqens::nn::{GroupNetwork, Network, PaperBasis, Support, Target};
use eqens::rep::GridGroup;
use eqens::train::{Augmentation, InitLaw, Samples, SgdConfig};

pub fn main() -> eqens::Result<()> {
    let split = digits_split(0.2, 0)?;
    // 256 training images keep the example to a few seconds.
    let n = 256;
    let x: Vec<f32> = split.train.inputs[..n * 64]
        .iter()
        .map(|&v| v as f32)
        .collect();
    let labels = split.train.labels.as_ref().expect("digits have labels")[..n].to_vec();
    let data = Samples {
        x: &x,
        n,
        target: Target::Labels(&labels),
    };
    let net = Network::paper(8, &Support::plus(), PaperBasis::Orthonormal)?;
    let gnet = GroupNetwork::on_images(net, GridGroup::C4)?;
    let recipe = Recipe {
        init: InitLaw::Gaussian { scale: 1.0 },
        augmentation: Augmentation::Full,
        schedule: Schedule::Sgd(SgdConfig {
            lr: 0.01,
            batch: 32,
            epochs: 2,
            shuffle: true,
        }),
    };
    let members = 16;
    let trained = train_ensemble::<f32>(&gnet, &data, &recipe, 0, 0..members, 2)?.into_all()?;
    let thetas: Vec<Vec<f64>> = trained
        .into_iter()
        .map(|t| t.into_iter().map(f64::from).collect())
        .collect();
    // Equivariance error on 32 test digits over every rotation.
    let probes = &split.test.inputs[..32 * 64];
    let all: Vec<usize> = (0..4).collect();
    let single = equivariance_error(&gnet, &thetas[..1], probes, 32, &all, 2)?;
    let ensemble = equivariance_error(&gnet, &thetas, probes, 32, &all, 2)?;
    println!("relative equivariance error over C4 on 32 test digits:");
    println!("  one member          {single:.4}");
    println!("  ensemble of {members:>2}      {ensemble:.4}");
    // The mean of M members with independent errors shrinks the error roughly as 1/√M.
    assert!(ensemble < single, "the ensemble should be more equivariant");
    Ok(())
}
