//! A user quant kernel (`--candidate kernel:FILE.cu|.hip[:ENTRY]`) run over an activation on the GPU or on the
//! SIMT CPU executor, its output shaped as the reference's [`Quantized`] (1×G groups of the reference spec, its
//! FP8 format).

use crate::backend::cuda::user;
use crate::backend::cuda::CudaBackend;
use crate::backend::SimtBackend;
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
    Ok(shaped(reference, rows, cols, q, scales))
}

/// Compiles the kernel for the SIMT executor and runs it over `x` on the CPU (ABI v1 with
/// `group = reference.group`; 32 lanes for a `.cu` file, 64 for a `.hip` one).
pub fn run_user_kernel_simt(
    be: &SimtBackend,
    k: &KernelRef,
    x: &Tensor,
    reference: &QuantSpec,
) -> Result<Quantized> {
    check_float_input(x, "x")?;
    let (rows, cols) = matrix_dims(x, "x")?;
    let g = reference.group;
    let (q, scales) = be.run_user_quant(k, x.bytes(), x.dtype, rows, cols, g)?;
    Ok(shaped(reference, rows, cols, q, scales))
}

/// A user quant kernel (`.hip`) compiled by hiprtc and run on the HIP device (ABI v1), shaped like
/// [`run_user_kernel_simt`]'s result.
pub fn run_user_kernel_hip(
    be: &crate::backend::HipBackend,
    k: &KernelRef,
    x: &Tensor,
    reference: &QuantSpec,
) -> Result<Quantized> {
    if !k.is_hip() {
        return Err(crate::error::Error::Usage(format!(
            "--candidate kernel:{} is a CUDA source: --backend hip runs .hip kernels (use --backend cuda or simt-cpu)",
            k.path.display()
        )));
    }
    check_float_input(x, "x")?;
    let (rows, cols) = matrix_dims(x, "x")?;
    let g = reference.group;
    let (q, scales) =
        crate::backend::hip::rtc::run_user_quant(be, k, x.bytes(), x.dtype, rows, cols, g)?;
    Ok(shaped(reference, rows, cols, q, scales))
}

fn shaped(
    reference: &QuantSpec,
    rows: usize,
    cols: usize,
    q: Vec<u8>,
    scales: Vec<f32>,
) -> Quantized {
    let g = reference.group;
    Quantized {
        rows,
        cols,
        fmt: reference.fp8,
        q,
        block_rows: 1,
        block_cols: g,
        scales,
    }
}
