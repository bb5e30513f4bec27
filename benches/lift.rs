//! The lifted action ρ(g)A on the paper's networks (`GroupNetwork::lift` on ambient
//! weights, and `lift_theta` on coefficients, which also maps back to θ), and the
//! invariant core 𝓛_0 of each linear map of the digits network (the analysis's basic step;
//! `nn::analysis` has no `analyze` entry point on this branch).

mod common;

use common::*;
use criterion::{BenchmarkId, Criterion};
use eqens::nn::analysis::invariant_core;
use std::hint::black_box;
use std::time::Duration;

fn bench_lift(c: &mut Criterion) {
    let mut group = c.benchmark_group("lift");
    group.sample_size(20);
    group.warm_up_time(Duration::from_millis(300));
    group.measurement_time(Duration::from_secs(2));
    for side in [8, 28] {
        let gnet = paper_gnet(side);
        let theta = initial_theta::<f64>(&gnet, 1);
        let ambient = gnet.network().ambient_weights(&theta);
        // g = 1: the 90° rotation r.
        group.bench_function(BenchmarkId::new("lift_ambient", side), |b| {
            b.iter(|| black_box(gnet.lift(1, &ambient)))
        });
        group.bench_function(BenchmarkId::new("lift_theta", side), |b| {
            b.iter(|| black_box(gnet.lift_theta(1, &theta).unwrap()))
        });
        // The invariant cores of the digits network only: the 28×28 dense layer's unit is
        // 7840-dimensional and its dense analysis takes minutes and gigabytes.
        if side == 8 {
            group.bench_function(BenchmarkId::new("invariant_cores", side), |b| {
                b.iter(|| {
                    for map in 0..gnet.num_maps() {
                        black_box(invariant_core(&gnet, map));
                    }
                })
            });
        }
    }
    group.finish();
}

fn main() {
    common::announce_simd_level();
    let mut c = Criterion::default().configure_from_args();
    bench_lift(&mut c);
    c.final_summary();
}
