//! The `eqens` command-line tool: list groups, analyse architectures, check the statements
//! of THEORY.md, reproduce the paper's experiment.

use clap::{Parser, Subcommand};
use eqens::group::constructors::BUILTIN_NAMES;
use eqens::group::Group;
use std::process::ExitCode;

/// Numerical checks of emergent equivariance in augmented ensembles.
#[derive(Parser, Debug)]
#[command(name = "eqens", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// List the built-in groups with their orders.
    Groups,
}

fn groups() -> eqens::Result<()> {
    println!("{:<10} {:>6}  elements", "group", "order");
    for (name, g) in BUILTIN_NAMES.iter().zip(Group::builtin_list()) {
        let names = g.element_names();
        let shown: Vec<&str> = names.iter().take(8).map(String::as_str).collect();
        let more = if names.len() > 8 { ", …" } else { "" };
        println!(
            "{:<10} {:>6}  {}{}",
            name,
            g.order(),
            shown.join(", "),
            more
        );
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Groups => groups(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("eqens: {e}");
            ExitCode::FAILURE
        }
    }
}
