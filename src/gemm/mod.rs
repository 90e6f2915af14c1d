//! GEMM emulation: GemmSpec axes, presets and the CPU implementation.

pub mod spec;

pub use spec::{Acc, Dequant, GemmSpec, OutType, Preset, Promote, ScaleOrder};
