//! A user quant kernel (`--candidate kernel:FILE.cu[:ENTRY]`) run on the GPU over an activation, its output
//! shaped as the reference's [`Quantized`] (1×G groups of the reference spec, its FP8 format).

use crate::backend::cuda::user;
use crate::backend::cuda::CudaBackend;
use crate::error::Result;
use crate::io::Tensor;
use crate::kernel_ref::KernelRef;
use crate::quant::cpu::{check_float_input, matrix_dims};
use crate::quant::{QuantSpec, Quantized};

/// Compiles and runs the kernel over `x` (ABI v1 with `group = reference.group`).
pub fn run_user_kernel(
    be: &CudaBackend,
    k: &KernelRef,
    x: &Tensor,
    reference: &QuantSpec,
) -> Result<Quantized> {
    check_float_input(x, "x")?;
    let (rows, cols) = matrix_dims(x, "x")?;
    let uk = user::load(be, k)?;
    let g = reference.group;
    let (q, scales) = user::run_quant(be, &uk, x.bytes(), x.dtype, rows, cols, g)?;
    Ok(Quantized {
        rows,
        cols,
        fmt: reference.fp8,
        q,
        block_rows: 1,
        block_cols: g,
        scales,
    })
}
