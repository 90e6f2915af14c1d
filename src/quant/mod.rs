//! Quantizers: QuantSpec axes, presets and the CPU implementation.
//!
//! - `spec`: the axes and the `preset[,axis=value]...` strings; `presets`: the named quantizers and their
//!   sources; `scale` and `element`: the per-group and per-element rules; `cpu`: tensors in, [`Quantized`]
//!   out; `layout`: dumped scale tensors (row / column-major / TMA-aligned / packed UE8M0) and payloads.

pub mod axis;
pub mod cpu;
pub mod element;
pub mod layout;
pub mod presets;
pub mod quantized;
pub mod scale;
pub mod spec;

pub use cpu::{quantize_activation, quantize_weight, NonFinite};
pub use quantized::Quantized;
pub use spec::QuantSpec;
