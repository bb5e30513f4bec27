//! Member i's exact training stream in the experiment: its θ_0 and, epoch by epoch, the
//! minibatches and rotations it sees, so that a user can replay (or re-implement) the
//! training of one member of [`reproduce`](super::reproduce) outside this crate.
//!
//! Member i of arm a draws everything from one ChaCha8 generator,
//! [`member_rng`]`(a.seed(s), i)`: first θ_0 ~ the arm's initial law ([`init_theta`]), then,
//! for each epoch, the draws of [`draw_epoch`] (a permutation of the training samples and one
//! rotation per sample). The draws never depend on θ, so they can be listed up front.

use super::config::{Arm, ReproduceConfig};
use super::experiment::Setup;
use crate::ensemble::{member_rng, member_seed};
use crate::train::{draw_epoch, init_theta, EpochDraws, SgdConfig};
use crate::{Error, Result};

/// Everything member `index` of `arm` sees in a run with configuration `cfg`.
#[derive(Clone, Debug, PartialEq)]
pub struct MemberStream {
    /// The arm.
    pub arm: Arm,
    /// The member index i.
    pub index: usize,
    /// The seed of its generator, `member_seed(arm.seed(cfg.seed), i)`.
    pub seed: u64,
    /// θ_0 as drawn, in f64 (the run rounds it to its training scalar with `Scalar::of`).
    pub theta0: Vec<f64>,
    /// The SGD settings (learning rate, batch size, shuffling) of every epoch.
    pub sgd: SgdConfig,
    /// Epochs 1..=E in order: the sample indices of each minibatch and the element of C4
    /// (k ↦ rotation by k·90° counter-clockwise) applied to each sample.
    pub epochs: Vec<EpochDraws>,
}

/// The training set the members of a run see: inputs `[n, 1, 8, 8]` row-major after the
/// run's normalisation, in f64 (the run rounds them to its scalar with `Scalar::of`), and
/// the labels.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainingSet {
    /// Inputs, row-major `[n, 1, 8, 8]`.
    pub x: Vec<f64>,
    /// Class labels, one per sample.
    pub labels: Vec<usize>,
}

/// The training set of a run with configuration `cfg` (it depends on no seed: the split is
/// fixed). Errors on a bad configuration.
pub fn training_set(cfg: &ReproduceConfig) -> Result<TrainingSet> {
    let setup = Setup::<f64>::new(cfg)?;
    Ok(TrainingSet {
        x: setup.train_x,
        labels: setup.train_labels,
    })
}

impl MemberStream {
    /// The arm's network (the paper's network with the arm's support) on `cfg`'s data and
    /// group, as the run trains it.
    pub fn network(&self, cfg: &ReproduceConfig) -> Result<crate::nn::GroupNetwork> {
        super::experiment::arm_network(&self.arm, cfg.data.side(), cfg.group)
    }
}

/// Member `index`'s stream in arm `arm` of the run configured by `cfg`: its θ_0 and the
/// draws of its E epochs (`--epochs` or `--steps`), exactly as [`reproduce`](super::reproduce) and
/// [`reproduce_shard`](super::reproduce_shard) consume them. Errors on a bad configuration
/// or `index ≥ cfg.members`.
///
/// Replaying the stream — for each batch, stack ρ_X(g)x for its samples, take one step
/// θ ← θ − lr·∇_θ(mean cross-entropy) with [`Network::loss_and_grad`] in the run's scalar
/// — gives member i's θ bit for bit (tested against the run's shard files).
///
/// [`Network::loss_and_grad`]: crate::nn::Network::loss_and_grad
///
/// ```
/// use eqens::reproduce::{member_stream, Arm, ReproduceConfig};
///
/// let cfg = ReproduceConfig { members: 4, epochs: 2, sizes: vec![4], ..ReproduceConfig::default() };
/// let s = member_stream(&cfg, Arm::sym(), 3)?;
/// assert_eq!(s.epochs.len(), 2);
/// assert_eq!(s.theta0.len(), s.network(&cfg)?.network().num_params());
/// // Every epoch visits each training sample once, in batches of 32 (the last shorter).
/// let n = s.epochs[0].order.len();
/// assert_eq!(s.epochs[0].batches.len(), n.div_ceil(32));
/// assert!(s.epochs[1].batches.iter().all(|b| b.elements.iter().all(|&g| g < 4)));
/// // Another member has another stream.
/// assert_ne!(member_stream(&cfg, Arm::sym(), 2)?.epochs[0], s.epochs[0]);
/// # Ok::<(), eqens::Error>(())
/// ```
pub fn member_stream(cfg: &ReproduceConfig, arm: Arm, index: usize) -> Result<MemberStream> {
    cfg.validate()?;
    if index >= cfg.members {
        return Err(Error::Invalid(format!(
            "member {index} is outside a run of {} members",
            cfg.members
        )));
    }
    let setup = Setup::<f64>::new(cfg)?;
    let n = setup.train_labels.len();
    let gnet = setup.network(&arm)?;
    let arm_seed = arm.seed(cfg.seed);
    let mut rng = member_rng(arm_seed, index);
    let theta0 = init_theta(&gnet, &arm.init_law(), &mut rng)?;
    let sgd = cfg.sgd(setup.epochs);
    let epochs = (0..setup.epochs)
        .map(|_| draw_epoch(n, gnet.group(), &sgd, &setup.law, 0, &mut rng))
        .collect::<Result<Vec<_>>>()?;
    Ok(MemberStream {
        arm,
        index,
        seed: member_seed(arm_seed, index),
        theta0,
        sgd,
        epochs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::Target;
    use crate::reproduce::experiment::arm_network;
    use crate::reproduce::shard::ShardFile;
    use crate::reproduce::{reproduce_shard, Shard};
    use crate::Scalar;

    /// Replays `stream` by hand in the scalar T: stack the transformed samples of each batch,
    /// one `loss_and_grad`, θ ← θ − lr·∇.
    fn replay<T: Scalar>(stream: &MemberStream, data: &TrainingSet) -> Vec<T> {
        let gnet = stream.network(&ReproduceConfig::default()).unwrap();
        let net = gnet.network();
        let rho = gnet.input_rep();
        let d = net.input_dim();
        let x: Vec<T> = data.x.iter().map(|&v| T::of(v)).collect();
        let mut theta: Vec<T> = stream.theta0.iter().map(|&v| T::of(v)).collect();
        let mut tape = crate::autodiff::Tape::new();
        let mut grad = vec![T::zero(); theta.len()];
        let lr = T::of(stream.sgd.lr);
        for epoch in &stream.epochs {
            for b in &epoch.batches {
                let m = b.indices.len();
                let mut bx = vec![T::zero(); m * d];
                for (slot, (&i, &g)) in b.indices.iter().zip(&b.elements).enumerate() {
                    rho.apply(g, &x[i * d..(i + 1) * d], &mut bx[slot * d..(slot + 1) * d]);
                }
                let labels: Vec<usize> = b.indices.iter().map(|&i| data.labels[i]).collect();
                net.loss_and_grad(
                    &mut tape,
                    &theta,
                    &bx,
                    m,
                    Target::Labels(&labels),
                    &mut grad,
                )
                .unwrap();
                for (t, &g) in theta.iter_mut().zip(&grad) {
                    *t -= lr * g;
                }
            }
        }
        theta
    }

    /// The θ bits of members `members` after the last epoch, read from the run's shard file.
    fn shard_thetas<T: Scalar>(cfg: &ReproduceConfig, arm: usize, p: usize) -> Vec<T> {
        let path = reproduce_shard(cfg, false).unwrap();
        let file = ShardFile::open(&path).unwrap();
        let mut losses = vec![0.0; cfg.members];
        let mut thetas = vec![T::zero(); cfg.members * p];
        file.read_epoch(arm, cfg.epochs, &mut losses, &mut thetas)
            .unwrap();
        thetas
    }

    fn check<T: Scalar>(cfg: &ReproduceConfig) {
        let data = training_set(cfg).unwrap();
        for (a, arm) in cfg.arms.iter().enumerate() {
            let p = arm_network(arm, cfg.data.side(), cfg.group)
                .unwrap()
                .network()
                .num_params();
            let run = shard_thetas::<T>(cfg, a, p);
            for i in 0..cfg.members {
                let stream = member_stream(cfg, arm.clone(), i).unwrap();
                let mine = replay::<T>(&stream, &data);
                let theirs = &run[i * p..(i + 1) * p];
                assert!(
                    mine.iter()
                        .zip(theirs)
                        .all(|(x, y)| x.f64().to_bits() == y.f64().to_bits()),
                    "{} member {i}: the replayed θ differs from the run's",
                    arm.name()
                );
            }
            // Negative control: another member's stream gives another θ.
            let other = replay::<T>(&member_stream(cfg, arm.clone(), 0).unwrap(), &data);
            assert!(other
                .iter()
                .zip(&run[p..2 * p])
                .any(|(x, y)| x.f64() != y.f64()));
        }
    }

    fn config(dir: &str, f64_run: bool) -> ReproduceConfig {
        let out = std::env::temp_dir().join(format!("eqens-stream-{dir}-{}", std::process::id()));
        ReproduceConfig {
            members: 3,
            epochs: 2,
            sizes: vec![3],
            ood_len: 8,
            arms: vec![Arm::sym(), Arm::as_syminit()],
            threads: 2,
            out_dir: out,
            shard: Some(Shard::parse("1/1").unwrap()),
            scalar: if f64_run {
                super::super::ScalarKind::F64
            } else {
                super::super::ScalarKind::F32
            },
            ..ReproduceConfig::default()
        }
    }

    #[test]
    fn replaying_member_streams_by_hand_gives_the_runs_theta_bits_f32() {
        let cfg = config("f32", false);
        check::<f32>(&cfg);
        let _ = std::fs::remove_dir_all(&cfg.out_dir);
    }

    #[test]
    fn replaying_member_streams_by_hand_gives_the_runs_theta_bits_f64() {
        let cfg = config("f64", true);
        check::<f64>(&cfg);
        let _ = std::fs::remove_dir_all(&cfg.out_dir);
    }

    #[test]
    fn member_outside_the_run_is_an_error() {
        let cfg = ReproduceConfig {
            members: 3,
            sizes: vec![3],
            ..ReproduceConfig::default()
        };
        assert!(member_stream(&cfg, Arm::cnn(), 2).is_ok());
        assert!(matches!(
            member_stream(&cfg, Arm::cnn(), 3),
            Err(Error::Invalid(m)) if m.contains("outside a run of 3")
        ));
    }
}
