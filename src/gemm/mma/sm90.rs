//! Hopper (sm_90) FP8 tensor cores, `wgmma.mma_async … .f32.e4m3|e5m2` (what DeepGEMM SM90 and cuBLASLt
//! run): one fused step per k = 32 products, [`super::nv`] with F = 13 fraction bits below the largest
//! exponent (C included) and the result truncated to 14 significant bits (an f32 whose 10 low mantissa bits
//! are zero).
//!
//! Evidence: MATLAB-tensor-core `models/H100TC.m` (fp8: `fma = 32`, `neab = −10` → 23 − 10 = 13 fraction bits
//! for terms and result, `frmode = 'rz'`, `denorm_prd = 1`; `H200TC.m` is the same model) and its 5000
//! H100 and H200 validation vectors per format (C = 0 there: their WGMMA probe starts from a zero
//! accumulator), reproduced by `tests/tc_published.rs`; MMA-Sim `nv_ptx.py::wgmma` (fp8: 13 fractional bits,
//! output `f32_e8m13`, i.e. RZ to 13 fraction bits); DeepSeek-V3 report §3.5.2 ("limited to retaining around
//! 14 bits"); our own H200 probes with a non-zero C (`fixtures/gen/tc_probe.py`, `tests/tc_device.rs`).
//!
//! Not this model: Hopper's `mma.sync` FP8 (MMA-Sim does not list it for sm_90; the probe measures it).

use super::nv::{fused, NvParams};
use crate::formats::Fp8Format;

/// The model's parameters.
pub const PARAMS: NvParams = NvParams::FP8_13;

/// One k = 32 step: the new C.
pub fn step(c: f32, a: &[f32], fa: Fp8Format, b: &[f32], fb: Fp8Format) -> f32 {
    fused(c, a, fa, b, fb, &PARAMS)
}
