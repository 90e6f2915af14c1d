//! GEMM operands: a quantized operand (FP8 codes + block scales, `crate::quant::Quantized`) or a plain one
//! (values used as given, scale 1). A is `[M, K]`, B is `[N, K]` row-major, C = A · Bᵀ.
//!
//! Also here: decoding rows into f32 buffers (the codes' exact values, scales kept apart) and the per-block
//! exponent bounds that decide whether an f64 sum of products is exact.

use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::formats::{DType, Fp8Format};
use crate::io::Tensor;
use crate::quant::Quantized;

/// One GEMM operand.
#[derive(Clone, Debug, PartialEq)]
pub enum Operand {
    /// FP8 codes with dequant scales on a block grid.
    Quantized(Quantized),
    /// Plain values `[rows, cols]` row-major (quant `none`: bf16 activations kept as they are, or a
    /// dequantized weight), scale 1.
    Plain {
        rows: usize,
        cols: usize,
        values: Vec<f32>,
    },
}

impl From<Quantized> for Operand {
    fn from(q: Quantized) -> Self {
        Operand::Quantized(q)
    }
}

impl Operand {
    /// A plain operand; `values.len()` must be rows · cols.
    pub fn plain(rows: usize, cols: usize, values: Vec<f32>) -> Result<Operand> {
        if values.len() != rows * cols {
            return Err(Error::BadTensor(format!(
                "plain operand [{rows}, {cols}] needs {} values, got {}",
                rows * cols,
                values.len()
            )));
        }
        Ok(Operand::Plain { rows, cols, values })
    }

    /// A plain operand from a 2-D floating tensor (values decoded exactly to f32; f64 is rounded).
    pub fn from_tensor(t: &Tensor) -> Result<Operand> {
        if t.shape.len() != 2 || !t.dtype.is_float() {
            return Err(Error::BadTensor(format!(
                "tensor '{}': a GEMM operand must be a 2-D floating tensor, got {} {:?}",
                t.name, t.dtype, t.shape
            )));
        }
        Operand::plain(t.shape[0], t.shape[1], t.to_f32())
    }

    /// Rows (M for A, N for B).
    pub fn rows(&self) -> usize {
        match self {
            Operand::Quantized(q) => q.rows,
            Operand::Plain { rows, .. } => *rows,
        }
    }

    /// Columns (K).
    pub fn cols(&self) -> usize {
        match self {
            Operand::Quantized(q) => q.cols,
            Operand::Plain { cols, .. } => *cols,
        }
    }

    /// The scale blocks' width along K (None for plain operands).
    pub fn k_block(&self) -> Option<usize> {
        match self {
            Operand::Quantized(q) => Some(q.block_cols),
            Operand::Plain { .. } => None,
        }
    }

    /// Checks the internal consistency of the operand (`role` names it in the error): code count, block
    /// sizes and the scale grid.
    pub fn validate(&self, role: &str) -> Result<()> {
        match self {
            Operand::Plain { rows, cols, values } => {
                if values.len() != rows * cols {
                    return Err(Error::BadTensor(format!(
                        "{role}: [{rows}, {cols}] needs {} values, got {}",
                        rows * cols,
                        values.len()
                    )));
                }
            }
            Operand::Quantized(q) => {
                if q.q.len() != q.rows * q.cols {
                    return Err(Error::BadTensor(format!(
                        "{role}: [{}, {}] needs {} FP8 codes, got {}",
                        q.rows,
                        q.cols,
                        q.rows * q.cols,
                        q.q.len()
                    )));
                }
                if q.block_rows == 0 || q.block_cols == 0 {
                    return Err(Error::BadTensor(format!(
                        "{role}: scale blocks of {}×{} elements are empty",
                        q.block_rows, q.block_cols
                    )));
                }
                let (gr, gc) = q.grid();
                if q.scales.len() != gr * gc {
                    return Err(Error::BadTensor(format!(
                        "{role}: [{}, {}] with {}×{} scale blocks needs a [{gr}, {gc}] scale grid ({} scales), got {}",
                        q.rows,
                        q.cols,
                        q.block_rows,
                        q.block_cols,
                        gr * gc,
                        q.scales.len()
                    )));
                }
            }
        }
        Ok(())
    }

    /// The f32 value decoded from an element, without its scale: decode(q) for a quantized operand (exact),
    /// the value for a plain one.
    #[inline]
    pub fn code_value(&self, r: usize, c: usize) -> f32 {
        match self {
            Operand::Quantized(q) => q.fmt.decode(q.q[r * q.cols + c]),
            Operand::Plain { cols, values, .. } => values[r * cols + c],
        }
    }

    /// The scale of element (r, c) (1 for plain operands).
    #[inline]
    pub fn scale(&self, r: usize, c: usize) -> f32 {
        match self {
            Operand::Quantized(q) => q.scale_at(r, c),
            Operand::Plain { .. } => 1.0,
        }
    }

    /// Decodes rows [r0, r0 + n) into `out` (row-major, n · cols values) as code values.
    pub fn decode_rows(&self, r0: usize, n: usize, out: &mut [f32]) {
        let k = self.cols();
        match self {
            Operand::Quantized(q) => {
                let t = q.fmt.table();
                for (o, &c) in out.iter_mut().zip(&q.q[r0 * k..(r0 + n) * k]) {
                    *o = t[c as usize];
                }
            }
            Operand::Plain { values, .. } => out.copy_from_slice(&values[r0 * k..(r0 + n) * k]),
        }
    }

    /// The same operand dequantized to bf16 and made plain: x = bf16(fl32(decode(q) · s)), as DeepSeek-V3
    /// `weight_dequant` stores `x.to(f32) * s` in the bf16 default dtype (docs/numerics.md §8.2). Plain values
    /// are rounded to bf16 (nearest-even).
    pub fn dequant_bf16(&self) -> Operand {
        let bf = |x: f32| half::bf16::from_f32(x).to_f32();
        match self {
            Operand::Plain { rows, cols, values } => Operand::Plain {
                rows: *rows,
                cols: *cols,
                values: values.iter().map(|&v| bf(v)).collect(),
            },
            Operand::Quantized(q) => {
                let mut values = vec![0f32; q.rows * q.cols];
                values
                    .par_chunks_mut(q.cols.max(1))
                    .enumerate()
                    .for_each(|(r, row)| {
                        for (c, v) in row.iter_mut().enumerate() {
                            *v = bf(q.dequant(r, c));
                        }
                    });
                Operand::Plain {
                    rows: q.rows,
                    cols: q.cols,
                    values,
                }
            }
        }
    }

    /// Static exponent bounds of every element (None for plain operands, whose values are arbitrary).
    pub fn static_bounds(&self) -> Option<Bounds> {
        match self {
            Operand::Quantized(q) => Some(Bounds::of_format(q.fmt)),
            Operand::Plain { .. } => None,
        }
    }

    /// The element dtype the operand's values carry (for messages).
    pub fn describe(&self) -> String {
        match self {
            Operand::Quantized(q) => format!(
                "{} [{}, {}] with {}×{} scales",
                fp8_dtype(q.fmt),
                q.rows,
                q.cols,
                q.block_rows,
                q.block_cols
            ),
            Operand::Plain { rows, cols, .. } => format!("plain [{rows}, {cols}]"),
        }
    }
}

/// The tensor dtype of an FP8 format.
pub fn fp8_dtype(f: Fp8Format) -> DType {
    match f {
        Fp8Format::E4m3fn => DType::F8E4M3FN,
        Fp8Format::E4m3fnuz => DType::F8E4M3FNUZ,
        Fp8Format::E5m2 => DType::F8E5M2,
    }
}

/// Exponent bounds of a set of finite nonzero values: every value is a multiple of 2^lsb and below
/// 2^(top+1) in magnitude. An empty set (all zero, or only NaN/inf) has `top = EMPTY`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bounds {
    pub lsb: i32,
    pub top: i32,
}

/// `top` of a set with no finite nonzero value.
pub const EMPTY: i32 = i32::MIN / 4;

impl Default for Bounds {
    fn default() -> Self {
        Bounds {
            lsb: i32::MAX / 4,
            top: EMPTY,
        }
    }
}

impl Bounds {
    /// Bounds of every finite code of an FP8 format (docs/numerics.md §2.1): e4m3fn values are multiples of
    /// 2^-9 below 2^9 (max 448), e4m3fnuz of 2^-10 below 2^8 (240), e5m2 of 2^-16 below 2^16 (57344).
    pub fn of_format(f: Fp8Format) -> Bounds {
        match f {
            Fp8Format::E4m3fn => Bounds { lsb: -9, top: 8 },
            Fp8Format::E4m3fnuz => Bounds { lsb: -10, top: 7 },
            Fp8Format::E5m2 => Bounds { lsb: -16, top: 15 },
        }
    }

    /// Widens the bounds to include x (NaN, inf and zeros are ignored).
    #[inline]
    pub fn include(&mut self, x: f32) {
        let b = x.to_bits() & 0x7FFF_FFFF;
        if b == 0 || b >= 0x7F80_0000 {
            return;
        }
        let e = (b >> 23) as i32;
        let (m, e0) = if e == 0 {
            (b, -149)
        } else {
            (b & 0x7F_FFFF | 0x80_0000, e - 150)
        };
        self.lsb = self.lsb.min(e0 + m.trailing_zeros() as i32);
        self.top = self.top.max(e0 + 31 - m.leading_zeros() as i32);
    }

    /// The bounds of a slice.
    pub fn of(xs: &[f32]) -> Bounds {
        let mut b = Bounds::default();
        xs.iter().for_each(|&x| b.include(x));
        b
    }

    /// Whether every partial sum of `len` products a_k·b_k (a from `self`, b from `o`), formed in f64 in any
    /// order, is exact.
    ///
    /// Proof: each product of two f32 values is exact in f64 (24 + 24 ≤ 53 significant bits) and is a
    /// multiple of 2^(lsb_a + lsb_b); every partial sum is then a multiple of that power too, and below
    /// len · 2^(top_a+1) · 2^(top_b+1) ≤ 2^(top_a + top_b + 2 + ⌈log2 len⌉) in magnitude. A multiple of 2^L
    /// below 2^(L+53) is an integer times 2^L with at most 53 bits: representable, so no addition rounds.
    /// For e4m3fn × e4m3fn and len = 128 the span is 8 + 8 + 2 + 7 + 18 = 43 bits (docs/numerics.md §8.3),
    /// so any K block of fp8 × fp8 products sums exactly in f64 whatever the order; with e5m2 it is not
    /// (15 + 8 + 2 + 7 + 25 = 57) and the emulation checks each block.
    #[inline]
    pub fn f64_sum_exact(self, o: Bounds, len: usize) -> bool {
        if self.top == EMPTY || o.top == EMPTY {
            return true;
        }
        let lg = usize::BITS - len.saturating_sub(1).leading_zeros();
        self.top + o.top + 2 + lg as i32 - (self.lsb + o.lsb) <= 53
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_bounds_cover_every_finite_code() {
        for f in Fp8Format::ALL {
            let mut b = Bounds::default();
            for c in 0..=255u8 {
                b.include(f.decode(c));
            }
            assert_eq!(b, Bounds::of_format(f), "{f:?}");
        }
    }

    #[test]
    fn exactness_rule() {
        let fnb = Bounds::of_format(Fp8Format::E4m3fn);
        assert!(fnb.f64_sum_exact(fnb, 128));
        assert!(fnb.f64_sum_exact(fnb, 7168));
        let e5 = Bounds::of_format(Fp8Format::E5m2);
        assert!(!e5.f64_sum_exact(fnb, 128));
        // A case that really rounds: 2^40 + 2^-13 is not an f64, and the rule says so.
        let a = Bounds::of(&[2f32.powi(20), 2f32.powi(-7)]);
        let b = Bounds::of(&[2f32.powi(20), 2f32.powi(-6)]);
        assert!(!a.f64_sum_exact(b, 2));
        assert_eq!(2f64.powi(40) + 2f64.powi(-13) - 2f64.powi(40), 0.0);
        assert!(Bounds::of(&[0.0, f32::NAN]).f64_sum_exact(a, 1 << 20));
        assert_eq!(
            Bounds::of(&[3.0 * 2f32.powi(-140)]),
            Bounds {
                lsb: -149 + 9,
                top: -139
            }
        );
    }
}
