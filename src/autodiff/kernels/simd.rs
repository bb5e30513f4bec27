//! The instruction-set level the hot kernels run at, and how to choose it.
//!
//! The crate is built for its target's baseline (SSE2 on x86-64, NEON on aarch64). The hot
//! kernels are plain loops inside a `Job` (plus a few shuffles written with intrinsics);
//! each job is compiled once per level — on x86-64 into copies with AVX2 or AVX-512 enabled —
//! and run at the level in effect:
//!
//! 1. the level of [`with_level`] on the calling thread, if any;
//! 2. otherwise the value of the environment variable [`ENV`] (`EQENS_SIMD=avx512|avx2|baseline`,
//!    read once per process);
//! 3. otherwise the best level this CPU supports ([`detected`]).
//!
//! **Every level gives bit-identical results.** Rust never contracts `a * b + c` into a fused
//! multiply-add, and every sum in the kernels has its order written out in the source: the
//! number of lanes of the partial sums is fixed by the scalar type alone (16 for f32, 8 for
//! f64), never by the vector width. The levels only change how many of those lanes one
//! instruction processes, the register-tile sizes and the transposition code, none of which
//! changes a single rounding. The tests run every level the host supports and compare the
//! bits (`kernels::tests`, `tests/simd_levels.rs`).
//!
//! A request that cannot be honoured — an unknown value of [`ENV`], or a level the CPU lacks
//! — is an [`Error::Invalid`] from [`current`] and [`with_level`], never a silent fallback
//! to another level; the fallible entry points of the library (training set-up, `reproduce`)
//! and the CLI return it before any work.

use crate::{Error, Result};
use std::cell::Cell;
use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

/// The environment variable that forces the level of the whole process.
pub const ENV: &str = "EQENS_SIMD";

/// Instruction-set level of the kernels, from the most to the least capable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Level {
    /// x86-64 AVX-512 F (32 vector registers of 512 bits).
    Avx512,
    /// x86-64 AVX2 (16 registers of 256 bits).
    Avx2,
    /// The target's baseline, the portable path: SSE2 on x86-64 (16 registers of 128 bits),
    /// NEON on aarch64 (32 of 128 bits), plain scalar code elsewhere.
    Baseline,
}

impl Level {
    /// Every level, from the most to the least capable.
    pub const ALL: [Level; 3] = [Level::Avx512, Level::Avx2, Level::Baseline];

    /// The name used by [`ENV`] and in reports: `avx512`, `avx2` or `baseline`.
    pub fn name(self) -> &'static str {
        match self {
            Level::Avx512 => "avx512",
            Level::Avx2 => "avx2",
            Level::Baseline => "baseline",
        }
    }

    /// Whether this CPU can run the level.
    pub fn supported(self) -> bool {
        match self {
            Level::Baseline => true,
            Level::Avx2 => matches!(detected(), Level::Avx2 | Level::Avx512),
            Level::Avx512 => detected() == Level::Avx512,
        }
    }

    /// The level if this CPU supports it, else an error naming the level and the CPU's best.
    pub fn require(self) -> Result<Level> {
        if self.supported() {
            Ok(self)
        } else {
            Err(Error::Invalid(format!(
                "SIMD level {self} is not supported by this CPU (best: {}; supported: {})",
                detected(),
                supported_names()
            )))
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Level {
    type Err = Error;

    /// Parses a level name (case-insensitive, surrounding blanks ignored).
    fn from_str(s: &str) -> Result<Level> {
        let t = s.trim().to_ascii_lowercase();
        Level::ALL
            .into_iter()
            .find(|l| l.name() == t)
            .ok_or_else(|| {
                Error::Invalid(format!(
                    "unknown SIMD level `{s}`: expected one of avx512, avx2, baseline"
                ))
            })
    }
}

/// The levels this CPU supports, from the most to the least capable.
pub fn supported_levels() -> Vec<Level> {
    Level::ALL.into_iter().filter(|l| l.supported()).collect()
}

fn supported_names() -> String {
    supported_levels()
        .iter()
        .map(|l| l.name())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The best level this CPU supports (detected on first use, then cached).
pub fn detected() -> Level {
    static DETECTED: OnceLock<Level> = OnceLock::new();
    *DETECTED.get_or_init(detect)
}

#[cfg(target_arch = "x86_64")]
fn detect() -> Level {
    if std::is_x86_feature_detected!("avx512f") && std::is_x86_feature_detected!("avx512vl") {
        Level::Avx512
    } else if std::is_x86_feature_detected!("avx2") {
        Level::Avx2
    } else {
        Level::Baseline
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn detect() -> Level {
    Level::Baseline
}

/// The level of the process: [`ENV`] if set (read once), else [`detected`]. Errors when
/// the variable holds an unknown name or a level this CPU lacks (the same error every call).
pub fn configured() -> Result<Level> {
    static CONFIGURED: OnceLock<Result<Level>> = OnceLock::new();
    CONFIGURED
        .get_or_init(|| match std::env::var(ENV) {
            Err(std::env::VarError::NotPresent) => Ok(detected()),
            Err(std::env::VarError::NotUnicode(v)) => Err(Error::Invalid(format!(
                "{ENV}={v:?} is not a SIMD level name (avx512, avx2, baseline)"
            ))),
            Ok(v) if v.trim().is_empty() => Ok(detected()),
            Ok(v) => v
                .parse::<Level>()
                .and_then(Level::require)
                .map_err(|e| Error::Invalid(format!("{ENV}={v}: {e}"))),
        })
        .clone()
}

thread_local! {
    /// The level forced on this thread by [`with_level`], if any.
    static FORCED: Cell<Option<Level>> = const { Cell::new(None) };
}

/// The level the kernels run at on the calling thread: that of an enclosing [`with_level`],
/// else [`configured`].
pub fn current() -> Result<Level> {
    match FORCED.with(Cell::get) {
        Some(level) => Ok(level),
        None => configured(),
    }
}

/// Runs `f` with every kernel it calls *on this thread* at `level` (nested calls: the
/// innermost wins), or errors without running it if the CPU lacks `level`. Work that `f`
/// hands to other threads (a rayon pool) runs at those threads' level, [`configured`] —
/// with the same results, since the levels agree bit for bit.
pub fn with_level<R>(level: Level, f: impl FnOnce() -> R) -> Result<R> {
    level.require()?;
    struct Restore(Option<Level>);
    impl Drop for Restore {
        fn drop(&mut self) {
            FORCED.with(|c| c.set(self.0));
        }
    }
    let _restore = Restore(FORCED.with(|c| c.replace(Some(level))));
    Ok(f())
}

/// A kernel invocation: its arguments, and a body marked `#[inline(always)]` (as are the
/// helpers it calls) so that it is compiled into each level's copy of [`run_at`].
pub(crate) trait Job {
    /// What the job returns.
    type Output;
    /// Runs the job; `level` is the instruction set it is compiled for (kernels pick tile
    /// sizes and transpositions by it — never a summation order).
    fn run(self, level: Level) -> Self::Output;
}

/// Runs `job` at the [`current`] level.
///
/// # Panics
/// If [`ENV`] is invalid. The library's fallible entry points and the CLI check
/// [`configured`] first and return that error; only code that drives the tape directly
/// without such a check can reach this panic, which names the variable and the fix.
#[inline]
pub(crate) fn run<J: Job>(job: J) -> J::Output {
    match current() {
        Ok(level) => run_at(level, job),
        Err(e) => panic!("{e} (unset {ENV} or give a level this CPU supports)"),
    }
}

/// Runs `job` at `level`, which the CPU must support (every caller obtains it from
/// [`current`] or checks it with [`Level::require`]).
pub(crate) fn run_at<J: Job>(level: Level, job: J) -> J::Output {
    assert!(
        level.supported(),
        "SIMD level {level} requested on a CPU without it"
    );
    match level {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the CPU supports AVX-512 F and VL (asserted above, detected at run time);
        // that is the only precondition of calling a function compiled with them enabled.
        Level::Avx512 => unsafe { run_avx512(job) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the CPU supports AVX2 (asserted above).
        Level::Avx2 => unsafe { run_avx2(job) },
        _ => job.run(Level::Baseline),
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vl,avx2,avx")]
fn run_avx512<J: Job>(job: J) -> J::Output {
    job.run(Level::Avx512)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,avx")]
fn run_avx2<J: Job>(job: J) -> J::Output {
    job.run(Level::Avx2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_back_and_unknown_names_are_errors() {
        for l in Level::ALL {
            assert_eq!(l.name().parse::<Level>().unwrap(), l);
            assert_eq!(
                format!(" {} ", l.name().to_uppercase())
                    .parse::<Level>()
                    .unwrap(),
                l
            );
        }
        for bad in ["", "avx", "sse2", "avx-512", "neon"] {
            let e = bad.parse::<Level>().unwrap_err();
            assert!(matches!(e, Error::Invalid(ref m) if m.contains("unknown SIMD level")));
        }
    }

    #[test]
    fn with_level_forces_nests_and_restores() {
        let outer = current().unwrap();
        for l in supported_levels() {
            let seen = with_level(l, || {
                let inner = with_level(Level::Baseline, current).unwrap().unwrap();
                (current().unwrap(), inner)
            })
            .unwrap();
            assert_eq!(seen, (l, Level::Baseline));
            assert_eq!(current().unwrap(), outer);
        }
        // Negative control: a level the CPU lacks is refused and `f` does not run.
        for l in Level::ALL.into_iter().filter(|l| !l.supported()) {
            let mut ran = false;
            let e = with_level(l, || ran = true).unwrap_err();
            assert!(e.to_string().contains("not supported by this CPU"), "{e}");
            assert!(!ran);
        }
    }

    #[test]
    fn detected_level_is_supported_and_baseline_always_is() {
        assert!(detected().supported());
        assert!(Level::Baseline.supported());
        assert_eq!(supported_levels()[0], detected());
    }
}
