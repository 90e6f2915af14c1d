//! Tests that call the library directly: codecs, quantizers, GEMMs and readers against golden data made by
//! PyTorch / numpy (fixtures/gen), crafted cases and independent references.

mod common;

#[path = "numerics/codecs_golden.rs"]
mod codecs_golden;
#[path = "numerics/gemm_cases.rs"]
mod gemm_cases;
#[path = "numerics/gemm_golden.rs"]
mod gemm_golden;
#[path = "numerics/gemm_reference.rs"]
mod gemm_reference;
#[path = "numerics/io_golden.rs"]
mod io_golden;
#[path = "numerics/quant_crafted.rs"]
mod quant_crafted;
#[path = "numerics/quant_golden.rs"]
mod quant_golden;
#[path = "numerics/tc_device.rs"]
mod tc_device;
#[path = "numerics/tc_published.rs"]
mod tc_published;
#[path = "numerics/tc_scaled_mm.rs"]
mod tc_scaled_mm;
