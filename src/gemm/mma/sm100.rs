//! Blackwell (sm_100) `tcgen05.mma` kind::f8f6f4 with e4m3/e5m2 operands: one fused step per k = 32,
//! [`super::nv`] with F = 25 fraction bits below the largest exponent (C included) and the result
//! truncated to f32 (24 significant bits).
//!
//! Evidence (published data only; no Blackwell card was available to us): MATLAB-tensor-core
//! `models/B200TC.m` (fp8: `fma = 32`, `neab = 2` → 23 + 2 = 25 fraction bits, `frmode = 'rz'`) with its
//! 5000 B200 validation vectors per format (`tests/tc_published.rs`); MMA-Sim `nv_ptx.py::tcgen05mma`
//! (25 fractional bits, f32 RZ output).

use super::nv::{fused, NvParams};
use crate::formats::Fp8Format;

/// The model's parameters.
pub const PARAMS: NvParams = NvParams::F8F6F4_25;

/// One k = 32 step: the new C.
pub fn step(c: f32, a: &[f32], fa: Fp8Format, b: &[f32], fb: Fp8Format) -> f32 {
    fused(c, a, fa, b, fb, &PARAMS)
}
