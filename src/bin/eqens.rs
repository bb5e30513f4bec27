//! The `eqens` command-line tool.

fn main() {}
