//! Tests that run the `isolate` binary: CLI behaviour, exit codes, bad input, end to end on the bundled fixtures.

mod common;

#[path = "cli/backend.rs"]
mod backend;
#[path = "cli/capture.rs"]
mod capture;
#[path = "cli/compare_fwd.rs"]
mod compare_fwd;
#[path = "cli/compare_golden.rs"]
mod compare_golden;
#[path = "cli/compare_schema.rs"]
mod compare_schema;
#[path = "cli/compare_slots.rs"]
mod compare_slots;
#[path = "cli/compare_util.rs"]
mod compare_util;
#[path = "cli/determinism.rs"]
mod determinism;
#[path = "cli/envelope_cases.rs"]
mod envelope_cases;
#[path = "cli/fingerprint.rs"]
mod fingerprint;
#[path = "cli/gate.rs"]
mod gate;
#[path = "cli/gemm.rs"]
mod gemm;
#[path = "cli/gemm_demo.rs"]
mod gemm_demo;
#[path = "cli/gemm_gpu_only.rs"]
mod gemm_gpu_only;
#[path = "cli/hostile_sizes.rs"]
mod hostile_sizes;
#[path = "cli/inspect_cast.rs"]
mod inspect_cast;
#[path = "cli/io_bad_input.rs"]
mod io_bad_input;
#[path = "cli/output.rs"]
mod output;
#[path = "cli/quant.rs"]
mod quant;
#[path = "cli/quant_bad_input.rs"]
mod quant_bad_input;
#[path = "cli/quant_demo.rs"]
mod quant_demo;
#[path = "cli/quant_util.rs"]
mod quant_util;
#[path = "cli/simt.rs"]
mod simt;
