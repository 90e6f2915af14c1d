//! Ada (sm_89) FP8 tensor cores, `mma.sync.m16n8k32 … .f32.e4m3|e5m2`: the k = 32 instruction is two chained
//! fused steps of 16 products, each [`super::nv`] with F = 13 and a 14-bit truncated result (C of the
//! second step = result of the first).
//!
//! Evidence (published data only; no Ada card was available to us): MATLAB-tensor-core `models/AdaTC.m`
//! and `L40STC.m` (fp8: `fma = 16`, `neab = −10`, `frmode = 'rz'`) with their 5000 Ada and L40S validation
//! vectors per format (`tests/tc_published.rs`); MMA-Sim `nv_ptx.py::mma` ("Ada Lovelace" fp8: split-k
//! into two halves of 16, 13 fractional bits, output `f32_e8m13`).

use super::nv::{fused, NvParams};
use crate::formats::Fp8Format;

/// The parameters of each 16-product step.
pub const PARAMS: NvParams = NvParams::FP8_13;

/// One 16-product step: the new C.
pub fn step(c: f32, a: &[f32], fa: Fp8Format, b: &[f32], fb: Fp8Format) -> f32 {
    fused(c, a, fa, b, fb, &PARAMS)
}
