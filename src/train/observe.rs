//! Watching SGD: a per-step observer ([`sgd_epoch_observed`]) and the random draws of an
//! epoch computed without training ([`draw_epoch`]).
//!
//! [`sgd_epoch`](super::sgd_epoch) draws, in this order, a Fisher–Yates permutation of the n
//! samples (if shuffling) and then one h ~ law per sample, batch by batch; sample i of a
//! batch is transformed by ρ_X(g) with g = left·h. Those draws depend only on the generator,
//! never on θ, so they can be listed before training ([`draw_epoch`]) and replayed by hand.

use super::augment::Law;
use super::risk::{Samples, Workspace};
use super::sgd::{epoch_with, SgdConfig};
use crate::group::Group;
use crate::nn::GroupNetwork;
use crate::{Error, Result, Scalar};
use rand::RngExt;
use rand_chacha::ChaCha8Rng;

/// What one SGD step did, as seen by an observer of [`sgd_epoch_observed`].
#[derive(Debug)]
pub struct SgdStep<'a, T> {
    /// Step k within the epoch (minibatch k).
    pub step: usize,
    /// The sample indices of the minibatch, in the order they were stacked.
    pub indices: &'a [usize],
    /// The group element g = left·h that transformed each sample (aligned with `indices`).
    pub elements: &'a [usize],
    /// The minibatch mean loss at θ before the step.
    pub loss: T,
    /// ∇_θ of that loss (the step was θ ← θ − lr·grad).
    pub grad: &'a [T],
    /// θ after the step.
    pub theta: &'a [T],
}

/// [`sgd_epoch`](super::sgd_epoch) with `observe` called after every step. The observer
/// only reads: θ, the losses and the random draws are bit for bit those of `sgd_epoch`
/// with the same arguments (the plain function runs the same code with an observer that
/// does nothing). Errors as `sgd_epoch`.
///
/// ```
/// use eqens::nn::{GroupNetwork, LayerSpec, Network, Target};
/// use eqens::rep::GridGroup;
/// use eqens::train::{sgd_epoch_observed, Augmentation, Samples, SgdConfig, Workspace};
/// use rand::SeedableRng;
///
/// let net = Network::new(&[1, 4, 4], vec![LayerSpec::Flatten, LayerSpec::dense_full(2)])?;
/// let gnet = GroupNetwork::on_images(net, GridGroup::C4)?;
/// let x: Vec<f64> = (0..5 * 16).map(|v| (v as f64 * 0.37).sin()).collect();
/// let labels = [0, 1, 1, 0, 1];
/// let data = Samples { x: &x, n: 5, target: Target::Labels(&labels) };
/// let cfg = SgdConfig { lr: 0.1, batch: 2, epochs: 1, shuffle: true };
/// let law = Augmentation::Full.law(gnet.group())?;
/// let mut theta = vec![0.1f64; gnet.network().num_params()];
/// let mut ws = Workspace::new(&gnet);
/// let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
/// let mut seen = Vec::new();
/// sgd_epoch_observed(&gnet, &mut ws, &mut theta, &data, &cfg, &law, 0, &mut rng, |s| {
///     seen.push((s.indices.to_vec(), s.elements.to_vec()));
/// })?;
/// // 5 samples in batches of 2: three steps of sizes 2, 2, 1 covering every sample once.
/// assert_eq!(seen.iter().map(|(i, _)| i.len()).collect::<Vec<_>>(), [2, 2, 1]);
/// let mut all: Vec<usize> = seen.iter().flat_map(|(i, _)| i.clone()).collect();
/// all.sort();
/// assert_eq!(all, [0, 1, 2, 3, 4]);
/// assert!(seen.iter().all(|(_, g)| g.iter().all(|&g| g < 4)));
/// # Ok::<(), eqens::Error>(())
/// ```
#[allow(clippy::too_many_arguments)]
pub fn sgd_epoch_observed<T: Scalar>(
    gnet: &GroupNetwork,
    ws: &mut Workspace<T>,
    theta: &mut [T],
    data: &Samples<T>,
    cfg: &SgdConfig,
    law: &Law,
    left: usize,
    rng: &mut ChaCha8Rng,
    observe: impl FnMut(&SgdStep<'_, T>),
) -> Result<f64> {
    epoch_with(gnet, ws, theta, data, cfg, law, left, rng, observe)
}

/// One minibatch of an epoch: which samples, transformed by which group elements.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchDraw {
    /// Sample indices, in stacking order.
    pub indices: Vec<usize>,
    /// The element g = left·h applied to each sample (ρ_X(g)x, and ρ_Y(g)y for values).
    pub elements: Vec<usize>,
}

/// The random draws of one SGD epoch, batch by batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EpochDraws {
    /// The sample order (the identity without shuffling).
    pub order: Vec<usize>,
    /// The minibatches in step order; the last holds n mod batch samples when n is not a
    /// multiple of the batch size.
    pub batches: Vec<BatchDraw>,
}

/// The draws [`sgd_epoch`](super::sgd_epoch) would make on `rng` for `n` samples under
/// `group`, taken from `rng` in the same order (so `rng` ends where the epoch would leave
/// it, and the next epoch's draws follow). `left` is the coupling element (0 = e for an
/// ordinary member). Errors on n = 0, a bad `cfg`, `left` ∉ G or a law element ∉ G.
///
/// ```
/// use eqens::group::Group;
/// use eqens::train::{draw_epoch, Augmentation, SgdConfig};
/// use rand::SeedableRng;
///
/// let c4 = Group::cyclic(4);
/// let law = Augmentation::Full.law(&c4)?;
/// let cfg = SgdConfig { lr: 0.01, batch: 4, epochs: 1, shuffle: true };
/// let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
/// let d = draw_epoch(10, &c4, &cfg, &law, 0, &mut rng)?;
/// assert_eq!(d.batches.len(), 3); // 4 + 4 + 2
/// let mut order = d.order.clone();
/// order.sort();
/// assert_eq!(order, (0..10).collect::<Vec<_>>());
/// // The same seed gives the same draws; the next epoch continues the stream.
/// let mut again = rand_chacha::ChaCha8Rng::seed_from_u64(1);
/// assert_eq!(draw_epoch(10, &c4, &cfg, &law, 0, &mut again)?, d);
/// assert_ne!(draw_epoch(10, &c4, &cfg, &law, 0, &mut again)?, d);
/// # Ok::<(), eqens::Error>(())
/// ```
pub fn draw_epoch(
    n: usize,
    group: &Group,
    cfg: &SgdConfig,
    law: &Law,
    left: usize,
    rng: &mut ChaCha8Rng,
) -> Result<EpochDraws> {
    cfg.validate()?;
    if n == 0 {
        return Err(Error::Invalid("an SGD epoch over no samples".into()));
    }
    let order = group.order();
    if left >= order {
        return Err(Error::Invalid(format!(
            "coupling element {left} is out of range for {} (order {order})",
            group.name()
        )));
    }
    if let Some(g) = law.elements().iter().find(|&&g| g >= order) {
        return Err(Error::Invalid(format!(
            "the augmentation law has element {g}, but {} has order {order}",
            group.name()
        )));
    }
    let mut perm: Vec<usize> = (0..n).collect();
    if cfg.shuffle {
        for i in (1..n).rev() {
            let j = rng.random_range(0..=i);
            perm.swap(i, j);
        }
    }
    let batches = perm
        .chunks(cfg.batch)
        .map(|chunk| BatchDraw {
            indices: chunk.to_vec(),
            elements: chunk
                .iter()
                .map(|_| group.mul(left, law.sample(rng)))
                .collect(),
        })
        .collect();
    Ok(EpochDraws {
        order: perm,
        batches,
    })
}
