//! Launches of kernels/gemm_tc.cu: `tc` (FP8 tensor-core MMA, promotion every interval) and `tc-fast-accum`
//! (no promotion; scales constant along K).

use cudarc::driver::sys::CUfunction_attribute as FnAttr;
use cudarc::driver::{CudaSlice, DevicePtr, DevicePtrMut, DeviceRepr, LaunchConfig, PushKernelArg};

use crate::backend::cuda::gemm::DevOperand;
use crate::backend::cuda::wgmma::{wgmma_fits_dev, wgmma_into};
use crate::backend::cuda::{gpu_err, CudaBackend};
use crate::error::{Error, Result};
use crate::formats::Fp8Format;
use crate::quant::Quantized;

/// The kernel `tc_into` runs for `kind` on these operands (for reports).
pub fn tc_kernel_name(
    be: &CudaBackend,
    kind: TcKind,
    a: &DevOperand,
    b: &DevOperand,
) -> &'static str {
    match kind {
        TcKind::Promote if wgmma_fits_dev(be, a, b) => "wgmma",
        TcKind::FastAccum => "mma.sync, no promotion",
        _ => "mma.sync",
    }
}

/// Which tensor-core GEMM.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TcKind {
    /// Promotion to f32 every interval (128 K, or the narrower scale block): the WGMMA kernel on sm_90 when
    /// the operands fit it, else mma.sync.
    Promote,
    /// The same with the mma.sync kernel on any sm_89+ card.
    PromoteMma,
    /// The MMA accumulates all of K.
    FastAccum,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct TcParams {
    a: u64,
    sa: u64,
    b: u64,
    sb: u64,
    c: u64,
    m: i32,
    n: i32,
    k: i32,
    a_br: i32,
    a_bc: i32,
    b_br: i32,
    b_bc: i32,
    interval: i32,
    out_bf16: i32,
}

crate::kernel_params_layout!(TcParams, "../../../kernels/gemm_tc.cu", 80, { a: 0, sa: 8, b: 16, sb: 24, c: 32, m: 40, n: 44, k: 48, a_br: 52, a_bc: 56, b_br: 60, b_bc: 64, interval: 68, out_bf16: 72 });

// SAFETY: plain old data with the C layout the kernel declares.
unsafe impl DeviceRepr for TcParams {}

const TBK: usize = 64;
const SMEM: u32 = 3 * 256 * 80;

/// The promotion interval of `tc`: 128, or the narrower scale block width along K.
pub fn tc_interval(a: &Quantized, b: &Quantized) -> usize {
    128.min(a.block_cols).min(b.block_cols)
}

/// Why the tensor-core kernels cannot run these operands (None: they can).
pub fn tc_unsupported(kind: TcKind, a: &Quantized, b: &Quantized) -> Option<String> {
    if a.fmt != Fp8Format::E4m3fn || b.fmt != Fp8Format::E4m3fn {
        return Some(format!(
            "NVIDIA FP8 tensor cores take e4m3fn (OCP) operands; got {} and {}",
            a.fmt.name(),
            b.fmt.name()
        ));
    }
    if a.cols % TBK != 0 {
        return Some(format!("K = {} is not a multiple of {TBK}", a.cols));
    }
    match kind {
        TcKind::Promote | TcKind::PromoteMma => {
            let p = tc_interval(a, b);
            if p % TBK != 0 || a.block_cols % p != 0 || b.block_cols % p != 0 || a.cols % p != 0 {
                return Some(format!(
                    "scale blocks {}/{} along K do not allow a promotion interval that is a multiple of {TBK}",
                    a.block_cols, b.block_cols
                ));
            }
        }
        TcKind::FastAccum => {
            if !constant_along_k(a) || !constant_along_k(b) {
                return Some(
                    "tc-fast-accum keeps one tensor-core accumulator over all of K, so the scales must not change \
                     along K (per-tensor or per-row scaling); these operands have K-blocked scales (like \
                     torch._scaled_mm, which refuses use_fast_accum with block scaling)"
                        .into(),
                );
            }
        }
    }
    None
}

fn constant_along_k(x: &Quantized) -> bool {
    let (_, gc) = x.grid();
    x.scales
        .chunks(gc.max(1))
        .all(|r| r.iter().all(|s| s.to_bits() == r[0].to_bits()))
}

/// C = A·Bᵀ with a tensor-core kernel into `c` ([M, N] f32, bf16-rounded when asked).
pub fn tc_into(
    be: &CudaBackend,
    kind: TcKind,
    a: &DevOperand,
    b: &DevOperand,
    interval: usize,
    out_bf16: bool,
    c: &mut CudaSlice<f32>,
) -> Result<()> {
    let (m, n, k) = (a.rows, b.rows, a.cols);
    if c.len() < m * n {
        return Err(Error::Gpu("output buffer too small".into()));
    }
    if kind == TcKind::Promote && wgmma_fits_dev(be, a, b) {
        return wgmma_into(be, a, b, out_bf16, c);
    }
    let entry = match kind {
        TcKind::Promote | TcKind::PromoteMma => "gemm_tc",
        TcKind::FastAccum => "gemm_tc_fast_accum",
    };
    let f = be.function("gemm_tc", entry)?;
    f.set_attribute(
        FnAttr::CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
        SMEM as i32,
    )
    .map_err(|e| gpu_err("gemm_tc shared memory", e))?;
    let s = &be.stream;
    let p = TcParams {
        a: a.q.device_ptr(s).0,
        sa: a.scales.device_ptr(s).0,
        b: b.q.device_ptr(s).0,
        sb: b.scales.device_ptr(s).0,
        c: c.device_ptr_mut(s).0,
        m: m as i32,
        n: n as i32,
        k: k as i32,
        a_br: a.block_rows as i32,
        a_bc: a.block_cols as i32,
        b_br: b.block_rows as i32,
        b_bc: b.block_cols as i32,
        interval: interval as i32,
        out_bf16: out_bf16 as i32,
    };
    let cfg = LaunchConfig {
        grid_dim: (n.div_ceil(128) as u32, m.div_ceil(128) as u32, 1),
        block_dim: (256, 1, 1),
        shared_mem_bytes: SMEM,
    };
    let mut l = s.launch_builder(&f);
    l.arg(&p);
    // SAFETY: the pointers are live device buffers of the sizes the parameters describe.
    unsafe { l.launch(cfg) }.map_err(|e| gpu_err(entry, e))?;
    Ok(())
}

/// C = A·Bᵀ with a tensor-core kernel, host to host.
pub fn tc(
    be: &CudaBackend,
    kind: TcKind,
    a: &Quantized,
    b: &Quantized,
    out_bf16: bool,
) -> Result<Vec<f32>> {
    if let Some(why) = tc_unsupported(kind, a, b) {
        return Err(Error::Usage(format!("tensor-core GEMM: {why}")));
    }
    if a.cols != b.cols {
        return Err(Error::BadTensor(format!(
            "inner dimensions disagree: K = {} vs {}",
            a.cols, b.cols
        )));
    }
    let (da, db) = (DevOperand::upload(be, a)?, DevOperand::upload(be, b)?);
    let mut c = be
        .stream
        .alloc_zeros::<f32>((a.rows * b.rows).max(1))
        .map_err(|e| gpu_err("alloc", e))?;
    tc_into(be, kind, &da, &db, tc_interval(a, b), out_bf16, &mut c)?;
    let mut v = be
        .stream
        .clone_dtoh(&c)
        .map_err(|e| gpu_err("gemm_tc", e))?;
    v.truncate(a.rows * b.rows);
    Ok(v)
}
