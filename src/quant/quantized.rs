//! The output of a quantizer and the input of a GEMM: FP8 codes plus dequant scales on a block grid.

use crate::formats::Fp8Format;

/// A quantized 2-D operand `[rows, cols]`: x ≈ decode(q) · scale of its block.
///
/// Activations use 1×G blocks (`block_rows = 1`, `block_cols = G`), weights 128×128 blocks. Scales are the
/// dequant multipliers as f32 values (an E8M0 scale is stored decoded: 2^k exactly), row-major over the
/// block grid `[ceil(rows/block_rows), ceil(cols/block_cols)]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Quantized {
    pub rows: usize,
    pub cols: usize,
    pub fmt: Fp8Format,
    /// FP8 codes, row-major `[rows, cols]`.
    pub q: Vec<u8>,
    pub block_rows: usize,
    pub block_cols: usize,
    /// Dequant scales, row-major over the block grid.
    pub scales: Vec<f32>,
}

impl Quantized {
    /// Blocks along rows and along cols.
    pub fn grid(&self) -> (usize, usize) {
        (
            self.rows.div_ceil(self.block_rows),
            self.cols.div_ceil(self.block_cols),
        )
    }

    /// The scale of element (r, c).
    #[inline]
    pub fn scale_at(&self, r: usize, c: usize) -> f32 {
        let (_, gc) = self.grid();
        self.scales[(r / self.block_rows) * gc + c / self.block_cols]
    }

    /// Dequantized value of element (r, c), computed as f32(decode(q) · s) (one rounding).
    #[inline]
    pub fn dequant(&self, r: usize, c: usize) -> f32 {
        self.fmt.decode(self.q[r * self.cols + c]) * self.scale_at(r, c)
    }

    /// The same codes with every block row's scales set to its first one: scales constant along K, the
    /// per-row (per-tensor when there is one block row) scaling a GEMM without promotion (`tc-fast-accum`)
    /// accepts. A test operand, not a re-quantization: the codes are not recomputed.
    pub fn with_row_constant_scales(&self) -> Quantized {
        let mut q = self.clone();
        let (_, gc) = q.grid();
        for row in q.scales.chunks_mut(gc.max(1)) {
            let s0 = row[0];
            row.iter_mut().for_each(|s| *s = s0);
        }
        q
    }
}
