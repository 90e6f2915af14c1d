//! `isolate inspect FILE..`: flags → the files to summarise.

use std::path::PathBuf;

use clap::Args;

use crate::cli::args::OutputArgs;
use crate::error::Result;
use crate::experiment::inspect;
use crate::report::emit;
use crate::report::inspect::InspectReport;

#[derive(Args, Debug)]
pub struct InspectArgs {
    /// Tensor files (.safetensors, .pt, .npy).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    #[command(flatten)]
    pub out: OutputArgs,
}

pub fn run(a: InspectArgs) -> Result<i32> {
    emit(&InspectReport(inspect::run(&a.files)?), &a.out.outputs())?;
    Ok(0)
}
