//! Safe output of `eqens reproduce`: the output path is checked before any work, every file
//! is written beside its destination and renamed into place after `fsync`, and a report
//! folder is replaced as a whole, so a kill or a full disk leaves either the old complete
//! output or the new complete one — never a truncated or mixed one.
//!
//! - [`check_report_dir`] / [`check_shard_file`]: refuse, before training, an `--out` that is
//!   a file, unwritable, holds foreign files, or holds a report or shard that `--force` does
//!   not allow to replace;
//! - [`replace_dir`]: fills a temporary sibling folder and swaps it in for the report folder;
//! - [`write_file_atomic`]: temporary sibling file, `fsync`, rename (shards, checkpoints).

use super::plots::Plot;
use crate::{Error, Result};
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The files of a report folder other than the plots.
pub const REPORT_FILES: [&str; 3] = ["report.md", "results.json", "results.csv"];

fn io_err(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Io(format!("{}: {e}", path.display()))
}

/// Whether `name` is a file that a report folder holds.
fn is_report_file(name: &str) -> bool {
    REPORT_FILES.contains(&name) || Plot::ALL.iter().any(|p| p.file_name() == name)
}

/// The parent folder and the last component of `path` (`.` as parent for a bare name).
/// Errors on paths without a last component (`/`, `..`).
fn split(path: &Path) -> Result<(PathBuf, String)> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| {
            Error::Invalid(format!(
                "--out {}: needs a folder name as its last component",
                path.display()
            ))
        })?
        .to_string();
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    Ok((parent, name))
}

/// `PID-N`, distinct for every call in this process (N counts calls), so that two threads
/// writing next to each other never share a temporary name.
fn unique_suffix() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static CALLS: AtomicU64 = AtomicU64::new(0);
    let n = CALLS.fetch_add(1, Ordering::Relaxed);
    format!("{}-{n}", std::process::id())
}

/// A sibling of `path` named `.NAME.TAG-PID-N` (hidden, unique per call).
fn sibling(path: &Path, tag: &str) -> Result<PathBuf> {
    let (parent, name) = split(path)?;
    Ok(parent.join(format!(".{name}.{tag}-{}", unique_suffix())))
}

/// Creates `dir` (and its parents) and proves it writable by creating and removing a file.
fn probe_writable(dir: &Path) -> Result<()> {
    fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
    let probe = dir.join(format!(".eqens-probe-{}", unique_suffix()));
    File::create(&probe).map_err(|e| io_err(dir, format!("not writable: {e}")))?;
    fs::remove_file(&probe).map_err(|e| io_err(&probe, e))
}

/// Checks `out` as the destination of a report folder, before any work. Errors if `out` is
/// a file; if it is a folder holding files other than a report's (it is replaced as a
/// whole, so those would be lost); if it holds a report and `force` is false; or if its
/// parent is not writable. Creates the parent folders.
pub fn check_report_dir(out: &Path, force: bool) -> Result<()> {
    let (parent, _) = split(out)?;
    if out.is_file() || (out.exists() && !out.is_dir()) {
        return Err(Error::Io(format!(
            "--out {} exists and is not a folder",
            out.display()
        )));
    }
    if out.is_dir() {
        let mut report = false;
        for entry in fs::read_dir(out).map_err(|e| io_err(out, e))? {
            let entry = entry.map_err(|e| io_err(out, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if !is_report_file(&name) {
                return Err(Error::Invalid(format!(
                    "--out {} holds `{name}`, which is not part of a report; the folder is \
                     replaced as a whole, so choose a new or empty folder",
                    out.display()
                )));
            }
            report = true;
        }
        if report && !force {
            return Err(Error::Invalid(format!(
                "--out {} already holds a report; pass --force to replace it",
                out.display()
            )));
        }
    }
    probe_writable(&parent)
}

/// Checks `file` as the destination of a shard file, before any work: its folder must be
/// creatable and writable, and an existing file is replaced only if `force` is true.
pub fn check_shard_file(file: &Path, force: bool) -> Result<()> {
    let (parent, _) = split(file)?;
    if parent.exists() && !parent.is_dir() {
        return Err(Error::Invalid(format!(
            "--out {} exists and is not a folder",
            parent.display()
        )));
    }
    if file.is_dir() {
        return Err(Error::Invalid(format!(
            "{} is a folder, not a shard file",
            file.display()
        )));
    }
    if file.exists() && !force {
        return Err(Error::Invalid(format!(
            "{} already exists; pass --force to replace it (it is kept until the new shard \
             is complete)",
            file.display()
        )));
    }
    probe_writable(&parent)
}

/// `fsync` of a file or folder (folders: makes renames inside it durable).
fn sync_path(path: &Path) -> Result<()> {
    File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(|e| io_err(path, e))
}

/// Replaces the folder `out` by a new one filled by `fill`: `fill` writes into a temporary
/// sibling folder, whose files are then `fsync`ed, and only then is the old `out` (if any)
/// moved aside, the new folder renamed to `out`, and the old one removed. If `fill` or a
/// write fails (e.g. a full disk), the temporary folder is removed and `out` is untouched.
/// A crash between the two renames leaves the old report complete in `.NAME.old-PID`.
pub fn replace_dir<R>(out: &Path, fill: impl FnOnce(&Path) -> Result<R>) -> Result<R> {
    let (parent, _) = split(out)?;
    fs::create_dir_all(&parent).map_err(|e| io_err(&parent, e))?;
    let tmp = sibling(out, "tmp")?;
    if tmp.exists() {
        fs::remove_dir_all(&tmp).map_err(|e| io_err(&tmp, e))?;
    }
    fs::create_dir(&tmp).map_err(|e| io_err(&tmp, e))?;
    let filled = fill(&tmp).and_then(|r| {
        for entry in fs::read_dir(&tmp).map_err(|e| io_err(&tmp, e))? {
            sync_path(&entry.map_err(|e| io_err(&tmp, e))?.path())?;
        }
        sync_path(&tmp)?;
        Ok(r)
    });
    let r = match filled {
        Ok(r) => r,
        Err(e) => {
            let _ = fs::remove_dir_all(&tmp);
            return Err(e);
        }
    };
    let old = sibling(out, "old")?;
    let had_old = out.exists();
    if had_old {
        if old.exists() {
            fs::remove_dir_all(&old).map_err(|e| io_err(&old, e))?;
        }
        if let Err(e) = fs::rename(out, &old) {
            let _ = fs::remove_dir_all(&tmp);
            return Err(io_err(out, e));
        }
    }
    if let Err(e) = fs::rename(&tmp, out) {
        if had_old {
            let _ = fs::rename(&old, out);
        }
        let _ = fs::remove_dir_all(&tmp);
        return Err(io_err(out, e));
    }
    sync_path(&parent)?;
    if had_old {
        fs::remove_dir_all(&old).map_err(|e| io_err(&old, e))?;
    }
    Ok(r)
}

/// Writes `path` atomically: `write` fills a temporary sibling file, which is flushed,
/// `fsync`ed and renamed over `path`. On any failure the temporary file is removed and
/// `path` keeps its old content (a good shard is never truncated before its replacement is
/// complete).
pub fn write_file_atomic(
    path: &Path,
    write: impl FnOnce(&mut std::io::BufWriter<File>) -> Result<()>,
) -> Result<()> {
    let (parent, _) = split(path)?;
    let tmp = sibling(path, "tmp")?;
    let done = (|| {
        let file = File::create(&tmp).map_err(|e| io_err(&tmp, e))?;
        let mut out = std::io::BufWriter::new(file);
        write(&mut out)?;
        out.flush().map_err(|e| io_err(&tmp, e))?;
        let file = out.into_inner().map_err(|e| io_err(&tmp, e.error()))?;
        file.sync_all().map_err(|e| io_err(&tmp, e))?;
        fs::rename(&tmp, path).map_err(|e| io_err(path, e))?;
        sync_path(&parent)
    })();
    if done.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    done
}
