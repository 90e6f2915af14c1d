//! Quantizers: QuantSpec axes, presets and the CPU implementation.
