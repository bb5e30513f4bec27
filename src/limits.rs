//! Resource limits checked before any work: memory a computation would need versus what the
//! machine has, and a sane bound on worker threads. Sizes that cannot fit become a clear
//! [`Error::Invalid`] instead of an allocation failure (an abort) hours into a run.

use crate::{Error, Result};

/// The largest worker-thread count accepted (`--threads`). A pool holds one OS thread and one
/// training workspace per thread; far beyond the cores this only costs memory and start-up
/// time, and 1024 is more than any single machine this tool targets has cores.
pub const MAX_THREADS: usize = 1024;

/// Errors unless 1 ≤ `threads` ≤ [`MAX_THREADS`]; `flag` names the option in the message.
pub fn check_threads(flag: &str, threads: usize) -> Result<()> {
    if threads == 0 {
        return Err(Error::Invalid(format!("{flag} must be at least 1")));
    }
    if threads > MAX_THREADS {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        return Err(Error::Invalid(format!(
            "{flag} {threads} is above the limit of {MAX_THREADS} threads (this machine has \
             {cores} cores; results never depend on the thread count)"
        )));
    }
    Ok(())
}

/// Bytes of memory the machine could ever give one process: physical memory plus swap
/// (`MemTotal + SwapTotal` of `/proc/meminfo`), or `None` where that is unknown.
pub fn memory_bound() -> Option<u128> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let field = |name: &str| -> Option<u128> {
        let line = info.lines().find(|l| l.starts_with(name))?;
        let kib: u128 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib * 1024)
    };
    Some(field("MemTotal:")? + field("SwapTotal:").unwrap_or(0))
}

/// Errors if `bytes` (a lower bound on what `what` needs) exceed [`memory_bound`]: the
/// computation could not finish on this machine, so it must not start.
pub fn check_memory(what: &str, bytes: u128) -> Result<()> {
    match memory_bound() {
        Some(limit) if bytes > limit => Err(Error::Invalid(format!(
            "{what} needs at least {} of memory, but this machine has {} (memory + swap); \
             choose smaller sizes",
            human_bytes(bytes),
            human_bytes(limit)
        ))),
        _ => Ok(()),
    }
}

/// `bytes` in B, KiB, MiB, GiB, TiB or PiB, 3 significant digits.
pub fn human_bytes(bytes: u128) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.3} {}", UNITS[u])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thread_bound_and_memory_bound() {
        assert!(check_threads("--threads", 1).is_ok());
        assert!(check_threads("--threads", MAX_THREADS).is_ok());
        assert!(check_threads("--threads", MAX_THREADS + 1).is_err());
        assert!(check_threads("--threads", 0).is_err());
        // 1 KiB fits on any machine; 2^100 bytes on none.
        assert!(check_memory("x", 1024).is_ok());
        if memory_bound().is_some() {
            assert!(check_memory("x", 1u128 << 100).is_err());
        }
        assert_eq!(human_bytes(1536), "1.500 KiB");
        assert_eq!(human_bytes(12), "12 B");
    }
}
