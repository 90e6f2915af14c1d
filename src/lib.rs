//! `isolate`: tells an inference engineer where and why their FP8 model's numbers diverge from a reference.
//!
//! Data flow (docs/ARCHITECTURE.md): `io` loads tensors → `formats` decodes them bit-exactly → `quant` and
//! `gemm` emulate real kernels (on a `backend`) → `experiment` turns a typed request into a result → `report`
//! renders it as a terminal table, JSON, Markdown or HTML. `cli` turns flags into requests.
//! `kernel_ref`, `spec_syntax` and `testdata` are leaves every layer may use.

#[cfg(test)]
mod architecture;
pub mod backend;
pub mod cli;
pub mod error;
pub mod experiment;
pub mod formats;
pub mod gemm;
pub mod io;
pub mod kernel_ref;
pub mod metrics;
pub mod quant;
pub mod report;
pub mod spec_syntax;
pub mod testdata;

pub use error::{Error, Result};
