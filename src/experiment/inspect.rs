//! `isolate inspect`: one row per tensor with its dtype, shape and value summary.

use std::path::PathBuf;

use crate::error::Result;
use crate::metrics::{summarize, Summary};

/// One tensor's row.
pub struct Row {
    pub file: String,
    pub name: String,
    pub dtype: String,
    pub shape: Vec<usize>,
    pub summary: Option<Summary>,
}

/// One file: its tensors' rows and the loader's notes (entries skipped).
pub struct FileRows {
    pub file: String,
    pub rows: Vec<Row>,
    pub notes: Vec<String>,
}

/// Loads and summarises every tensor of every file (floating tensors get min/max/mean/NaN/inf).
pub fn run(files: &[PathBuf]) -> Result<Vec<FileRows>> {
    let loaded = crate::io::load_all(files)?;
    Ok(loaded
        .iter()
        .map(|f| {
            let file = f.path.display().to_string();
            FileRows {
                rows: f
                    .tensors
                    .iter()
                    .map(|t| Row {
                        file: file.clone(),
                        name: t.name.clone(),
                        dtype: t.dtype.to_string(),
                        shape: t.shape.clone(),
                        summary: t.dtype.is_float().then(|| summarize(t)),
                    })
                    .collect(),
                notes: f.notes.clone(),
                file,
            }
        })
        .collect())
}
