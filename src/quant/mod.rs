//! Quantizers: QuantSpec axes, presets and the CPU implementation.

pub mod quantized;

pub use quantized::Quantized;
