//! GEMM emulation: GemmSpec axes, presets and the CPU implementation.
