//! Counterexample search: for every hypothesis H1..H7 a property that drops it (keeping the
//! others) fails, and the failing case is FOUND by random search and then SHRUNK — never
//! hand-picked.
//!
//! **The measured property** is the one the main theorem is about: the equivariance error of
//! an *orbit ensemble*. A random [`Case`] (group, image side, depth, channels, filter support
//! Ω, head, samples, steps, seed) builds a small image network; θ_0 is drawn; the members are
//! ρ(g)A_0 for the g of the group (↔ [`GroupNetwork::lift_theta`]); each member takes `steps`
//! steps of full-batch descent on the augmented risk (↔ [`descend`]); the ensemble is the
//! mean of their outputs; the error is [`equivariance_error`],
//! max_{h, x} ‖f̂(ρ_X(h)x) − ρ_Y(h)f̂(x)‖ relative to the members' output scale, over random
//! off-distribution probes x.
//! Under H1–H7 this is exact (S5, S14: ≤ 1e-12). Each [`Property`] breaks exactly one thing
//! (a [`Breach`]); the case is a counterexample when the error exceeds [`FAIL_THRESHOLD`].
//!
//! **Search**: draw random cases from the seed until one fails (at most `budget`). **Shrink**:
//! greedily replace the case by the first simpler candidate of [`Case::shrink`] that is still
//! admissible for the property and still fails, until none does. Every candidate is no larger
//! than its parent in every field, so the shrunk case is no larger than the found one.

use super::report::error_bucket;
use crate::autodiff::Tape;
use crate::ensemble::equivariance_error;
use crate::nn::{GroupNetwork, Support, Target};
use crate::train::cases::{sub_seed, worst};
use crate::train::init::standard_normal;
use crate::train::{descend, init_theta, Augmentation, InitLaw, Law, Samples, Workspace};
use crate::{Error, Result};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

/// A case is a counterexample when its error exceeds this. With all hypotheses kept the
/// orbit ensemble is exact up to round-off (≤ 1e-12 after ≤ 10 steps, the S5/S14 tolerance);
/// a dropped hypothesis changes every step by O(lr·‖∇R‖) ≈ 1e-3..1 relative, or the
/// ensemble at initialisation by O(1). 1e-6 sits six orders above the first and three below
/// the second.
pub const FAIL_THRESHOLD: f64 = 1e-6;

/// The bound the all-kept control must respect (the S5/S14 tolerance): member g's trajectory
/// equals ρ(g) times member e's up to round-off ≲ 1e-14 per step (S4), over ≤ 10 steps, and
/// the ensemble mean of exactly permuted outputs adds ~1e-16.
pub const KEPT_TOLERANCE: f64 = 1e-12;

/// The learning rate of every member.
pub const LR: f64 = 0.1;

/// Random probe inputs (N(0, 2²) pixels, independent of the training data).
pub const PROBES: usize = 3;

/// Property evaluations allowed while shrinking one counterexample.
pub const SHRINK_BUDGET: usize = 400;

mod case;
pub use case::*;

/// `steps` steps of descent on the risk "augmented" with ρ_X(g) on inputs but targets left
/// as they are (the H3 breach), uniform over G, in place.
fn descend_untransformed_targets(
    gnet: &GroupNetwork,
    theta: &mut [f64],
    samples: &Samples<f64>,
    steps: usize,
) -> Result<()> {
    let net = gnet.network();
    let order = gnet.group().order();
    let mut tape = Tape::new();
    let mut x = vec![0.0; samples.x.len()];
    let mut grad = vec![0.0; theta.len()];
    let mut term = vec![0.0; theta.len()];
    for step in 0..steps {
        grad.iter_mut().for_each(|v| *v = 0.0);
        for g in 0..order {
            gnet.act_on_inputs(g, samples.x, &mut x);
            net.loss_and_grad(&mut tape, theta, &x, samples.n, samples.target, &mut term)?;
            grad.iter_mut()
                .zip(&term)
                .for_each(|(a, b)| *a += b / order as f64);
        }
        for (t, g) in theta.iter_mut().zip(&grad) {
            *t -= LR * g;
        }
        if theta.iter().any(|v| !v.is_finite()) {
            return Err(Error::Diverged {
                member: 0,
                step,
                what: "θ".into(),
            });
        }
    }
    Ok(())
}

/// The orbit-ensemble equivariance error of a case (see the module docs). Errors with
/// `Error::Diverged` if a member's training diverges.
pub fn measure(case: &Case) -> Result<f64> {
    let (gnet, _) = case.network()?;
    let net = gnet.network();
    let mut rng = ChaCha8Rng::seed_from_u64(sub_seed(case.seed, 1));
    let n = case.samples;
    let x: Vec<f64> = (0..n * net.input_dim())
        .map(|_| standard_normal(&mut rng))
        .collect();
    let (labels, values): (Vec<usize>, Vec<f64>) = match case.head {
        Head::Classes(k) => ((0..n).map(|_| rng.random_range(0..k)).collect(), vec![]),
        Head::Image => (
            vec![],
            (0..n * net.output_dim())
                .map(|_| standard_normal(&mut rng))
                .collect(),
        ),
    };
    let samples = Samples {
        x: &x,
        n,
        target: match case.head {
            Head::Classes(_) => Target::Labels(&labels),
            Head::Image => Target::Values(&values),
        },
    };
    let init = match case.breach {
        Breach::NonInvariantSupport | Breach::CompatibleNotInvariant => {
            InitLaw::Symmetric { scale: 1.0 }
        }
        _ => InitLaw::Gaussian { scale: 1.0 },
    };
    let theta0 = init_theta(&gnet, &init, &mut rng)?;
    let law: Law = case.augmentation().law(gnet.group())?;
    let elements = case.orbit();
    let mut ws = Workspace::<f64>::new(&gnet);
    let mut members = Vec::with_capacity(elements.len());
    for &g in &elements {
        let mut theta = gnet.lift_theta(g, &theta0)?;
        if case.breach == Breach::UntransformedTargets {
            descend_untransformed_targets(&gnet, &mut theta, &samples, case.steps)?;
        } else {
            descend(
                &gnet,
                &mut ws,
                &mut theta,
                &samples,
                &law,
                LR,
                case.steps,
                |_, _, _| {},
            )?;
        }
        members.push(theta);
    }
    let probes: Vec<f64> = (0..PROBES * net.input_dim())
        .map(|_| 2.0 * standard_normal(&mut rng))
        .collect();
    equivariance_error(&gnet, &members, &probes, PROBES, &case.probe_elements(), 1)
}

/// [`measure`], with "no verdict" (`None`) for a diverged training run and for a NaN error
/// (an identically zero ensemble, e.g. symmetric initialisation on an 𝓛 whose core 𝓛_0 is
/// {0}, has error 0/0).
pub fn evaluate(case: &Case) -> Result<Option<f64>> {
    match measure(case) {
        Ok(e) if e.is_nan() => Ok(None),
        Ok(e) => Ok(Some(e)),
        Err(Error::Diverged { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// A failing case found by search, and its shrunk form.
#[derive(Clone, Debug, PartialEq)]
pub struct Counterexample {
    /// The property (the hypothesis dropped).
    pub property: Property,
    /// The first failing random case.
    pub found: Case,
    /// Its error.
    pub found_error: f64,
    /// Random cases drawn until `found` (1 = the first).
    pub cases_tried: usize,
    /// The shrunk case (still failing).
    pub shrunk: Case,
    /// Its error.
    pub shrunk_error: f64,
    /// Simplifications accepted while shrinking.
    pub shrink_steps: usize,
}

/// The result of a search.
#[derive(Clone, Debug, PartialEq)]
pub struct SearchOutcome {
    /// The property searched.
    pub property: Property,
    /// Random cases drawn.
    pub cases_tried: usize,
    /// Cases without a verdict (see [`evaluate`]), among those drawn.
    pub undecided: usize,
    /// The largest error over the random cases drawn that had a verdict.
    pub max_error: f64,
    /// The counterexample, if one was found within the budget.
    pub counterexample: Option<Counterexample>,
}

/// Draws up to `budget` random cases of `property` (case i from a sub-seed of `seed`, the
/// property and i) until one fails, then shrinks it.
pub fn search(property: Property, seed: u64, budget: usize) -> Result<SearchOutcome> {
    let stream = sub_seed(seed, property.index());
    let mut max_error: f64 = 0.0;
    let mut undecided = 0;
    for i in 0..budget {
        let case = Case::random(property, sub_seed(stream, i as u64))?;
        let Some(error) = evaluate(&case)? else {
            undecided += 1;
            continue;
        };
        max_error = worst(max_error, error);
        if error > FAIL_THRESHOLD {
            let (shrunk, shrunk_error, shrink_steps) = shrink_failing(&case, error)?;
            return Ok(SearchOutcome {
                property,
                cases_tried: i + 1,
                undecided,
                max_error,
                counterexample: Some(Counterexample {
                    property,
                    found: case,
                    found_error: error,
                    cases_tried: i + 1,
                    shrunk,
                    shrunk_error,
                    shrink_steps,
                }),
            });
        }
    }
    Ok(SearchOutcome {
        property,
        cases_tried: budget,
        undecided,
        max_error,
        counterexample: None,
    })
}

/// Greedy shrinking: the first admissible, still failing candidate replaces the case, until
/// no candidate fails or [`SHRINK_BUDGET`] evaluations are spent.
fn shrink_failing(case: &Case, error: f64) -> Result<(Case, f64, usize)> {
    let (mut current, mut current_error) = (case.clone(), error);
    let (mut evaluations, mut accepted) = (0, 0);
    'outer: loop {
        for candidate in current.shrink() {
            if !candidate.admissible()? {
                continue;
            }
            if evaluations == SHRINK_BUDGET {
                break 'outer;
            }
            evaluations += 1;
            if let Some(e) = evaluate(&candidate)? {
                if e > FAIL_THRESHOLD {
                    current = candidate;
                    current_error = e;
                    accepted += 1;
                    continue 'outer;
                }
            }
        }
        break;
    }
    Ok((current, current_error, accepted))
}

/// Searches every hypothesis-dropping property ([`Property::DROPPING`]) in parallel and
/// returns the counterexamples found, in that order (a property whose search found none
/// within `budget` is absent).
pub fn find_counterexamples(seed: u64, budget: usize) -> Result<Vec<Counterexample>> {
    let outcomes: Vec<SearchOutcome> = Property::DROPPING
        .par_iter()
        .map(|&p| search(p, seed, budget))
        .collect::<Result<_>>()?;
    Ok(outcomes
        .into_iter()
        .filter_map(|o| o.counterexample)
        .collect())
}

/// The hypothesis-dropping properties ([`Property::DROPPING`]) that `found` has no
/// counterexample for. `eqens check` fails when this is not empty: like a negative control
/// that does not fail, a dropped hypothesis that breaks nothing shows the search (or the
/// claim that the hypothesis is needed) is wrong.
pub fn missing_counterexamples(found: &[Counterexample]) -> Vec<Property> {
    Property::DROPPING
        .iter()
        .copied()
        .filter(|p| !found.iter().any(|c| c.property == *p))
        .collect()
}

/// Ω as three rows of `#` (tap) and `.`.
fn support_picture(s: &Support) -> String {
    (0..3)
        .map(|r| {
            (0..3)
                .map(|c| if s.contains(r, c) { '#' } else { '.' })
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join(" / ")
}

/// The counterexample in human terms, errors bucketed (deterministic text).
pub fn render_counterexample(c: &Counterexample) -> String {
    let s = &c.shrunk;
    let layers = s
        .network()
        .map(|(_, w)| w)
        .unwrap_or_else(|e| format!("<{e}>"));
    let members = s.orbit().len();
    let init = match s.breach {
        Breach::NonInvariantSupport | Breach::CompatibleNotInvariant => "symmetric init",
        Breach::InitCopies(_) => "Gaussian A_0, orbit weighted as above",
        _ => "Gaussian init",
    };
    let augmentation = match s.augmentation() {
        Augmentation::Full => "full augmentation",
        _ => "the augmentation above",
    };
    format!(
        "{} dropped — {}\n\
         found:  after {} random case(s), error {}\n\
         \x20       {}\n\
         shrunk: {} simplification(s), error {} (threshold {})\n\
         \x20 group      {:?} on 1×{}×{} inputs\n\
         \x20 layers     {layers}\n\
         \x20 support Ω  {}   ({})\n\
         \x20 breach     {}\n\
         \x20 training   orbit ensemble of {members} members ρ(g)A_0, {init}, {augmentation}, \
         {} sample(s), {} descent step(s) of lr {LR}, seed {}\n",
        c.property.dropped(),
        c.property.description(),
        c.cases_tried,
        error_bucket(c.found_error),
        c.found.summary(),
        c.shrink_steps,
        error_bucket(c.shrunk_error),
        super::report::short_sci(FAIL_THRESHOLD),
        s.group,
        s.side,
        s.side,
        support_picture(&s.support),
        s.support,
        s.breach_words(),
        s.samples,
        s.steps,
        s.seed,
    )
}
