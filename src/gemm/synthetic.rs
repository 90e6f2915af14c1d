//! Deterministic synthetic operands for tests, benchmarks and self-checks (no real quantizer involved):
//! uniformly random finite FP8 codes and random scales on a block grid.

use crate::formats::Fp8Format;
use crate::quant::Quantized;

/// SplitMix64: a tiny deterministic generator (no dependency, same stream on every platform).
#[derive(Clone, Debug)]
pub struct SplitMix(pub u64);

impl SplitMix {
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, n).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// How synthetic scales are drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScaleKind {
    /// Powers of two 2^e, e ∈ [-12, -4] (E8M0-style).
    Pow2,
    /// Arbitrary positive f32 values in [2^-12, 2^-4) (fp32 scales).
    Any,
}

/// A random `[rows, cols]` operand of `fmt` with `br × bc` blocks: every code finite, uniformly drawn.
pub fn quantized(
    rows: usize,
    cols: usize,
    br: usize,
    bc: usize,
    fmt: Fp8Format,
    scales: ScaleKind,
    seed: u64,
) -> Quantized {
    let mut g = SplitMix(seed);
    let q = (0..rows * cols)
        .map(|_| loop {
            let c = g.below(256) as u8;
            if !fmt.is_nan(c) && fmt.decode(c).is_finite() {
                break c;
            }
        })
        .collect();
    let (gr, gc) = (rows.div_ceil(br), cols.div_ceil(bc));
    let scales = (0..gr * gc)
        .map(|_| match scales {
            ScaleKind::Pow2 => 2f32.powi(-(4 + g.below(9) as i32)),
            ScaleKind::Any => (2f64.powf(-12.0 + 8.0 * g.unit())) as f32,
        })
        .collect();
    Quantized {
        rows,
        cols,
        fmt,
        q,
        block_rows: br,
        block_cols: bc,
        scales,
    }
}
