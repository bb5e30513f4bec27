//! Saving and loading trained members: a versioned JSON format.
//!
//! A file holds the format version, the crate version, a description of the architecture
//! (with a fingerprint of its every parameter), a description of the training recipe, the
//! master seed, the run's total number of members, and the members held (index and θ as f64,
//! ascending indices). θ is written with the shortest representation that reads back to the
//! same f64 (serde_json with `float_roundtrip`), so a save/load round trip is bit-exact.

use crate::nn::GroupNetwork;
use crate::{Error, Result, Scalar};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The version of the file format written by this crate; files with another version are
/// rejected with a clear error.
pub const FORMAT_VERSION: u32 = 1;

/// One stored member: its index in the run and its coefficients θ.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StoredMember {
    /// Member index i (its seed is `member_seed(master_seed, i)`).
    pub index: usize,
    /// The trained coefficients θ.
    pub theta: Vec<f64>,
}

/// Trained members of one run (all of them, or one shard's), as stored on disk.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EnsembleFile {
    /// [`FORMAT_VERSION`] at the time of writing.
    pub format_version: u32,
    /// The eqens version that wrote the file.
    pub crate_version: String,
    /// [`architecture_description`] of the network the members belong to.
    pub architecture: String,
    /// Description of the training recipe (initial law, augmentation, schedule, data).
    pub training: String,
    /// The run's master seed.
    pub master_seed: u64,
    /// Number of members of the whole run (a shard holds a part of them).
    pub total_members: usize,
    /// The members held, in ascending index order.
    pub members: Vec<StoredMember>,
}

/// FNV-1a, 64 bits: a stable fingerprint of a string (not cryptographic).
fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// A readable description of a network under its group — group, per-sample input shape,
/// every layer's kind and output shape, the length of θ — followed by a fingerprint of the
/// full description (parametrisations, bases, offsets, representations), so that two
/// architectures differing in any coefficient get different descriptions.
pub fn architecture_description(gnet: &GroupNetwork) -> String {
    let net = gnet.network();
    let layers: Vec<String> = net
        .layers()
        .iter()
        .map(|l| format!("{}{:?}", l.spec.kind(), l.out_shape))
        .collect();
    let full = format!("{:?}|{:?}", net, gnet.spaces());
    format!(
        "{} on {:?}: {} | θ {} | fingerprint {:016x}",
        gnet.group().name(),
        net.input_shape(),
        layers.join(" → "),
        net.num_params(),
        fnv1a(&full)
    )
}

impl EnsembleFile {
    /// A file for members of the run (`master_seed`, `total_members`) of `gnet` trained by
    /// `training` (a description, e.g. [`Recipe::describe`](super::Recipe::describe)).
    /// Errors if an index is ≥ `total_members` or repeated, or a θ has the wrong length or a
    /// non-finite entry (JSON cannot hold it; a diverged member is not a trained member).
    pub fn new<T: Scalar>(
        gnet: &GroupNetwork,
        training: String,
        master_seed: u64,
        total_members: usize,
        members: Vec<(usize, Vec<T>)>,
    ) -> Result<EnsembleFile> {
        let mut members: Vec<StoredMember> = members
            .into_iter()
            .map(|(index, theta)| StoredMember {
                index,
                theta: theta.into_iter().map(Scalar::f64).collect(),
            })
            .collect();
        members.sort_by_key(|m| m.index);
        let file = EnsembleFile {
            format_version: FORMAT_VERSION,
            crate_version: env!("CARGO_PKG_VERSION").to_string(),
            architecture: architecture_description(gnet),
            training,
            master_seed,
            total_members,
            members,
        };
        file.validate()?;
        file.check_network(gnet)?;
        Ok(file)
    }

    /// Checks the invariants of a file: this format version, member indices ascending,
    /// distinct and below `total_members`, all θ of one length with finite entries.
    pub fn validate(&self) -> Result<()> {
        if self.format_version != FORMAT_VERSION {
            return Err(Error::Data(format!(
                "ensemble file has format version {}, this eqens ({}) reads version \
                 {FORMAT_VERSION}",
                self.format_version,
                env!("CARGO_PKG_VERSION")
            )));
        }
        for pair in self.members.windows(2) {
            if pair[0].index >= pair[1].index {
                return Err(Error::Data(format!(
                    "ensemble file: member {} appears after member {} (indices must be \
                     distinct and ascending)",
                    pair[1].index, pair[0].index
                )));
            }
        }
        for m in &self.members {
            if m.index >= self.total_members {
                return Err(Error::Data(format!(
                    "ensemble file: member {} is outside the run of {} members",
                    m.index, self.total_members
                )));
            }
            if m.theta.len() != self.members[0].theta.len() {
                return Err(Error::Data(format!(
                    "ensemble file: member {} has {} coefficients, member {} has {}",
                    m.index,
                    m.theta.len(),
                    self.members[0].index,
                    self.members[0].theta.len()
                )));
            }
            if let Some(k) = m.theta.iter().position(|v| !v.is_finite()) {
                return Err(Error::Data(format!(
                    "ensemble file: θ[{k}] of member {} is not finite",
                    m.index
                )));
            }
        }
        Ok(())
    }

    /// Errors unless the members belong to `gnet`: same architecture description and θ of
    /// length `num_params`.
    pub fn check_network(&self, gnet: &GroupNetwork) -> Result<()> {
        let here = architecture_description(gnet);
        if self.architecture != here {
            return Err(Error::Invalid(format!(
                "the stored members belong to the architecture `{}`, not `{here}`",
                self.architecture
            )));
        }
        let p = gnet.network().num_params();
        if let Some(m) = self.members.iter().find(|m| m.theta.len() != p) {
            return Err(Error::Shape(format!(
                "member {} has {} coefficients but the network has {p}",
                m.index,
                m.theta.len()
            )));
        }
        Ok(())
    }

    /// The members' θ in index order.
    pub fn thetas(&self) -> Vec<Vec<f64>> {
        self.members.iter().map(|m| m.theta.clone()).collect()
    }

    /// The members' indices in order.
    pub fn indices(&self) -> Vec<usize> {
        self.members.iter().map(|m| m.index).collect()
    }

    /// The file as JSON text.
    pub fn to_json(&self) -> Result<String> {
        self.validate()?;
        serde_json::to_string(self)
            .map_err(|e| Error::Data(format!("cannot serialise the ensemble: {e}")))
    }

    /// Parses JSON text: a format version other than [`FORMAT_VERSION`] is reported as such
    /// (before any other field is read); malformed text gives its line and column.
    pub fn from_json(text: &str) -> Result<EnsembleFile> {
        let value: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| Error::Data(format!("ensemble file is not valid JSON: {e}")))?;
        match value.get("format_version").and_then(serde_json::Value::as_u64) {
            Some(v) if v == FORMAT_VERSION as u64 => {}
            Some(v) => {
                return Err(Error::Data(format!(
                    "ensemble file has format version {v}, this eqens ({}) reads version \
                     {FORMAT_VERSION}",
                    env!("CARGO_PKG_VERSION")
                )))
            }
            None => {
                return Err(Error::Data(
                    "ensemble file has no numeric `format_version` field".into(),
                ))
            }
        }
        let file: EnsembleFile = serde_json::from_value(value)
            .map_err(|e| Error::Data(format!("ensemble file is malformed: {e}")))?;
        file.validate()?;
        Ok(file)
    }

    /// Writes the file as JSON to `path`.
    pub fn save(&self, path: &Path) -> Result<()> {
        let text = self.to_json()?;
        std::fs::write(path, text)
            .map_err(|e| Error::Io(format!("cannot write {}: {e}", path.display())))
    }

    /// Reads a file written by [`EnsembleFile::save`]; errors name the path.
    pub fn load(path: &Path) -> Result<EnsembleFile> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::Io(format!("cannot read {}: {e}", path.display())))?;
        EnsembleFile::from_json(&text).map_err(|e| match e {
            Error::Data(m) => Error::Data(format!("{}: {m}", path.display())),
            other => other,
        })
    }
}
