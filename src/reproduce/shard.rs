//! Shards of `eqens reproduce`: `--shard i/n` ([`Shard`]) trains members slice i of every arm
//! and writes their θ at every epoch to one `.eqshard` file; `--merge` reads the union and
//! evaluates it. (The ensemble module's JSON store keeps final θ only; the experiment needs θ
//! after every epoch, hence this compact binary format.)
//!
//! File layout (little-endian):
//!
//! ```text
//! magic "EQENSHRD" (8 bytes) · format u32
//! for each arm (header order), for each epoch e = 0..=E:
//!     if e ≥ 1: the members' losses of epoch e      [count] f64
//!     the members' θ after epoch e (θ_0 at e = 0)    [count, P] scalar (f32 or f64)
//! header JSON ([`ShardHeader`]) · header length u64
//! ```
//!
//! The layout is epoch-major so that writing and merging hold one epoch of θ at a time. A
//! diverged member's θ and losses after its divergence are written but never read.

pub use crate::ensemble::Shard;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// First bytes of every shard file.
pub const SHARD_MAGIC: &[u8; 8] = b"EQENSHRD";
/// Version of the shard file layout this eqens writes and reads.
pub const SHARD_FORMAT: u32 = 1;
/// File extension of shard files.
pub const SHARD_EXT: &str = "eqshard";

/// Bytes before the first arm section: magic and format.
const PREAMBLE: u64 = 12;

/// The file name of shard `shard`: `shard-i-of-n.eqshard`.
pub fn shard_file_name(shard: &Shard) -> String {
    format!("shard-{}-of-{}.{SHARD_EXT}", shard.index, shard.count)
}

/// Everything that determines the trained θ: shards merge only if these agree.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingKey {
    /// Members per arm.
    pub members: usize,
    /// Epochs E.
    pub epochs: usize,
    /// Learning rate.
    pub lr: f64,
    /// Batch size.
    pub batch: usize,
    /// Master seed.
    pub seed: u64,
    /// Training scalar, `f32` or `f64`.
    pub scalar: String,
    /// Arm specs (`name=support:init`), in order.
    pub arms: Vec<String>,
    /// Training data (`digits`, `mnist`, with any training-set limit).
    #[serde(default)]
    pub data: String,
    /// The grid group of the augmentation and of symmetric inits (`c2`, `c4`, `d4`).
    #[serde(default)]
    pub group: String,
}

impl TrainingKey {
    /// The first field in which `self` and `other` differ, as `name: a vs b`.
    pub fn difference(&self, other: &TrainingKey) -> Option<String> {
        let d = |name: &str, a: String, b: String| (a != b).then(|| format!("{name}: {a} vs {b}"));
        d(
            "members",
            self.members.to_string(),
            other.members.to_string(),
        )
        .or_else(|| d("epochs", self.epochs.to_string(), other.epochs.to_string()))
        .or_else(|| d("lr", self.lr.to_string(), other.lr.to_string()))
        .or_else(|| d("batch", self.batch.to_string(), other.batch.to_string()))
        .or_else(|| d("seed", self.seed.to_string(), other.seed.to_string()))
        .or_else(|| d("scalar", self.scalar.clone(), other.scalar.clone()))
        .or_else(|| d("arms", self.arms.join(","), other.arms.join(",")))
        .or_else(|| d("data", self.data.clone(), other.data.clone()))
        .or_else(|| d("group", self.group.clone(), other.group.clone()))
    }

    fn scalar_bytes(&self) -> Result<u64> {
        match self.scalar.as_str() {
            "f32" => Ok(4),
            "f64" => Ok(8),
            s => Err(Error::Data(format!("unknown scalar `{s}`"))),
        }
    }
}

/// The members of one arm in a shard, with the training divergences among them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArmSection {
    /// Arm name.
    pub name: String,
    /// Length P of θ.
    pub num_params: usize,
    /// First member index (inclusive).
    pub start: usize,
    /// Last member index (exclusive).
    pub end: usize,
    /// (member, epoch, message) of every member whose training diverged in that epoch.
    pub diverged: Vec<(usize, usize, String)>,
}

impl ArmSection {
    fn count(&self) -> u64 {
        (self.end - self.start) as u64
    }
}

/// The header of a shard file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShardHeader {
    /// [`SHARD_FORMAT`] of the writer.
    pub format: u32,
    /// eqens version of the writer.
    pub version: String,
    /// The training configuration.
    pub training: TrainingKey,
    /// The slice, `i/n`.
    pub shard: String,
    /// One section per arm, in `training.arms` order.
    pub arms: Vec<ArmSection>,
}

fn io_err(path: &Path, e: impl fmt::Display) -> Error {
    Error::Io(format!("{}: {e}", path.display()))
}

/// Bytes of epoch `epoch`'s block of a section (losses for e ≥ 1, then θ).
fn epoch_bytes(section: &ArmSection, epoch: usize, scalar: u64) -> u64 {
    let losses = if epoch == 0 { 0 } else { 8 * section.count() };
    losses + section.count() * section.num_params as u64 * scalar
}

fn section_bytes(section: &ArmSection, epochs: usize, scalar: u64) -> u64 {
    (0..=epochs).map(|e| epoch_bytes(section, e, scalar)).sum()
}

/// Streams a shard file: call [`ShardWriter::epoch`] for every arm and epoch in order, then
/// [`ShardWriter::finish`] with the header.
pub(crate) struct ShardWriter {
    path: PathBuf,
    out: BufWriter<File>,
}

impl ShardWriter {
    /// Creates `path` and writes the preamble.
    pub fn create(path: &Path) -> Result<ShardWriter> {
        let file = File::create(path).map_err(|e| io_err(path, e))?;
        let mut w = ShardWriter {
            path: path.to_path_buf(),
            out: BufWriter::new(file),
        };
        w.write(SHARD_MAGIC)?;
        w.write(&SHARD_FORMAT.to_le_bytes())?;
        Ok(w)
    }

    fn write(&mut self, bytes: &[u8]) -> Result<()> {
        self.out.write_all(bytes).map_err(|e| io_err(&self.path, e))
    }

    /// Writes one epoch block: the losses (none at epoch 0) and every member's θ.
    pub fn epoch<'a, T: crate::Scalar>(
        &mut self,
        losses: Option<&[f64]>,
        thetas: impl Iterator<Item = &'a [T]>,
    ) -> Result<()> {
        let mut buf = Vec::new();
        for &l in losses.unwrap_or(&[]) {
            buf.extend_from_slice(&l.to_le_bytes());
        }
        for theta in thetas {
            for &v in theta {
                if std::mem::size_of::<T>() == 4 {
                    buf.extend_from_slice(&(v.f64() as f32).to_le_bytes());
                } else {
                    buf.extend_from_slice(&v.f64().to_le_bytes());
                }
            }
        }
        self.write(&buf)
    }

    /// Appends the header and its length, and flushes.
    pub fn finish(mut self, header: &ShardHeader) -> Result<PathBuf> {
        let json = serde_json::to_vec(header).expect("a shard header is JSON-representable");
        self.write(&json)?;
        self.write(&(json.len() as u64).to_le_bytes())?;
        self.out.flush().map_err(|e| io_err(&self.path, e))?;
        Ok(self.path)
    }
}

/// An opened, validated shard file.
#[derive(Debug, Clone)]
pub(crate) struct ShardFile {
    /// Where it is.
    pub path: PathBuf,
    /// Its header.
    pub header: ShardHeader,
    scalar: u64,
}

impl ShardFile {
    /// Opens `path`, checks magic, format version and size, and parses the header.
    pub fn open(path: &Path) -> Result<ShardFile> {
        let data_err = |m: String| Error::Data(format!("{}: {m}", path.display()));
        let mut file = File::open(path).map_err(|e| io_err(path, e))?;
        let size = file.metadata().map_err(|e| io_err(path, e))?.len();
        if size < PREAMBLE + 8 {
            return Err(data_err(format!(
                "{size} bytes is too short for a shard file"
            )));
        }
        let mut pre = [0u8; PREAMBLE as usize];
        file.read_exact(&mut pre).map_err(|e| io_err(path, e))?;
        if &pre[..8] != SHARD_MAGIC {
            return Err(data_err("not an eqens shard file (bad magic)".into()));
        }
        let format = u32::from_le_bytes(pre[8..12].try_into().expect("4 bytes"));
        if format != SHARD_FORMAT {
            return Err(data_err(format!(
                "shard format {format}, this eqens reads format {SHARD_FORMAT}"
            )));
        }
        let mut len = [0u8; 8];
        file.seek(SeekFrom::Start(size - 8))
            .and_then(|_| file.read_exact(&mut len))
            .map_err(|e| io_err(path, e))?;
        let header_len = u64::from_le_bytes(len);
        if header_len > size - PREAMBLE - 8 {
            return Err(data_err(format!(
                "header length {header_len} does not fit in {size} bytes (truncated?)"
            )));
        }
        let mut json = vec![0u8; header_len as usize];
        file.seek(SeekFrom::Start(size - 8 - header_len))
            .and_then(|_| file.read_exact(&mut json))
            .map_err(|e| io_err(path, e))?;
        let header: ShardHeader =
            serde_json::from_slice(&json).map_err(|e| data_err(format!("header: {e}")))?;
        if header.format != SHARD_FORMAT {
            return Err(data_err(format!(
                "header says format {}, preamble {SHARD_FORMAT}",
                header.format
            )));
        }
        let scalar = header
            .training
            .scalar_bytes()
            .map_err(|e| data_err(e.to_string()))?;
        let names: Vec<&str> = header.arms.iter().map(|a| a.name.as_str()).collect();
        if names != header.training.arms {
            return Err(data_err(format!(
                "sections {names:?} do not match the arms {:?}",
                header.training.arms
            )));
        }
        for a in &header.arms {
            if a.start > a.end || a.end > header.training.members {
                return Err(data_err(format!(
                    "arm `{}`: member range {}..{} is not within 0..{}",
                    a.name, a.start, a.end, header.training.members
                )));
            }
        }
        let body: u64 = header
            .arms
            .iter()
            .map(|a| section_bytes(a, header.training.epochs, scalar))
            .sum();
        if PREAMBLE + body + header_len + 8 != size {
            return Err(data_err(format!(
                "{size} bytes, but the header describes {} (truncated or corrupt)",
                PREAMBLE + body + header_len + 8
            )));
        }
        Ok(ShardFile {
            path: path.to_path_buf(),
            header,
            scalar,
        })
    }

    /// Reads arm `arm`'s block of epoch `epoch`: the members' losses (left untouched at
    /// epoch 0) and θ, `[count, P]`, converted to `T`.
    pub fn read_epoch<T: crate::Scalar>(
        &self,
        arm: usize,
        epoch: usize,
        losses: &mut [f64],
        thetas: &mut [T],
    ) -> Result<()> {
        let sections = &self.header.arms;
        let epochs = self.header.training.epochs;
        let offset = PREAMBLE
            + sections[..arm]
                .iter()
                .map(|a| section_bytes(a, epochs, self.scalar))
                .sum::<u64>()
            + (0..epoch)
                .map(|e| epoch_bytes(&sections[arm], e, self.scalar))
                .sum::<u64>();
        let mut bytes = vec![0u8; epoch_bytes(&sections[arm], epoch, self.scalar) as usize];
        let mut file = BufReader::new(File::open(&self.path).map_err(|e| io_err(&self.path, e))?);
        file.seek(SeekFrom::Start(offset))
            .and_then(|_| file.read_exact(&mut bytes))
            .map_err(|e| io_err(&self.path, e))?;
        let count = sections[arm].count() as usize;
        let mut rest = &bytes[..];
        if epoch > 0 {
            let (head, tail) = rest.split_at(8 * count);
            for (l, b) in losses.iter_mut().zip(head.chunks_exact(8)) {
                *l = f64::from_le_bytes(b.try_into().expect("8 bytes"));
            }
            rest = tail;
        }
        for (t, b) in thetas
            .iter_mut()
            .zip(rest.chunks_exact(self.scalar as usize))
        {
            *t = if self.scalar == 4 {
                T::of(f32::from_le_bytes(b.try_into().expect("4 bytes")) as f64)
            } else {
                T::of(f64::from_le_bytes(b.try_into().expect("8 bytes")))
            };
        }
        Ok(())
    }
}

/// Opens every `.eqshard` file named in `paths` (a directory contributes all its shard
/// files, in name order), checks that each was trained with `key`, and that their member
/// ranges cover 0..members of every arm exactly once. Returns them ordered by first member.
pub(crate) fn open_shards(paths: &[PathBuf], key: &TrainingKey) -> Result<Vec<ShardFile>> {
    let mut files = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(p)
                .map_err(|e| io_err(p, e))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| f.extension().is_some_and(|x| x == SHARD_EXT))
                .collect();
            if found.is_empty() {
                return Err(Error::Invalid(format!(
                    "{}: no .{SHARD_EXT} files in this directory",
                    p.display()
                )));
            }
            found.sort();
            files.extend(found);
        } else {
            files.push(p.clone());
        }
    }
    if files.is_empty() {
        return Err(Error::Invalid("merge: no shard directories given".into()));
    }
    let mut shards = files
        .iter()
        .map(|f| ShardFile::open(f))
        .collect::<Result<Vec<_>>>()?;
    for s in &shards {
        if let Some(diff) = s.header.training.difference(key) {
            return Err(Error::Invalid(format!(
                "{} was trained with a different configuration than the merge asks for ({diff})",
                s.path.display()
            )));
        }
        let (first, rest) = s.header.arms.split_first().expect("key has ≥ 1 arm");
        if let Some(a) = rest
            .iter()
            .find(|a| (a.start, a.end) != (first.start, first.end))
        {
            return Err(Error::Data(format!(
                "{}: arm `{}` holds members {}..{} but arm `{}` holds {}..{}",
                s.path.display(),
                a.name,
                a.start,
                a.end,
                first.name,
                first.start,
                first.end
            )));
        }
    }
    let range = |s: &ShardFile| (s.header.arms[0].start, s.header.arms[0].end);
    shards.sort_by_key(range);
    let mut next = 0;
    for (i, s) in shards.iter().enumerate() {
        let (start, end) = range(s);
        if start < next {
            return Err(Error::Invalid(format!(
                "members {start}..{} appear twice: in {} and in {}",
                next.min(end),
                shards[i - 1].path.display(),
                s.path.display()
            )));
        }
        if start > next {
            return Err(Error::Invalid(format!(
                "members {next}..{start} are missing from the shards"
            )));
        }
        next = end;
    }
    if next != key.members {
        return Err(Error::Invalid(format!(
            "members {next}..{} are missing from the shards",
            key.members
        )));
    }
    Ok(shards)
}
