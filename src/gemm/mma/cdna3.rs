//! CDNA3 (MI300) FP8 matrix cores, `v_mfma_f32_16x16x32_fp8_fp8` / `32x32x16`, fnuz operands — **never
//! checked on AMD hardware**: the only public bit-level description of it, with no second model and no
//! validation vector for FP8 on MI300 to check against (docs/numerics.md §8.7).
//!
//! One step over 16 products (an instruction's k = 32 is two chained steps), with C:
//! 1. the even-indexed and the odd-indexed products form two groups of 8; each group's terms are truncated
//!    toward zero to 24 fraction bits below the group's largest exponent (product exponent e(a)+e(b), e of
//!    a subnormal = the format's emin, e of a **zero** = −126, docs/numerics.md §8.7) and summed exactly;
//! 2. the two group sums are aligned to the larger group exponent e, each rounded **down** (toward −inf) to
//!    24 fraction bits, and added;
//! 3. with M = max(e, e(C)) (e(C) = ⌊log2|C|⌋, −126 for zero or subnormal C): the product sum is rounded
//!    down to 31 fraction bits below M; C is rounded down to 24 fraction bits below M if e(C) ≥ M − 25,
//!    else dropped (0);
//! 4. their exact sum is rounded to f32, nearest-even. NaN in, NaN out (fnuz formats have no infinity; an
//!    infinite C propagates).

use super::{class_f32, class_fp8, emin, special, to_f32, Class, Rounding};
use crate::formats::Fp8Format;

/// Fraction bits of the group sums.
const F: i32 = 24;

/// A product as the model holds it (docs/numerics.md §8.7): signed significand integer with |p| = m·2^(e − fb), exponent e.
#[derive(Clone, Copy)]
struct Term {
    v: i128,
    e: i32,
    fb: i32,
}

/// (significand, exponent) of an FP8 value as the model takes it (zero: exponent −126; docs/numerics.md §8.7).
fn parts(x: f32, fmt: Fp8Format) -> (i128, i32, i32) {
    match class_fp8(x, fmt) {
        Class::Finite(p) => (
            if p.neg { -(p.m as i128) } else { p.m as i128 },
            p.e,
            p.fb as i32,
        ),
        _ => (0, -126, fmt.mantissa_bits() as i32),
    }
}

/// Σ of the group's terms truncated toward zero to 2^(E − 24), E = the group's largest exponent: (sum in
/// units of 2^(E − 24), E). None for an empty group.
fn group_sum(terms: &[Term]) -> Option<(i128, i32)> {
    let e = terms.iter().map(|t| t.e).max()?;
    let lsb = e - F;
    let s = terms
        .iter()
        .map(|t| {
            let sh = t.e - t.fb - lsb;
            let mag = t.v.unsigned_abs() as i128;
            let m = if sh >= 0 {
                mag << sh
            } else if -sh >= 120 {
                0
            } else {
                mag >> -sh
            };
            if t.v < 0 {
                -m
            } else {
                m
            }
        })
        .sum();
    Some((s, e))
}

/// x · 2^−d rounded toward −inf (an arithmetic shift; d ≥ 0).
fn floor_shift(x: i128, d: i32) -> i128 {
    if d <= 0 {
        x
    } else if d >= 127 {
        if x < 0 {
            -1
        } else {
            0
        }
    } else {
        x >> d
    }
}

/// One 16-product step: the new C.
pub fn step(c: f32, a: &[f32], fa: Fp8Format, b: &[f32], fb: Fp8Format) -> f32 {
    let cc = class_f32(c);
    let cls = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| (class_fp8(x, fa), class_fp8(y, fb)));
    if let Some(s) = special(cc, cls) {
        return s;
    }
    let terms: Vec<Term> = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| {
            let (ma, ea, fba) = parts(x, fa);
            let (mb, eb, fbb) = parts(y, fb);
            Term {
                v: ma * mb,
                e: ea + eb,
                fb: fba + fbb,
            }
        })
        .collect();
    let even: Vec<Term> = terms.iter().copied().step_by(2).collect();
    let odd: Vec<Term> = terms.iter().copied().skip(1).step_by(2).collect();
    // Step 2: the group sums on the larger exponent's 24-bit grid, rounded down.
    let (s, e) = match (group_sum(&even), group_sum(&odd)) {
        (None, None) => (0, None),
        (Some((s0, e0)), None) => (s0, Some(e0)),
        (None, Some((s1, e1))) => (s1, Some(e1)),
        (Some((s0, e0)), Some((s1, e1))) => {
            let m = e0.max(e1);
            (floor_shift(s0, m - e0) + floor_shift(s1, m - e1), Some(m))
        }
    };
    // Step 3: C joins. e(C) of zero or a subnormal is −126 (the f32 emin).
    let (cm, ce) = match cc {
        Class::Finite(p) => (if p.neg { -(p.m as i128) } else { p.m as i128 }, p.e),
        _ => (0, -126),
    };
    let m = match e {
        Some(e) => e.max(ce),
        None => ce,
    };
    // Product sum: units 2^(e − 24) → 2^(m − 31), rounded down.
    let sp = match e {
        Some(e) => {
            let d = (m - 31) - (e - F);
            if d >= 0 {
                floor_shift(s, d)
            } else {
                s << (-d)
            }
        }
        None => 0,
    };
    // C: |C| = cm·2^(ce − 23) → units 2^(m − 24), rounded down, if ce ≥ m − 25; then to units 2^(m − 31).
    let sc = if cm != 0 && ce >= m - 25 {
        let d = (m - F) - (ce - 23);
        let q = if d >= 0 {
            floor_shift(cm, d)
        } else {
            cm << (-d)
        };
        q << 7
    } else {
        0
    };
    let r = sp + sc;
    if r == 0 {
        return 0.0;
    }
    let _ = emin; // the fnuz emin enters through class_fp8
    to_f32(r < 0, r.unsigned_abs(), m - 31, Rounding::NearestEven)
}

#[cfg(test)]
mod tests {
    use super::*;
    const F8: Fp8Format = Fp8Format::E4m3fnuz;

    #[test]
    fn exact_small_sums_are_exact() {
        let a = [1.0f32, 2.0, -0.5, 0.25];
        let b = [1.0f32, 1.0, 1.0, 4.0];
        assert_eq!(step(0.0, &a, F8, &b, F8), 3.5);
        assert_eq!(step(1.5, &a, F8, &b, F8), 5.0);
    }

    #[test]
    fn group_truncation_then_round_down_then_nearest() {
        // Even group: 2^7 (e = 7) and 2^-14 (e = -14): 2^-14 is below 2^(7-24) = 2^-17? No: kept exactly.
        // Make it fall off: 240·240 (e = 7+7 = 14) and 2^-10·2^-10 (e = -14... min subnormal fnuz 2^-10).
        let a = [240.0f32, 1.0, 2f32.powi(-10), 1.0];
        let b = [240.0f32, 0.0, 2f32.powi(-10), 0.0];
        // Even terms: 57600 (e=14), 2^-20 (e=-14): grid 2^(14-24) = 2^-10: 2^-20 truncates to 0.
        assert_eq!(step(0.0, &a, F8, &b, F8), 57600.0);
        // A negative tiny odd group is rounded DOWN onto the even group's grid: -2^-20 → -2^-10.
        let a = [240.0f32, -(2f32.powi(-10)), 0.0, 0.0];
        let b = [240.0f32, 2f32.powi(-10), 0.0, 0.0];
        // 57600 − 2^-10 needs 16 + 10 = 26 bits: at the 31-bit C stage it is exact, then RNE to f32
        // (24 bits: ulp at 57600 is 2^-8) → 57600 − 2^-10 rounds to 57600.
        assert_eq!(step(0.0, &a, F8, &b, F8), 57600.0);
        // With C = −57600 + 2^-8·… the round-down shows: C = 0.0 → the sum stays at the f32 nearest.
        let r = step(-57600.0, &a, F8, &b, F8);
        assert_eq!(r, -(2f32.powi(-10)));
    }

    #[test]
    fn small_c_is_dropped() {
        // M = e(1·1) = 0. C = −2^-26: e(C) = −26 < M − 25, dropped entirely → 1.
        let (a, b) = ([1.0f32], [1.0f32]);
        assert_eq!(step(-(2f32.powi(-26)), &a, F8, &b, F8), 1.0);
        // C = −2^-25: e(C) = −25 ≥ M − 25, kept and rounded DOWN onto the 2^-24 grid → 1 − 2^-24.
        assert_eq!(
            step(-(2f32.powi(-25)), &a, F8, &b, F8),
            1.0 - 2f32.powi(-24)
        );
        // C = 2^-23 is on the grid: 1 + 2^-23.
        assert_eq!(step(2f32.powi(-23), &a, F8, &b, F8), 1.0 + 2f32.powi(-23));
    }

    #[test]
    fn nan_propagates() {
        assert!(step(0.0, &[f32::NAN], F8, &[1.0], F8).is_nan());
        assert!(step(f32::NAN, &[1.0], F8, &[1.0], F8).is_nan());
        assert_eq!(step(f32::INFINITY, &[1.0], F8, &[1.0], F8), f32::INFINITY);
    }
}
