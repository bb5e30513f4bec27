//! Combining runs of disjoint arms into one report. An arm's members, shuffles, rotations and
//! bootstrap resamples depend only on the master seed and the arm's name, so an arm run
//! alone gives exactly the results it gives beside other arms; runs of different arms with
//! otherwise equal settings can therefore be joined (e.g. one process per arm on a busy
//! machine) and compared as if run together.

use super::evaluate::compare_arms;
use super::results::{Results, RunInfo};
use crate::{Error, Result};

/// The settings that must agree for runs to be combined (everything but arms, threads, SIMD
/// level, shard count and time: results depend on none of them), as a comparable string.
fn settings(r: &RunInfo) -> String {
    let mut run = r.clone();
    run.threads = 0;
    run.elapsed_secs = 0.0;
    run.train_secs = 0.0;
    run.shards = 0;
    run.simd = String::new();
    run.version = String::new();
    serde_json::to_string(&run).expect("RunInfo serialises")
}

/// Joins the arms of `parts` (in order) into one [`Results`], recomputing the comparison
/// between arms; the elapsed time is the sum over the parts. Errors if there are no parts,
/// an arm appears twice, or the parts differ in any setting other than arms, threads,
/// version, SIMD level, shard count and time.
pub fn combine_results(parts: Vec<Results>) -> Result<Results> {
    let mut parts = parts.into_iter();
    let first = parts
        .next()
        .ok_or_else(|| Error::Invalid("--combine: no results to combine".into()))?;
    let want = settings(&first.run);
    let mut run = first.run.clone();
    let mut arms = first.arms;
    for (i, p) in parts.enumerate() {
        if settings(&p.run) != want {
            return Err(Error::Invalid(format!(
                "--combine: part {} was run with other settings than part 1 (data, group, \
                 members, epochs, lr, batch, seed, sizes, resamples and sets must agree)",
                i + 2
            )));
        }
        run.elapsed_secs += p.run.elapsed_secs;
        run.train_secs += p.run.train_secs;
        for a in p.arms {
            if arms.iter().any(|b| b.name == a.name) {
                return Err(Error::Invalid(format!(
                    "--combine: arm `{}` appears in more than one part",
                    a.name
                )));
            }
            arms.push(a);
        }
    }
    let results = Results {
        comparison: compare_arms(&arms),
        run,
        divergence: super::results::Divergence::of(&arms),
        arms,
    };
    results.validate()?;
    Ok(results)
}
