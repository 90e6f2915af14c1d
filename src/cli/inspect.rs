//! `isolate inspect FILE.. [--json PATH|-]`

use std::path::PathBuf;

use clap::Args;

use crate::error::Result;
use crate::experiment::inspect;
use crate::report::json::write_json;

#[derive(Args, Debug)]
pub struct InspectArgs {
    /// Tensor files (.safetensors, .pt, .npy).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Also write the listing as JSON to PATH (`-` for stdout, which then replaces the table).
    #[arg(long, value_name = "PATH")]
    pub json: Option<String>,
}

pub fn run(a: InspectArgs) -> Result<i32> {
    let files = crate::io::load_all(&a.files)?;
    let rows = inspect::inspect(&files);
    if a.json.as_deref() != Some("-") {
        print!("{}", inspect::render(&files, &rows));
    }
    if let Some(dest) = &a.json {
        write_json(dest, &inspect::to_json(&rows))?;
    }
    Ok(0)
}
