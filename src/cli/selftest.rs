//! `isolate selftest [--backend auto|cpu|cuda] [--exhaustive] [--seed N]`: every kernel against its CPU twin.

use clap::Args;

use crate::backend::{self, BackendArg};
use crate::error::Result;
use crate::experiment::selftest::{self, Options};

#[derive(Args, Debug)]
pub struct SelftestArgs {
    #[command(flatten)]
    pub backend: BackendArg,
    /// Also sweep every f32 bit pattern through every encoder (a few seconds on a GPU, longer on the CPU side).
    #[arg(long)]
    pub exhaustive: bool,
    /// Seed of the random inputs.
    #[arg(long, default_value_t = Options::default().seed)]
    pub seed: u64,
}

/// Prints the table; 0 when every check passed, 1 otherwise.
pub fn run(a: SelftestArgs) -> Result<i32> {
    let b = backend::select(a.backend.backend)?;
    println!("backend: {} — {}", b.name(), b.describe());
    let opt = Options {
        seed: a.seed,
        exhaustive: a.exhaustive,
        ..Options::default()
    };
    let checks = selftest::run(b.as_ref(), &opt)?;
    print!("{}", selftest::table(&checks));
    let failed = checks.iter().filter(|c| !c.passed()).count();
    println!("{} checks, {failed} failed", checks.len());
    Ok((failed > 0) as i32)
}
