//! Ada (sm_89) FP8 tensor cores, `mma.sync.m16n8k32 … .f32.e4m3|e5m2`: the k = 32 instruction is two chained
//! fused steps of 16 products, each [`super::nv`] with F = 13 and a 14-bit truncated result (C of the
//! second step = result of the first).
//!
//! Evidence (published data only; no Ada card was available to us): the published Ada and L40S vectors,
//! 5000/5000 per format (docs/numerics.md §8.7).

use super::nv::{fused, NvParams};
use crate::formats::Fp8Format;

/// The parameters of each 16-product step.
pub const PARAMS: NvParams = NvParams::FP8_13;

/// One 16-product step: the new C.
pub fn step(c: f32, a: &[f32], fa: Fp8Format, b: &[f32], fb: Fp8Format) -> f32 {
    fused(c, a, fa, b, fb, &PARAMS)
}
