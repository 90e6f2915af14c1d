//! `isolate`: tells an inference engineer where and why their FP8 model's numbers diverge from a reference.
//!
//! Data flow (design.md): `io` loads tensors → `formats` decodes them bit-exactly → `quant` and `gemm`
//! emulate real kernels (on a `backend`) → `experiment` runs the isolation, verification, fingerprint and
//! compare jobs → `report` prints tables, JSON, Markdown and HTML. `cli` parses the command line.

pub mod backend;
pub mod cli;
pub mod error;
pub mod experiment;
pub mod formats;
pub mod gemm;
pub mod io;
pub mod metrics;
pub mod quant;
pub mod report;

pub use error::{Error, Result};
