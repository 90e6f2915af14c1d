//! `Backend::gpu_gemm` on CUDA: the GEMMs that exist only on the GPU — `tc` (WGMMA / mma.sync with promotion
//! every 128 K), `tc-fast-accum`, `cublaslt` and user kernels — each computed in f32 and rounded by
//! [`GemmOutput::from_f32`], the rounding every emulation uses (a user kernel writes its own bf16).

use crate::backend::cuda::cublaslt::LtGemm;
use crate::backend::cuda::tc::{tc, TcKind};
use crate::backend::cuda::{user_gemm, CudaBackend};
use crate::error::{Error, Result};
use crate::gemm::{GemmOutput, GpuGemm, OutType};
use crate::kernel_ref::KernelRef;
use crate::quant::Quantized;

/// C = A·Bᵀ by the GPU-only GEMM `g`. Operands a GEMM cannot take (formats, scale blocks, shapes) are usage
/// errors naming it and the reason.
pub fn gpu_gemm(
    be: &CudaBackend,
    g: &GpuGemm,
    out: OutType,
    a: &Quantized,
    b: &Quantized,
) -> Result<GemmOutput> {
    let (m, n) = (a.rows, b.rows);
    if m == 0 || n == 0 {
        return Ok(GemmOutput::from_f32(m, n, vec![], out));
    }
    let prefixed = |e: Error| match e {
        Error::Usage(msg) => Error::Usage(format!("`{g}`: {msg}")),
        e => e,
    };
    let values = match g {
        GpuGemm::Tc => tc(be, TcKind::Promote, a, b, false).map_err(prefixed)?,
        GpuGemm::TcFastAccum => tc(be, TcKind::FastAccum, a, b, false).map_err(prefixed)?,
        GpuGemm::Cublaslt => LtGemm::new(be, a, b, false)
            .map_err(prefixed)?
            .run_host(be)?,
        GpuGemm::Kernel { path, entry } => {
            let k = KernelRef {
                path: path.clone(),
                entry: entry.clone(),
            };
            return user_gemm::run(be, &k, a, b, out);
        }
    };
    Ok(GemmOutput::from_f32(m, n, values, out))
}
