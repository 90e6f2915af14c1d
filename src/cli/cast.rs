//! `isolate cast --input F.. --to DTYPE [--overflow saturate|nan] [--round MODE] --out G.safetensors`: flags →
//! [`CastRequest`].

use std::path::PathBuf;

use clap::Args;

use crate::cli::args::one_of;
use crate::error::Result;
use crate::experiment::cast::{self, CastRequest, E8m0Round, Overflow};
use crate::formats::DType;

const OVERFLOW: [Overflow; 2] = [Overflow::Nan, Overflow::Saturate];

#[derive(Args, Debug)]
pub struct CastArgs {
    /// Input tensor files (.safetensors, .pt, .npy).
    #[arg(long = "input", required = true)]
    pub inputs: Vec<PathBuf>,
    /// Target dtype: f64 f32 bf16 f16 e4m3fn e4m3fnuz e5m2 e8m0 (safetensors' and torch's names too).
    #[arg(long, value_parser = |s: &str| DType::parse(s).map_err(|e| e.to_string()))]
    pub to: DType,
    /// FP8 overflow: `nan` (PyTorch ≤ 2.11 eager) or `saturate`.
    #[arg(long, value_parser = one_of(&OVERFLOW, Overflow::name), default_value = "nan")]
    pub overflow: Overflow,
    /// E8M0 rounding (nearest is torch's cast).
    #[arg(long, value_parser = one_of(&E8m0Round::ALL, E8m0Round::name), default_value = "nearest")]
    pub round: E8m0Round,
    /// Output safetensors file.
    #[arg(long)]
    pub out: PathBuf,
}

pub fn run(a: CastArgs) -> Result<i32> {
    let r = cast::run(&CastRequest {
        files: a.inputs,
        to: a.to,
        overflow: a.overflow,
        e8m0: a.round,
        out: a.out,
    })?;
    eprint!("{}", crate::report::cast::summary(&r));
    Ok(0)
}
