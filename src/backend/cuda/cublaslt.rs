//! `cublaslt`: cuBLASLt FP8 (e4m3) GEMM through `cudarc::cublaslt::result`/`sys`, with the DeepSeek block
//! scaling Hopper supports since cuBLAS 12.9 (1×128 `VEC128_32F` on the activation, 128×128 `BLK128x128_32F`
//! on the weight; the same as PyTorch 2.11's `_scaled_mm` without fast accumulation), or per-tensor
//! `SCALAR_32F` scales when each operand has one scale.
//!
//! cuBLASLt is column-major, so C[M,N] = A·Bᵀ (row-major) is computed as Cᵀ = B·Aᵀ: cuBLAS's "A" is our weight
//! (K×N column-major, transposed), its "B" our activation (K×M column-major). Scale layouts follow PyTorch's
//! `is_blockwise_1x128_scaling` / `is_blockwise_128x128_scaling`: activation scales `[K/128, M]` with M
//! fastest, weight scales row-major `[N/128, K/128]` with the row stride rounded up to 4. M is padded to a
//! multiple of 128 with zero rows.

use std::ffi::c_void;

use cudarc::cublaslt::{result as lt, sys};
use cudarc::driver::{CudaSlice, DevicePtr, DevicePtrMut};

use crate::backend::cuda::{gpu_err, probe, CudaBackend};
use crate::error::{Error, Result};
use crate::formats::Fp8Format;
use crate::quant::Quantized;

/// How the scales are passed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LtScaling {
    /// 1×128 activation, 128×128 weight.
    Block,
    /// One scale per operand.
    Tensor,
}

/// Which scaling these operands allow (None with the reason when neither).
pub fn lt_scaling(a: &Quantized, b: &Quantized) -> std::result::Result<LtScaling, String> {
    if a.fmt != Fp8Format::E4m3fn || b.fmt != Fp8Format::E4m3fn {
        return Err("cuBLASLt FP8 takes e4m3fn operands".into());
    }
    if a.cols % 128 != 0 || b.rows % 16 != 0 {
        return Err(format!(
            "cuBLASLt FP8 needs K % 128 = 0 and N % 16 = 0 (K = {}, N = {})",
            a.cols, b.rows
        ));
    }
    let one = |x: &Quantized| {
        x.scales
            .iter()
            .all(|s| s.to_bits() == x.scales[0].to_bits())
    };
    if (a.block_rows, a.block_cols, b.block_rows, b.block_cols) == (1, 128, 128, 128) {
        Ok(LtScaling::Block)
    } else if one(a) && one(b) {
        Ok(LtScaling::Tensor)
    } else {
        Err(format!(
            "cuBLASLt scales 1×128 activations with 128×128 weights, or one scale per tensor; got {}×{} and {}×{} blocks",
            a.block_rows, a.block_cols, b.block_rows, b.block_cols
        ))
    }
}

/// A planned cuBLASLt GEMM on device operands: descriptors, algorithm, workspace and scale buffers.
pub struct LtGemm {
    handle: sys::cublasLtHandle_t,
    desc: sys::cublasLtMatmulDesc_t,
    la: sys::cublasLtMatrixLayout_t,
    lb: sys::cublasLtMatrixLayout_t,
    ld: sys::cublasLtMatrixLayout_t,
    algo: sys::cublasLtMatmulAlgo_t,
    workspace: CudaSlice<u8>,
    /// Our activation, padded to `mp` rows.
    pub act: CudaSlice<u8>,
    /// Our weight.
    pub wgt: CudaSlice<u8>,
    act_scales: CudaSlice<f32>,
    wgt_scales: CudaSlice<f32>,
    pub m: usize,
    pub mp: usize,
    pub n: usize,
    pub k: usize,
    pub out_bf16: bool,
}

const WORKSPACE: usize = 32 << 20;

fn lt_err(what: &str) -> impl Fn(lt::CublasError) -> Error + '_ {
    move |e| Error::Gpu(format!("cuBLASLt {what}: {e:?}"))
}

unsafe fn set_attr<T>(
    d: sys::cublasLtMatmulDesc_t,
    a: sys::cublasLtMatmulDescAttributes_t,
    v: &T,
) -> Result<()> {
    lt::set_matmul_desc_attribute(
        d,
        a,
        v as *const T as *const c_void,
        std::mem::size_of::<T>(),
    )
    .map_err(lt_err("descriptor attribute"))
}

impl LtGemm {
    /// Uploads the operands in cuBLASLt's layouts and picks an algorithm.
    pub fn new(be: &CudaBackend, a: &Quantized, b: &Quantized, out_bf16: bool) -> Result<LtGemm> {
        probe::cublaslt()?;
        let scaling = lt_scaling(a, b).map_err(|w| Error::Usage(format!("cublaslt GEMM: {w}")))?;
        let (m, n, k) = (a.rows, b.rows, a.cols);
        let mp = m.div_ceil(128) * 128;
        let s = &be.stream;
        let up = |e| gpu_err("copy to GPU", e);
        let mut act = vec![0u8; mp * k];
        act[..m * k].copy_from_slice(&a.q);
        let (act_s, wgt_s) = match scaling {
            LtScaling::Tensor => (vec![a.scales[0]], vec![b.scales[0]]),
            LtScaling::Block => {
                let kb = k / 128;
                let mut sa = vec![1f32; kb * mp];
                for r in 0..m {
                    for j in 0..kb {
                        sa[j * mp + r] = a.scales[r * kb + j];
                    }
                }
                let (nb, ldb) = (n.div_ceil(128), kb.div_ceil(4) * 4);
                let mut sb = vec![1f32; nb * ldb];
                for r in 0..nb {
                    sb[r * ldb..r * ldb + kb].copy_from_slice(&b.scales[r * kb..(r + 1) * kb]);
                }
                (sa, sb)
            }
        };
        let act = s.clone_htod(&act).map_err(up)?;
        let wgt = s.clone_htod(&b.q).map_err(up)?;
        let act_scales = s.clone_htod(&act_s).map_err(up)?;
        let wgt_scales = s.clone_htod(&wgt_s).map_err(up)?;
        let workspace = s
            .alloc_zeros::<u8>(WORKSPACE)
            .map_err(|e| gpu_err("alloc", e))?;
        probe::guarded("cuBLASLt", || {
            let handle = lt::create_handle().map_err(lt_err("handle"))?;
            let desc = lt::create_matmul_desc(
                sys::cublasComputeType_t::CUBLAS_COMPUTE_32F,
                sys::cudaDataType::CUDA_R_32F,
            )
            .map_err(lt_err("matmul descriptor"))?;
            use sys::cublasLtMatmulDescAttributes_t as D;
            let (op_t, op_n) = (1i32, 0i32); // CUBLAS_OP_T, CUBLAS_OP_N
            let (mode_a, mode_b) = match scaling {
                LtScaling::Block => (
                    sys::cublasLtMatmulMatrixScale_t::CUBLASLT_MATMUL_MATRIX_SCALE_BLK128x128_32F,
                    sys::cublasLtMatmulMatrixScale_t::CUBLASLT_MATMUL_MATRIX_SCALE_VEC128_32F,
                ),
                LtScaling::Tensor => (
                    sys::cublasLtMatmulMatrixScale_t::CUBLASLT_MATMUL_MATRIX_SCALE_SCALAR_32F,
                    sys::cublasLtMatmulMatrixScale_t::CUBLASLT_MATMUL_MATRIX_SCALE_SCALAR_32F,
                ),
            };
            let pa = wgt_scales.device_ptr(s).0 as *const c_void;
            let pb = act_scales.device_ptr(s).0 as *const c_void;
            let fast = 0i8;
            // SAFETY: desc is live; every value has the type the attribute documents.
            unsafe {
                set_attr(desc, D::CUBLASLT_MATMUL_DESC_TRANSA, &op_t)?;
                set_attr(desc, D::CUBLASLT_MATMUL_DESC_TRANSB, &op_n)?;
                set_attr(desc, D::CUBLASLT_MATMUL_DESC_A_SCALE_MODE, &(mode_a as u32))?;
                set_attr(desc, D::CUBLASLT_MATMUL_DESC_B_SCALE_MODE, &(mode_b as u32))?;
                set_attr(desc, D::CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, &pa)?;
                set_attr(desc, D::CUBLASLT_MATMUL_DESC_B_SCALE_POINTER, &pb)?;
                set_attr(desc, D::CUBLASLT_MATMUL_DESC_FAST_ACCUM, &fast)?;
            }
            let e4 = sys::cudaDataType::CUDA_R_8F_E4M3;
            let dt = if out_bf16 {
                sys::cudaDataType::CUDA_R_16BF
            } else {
                sys::cudaDataType::CUDA_R_32F
            };
            let la = lt::create_matrix_layout(e4, k as u64, n as u64, k as i64)
                .map_err(lt_err("layout"))?;
            let lb = lt::create_matrix_layout(e4, k as u64, mp as u64, k as i64)
                .map_err(lt_err("layout"))?;
            let ld = lt::create_matrix_layout(dt, n as u64, mp as u64, n as i64)
                .map_err(lt_err("layout"))?;
            let pref = lt::create_matmul_pref().map_err(lt_err("preference"))?;
            let ws = WORKSPACE;
            // SAFETY: pref is live; the attribute takes a u64 byte count.
            unsafe {
                lt::set_matmul_pref_attribute(
                    pref,
                    sys::cublasLtMatmulPreferenceAttributes_t::CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                    &ws as *const usize as *const c_void,
                    std::mem::size_of::<usize>(),
                )
                .map_err(lt_err("preference"))?;
            }
            // SAFETY: all descriptors are live.
            let heur = unsafe { lt::get_matmul_algo_heuristic(handle, desc, la, lb, ld, ld, pref) };
            // SAFETY: pref is live and no longer used.
            unsafe { lt::destroy_matmul_pref(pref) }.map_err(lt_err("preference"))?;
            let heur = heur.map_err(|e| {
                Error::Gpu(format!(
                    "cuBLASLt has no FP8 {scaling:?}-scaled algorithm for M={mp} N={n} K={k} on this GPU ({e:?})"
                ))
            })?;
            Ok(LtGemm {
                handle,
                desc,
                la,
                lb,
                ld,
                algo: heur.algo,
                workspace,
                act,
                wgt,
                act_scales,
                wgt_scales,
                m,
                mp,
                n,
                k,
                out_bf16,
            })
        })
    }

    /// Runs D = A·Bᵀ into `d` ([mp, N] of f32, or of bf16 bits when `out_bf16`), asynchronously.
    pub fn run<T>(&self, be: &CudaBackend, d: &mut CudaSlice<T>) -> Result<()> {
        let s = &be.stream;
        let (alpha, beta) = (1f32, 0f32);
        let dp = d.device_ptr_mut(s).0 as *mut c_void;
        let wp = {
            let w: &CudaSlice<u8> = &self.workspace;
            w.device_ptr(s).0 as *mut c_void
        };
        // SAFETY: descriptors and buffers are live and sized as the layouts say.
        unsafe {
            lt::matmul(
                self.handle,
                self.desc,
                &alpha as *const f32 as *const c_void,
                &beta as *const f32 as *const c_void,
                self.wgt.device_ptr(s).0 as *const c_void,
                self.la,
                self.act.device_ptr(s).0 as *const c_void,
                self.lb,
                dp,
                self.ld,
                dp,
                self.ld,
                &self.algo,
                wp,
                WORKSPACE,
                s.cu_stream() as sys::cudaStream_t,
            )
        }
        .map_err(lt_err("matmul"))?;
        let _ = (&self.act_scales, &self.wgt_scales);
        Ok(())
    }

    /// Runs once and returns C [M, N] as f32 values (bf16-representable when `out_bf16`).
    pub fn run_host(&self, be: &CudaBackend) -> Result<Vec<f32>> {
        let s = &be.stream;
        let len = self.mp * self.n;
        let vals: Vec<f32> = if self.out_bf16 {
            let mut d = s.alloc_zeros::<u16>(len).map_err(|e| gpu_err("alloc", e))?;
            self.run(be, &mut d)?;
            let h = s.clone_dtoh(&d).map_err(|e| gpu_err("cublaslt", e))?;
            h.into_iter()
                .map(|b| f32::from_bits((b as u32) << 16))
                .collect()
        } else {
            let mut d = s.alloc_zeros::<f32>(len).map_err(|e| gpu_err("alloc", e))?;
            self.run(be, &mut d)?;
            s.clone_dtoh(&d).map_err(|e| gpu_err("cublaslt", e))?
        };
        Ok(vals[..self.m * self.n].to_vec())
    }
}

impl Drop for LtGemm {
    fn drop(&mut self) {
        // SAFETY: each object was created by this struct and is destroyed once.
        unsafe {
            let _ = lt::destroy_matrix_layout(self.la);
            let _ = lt::destroy_matrix_layout(self.lb);
            let _ = lt::destroy_matrix_layout(self.ld);
            let _ = lt::destroy_matmul_desc(self.desc);
            let _ = lt::destroy_handle(self.handle);
        }
    }
}
