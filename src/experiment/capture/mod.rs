//! `isolate capture ls|check|import`: capture directories (python/FORMAT.md) as experiments — what a directory
//! holds ([`ls`]), whether it is complete and consistent ([`check`]), and SGLang dumper output converted into
//! one ([`sglang`]).

pub mod check;
pub mod sglang;

use std::path::{Path, PathBuf};

use crate::error::Result;
use crate::io::capture::Capture;

pub use check::{check, CheckReport, Problem};
pub use sglang::{import_sglang, ImportReport};

/// What `isolate capture ls` shows: the manifest, and whether each file it names is there.
pub struct Listing {
    pub capture: Capture,
    /// (relative file, exists) for every site file and hidden-state file, in manifest order.
    pub files: Vec<(String, bool)>,
}

/// Reads a capture directory's manifest and looks for its files.
pub fn ls(dir: &Path) -> Result<Listing> {
    let capture = Capture::open(dir)?;
    let m = &capture.manifest;
    let rels = m
        .sites
        .values()
        .flat_map(|s| s.calls.iter().map(|c| c.file.clone()))
        .chain(m.stages.iter().map(|s| s.file.clone()));
    let files = rels
        .map(|f| {
            let ok = capture.file_path(&f).map(|p| p.is_file()).unwrap_or(false);
            (f, ok)
        })
        .collect();
    Ok(Listing { capture, files })
}

/// `sites/**.safetensors` files under `dir` (relative, sorted), for orphan detection.
pub fn site_files_on_disk(dir: &Path) -> Vec<String> {
    fn walk(root: &Path, d: &Path, out: &mut Vec<String>) {
        let Ok(rd) = std::fs::read_dir(d) else {
            return;
        };
        for e in rd.flatten() {
            let p: PathBuf = e.path();
            if p.is_dir() {
                walk(root, &p, out);
            } else if p.extension().is_some_and(|x| x == "safetensors") {
                if let Ok(r) = p.strip_prefix(root) {
                    out.push(r.to_string_lossy().replace('\\', "/"));
                }
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, &dir.join("sites"), &mut out);
    out.sort();
    out
}
