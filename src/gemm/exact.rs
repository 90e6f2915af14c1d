//! Exact arithmetic for the GEMM emulation: error-free transformations (TwoSum, TwoProd), round-to-odd,
//! truncation to N mantissa bits, and an exact fixed-point accumulator for any number of f64 terms.
//!
//! Why round-to-odd: a value X known exactly (as s + e, or as a big integer) must be rounded once to f32
//! (or truncated to N bits). Rounding X to nearest f64 first and then to f32 is a double rounding and can
//! be wrong at f32 ties. Rounding X to **odd** at 53 bits first and then to nearest (or toward zero) at
//! p ≤ 51 bits is always correct (Boldo & Melquiond, "Emulation of FMA and correctly rounded sums: proved
//! algorithms using rounding to odd", IEEE TC 2008: RO at p+k bits, k ≥ 2, then RN at p bits = RN at p
//! bits). For truncation the argument is shorter: X lies strictly between two consecutive 53-bit
//! neighbours, the odd one is RO(X); no coarser grid point lies strictly between them and the odd one is
//! not on a coarser grid, so truncating RO(X) equals truncating X.

/// TwoSum (Knuth): s = fl(a + b) and the exact error e, a + b = s + e (no overflow).
#[inline]
pub fn two_sum(a: f64, b: f64) -> (f64, f64) {
    let s = a + b;
    let bb = s - a;
    let e = (a - (s - bb)) + (b - bb);
    (s, e)
}

/// TwoProd with a fused multiply-add: p = fl(a·b) and the exact error e, a·b = p + e (no under/overflow).
#[inline]
pub fn two_prod(a: f64, b: f64) -> (f64, f64) {
    let p = a * b;
    (p, a.mul_add(b, -p))
}

/// Round-to-odd of the exact value s + e, where s = fl(s + e) (the output of [`two_sum`] / [`two_prod`]):
/// s itself when e = 0 or s's last significand bit is already 1, else s moved one ulp toward e.
#[inline]
pub fn ro(s: f64, e: f64) -> f64 {
    if e == 0.0 || !s.is_finite() || s.to_bits() & 1 == 1 {
        return s;
    }
    // s ≠ 0 here: fl(x) = 0 only for x = 0 exactly (gradual underflow), and then e = 0.
    let up_in_magnitude = (e > 0.0) == (s > 0.0);
    let b = s.to_bits();
    f64::from_bits(if up_in_magnitude { b + 1 } else { b - 1 })
}

/// Round-to-odd of a + b.
#[inline]
pub fn ro_sum(a: f64, b: f64) -> f64 {
    let (s, e) = two_sum(a, b);
    ro(s, e)
}

/// Truncates x toward zero to `n` explicit mantissa bits (n + 1 significant bits) in the f32 exponent
/// range: below 2^-126 the grid is 2^(-126-n) (gradual underflow as in a narrow float with f32's
/// exponent); |result| ≥ 2^128 becomes ±inf. NaN stays NaN. `x` must already be exact or round-to-odd.
#[inline]
pub fn truncate_bits(x: f64, n: u32) -> f64 {
    if !x.is_finite() || x == 0.0 {
        return x;
    }
    let a = x.abs();
    let t = if a < f64::from_bits(((1023 - 126) as u64) << 52) {
        let unit = 2f64.powi(-126 - n as i32);
        (a / unit).trunc() * unit
    } else {
        let drop = 52 - n;
        f64::from_bits(a.to_bits() & !((1u64 << drop) - 1))
    };
    let t = if t >= 2f64.powi(128) {
        f64::INFINITY
    } else {
        t
    };
    t.copysign(x)
}

/// Limbs of the fixed-point accumulator: bit 0 is 2^-1074 (the smallest f64 subnormal); 34 limbs hold
/// 2176 bits, i.e. every finite f64 (< 2^1024) with 2^63 terms of headroom, in two's complement.
const LIMBS: usize = 34;

/// An exact accumulator of f64 terms (a Kulisch-style long fixed-point register): `add` never rounds, so
/// the sum is independent of the order of the terms; `to_f64_ro` / `to_f32` round it once.
#[derive(Clone)]
pub struct ExactSum {
    limbs: [u64; LIMBS],
    /// Any term was +inf / −inf / NaN.
    pos_inf: bool,
    neg_inf: bool,
    nan: bool,
    /// Every term so far was −0 (IEEE: a sum of −0s is −0; anything else that is zero is +0).
    all_neg_zero: bool,
    terms: usize,
}

impl Default for ExactSum {
    fn default() -> Self {
        ExactSum {
            limbs: [0; LIMBS],
            pos_inf: false,
            neg_inf: false,
            nan: false,
            all_neg_zero: true,
            terms: 0,
        }
    }
}

impl ExactSum {
    /// An empty (zero) sum.
    pub fn new() -> Self {
        Self::default()
    }

    /// Clears to zero.
    pub fn clear(&mut self) {
        *self = Self::default();
    }

    /// Adds x exactly.
    pub fn add(&mut self, x: f64) {
        self.terms += 1;
        if x.is_nan() {
            self.nan = true;
            return;
        }
        if x.is_infinite() {
            if x > 0.0 {
                self.pos_inf = true;
            } else {
                self.neg_inf = true;
            }
            return;
        }
        if !(x == 0.0 && x.is_sign_negative()) {
            self.all_neg_zero = false;
        }
        if x == 0.0 {
            return;
        }
        let bits = x.to_bits();
        let biased = ((bits >> 52) & 0x7FF) as u32;
        let frac = bits & ((1u64 << 52) - 1);
        // x = m · 2^(pos - 1074) with pos ≥ 0.
        let (m, pos) = if biased == 0 {
            (frac, 0u32)
        } else {
            (frac | (1u64 << 52), biased - 1)
        };
        let limb = (pos / 64) as usize;
        let shifted = (m as u128) << (pos % 64);
        let (lo, hi) = (shifted as u64, (shifted >> 64) as u64);
        if x > 0.0 {
            self.add_at(limb, lo, hi);
        } else {
            self.sub_at(limb, lo, hi);
        }
    }

    fn add_at(&mut self, limb: usize, lo: u64, hi: u64) {
        let (r, c0) = self.limbs[limb].overflowing_add(lo);
        self.limbs[limb] = r;
        let (r, c1) = self.limbs[limb + 1].overflowing_add(hi);
        let (r, c2) = r.overflowing_add(c0 as u64);
        self.limbs[limb + 1] = r;
        let mut carry = c1 || c2;
        let mut i = limb + 2;
        while carry && i < LIMBS {
            let (r, c) = self.limbs[i].overflowing_add(1);
            self.limbs[i] = r;
            carry = c;
            i += 1;
        }
    }

    fn sub_at(&mut self, limb: usize, lo: u64, hi: u64) {
        let (r, b0) = self.limbs[limb].overflowing_sub(lo);
        self.limbs[limb] = r;
        let (r, b1) = self.limbs[limb + 1].overflowing_sub(hi);
        let (r, b2) = r.overflowing_sub(b0 as u64);
        self.limbs[limb + 1] = r;
        let mut borrow = b1 || b2;
        let mut i = limb + 2;
        while borrow && i < LIMBS {
            let (r, b) = self.limbs[i].overflowing_sub(1);
            self.limbs[i] = r;
            borrow = b;
            i += 1;
        }
    }

    /// The IEEE result for sums with non-finite terms (None when every term was finite).
    fn special(&self) -> Option<f64> {
        if self.nan || (self.pos_inf && self.neg_inf) {
            Some(f64::NAN)
        } else if self.pos_inf {
            Some(f64::INFINITY)
        } else if self.neg_inf {
            Some(f64::NEG_INFINITY)
        } else {
            None
        }
    }

    /// Sign and magnitude limbs.
    fn magnitude(&self) -> (bool, [u64; LIMBS]) {
        let neg = self.limbs[LIMBS - 1] >> 63 == 1;
        if !neg {
            return (false, self.limbs);
        }
        let mut m = [0u64; LIMBS];
        let mut carry = true;
        for (o, &l) in m.iter_mut().zip(&self.limbs) {
            let (r, c) = (!l).overflowing_add(carry as u64);
            *o = r;
            carry = c;
        }
        (true, m)
    }

    /// The sum rounded to f64, with round-to-odd (`odd = true`) or round-to-nearest-even.
    fn to_f64(&self, odd: bool) -> f64 {
        if let Some(s) = self.special() {
            return s;
        }
        let (neg, m) = self.magnitude();
        let Some(top_limb) = (0..LIMBS).rev().find(|&i| m[i] != 0) else {
            return if self.all_neg_zero && self.terms > 0 {
                -0.0
            } else {
                0.0
            };
        };
        let p = top_limb as u32 * 64 + 63 - m[top_limb].leading_zeros(); // index of the leading bit
        let bit = |i: u32| (m[(i / 64) as usize] >> (i % 64)) & 1;
        let v = if p < 53 {
            // Fewer than 54 significant bits: exact (possibly subnormal).
            (m[0] as f64) * f64::from_bits(1) // m[0] < 2^53: exact integer times 2^-1074
        } else {
            let shift = p - 52;
            // 53 kept bits, the round bit below them, and whether anything below that is set.
            let mut mant = 0u64;
            for i in 0..53 {
                mant |= bit(shift + i) << i;
            }
            let round = bit(shift - 1) == 1;
            let below = shift - 1; // bits [0, below) form the sticky part
            let full = (below / 64) as usize;
            let sticky = m[..full].iter().any(|&l| l != 0)
                || (below % 64 != 0 && m[full] & ((1u64 << (below % 64)) - 1) != 0);
            let biased = (shift + 1) as u64; // value = mant · 2^(shift − 1074), mant ∈ [2^52, 2^53)
            if biased >= 2047 {
                f64::INFINITY
            } else {
                let mut bits = (biased << 52) | (mant & ((1u64 << 52) - 1));
                if odd {
                    if round || sticky {
                        bits |= 1;
                    }
                } else if round && (sticky || mant & 1 == 1) {
                    bits += 1; // a carry into the exponent is the correct renormalisation
                }
                f64::from_bits(bits)
            }
        };
        if neg {
            -v
        } else {
            v
        }
    }

    /// The sum rounded to odd at f64 precision (exact when it fits).
    pub fn to_f64_ro(&self) -> f64 {
        self.to_f64(true)
    }

    /// The sum rounded to nearest-even f64.
    pub fn to_f64_rn(&self) -> f64 {
        self.to_f64(false)
    }

    /// The sum rounded once to nearest-even f32 (through round-to-odd at 53 bits; see the module doc).
    pub fn to_f32(&self) -> f32 {
        self.to_f64_ro() as f32
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// Terms m · 2^e with |m| < 2^30 and e ∈ [-24, 24]: their exact sum in units of 2^-24 fits an i128.
    fn random_terms(rng: &mut rand::rngs::StdRng, n: usize) -> Vec<(i128, f64)> {
        (0..n)
            .map(|_| {
                let m: i64 = rng.random_range(-(1i64 << 30)..(1i64 << 30));
                let e: i32 = rng.random_range(-24..=24);
                let units = (m as i128) << (e + 24);
                (units, m as f64 * 2f64.powi(e))
            })
            .collect()
    }

    /// Whether `r` is the correctly rounded (nearest-even, `bits` significand bits) value of v·2^-24, checked
    /// in integer arithmetic in units of 2^min(-24, log2 ulp(r)).
    fn is_rn(v: i128, r: f64, bits: u32) -> bool {
        if r == 0.0 {
            return v == 0;
        }
        let k = r.abs().log2().floor() as i32 - (bits as i32 - 1); // ulp(r) = 2^k
        let unit = k.min(-24);
        let to_units = |x: f64| -> i128 {
            let s = x * 2f64.powi(-unit);
            assert!(
                s.abs() < 2f64.powi(120) && s.fract() == 0.0,
                "{x} in units 2^{unit}"
            );
            s as i128
        };
        let exact = v << (-24 - unit);
        let ulp = 2f64.powi(k);
        let (lo, hi) = (to_units(r - ulp), to_units(r + ulp));
        let d = (exact - to_units(r)).abs();
        let (dl, dh) = ((exact - lo).abs(), (exact - hi).abs());
        // Nearest, and on a tie the even significand.
        let even = ((r.abs() / ulp) as u64) & 1 == 0;
        d <= dl && d <= dh && (d < dl.min(dh) || even)
    }

    #[test]
    fn exact_sum_rounds_once_to_nearest_f32_and_f64() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for n in [1, 2, 3, 10, 100, 500] {
            for _ in 0..300 {
                let terms = random_terms(&mut rng, n);
                let v: i128 = terms.iter().map(|t| t.0).sum();
                let mut s = ExactSum::new();
                terms.iter().for_each(|t| s.add(t.1));
                assert!(is_rn(v, s.to_f32() as f64, 24), "f32 of {v}");
                assert!(is_rn(v, s.to_f64_rn(), 53), "f64 of {v}");
                // Order-independent.
                let mut r = ExactSum::new();
                terms.iter().rev().for_each(|t| r.add(t.1));
                assert_eq!(r.to_f64_ro().to_bits(), s.to_f64_ro().to_bits());
            }
        }
    }

    #[test]
    fn f32_ties_are_not_double_rounded() {
        // 1 + 2^-24 is an f32 tie: RN gives 1. 1 + 2^-24 + 2^-80 is above the tie: RN32 gives 1 + 2^-23,
        // while rounding to nearest f64 first (1 + 2^-24) and then to f32 gives 1.
        let mut s = ExactSum::new();
        for x in [1.0, 2f64.powi(-24), 2f64.powi(-80)] {
            s.add(x);
        }
        assert_eq!(s.to_f32(), 1.0 + f32::EPSILON);
        assert_eq!(s.to_f64_rn() as f32, 1.0, "the double rounding this avoids");
        let mut t = ExactSum::new();
        for x in [1.0, 2f64.powi(-24)] {
            t.add(x);
        }
        assert_eq!(t.to_f32(), 1.0);
    }

    #[test]
    fn signs_zeros_and_specials() {
        let mut s = ExactSum::new();
        s.add(-0.0);
        s.add(-0.0);
        assert!(s.to_f32() == 0.0 && s.to_f32().is_sign_negative());
        s.add(0.0);
        assert!(s.to_f32().is_sign_positive());
        let mut c = ExactSum::new();
        c.add(3.5);
        c.add(-3.5);
        assert!(c.to_f64_rn() == 0.0 && c.to_f64_rn().is_sign_positive());
        c.add(-1e300);
        c.add(-1e300);
        assert_eq!(c.to_f64_rn(), -2e300);
        let mut tiny = ExactSum::new();
        tiny.add(f64::from_bits(3));
        tiny.add(f64::from_bits(1));
        assert_eq!(tiny.to_f64_rn(), f64::from_bits(4));
        let mut i = ExactSum::new();
        i.add(f64::INFINITY);
        i.add(1.0);
        assert_eq!(i.to_f32(), f32::INFINITY);
        i.add(f64::NEG_INFINITY);
        assert!(i.to_f32().is_nan());
    }

    #[test]
    fn round_to_odd_then_nearest_equals_exact_rounding() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        for _ in 0..20000 {
            let t = random_terms(&mut rng, 2);
            let v = t[0].0 + t[1].0;
            let r = ro_sum(t[0].1, t[1].1);
            assert!(is_rn(v, r as f32 as f64, 24));
            let mut s = ExactSum::new();
            s.add(t[0].1);
            s.add(t[1].1);
            assert_eq!(r.to_bits(), s.to_f64_ro().to_bits());
        }
        let (p, e) = two_prod(1.0 + 2f64.powi(-30), 1.0 + 2f64.powi(-30));
        assert_eq!((p, e), (1.0 + 2f64.powi(-29), 2f64.powi(-60)));
    }

    #[test]
    fn truncation_keeps_n_bits_toward_zero() {
        let x = 1.0 + 2f64.powi(-13) + 2f64.powi(-14);
        assert_eq!(truncate_bits(x, 13), 1.0 + 2f64.powi(-13));
        assert_eq!(truncate_bits(-x, 13), -(1.0 + 2f64.powi(-13)));
        assert_eq!(truncate_bits(x, 12), 1.0);
        // Below 2^-126 the grid is 2^(-126-n).
        assert_eq!(truncate_bits(1.5 * 2f64.powi(-130), 1), 0.0);
        assert_eq!(
            truncate_bits(1.5 * 2f64.powi(-130), 5),
            1.5 * 2f64.powi(-130)
        );
        assert_eq!(truncate_bits(1.75 * 2f64.powi(-127), 1), 2f64.powi(-127));
        assert_eq!(
            truncate_bits(1.75 * 2f64.powi(-127), 2),
            1.5 * 2f64.powi(-127)
        ); // grid 2^-128
        assert_eq!(truncate_bits(2f64.powi(129), 13), f64::INFINITY);
        // x just below a 14-bit value: truncating RO(x) must not land on that value.
        let (s, e) = two_sum(1.0 + 2f64.powi(-13), -(2f64.powi(-70)));
        assert_eq!(truncate_bits(ro(s, e), 13), 1.0);
    }
}
