//! The programs in examples/ run to completion (each asserts its own result). `cargo test`
//! also builds them as examples; here their `main` runs in-process.

#[path = "../examples/analyze_architecture.rs"]
mod analyze_architecture;
#[path = "../examples/custom_check.rs"]
mod custom_check;
#[path = "../examples/train_ensemble.rs"]
mod train_ensemble;

#[test]
fn analyze_architecture_example_runs() {
    analyze_architecture::main().unwrap();
}

#[test]
fn custom_check_example_runs() {
    custom_check::main().unwrap();
}

#[test]
fn train_ensemble_example_runs() {
    train_ensemble::main().unwrap();
}
