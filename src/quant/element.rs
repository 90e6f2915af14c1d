//! One element's code given its group's scale: divide (or multiply by the reciprocal), clamp, cast. The
//! scalar rule is [`quantize_value`]; [`quantize_group`] is the same rule over a slice, written so that the
//! e4m3fn case compiles to branch-free (vectorisable) code, and is tested bit for bit against the scalar rule.

use crate::formats::{Fp8Format, Overflow};
use crate::quant::spec::{NanRule, QRule, QuantSpec};

/// What the element loop needs of a spec and a group's scale, computed once per group.
#[derive(Clone, Copy, Debug)]
pub struct ElementRule {
    pub fmt: Fp8Format,
    pub q: QRule,
    /// The group's scale s.
    pub s: f32,
    /// fl32(1/s), correctly rounded (DeepGEMM `1.0 / sf` on CUDA; aiter `1.0f / scale`).
    pub inv: f32,
    /// Clamp to ±max before the cast.
    pub clamp: Option<f32>,
    pub nan: NanRule,
    pub overflow: Overflow,
}

impl ElementRule {
    pub fn new(spec: &QuantSpec, s: f32) -> ElementRule {
        ElementRule {
            fmt: spec.fp8,
            q: spec.q,
            s,
            inv: 1.0 / s,
            clamp: spec.clamp.then(|| spec.max_value()),
            nan: spec.nan,
            overflow: spec.overflow,
        }
    }
}

/// The scaled value before clamping: `x / s` (IEEE) or `x · fl32(1/s)`, with a NaN result made the
/// canonical +NaN as CUDA's arithmetic returns it (so a NaN element casts to 0x7F, whatever x's sign bit).
#[inline(always)]
pub fn scaled(x: f32, r: &ElementRule) -> f32 {
    let y = match r.q {
        QRule::Div => x / r.s,
        QRule::Mul => x * r.inv,
    };
    if y.is_nan() {
        f32::NAN
    } else {
        y
    }
}

/// Clamp to ±m: torch `clamp` and TileLang keep NaN (`Propagate`, `Reject`); vLLM's
/// `fminf(fmaxf(v, −m), m)` turns NaN into −m (`Ignore`: fmaxf returns the non-NaN operand).
#[inline(always)]
pub fn clamp(y: f32, m: f32, nan: NanRule) -> f32 {
    match nan {
        NanRule::Ignore => y.max(-m).min(m),
        NanRule::Propagate | NanRule::Reject => {
            if y.is_nan() {
                y
            } else {
                y.max(-m).min(m)
            }
        }
    }
}

/// The code of one element (x exactly as f32): scale, clamp, cast with the spec's overflow rule
/// ([`Fp8Format::encode`]: torch's casts bit for bit; `Saturate` clamps first, as `satfinite` does).
pub fn quantize_value(x: f32, r: &ElementRule) -> u8 {
    let mut y = scaled(x, r);
    if let Some(m) = r.clamp {
        y = clamp(y, m, r.nan);
    }
    r.fmt.encode(y, r.overflow)
}

/// torch `fp8e4m3fn_from_fp32_value` without branches (the same three cases as
/// `formats::fp8`, selected rather than branched): NaN/overflow ≥ 480 → 0x7F, below 2^-6 the magic add,
/// else RNE on 3 mantissa bits.
#[inline(always)]
fn encode_e4m3fn_torch_branchless(y: f32) -> u8 {
    let bits = y.to_bits();
    let sign = ((bits >> 24) & 0x80) as u8;
    let f = bits & 0x7FFF_FFFF;
    let mant_odd = (f >> 20) & 1;
    let norm = (f.wrapping_add(0xC400_0000).wrapping_add(0x7FFFF + mant_odd) >> 20) as u8;
    let den = (f32::from_bits(f) + f32::from_bits(141 << 23))
        .to_bits()
        .wrapping_sub(141 << 23) as u8;
    let r = if f >= 0x43F0_0000 {
        0x7F
    } else if f < (121 << 23) {
        den
    } else {
        norm
    };
    r | sign
}

/// Codes of a group's elements into `out` (same length as `xs`).
pub fn quantize_group(xs: &[f32], r: &ElementRule, out: &mut [u8]) {
    debug_assert_eq!(xs.len(), out.len());
    if r.fmt != Fp8Format::E4m3fn {
        for (o, &x) in out.iter_mut().zip(xs) {
            *o = quantize_value(x, r);
        }
        return;
    }
    // Saturate = clamp to ±448 keeping NaN, then torch's encoder (as Fp8Format::encode does); moot after a
    // clamp to a value ≤ 448.
    let sat = r.overflow == Overflow::Saturate && !r.clamp.is_some_and(|m| m <= 448.0);
    let ignore = r.nan == NanRule::Ignore;
    // x / 2^k and x · 2^-k are the same exact real number, rounded once by IEEE either way, so when 1/s is
    // exact (s = 2^k, −127 ≤ k ≤ 127) the division is done as the (faster) multiplication: same bits.
    let q = if r.q == QRule::Div && reciprocal_is_exact(r.s) {
        QRule::Mul
    } else {
        r.q
    };
    match (q, r.clamp.is_some(), ignore, sat) {
        (QRule::Mul, false, _, false) => run::<false, 0, false>(xs, r, out),
        (QRule::Div, false, _, false) => run::<true, 0, false>(xs, r, out),
        (QRule::Mul, true, true, false) => run::<false, 1, false>(xs, r, out),
        (QRule::Div, true, true, false) => run::<true, 1, false>(xs, r, out),
        (QRule::Mul, true, false, false) => run::<false, 2, false>(xs, r, out),
        (QRule::Div, true, false, false) => run::<true, 2, false>(xs, r, out),
        (QRule::Mul, false, _, true) => run::<false, 0, true>(xs, r, out),
        (QRule::Div, false, _, true) => run::<true, 0, true>(xs, r, out),
        _ => {
            for (o, &x) in out.iter_mut().zip(xs) {
                *o = quantize_value(x, r);
            }
        }
    }
}

/// Whether s = 2^k with −127 ≤ k ≤ 127, so that fl32(1/s) = 2^-k exactly.
#[inline]
fn reciprocal_is_exact(s: f32) -> bool {
    let b = s.to_bits();
    (b & 0x807F_FFFF == 0 && b != 0 && b >> 23 != 0xFF) || b == 0x0040_0000
}

/// The e4m3fn element loop, monomorphised: `DIV` x/s (else x·inv); `CLAMP` 0 none, 1 fmaxf/fminf (NaN →
/// −max), 2 NaN-keeping; `SAT` clamp to ±448 before the torch encoder.
#[inline(never)]
fn run<const DIV: bool, const CLAMP: u8, const SAT: bool>(
    xs: &[f32],
    r: &ElementRule,
    out: &mut [u8],
) {
    let (s, inv) = (r.s, r.inv);
    let m = r.clamp.unwrap_or(f32::INFINITY);
    for (o, &x) in out.iter_mut().zip(xs) {
        let y = if DIV { x / s } else { x * inv };
        let mut y = if y.is_nan() { f32::NAN } else { y };
        // Comparisons are false for NaN: `>=`/`<=` with the bound as the else-branch maps NaN to the
        // bound (fmaxf then fminf: NaN → −m), `>`/`<` with y as the else-branch keeps NaN.
        if CLAMP == 1 {
            y = if y >= -m { y } else { -m };
            y = if y <= m { y } else { m };
        } else if CLAMP == 2 {
            y = if y > m { m } else { y };
            y = if y < -m { -m } else { y };
        }
        if SAT {
            y = if y > 448.0 { 448.0 } else { y };
            y = if y < -448.0 { -448.0 } else { y };
        }
        *o = encode_e4m3fn_torch_branchless(y);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::spec::QuantSpec;

    #[test]
    fn branchless_e4m3fn_matches_torch_encoder_on_a_dense_sweep() {
        // Every 61st f32 bit pattern (both signs, NaNs and infinities included) plus every pattern near the
        // encoder's case boundaries.
        let check = |b: u32| {
            let y = f32::from_bits(b);
            let want = Fp8Format::E4m3fn.encode(y, Overflow::Nan);
            assert_eq!(encode_e4m3fn_torch_branchless(y), want, "{b:#010x}");
        };
        let mut b: u64 = 0;
        while b < (1u64 << 32) {
            check(b as u32);
            b += 61;
        }
        for edge in [0x43F0_0000u32, 121 << 23, 0x43E8_0000, 0x3A80_0000, 0] {
            for d in 0..4096u32 {
                check(edge.wrapping_add(d).wrapping_sub(2048));
                check((edge.wrapping_add(d).wrapping_sub(2048)) | 0x8000_0000);
            }
        }
    }

    fn specs() -> Vec<QuantSpec> {
        let mut v = Vec::new();
        for fmt in ["e4m3fn", "e4m3fnuz", "e5m2"] {
            for q in ["div", "mul"] {
                for clamp in ["yes", "no"] {
                    for ov in ["saturate", "nan"] {
                        for nan in ["propagate", "ignore"] {
                            v.push(
                                QuantSpec::parse(&format!(
                                    "deepgemm,fp8={fmt},q={q},clamp={clamp},overflow={ov},nan={nan}"
                                ))
                                .unwrap(),
                            );
                        }
                    }
                }
            }
        }
        v
    }

    #[test]
    fn group_loop_equals_scalar_rule() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let mut xs: Vec<f32> = (0..4000)
            .map(|_| f32::from_bits(rng.random::<u32>()))
            .collect();
        xs.extend((0..4000).map(|_| rng.random_range(-500.0f32..500.0)));
        xs.extend([
            f32::NAN,
            -f32::NAN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            0.0,
            -0.0,
            464.0,
            -464.0,
            448.0,
            480.0,
        ]);
        for spec in specs() {
            for s in [
                1.0f32,
                0.5,
                3.0 / 448.0,
                1e-30,
                2f32.powi(127),
                0.0,
                f32::NAN,
            ] {
                let r = ElementRule::new(&spec, s);
                let mut out = vec![0u8; xs.len()];
                quantize_group(&xs, &r, &mut out);
                for (i, &x) in xs.iter().enumerate() {
                    assert_eq!(out[i], quantize_value(x, &r), "{spec} s={s} x={x:e}");
                }
            }
        }
    }

    #[test]
    fn element_rules_by_hand() {
        let dg = QuantSpec::parse("deepgemm").unwrap();
        // No clamp, torch cast: 464 ties to 448, just above goes to NaN.
        let r = ElementRule::new(&dg, 1.0);
        assert_eq!(quantize_value(464.0, &r), 0x7E);
        assert_eq!(quantize_value(465.0, &r), 0x7F);
        assert_eq!(quantize_value(-465.0, &r), 0xFF);
        // A NaN element: canonical +NaN → 0x7F even when x carries a sign.
        assert_eq!(quantize_value(-f32::NAN, &r), 0x7F);
        // vLLM: NaN becomes −448.
        let v = QuantSpec::parse("vllm").unwrap();
        let r = ElementRule::new(&v, 1.0);
        assert_eq!(quantize_value(f32::NAN, &r), 0xFE);
        assert_eq!(quantize_value(1000.0, &r), 0x7E);
        // torch-e8m0: clamp keeps NaN, cast gives 0x7F.
        let t = QuantSpec::parse("torch-e8m0").unwrap();
        assert_eq!(quantize_value(f32::NAN, &ElementRule::new(&t, 1.0)), 0x7F);
        // Divide versus reciprocal: x/s and x·fl32(1/s) differ for s = 3 on some x.
        let div = ElementRule::new(&QuantSpec::parse("vllm").unwrap(), 3.0);
        let mul = ElementRule::new(&QuantSpec::parse("vllm,q=mul").unwrap(), 3.0);
        let x = (1..100_000)
            .map(|i| i as f32 * 0.37)
            .find(|&x| scaled(x, &div) != scaled(x, &mul))
            .expect("some x separates x/3 from x·fl32(1/3)");
        assert_ne!(scaled(x, &div).to_bits(), scaled(x, &mul).to_bits());
        // e4m3fnuz: no −0, NaN 0x80.
        let z = QuantSpec::parse("aiter-fnuz").unwrap();
        let r = ElementRule::new(&z, 1.0);
        assert_eq!(quantize_value(-0.0, &r), 0x00);
        assert_eq!(quantize_value(300.0, &r), 0x7F);
    }
}
