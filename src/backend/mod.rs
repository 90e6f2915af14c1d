//! Compute backends: one trait, implementations for the CPU (always there, the reference) and CUDA.
