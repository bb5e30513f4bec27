//! Runtime choice of the instruction set the hot kernels are compiled for.
//!
//! The crate is built for baseline x86-64 (SSE2). The hot kernels are written as plain,
//! auto-vectorisable loops inside a [`Job`]; [`run`] executes a job through a copy of it
//! compiled with AVX-512 or AVX2 enabled when the CPU has them (detected once). Rust never
//! contracts `a * b + c` into a fused multiply-add, and every loop here has a fixed summation
//! order written out in the source, so all levels give bit-identical results: the level only
//! changes the vector width LLVM uses.

use std::sync::atomic::{AtomicU8, Ordering};

/// Instruction-set level of the kernels, from the most to the least capable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Level {
    /// AVX-512 F (32 vector registers of 512 bits).
    Avx512,
    /// AVX2 (16 registers of 256 bits).
    Avx2,
    /// Baseline x86-64 SSE2, or any other architecture.
    Baseline,
}

/// 0 = not detected yet; otherwise 1 + the index of the level in `LEVELS`.
static DETECTED: AtomicU8 = AtomicU8::new(0);
const LEVELS: [Level; 3] = [Level::Avx512, Level::Avx2, Level::Baseline];

/// The best level this CPU supports (detected on first use, then cached).
pub(crate) fn detected() -> Level {
    match DETECTED.load(Ordering::Relaxed) {
        0 => {
            let level = detect();
            let i = LEVELS.iter().position(|&l| l == level).unwrap_or(2);
            DETECTED.store(i as u8 + 1, Ordering::Relaxed);
            level
        }
        i => LEVELS[i as usize - 1],
    }
}

#[cfg(target_arch = "x86_64")]
fn detect() -> Level {
    if std::is_x86_feature_detected!("avx512f") {
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

/// A kernel invocation: its arguments, and a body marked `#[inline(always)]` (as are the
/// helpers it calls) so that it is compiled into each level's copy of [`run`].
pub(crate) trait Job {
    /// What the job returns.
    type Output;
    /// Runs the job; `level` is the instruction set it is compiled for (kernels may pick
    /// tile sizes by it — tile sizes never change results).
    fn run(self, level: Level) -> Self::Output;
}

/// Runs `job` with the best detected instruction-set level.
#[inline]
pub(crate) fn run<J: Job>(job: J) -> J::Output {
    run_at(detected(), job)
}

/// Runs `job` at `level`, falling back to a lower level the CPU supports if needed.
pub(crate) fn run_at<J: Job>(level: Level, job: J) -> J::Output {
    #[cfg(target_arch = "x86_64")]
    {
        let best = detected();
        if level == Level::Avx512 && best == Level::Avx512 {
            // SAFETY: the CPU supports AVX-512 F (runtime detection above); that is the only
            // precondition of calling a function compiled with it enabled.
            return unsafe { run_avx512(job) };
        }
        if level != Level::Baseline && best != Level::Baseline {
            // SAFETY: the CPU supports AVX2 (runtime detection above).
            return unsafe { run_avx2(job) };
        }
    }
    let _ = level;
    job.run(Level::Baseline)
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
