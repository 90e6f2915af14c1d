//! E8M0 (`float8_e8m0fnu`, OCP MX's scale type): decode, and encode from f32 with the rounding rules that
//! real FP8 stacks use for power-of-two scales (docs/numerics.md §3).
//!
//! Every mode ignores the sign of its input, as every source does (the scale is a magnitude).

/// How an f32 is rounded to a power of two (an E8M0 code).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum E8m0Round {
    /// Bit-exact exponent ceil: the exponent field, plus one when any mantissa bit is set. DeepGEMM
    /// `ceil_to_ue8m0` (before its clamp), DeepSeek V3.2 TileLang `fast_log2_ceil`, sgl-kernel/DeepEP, aiter
    /// `ceil_impl` (RoundUp): 0 → code 0, a subnormal → 1, NaN/inf → 0xFF, 2^127·(1+m) → 0xFF.
    Ceil,
    /// `exp2f(ceilf(log2f(s)))` as CUDA computes it (vLLM CUDA/Triton, DeepSeek-V3 Triton, SGLang Triton,
    /// ATOM fused_compress; docs/numerics.md §3.3). CUDA's `log2f` returns exactly k for some s slightly above
    /// 2^k, so this under-sizes such scales by one binade; the code is `bits(result) >> 23`.
    FloatCeil,
    /// PyTorch's `float → float8_e8m0fnu` cast and legacy aiter `f32_to_e8m0`: round the significand to the
    /// nearest of {1, 2}, up iff it is ≥ 1.5 (c10/util/Float8_e8m0fnu-inl.h @16fd8573; docs/numerics.md §3.4).
    Nearest,
    /// The exponent field (aiter `floor_impl`, RoundDown; torchao FLOOR): 0 and subnormals → 0, NaN/inf → 0xFF.
    Floor,
    /// aiter `Even` (torchao/Quark EVEN) applied to the value itself with e4m3's 3 mantissa bits: add
    /// `1 << (22 − 3)` to the bits, clear the mantissa, take the exponent field (docs/numerics.md §3.6).
    Even,
}

impl E8m0Round {
    /// Every mode.
    pub const ALL: [E8m0Round; 5] = [
        E8m0Round::Ceil,
        E8m0Round::FloatCeil,
        E8m0Round::Nearest,
        E8m0Round::Floor,
        E8m0Round::Even,
    ];

    /// The command-line spelling.
    pub fn name(self) -> &'static str {
        match self {
            E8m0Round::Ceil => "ceil",
            E8m0Round::FloatCeil => "float-ceil",
            E8m0Round::Nearest => "nearest",
            E8m0Round::Floor => "floor",
            E8m0Round::Even => "even",
        }
    }

    /// Parses the command-line spelling.
    pub fn parse(s: &str) -> Option<E8m0Round> {
        Self::ALL.into_iter().find(|m| m.name() == s)
    }
}

/// Decodes a code: 0 → 2^-127 (the f32 subnormal 0x00400000), 0xFF → NaN, else `code << 23`. Torch's
/// `Float8_e8m0fnu → float` and aiter `e8m0_to_f32` (docs/numerics.md §3.1). Exact for every code.
pub fn decode(code: u8) -> f32 {
    match code {
        0 => f32::from_bits(0x0040_0000),
        0xFF => f32::from_bits(0x7F80_0001),
        c => f32::from_bits((c as u32) << 23),
    }
}

/// DeepGEMM's decode of a packed UE8M0 byte (`unpack_ue8m0_from_int`): `code << 23`, so 0 → +0.0 and
/// 0xFF → +inf (docs/numerics.md §3.1).
pub fn decode_deepgemm(code: u8) -> f32 {
    f32::from_bits((code as u32) << 23)
}

/// DeepGEMM `ceil_to_ue8m0`'s clamp of the exponent to [1, 254]: never 2^-127, never NaN (docs/numerics.md §3.7).
pub fn clamp_deepgemm(code: u8) -> u8 {
    code.clamp(1, 254)
}

/// Encodes `|x|` to an E8M0 code with `round`.
pub fn encode(x: f32, round: E8m0Round) -> u8 {
    let u = x.to_bits() & 0x7FFF_FFFF;
    let e = u >> 23;
    let man = u & 0x7F_FFFF;
    match round {
        E8m0Round::Ceil => {
            if e == 0xFF {
                0xFF
            } else {
                (e + (man != 0) as u32) as u8 // 0xFE + 1 = 0xFF (NaN) as aiter's ceil_impl
            }
        }
        E8m0Round::FloatCeil => (float_ceil_pow2(f32::from_bits(u)).to_bits() >> 23) as u8,
        E8m0Round::Nearest => {
            if e == 0xFF {
                return 0xFF;
            }
            let g = u & 0x40_0000 != 0;
            let r = u & 0x20_0000 != 0;
            let s = u & 0x1F_FFFF != 0;
            let lsb = e > 0;
            (e + (g && (r || s || lsb)) as u32) as u8
        }
        E8m0Round::Floor => e as u8,
        E8m0Round::Even => even_exponent(u, 3) as u8,
    }
}

/// aiter `Even`'s rounding of a magnitude to `mbits` mantissa bits followed by `floor_impl`: the exponent
/// field of `(bits + (1 << (22 − mbits))) & 0xFF800000`, with the source's 32-bit wrap-around: inf, a NaN
/// with a small payload and a carry into the inf exponent give 0xFF; the canonical CUDA NaN 0x7FFFFFFF
/// carries into the sign bit and gives exponent field 0.
pub fn even_exponent(abs_bits: u32, mbits: u32) -> u32 {
    ((abs_bits.wrapping_add(1 << (22 - mbits)) & 0xFF80_0000) >> 23) & 0xFF
}

/// `exp2f(ceilf(log2f(s)))` for `s ≥ 0` with CUDA's `log2f` (the float path, docs/numerics.md §3.3).
///
/// `exp2f` of an integer and `ceilf` are exact, so only `log2f` can differ from the exact ceil. Measured
/// exhaustively over every positive finite f32 on an H100 (fixtures/gen/probe_cuda_log2f.py), it differs in
/// one way only: s just above 2^k whose `log2f` rounds to exactly k, so the scale is one binade too small
/// ([`cuda_log2f_is_exact_k`]). `log2f` is exact at every power of two.
/// s = 0 gives 0 (log2f → −inf), NaN or negative gives NaN, s > 2^127 gives +inf.
pub fn float_ceil_pow2(s: f32) -> f32 {
    if s.is_nan() || s < 0.0 {
        return f32::NAN;
    }
    if s == 0.0 {
        return 0.0;
    }
    if s.is_infinite() {
        return f32::INFINITY;
    }
    let (k, rest) = split_pow2(s);
    let c = if rest == 0 || cuda_log2f_is_exact_k(k, rest) {
        k
    } else {
        k + 1
    };
    exp2i(c)
}

/// Splits a positive finite f32 into (k, r) with s = 2^k·(1 + r·2^-23) for normals; for subnormals k is
/// the exponent of the leading bit and r the remaining bits scaled to 23 bits.
fn split_pow2(s: f32) -> (i32, u32) {
    let u = s.to_bits();
    let e = (u >> 23) as i32;
    let man = u & 0x7F_FFFF;
    if e > 0 {
        (e - 127, man)
    } else {
        let lead = 31 - man.leading_zeros() as i32; // bit index of the leading one, 0..=22
        let k = lead - 149;
        let rest = (man ^ (1 << lead)) << (23 - lead);
        (k, rest)
    }
}

/// 2^c as f32 (exact; subnormal below 2^-126, 0 below 2^-149, inf above 2^127), as CUDA's exp2f of an
/// integer gives.
fn exp2i(c: i32) -> f32 {
    if c > 127 {
        f32::INFINITY
    } else if c >= -126 {
        f32::from_bits(((c + 127) as u32) << 23)
    } else if c >= -149 {
        f32::from_bits(1 << (c + 149))
    } else {
        0.0
    }
}

/// Whether CUDA's `log2f(2^k·(1 + rest·2^-23))` returns exactly `k` (so that ceil does not move up).
///
/// Measured on an H100 with PyTorch 2.11+cu130 (`torch.log2` on CUDA tensors is `log2f`) by
/// `fixtures/gen/probe_cuda_log2f.py`; the thresholds are in [`LOG2F_EXACT_K_MAX_REST`].
pub fn cuda_log2f_is_exact_k(k: i32, rest: u32) -> bool {
    let idx = (k + 149) as usize;
    rest <= LOG2F_EXACT_K_MAX_REST.get(idx).copied().unwrap_or(0)
}

include!("log2f_table.rs");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_all_codes() {
        assert_eq!(decode(0).to_bits(), 0x0040_0000);
        assert_eq!(decode(0) as f64, 2f64.powi(-127));
        assert!(decode(255).is_nan());
        for c in 1..=254u8 {
            assert_eq!(decode(c) as f64, 2f64.powi(c as i32 - 127));
            // Every exact power of two encodes back to its code under every mode.
            for m in E8m0Round::ALL {
                assert_eq!(encode(decode(c), m), c, "{m:?} {c}");
            }
        }
        assert_eq!(decode_deepgemm(0), 0.0);
    }

    #[test]
    fn rounding_rules() {
        let v = |m: f32, e: i32| m * 2f32.powi(e);
        // Ceil: any mantissa bit rounds up.
        assert_eq!(
            encode(f32::from_bits(1.0f32.to_bits() + 1), E8m0Round::Ceil),
            128
        );
        assert_eq!(encode(0.0, E8m0Round::Ceil), 0);
        assert_eq!(encode(f32::from_bits(1), E8m0Round::Ceil), 1);
        assert_eq!(encode(f32::INFINITY, E8m0Round::Ceil), 255);
        assert_eq!(encode(v(1.5, 127), E8m0Round::Ceil), 255);
        assert_eq!(clamp_deepgemm(encode(0.0, E8m0Round::Ceil)), 1);
        assert_eq!(clamp_deepgemm(encode(f32::NAN, E8m0Round::Ceil)), 254);
        // Nearest: the 1.5 threshold, ties up.
        assert_eq!(encode(v(1.4999999, 0), E8m0Round::Nearest), 127);
        assert_eq!(encode(v(1.5, 0), E8m0Round::Nearest), 128);
        assert_eq!(encode(v(1.5, 127), E8m0Round::Nearest), 255);
        assert_eq!(encode(f32::from_bits(0x0040_0000), E8m0Round::Nearest), 0);
        assert_eq!(encode(f32::from_bits(0x0040_0001), E8m0Round::Nearest), 1);
        assert_eq!(encode(-3.0, E8m0Round::Nearest), 129);
        // Floor and Even.
        assert_eq!(encode(v(1.99, 3), E8m0Round::Floor), 130);
        assert_eq!(encode(v(1.9, 3), E8m0Round::Even), 130);
        assert_eq!(encode(v(1.9375, 3), E8m0Round::Even), 131);
        assert_eq!(encode(f32::from_bits(0x0000_0001), E8m0Round::Floor), 0);
        // FloatCeil: exact at powers of two, up one binade clearly above them.
        assert_eq!(encode(v(1.25, -8), E8m0Round::FloatCeil), 127 - 7);
        assert_eq!(encode(0.0, E8m0Round::FloatCeil), 0);
        assert_eq!(encode(f32::NAN, E8m0Round::FloatCeil), 255);
        assert_eq!(encode(v(1.5, 127), E8m0Round::FloatCeil), 255);
    }

    #[test]
    fn split_pow2_subnormals() {
        assert_eq!(split_pow2(f32::from_bits(1)), (-149, 0));
        assert_eq!(split_pow2(f32::from_bits(3)), (-148, 1 << 22));
        assert_eq!(split_pow2(f32::from_bits(0x0040_0000)), (-127, 0));
        assert_eq!(split_pow2(1.0), (0, 0));
        assert_eq!(exp2i(-127).to_bits(), 0x0040_0000);
        assert_eq!(exp2i(-149).to_bits(), 1);
    }
}
