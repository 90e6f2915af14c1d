//! `isolate cast`: every floating tensor of the inputs converted to one dtype with the codecs of
//! `formats::convert` (other tensors copied unchanged), written to one safetensors file.

use std::path::PathBuf;

use crate::error::{Error, Result};
use crate::formats::convert::{self, EncodeOptions};
use crate::formats::DType;
use crate::io::Tensor;

pub use crate::formats::{E8m0Round, Overflow};

/// `isolate cast`.
#[derive(Clone, Debug)]
pub struct CastRequest {
    pub files: Vec<PathBuf>,
    /// A floating dtype.
    pub to: DType,
    pub overflow: Overflow,
    pub e8m0: E8m0Round,
    pub out: PathBuf,
}

/// What was written.
#[derive(Clone, Debug)]
pub struct CastResult {
    pub out: PathBuf,
    pub to: DType,
    pub converted: usize,
    pub copied: usize,
    /// Notes of the loaders (entries skipped), with their file.
    pub notes: Vec<String>,
}

/// Converts and writes.
pub fn run(req: &CastRequest) -> Result<CastResult> {
    if !req.to.is_float() {
        return Err(Error::Usage(format!(
            "--to {}: cast converts floating tensors, so the target must be a floating dtype",
            req.to
        )));
    }
    let opts = EncodeOptions {
        overflow: req.overflow,
        e8m0: req.e8m0,
    };
    let files = crate::io::load_all(&req.files)?;
    let mut out: Vec<Tensor> = Vec::new();
    let (mut converted, mut copied) = (0, 0);
    let mut notes = Vec::new();
    for f in &files {
        notes.extend(f.notes.iter().map(|n| format!("{}: {n}", f.path.display())));
        for t in &f.tensors {
            if out.iter().any(|o| o.name == t.name) {
                return Err(Error::Usage(format!(
                    "tensor '{}' is in more than one input ({}); the output can hold it once",
                    t.name,
                    f.path.display()
                )));
            }
            if t.dtype.is_float() {
                let bytes = convert::convert(t.bytes(), t.dtype, req.to, opts)?;
                out.push(Tensor::new(t.name.clone(), req.to, t.shape.clone(), bytes)?);
                converted += 1;
            } else {
                out.push(t.clone());
                copied += 1;
            }
        }
    }
    crate::io::safetensors_io::write(&req.out, &out, None)?;
    Ok(CastResult {
        out: req.out.clone(),
        to: req.to,
        converted,
        copied,
        notes,
    })
}
