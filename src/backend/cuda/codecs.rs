//! Launches of kernels/codecs.cu: element-wise E8M0 and FP8 encode/decode, and the exhaustive sweeps.

use cudarc::driver::PushKernelArg;

use crate::backend::cuda::abi::{fmt_id, overflow_id, round_id};
use crate::backend::cuda::{gpu_err, CudaBackend};
use crate::error::Result;
use crate::formats::{E8m0Round, Fp8Format, Overflow};

const THREADS: u32 = 256;

/// Kernel `e8m0_encode`.
pub fn e8m0_encode(b: &CudaBackend, x: &[f32], round: E8m0Round) -> Result<Vec<u8>> {
    let f = b.function("codecs", "e8m0_encode")?;
    let s = &b.stream;
    let dx = s.clone_htod(x).map_err(|e| gpu_err("copy to GPU", e))?;
    let mut out = s
        .alloc_zeros::<u8>(x.len().max(1))
        .map_err(|e| gpu_err("alloc", e))?;
    let (n, mode) = (x.len() as u64, round_id(round));
    let mut l = s.launch_builder(&f);
    l.arg(&dx).arg(&mut out).arg(&n).arg(&mode);
    // SAFETY: the kernel reads n floats of dx and writes n bytes of out.
    unsafe { l.launch(b.grid_for(x.len(), THREADS)) }.map_err(|e| gpu_err("e8m0_encode", e))?;
    let mut v = s.clone_dtoh(&out).map_err(|e| gpu_err("e8m0_encode", e))?;
    v.truncate(x.len());
    Ok(v)
}

/// Kernel `e8m0_decode`.
pub fn e8m0_decode(b: &CudaBackend, codes: &[u8]) -> Result<Vec<f32>> {
    let f = b.function("codecs", "e8m0_decode")?;
    let s = &b.stream;
    let dc = s.clone_htod(codes).map_err(|e| gpu_err("copy to GPU", e))?;
    let mut out = s
        .alloc_zeros::<f32>(codes.len().max(1))
        .map_err(|e| gpu_err("alloc", e))?;
    let n = codes.len() as u64;
    let mut l = s.launch_builder(&f);
    l.arg(&dc).arg(&mut out).arg(&n);
    // SAFETY: reads n bytes, writes n floats.
    unsafe { l.launch(b.grid_for(codes.len(), THREADS)) }.map_err(|e| gpu_err("e8m0_decode", e))?;
    let mut v = s.clone_dtoh(&out).map_err(|e| gpu_err("e8m0_decode", e))?;
    v.truncate(codes.len());
    Ok(v)
}

/// Kernel `fp8_encode`.
pub fn fp8_encode(b: &CudaBackend, x: &[f32], fmt: Fp8Format, ov: Overflow) -> Result<Vec<u8>> {
    let f = b.function("codecs", "fp8_encode")?;
    let s = &b.stream;
    let dx = s.clone_htod(x).map_err(|e| gpu_err("copy to GPU", e))?;
    let mut out = s
        .alloc_zeros::<u8>(x.len().max(1))
        .map_err(|e| gpu_err("alloc", e))?;
    let (n, fi, oi) = (x.len() as u64, fmt_id(fmt), overflow_id(ov));
    let mut l = s.launch_builder(&f);
    l.arg(&dx).arg(&mut out).arg(&n).arg(&fi).arg(&oi);
    // SAFETY: reads n floats, writes n bytes.
    unsafe { l.launch(b.grid_for(x.len(), THREADS)) }.map_err(|e| gpu_err("fp8_encode", e))?;
    let mut v = s.clone_dtoh(&out).map_err(|e| gpu_err("fp8_encode", e))?;
    v.truncate(x.len());
    Ok(v)
}

/// Kernel `fp8_decode`.
pub fn fp8_decode(b: &CudaBackend, codes: &[u8], fmt: Fp8Format) -> Result<Vec<f32>> {
    let f = b.function("codecs", "fp8_decode")?;
    let s = &b.stream;
    let dc = s.clone_htod(codes).map_err(|e| gpu_err("copy to GPU", e))?;
    let mut out = s
        .alloc_zeros::<f32>(codes.len().max(1))
        .map_err(|e| gpu_err("alloc", e))?;
    let (n, fi) = (codes.len() as u64, fmt_id(fmt));
    let mut l = s.launch_builder(&f);
    l.arg(&dc).arg(&mut out).arg(&n).arg(&fi);
    // SAFETY: reads n bytes, writes n floats.
    unsafe { l.launch(b.grid_for(codes.len(), THREADS)) }.map_err(|e| gpu_err("fp8_decode", e))?;
    let mut v = s.clone_dtoh(&out).map_err(|e| gpu_err("fp8_decode", e))?;
    v.truncate(codes.len());
    Ok(v)
}

/// What an exhaustive sweep encodes.
#[derive(Clone, Copy, Debug)]
pub enum Sweep {
    E8m0(E8m0Round),
    Fp8(Fp8Format, Overflow),
}

/// The codes of every f32 bit pattern in `[base, base + n)` (kernels `*_encode_sweep`).
pub fn encode_sweep(b: &CudaBackend, what: Sweep, base: u32, n: usize) -> Result<Vec<u8>> {
    let s = &b.stream;
    let mut out = s
        .alloc_zeros::<u8>(n.max(1))
        .map_err(|e| gpu_err("alloc", e))?;
    let nn = n as u64;
    let f;
    let (a, c);
    let mut l = match what {
        Sweep::E8m0(r) => {
            f = b.function("codecs", "e8m0_encode_sweep")?;
            a = round_id(r);
            let mut l = s.launch_builder(&f);
            l.arg(&base).arg(&mut out).arg(&nn).arg(&a);
            l
        }
        Sweep::Fp8(fmt, ov) => {
            f = b.function("codecs", "fp8_encode_sweep")?;
            (a, c) = (fmt_id(fmt), overflow_id(ov));
            let mut l = s.launch_builder(&f);
            l.arg(&base).arg(&mut out).arg(&nn).arg(&a).arg(&c);
            l
        }
    };
    // SAFETY: writes n bytes.
    unsafe { l.launch(b.grid_for(n, THREADS)) }.map_err(|e| gpu_err("encode sweep", e))?;
    drop(l);
    let mut v = s.clone_dtoh(&out).map_err(|e| gpu_err("encode sweep", e))?;
    v.truncate(n);
    Ok(v)
}
