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
//! header JSON ([`ShardHeader`]) · header length u64 · CRC-32 of the header JSON u32
//! ```
//!
//! The layout is epoch-major so that writing and merging hold one epoch of θ at a time. A
//! diverged member's θ and losses after its divergence are written but never read.
//!
//! **Integrity.** The header holds the CRC-32 of everything before it (preamble and body)
//! and the trailer the CRC-32 of the header, so any changed byte — of θ, of a loss, of the
//! divergence list or the version — is found before merging: [`ShardFile::open`] refuses the
//! file, naming it and the part that differs. CRC-32 detects every burst error up to 32 bits
//! and all but 2⁻³² of the others; it guards against corruption, not forgery.
//!
//! **Configuration.** The header carries the whole [`ReproduceConfig`] (serialised), so a
//! merge takes its training settings from the shards and refuses shards that disagree on any
//! field but those in [`RUN_LOCAL_FIELDS`].

use super::experiment::{ReproduceConfig, ScalarKind};
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
pub const SHARD_FORMAT: u32 = 2;
/// File extension of shard files.
pub const SHARD_EXT: &str = "eqshard";

/// Bytes before the first arm section: magic and format.
const PREAMBLE: u64 = 12;
/// Bytes after the header: its length (u64) and its CRC-32 (u32).
const TRAILER: u64 = 12;

/// The file name of shard `shard`: `shard-i-of-n.eqshard`.
pub fn shard_file_name(shard: &Shard) -> String {
    format!("shard-{}-of-{}.{SHARD_EXT}", shard.index, shard.count)
}

/// Configuration fields that may differ between the shards of one run (they do not touch
/// θ): the worker threads.
pub const RUN_LOCAL_FIELDS: [&str; 1] = ["threads"];

/// Configuration fields that a merge may set differently from the shards (evaluation only):
/// [`RUN_LOCAL_FIELDS`], ensemble sizes, bootstrap resamples, the OOD set and its size,
/// the evaluated epochs (a shard stores θ at every epoch).
pub const EVAL_FIELDS: [&str; 6] = ["threads", "sizes", "resamples", "ood", "ood_len", "eval_at"];

/// The first field, outside `ignore`, in which the serialised configurations `a` and `b`
/// differ, as `name: a vs b`. Works on the serialised form, so fields added to
/// [`ReproduceConfig`] are compared without changes here.
pub fn config_difference(
    a: &ReproduceConfig,
    b: &ReproduceConfig,
    ignore: &[&str],
) -> Option<String> {
    let map = |c: &ReproduceConfig| match serde_json::to_value(c) {
        Ok(serde_json::Value::Object(m)) => m,
        _ => serde_json::Map::new(),
    };
    let (ma, mb) = (map(a), map(b));
    let mut keys: Vec<&String> = ma.keys().chain(mb.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| !ignore.contains(&k.as_str()))
        .find_map(|k| {
            let (va, vb) = (ma.get(k), mb.get(k));
            (va != vb).then(|| {
                let show = |v: Option<&serde_json::Value>| {
                    v.map_or_else(|| "(absent)".to_string(), |v| v.to_string())
                };
                format!("{k}: {} vs {}", show(va), show(vb))
            })
        })
}

fn scalar_bytes(cfg: &ReproduceConfig) -> u64 {
    match cfg.scalar {
        ScalarKind::F32 => 4,
        ScalarKind::F64 => 8,
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
    /// The whole configuration of the run (`out_dir` and `shard` are not serialised).
    pub config: ReproduceConfig,
    /// The slice, `i/n`.
    pub shard: String,
    /// One section per arm, in `config.arms` order.
    pub arms: Vec<ArmSection>,
    /// Wall-clock time of the shard's run, seconds.
    pub run_secs: f64,
    /// CRC-32 of the preamble and body (every byte before the header).
    pub body_crc32: u32,
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
pub(crate) struct ShardWriter<'w> {
    path: PathBuf,
    out: &'w mut BufWriter<File>,
    crc: flate2::Crc,
}

impl<'w> ShardWriter<'w> {
    /// Writes the preamble to `out`, the temporary file of `path` (named in errors).
    pub fn create(path: &Path, out: &'w mut BufWriter<File>) -> Result<ShardWriter<'w>> {
        let mut w = ShardWriter {
            path: path.to_path_buf(),
            out,
            crc: flate2::Crc::new(),
        };
        w.write(SHARD_MAGIC)?;
        w.write(&SHARD_FORMAT.to_le_bytes())?;
        Ok(w)
    }

    fn write(&mut self, bytes: &[u8]) -> Result<()> {
        self.crc.update(bytes);
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

    /// Appends the header (with the body's CRC-32 filled in), its length and its CRC-32.
    pub fn finish(mut self, mut header: ShardHeader) -> Result<()> {
        header.body_crc32 = self.crc.sum();
        let json = serde_json::to_vec(&header).expect("a shard header is JSON-representable");
        let mut crc = flate2::Crc::new();
        crc.update(&json);
        self.write(&json)?;
        self.write(&(json.len() as u64).to_le_bytes())?;
        self.write(&crc.sum().to_le_bytes())
    }
}

/// An opened, validated shard file.
#[derive(Debug, Clone)]
pub struct ShardFile {
    /// Where it is.
    pub path: PathBuf,
    /// Its header.
    pub header: ShardHeader,
    scalar: u64,
}

impl ShardFile {
    /// Opens `path` and verifies it completely before anything is read from it: magic,
    /// format, size, the CRC-32 of the header and of the body, and that it was written by
    /// this eqens version. Every failure is an [`Error::Data`] naming the file and what
    /// differs.
    pub fn open(path: &Path) -> Result<ShardFile> {
        let data_err = |m: String| Error::Data(format!("{}: {m}", path.display()));
        let mut file = File::open(path).map_err(|e| io_err(path, e))?;
        let size = file.metadata().map_err(|e| io_err(path, e))?.len();
        if size < PREAMBLE + TRAILER {
            return Err(data_err(format!(
                "{size} bytes is too short for a shard file"
            )));
        }
        check_preamble(&mut file, path)?;
        let (header, body_end) = read_header(&mut file, path, size)?;
        check_header(&header).map_err(data_err)?;
        let scalar = scalar_bytes(&header.config);
        if body_len(&header, scalar).map(|b| PREAMBLE + b) != Some(body_end) {
            return Err(data_err(format!(
                "{size} bytes, but the header describes another size (truncated or corrupt)"
            )));
        }
        let crc = body_crc(&mut file, path, body_end)?;
        if crc != header.body_crc32 {
            return Err(data_err(format!(
                "body checksum mismatch (stored {:08x}, computed {crc:08x}): the θ or losses \
                 were modified or corrupted",
                header.body_crc32,
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
        let epochs = self.header.config.epochs;
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

/// Reads the preamble: the magic and the format this eqens reads.
fn check_preamble(file: &mut File, path: &Path) -> Result<()> {
    let data_err = |m: String| Error::Data(format!("{}: {m}", path.display()));
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
    Ok(())
}

/// Reads the trailer (header length and checksum) and the JSON header before it, checks
/// the header's checksum and parses it; returns it with the offset where the body ends.
fn read_header(file: &mut File, path: &Path, size: u64) -> Result<(ShardHeader, u64)> {
    let data_err = |m: String| Error::Data(format!("{}: {m}", path.display()));
    let mut trailer = [0u8; TRAILER as usize];
    file.seek(SeekFrom::Start(size - TRAILER))
        .and_then(|_| file.read_exact(&mut trailer))
        .map_err(|e| io_err(path, e))?;
    let header_len = u64::from_le_bytes(trailer[..8].try_into().expect("8 bytes"));
    let header_crc = u32::from_le_bytes(trailer[8..].try_into().expect("4 bytes"));
    if header_len > size - PREAMBLE - TRAILER {
        return Err(data_err(format!(
            "header length {header_len} does not fit in {size} bytes (truncated?)"
        )));
    }
    let body_end = size - TRAILER - header_len;
    let mut json = vec![0u8; header_len as usize];
    file.seek(SeekFrom::Start(body_end))
        .and_then(|_| file.read_exact(&mut json))
        .map_err(|e| io_err(path, e))?;
    let mut crc = flate2::Crc::new();
    crc.update(&json);
    if crc.sum() != header_crc {
        return Err(data_err(format!(
            "header checksum mismatch (stored {header_crc:08x}, computed {:08x}): the \
             header (configuration, member ranges, divergences or version) was modified \
             or corrupted",
            crc.sum()
        )));
    }
    let header: ShardHeader =
        serde_json::from_slice(&json).map_err(|e| data_err(format!("header: {e}")))?;
    Ok((header, body_end))
}

/// The header's own consistency: format, version, arm sections matching the configured
/// arms, member ranges, and a valid configuration (the message, without the path).
fn check_header(header: &ShardHeader) -> std::result::Result<(), String> {
    if header.format != SHARD_FORMAT {
        return Err(format!(
            "header says format {}, preamble {SHARD_FORMAT}",
            header.format
        ));
    }
    let version = env!("CARGO_PKG_VERSION");
    if header.version != version {
        return Err(format!(
            "written by eqens {}, this is eqens {version} (θ may differ between versions: \
             retrain the shard)",
            header.version
        ));
    }
    let names: Vec<&str> = header.arms.iter().map(|a| a.name.as_str()).collect();
    let specs: Vec<String> = header.config.arms.iter().map(|a| a.spec()).collect();
    let arms: Vec<&str> = specs.iter().map(String::as_str).collect();
    if names != arms {
        return Err(format!("sections {names:?} do not match the arms {arms:?}"));
    }
    for a in &header.arms {
        if a.start > a.end || a.end > header.config.members {
            return Err(format!(
                "arm `{}`: member range {}..{} is not within 0..{}",
                a.name, a.start, a.end, header.config.members
            ));
        }
    }
    header
        .config
        .validate()
        .map_err(|e| format!("header configuration: {e}"))
}

/// The body length the header describes: per arm, 8·n·E bytes of losses and
/// (E + 1)·n·P·scalar of θ (`None` if it does not fit in u64).
fn body_len(header: &ShardHeader, scalar: u64) -> Option<u64> {
    let body = header
        .arms
        .iter()
        .map(|a| {
            let (n, e) = ((a.end - a.start) as u128, header.config.epochs as u128);
            let theta = [e + 1, n, a.num_params as u128, scalar as u128]
                .iter()
                .fold(1u128, |acc, &x| acc.saturating_mul(x));
            theta.saturating_add(8u128.saturating_mul(n).saturating_mul(e))
        })
        .fold(0u128, |acc, x| acc.saturating_add(x));
    u64::try_from(body).ok()
}

/// CRC-32 of the file's first `body_end` bytes (preamble and body), read in 1 MiB blocks.
fn body_crc(file: &mut File, path: &Path, body_end: u64) -> Result<u32> {
    let mut crc = flate2::Crc::new();
    let mut reader = BufReader::new(file);
    reader
        .seek(SeekFrom::Start(0))
        .map_err(|e| io_err(path, e))?;
    let mut left = body_end;
    let mut buf = vec![0u8; 1 << 20];
    while left > 0 {
        let n = left.min(buf.len() as u64) as usize;
        reader
            .read_exact(&mut buf[..n])
            .map_err(|e| io_err(path, e))?;
        crc.update(&buf[..n]);
        left -= n as u64;
    }
    Ok(crc.sum())
}

/// Opens and verifies ([`ShardFile::open`]) every `.eqshard` file named in `paths` (a
/// directory contributes all its shard files, in name order), checks that they were trained
/// with the same configuration (up to [`RUN_LOCAL_FIELDS`]) and that their member ranges
/// cover 0..members of every arm exactly once. Returns them ordered by first member.
pub(crate) fn open_shards(paths: &[PathBuf]) -> Result<Vec<ShardFile>> {
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
    let first_cfg = shards[0].header.config.clone();
    for s in &shards {
        if let Some(diff) = config_difference(&s.header.config, &first_cfg, &RUN_LOCAL_FIELDS) {
            return Err(Error::Invalid(format!(
                "{} and {} belong to different runs ({diff})",
                s.path.display(),
                shards[0].path.display()
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
    if next != first_cfg.members {
        return Err(Error::Invalid(format!(
            "members {next}..{} are missing from the shards",
            first_cfg.members
        )));
    }
    Ok(shards)
}
