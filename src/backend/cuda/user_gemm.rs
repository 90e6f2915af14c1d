//! User GEMM kernels: `--target-gemm kernel:FILE.cu[:ENTRY]` (`isolate gemm`) and `isolate bench gemm
//! --kernel FILE.cu[:ENTRY]`, compiled with NVRTC like the quant kernels of [`super::user`] and launched with
//! a small fixed ABI, so that a proof-of-concept GEMM can be replayed against the emulations bit for bit and
//! timed beside the built-in GEMMs and cuBLASLt.
//!
//! ## GEMM ABI v1
//! ```c
//! extern "C" __global__ void ENTRY(
//!     const unsigned char* a, const float* sa,  // A [M, K] FP8 codes; scales [ceil(M/a_br), K/a_bc]
//!     const unsigned char* b, const float* sb,  // B [N, K] FP8 codes (the weight: C = A·Bᵀ); scales
//!                                               //   [ceil(N/b_br), K/b_bc]; x = decode(q) · s
//!     void* c, int c_dtype,                     // C [M, N]: c_dtype 0 = f32, 1 = bf16 (the kernel rounds)
//!     long long M, long long N, long long K,
//!     int a_br, int a_bc, int b_br, int b_bc,   // scale block shapes (1×128 and 128×128 for DeepSeek FP8)
//!     int a_fmt, int b_fmt,                     // 0 = e4m3fn, 1 = e4m3fnuz, 2 = e5m2
//!     long long lda, long long ldb,             // code row strides (bytes)
//!     long long ldsa, long long ldsb,           // scale row strides (elements)
//!     long long ldc);                           // C row stride (elements)
//! ```
//! Launched with a grid of (⌈N/64⌉, ⌈M/64⌉) blocks of 256 threads and no dynamic shared memory: block (x, y)
//! owns C[64y .. 64y+63, 64x .. 64x+63]. Every element of C must be written: isolate poisons C with a
//! signalling-NaN pattern first and reports any element left unwritten. `c_dtype` is 1 when the GEMM's `out`
//! is bf16 (the default), 0 for `,out=f32`. Example: examples/gemm_blockwise.cu.

use std::sync::Arc;

use cudarc::driver::{CudaSlice, DevicePtr, DevicePtrMut, LaunchConfig, PushKernelArg};

use crate::backend::cuda::abi::fmt_id;
use crate::backend::cuda::gemm::DevOperand;
use crate::backend::cuda::user::{self, UserKernel};
use crate::backend::cuda::{gpu_err, CudaBackend};
use crate::error::{Error, Result};
use crate::gemm::{GemmOutput, OutType};
use crate::kernel_ref::KernelRef;
use crate::quant::Quantized;

/// Output tile of one block (the launch geometry of ABI v1).
pub const TILE: usize = 64;
/// Threads per block.
pub const THREADS: u32 = 256;
/// The f32 poison (a signalling NaN: no arithmetic produces it).
pub const POISON_F32: u32 = 0x7FBA_DBAD;
/// The bf16 poison (also signalling).
pub const POISON_BF16: u16 = 0x7FBA;

/// `k` compiled once per backend (cached by file and entry).
pub fn load_cached(be: &CudaBackend, k: &KernelRef) -> Result<Arc<UserKernel>> {
    if let Some(u) = be.user_kernels.lock().unwrap().get(k) {
        return Ok(u.clone());
    }
    let u = Arc::new(user::load(be, k)?);
    be.user_kernels.lock().unwrap().insert(k.clone(), u.clone());
    Ok(u)
}

/// Launches a user GEMM (ABI v1) into `c` (at least M·N·4 bytes; f32 or bf16 elements), asynchronously.
pub fn launch(
    be: &CudaBackend,
    k: &UserKernel,
    a: &DevOperand,
    b: &DevOperand,
    c: &mut CudaSlice<u8>,
    out: OutType,
) -> Result<()> {
    let (m, n, kk) = (a.rows, b.rows, a.cols);
    if c.len() < m * n * 4 {
        return Err(Error::Gpu("output buffer too small".into()));
    }
    if m.div_ceil(TILE) > 65535 {
        return Err(Error::Usage(format!(
            "{}: M = {m} exceeds the ABI v1 grid (65535 row tiles of {TILE})",
            k.path.display()
        )));
    }
    let st = &be.stream;
    let (pa, psa, pb, psb) = (
        a.q.device_ptr(st).0,
        a.scales.device_ptr(st).0,
        b.q.device_ptr(st).0,
        b.scales.device_ptr(st).0,
    );
    let pc = c.device_ptr_mut(st).0;
    let c_dtype: i32 = (out == OutType::Bf16) as i32;
    let (mm, nn, kl) = (m as i64, n as i64, kk as i64);
    let (a_br, a_bc, b_br, b_bc) = (
        a.block_rows as i32,
        a.block_cols as i32,
        b.block_rows as i32,
        b.block_cols as i32,
    );
    let (a_fmt, b_fmt) = (fmt_id(a.fmt), fmt_id(b.fmt));
    let (lda, ldb) = (kl, kl);
    let (ldsa, ldsb) = (
        kk.div_ceil(a.block_cols) as i64,
        kk.div_ceil(b.block_cols) as i64,
    );
    let ldc = nn;
    let cfg = LaunchConfig {
        grid_dim: (n.div_ceil(TILE) as u32, m.div_ceil(TILE) as u32, 1),
        block_dim: (THREADS, 1, 1),
        shared_mem_bytes: 0,
    };
    let mut l = st.launch_builder(&k.func);
    l.arg(&pa)
        .arg(&psa)
        .arg(&pb)
        .arg(&psb)
        .arg(&pc)
        .arg(&c_dtype)
        .arg(&mm)
        .arg(&nn)
        .arg(&kl)
        .arg(&a_br)
        .arg(&a_bc)
        .arg(&b_br)
        .arg(&b_bc)
        .arg(&a_fmt)
        .arg(&b_fmt)
        .arg(&lda)
        .arg(&ldb)
        .arg(&ldsa)
        .arg(&ldsb)
        .arg(&ldc);
    // SAFETY: ABI v1 — the kernel reads the operand and scale grids these parameters describe and writes at
    // most M·N elements of C (4 bytes each reserved).
    unsafe { l.launch(cfg) }
        .map_err(|e| gpu_err(format!("{}::{}", k.path.display(), k.entry), e))?;
    Ok(())
}

/// A poisoned output buffer for M×N elements (f32 or bf16).
pub fn poisoned_output(
    be: &CudaBackend,
    m: usize,
    n: usize,
    out: OutType,
) -> Result<CudaSlice<u8>> {
    let mut host = vec![0u8; (m * n * 4).max(4)];
    match out {
        OutType::F32 => host
            .chunks_exact_mut(4)
            .for_each(|c| c.copy_from_slice(&POISON_F32.to_le_bytes())),
        OutType::Bf16 => host
            .chunks_exact_mut(2)
            .for_each(|c| c.copy_from_slice(&POISON_BF16.to_le_bytes())),
    }
    be.stream
        .clone_htod(&host)
        .map_err(|e| gpu_err("copy to GPU", e))
}

/// The output's values from the device bytes; an error naming the kernel when some element was left
/// unwritten (still the poison).
pub fn read_output(
    k: &UserKernel,
    bytes: &[u8],
    m: usize,
    n: usize,
    out: OutType,
) -> Result<GemmOutput> {
    let (values, unwritten): (Vec<f32>, usize) = match out {
        OutType::F32 => {
            let mut bad = 0;
            let v = bytes[..m * n * 4]
                .chunks_exact(4)
                .map(|c| {
                    let u = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
                    bad += (u == POISON_F32) as usize;
                    f32::from_bits(u)
                })
                .collect();
            (v, bad)
        }
        OutType::Bf16 => {
            let mut bad = 0;
            let v = bytes[..m * n * 2]
                .chunks_exact(2)
                .map(|c| {
                    let u = u16::from_le_bytes([c[0], c[1]]);
                    bad += (u == POISON_BF16) as usize;
                    f32::from_bits((u as u32) << 16)
                })
                .collect();
            (v, bad)
        }
    };
    if unwritten > 0 {
        return Err(Error::Usage(format!(
            "{}::{}: the kernel left {unwritten} of {} outputs unwritten (GEMM ABI v1: it must write all of \
             C[M, N] = [{m}, {n}] as {}; does it handle these operands' formats and shapes?)",
            k.path.display(),
            k.entry,
            m * n,
            if out == OutType::Bf16 { "bf16 (c_dtype 1)" } else { "f32 (c_dtype 0)" }
        )));
    }
    Ok(GemmOutput {
        rows: m,
        cols: n,
        values,
        out,
    })
}

/// Runs a user GEMM host to host: C = A·Bᵀ of type `out`, every element checked written.
pub fn run(
    be: &CudaBackend,
    k: &KernelRef,
    a: &Quantized,
    b: &Quantized,
    out: OutType,
) -> Result<GemmOutput> {
    let uk = load_cached(be, k)?;
    if a.rows == 0 || b.rows == 0 {
        return Ok(GemmOutput::from_f32(a.rows, b.rows, vec![], out));
    }
    let (da, db) = (DevOperand::upload(be, a)?, DevOperand::upload(be, b)?);
    let (m, n) = (a.rows, b.rows);
    let mut c = poisoned_output(be, m, n, out)?;
    launch(be, &uk, &da, &db, &mut c, out)?;
    let bytes = be
        .stream
        .clone_dtoh(&c)
        .map_err(|e| gpu_err(format!("{}::{}", k.path.display(), uk.entry), e))?;
    read_output(&uk, &bytes, m, n, out)
}
