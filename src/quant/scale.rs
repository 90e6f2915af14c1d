//! The scale of one group: amax → eps floor → raw scale → power-of-two rounding. Pure scalar functions, one
//! rule each, as the sources of docs/numerics.md §5–§6 compute them (cited per function).

use crate::formats::e8m0::{self, E8m0Round};
use crate::quant::spec::{EpsOn, NanRule, Pow2, QuantSpec, ScaleRule};

/// max |x| of a group in f32 (exact: |x| and max round nothing).
///
/// `Propagate` (torch `x.abs().float().amax()`): any NaN makes the result NaN. `Ignore` (CUDA `fmaxf`, vLLM's
/// `local_absmax = fmaxf(local_absmax, fabsf(x))`): NaN elements are skipped; all-NaN gives 0 (the eps floor
/// then decides). Computed on magnitude bits, which order like the values for non-NaN floats.
pub fn amax(xs: &[f32], nan: NanRule) -> f32 {
    let mut m: u32 = 0;
    match nan {
        NanRule::Ignore => {
            for &x in xs {
                let b = x.to_bits() & 0x7FFF_FFFF;
                let b = if b > 0x7F80_0000 { 0 } else { b };
                m = m.max(b);
            }
        }
        NanRule::Propagate | NanRule::Reject => {
            for &x in xs {
                m = m.max(x.to_bits() & 0x7FFF_FFFF);
            }
        }
    }
    if m > 0x7F80_0000 {
        f32::NAN
    } else {
        f32::from_bits(m)
    }
}

/// `max(v, eps)` as the sources floor it: torch `clamp(min=eps)` and TileLang `T.max` keep a NaN, CUDA
/// `fmaxf(eps, v)` never sees one (amax under `Ignore` is never NaN).
pub fn floor_eps(v: f32, eps: f32) -> f32 {
    if v.is_nan() {
        v
    } else {
        v.max(eps)
    }
}

/// fl32(1/max): `1.0f32 / max` is the correctly rounded reciprocal; for 448, 240 and 224 it equals the
/// f64-then-f32 constant of Python/TileLang/aiter (0x3B124925, 0x3B888889, 0x3B924925; tested).
pub fn inv_max(max: f32) -> f32 {
    1.0 / max
}

/// The raw scale amax/max: IEEE division (vLLM CUDA) or multiplication by fl32(1/max) (TileLang, aiter HIP,
/// torch on CUDA with a Python-float divisor: docs/numerics.md §5.4, §11.1).
pub fn raw_scale(amax: f32, max: f32, rule: ScaleRule) -> f32 {
    match rule {
        ScaleRule::Div => amax / max,
        ScaleRule::Mul => amax * inv_max(max),
    }
}

/// Bit-exact exponent ceil of s ≥ 0 as an f32, as `fast_pow2(fast_log2_ceil(s))` (DeepSeek V3.2 TileLang) and
/// DeepGEMM `ceil_to_ue8m0` compute it: code = exponent field + (mantissa ≠ 0), result = `code << 23` as f32.
/// With `clamp` the code is clamped to [1, 254] (DeepGEMM: NaN → 256 → 254, inf → 254, 0 → 1). Without it
/// code 0 gives 0.0, 255 gives inf, and NaN stays NaN (TileLang's `fast_pow2` of 128 would be garbage; the
/// presets that do not clamp reject NaN input).
pub fn pow2_ceil(s: f32, clamp: bool) -> f32 {
    let b = s.to_bits() & 0x7FFF_FFFF;
    let code = (b >> 23) + ((b & 0x7F_FFFF) != 0) as u32;
    if clamp {
        f32::from_bits(code.clamp(1, 254) << 23)
    } else if s.is_nan() {
        f32::NAN
    } else {
        f32::from_bits(code.min(255) << 23)
    }
}

/// `exp2f(ceilf(log2f(s)))` with CUDA's log2f (vLLM CUDA; docs/numerics.md §3.3, measured table in
/// `formats::e8m0`). With `clamp` the result's exponent code is then clamped to [1, 254].
pub fn pow2_float_ceil(s: f32, clamp: bool) -> f32 {
    let v = e8m0::float_ceil_pow2(s);
    if clamp {
        let code = ((v.to_bits() >> 23) & 0xFF).clamp(1, 254);
        f32::from_bits(code << 23)
    } else {
        v
    }
}

/// torch's fp32 → float8_e8m0fnu cast and back (`c10/util/Float8_e8m0fnu-inl.h`; legacy aiter
/// `f32_to_e8m0` + `e8m0_to_f32`): code 0 → 2^-127, 0xFF → NaN.
pub fn pow2_nearest(s: f32, clamp: bool) -> f32 {
    let c = e8m0::encode(s, E8m0Round::Nearest);
    e8m0::decode(if clamp { e8m0::clamp_deepgemm(c) } else { c })
}

/// aiter RoundDown (`floor_impl(amax / 2^target_max_pow2)`, docs/numerics.md §5.5): the exponent field of
/// amax·2^-t (the f32 product rounds only into the subnormal range, as the division does), decoded with
/// `e8m0_to_f32` (0 → 2^-127, 0xFF → NaN).
pub fn pow2_floor(amax: f32, target_max_pow2: i32, clamp: bool) -> f32 {
    let d = amax * f32::from_bits(((127 - target_max_pow2) as u32) << 23);
    let c = ((d.to_bits() >> 23) & 0xFF) as u8;
    e8m0::decode(if clamp { e8m0::clamp_deepgemm(c) } else { c })
}

/// aiter Even (docs/numerics.md §3.6, §5.5): amax rounded to `mbits` mantissa bits by
/// `(bits + (1 << (22 − mbits))) & 0xFF800000`, then `floor_impl(· / 2^t)` = max(exponent − t, 0); inf (or a
/// carry into the inf exponent) → 0xFF. A NaN amax is the canonical NaN 0x7FFFFFFF that CUDA/HIP arithmetic
/// (torch's amax and clamp) produces; the integer add wraps it to −0, so the code is 0 (2^-127), as the
/// golden PyTorch run on an H100 shows.
pub fn pow2_even(amax: f32, target_max_pow2: i32, mbits: u32, clamp: bool) -> f32 {
    let bits = if amax.is_nan() {
        0x7FFF_FFFF
    } else {
        amax.to_bits() & 0x7FFF_FFFF
    };
    let e = e8m0::even_exponent(bits, mbits);
    let c = if e == 0xFF {
        0xFF
    } else {
        e.saturating_sub(target_max_pow2 as u32) as u8
    };
    e8m0::decode(if clamp { e8m0::clamp_deepgemm(c) } else { c })
}

/// The dequant scale of a group whose amax (under the spec's NaN rule) is `amax`.
pub fn group_scale(spec: &QuantSpec, amax: f32) -> f32 {
    let floor_amax = matches!(spec.eps_on, EpsOn::Amax | EpsOn::Both);
    let floor_scale = matches!(spec.eps_on, EpsOn::Scale | EpsOn::Both);
    let a = if floor_amax {
        floor_eps(amax, spec.eps)
    } else {
        amax
    };
    let t = spec.target_max_pow2();
    match spec.pow2 {
        Pow2::Floor => return pow2_floor(a, t, spec.code_clamp),
        Pow2::Even => return pow2_even(a, t, spec.fp8.mantissa_bits(), spec.code_clamp),
        _ => {}
    }
    let mut s = raw_scale(a, spec.max_value(), spec.scale);
    if floor_scale {
        s = floor_eps(s, spec.eps);
    }
    match spec.pow2 {
        Pow2::None => s,
        Pow2::Ceil => pow2_ceil(s, spec.code_clamp),
        Pow2::FloatCeil => pow2_float_ceil(s, spec.code_clamp),
        Pow2::Nearest => pow2_nearest(s, spec.code_clamp),
        Pow2::Floor | Pow2::Even => unreachable!("handled above"),
    }
}

/// The E8M0 code of a scale value, when it has one: 0.0 and 2^-127 → 0, 2^k → k + 127, inf and NaN → 0xFF;
/// None for a value that is not a power of two (an f32 scale that E8M0 cannot hold).
pub fn e8m0_code_of(s: f32) -> Option<u8> {
    let b = s.to_bits() & 0x7FFF_FFFF;
    if s.is_nan() || b == 0x7F80_0000 {
        return Some(0xFF);
    }
    if b == 0 || b == 0x0040_0000 {
        return Some(0);
    }
    if b & 0x7F_FFFF == 0 && s > 0.0 {
        return Some((b >> 23) as u8);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::presets::{self, preset};

    fn p2(k: i32) -> f32 {
        2f32.powi(k)
    }

    #[test]
    fn reciprocal_constants() {
        assert_eq!(inv_max(448.0).to_bits(), 0x3B12_4925);
        assert_eq!(inv_max(240.0).to_bits(), 0x3B88_8889);
        assert_eq!(inv_max(224.0).to_bits(), 0x3B92_4925);
        for m in [448.0f32, 240.0, 224.0, 57344.0, 6.0] {
            assert_eq!(inv_max(m), (1.0f64 / m as f64) as f32, "{m}");
        }
        // 448·fl32(1/448) = 1 + 4.47e-8 rounds to 1: amax = 448·2^k gives exactly 2^k (docs/numerics.md §10.1).
        for k in -20..20 {
            assert_eq!(raw_scale(448.0 * p2(k), 448.0, ScaleRule::Mul), p2(k));
            assert_eq!(raw_scale(448.0 * p2(k), 448.0, ScaleRule::Div), p2(k));
        }
        // Div and Mul differ on some amax (docs/numerics.md §10.2: 1562 of 2816 bf16 amax values).
        let differ = (0..128u32)
            .map(|m| f32::from_bits(0x3F80_0000 + (m << 16))) // the bf16 values in [1, 2)
            .filter(|a| {
                raw_scale(*a, 448.0, ScaleRule::Div) != raw_scale(*a, 448.0, ScaleRule::Mul)
            })
            .count();
        assert!(differ > 30 && differ < 100, "{differ}");
    }

    #[test]
    fn eps_values_are_f64_constants_rounded_once() {
        assert_eq!(presets::DEEPGEMM.eps, 1e-4f64 as f32);
        assert_eq!(presets::VLLM.eps, 1e-10f64 as f32);
        assert_eq!("1e-4".parse::<f64>().unwrap() as f32, 1e-4f64 as f32);
        // vLLM's `1e-10f` literal (decimal straight to f32) is the same f32 as its double eps cast to float.
        for (lit, v) in [("1e-10", 1e-10f64), ("1e-4", 1e-4), ("1e-12", 1e-12)] {
            assert_eq!(lit.parse::<f32>().unwrap(), v as f32, "{lit}");
        }
    }

    /// The claim the fingerprint prints: on bf16 input (every positive finite bf16 amax), float-ceil and the
    /// bit-exact ceil never differ: a bf16 amax cannot put amax/448, amax/240 or amax/224 the few ulps above 2^k
    /// where CUDA's log2f rounds down to k (amax = max·2^k gives s = 2^k exactly, and log2f is exact there).
    /// Normal scales only: a subnormal scale (possible only without an eps floor) is ceiled to 2^-126 by the
    /// bit trick but to a subnormal power of two by exp2f.
    #[test]
    fn bf16_amax_never_separates_float_ceil_from_ceil() {
        for max in [448.0f32, 240.0, 224.0] {
            for rule in [ScaleRule::Div, ScaleRule::Mul] {
                for b in 1u32..0x7F80 {
                    let amax = f32::from_bits(b << 16);
                    let s = raw_scale(amax, max, rule);
                    if s < f32::MIN_POSITIVE {
                        continue; // subnormal scales (no eps floor at all) are another matter
                    }
                    let (c, f) = (pow2_ceil(s, false), pow2_float_ceil(s, false));
                    assert_eq!(c, f, "max {max} {rule:?}: amax {amax:e} s {s:e}");
                }
            }
        }
        // f32 input does separate them: s one ulp above 2^-8 (measured: log2f returns exactly -8).
        let s = f32::from_bits(p2(-8).to_bits() + 1);
        assert_eq!(pow2_float_ceil(s, false), p2(-8));
        assert_eq!(pow2_ceil(s, false), p2(-7));
    }

    #[test]
    fn amax_nan_rules() {
        let xs = [1.0, -3.0, f32::NAN, 2.0];
        assert!(amax(&xs, NanRule::Propagate).is_nan());
        assert_eq!(amax(&xs, NanRule::Ignore), 3.0);
        assert_eq!(amax(&[f32::NAN], NanRule::Ignore), 0.0);
        assert_eq!(amax(&[-0.0, 0.0], NanRule::Propagate).to_bits(), 0);
        assert_eq!(
            amax(&[f32::NEG_INFINITY, 1.0], NanRule::Ignore),
            f32::INFINITY
        );
        assert_eq!(amax(&[-5.0, 4.0], NanRule::Propagate), 5.0);
    }

    #[test]
    fn ceil_rules() {
        assert_eq!(pow2_ceil(p2(-3), false), p2(-3));
        assert_eq!(
            pow2_ceil(f32::from_bits(p2(-3).to_bits() + 1), false),
            p2(-2)
        );
        assert_eq!(pow2_ceil(0.0, false), 0.0);
        assert_eq!(pow2_ceil(0.0, true), p2(-126));
        assert_eq!(pow2_ceil(f32::NAN, true), p2(127));
        assert!(pow2_ceil(f32::NAN, false).is_nan());
        assert_eq!(pow2_ceil(f32::INFINITY, true), p2(127));
        assert_eq!(pow2_ceil(f32::INFINITY, false), f32::INFINITY);
        assert_eq!(pow2_ceil(f32::from_bits(1), false), p2(-126));
        assert_eq!(pow2_ceil(1.5 * p2(127), false), f32::INFINITY);
        assert_eq!(pow2_ceil(1.5 * p2(127), true), p2(127));
    }

    #[test]
    fn float_ceil_differs_from_ceil_where_log2f_does() {
        // s = 2^-8·(1 + 2^-23): CUDA log2f returns exactly -8 (measured), so float-ceil stays at 2^-8.
        let s = f32::from_bits(p2(-8).to_bits() + 1);
        assert_eq!(pow2_ceil(s, false), p2(-7));
        assert_eq!(pow2_float_ceil(s, false), p2(-8));
        // Exact powers of two: log2f is exact, both give s.
        assert_eq!(pow2_ceil(0.125, false), 0.125);
        assert_eq!(pow2_float_ceil(0.125, false), 0.125);
        assert_eq!(pow2_float_ceil(0.0, true), p2(-126));
    }

    #[test]
    fn nearest_floor_even() {
        assert_eq!(pow2_nearest(1.4999999, false), 1.0);
        assert_eq!(pow2_nearest(1.5, false), 2.0);
        assert!(pow2_nearest(1.5 * p2(127), false).is_nan());
        assert_eq!(pow2_nearest(1.5 * p2(127), true), p2(127));
        assert_eq!(pow2_nearest(0.0, false).to_bits(), 0x0040_0000);
        // Floor: amax 1.99·2^8 with e4m3fn (t = 8) → 2^0; with fnuz (t = 7) → 2^1.
        assert_eq!(pow2_floor(1.99 * 256.0, 8, false), 1.0);
        assert_eq!(pow2_floor(1.99 * 256.0, 7, false), 2.0);
        assert_eq!(pow2_floor(p2(-120), 8, false).to_bits(), 0x0040_0000); // subnormal → code 0 → 2^-127
        assert!(pow2_floor(f32::NAN, 8, false).is_nan());
        assert_eq!(pow2_floor(f32::INFINITY, 8, true), p2(127));
        // Even: 1.9375·2^9 rounds (3 bits) to 2^10 → 2^2; 1.9·2^9 stays → 2^1.
        assert_eq!(pow2_even(1.9375 * 512.0, 8, 3, false), 4.0);
        assert_eq!(pow2_even(1.9 * 512.0, 8, 3, false), 2.0);
        assert_eq!(pow2_even(p2(-130), 8, 3, false).to_bits(), 0x0040_0000);
    }

    #[test]
    fn group_scale_by_preset() {
        let amax = 3.0f32;
        let dg = preset("deepgemm").unwrap();
        assert_eq!(group_scale(&dg, amax), 3.0 * inv_max(448.0));
        let v = preset("vllm").unwrap();
        assert_eq!(group_scale(&v, amax), 3.0 / 448.0);
        assert_eq!(
            group_scale(&preset("deepgemm-ue8m0").unwrap(), amax),
            p2(-7)
        );
        assert_eq!(
            group_scale(&preset("deepseek-v32-ue8m0").unwrap(), amax),
            p2(-7)
        );
        // 3/448 = 1.71·2^-8: nearest rounds up to 2^-7 as well; 2.5/448 = 1.43·2^-8 rounds down.
        let t = preset("torch-e8m0").unwrap();
        assert_eq!(group_scale(&t, amax), p2(-7));
        assert_eq!(group_scale(&t, 2.5), p2(-8));
        // All-zero group: the eps floor decides.
        assert_eq!(group_scale(&dg, 0.0), (1e-4f64 as f32) * inv_max(448.0));
        assert_eq!(group_scale(&v, 0.0), (1e-10f64 as f32) / 448.0);
        // vllm-ue8m0 floors the scale at 1e-10 too: amax 1e-9 → 1e-9/448 < 1e-10 → ceil(1e-10) = 2^-33.
        let vu = preset("vllm-ue8m0").unwrap();
        assert_eq!(group_scale(&vu, 1e-9), p2(-33));
        let vu_amax_only = QuantSpec {
            eps_on: EpsOn::Amax,
            ..vu
        };
        assert_eq!(group_scale(&vu_amax_only, 1e-9), p2(-38));
        // NaN amax: DeepGEMM's ceil_to_ue8m0 gives 2^127, torch-e8m0 NaN.
        assert_eq!(
            group_scale(&preset("deepgemm-ue8m0").unwrap(), f32::NAN),
            p2(127)
        );
        assert!(group_scale(&t, f32::NAN).is_nan());
        assert!(group_scale(&dg, f32::NAN).is_nan());
    }

    #[test]
    fn codes_of_scales() {
        assert_eq!(e8m0_code_of(1.0), Some(127));
        assert_eq!(e8m0_code_of(0.0), Some(0));
        assert_eq!(e8m0_code_of(f32::from_bits(0x0040_0000)), Some(0));
        assert_eq!(e8m0_code_of(f32::NAN), Some(255));
        assert_eq!(e8m0_code_of(f32::INFINITY), Some(255));
        assert_eq!(e8m0_code_of(3.0), None);
        assert_eq!(e8m0_code_of(-2.0), None);
        for c in 1..=254u8 {
            assert_eq!(e8m0_code_of(e8m0::decode(c)), Some(c));
        }
    }
}
