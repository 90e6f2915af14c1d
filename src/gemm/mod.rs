//! GEMM emulation: GemmSpec axes, presets and the CPU implementation.
//!
//! C[M,N] = A[M,K] · B[N,K]ᵀ with A's 1×G and B's 128×128 scales (docs/numerics.md §8.1); the exact
//! definition of every axis is in [`cpu`].

pub mod choice;
pub mod cpu;
pub mod exact;
pub mod kernels;
pub mod load;
pub mod mma;
pub mod mma_plan;
pub mod operand;
pub mod output;
pub mod plan;
pub mod spec;

pub use choice::{GemmChoice, GpuGemm};
pub use cpu::{gemm, gemm_many, gemm_with_progress, Fold};
pub use operand::Operand;
pub use output::GemmOutput;
pub use spec::{Acc, Dequant, Epilogue, GemmSpec, OutType, Preset, Promote, ScaleOrder};
