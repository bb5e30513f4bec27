//! Training one member of an ensemble, and a whole run of members in parallel.

use super::run::{try_run_members, Outcomes};
use super::seeds::member_rng;
use crate::nn::GroupNetwork;
use crate::train::{descend, init_theta, sgd_epoch, Augmentation, InitLaw, Samples, SgdConfig};
use crate::train::{Law, Workspace};
use crate::{Error, Result, Scalar};
use std::ops::Range;

/// How a member is trained after initialisation.
#[derive(Clone, Debug, PartialEq)]
pub enum Schedule {
    /// Full-batch descent on R_aug: `steps` steps of size `lr` (the augmented flow's Euler
    /// scheme).
    Descent {
        /// Step size.
        lr: f64,
        /// Number of steps.
        steps: usize,
    },
    /// `cfg.epochs` epochs of SGD with per-sample random augmentation.
    Sgd(SgdConfig),
}

/// Everything a member's training depends on besides the network, the data and its seed:
/// the initial law μ_0, the augmentation law and the schedule.
#[derive(Clone, Debug, PartialEq)]
pub struct Recipe {
    /// Initial law of θ_0.
    pub init: InitLaw,
    /// Augmentation policy.
    pub augmentation: Augmentation,
    /// Descent or SGD.
    pub schedule: Schedule,
}

impl Recipe {
    /// A one-line description of the recipe (stored in ensemble files so that runs trained
    /// differently are never merged).
    pub fn describe(&self) -> String {
        format!(
            "init {:?}; augmentation {:?}; {:?}",
            self.init, self.augmentation, self.schedule
        )
    }
}

/// Trains member `i` of the run with master seed `master`: θ_0 ~ `recipe.init` drawn from
/// [`member_rng`]`(master, i)`, then the schedule; SGD continues on the same generator (its
/// shuffles and augmentation draws). A divergence is `Error::Diverged` with `member = i` and
/// the step counted from the start of training.
pub fn train_member<T: Scalar>(
    gnet: &GroupNetwork,
    data: &Samples<T>,
    recipe: &Recipe,
    master: u64,
    i: usize,
) -> Result<Vec<T>> {
    let law = recipe.augmentation.law(gnet.group())?;
    train_with_law(gnet, data, recipe, &law, master, i).map_err(|e| match e {
        Error::Diverged { step, what, .. } => Error::Diverged {
            member: i,
            step,
            what,
        },
        other => other,
    })
}

fn train_with_law<T: Scalar>(
    gnet: &GroupNetwork,
    data: &Samples<T>,
    recipe: &Recipe,
    law: &Law,
    master: u64,
    i: usize,
) -> Result<Vec<T>> {
    let mut rng = member_rng(master, i);
    let theta0 = init_theta(gnet, &recipe.init, &mut rng)?;
    let mut theta: Vec<T> = theta0.into_iter().map(T::of).collect();
    let mut ws = Workspace::<T>::new(gnet);
    match &recipe.schedule {
        Schedule::Descent { lr, steps } => descend(
            gnet,
            &mut ws,
            &mut theta,
            data,
            law,
            T::of(*lr),
            *steps,
            |_, _, _| {},
        )?,
        Schedule::Sgd(cfg) => {
            let per_epoch = data.n.div_ceil(cfg.batch.max(1));
            for epoch in 0..cfg.epochs {
                sgd_epoch(gnet, &mut ws, &mut theta, data, cfg, law, 0, &mut rng).map_err(|e| {
                    match e {
                        Error::Diverged {
                            member, step, what, ..
                        } => Error::Diverged {
                            member,
                            step: epoch * per_epoch + step,
                            what,
                        },
                        other => other,
                    }
                })?;
            }
        }
    }
    Ok(theta)
}

/// Trains members `members` of the run with master seed `master` on `threads` threads
/// (one task per member, see [`try_run_members`]): member i's θ is bit-identical whatever
/// the thread count or the shard it runs in. Errors up front on a bad augmentation; a
/// failing member (e.g. a divergence) is reported in [`Outcomes::failures`] with its index.
///
/// ```
/// use eqens::ensemble::{train_ensemble, Recipe, Schedule};
/// use eqens::train::cases::{image_case, Activations, Filters};
/// use eqens::train::{Augmentation, InitLaw, SgdConfig};
///
/// let case = image_case(1, None, &Filters::InvariantSupport, Activations::Smooth)?;
/// let recipe = Recipe {
///     init: InitLaw::Gaussian { scale: 0.5 },
///     augmentation: Augmentation::Full,
///     schedule: Schedule::Sgd(SgdConfig { lr: 0.05, batch: 2, epochs: 3, shuffle: true }),
/// };
/// let one = train_ensemble::<f64>(&case.gnet, &case.samples(), &recipe, 7, 0..6, 1)?.into_all()?;
/// let two = train_ensemble::<f64>(&case.gnet, &case.samples(), &recipe, 7, 0..6, 2)?.into_all()?;
/// assert_eq!(one, two); // bit-identical whatever the thread count
/// // Members 2..4 alone are the same members (shards merge exactly).
/// let part = train_ensemble::<f64>(&case.gnet, &case.samples(), &recipe, 7, 2..4, 2)?.into_all()?;
/// assert_eq!(part, one[2..4]);
/// assert_ne!(one[0], one[1]);
/// # Ok::<(), eqens::Error>(())
/// ```
pub fn train_ensemble<T: Scalar>(
    gnet: &GroupNetwork,
    data: &Samples<T>,
    recipe: &Recipe,
    master: u64,
    members: Range<usize>,
    threads: usize,
) -> Result<Outcomes<Vec<T>>> {
    let law = recipe.augmentation.law(gnet.group())?;
    data.check(gnet.network())?;
    try_run_members(members, threads, |i| {
        train_with_law(gnet, data, recipe, &law, master, i)
    })
}
