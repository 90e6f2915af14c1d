//! Blackwell (sm_100) `tcgen05.mma` kind::f8f6f4 with e4m3/e5m2 operands: one fused step per k = 32,
//! [`super::nv`] with F = 25 fraction bits below the largest exponent (C included) and the result
//! truncated to f32 (24 significant bits).
//!
//! Evidence: one public model of `tcgen05` only; the published B200 vectors were made with `mma.sync` and do
//! not back it (docs/numerics.md §8.7). No Blackwell card was available to us.

use super::nv::{fused, NvParams};
use crate::formats::Fp8Format;

/// The model's parameters.
pub const PARAMS: NvParams = NvParams::F8F6F4_25;

/// One k = 32 step: the new C.
pub fn step(c: f32, a: &[f32], fa: Fp8Format, b: &[f32], fb: Fp8Format) -> f32 {
    fused(c, a, fa, b, fb, &PARAMS)
}
