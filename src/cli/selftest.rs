//! `isolate selftest [--backend auto|cpu|cuda] [--exhaustive] [--seed N]`: every kernel against its CPU twin.

use clap::Args;

use crate::cli::args::{BackendArg, OutputArgs};
use crate::error::Result;
use crate::experiment::selftest::{self, Options};
use crate::report::emit;

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
    #[command(flatten)]
    pub out: OutputArgs,
}

/// Prints the table; 0 when every check passed, 1 otherwise.
pub fn run(a: SelftestArgs) -> Result<i32> {
    let opt = Options {
        seed: a.seed,
        exhaustive: a.exhaustive,
        ..Options::default()
    };
    let rep = selftest::run(a.backend.backend, &opt)?;
    if let Some(why) = &rep.fallback {
        eprintln!("isolate: no usable GPU ({why}); using the CPU backend");
    }
    emit(&rep, &a.out.outputs())?;
    Ok(rep.exit_code())
}
