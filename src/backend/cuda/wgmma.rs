//! Launch of kernels/gemm_wgmma.cu (sm_90a): `tc` on Hopper with FP8 WGMMA, TMA loads and promotion every 128 K.
//! Used for `tc` when the card is sm_90 and the operands fit (e4m3fn, K % 128 = 0, A blocks 1×128, B blocks
//! 128×128); the mma.sync kernel (`tc.rs`) covers everything else.

use std::ffi::c_void;

use cudarc::driver::sys::{self, CUfunction_attribute as FnAttr};
use cudarc::driver::{CudaSlice, DevicePtr, DevicePtrMut, DeviceRepr, LaunchConfig, PushKernelArg};

use crate::backend::cuda::gemm::DevOperand;
use crate::backend::cuda::{gpu_err, CudaBackend};
use crate::error::{Error, Result};
use crate::formats::Fp8Format;
use crate::quant::Quantized;

/// A `CUtensorMap` as a kernel parameter (128 bytes, 64-byte aligned).
#[repr(C, align(64))]
#[derive(Clone, Copy)]
struct TmaMap([u64; 16]);

// SAFETY: the opaque tensor-map bytes the kernel's `TmaMap` parameter declares.
unsafe impl DeviceRepr for TmaMap {}

#[repr(C)]
#[derive(Clone, Copy)]
struct WgParams {
    sa: u64,
    sb: u64,
    c: u64,
    m: i32,
    n: i32,
    k: i32,
    a_br: i32,
    out_bf16: i32,
}

crate::kernel_params_layout!(WgParams, "../../../kernels/gemm_wgmma.cu", 48, { sa: 0, sb: 8, c: 16, m: 24, n: 28, k: 32, a_br: 36, out_bf16: 40 });

// SAFETY: plain old data with the C layout the kernel declares.
unsafe impl DeviceRepr for WgParams {}

const SMEM: u32 = 4 * 2 * 128 * 128 + 1024 + 128;

/// Whether the WGMMA kernel can run these operands on this device.
pub fn wgmma_fits(be: &CudaBackend, a: &Quantized, b: &Quantized) -> bool {
    be.info.cc == (9, 0)
        && a.fmt == Fp8Format::E4m3fn
        && b.fmt == Fp8Format::E4m3fn
        && a.cols % 128 == 0
        && a.cols == b.cols
        && a.block_cols == 128
        && (b.block_rows, b.block_cols) == (128, 128)
}

/// The same test on device operands.
pub fn wgmma_fits_dev(be: &CudaBackend, a: &DevOperand, b: &DevOperand) -> bool {
    be.info.cc == (9, 0)
        && a.fmt == Fp8Format::E4m3fn
        && b.fmt == Fp8Format::E4m3fn
        && a.cols % 128 == 0
        && a.cols == b.cols
        && a.block_cols == 128
        && (b.block_rows, b.block_cols) == (128, 128)
}

/// A 2-D tensor map over a row-major u8 matrix [rows, cols] with 128×128 boxes and 128-byte swizzle.
fn tensor_map(ptr: u64, rows: usize, cols: usize) -> Result<TmaMap> {
    let mut map = TmaMap([0; 16]);
    let dims = [cols as u64, rows as u64];
    let strides = [cols as u64];
    let boxd = [128u32, 128];
    let estr = [1u32, 1];
    // SAFETY: `map` is a 64-byte aligned 128-byte buffer; the arrays have the lengths rank 2 needs.
    let r = unsafe {
        sys::cuTensorMapEncodeTiled(
            &mut map as *mut TmaMap as *mut sys::CUtensorMap,
            sys::CUtensorMapDataType::CU_TENSOR_MAP_DATA_TYPE_UINT8,
            2,
            ptr as *mut c_void,
            dims.as_ptr(),
            strides.as_ptr(),
            boxd.as_ptr(),
            estr.as_ptr(),
            sys::CUtensorMapInterleave::CU_TENSOR_MAP_INTERLEAVE_NONE,
            sys::CUtensorMapSwizzle::CU_TENSOR_MAP_SWIZZLE_128B,
            sys::CUtensorMapL2promotion::CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
            sys::CUtensorMapFloatOOBfill::CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE,
        )
    };
    if r != sys::cudaError_enum::CUDA_SUCCESS {
        return Err(Error::Gpu(format!(
            "cuTensorMapEncodeTiled [{rows}, {cols}]: {r:?}"
        )));
    }
    Ok(map)
}

/// C = A·Bᵀ with the WGMMA kernel into `c` ([M, N] f32, bf16-rounded when asked).
pub fn wgmma_into(
    be: &CudaBackend,
    a: &DevOperand,
    b: &DevOperand,
    out_bf16: bool,
    c: &mut CudaSlice<f32>,
) -> Result<()> {
    if !wgmma_fits_dev(be, a, b) {
        return Err(Error::Usage(
            "the WGMMA tc kernel needs sm_90, e4m3fn, K % 128 = 0, 1×128 and 128×128 blocks".into(),
        ));
    }
    let (m, n, k) = (a.rows, b.rows, a.cols);
    if c.len() < m * n {
        return Err(Error::Gpu("output buffer too small".into()));
    }
    let s = &be.stream;
    let ta = tensor_map(a.q.device_ptr(s).0, m, k)?;
    let tb = tensor_map(b.q.device_ptr(s).0, n, k)?;
    let p = WgParams {
        sa: a.scales.device_ptr(s).0,
        sb: b.scales.device_ptr(s).0,
        c: c.device_ptr_mut(s).0,
        m: m as i32,
        n: n as i32,
        k: k as i32,
        a_br: a.block_rows as i32,
        out_bf16: out_bf16 as i32,
    };
    let f = be.function("gemm_wgmma", "gemm_tc_wgmma")?;
    f.set_attribute(
        FnAttr::CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
        SMEM as i32,
    )
    .map_err(|e| gpu_err("gemm_tc_wgmma shared memory", e))?;
    let cfg = LaunchConfig {
        grid_dim: ((n.div_ceil(128) * m.div_ceil(128)) as u32, 1, 1),
        block_dim: (384, 1, 1),
        shared_mem_bytes: SMEM,
    };
    let mut l = s.launch_builder(&f);
    l.arg(&ta).arg(&tb).arg(&p);
    // SAFETY: the tensor maps and pointers describe live device buffers of these shapes.
    unsafe { l.launch(cfg) }.map_err(|e| gpu_err("gemm_tc_wgmma", e))?;
    Ok(())
}
