//! The jobs `isolate` runs: inspection, casts, quant verification, fingerprinting, GEMM isolation,
//! dump comparison, benchmarks.

pub mod bench;
pub mod compare;
pub mod inspect;
pub mod selftest;
