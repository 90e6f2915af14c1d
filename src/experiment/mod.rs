//! The jobs `isolate` runs: inspection, casts, quant verification, fingerprinting, GEMM isolation,
//! dump comparison, benchmarks.

pub mod compare;
pub mod inspect;
pub mod gemm_fingerprint;
pub mod gemm_isolate;
