//! Bit-exact models of FP8 matrix-multiply-accumulate hardware: one instruction step `C ← A·B + C` over a
//! group of K products with an f32 accumulator C, as the tensor cores (NVIDIA) and matrix cores (AMD) compute
//! it. These are the `acc=sm90|sm89|sm100|cdna3` values of the GEMM spec (docs/numerics.md §8.7).
//!
//! Each model has two implementations:
//! - a reference ([`Model::step`]) in exact integer arithmetic (i128 fixed point, every truncation explicit),
//!   written from the published descriptions and parameterised so that the device probes can test rival
//!   hypotheses ([`nv::NvParams`]);
//! - the fast tile kernels of [`fast`] that the GEMM driver runs, exact by construction (see its proof) and
//!   checked against the reference on random and crafted data (`fast` tests).
//!
//! The models, their sources and the evidence behind each (published vectors, device probes, real
//! `torch._scaled_mm` outputs) are in docs/numerics.md §8.7.

pub mod cdna3;
pub mod fast;
pub mod nv;
pub mod sm100;
pub mod sm89;
pub mod sm90;

use crate::formats::Fp8Format;

/// An accumulator model (the `acc` axis value).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Model {
    /// Hopper `wgmma` FP8 ([`sm90`]).
    Sm90,
    /// Ada `mma.sync` FP8 ([`sm89`]).
    Sm89,
    /// Blackwell `tcgen05.mma` kind::f8f6f4 ([`sm100`]).
    Sm100,
    /// CDNA3 (MI300) `v_mfma_f32_*_fp8_fp8` ([`cdna3`]).
    Cdna3,
}

impl Model {
    pub const ALL: [Model; 4] = [Model::Sm90, Model::Sm89, Model::Sm100, Model::Cdna3];

    /// The `acc=` spelling.
    pub fn name(self) -> &'static str {
        match self {
            Model::Sm90 => "sm90",
            Model::Sm89 => "sm89",
            Model::Sm100 => "sm100",
            Model::Cdna3 => "cdna3",
        }
    }

    pub fn parse(s: &str) -> Option<Model> {
        Self::ALL.into_iter().find(|m| m.name() == s)
    }

    /// Products consumed by one fused step (the accumulator is rounded after each).
    pub fn group(self) -> usize {
        match self {
            Model::Sm90 | Model::Sm100 => 32,
            Model::Sm89 | Model::Cdna3 => 16,
        }
    }

    /// K of one instruction (a promotion interval must hold whole instructions).
    pub fn instruction_k(self) -> usize {
        32
    }

    /// Whether the model's hardware takes operands of `fmt`: NVIDIA FP8 MMA takes OCP e4m3/e5m2, CDNA3
    /// takes the fnuz formats (of which `isolate` knows e4m3fnuz).
    pub fn accepts(self, fmt: Fp8Format) -> bool {
        match self {
            Model::Cdna3 => fmt == Fp8Format::E4m3fnuz,
            _ => fmt != Fp8Format::E4m3fnuz,
        }
    }

    /// One line: what backs the model.
    pub fn evidence(self) -> &'static str {
        match self {
            Model::Sm90 => "Hopper wgmma: MATLAB-tensor-core H100/H200 vectors, MMA-Sim, device probes (fixtures/golden/tc_*)",
            Model::Sm89 => "Ada mma.sync: published data only (MATLAB-tensor-core Ada/L40S vectors, MMA-Sim)",
            Model::Sm100 => "Blackwell tcgen05 f8f6f4: published data only (MATLAB-tensor-core B200 vectors, MMA-Sim)",
            Model::Cdna3 => "MI300 MFMA fp8: MMA-Sim's model only, never checked on AMD hardware",
        }
    }

    /// One fused step of the reference model: the new C from `c` and the `group()` (or fewer) products of
    /// the pairs (a_k, b_k), given as decoded FP8 values with their formats.
    pub fn step(self, c: f32, a: &[f32], fa: Fp8Format, b: &[f32], fb: Fp8Format) -> f32 {
        match self {
            Model::Sm90 => sm90::step(c, a, fa, b, fb),
            Model::Sm89 => sm89::step(c, a, fa, b, fb),
            Model::Sm100 => sm100::step(c, a, fa, b, fb),
            Model::Cdna3 => cdna3::step(c, a, fa, b, fb),
        }
    }

    /// A whole instruction (k = 32 products, or fewer) from C: the steps of `group()` chained.
    pub fn instruction(self, c: f32, a: &[f32], fa: Fp8Format, b: &[f32], fb: Fp8Format) -> f32 {
        let g = self.group();
        let mut c = c;
        for (x, y) in a.chunks(g).zip(b.chunks(g)) {
            c = self.step(c, x, fa, y, fb);
        }
        c
    }
}

/// The smallest exponent of a normal number of `fmt`: the exponent the models give its subnormals.
pub fn emin(fmt: Fp8Format) -> i32 {
    match fmt {
        Fp8Format::E4m3fn => -6,
        Fp8Format::E4m3fnuz => -7,
        Fp8Format::E5m2 => -14,
    }
}

/// A finite non-zero value split as the datapath sees it: |v| = m · 2^(e − fb), where e is the model
/// exponent (⌊log2|v|⌋ for a normal, the format's emin for a subnormal) and fb the format's fraction bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Parts {
    pub neg: bool,
    pub m: u64,
    pub e: i32,
    pub fb: u32,
}

/// A value's class for the datapath.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    Zero,
    Finite(Parts),
    Inf(bool),
    Nan,
}

/// ⌊log2|x|⌋ of a finite non-zero f32, and its 24-bit integer significand with |x| = sig · 2^(exp − 23)
/// (subnormals: exp = −126, sig < 2^23).
fn f32_parts(x: f32) -> (i32, u64) {
    let b = x.to_bits() & 0x7FFF_FFFF;
    let be = (b >> 23) as i32;
    if be == 0 {
        (-126, (b & 0x7F_FFFF) as u64)
    } else {
        (be - 127, ((b & 0x7F_FFFF) | 0x80_0000) as u64)
    }
}

/// The class of an FP8 value of `fmt` (given decoded; every FP8 value is an f32 normal).
pub fn class_fp8(v: f32, fmt: Fp8Format) -> Class {
    if v.is_nan() {
        return Class::Nan;
    }
    if v.is_infinite() {
        return Class::Inf(v < 0.0);
    }
    if v == 0.0 {
        return Class::Zero;
    }
    let (et, sig) = f32_parts(v);
    let fb = fmt.mantissa_bits();
    let e = et.max(emin(fmt));
    // |v| = sig·2^(et−23) = m·2^(e−fb)  →  m = sig >> (23 − fb + e − et), exact for an FP8 value.
    let sh = (23 - fb as i32 + e - et) as u32;
    debug_assert_eq!(sig & ((1u64 << sh) - 1), 0);
    Class::Finite(Parts {
        neg: v < 0.0,
        m: sig >> sh,
        e,
        fb,
    })
}

/// The class of an f32 accumulator value: e = ⌊log2|c|⌋ for a normal, −126 for a subnormal (the f32 emin),
/// fb = 23.
pub fn class_f32(c: f32) -> Class {
    if c.is_nan() {
        return Class::Nan;
    }
    if c.is_infinite() {
        return Class::Inf(c < 0.0);
    }
    if c == 0.0 {
        return Class::Zero;
    }
    let (e, m) = f32_parts(c);
    Class::Finite(Parts {
        neg: c < 0.0,
        m,
        e,
        fb: 23,
    })
}

/// How a final value is rounded to f32.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rounding {
    /// Toward zero, keeping `n` significant bits (subnormal results: the f32 subnormal grid scaled to n bits,
    /// i.e. multiples of 2^(−126−(n−1))); |x| ≥ 2^128 gives ±inf (both published models do this).
    Trunc(u32),
    /// Nearest, ties to even, to f32 (24 bits, IEEE subnormals and overflow to inf).
    NearestEven,
}

/// (−1)^neg · mag · 2^lsb rounded to f32 per `r`. Exact integer arithmetic.
pub fn to_f32(neg: bool, mag: u128, lsb: i32, r: Rounding) -> f32 {
    if mag == 0 {
        return 0.0;
    }
    let bits = 128 - mag.leading_zeros() as i32;
    let top = lsb + bits - 1; // exponent of the leading bit
    let keep = match r {
        Rounding::Trunc(n) => n as i32,
        Rounding::NearestEven => 24,
    };
    // The grid: keep significant bits, not below 2^(−126 − (keep − 1)).
    let grid = (top - (keep - 1)).max(-126 - (keep - 1));
    let drop = grid - lsb;
    let (q, g) = if drop <= 0 {
        (mag, lsb)
    } else if drop >= 128 {
        (0, grid)
    } else {
        let q = mag >> drop;
        let q = match r {
            Rounding::Trunc(_) => q,
            Rounding::NearestEven => {
                let rem = mag & ((1u128 << drop) - 1);
                let half = 1u128 << (drop - 1);
                if rem > half || (rem == half && q & 1 == 1) {
                    q + 1
                } else {
                    q
                }
            }
        };
        (q, grid)
    };
    if q == 0 {
        return if neg { -0.0 } else { 0.0 };
    }
    let qb = 128 - q.leading_zeros() as i32;
    let v = if g + qb > 128 {
        f32::INFINITY
    } else {
        // q < 2^25 and q·2^g lies on the f32 grid: exact in f64 and then in f32.
        (q as f64 * 2f64.powi(g)) as f32
    };
    if neg {
        -v
    } else {
        v
    }
}

/// The IEEE result of a step whose inputs hold a NaN or an infinity: NaN if any NaN (incl. 0 · inf) or
/// infinities of both signs, else the infinity. None when everything is finite.
pub fn special(c: Class, pairs: impl Iterator<Item = (Class, Class)>) -> Option<f32> {
    let (mut pos, mut neg, mut nan) = (false, false, false);
    let mut note = |x: Class| match x {
        Class::Nan => nan = true,
        Class::Inf(true) => neg = true,
        Class::Inf(false) => pos = true,
        _ => {}
    };
    note(c);
    for (a, b) in pairs {
        match (a, b) {
            (Class::Nan, _) | (_, Class::Nan) => note(Class::Nan),
            (Class::Inf(_), Class::Zero) | (Class::Zero, Class::Inf(_)) => note(Class::Nan),
            (Class::Inf(x), Class::Inf(y)) => note(Class::Inf(x != y)),
            (Class::Inf(x), Class::Finite(p)) | (Class::Finite(p), Class::Inf(x)) => {
                note(Class::Inf(x != p.neg))
            }
            _ => {}
        }
    }
    if nan || (pos && neg) {
        Some(f32::NAN)
    } else if pos {
        Some(f32::INFINITY)
    } else if neg {
        Some(f32::NEG_INFINITY)
    } else {
        None
    }
}

/// The exact product of two finite parts: |p| = m · 2^(e − fb) with e = ea + eb (not renormalised).
pub fn product(a: Parts, b: Parts) -> Parts {
    Parts {
        neg: a.neg != b.neg,
        m: a.m * b.m,
        e: a.e + b.e,
        fb: a.fb + b.fb,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fp8_parts_are_exact() {
        for fmt in Fp8Format::ALL {
            for code in 0..=255u8 {
                let v = fmt.decode(code);
                if let Class::Finite(p) = class_fp8(v, fmt) {
                    let back = p.m as f64 * 2f64.powi(p.e - p.fb as i32);
                    assert_eq!(back, v.abs() as f64, "{fmt:?} {code:#x}");
                    assert!(p.e >= emin(fmt));
                    // Normals carry the hidden bit, subnormals do not.
                    let normal = v.abs() >= 2f32.powi(emin(fmt));
                    assert_eq!(p.m >= 1 << p.fb, normal, "{fmt:?} {code:#x}");
                }
            }
        }
        assert_eq!(
            class_fp8(2f32.powi(-9), Fp8Format::E4m3fn),
            Class::Finite(Parts {
                neg: false,
                m: 1,
                e: -6,
                fb: 3
            })
        );
    }

    #[test]
    fn rounding_helper() {
        // 0b1_0000_0000_0000_1111 · 2^0 kept to 14 bits: the low 3 bits go (truncation).
        assert_eq!(to_f32(false, 0x1000F, 0, Rounding::Trunc(14)), 65544.0);
        assert_eq!(to_f32(true, 0x1000F, 0, Rounding::Trunc(14)), -65544.0);
        assert_eq!(
            to_f32(false, (1 << 24) + 3, 0, Rounding::NearestEven),
            16777220.0
        );
        assert_eq!(
            to_f32(false, (1 << 24) + 1, 0, Rounding::NearestEven),
            16777216.0
        );
        // Subnormal grid for 14 bits: multiples of 2^-139.
        assert_eq!(to_f32(false, 3, -141, Rounding::Trunc(14)), 0.0);
        assert_eq!(to_f32(false, 5, -141, Rounding::Trunc(14)), 2f32.powi(-139));
        assert_eq!(
            to_f32(false, 1, -149, Rounding::NearestEven),
            f32::from_bits(1)
        );
        assert_eq!(to_f32(false, 1, 128, Rounding::Trunc(14)), f32::INFINITY);
        assert_eq!(
            to_f32(false, (1 << 24) - 1, 104, Rounding::Trunc(24)),
            f32::MAX
        );
    }
}
