//! The CPU backend: the reference definitions of src/formats/, src/quant/ and src/gemm/, run with rayon.

use rayon::prelude::*;

use crate::backend::Backend;
use crate::error::Result;
use crate::formats::{e8m0, E8m0Round, Fp8Format, Overflow};
use crate::gemm::{GemmOutput, GemmSpec, GpuGemm, Operand, OutType};
use crate::io::Tensor;
use crate::quant::{QuantSpec, Quantized};

/// The CPU reference backend.
#[derive(Clone, Copy, Debug, Default)]
pub struct CpuBackend;

impl Backend for CpuBackend {
    fn name(&self) -> &'static str {
        "cpu"
    }

    fn describe(&self) -> String {
        format!("CPU, {} threads", rayon::current_num_threads())
    }

    fn e8m0_encode(&self, x: &[f32], round: E8m0Round) -> Result<Vec<u8>> {
        Ok(x.par_iter()
            .with_min_len(4096)
            .map(|&v| e8m0::encode(v, round))
            .collect())
    }

    fn e8m0_decode(&self, codes: &[u8]) -> Result<Vec<f32>> {
        Ok(codes.iter().map(|&c| e8m0::decode(c)).collect())
    }

    fn fp8_encode(&self, x: &[f32], fmt: Fp8Format, overflow: Overflow) -> Result<Vec<u8>> {
        Ok(x.par_iter()
            .with_min_len(4096)
            .map(|&v| fmt.encode(v, overflow))
            .collect())
    }

    fn fp8_decode(&self, codes: &[u8], fmt: Fp8Format) -> Result<Vec<f32>> {
        let t = fmt.table();
        Ok(codes.iter().map(|&c| t[c as usize]).collect())
    }

    fn quantize_activation(&self, spec: &QuantSpec, x: &Tensor) -> Result<Quantized> {
        crate::quant::quantize_activation(spec, x)
    }

    fn quantize_weight(&self, spec: &QuantSpec, w: &Tensor) -> Result<Quantized> {
        crate::quant::quantize_weight(spec, w)
    }

    fn gemm(
        &self,
        spec: &GemmSpec,
        a: &Operand,
        b: &Operand,
        progress: &(dyn Fn(usize, usize) + Sync),
    ) -> Result<GemmOutput> {
        crate::gemm::gemm_with_progress(spec, a, b, progress)
    }

    fn gpu_gemm(
        &self,
        g: &GpuGemm,
        _out: OutType,
        _a: &Quantized,
        _b: &Quantized,
    ) -> Result<GemmOutput> {
        Err(crate::backend::gpu_only(g, "this is the CPU backend"))
    }
}
