//! The jobs `isolate` runs: inspection, casts, quant verification, fingerprinting, GEMM isolation,
//! dump comparison, benchmarks.

pub mod bench;
pub mod compare;
pub mod fingerprint;
pub mod fingerprint_gpu;
pub mod gemm_attribution;
pub mod gemm_fingerprint;
pub mod gemm_isolate;
pub mod inspect;
pub mod quant_cause;
pub mod quant_kernel;
pub mod quant_verify;
pub mod selftest;
