//! The NVIDIA FP8 fused dot-add datapath shared by [`super::sm90`], [`super::sm89`] and [`super::sm100`],
//! as the two public models describe it (docs/numerics.md §8.7):
//!
//! 1. every product a_k·b_k is exact; its exponent is e(a)+e(b) (e = ⌊log2|v|⌋, or the format's emin for a
//!    subnormal: the product is not renormalised); zero products take no part;
//! 2. E = the largest exponent of the non-zero products and of C (e(C) = ⌊log2|C|⌋, −126 for a subnormal C);
//! 3. every term, C included, is truncated toward zero to a multiple of 2^(E − F) (F fraction bits);
//! 4. the exact sum of the truncated terms is rounded to f32 toward zero, keeping `out_bits` significant
//!    bits (14 on Hopper/Ada FP8, 24 on Blackwell); a zero sum is +0; |result| ≥ 2^128 is ±inf.
//!
//! NaN/inf: IEEE propagation (any NaN operand or C, 0·inf, or infinities of both signs → NaN; otherwise an
//! infinite product or C gives that infinity). The NaN's payload is not modelled.
//!
//! [`NvParams`] also spells the rival hypotheses the device probes separate (C outside the alignment,
//! renormalised products, rounding instead of truncation, other widths).

use super::{class_f32, class_fp8, product, special, to_f32, Class, Parts, Rounding};
use crate::formats::Fp8Format;

/// How terms below the alignment grid are dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TermRound {
    /// Toward zero (the published models).
    Trunc,
    /// Nearest-even (a rival hypothesis).
    Nearest,
}

/// The parameters of one fused step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NvParams {
    /// F: fraction bits kept below the largest exponent E.
    pub frac: u32,
    /// Significant bits of the result.
    pub out_bits: u32,
    /// Whether the result is rounded to nearest instead of truncated (rival hypothesis).
    pub out_nearest: bool,
    /// Whether C's exponent takes part in E (true in the published models).
    pub c_in_max: bool,
    /// Whether product exponents are renormalised to ⌊log2|p|⌋ (false in the published models).
    pub renormalise: bool,
    pub term_round: TermRound,
}

impl NvParams {
    /// Hopper / Ada FP8: F = 13, 14-bit truncated result.
    pub const FP8_13: NvParams = NvParams {
        frac: 13,
        out_bits: 14,
        out_nearest: false,
        c_in_max: true,
        renormalise: false,
        term_round: TermRound::Trunc,
    };
    /// Blackwell f8f6f4: F = 25, f32 result truncated.
    pub const F8F6F4_25: NvParams = NvParams {
        frac: 25,
        out_bits: 24,
        ..NvParams::FP8_13
    };
}

/// One fused step over the pairs (a_k, b_k) (decoded FP8 values of formats fa, fb) with accumulator c.
pub fn fused(c: f32, a: &[f32], fa: Fp8Format, b: &[f32], fb: Fp8Format, p: &NvParams) -> f32 {
    let cc = class_f32(c);
    let pairs = || {
        a.iter()
            .zip(b)
            .map(move |(&x, &y)| (class_fp8(x, fa), class_fp8(y, fb)))
    };
    if let Some(s) = special(cc, pairs()) {
        return s;
    }
    let mut terms: Vec<(Parts, i32)> = Vec::with_capacity(a.len() + 1);
    for (x, y) in pairs() {
        if let (Class::Finite(x), Class::Finite(y)) = (x, y) {
            let t = product(x, y);
            let e = if p.renormalise {
                // ⌊log2 |p|⌋ = e − fb + (bit length of m) − 1
                t.e - t.fb as i32 + (63 - t.m.leading_zeros() as i32)
            } else {
                t.e
            };
            terms.push((t, e));
        }
    }
    let ct = match cc {
        Class::Finite(x) => Some(x),
        _ => None,
    };
    let emax_p = terms.iter().map(|t| t.1).max();
    let e_max = match (emax_p, ct) {
        (None, None) => return 0.0,
        (Some(e), Some(x)) if p.c_in_max => e.max(x.e),
        (Some(e), _) => e,
        (None, Some(x)) => x.e,
    };
    let lsb = e_max - p.frac as i32;
    let mut sum: i128 = 0;
    let mut add = |t: Parts| -> bool {
        // |t| = m·2^(e − fb); in units of 2^lsb: m·2^(e − fb − lsb)
        let sh = t.e - t.fb as i32 - lsb;
        let mag: i128 = if sh >= 0 {
            if sh > 100 {
                return false;
            }
            (t.m as i128) << sh
        } else {
            let d = (-sh) as u32;
            if d >= 100 {
                0
            } else {
                let q = (t.m as i128) >> d;
                match p.term_round {
                    TermRound::Trunc => q,
                    TermRound::Nearest => {
                        let rem = t.m as i128 & ((1i128 << d) - 1);
                        let half = 1i128 << (d - 1);
                        if rem > half || (rem == half && q & 1 == 1) {
                            q + 1
                        } else {
                            q
                        }
                    }
                }
            }
        };
        sum += if t.neg { -mag } else { mag };
        true
    };
    for (t, _) in &terms {
        add(*t);
    }
    if let Some(x) = ct {
        if !add(x) {
            // Only reachable with c_in_max = false: C dwarfs the grid; not a hypothesis worth evaluating.
            return f32::NAN;
        }
    }
    if sum == 0 {
        return 0.0;
    }
    if p.out_nearest {
        return round_nearest_bits(sum, lsb, p.out_bits);
    }
    to_f32(
        sum < 0,
        sum.unsigned_abs(),
        lsb,
        Rounding::Trunc(p.out_bits),
    )
}

/// (sum · 2^lsb) rounded to nearest-even with `bits` significant bits (the rival hypothesis only).
fn round_nearest_bits(sum: i128, lsb: i32, bits: u32) -> f32 {
    let mag = sum.unsigned_abs();
    let n = 128 - mag.leading_zeros() as i32;
    let top = lsb + n - 1;
    let grid = (top - (bits as i32 - 1)).max(-126 - (bits as i32 - 1));
    let drop = grid - lsb;
    if drop <= 0 {
        return to_f32(sum < 0, mag, lsb, Rounding::NearestEven);
    }
    let q = mag >> drop;
    let rem = mag & ((1u128 << drop) - 1);
    let half = 1u128 << (drop - 1);
    let q = if rem > half || (rem == half && q & 1 == 1) {
        q + 1
    } else {
        q
    };
    to_f32(sum < 0, q, grid, Rounding::NearestEven)
}
