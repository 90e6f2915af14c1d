//! Hopper (sm_90) FP8 tensor cores, `wgmma.mma_async … .f32.e4m3|e5m2` (what DeepGEMM SM90 and cuBLASLt
//! run): one fused step per k = 32 products, [`super::nv`] with F = 13 fraction bits below the largest
//! exponent (C included) and the result truncated to 14 significant bits (an f32 whose 10 low mantissa bits
//! are zero).
//!
//! Evidence (docs/numerics.md §8.7): the published H100 and H200 vectors (5000/5000 per format), our H200
//! probes with a non-zero C (every output), and real `torch._scaled_mm` outputs (every case).
//!
//! Not this model: Hopper's `mma.sync` FP8 (measured, not modelled: docs/numerics.md §8.7).

use super::nv::{fused, NvParams};
use crate::formats::Fp8Format;

/// The model's parameters.
pub const PARAMS: NvParams = NvParams::FP8_13;

/// One k = 32 step: the new C.
pub fn step(c: f32, a: &[f32], fa: Fp8Format, b: &[f32], fb: Fp8Format) -> f32 {
    fused(c, a, fa, b, fb, &PARAMS)
}
