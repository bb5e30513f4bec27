//! Running members in parallel: one rayon task per member in a dedicated pool, results in
//! member order; the ensemble mean summed in member order.

use crate::autodiff::Tape;
use crate::nn::Network;
use crate::{Error, Result, Scalar};
use rayon::prelude::*;
use std::ops::Range;
use std::sync::{Arc, Mutex};

/// The results of a run whose members may fail: successes and failures, each in member
/// order, every member in exactly one of them.
#[derive(Debug)]
pub struct Outcomes<R> {
    /// (member index, result) of the members that succeeded.
    pub successes: Vec<(usize, R)>,
    /// (member index, error) of the members that failed; a divergence names its member.
    pub failures: Vec<(usize, Error)>,
}

impl<R> Outcomes<R> {
    /// All results in member order, or the first failure (by member index) if any member
    /// failed.
    pub fn into_all(self) -> Result<Vec<R>> {
        match self.failures.into_iter().next() {
            Some((_, e)) => Err(e),
            None => Ok(self.successes.into_iter().map(|(_, r)| r).collect()),
        }
    }
}

/// The pool of `threads` threads, built once per thread count and process and shared by
/// every later call (a pool per call would start and stop `threads` OS threads each time).
fn pool(threads: usize) -> Result<Arc<rayon::ThreadPool>> {
    if threads == 0 {
        return Err(Error::Invalid(
            "an ensemble run needs at least one thread".into(),
        ));
    }
    crate::limits::check_threads("threads", threads)?;
    static POOLS: Mutex<Vec<(usize, Arc<rayon::ThreadPool>)>> = Mutex::new(Vec::new());
    let mut pools = POOLS.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((_, p)) = pools.iter().find(|(n, _)| *n == threads) {
        return Ok(Arc::clone(p));
    }
    let p = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| Error::Invalid(format!("cannot start a pool of {threads} threads: {e}")))?;
    let p = Arc::new(p);
    pools.push((threads, Arc::clone(&p)));
    Ok(p)
}

/// `f(i)` for every member i of `members`, one rayon task per member in a dedicated pool of
/// `threads` threads (built once per thread count); results in member order. When `f(i)` depends only on i (seed it with
/// [`member_seed`](super::member_seed)), the result is bit-identical for any thread count.
/// Errors if `threads` is 0 or above [`MAX_THREADS`](crate::limits::MAX_THREADS), or the pool
/// cannot start.
pub fn run_members<R: Send>(
    members: Range<usize>,
    threads: usize,
    f: impl Fn(usize) -> R + Sync,
) -> Result<Vec<R>> {
    let pool = pool(threads)?;
    Ok(pool.install(|| members.into_par_iter().with_max_len(1).map(&f).collect()))
}

/// [`run_members`] for members that may fail: a failing member never loses the others'
/// results, and an [`Error::Diverged`] gets its `member` field set to the member index.
pub fn try_run_members<R: Send>(
    members: Range<usize>,
    threads: usize,
    f: impl Fn(usize) -> Result<R> + Sync,
) -> Result<Outcomes<R>> {
    let results = run_members(members.clone(), threads, |i| {
        f(i).map_err(|e| match e {
            Error::Diverged { step, what, .. } => Error::Diverged {
                member: i,
                step,
                what,
            },
            other => other,
        })
    })?;
    let mut out = Outcomes {
        successes: Vec::new(),
        failures: Vec::new(),
    };
    for (i, r) in members.zip(results) {
        match r {
            Ok(v) => out.successes.push((i, v)),
            Err(e) => out.failures.push((i, e)),
        }
    }
    Ok(out)
}

/// f̂ = (1/M) Σ_m outputs_m ↔ `ensemble_mean`: the members' outputs (e.g. logits) summed in
/// member order, then divided by M. Errors on no members or outputs of different lengths.
pub fn ensemble_mean<T: Scalar, V: AsRef<[T]>>(outputs: &[V]) -> Result<Vec<T>> {
    let first = outputs
        .first()
        .ok_or_else(|| Error::Invalid("the ensemble mean of no members".into()))?
        .as_ref();
    let mut sum = vec![T::zero(); first.len()];
    for (m, out) in outputs.iter().enumerate() {
        let out = out.as_ref();
        if out.len() != sum.len() {
            return Err(Error::Shape(format!(
                "member {m} has {} outputs but member 0 has {}",
                out.len(),
                sum.len()
            )));
        }
        sum.iter_mut().zip(out).for_each(|(s, &o)| *s += o);
    }
    let m = T::of(outputs.len() as f64);
    sum.iter_mut().for_each(|s| *s /= m);
    Ok(sum)
}

/// The ensemble's outputs f̂(x) on `n` samples `x`: every member's Φ_{θ_m}(x) (in parallel,
/// one tape per member), then [`ensemble_mean`] in member order.
pub fn ensemble_outputs<T: Scalar>(
    net: &Network,
    thetas: &[Vec<T>],
    x: &[T],
    n: usize,
    threads: usize,
) -> Result<Vec<T>> {
    let outs = run_members(0..thetas.len(), threads, |m| {
        net.predict(&mut Tape::new(), &thetas[m], x, n)
    })?;
    let outs = outs.into_iter().collect::<Result<Vec<_>>>()?;
    ensemble_mean(&outs)
}
