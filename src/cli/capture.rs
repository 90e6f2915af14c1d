//! `isolate capture ls|check DIR` and `isolate capture import sglang SRC DIR`: capture directories
//! (python/FORMAT.md) — list, check, and convert SGLang dumper output into one.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::cli::args::OutputArgs;
use crate::error::Result;
use crate::experiment::capture;
use crate::report::emit;

#[derive(Args, Debug)]
pub struct CaptureArgs {
    #[command(subcommand)]
    pub sub: CaptureSub,
}

#[derive(Subcommand, Debug)]
pub enum CaptureSub {
    /// Sites, calls, roles with dtypes and shapes, the scale meaning, and the hidden-state files.
    Ls {
        /// The capture directory.
        dir: PathBuf,
        #[command(flatten)]
        out: OutputArgs,
    },
    /// Is the capture complete (every file there, the roles each kind needs, dtypes and shapes as the manifest
    /// says)? Exit 0 complete, 1 incomplete, 2 unreadable.
    Check {
        dir: PathBuf,
        #[command(flatten)]
        out: OutputArgs,
    },
    /// Convert another dumper's output into a capture directory.
    Import {
        #[command(subcommand)]
        from: ImportFrom,
    },
}

#[derive(Subcommand, Debug)]
pub enum ImportFrom {
    /// SGLang's dumper (DUMPER_ENABLE=1; sglang/srt/debug_utils/dumper.py): SRC is DUMPER_DIR or one of its
    /// dump_* folders. A dump named `PREFIX.ROLE` (ROLE: x, xq, xs, w, ws, target_out, bias, ref_out) with
    /// layer_id L becomes role ROLE of site `layerL.PREFIX`, call = step; other tensors become hidden states.
    Sglang {
        src: PathBuf,
        /// The new capture directory (must not exist or be empty).
        dir: PathBuf,
        #[command(flatten)]
        out: OutputArgs,
    },
}

pub fn run(a: CaptureArgs) -> Result<i32> {
    match a.sub {
        CaptureSub::Ls { dir, out } => {
            emit(&capture::ls(&dir)?, &out.outputs())?;
            Ok(0)
        }
        CaptureSub::Check { dir, out } => {
            let r = capture::check(&dir)?;
            emit(&r, &out.outputs())?;
            Ok(r.exit_code())
        }
        CaptureSub::Import {
            from: ImportFrom::Sglang { src, dir, out },
        } => {
            emit(&capture::import_sglang(&src, &dir)?, &out.outputs())?;
            Ok(0)
        }
    }
}
