//! Training hot-loop benchmarks: forward, forward+backward (`loss_and_grad`), one SGD step
//! with rot90 augmentation, one epoch over a digits-sized set, and ensemble throughput with
//! 1 and 2 threads — for the paper's digits (8×8) and 28×28 networks, in f32 and f64,
//! batch 32.
//!
//! Besides criterion's report, a summary at the end prints for each training benchmark the
//! median time per iteration (over criterion's samples), the useful GFLOP/s, steps or
//! member-steps per second, and the ratio to the PyTorch peer of the "Performance" issue.
//! Useful FLOPs (see `common::step_flops`): forward = 2·MACs·batch with MACs counted from
//! the architecture (C_out·C_in·|Ω|·H·W per convolution, out·in per dense layer);
//! forward+backward = 3 × forward.

mod common;

use common::*;
use criterion::{BenchmarkId, Criterion, Throughput};
use eqens::autodiff::Tape;
use eqens::nn::Target;
use eqens::train::{sgd_epoch, Samples};
use eqens::Scalar;
use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::atomic::{AtomicIsize, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Bytes currently allocated, and the number of allocations, by the whole process (for the
/// memory-per-member and allocations-per-step figures of the summary).
static LIVE_BYTES: AtomicIsize = AtomicIsize::new(0);
static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

struct Counting;

// SAFETY: forwards every call to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE_BYTES.fetch_add(layout.size() as isize, Ordering::Relaxed);
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE_BYTES.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE_BYTES.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Seconds per iteration of every sample criterion took, by benchmark id.
static TIMES: Mutex<BTreeMap<String, Vec<f64>>> = Mutex::new(BTreeMap::new());

/// What one iteration of a benchmark does, for the summary.
#[derive(Clone, Copy)]
struct Work {
    /// Useful FLOPs per iteration.
    flops: f64,
    /// (member-)steps per iteration (0 for the forward pass).
    steps: f64,
    /// PyTorch's (member-)steps per second on the same work, and the target.
    peer: Option<(f64, f64)>,
}

static WORK: Mutex<BTreeMap<String, Work>> = Mutex::new(BTreeMap::new());

/// Records what one iteration of benchmark `id` does (see [`Work`]) and returns the id.
fn record_work(id: String, flops: f64, steps: f64, peer: Option<(f64, f64)>) -> String {
    WORK.lock()
        .unwrap()
        .insert(id.clone(), Work { flops, steps, peer });
    id
}

/// Times `iters` runs of `f` and records the time per iteration under `id`.
fn timed(id: &str, iters: u64, mut f: impl FnMut()) -> Duration {
    let start = Instant::now();
    for _ in 0..iters {
        f();
    }
    let d = start.elapsed();
    TIMES
        .lock()
        .unwrap()
        .entry(id.to_string())
        .or_default()
        .push(d.as_secs_f64() / iters as f64);
    d
}

fn scalar_name<T: Scalar>() -> &'static str {
    if std::mem::size_of::<T>() == 4 {
        "f32"
    } else {
        "f64"
    }
}

/// PyTorch single-thread steps/s and the 2-core target in member-steps/s.
fn peer(side: usize, name: &str) -> (f64, f64, f64) {
    match (side, name) {
        // (PyTorch 1 thread, PyTorch best on 2 cores, target on 2 cores)
        (8, "f32") => (280.0, 1200.0, 12000.0),
        (8, _) => (280.0, 1200.0, 6000.0),
        (_, "f32") => (1.0 / 0.013, 230.0, 1000.0),
        _ => (1.0 / 0.013, 230.0, f64::NAN),
    }
}

/// Forward, forward+backward and one augmented SGD step on one batch.
fn bench_step<T: Scalar>(c: &mut Criterion, side: usize) {
    let gnet = paper_gnet(side);
    let net = gnet.network();
    let name = scalar_name::<T>();
    let (x, labels) = synthetic_data::<T>(&gnet, BATCH, 1);
    let theta = initial_theta::<T>(&gnet, 2);
    let mut tape = Tape::<T>::new();
    let mut grad = vec![T::zero(); net.num_params()];
    let (peer1, _, _) = peer(side, name);
    let mut group = c.benchmark_group(format!("step_{side}x{side}_{name}"));
    group.sample_size(20);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(2));

    let id = record_work(
        format!("forward_{side}x{side}_{name}"),
        forward_flops(net, BATCH),
        0.0,
        None,
    );
    group.throughput(Throughput::Elements(forward_flops(net, BATCH) as u64));
    group.bench_function(BenchmarkId::new("forward", BATCH), |b| {
        b.iter_custom(|iters| {
            timed(&id, iters, || {
                tape.reset();
                let f = net.forward(&mut tape, &theta, &x, BATCH).unwrap();
                black_box(tape.value(f.output)[0]);
            })
        })
    });

    let flops = step_flops(net, BATCH);
    group.throughput(Throughput::Elements(flops as u64));
    let id = record_work(
        format!("loss_and_grad_{side}x{side}_{name}"),
        flops,
        1.0,
        Some((peer1, f64::NAN)),
    );
    group.bench_function(BenchmarkId::new("loss_and_grad", BATCH), |b| {
        b.iter_custom(|iters| {
            timed(&id, iters, || {
                let l = net
                    .loss_and_grad(
                        &mut tape,
                        &theta,
                        &x,
                        BATCH,
                        Target::Labels(&labels),
                        &mut grad,
                    )
                    .unwrap();
                black_box(l);
            })
        })
    });

    // One SGD step with per-sample rot90 augmentation: an epoch over exactly one batch.
    let law = full_law(&gnet);
    let cfg = sgd_config();
    let mut member = Member::<T>::new(&gnet, 3);
    let data = Samples {
        x: &x,
        n: BATCH,
        target: Target::Labels(&labels),
    };
    let id = record_work(
        format!("sgd_step_{side}x{side}_{name}"),
        flops,
        1.0,
        Some((peer1, f64::NAN)),
    );
    group.bench_function(BenchmarkId::new("sgd_step_rot90", BATCH), |b| {
        b.iter_custom(|iters| {
            timed(&id, iters, || {
                let Member { ws, theta, rng } = &mut member;
                let l = sgd_epoch(&gnet, ws, theta, &data, &cfg, &law, 0, rng).unwrap();
                black_box(l);
            })
        })
    });
    group.finish();
}

/// One epoch over 1437 digits-sized samples (45 steps: 44 of 32 and one of 29).
fn bench_epoch<T: Scalar>(c: &mut Criterion) {
    let gnet = paper_gnet(8);
    let name = scalar_name::<T>();
    let (x, labels) = synthetic_data::<T>(&gnet, DIGITS_SAMPLES, 4);
    let data = Samples {
        x: &x,
        n: DIGITS_SAMPLES,
        target: Target::Labels(&labels),
    };
    let (law, cfg) = (full_law(&gnet), sgd_config());
    let mut member = Member::<T>::new(&gnet, 5);
    let flops = step_flops(gnet.network(), DIGITS_SAMPLES);
    let steps = DIGITS_SAMPLES.div_ceil(BATCH) as f64;
    let (peer1, _, _) = peer(8, name);
    let id = record_work(
        format!("epoch_8x8_{name}"),
        flops,
        steps,
        Some((peer1, f64::NAN)),
    );
    let mut group = c.benchmark_group(format!("epoch_8x8_{name}"));
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(3));
    group.throughput(Throughput::Elements(flops as u64));
    group.bench_function(BenchmarkId::new("sgd_epoch_rot90", DIGITS_SAMPLES), |b| {
        b.iter_custom(|iters| {
            timed(&id, iters, || {
                let Member { ws, theta, rng } = &mut member;
                let l = sgd_epoch(&gnet, ws, theta, &data, &cfg, &law, 0, rng).unwrap();
                black_box(l);
            })
        })
    });
    group.finish();
}

/// Ensemble throughput: `members` independent members (own tape, θ, RNG), each running
/// `steps` SGD steps per iteration, spread over a local rayon pool of 1 or 2 threads, one
/// task per member as in `eqens reproduce`. Enough members that the last task's tail (one
/// member's epoch) is a small part of an iteration: with 4 members on 2 threads, a late
/// wake-up of the second thread left it 1 member of 4 in many samples (bimodal timings).
fn bench_ensemble<T: Scalar>(c: &mut Criterion, side: usize, members: usize, steps: usize) {
    let gnet = paper_gnet(side);
    let name = scalar_name::<T>();
    let n = steps * BATCH;
    let (x, labels) = synthetic_data::<T>(&gnet, n, 6);
    let data = Samples {
        x: &x,
        n,
        target: Target::Labels(&labels),
    };
    let (law, cfg) = (full_law(&gnet), sgd_config());
    let (_, peer2, target) = peer(side, name);
    let flops = step_flops(gnet.network(), BATCH) * (members * steps) as f64;
    let mut group = c.benchmark_group(format!("ensemble_{side}x{side}_{name}"));
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(3));
    group.throughput(Throughput::Elements(flops as u64));
    for threads in [1, 2] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("thread pool");
        let mut ms: Vec<Member<T>> = (0..members)
            .map(|m| Member::new(&gnet, 100 + m as u64))
            .collect();
        let peer = if threads == 2 {
            Some((peer2, target))
        } else {
            Some((peer2 / 2.0, target / 2.0))
        };
        let id = record_work(
            format!("ensemble_{side}x{side}_{name}_{threads}t"),
            flops,
            (members * steps) as f64,
            peer,
        );
        group.bench_function(BenchmarkId::new("member_steps", threads), |b| {
            b.iter_custom(|iters| {
                timed(&id, iters, || {
                    use rayon::prelude::*;
                    pool.install(|| {
                        ms.par_iter_mut().with_max_len(1).for_each(|m| {
                            let Member { ws, theta, rng } = m;
                            let l = sgd_epoch(&gnet, ws, theta, &data, &cfg, &law, 0, rng).unwrap();
                            black_box(l);
                        })
                    })
                })
            })
        });
    }
    group.finish();
}

/// Memory of one training member (workspace with its tape, θ, RNG) after `warm` SGD steps,
/// the growth of live memory between step `warm` and step `warm + more`, and the
/// allocations per step in steady state.
fn member_memory<T: Scalar>(side: usize, warm: usize, more: usize) -> (isize, isize, f64) {
    let gnet = paper_gnet(side);
    let (x, labels) = synthetic_data::<T>(&gnet, BATCH, 7);
    let data = Samples {
        x: &x,
        n: BATCH,
        target: Target::Labels(&labels),
    };
    let (law, cfg) = (full_law(&gnet), sgd_config());
    let before = LIVE_BYTES.load(Ordering::Relaxed);
    let mut m = Member::<T>::new(&gnet, 8);
    let step = |m: &mut Member<T>| {
        let Member { ws, theta, rng } = m;
        sgd_epoch(&gnet, ws, theta, &data, &cfg, &law, 0, rng).unwrap();
    };
    for _ in 0..warm {
        step(&mut m);
    }
    let after_warm = LIVE_BYTES.load(Ordering::Relaxed);
    let allocs = ALLOCATIONS.load(Ordering::Relaxed);
    for _ in 0..more {
        step(&mut m);
    }
    let per_step = (ALLOCATIONS.load(Ordering::Relaxed) - allocs) as f64 / more as f64;
    let growth = LIVE_BYTES.load(Ordering::Relaxed) - after_warm;
    drop(m);
    (after_warm - before, growth, per_step)
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The summary table: median seconds per iteration, GFLOP/s, (member-)steps/s, vs PyTorch.
fn summary() {
    let times = TIMES.lock().unwrap();
    let work = WORK.lock().unwrap();
    if times.is_empty() {
        return;
    }
    println!(
        "\n=== training summary at SIMD level {} ===",
        common::announce_simd_level()
    );
    println!(
        "(useful FLOPs = 2·MACs fwd, ×3 fwd+bwd; rates from the median \
         over criterion's samples, and from the best sample in brackets: on a shared machine \
         the best is the closer estimate of the code's own speed)"
    );
    println!(
        "{:<26} {:>11} {:>11} {:>8} {:>8} {:>9} {:>9} {:>9} {:>9}",
        "benchmark",
        "median",
        "best",
        "GFLOP/s",
        "[best]",
        "steps/s",
        "[best]",
        "×PyTorch",
        "×target"
    );
    for (id, t) in times.iter() {
        let Some(w) = work.get(id) else { continue };
        let s = median(t);
        let b = t.iter().copied().fold(f64::INFINITY, f64::min);
        let (rate, best_rate) = (w.steps / s, w.steps / b);
        let (vs_peer, vs_target) = match w.peer {
            Some((p, tg)) if w.steps > 0.0 => (rate / p, rate / tg),
            _ => (f64::NAN, f64::NAN),
        };
        println!(
            "{:<26} {:>8.1} µs {:>8.1} µs {:>8.2} {:>8.2} {:>9.0} {:>9.0} {:>9.2} {:>9.2}",
            id,
            s * 1e6,
            b * 1e6,
            w.flops / s * 1e-9,
            w.flops / b * 1e-9,
            rate,
            best_rate,
            vs_peer,
            vs_target
        );
    }
    println!(
        "(ensemble rows: member-steps/s; PyTorch 2-core best 1200 (digits) / 230 (28×28), \
         targets 12000 f32 / 6000 f64 (digits), 1000 f32 (28×28); 1-thread rows are compared \
         with half of those)"
    );
    println!("\n=== memory per training member (target ≤ 1 MB; nothing may grow with steps) ===");
    for (side, name) in [(8, "f32"), (8, "f64"), (28, "f32"), (28, "f64")] {
        let (bytes, growth, allocs) = if name == "f32" {
            member_memory::<f32>(side, 3, 50)
        } else {
            member_memory::<f64>(side, 3, 50)
        };
        println!(
            "{side:>2}×{side:<2} {name}: {:>8.1} KiB after 3 steps, {growth:+} bytes over the next 50, \
             {allocs:.1} allocations per step",
            bytes as f64 / 1024.0
        );
    }
}

fn main() {
    common::announce_simd_level();
    let mut c = Criterion::default().configure_from_args();
    bench_step::<f32>(&mut c, 8);
    bench_step::<f64>(&mut c, 8);
    bench_step::<f32>(&mut c, 28);
    bench_step::<f64>(&mut c, 28);
    bench_epoch::<f32>(&mut c);
    bench_epoch::<f64>(&mut c);
    bench_ensemble::<f32>(&mut c, 8, 16, 8);
    bench_ensemble::<f64>(&mut c, 8, 16, 8);
    bench_ensemble::<f32>(&mut c, 28, 8, 2);
    c.final_summary();
    summary();
}
