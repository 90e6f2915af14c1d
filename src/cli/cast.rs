//! `isolate cast --input F.. --to DTYPE [--overflow saturate|nan] [--round MODE] --out G.safetensors`

use std::path::PathBuf;

use clap::Args;

use crate::error::{Error, Result};
use crate::formats::convert::{self, EncodeOptions};
use crate::formats::{DType, E8m0Round, Overflow};
use crate::io::Tensor;

#[derive(Args, Debug)]
pub struct CastArgs {
    /// Input tensor files (.safetensors, .pt, .npy).
    #[arg(long = "input", required = true)]
    pub inputs: Vec<PathBuf>,
    /// Target dtype: f64 f32 bf16 f16 e4m3fn e4m3fnuz e5m2 e8m0 (safetensors' and torch's names too).
    #[arg(long)]
    pub to: String,
    /// FP8 overflow: `nan` (PyTorch ≤ 2.11 eager, the default) or `saturate`.
    #[arg(long, default_value = "nan")]
    pub overflow: String,
    /// E8M0 rounding: nearest (torch's cast, the default) | ceil | float-ceil | floor | even.
    #[arg(long, default_value = "nearest")]
    pub round: String,
    /// Output safetensors file.
    #[arg(long)]
    pub out: PathBuf,
}

pub fn run(a: CastArgs) -> Result<i32> {
    let to = DType::parse(&a.to)?;
    if !to.is_float() {
        return Err(Error::Usage(format!(
            "--to {}: cast converts floating tensors, so the target must be a floating dtype",
            a.to
        )));
    }
    let overflow = Overflow::parse(&a.overflow).ok_or_else(|| {
        Error::Usage(format!(
            "unknown --overflow '{}': expected saturate or nan",
            a.overflow
        ))
    })?;
    let e8m0 = E8m0Round::parse(&a.round).ok_or_else(|| {
        Error::Usage(format!(
            "unknown --round '{}': expected one of {}",
            a.round,
            E8m0Round::ALL.map(|m| m.name()).join(", ")
        ))
    })?;
    let opts = EncodeOptions { overflow, e8m0 };
    let files = crate::io::load_all(&a.inputs)?;
    let mut out: Vec<Tensor> = Vec::new();
    let (mut converted, mut copied) = (0, 0);
    for f in &files {
        for note in &f.notes {
            eprintln!("note: {}: {note}", f.path.display());
        }
        for t in &f.tensors {
            if out.iter().any(|o| o.name == t.name) {
                return Err(Error::Usage(format!(
                    "tensor '{}' is in more than one input ({}); the output can hold it once",
                    t.name,
                    f.path.display()
                )));
            }
            if t.dtype.is_float() {
                let bytes = convert::convert(t.bytes(), t.dtype, to, opts)?;
                out.push(Tensor::new(t.name.clone(), to, t.shape.clone(), bytes)?);
                converted += 1;
            } else {
                out.push(t.clone());
                copied += 1;
            }
        }
    }
    crate::io::safetensors_io::write(&a.out, &out, None)?;
    eprintln!(
        "wrote {}: {converted} tensors converted to {to}, {copied} copied unchanged",
        a.out.display()
    );
    Ok(0)
}
