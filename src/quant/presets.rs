//! The quant presets (docs/numerics.md §6), each bit-exact to the implementation it is named after.
//!
//! Sources (sections of docs/numerics.md; §1 lists the commits read):
//! - `deepseek-v32`, `deepseek-v32-ue8m0`: DeepSeek-V3.2-Exp `inference/kernel.py::act_quant_kernel` (TileLang,
//!   `TL_DISABLE_FAST_MATH`), §6.1: `amax = max(absmax, 1e-4)`, `s = amax · fp8_max_inv` (the
//!   Python f64 1/448 used as the f32 constant 0x3B124925) or `fast_pow2(fast_log2_ceil(amax · fp8_max_inv))`,
//!   `y = clamp(x / s, ±448)` (IEEE division), cast to e4m3. K must be a multiple of 128 (asserted).
//!   DeepSeek V4's `act_quant` has the same arithmetic (§6.1).
//! - `deepgemm`, `deepgemm-ue8m0`: DeepGEMM `deep_gemm/utils/math.py::per_token_cast_to_fp8` on CUDA (§6.2):
//!   K zero-padded to the group, `amax = x.abs().float().amax().clamp(1e-4)`, `sf = amax / 448.0`
//!   (= amax · fl32(1/448) on CUDA, §11.1), `sf = ceil_to_ue8m0(sf)` (exponent ceil, code clamped to
//!   [1, 254]), `q = (x · (1.0 / sf)).to(float8_e4m3fn)`: no clamp, torch's non-saturating cast.
//! - `vllm`, `vllm-ue8m0`: vLLM `csrc/quantization/.../per_token_group_quant.cu` (the shared-memory kernel,
//!   §6.3): `absmax = fmaxf(eps, max|x|)` with eps = 1e-10, `y_s = absmax / max` (IEEE), for ue8m0
//!   `y_s = exp2f(ceilf(log2f(fmaxf(|y_s|, 1e-10f))))`, `q = fminf(fmaxf(x / y_s, −max), max)`, then the
//!   cast. Newer vLLM (2026) sends bf16/f16 input with G = 128 through a register kernel whose ue8m0 scale is
//!   the bit-exact ceil: that is `vllm-ue8m0,pow2=ceil`. vLLM's Triton fallback divides with Triton's `/`
//!   (div.full.f32, ≤ 2 ulp, not IEEE: §5.10), which no CPU preset reproduces bit for bit;
//!   neither does the DeepSeek-V3 Triton `act_quant` for the same reason.
//! - `torch-e8m0`: ATOM `atom/model_ops/quant_v4.py::act_quant_inplace` (§6.4): `amax.clamp(min=1e-4)`,
//!   `scale = amax · (1/448)`, `scale = e8m0_to_f32(f32_to_e8m0(scale))` (legacy aiter = torch's e8m0 cast:
//!   nearest, ≥ 1.5 rounds up), `(x / scale).clamp(±448).to(float8_e4m3fn)`.
//! - `aiter`, `aiter-fnuz`: aiter HIP `dynamic_per_group_scaled_quant_kernel` (§6.5): `absMax` starts at
//!   1e-10f, `scale = absMax · (float)(1./DTYPE_MAX)`, `q = x · (1.0f / scale)` (assumed correctly rounded:
//!   no fast math), clamp to ±max (v_med3), hardware RNE cast; e4m3fnuz with max 240 on MI300.
//!
//! NaN: torch-based sources (DeepGEMM, ATOM) and vLLM's fmaxf arithmetic define what a NaN does; the
//! TileLang and HIP kernels' NaN behaviour depends on how their max/clamp lower, which is not pinned down,
//! so those presets reject NaN/Inf input.

use crate::formats::{Fp8Format, Overflow};
use crate::quant::spec::{EpsOn, NanRule, Pow2, QRule, QuantSpec, ScaleRule};

const fn base() -> QuantSpec {
    QuantSpec {
        identity: false,
        fp8: Fp8Format::E4m3fn,
        max: None,
        eps: 1e-4f64 as f32,
        eps_on: EpsOn::Amax,
        scale: ScaleRule::Mul,
        pow2: Pow2::None,
        code_clamp: false,
        q: QRule::Div,
        clamp: true,
        overflow: Overflow::Saturate,
        nan: NanRule::Reject,
        pad: false,
        group: 128,
    }
}

/// DeepSeek-V3.2-Exp TileLang `act_quant`, `scale_fmt=None` (docs/numerics.md §6.1).
pub const DEEPSEEK_V32: QuantSpec = base();

/// DeepSeek-V3.2-Exp TileLang `act_quant`, `scale_fmt="ue8m0"`: bit-exact ceil, no code clamp (docs/numerics.md §6.1).
pub const DEEPSEEK_V32_UE8M0: QuantSpec = QuantSpec {
    pow2: Pow2::Ceil,
    ..base()
};

/// DeepGEMM `per_token_cast_to_fp8(use_ue8m0=False)` on CUDA (docs/numerics.md §6.2).
pub const DEEPGEMM: QuantSpec = QuantSpec {
    q: QRule::Mul,
    clamp: false,
    overflow: Overflow::Nan,
    nan: NanRule::Propagate,
    pad: true,
    ..base()
};

/// DeepGEMM `per_token_cast_to_fp8(use_ue8m0=True)` on CUDA: `ceil_to_ue8m0` codes clamped to [1, 254]
/// (docs/numerics.md §6.2).
pub const DEEPGEMM_UE8M0: QuantSpec = QuantSpec {
    pow2: Pow2::Ceil,
    code_clamp: true,
    ..DEEPGEMM
};

/// vLLM CUDA `per_token_group_quant_8bit` (fp32 scales, docs/numerics.md §6.3).
pub const VLLM: QuantSpec = QuantSpec {
    eps: 1e-10f64 as f32,
    scale: ScaleRule::Div,
    nan: NanRule::Ignore,
    ..base()
};

/// vLLM CUDA `per_token_group_quant_8bit` with `SCALE_UE8M0` (float path, docs/numerics.md §6.3).
pub const VLLM_UE8M0: QuantSpec = QuantSpec {
    eps_on: EpsOn::Both,
    pow2: Pow2::FloatCeil,
    ..VLLM
};

/// ATOM `act_quant_inplace(scale_fmt="ue8m0")` (legacy aiter / torch e8m0 rounding, docs/numerics.md §6.4).
pub const TORCH_E8M0: QuantSpec = QuantSpec {
    pow2: Pow2::Nearest,
    overflow: Overflow::Nan,
    nan: NanRule::Propagate,
    ..base()
};

/// aiter HIP dynamic per-group quant, e4m3fn (MI350 and others, docs/numerics.md §6.5).
pub const AITER: QuantSpec = QuantSpec {
    eps: 1e-10f64 as f32,
    q: QRule::Mul,
    ..base()
};

/// aiter HIP dynamic per-group quant on MI300 (gfx942): e4m3fnuz, max 240 (docs/numerics.md §6.5).
pub const AITER_FNUZ: QuantSpec = QuantSpec {
    fp8: Fp8Format::E4m3fnuz,
    ..AITER
};

/// No quantization (`none`).
pub const NONE: QuantSpec = QuantSpec {
    identity: true,
    ..base()
};

/// Every preset, in the order of docs/numerics.md §6 (ties in canonical printing go to the earlier one).
pub static PRESETS: [(&str, QuantSpec); 10] = [
    ("deepseek-v32", DEEPSEEK_V32),
    ("deepseek-v32-ue8m0", DEEPSEEK_V32_UE8M0),
    ("deepgemm", DEEPGEMM),
    ("deepgemm-ue8m0", DEEPGEMM_UE8M0),
    ("vllm", VLLM),
    ("vllm-ue8m0", VLLM_UE8M0),
    ("torch-e8m0", TORCH_E8M0),
    ("aiter", AITER),
    ("aiter-fnuz", AITER_FNUZ),
    ("none", NONE),
];

/// The preset called `name`.
pub fn preset(name: &str) -> Option<QuantSpec> {
    PRESETS.iter().find(|(n, _)| *n == name).map(|(_, p)| *p)
}

/// Every preset name.
pub fn names() -> Vec<&'static str> {
    PRESETS.iter().map(|(n, _)| *n).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The table of docs/numerics.md §6, axis by axis.
    #[test]
    fn presets_match_design_table() {
        use Pow2::*;
        #[rustfmt::skip]
        let rows: [(&str, f32, ScaleRule, Pow2, QRule, bool, Fp8Format); 9] = [
            ("deepseek-v32", 1e-4, ScaleRule::Mul, None, QRule::Div, true, Fp8Format::E4m3fn),
            ("deepseek-v32-ue8m0", 1e-4, ScaleRule::Mul, Ceil, QRule::Div, true, Fp8Format::E4m3fn),
            ("deepgemm", 1e-4, ScaleRule::Mul, None, QRule::Mul, false, Fp8Format::E4m3fn),
            ("deepgemm-ue8m0", 1e-4, ScaleRule::Mul, Ceil, QRule::Mul, false, Fp8Format::E4m3fn),
            ("vllm", 1e-10, ScaleRule::Div, None, QRule::Div, true, Fp8Format::E4m3fn),
            ("vllm-ue8m0", 1e-10, ScaleRule::Div, FloatCeil, QRule::Div, true, Fp8Format::E4m3fn),
            ("torch-e8m0", 1e-4, ScaleRule::Mul, Nearest, QRule::Div, true, Fp8Format::E4m3fn),
            ("aiter", 1e-10, ScaleRule::Mul, None, QRule::Mul, true, Fp8Format::E4m3fn),
            ("aiter-fnuz", 1e-10, ScaleRule::Mul, None, QRule::Mul, true, Fp8Format::E4m3fnuz),
        ];
        for (name, eps, scale, pow2, q, clamp, fp8) in rows {
            let p = preset(name).unwrap();
            assert_eq!(
                (p.eps, p.scale, p.pow2, p.q, p.clamp, p.fp8),
                (eps, scale, pow2, q, clamp, fp8),
                "{name}"
            );
            assert_eq!(p.group, 128);
        }
        let (dg, ds) = (
            preset("deepgemm-ue8m0").unwrap(),
            preset("deepseek-v32-ue8m0").unwrap(),
        );
        assert!(dg.code_clamp && !ds.code_clamp);
        assert_eq!(DEEPGEMM.overflow, Overflow::Nan);
        assert_eq!(AITER_FNUZ.max_value(), 240.0);
        assert!(preset("none").unwrap().is_none());
        assert_eq!(names().len(), PRESETS.len());
    }
}
