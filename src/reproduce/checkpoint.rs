//! Checkpoints of an unsplit `eqens reproduce` run, and `--resume`.
//!
//! After an evaluated epoch of an arm (at most every [`CHECKPOINT_INTERVAL_SECS`]) and after
//! every arm, the run writes `NAME.eqckpt` beside its report
//! folder `NAME` (atomically: temporary file, `fsync`, rename). It holds the configuration,
//! the finished arms' results, and for the arm in progress its evaluations so far, its
//! divergences and every member's state: θ (exactly, as f64), whether it is still in the
//! ensemble, and the position of its ChaCha8 stream. Training from that state repeats the
//! uninterrupted run's arithmetic exactly, so a resumed run gives the same bits. The file is
//! removed once the report is in place.
//!
//! File: the checkpoint's JSON, a newline, and `crc32 XXXXXXXX` (CRC-32 of the JSON, hex).

use super::experiment::ReproduceConfig;
use super::output::write_file_atomic;
use super::results::{ArmResult, EpochEval};
use super::shard::{config_difference, RUN_LOCAL_FIELDS};
use crate::{Error, Result, Scalar};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Version of the checkpoint layout.
pub const CHECKPOINT_FORMAT: u32 = 1;
/// Extension of checkpoint files.
pub const CHECKPOINT_EXT: &str = "eqckpt";
/// Test hook: after this many checkpoints written by one process, the process exits at once
/// with [`STOP_EXIT_CODE`] (as if killed), leaving the last checkpoint behind.
pub const STOP_ENV: &str = "EQENS_TEST_STOP_AFTER_CHECKPOINTS";
/// Exit code of a run stopped by [`STOP_ENV`].
pub const STOP_EXIT_CODE: i32 = 86;
/// Seconds between checkpoints within an arm (the end of every arm is always
/// checkpointed): an interrupted run loses at most this much training, and the default run
/// (≈ 30 MB of θ per checkpoint) spends well under 1 % of its time writing them.
pub const CHECKPOINT_INTERVAL_SECS: f64 = 60.0;
/// Overrides [`CHECKPOINT_INTERVAL_SECS`] (seconds; `0`: after every epoch, as tests do).
pub const INTERVAL_ENV: &str = "EQENS_CHECKPOINT_SECS";

/// One member of the arm in progress.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemberState {
    /// Member index.
    pub index: usize,
    /// Still in the ensemble (not diverged).
    pub alive: bool,
    /// Word position of the member's ChaCha8 stream (decimal; u128).
    pub rng_word_pos: String,
    /// max|θ_0|, the reference of the explosion bound.
    pub theta0_max: f64,
    /// θ after the checkpoint's epoch: the little-endian bytes of its entries in the
    /// training scalar, in hex ([`encode_theta`]; exact); empty if not alive.
    pub theta: String,
}

/// The arm in progress: trained and evaluated up to `epoch`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArmState {
    /// Position of the arm in the configuration's arms.
    pub arm: usize,
    /// Last epoch trained and evaluated.
    pub epoch: usize,
    /// Members left out so far: (member, message).
    pub diverged: Vec<(usize, String)>,
    /// Evaluations of epochs 0..=epoch.
    pub epochs: Vec<EpochEval>,
    /// Every member of the arm, in index order.
    pub members: Vec<MemberState>,
}

/// The state of an interrupted run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// [`CHECKPOINT_FORMAT`] of the writer.
    pub format: u32,
    /// eqens version of the writer.
    pub version: String,
    /// The run's configuration.
    pub config: ReproduceConfig,
    /// Wall-clock seconds spent by the sessions so far.
    pub elapsed_secs: f64,
    /// Results of the arms finished, in order.
    pub done: Vec<ArmResult>,
    /// The arm in progress, if one has an evaluated epoch.
    pub current: Option<ArmState>,
}

/// θ as hex of the little-endian bytes of its entries in `T` (exact, and without the cost
/// of decimal formatting).
pub fn encode_theta<T: Scalar>(theta: &[T]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = Vec::with_capacity(theta.len() * 2 * std::mem::size_of::<T>());
    let mut push = |bytes: &[u8]| {
        for b in bytes {
            out.push(HEX[(b >> 4) as usize]);
            out.push(HEX[(b & 15) as usize]);
        }
    };
    for v in theta {
        if std::mem::size_of::<T>() == 4 {
            push(&(v.f64() as f32).to_le_bytes());
        } else {
            push(&v.f64().to_le_bytes());
        }
    }
    String::from_utf8(out).expect("hex digits are ASCII")
}

/// Inverse of [`encode_theta`]; `None` unless `hex` encodes exactly `len` entries.
pub fn decode_theta<T: Scalar>(hex: &str, len: usize) -> Option<Vec<T>> {
    let width = std::mem::size_of::<T>();
    let bytes = hex.as_bytes();
    if bytes.len() != len * 2 * width {
        return None;
    }
    let nibble = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let raw: Option<Vec<u8>> = bytes
        .chunks_exact(2)
        .map(|p| Some(nibble(p[0])? << 4 | nibble(p[1])?))
        .collect();
    let raw = raw?;
    Some(
        raw.chunks_exact(width)
            .map(|b| {
                if width == 4 {
                    T::of(f32::from_le_bytes(b.try_into().expect("4 bytes")) as f64)
                } else {
                    T::of(f64::from_le_bytes(b.try_into().expect("8 bytes")))
                }
            })
            .collect(),
    )
}

/// The checkpoint file of the report folder `out`: `out` with extension `.eqckpt` added.
pub fn checkpoint_path(out: &Path) -> PathBuf {
    let mut name = out
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_else(|| "report".into());
    name.push(format!(".{CHECKPOINT_EXT}"));
    out.with_file_name(name)
}

impl Checkpoint {
    /// Reads and verifies `path`: its CRC-32, format and version, and that it belongs to a
    /// run of `cfg` (up to the thread count). Errors name the file and what differs.
    pub fn load(path: &Path, cfg: &ReproduceConfig) -> Result<Checkpoint> {
        let bad = |m: String| Error::Data(format!("{}: {m}", path.display()));
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::Io(format!("{}: {e}", path.display())))?;
        let (json, crc_line) = text
            .rsplit_once('\n')
            .ok_or_else(|| bad("not a checkpoint file (no checksum line)".into()))?;
        let stored = crc_line
            .strip_prefix("crc32 ")
            .and_then(|h| u32::from_str_radix(h.trim(), 16).ok())
            .ok_or_else(|| bad("not a checkpoint file (bad checksum line)".into()))?;
        let mut crc = flate2::Crc::new();
        crc.update(json.as_bytes());
        if crc.sum() != stored {
            return Err(bad(format!(
                "checksum mismatch (stored {stored:08x}, computed {:08x}): corrupted",
                crc.sum()
            )));
        }
        let ck: Checkpoint = serde_json::from_str(json).map_err(|e| bad(e.to_string()))?;
        let version = env!("CARGO_PKG_VERSION");
        if ck.format != CHECKPOINT_FORMAT || ck.version != version {
            return Err(bad(format!(
                "written by eqens {} (format {}), this is eqens {version} (format \
                 {CHECKPOINT_FORMAT}): start over with --force",
                ck.version, ck.format
            )));
        }
        if let Some(diff) = config_difference(&ck.config, cfg, &RUN_LOCAL_FIELDS) {
            return Err(Error::Invalid(format!(
                "{} belongs to a run with another configuration ({diff}); resume with the \
                 same flags, or start over with --force",
                path.display()
            )));
        }
        if ck.done.len() + usize::from(ck.current.is_some()) > cfg.arms.len()
            || ck.current.as_ref().is_some_and(|c| {
                c.arm != ck.done.len() || c.epoch > cfg.epochs || c.members.len() != cfg.members
            })
        {
            return Err(bad("inconsistent progress".into()));
        }
        Ok(ck)
    }
}

/// Writes the checkpoints of one run.
pub(crate) struct Checkpointer {
    path: PathBuf,
    config: ReproduceConfig,
    base_secs: f64,
    start: Instant,
    written: usize,
    stop_after: Option<usize>,
    interval: f64,
    last: Instant,
    /// Results of the arms finished.
    pub done: Vec<ArmResult>,
}

impl Checkpointer {
    /// A checkpointer for the report folder of `cfg`, continuing `resumed` if given.
    pub fn new(cfg: &ReproduceConfig, resumed: Option<&Checkpoint>) -> Checkpointer {
        Checkpointer {
            path: checkpoint_path(&cfg.out_dir),
            config: cfg.clone(),
            base_secs: resumed.map_or(0.0, |c| c.elapsed_secs),
            start: Instant::now(),
            written: 0,
            stop_after: std::env::var(STOP_ENV).ok().and_then(|v| v.parse().ok()),
            interval: std::env::var(INTERVAL_ENV)
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(CHECKPOINT_INTERVAL_SECS),
            last: Instant::now(),
            done: resumed.map_or_else(Vec::new, |c| c.done.clone()),
        }
    }

    /// Seconds of all sessions so far.
    pub fn elapsed_secs(&self) -> f64 {
        self.base_secs + self.start.elapsed().as_secs_f64()
    }

    /// Whether a checkpoint within an arm is due (the interval has passed since the last).
    pub fn due(&self) -> bool {
        self.last.elapsed().as_secs_f64() >= self.interval
    }

    /// Writes the checkpoint with the arm in progress `current` (atomically).
    pub fn save(&mut self, current: Option<ArmState>) -> Result<()> {
        let ck = Checkpoint {
            format: CHECKPOINT_FORMAT,
            version: env!("CARGO_PKG_VERSION").into(),
            config: self.config.clone(),
            elapsed_secs: self.elapsed_secs(),
            done: self.done.clone(),
            current,
        };
        let json = serde_json::to_string(&ck).expect("a checkpoint is JSON-representable");
        let mut crc = flate2::Crc::new();
        crc.update(json.as_bytes());
        let path = self.path.clone();
        write_file_atomic(&self.path, |w| {
            write!(w, "{json}\ncrc32 {:08x}", crc.sum())
                .map_err(|e| Error::Io(format!("{}: {e}", path.display())))
        })?;
        self.written += 1;
        self.last = Instant::now();
        if self.stop_after == Some(self.written) {
            std::process::exit(STOP_EXIT_CODE);
        }
        Ok(())
    }

    /// Removes the checkpoint (the report is in place).
    pub fn remove(&self) -> Result<()> {
        match std::fs::remove_file(&self.path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(Error::Io(format!("{}: {e}", self.path.display())))
            }
            _ => Ok(()),
        }
    }
}
