//! The three 8-bit floating-point element formats, encoded and decoded bit for bit as PyTorch does.
//!
//! Sources (docs/numerics.md §2): `c10/util/Float8_e4m3fn.h` @1725fe86,
//! `c10/util/Float8_e4m3fnuz.h` @0697b0b4, `c10/util/Float8_e5m2.h`. Encoding is round-to-nearest-even;
//! what happens past the largest finite value is the [`Overflow`] policy.

use std::sync::OnceLock;

/// An 8-bit floating-point element format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Fp8Format {
    /// OCP E4M3: bias 7, max 448 (0x7E), NaN S.1111.111, no infinity, ±0.
    E4m3fn,
    /// AMD E4M3FNUZ: bias 8, max 240 (0x7F), NaN 0x80 only, no infinity, no −0.
    E4m3fnuz,
    /// OCP E5M2: bias 15, max 57344, infinities S.11111.00, NaN S.11111.{01,10,11}.
    E5m2,
}

/// What an encoder does with a finite value beyond the format's largest finite value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Overflow {
    /// Clamp to ±max (CUDA `__NV_SATFINITE`, Triton `cvt.rn.satfinite`, AMD med3+cvt, torch ≥ 2.12 eager
    /// e4m3fn). ±inf also saturates to ±max (the hardware `satfinite` rule); NaN stays NaN.
    Saturate,
    /// PyTorch ≤ 2.11 eager casts: e4m3fn maps |x| > 464 (after rounding) to NaN, e4m3fnuz maps |x| ≥ 248
    /// to NaN, e5m2 maps |x| ≥ 61440 to ±inf (docs/numerics.md §2.4).
    Nan,
}

impl Overflow {
    /// Parses `saturate` / `nan`.
    pub fn parse(s: &str) -> Option<Overflow> {
        match s {
            "saturate" | "sat" => Some(Overflow::Saturate),
            "nan" => Some(Overflow::Nan),
            _ => None,
        }
    }
    /// The spelling `parse` accepts.
    pub fn name(self) -> &'static str {
        match self {
            Overflow::Saturate => "saturate",
            Overflow::Nan => "nan",
        }
    }
}

impl Fp8Format {
    /// All three formats.
    pub const ALL: [Fp8Format; 3] = [Fp8Format::E4m3fn, Fp8Format::E4m3fnuz, Fp8Format::E5m2];

    /// Our short name (`e4m3fn`, `e4m3fnuz`, `e5m2`).
    pub fn name(self) -> &'static str {
        match self {
            Fp8Format::E4m3fn => "e4m3fn",
            Fp8Format::E4m3fnuz => "e4m3fnuz",
            Fp8Format::E5m2 => "e5m2",
        }
    }

    /// Parses a short name.
    pub fn parse(s: &str) -> Option<Fp8Format> {
        Self::ALL.into_iter().find(|f| f.name() == s)
    }

    /// Largest finite value (OCP OFP8 table; docs/numerics.md §2.1).
    pub fn max_finite(self) -> f32 {
        match self {
            Fp8Format::E4m3fn => 448.0,
            Fp8Format::E4m3fnuz => 240.0,
            Fp8Format::E5m2 => 57344.0,
        }
    }

    /// Number of explicit mantissa bits.
    pub fn mantissa_bits(self) -> u32 {
        match self {
            Fp8Format::E4m3fn | Fp8Format::E4m3fnuz => 3,
            Fp8Format::E5m2 => 2,
        }
    }

    /// The code of +max.
    pub fn max_code(self) -> u8 {
        match self {
            Fp8Format::E4m3fn => 0x7E,
            Fp8Format::E4m3fnuz => 0x7F,
            Fp8Format::E5m2 => 0x7B,
        }
    }

    /// Whether `code` is a NaN of this format.
    pub fn is_nan(self, code: u8) -> bool {
        match self {
            Fp8Format::E4m3fn => code & 0x7F == 0x7F,
            Fp8Format::E4m3fnuz => code == 0x80,
            Fp8Format::E5m2 => code & 0x7F > 0x7C,
        }
    }

    /// Decodes one code exactly (every code has an exact f32 value). NaN codes decode to a NaN with the
    /// code's sign; the payload is not meaningful.
    pub fn decode(self, code: u8) -> f32 {
        self.table()[code as usize]
    }

    /// The 256-entry decode table, built once.
    pub fn table(self) -> &'static [f32; 256] {
        static TABLES: [OnceLock<[f32; 256]>; 3] =
            [OnceLock::new(), OnceLock::new(), OnceLock::new()];
        let i = self as usize;
        TABLES[i].get_or_init(|| {
            let mut t = [0f32; 256];
            for (c, v) in t.iter_mut().enumerate() {
                *v = self.decode_uncached(c as u8);
            }
            t
        })
    }

    /// Decodes from the field definitions (OCP OFP8; torch `fp8e4m3fn_to_fp32_value` and friends).
    fn decode_uncached(self, code: u8) -> f32 {
        let neg = code & 0x80 != 0;
        let (ebits, mbits, bias) = match self {
            Fp8Format::E4m3fn => (4, 3, 7),
            Fp8Format::E4m3fnuz => (4, 3, 8),
            Fp8Format::E5m2 => (5, 2, 15),
        };
        let e = ((code & 0x7F) >> mbits) as i32;
        let m = (code & ((1 << mbits) - 1)) as i32;
        let emax = (1 << ebits) - 1;
        let mag = match self {
            Fp8Format::E4m3fnuz if code == 0x80 => return f32::NAN,
            Fp8Format::E4m3fn if e == emax && m == (1 << mbits) - 1 => f32::NAN,
            Fp8Format::E5m2 if e == emax && m != 0 => f32::NAN,
            Fp8Format::E5m2 if e == emax => f32::INFINITY,
            _ if e == 0 => m as f32 * 2f32.powi(1 - bias - mbits),
            _ => (1.0 + m as f32 / (1 << mbits) as f32) * 2f32.powi(e - bias),
        };
        if neg {
            -mag
        } else {
            mag
        }
    }

    /// Encodes `x` with round-to-nearest-even and the given overflow policy.
    ///
    /// `Overflow::Nan` reproduces torch's `fp8e4m3fn_from_fp32_value`, `fp8e4m3fnuz_from_fp32_value` and
    /// `fp8e5m2_from_fp32_value` bit for bit (docs/numerics.md §2.3, §2.4): the magic-number add for values
    /// below the smallest normal (the f32 add itself does the RNE), an integer RNE on the kept mantissa
    /// bits otherwise, −0 kept except in fnuz.
    pub fn encode(self, x: f32, overflow: Overflow) -> u8 {
        let x = match overflow {
            Overflow::Nan => x,
            Overflow::Saturate if x.is_nan() => x,
            Overflow::Saturate => x.clamp(-self.max_finite(), self.max_finite()),
        };
        match self {
            Fp8Format::E4m3fn => encode_e4m3fn_torch(x),
            Fp8Format::E4m3fnuz => encode_e4m3fnuz_torch(x),
            Fp8Format::E5m2 => encode_e5m2_torch(x),
        }
    }
}

/// torch `fp8e4m3fn_from_fp32_value` (c10/util/Float8_e4m3fn.h @1725fe86).
fn encode_e4m3fn_torch(x: f32) -> u8 {
    const FP8_MAX: u32 = 1087 << 20; // 480.0: first value that does not round to a finite code
    const DENORM_MASK: u32 = 141 << 23; // 2^14: adding it leaves the subnormal code in the low bits
    let bits = x.to_bits();
    let sign = bits & 0x8000_0000;
    let f = bits ^ sign;
    let r: u8 = if f >= FP8_MAX {
        0x7F
    } else if f < (121 << 23) {
        let sum = (f32::from_bits(f) + f32::from_bits(DENORM_MASK)).to_bits();
        sum.wrapping_sub(DENORM_MASK) as u8
    } else {
        let mant_odd = (f >> 20) & 1;
        let g = f
            .wrapping_add(((7i32 - 127) as u32) << 23)
            .wrapping_add(0x7FFFF)
            .wrapping_add(mant_odd);
        (g >> 20) as u8
    };
    r | (sign >> 24) as u8
}

/// torch `fp8e4m3fnuz_from_fp32_value` (c10/util/Float8_e4m3fnuz.h @0697b0b4).
fn encode_e4m3fnuz_torch(x: f32) -> u8 {
    const FNUZ_MAX: u32 = 0x87 << 23; // 256.0
    const DENORM_MASK: u32 = 0x8C << 23; // 2^13
    let bits = x.to_bits();
    let sign = bits & 0x8000_0000;
    let f = bits ^ sign;
    if f >= FNUZ_MAX {
        return 0x80;
    }
    let r: u8 = if f < (0x78 << 23) {
        let sum = (f32::from_bits(f) + f32::from_bits(DENORM_MASK)).to_bits();
        let r = sum.wrapping_sub(DENORM_MASK) as u8;
        if r == 0 {
            return 0; // fnuz has no negative zero
        }
        r
    } else {
        let mant_odd = (f >> 20) & 1;
        let g = f
            .wrapping_add(((8i32 - 127) as u32) << 23)
            .wrapping_add(0x7FFFF)
            .wrapping_add(mant_odd);
        (g >> 20) as u8
    };
    r | (sign >> 24) as u8
}

/// torch `fp8e5m2_from_fp32_value` (c10/util/Float8_e5m2.h).
fn encode_e5m2_torch(x: f32) -> u8 {
    const FP32_INF: u32 = 255 << 23;
    const FP8_MAX: u32 = 143 << 23; // 65536.0
    const DENORM_MASK: u32 = 134 << 23; // 2^7
    let bits = x.to_bits();
    let sign = bits & 0x8000_0000;
    let f = bits ^ sign;
    let r: u8 = if f >= FP8_MAX {
        if f > FP32_INF {
            0x7F
        } else {
            0x7C
        }
    } else if f < (113 << 23) {
        let sum = (f32::from_bits(f) + f32::from_bits(DENORM_MASK)).to_bits();
        sum.wrapping_sub(DENORM_MASK) as u8
    } else {
        let mant_odd = (f >> 21) & 1;
        let g = f
            .wrapping_add(((15i32 - 127) as u32) << 23)
            .wrapping_add(0xFFFFF)
            .wrapping_add(mant_odd);
        (g >> 21) as u8
    };
    r | (sign >> 24) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Exact value of a code from the OFP8 definition, computed in f64 independently of `decode`.
    fn reference_value(f: Fp8Format, c: u8) -> Option<f64> {
        let s = if c & 0x80 != 0 { -1.0 } else { 1.0 };
        let (mb, bias, eb) = match f {
            Fp8Format::E4m3fn => (3, 7, 4),
            Fp8Format::E4m3fnuz => (3, 8, 4),
            Fp8Format::E5m2 => (2, 15, 5),
        };
        let e = ((c & 0x7F) >> mb) as i32;
        let m = (c & ((1 << mb) - 1)) as f64;
        if f.is_nan(c) {
            return None;
        }
        if f == Fp8Format::E5m2 && e == (1 << eb) - 1 {
            return Some(s * f64::INFINITY);
        }
        Some(if e == 0 {
            s * m * 2f64.powi(1 - bias - mb)
        } else {
            s * (1.0 + m / (1 << mb) as f64) * 2f64.powi(e - bias)
        })
    }

    #[test]
    fn all_codes_decode_to_their_ofp8_value_and_reencode() {
        for f in Fp8Format::ALL {
            for c in 0..=255u8 {
                let v = f.decode(c);
                match reference_value(f, c) {
                    None => assert!(v.is_nan(), "{f:?} {c:#x}"),
                    Some(r) => {
                        assert_eq!(v as f64, r, "{f:?} {c:#x}");
                        // Every finite code re-encodes to itself (fnuz: 0x00 only zero).
                        if r.is_finite() {
                            assert_eq!(f.encode(v, Overflow::Nan), c, "{f:?} {c:#x}");
                            assert_eq!(f.encode(v, Overflow::Saturate), c, "{f:?} {c:#x}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn boundaries() {
        let e = Fp8Format::E4m3fn;
        assert_eq!(e.encode(464.0, Overflow::Nan), 0x7E); // tie to even 448
        assert_eq!(
            e.encode(f32::from_bits(464f32.to_bits() + 1), Overflow::Nan),
            0x7F
        );
        assert_eq!(e.encode(479.99, Overflow::Nan), 0x7F);
        assert_eq!(e.encode(480.0, Overflow::Nan), 0x7F);
        assert_eq!(e.encode(-1e9, Overflow::Nan), 0xFF);
        assert_eq!(e.encode(1e9, Overflow::Saturate), 0x7E);
        assert_eq!(e.encode(f32::NEG_INFINITY, Overflow::Saturate), 0xFE);
        assert!(e.is_nan(e.encode(f32::NAN, Overflow::Saturate)));
        assert_eq!(e.encode(-0.0, Overflow::Nan), 0x80);
        assert_eq!(e.encode(2f32.powi(-10), Overflow::Nan), 0x00); // tie to even zero
        assert_eq!(e.encode(-2f32.powi(-10) * 1.5, Overflow::Nan), 0x81);

        let z = Fp8Format::E4m3fnuz;
        assert_eq!(z.encode(247.9, Overflow::Nan), 0x7F);
        assert_eq!(z.encode(248.0, Overflow::Nan), 0x80);
        assert_eq!(z.encode(-248.0, Overflow::Nan), 0x80);
        assert_eq!(z.encode(255.0, Overflow::Nan), 0x80);
        assert_eq!(z.encode(256.0, Overflow::Nan), 0x80);
        assert_eq!(z.encode(1000.0, Overflow::Saturate), 0x7F);
        assert_eq!(z.encode(-0.0, Overflow::Nan), 0x00);
        assert_eq!(z.encode(-1e-30, Overflow::Nan), 0x00);

        let m = Fp8Format::E5m2;
        assert_eq!(m.encode(61439.0, Overflow::Nan), 0x7B);
        assert_eq!(m.encode(61440.0, Overflow::Nan), 0x7C); // tie rounds to even = inf
        assert_eq!(m.encode(-65536.0, Overflow::Nan), 0xFC);
        assert_eq!(m.encode(f32::INFINITY, Overflow::Nan), 0x7C);
        assert_eq!(m.encode(1e9, Overflow::Saturate), 0x7B);
        assert!(m.is_nan(m.encode(f32::NAN, Overflow::Nan)));
    }
}
