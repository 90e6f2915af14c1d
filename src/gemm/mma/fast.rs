//! The accumulator models over a tile (rows of A × the NT columns of a transposed B tile), as the GEMM
//! driver runs them: bit-identical to the reference steps of [`super`], at SIMD speed.
//!
//! NVIDIA models (F fraction bits, [`super::nv`]): per step, E = max(e(C), max_k e(a_k) + e(b_k)) in i32
//! lanes (a zero operand has exponent −2^20, so its products never win), then with s = 2^(F − E):
//! S = +0 + trunc(C·s) + Σ_k trunc((a_k·b_k)·s), and the result S·2^(E − F) rounded toward zero.
//!
//! Why this is exact (no rounding anywhere but where the model truncates):
//! - a_k·b_k of two FP8 values has ≤ 8 significant bits and lies in [2^−32, 2^32): exact in f32;
//! - multiplying by a power of two s ∈ [2^−114, 2^41] is exact whenever the result is ≥ 2^−126; a result
//!   below that is < 1 and truncates to 0 whatever its rounding;
//! - every truncated term is an integer below 2^(F+2) in magnitude (a product's significand is < 4 and
//!   its exponent ≤ E; C's significand < 2 and e(C) ≤ E), so S is a sum of ≤ 33 integers below
//!   33·2^(F+2) < 2^(F+8): exact in f32 for F = 13 (< 2^21 < 2^24) and in f64 for F = 25 (< 2^33);
//!   order-independent, so any vectorisation gives the same bits;
//! - S·2^(E−F) is exact (a power-of-two scaling of a normal result: E ≥ −100 whenever a product is non-zero,
//!   since FP8 products have exponents ≥ −28), or overflows to ±inf exactly when the model does (≥ 2^128);
//! - the 14-bit truncation of an f32 is clearing its 10 low mantissa bits (for normals and, since the
//!   model's subnormal grid is 2^−139 = 2^10 · 2^−149, for subnormals too);
//! - a step with no non-zero product keeps C truncated to the output precision (+0 for ±0), which is what
//!   the reference gives (E = e(C) then).
//!
//! NaN and infinities propagate through the same IEEE operations (0·inf = NaN, inf − inf = NaN); their
//! operands get the exponent [`SPECIAL_EXP`] so that such a step is never taken for "C only".
//! The CDNA3 model runs the reference step per element (slow; offered for completeness).

use super::{cdna3, emin, Model};
use crate::formats::Fp8Format;
use crate::gemm::kernels::{ATile, NT};

/// Exponent of a zero operand: products with it never set E.
pub const ZERO_EXP: i32 = -(1 << 20);
/// Below this E no product is non-zero (FP8 product exponents are ≥ −28).
const ONLY_C: i32 = -100;

/// Exponent of a NaN or infinite operand: large enough that a product with it always counts (even with a
/// zero partner, 0·inf = NaN), so that the step does not take the "only C" shortcut; E is clamped to 127
/// for the scalings, and the NaN/inf then propagates through them.
pub const SPECIAL_EXP: i32 = 1 << 22;

/// The model exponent of a decoded FP8 value: ⌊log2|v|⌋, the format's emin for a subnormal,
/// [`ZERO_EXP`] for zero, [`SPECIAL_EXP`] for NaN/inf.
#[inline]
pub fn exponent(v: f32, fmt: Fp8Format) -> i32 {
    let b = v.to_bits() & 0x7FFF_FFFF;
    if b == 0 {
        ZERO_EXP
    } else if b >= 0x7F80_0000 {
        SPECIAL_EXP
    } else {
        ((b >> 23) as i32 - 127).max(emin(fmt))
    }
}

/// Exponents of a buffer of decoded values.
pub fn exponents(values: &[f32], fmt: Fp8Format, out: &mut [i32]) {
    for (o, &v) in out.iter_mut().zip(values) {
        *o = exponent(v, fmt);
    }
}

/// e(C) of an f32 accumulator (−126 for subnormals, [`ZERO_EXP`] for zero).
#[inline(always)]
fn c_exp(c: f32) -> i32 {
    let b = c.to_bits() & 0x7FFF_FFFF;
    let be = (b >> 23) as i32;
    if b == 0 {
        ZERO_EXP
    } else if be == 0 {
        -126
    } else if be == 255 {
        0
    } else {
        be - 127
    }
}

/// 2^x as f32 for x in [−126, 127].
#[inline(always)]
fn pow2f(x: i32) -> f32 {
    f32::from_bits(((127 + x) as u32) << 23)
}

/// A tile's operands for the models.
#[derive(Clone, Copy)]
pub struct MmaTile<'a> {
    /// Rows of A (decoded code values) and their exponents (same layout).
    pub at: ATile<'a>,
    pub ea: &'a [i32],
    /// B tile transposed, `bt[k · NT + j]`, and its exponents.
    pub bt: &'a [f32],
    pub ebt: &'a [i32],
    pub fa: Fp8Format,
    pub fb: Fp8Format,
}

/// c[i · NT + j] ← the model's steps over K range [k0, k1) (groups of `model.group()` from k0; the last
/// may be shorter), chained from the C already there, for every row i of the tile and column j.
pub fn steps(model: Model, t: &MmaTile, k0: usize, k1: usize, c: &mut [f32]) {
    if model == Model::Cdna3 {
        return cdna3_steps(t, k0, k1, c);
    }
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU has the features the function is compiled for.
        unsafe { nv_steps_avx2(model, t, k0, k1, c) };
        return;
    }
    nv_steps_body(model, t, k0, k1, c)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn nv_steps_avx2(model: Model, t: &MmaTile, k0: usize, k1: usize, c: &mut [f32]) {
    nv_steps_body(model, t, k0, k1, c)
}

#[inline(always)]
fn nv_steps_body(model: Model, t: &MmaTile, k0: usize, k1: usize, c: &mut [f32]) {
    let g = model.group();
    for i in 0..t.at.rows {
        let a = &t.at.a[i * t.at.lda..(i + 1) * t.at.lda];
        let ea = &t.ea[i * t.at.lda..(i + 1) * t.at.lda];
        let row: &mut [f32; NT] = (&mut c[i * NT..(i + 1) * NT]).try_into().unwrap();
        let mut s0 = k0;
        while s0 < k1 {
            let s1 = (s0 + g).min(k1);
            match model {
                Model::Sm100 => group25(a, ea, t.bt, t.ebt, s0, s1, row),
                _ => group13(a, ea, t.bt, t.ebt, s0, s1, row),
            }
            s0 = s1;
        }
    }
}

/// E per column: max(e(C), max_k ea[k] + ebt[k][j]).
#[inline(always)]
fn exps(ea: &[i32], ebt: &[i32], k0: usize, k1: usize, c: &[f32; NT]) -> [i32; NT] {
    let mut e = [0i32; NT];
    for j in 0..NT {
        e[j] = c_exp(c[j]);
    }
    for k in k0..k1 {
        let ak = ea[k];
        let r: &[i32; NT] = ebt[k * NT..(k + 1) * NT].try_into().unwrap();
        for j in 0..NT {
            e[j] = e[j].max(ak + r[j]);
        }
    }
    e
}

/// One F = 13 step (sm90, sm89) for a row against NT columns.
#[inline(always)]
fn group13(
    a: &[f32],
    ea: &[i32],
    bt: &[f32],
    ebt: &[i32],
    k0: usize,
    k1: usize,
    c: &mut [f32; NT],
) {
    const F: i32 = 13;
    let e = exps(ea, ebt, k0, k1, c);
    let mut s = [0f32; NT];
    let mut acc = [0f32; NT];
    for j in 0..NT {
        s[j] = pow2f(F - e[j].clamp(ONLY_C, 127));
        acc[j] = 0.0 + (c[j] * s[j]).trunc();
    }
    for k in k0..k1 {
        let av = a[k];
        let r: &[f32; NT] = bt[k * NT..(k + 1) * NT].try_into().unwrap();
        for j in 0..NT {
            acc[j] += (av * r[j] * s[j]).trunc();
        }
    }
    for j in 0..NT {
        let v = if e[j] < ONLY_C {
            c[j] + 0.0
        } else {
            acc[j] * pow2f(e[j].clamp(ONLY_C, 127) - F)
        };
        c[j] = f32::from_bits(v.to_bits() & !0x3FF);
    }
}

/// f64 → f32 toward zero; |x| ≥ 2^128 gives ±inf (the models' overflow).
#[inline(always)]
fn rz_f32(x: f64) -> f32 {
    if x.abs() >= 2f64.powi(128) {
        return if x < 0.0 {
            f32::NEG_INFINITY
        } else {
            f32::INFINITY
        };
    }
    let y = x as f32;
    if (y as f64).abs() > x.abs() {
        f32::from_bits(y.to_bits() - 1)
    } else {
        y
    }
}

/// One F = 25 step (sm100): terms in f64.
#[inline(always)]
fn group25(
    a: &[f32],
    ea: &[i32],
    bt: &[f32],
    ebt: &[i32],
    k0: usize,
    k1: usize,
    c: &mut [f32; NT],
) {
    const F: i32 = 25;
    let e = exps(ea, ebt, k0, k1, c);
    let mut s = [0f64; NT];
    let mut acc = [0f64; NT];
    for j in 0..NT {
        s[j] = 2f64.powi(F - e[j].clamp(ONLY_C, 127));
        acc[j] = 0.0 + (c[j] as f64 * s[j]).trunc();
    }
    for k in k0..k1 {
        let av = a[k];
        let r: &[f32; NT] = bt[k * NT..(k + 1) * NT].try_into().unwrap();
        for j in 0..NT {
            acc[j] += ((av * r[j]) as f64 * s[j]).trunc();
        }
    }
    for j in 0..NT {
        c[j] = if e[j] < ONLY_C {
            c[j] + 0.0
        } else {
            rz_f32(acc[j] * 2f64.powi(e[j].clamp(ONLY_C, 127) - F))
        };
    }
}

/// CDNA3: the reference step per element and 16-group.
fn cdna3_steps(t: &MmaTile, k0: usize, k1: usize, c: &mut [f32]) {
    let g = Model::Cdna3.group();
    let mut bcol = vec![0f32; g];
    for i in 0..t.at.rows {
        let a = &t.at.a[i * t.at.lda..(i + 1) * t.at.lda];
        for j in 0..NT {
            let mut s0 = k0;
            while s0 < k1 {
                let s1 = (s0 + g).min(k1);
                for (o, k) in bcol.iter_mut().zip(s0..s1) {
                    *o = t.bt[k * NT + j];
                }
                let e = &mut c[i * NT + j];
                *e = cdna3::step(*e, &a[s0..s1], t.fa, &bcol[..s1 - s0], t.fb);
                s0 = s1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdata::Rng;

    /// A random code of `fmt` drawn to stress the models: wide exponent spread, zeros, subnormals, signs,
    /// and (when `specials`) NaN/inf codes.
    fn code(g: &mut Rng, fmt: Fp8Format, specials: bool) -> u8 {
        loop {
            let c = g.below(256) as u8;
            let v = fmt.decode(c);
            if specials || v.is_finite() {
                return c;
            }
        }
    }

    fn check(model: Model, fa: Fp8Format, fb: Fp8Format, specials: bool, seed: u64) {
        let mut g = Rng::new(seed);
        let (rows, k) = (3, 96);
        let mut a = vec![0f32; rows * k];
        for x in a.iter_mut() {
            *x = fa.decode(code(&mut g, fa, specials));
        }
        // Sparse rows/columns now and then: exercise "no non-zero product" and zero groups.
        for x in a[k..k + 40].iter_mut() {
            *x = 0.0;
        }
        let mut bt = vec![0f32; k * NT];
        for x in bt.iter_mut() {
            *x = fb.decode(code(&mut g, fb, specials));
        }
        for kk in 0..k {
            bt[kk * NT + 5] = 0.0;
        }
        let mut ea = vec![0; a.len()];
        exponents(&a, fa, &mut ea);
        let mut ebt = vec![0; bt.len()];
        exponents(&bt, fb, &mut ebt);
        // C: a mix of magnitudes, including subnormal, zero, -0 and huge values.
        let cs: Vec<f32> = (0..rows * NT)
            .map(|e| match e % 9 {
                0 => 0.0,
                1 => -0.0,
                2 => f32::from_bits(g.below(0x80_0000) as u32), // subnormal
                3 => f32::from_bits(0x7E00_0000 | g.below(0x1FF_FFFF) as u32), // ~2^125
                _ => (g.unit() as f32 - 0.5) * 2f32.powi(g.below(40) as i32 - 20),
            })
            .collect();
        let mut c = cs.clone();
        let t = MmaTile {
            at: ATile {
                a: &a,
                lda: k,
                rows,
            },
            ea: &ea,
            bt: &bt,
            ebt: &ebt,
            fa,
            fb,
        };
        steps(model, &t, 0, k, &mut c);
        for i in 0..rows {
            for j in 0..NT {
                let mut want = cs[i * NT + j];
                let col: Vec<f32> = (0..k).map(|kk| bt[kk * NT + j]).collect();
                for s0 in (0..k).step_by(model.group()) {
                    let s1 = (s0 + model.group()).min(k);
                    want = model.step(want, &a[i * k + s0..i * k + s1], fa, &col[s0..s1], fb);
                }
                let got = c[i * NT + j];
                assert!(
                    got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan()),
                    "{model:?} {fa:?}x{fb:?} seed {seed} ({i}, {j}): fast {got:e} ({:#x}) vs reference {want:e} ({:#x})",
                    got.to_bits(),
                    want.to_bits()
                );
            }
        }
    }

    #[test]
    fn fast_kernels_equal_the_reference() {
        use Fp8Format::*;
        for seed in 0..6 {
            for (fa, fb) in [
                (E4m3fn, E4m3fn),
                (E5m2, E5m2),
                (E4m3fn, E5m2),
                (E5m2, E4m3fn),
            ] {
                for m in [Model::Sm90, Model::Sm89, Model::Sm100] {
                    check(m, fa, fb, seed % 3 == 2, seed);
                }
            }
            check(Model::Cdna3, E4m3fnuz, E4m3fnuz, seed % 3 == 2, seed);
        }
    }
}
