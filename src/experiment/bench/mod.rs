//! `isolate bench quant|gemm`: GPU kernels timed with CUDA events (warm-up, median of many repetitions,
//! rotating inputs larger than L2), quoted against ceilings measured on the card in the same run.

pub mod gemm;
pub mod quant;
pub mod traffic;

use crate::backend::{Backend, CudaBackend};
use crate::error::{Error, Result};
use crate::kernel_ref::KernelRef;
use crate::quant::QuantSpec;

/// One timed row.
#[derive(Clone, Debug)]
pub struct BenchRow {
    pub name: String,
    pub median_ms: f64,
    pub min_ms: f64,
    /// GB/s (quant) or TFLOP/s (GEMM).
    pub rate: f64,
    /// The rate as a fraction of the row's baseline.
    pub of_baseline: f64,
    /// What the baseline is (`D2D copy`, `cuBLASLt`, `FP32 FMA`, ...).
    pub baseline: String,
    /// Correctness note: "bit-exact", "rel 3e-6 vs blockwise", ...
    pub check: String,
}

/// ‖got − want‖₂ / ‖want‖₂ in f64 (NaN when either has a NaN).
pub fn rel_l2(got: &[f32], want: &[f32]) -> f64 {
    let (mut num, mut den) = (0f64, 0f64);
    for (&g, &w) in got.iter().zip(want) {
        let d = g as f64 - w as f64;
        num += d * d;
        den += w as f64 * w as f64;
    }
    (num / den.max(1e-300)).sqrt()
}

/// The GPU a benchmark runs on; no GPU is one line (exit 2).
fn cuda() -> Result<CudaBackend> {
    CudaBackend::new().map_err(|e| match e {
        Error::NoGpu(w) => Error::NoGpu(format!("bench needs a CUDA GPU: {w}")),
        e => e,
    })
}

/// `isolate bench quant`.
#[derive(Clone, Debug)]
pub struct QuantBenchRequest {
    pub m: usize,
    pub k: usize,
    pub spec: QuantSpec,
    pub reps: usize,
    pub kernel: Option<KernelRef>,
}

/// A benchmark's figures, with the device it ran on.
pub struct Measured<R> {
    /// The device line.
    pub device: String,
    /// The problem measured, in words (`M×K = 16384×7168 bf16`).
    pub shape: String,
    pub report: R,
}

/// Runs `isolate bench quant`.
pub fn run_quant(req: &QuantBenchRequest) -> Result<Measured<quant::QuantBenchReport>> {
    let (m, k, spec) = (req.m, req.k, &req.spec);
    if spec.is_none() || m == 0 || k == 0 || k % spec.group != 0 {
        return Err(Error::Usage(format!(
            "bench quant: needs a quantizing spec and M, K > 0 with K a multiple of the group (got {spec}, {m}×{k})"
        )));
    }
    let be = cuda()?;
    let report = quant::run(
        &be,
        &quant::QuantBench {
            m,
            k,
            spec: *spec,
            reps: req.reps.max(1),
            kernel: req.kernel.clone(),
        },
    )?;
    Ok(Measured {
        device: be.describe(),
        shape: format!("M×K = {m}×{k} bf16"),
        report,
    })
}

/// `isolate bench gemm`.
#[derive(Clone, Debug)]
pub struct GemmBenchRequest {
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub reps: usize,
    pub kernel: Option<KernelRef>,
}

/// Runs `isolate bench gemm`.
pub fn run_gemm(req: &GemmBenchRequest) -> Result<Measured<gemm::GemmBenchReport>> {
    let (m, n, k) = (req.m, req.n, req.k);
    if m == 0 || n == 0 || k == 0 || k % 128 != 0 || n % 16 != 0 {
        return Err(Error::Usage(format!(
            "bench gemm: M, N, K must be positive with K % 128 = 0 and N % 16 = 0 (got {m}×{n}×{k})"
        )));
    }
    let be = cuda()?;
    let report = gemm::run(
        &be,
        &gemm::GemmBench {
            m,
            n,
            k,
            reps: req.reps.max(1),
            kernel: req.kernel.clone(),
        },
    )?;
    Ok(Measured {
        device: be.describe(),
        shape: format!("M×N×K = {m}×{n}×{k}"),
        report,
    })
}
