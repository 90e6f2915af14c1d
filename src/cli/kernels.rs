//! `isolate kernels [--json PATH|-]`: what kernels this binary carries.

use clap::Args;

use crate::cli::args::OutputArgs;
use crate::error::Result;
use crate::experiment::kernels;
use crate::report::emit;

#[derive(Args, Debug)]
pub struct KernelsArgs {
    #[command(flatten)]
    pub out: OutputArgs,
}

pub fn run(a: KernelsArgs) -> Result<i32> {
    emit(&kernels::run(), &a.out.outputs())?;
    Ok(0)
}
