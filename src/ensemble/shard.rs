//! Shards: the members of a run split into `count` contiguous parts, trained separately
//! (e.g. on several machines) and merged back into one file identical to an unsplit run.

use super::store::EnsembleFile;
use crate::{Error, Result};
use std::ops::Range;
use std::path::Path;
use std::str::FromStr;

/// Shard `index` of `count` (1-based: "1/3", "2/3", "3/3"), written `index/count`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    /// 1-based shard number, 1 ≤ index ≤ count.
    pub index: usize,
    /// Number of shards, ≥ 1.
    pub count: usize,
}

impl Shard {
    /// Parses "i/n" with 1 ≤ i ≤ n (surrounding spaces allowed); errors on anything else
    /// ("3/2", "0/2", "0/0", "a/b", "x").
    pub fn parse(s: &str) -> Result<Shard> {
        let bad = |why: &str| {
            Error::Invalid(format!(
                "shard {s:?}: {why} (expected i/n with 1 ≤ i ≤ n, e.g. 2/4)"
            ))
        };
        let (i, n) = s.trim().split_once('/').ok_or_else(|| bad("no `/`"))?;
        let index: usize = i.trim().parse().map_err(|_| bad("i is not a number"))?;
        let count: usize = n.trim().parse().map_err(|_| bad("n is not a number"))?;
        if count == 0 {
            return Err(bad("the number of shards must be at least 1"));
        }
        if index == 0 || index > count {
            return Err(bad("shards are numbered 1..=n"));
        }
        Ok(Shard { index, count })
    }

    /// The members of this shard out of `total`: the contiguous range
    /// [(i−1)·total/n, i·total/n) (integer division). The n shards of a run are disjoint and
    /// cover 0..total; their sizes differ by at most one (some are empty when n > total).
    pub fn members(&self, total: usize) -> Range<usize> {
        let at = |k: usize| (k as u128 * total as u128 / self.count as u128) as usize;
        at(self.index - 1)..at(self.index)
    }
}

impl FromStr for Shard {
    type Err = Error;
    fn from_str(s: &str) -> Result<Shard> {
        Shard::parse(s)
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// Merges shard files of one run into one file holding every member 0..total in order.
///
/// Errors if there are no files, if the files disagree on the run (format or crate version,
/// architecture, training recipe, master seed, total number of members), if two files hold
/// the same member (overlapping shards), or if some member is held by none (a missing
/// shard). The merged file equals the file of the unsplit run.
pub fn merge(files: Vec<EnsembleFile>) -> Result<EnsembleFile> {
    let first = files
        .first()
        .ok_or_else(|| Error::Invalid("merge: no shard files".into()))?;
    let mut merged = EnsembleFile {
        members: Vec::new(),
        ..first.clone()
    };
    for (k, f) in files.iter().enumerate() {
        f.validate()?;
        let fields = [
            ("format version", f.format_version.to_string(), merged.format_version.to_string()),
            ("crate version", f.crate_version.clone(), merged.crate_version.clone()),
            ("architecture", f.architecture.clone(), merged.architecture.clone()),
            ("training", f.training.clone(), merged.training.clone()),
            ("master seed", f.master_seed.to_string(), merged.master_seed.to_string()),
            ("total members", f.total_members.to_string(), merged.total_members.to_string()),
        ];
        for (what, here, there) in fields {
            if here != there {
                return Err(Error::Invalid(format!(
                    "merge: file {k} belongs to another run: its {what} is `{here}`, file 0's \
                     is `{there}`"
                )));
            }
        }
    }
    let total = merged.total_members;
    let mut slots: Vec<Option<(usize, &[f64])>> = vec![None; total];
    for (k, f) in files.iter().enumerate() {
        for m in &f.members {
            if let Some((other, _)) = slots[m.index] {
                return Err(Error::Invalid(format!(
                    "merge: member {} is in file {other} and in file {k} (overlapping shards)",
                    m.index
                )));
            }
            slots[m.index] = Some((k, &m.theta));
        }
    }
    let missing: Vec<usize> = (0..total).filter(|&i| slots[i].is_none()).collect();
    if !missing.is_empty() {
        let shown: Vec<String> = missing.iter().take(10).map(|i| i.to_string()).collect();
        return Err(Error::Invalid(format!(
            "merge: {} of {total} members are in no file (a shard is missing): {}{}",
            missing.len(),
            shown.join(", "),
            if missing.len() > 10 { ", …" } else { "" }
        )));
    }
    merged.members = slots
        .into_iter()
        .enumerate()
        .map(|(index, s)| super::store::StoredMember {
            index,
            theta: s.expect("checked above").1.to_vec(),
        })
        .collect();
    merged.validate()?;
    Ok(merged)
}

/// Loads the shard files at `paths` and [`merge`]s them.
pub fn merge_files<P: AsRef<Path>>(paths: &[P]) -> Result<EnsembleFile> {
    let files = paths
        .iter()
        .map(|p| EnsembleFile::load(p.as_ref()))
        .collect::<Result<Vec<_>>>()?;
    merge(files)
}
