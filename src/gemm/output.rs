//! The result of a GEMM emulation.

use crate::error::Result;
use crate::formats::DType;
use crate::gemm::spec::OutType;
use crate::io::Tensor;

/// C[M, N] row-major; with `out = bf16` every value is bf16-representable.
#[derive(Clone, Debug, PartialEq)]
pub struct GemmOutput {
    pub rows: usize,
    pub cols: usize,
    pub values: Vec<f32>,
    pub out: OutType,
}

impl GemmOutput {
    /// C from f32 accumulator values: with `out = bf16` each value rounded to bf16, nearest-even (NaN stays
    /// NaN). Every GEMM of isolate, emulated or on the GPU, goes through this one rounding.
    pub fn from_f32(rows: usize, cols: usize, mut values: Vec<f32>, out: OutType) -> GemmOutput {
        if out == OutType::Bf16 {
            values
                .iter_mut()
                .for_each(|v| *v = half::bf16::from_f32(*v).to_f32());
        }
        GemmOutput {
            rows,
            cols,
            values,
            out,
        }
    }

    /// The output dtype.
    pub fn dtype(&self) -> DType {
        match self.out {
            OutType::Bf16 => DType::BF16,
            OutType::F32 => DType::F32,
        }
    }

    /// The output as a tensor of its own dtype (bf16 or f32), shape [M, N].
    pub fn to_tensor(&self, name: &str) -> Result<Tensor> {
        let shape = vec![self.rows, self.cols];
        match self.out {
            OutType::F32 => Tensor::from_f32(name, shape, &self.values),
            OutType::Bf16 => {
                // Parallel over chunks into a preallocated buffer: a 4096×7168 output is 29 M values.
                use rayon::prelude::*;
                const CHUNK: usize = 1 << 15;
                let mut bytes = vec![0u8; self.values.len() * 2];
                bytes
                    .par_chunks_mut(2 * CHUNK)
                    .zip(self.values.par_chunks(CHUNK))
                    .for_each(|(dst, src)| {
                        for (d, &v) in dst.chunks_exact_mut(2).zip(src) {
                            d.copy_from_slice(&half::bf16::from_f32(v).to_bits().to_le_bytes());
                        }
                    });
                Tensor::new(name, DType::BF16, shape, bytes)
            }
        }
    }
}
