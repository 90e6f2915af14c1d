//! Compute backends: one trait, implementations for the CPU (always there, the reference) and CUDA.
//!
//! Every backend computes the same functions bit for bit; the CPU one is the definition. `select` turns the
//! `--backend auto|cpu|cuda` flag into a backend: `auto` uses CUDA when a GPU and its driver are there and
//! falls back to the CPU with one line on stderr, `cuda` without a GPU is a usage error (exit 2).

use crate::error::{Error, Result};
use crate::formats::{E8m0Round, Fp8Format, Overflow};
use crate::gemm::{GemmChoice, GemmOutput, GemmSpec, GpuGemm, Operand, OutType};
use crate::io::Tensor;
use crate::quant::{QuantSpec, Quantized};

pub mod cpu;
pub mod cuda;
pub mod hip;
pub mod simt;

pub use cpu::CpuBackend;

/// The operations a backend offers. Slices in, vectors out: each call moves its data to the device and back.
pub trait Backend {
    /// `cpu` or `cuda`.
    fn name(&self) -> &'static str;
    /// A line describing the device (CPU model / GPU name, compute capability, how kernels were built).
    fn describe(&self) -> String;
    /// For backend-specific extras (the CUDA selftest sweeps, benches).
    fn as_any(&self) -> &dyn std::any::Any;
    /// [`crate::formats::e8m0::encode`] of every element.
    fn e8m0_encode(&self, x: &[f32], round: E8m0Round) -> Result<Vec<u8>>;
    /// [`crate::formats::e8m0::decode`] of every code.
    fn e8m0_decode(&self, codes: &[u8]) -> Result<Vec<f32>>;
    /// [`Fp8Format::encode`] of every element.
    fn fp8_encode(&self, x: &[f32], fmt: Fp8Format, overflow: Overflow) -> Result<Vec<u8>>;
    /// [`Fp8Format::decode`] of every code.
    fn fp8_decode(&self, codes: &[u8], fmt: Fp8Format) -> Result<Vec<f32>>;
    /// [`crate::quant::quantize_activation`]: 1×G groups along K.
    fn quantize_activation(&self, spec: &QuantSpec, x: &Tensor) -> Result<Quantized>;
    /// [`crate::quant::quantize_weight`]: 128×128 blocks.
    fn quantize_weight(&self, spec: &QuantSpec, w: &Tensor) -> Result<Quantized>;
    /// [`crate::gemm::gemm_with_progress`]: C = A·Bᵀ by the emulation `spec`, bit for bit.
    fn gemm(
        &self,
        spec: &GemmSpec,
        a: &Operand,
        b: &Operand,
        progress: &(dyn Fn(usize, usize) + Sync),
    ) -> Result<GemmOutput>;
    /// A GEMM that runs only on the GPU (`tc`, `tc-fast-accum`, `cublaslt`, a user kernel): C = A·Bᵀ with
    /// output type `out`. The CPU backend refuses (`Error::NoGpu`).
    fn gpu_gemm(
        &self,
        g: &GpuGemm,
        out: OutType,
        a: &Quantized,
        b: &Quantized,
    ) -> Result<GemmOutput>;
}

/// The one line a GPU-only GEMM gets without a GPU.
pub fn gpu_only(g: &GpuGemm, why: &str) -> Error {
    Error::NoGpu(format!("`{g}` runs only on the GPU: {why}"))
}

/// C = A·Bᵀ by `choice` on `be`: an emulation through [`Backend::gemm`], a GPU-only GEMM through
/// [`Backend::gpu_gemm`] (both operands must be FP8-quantized, with the same K).
pub fn run_gemm(
    be: &dyn Backend,
    choice: &GemmChoice,
    a: &Operand,
    b: &Operand,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<GemmOutput> {
    match choice {
        GemmChoice::Emulation(spec) => be.gemm(spec, a, b, progress),
        GemmChoice::Gpu { gemm, out } => {
            let (Operand::Quantized(qa), Operand::Quantized(qb)) = (a, b) else {
                return Err(Error::Usage(format!(
                    "`{gemm}` multiplies FP8 codes with their scales, but the {} is plain values (quant `none`); \
                     quantize it or use an emulation such as `exact`",
                    if matches!(a, Operand::Plain { .. }) {
                        "activation"
                    } else {
                        "weight"
                    }
                )));
            };
            if qa.cols == 0 {
                return Err(Error::BadTensor(
                    "K = 0: the activation and weight have no columns to multiply".into(),
                ));
            }
            if qa.cols != qb.cols {
                return Err(Error::BadTensor(format!(
                    "inner dimensions disagree: activation is [M, K] = [{}, {}] but weight is [N, K] = [{}, {}]",
                    qa.rows, qa.cols, qb.rows, qb.cols
                )));
            }
            let r = be.gpu_gemm(gemm, *out, qa, qb)?;
            progress(1, 1);
            Ok(r)
        }
    }
}

/// The backend for a command that runs the GPU-only GEMM `g`: CUDA, or `Error::NoGpu` with one line saying
/// that `g` runs only on the GPU and why there is none (`--backend cpu`, no driver, no device).
pub fn require_gpu(choice: BackendChoice, g: &GpuGemm) -> Result<Box<dyn Backend>> {
    if choice == BackendChoice::Cpu {
        return Err(gpu_only(
            g,
            "--backend cpu was given (use --backend cuda or auto on a machine with an NVIDIA GPU)",
        ));
    }
    match cuda::CudaBackend::new() {
        Ok(b) => Ok(Box::new(b)),
        Err(Error::NoGpu(why)) => Err(gpu_only(g, &format!("no usable GPU ({why})"))),
        Err(e) => Err(e),
    }
}

/// The `--backend` flag.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum BackendChoice {
    /// CUDA when a GPU is there, else the CPU (saying so on stderr).
    #[default]
    Auto,
    /// The CPU reference.
    Cpu,
    /// An NVIDIA GPU through CUDA; exit 2 when there is none.
    Cuda,
}

/// `--backend` as a reusable clap argument group (flatten it into a command's arguments).
#[derive(clap::Args, Debug, Clone, Copy, Default)]
pub struct BackendArg {
    /// Where to compute: auto (CUDA when a GPU is present, else CPU), cpu, or cuda.
    #[arg(long, value_enum, default_value_t = BackendChoice::Auto)]
    pub backend: BackendChoice,
}

/// A backend chosen for a data command (`quant`, `gemm`, `fingerprint`), and why `auto` fell back to the CPU.
pub struct Chosen {
    pub backend: Box<dyn Backend>,
    /// Why there is no usable GPU, when `auto` fell back to the CPU.
    pub no_gpu: Option<String>,
}

impl Chosen {
    /// A backend the command picked itself (no fallback to report).
    pub fn of(backend: Box<dyn Backend>) -> Chosen {
        Chosen {
            backend,
            no_gpu: None,
        }
    }

    /// Prints `isolate: no usable GPU (…); ran on the CPU backend` on stderr when `auto` fell back. The data
    /// commands call it after their report, so that a bad input still gets exactly one line (its error) and a
    /// finished run says where it ran.
    pub fn say_fallback(&self) {
        if let Some(why) = &self.no_gpu {
            eprintln!("isolate: no usable GPU ({why}); ran on the CPU backend");
        }
    }
}

/// The backend for `choice`: `cpu`, `cuda` (exit 2 without a usable GPU), or `auto` (CUDA, else the CPU with
/// the reason kept in [`Chosen::no_gpu`]).
pub fn select_deferred(choice: BackendChoice) -> Result<Chosen> {
    match choice {
        BackendChoice::Cpu => Ok(Chosen::of(Box::new(CpuBackend))),
        BackendChoice::Cuda => match cuda::CudaBackend::new() {
            Ok(b) => Ok(Chosen::of(Box::new(b))),
            Err(Error::NoGpu(why)) => Err(Error::NoGpu(format!(
                "--backend cuda: no usable GPU: {why}"
            ))),
            Err(e) => Err(e),
        },
        BackendChoice::Auto => match cuda::CudaBackend::new() {
            Ok(b) => Ok(Chosen::of(Box::new(b))),
            Err(Error::NoGpu(why)) => Ok(Chosen {
                backend: Box::new(CpuBackend),
                no_gpu: Some(why),
            }),
            Err(e) => Err(e),
        },
    }
}

/// Parses `auto | cpu | cuda`.
pub fn parse_choice(s: &str) -> Result<BackendChoice> {
    match s {
        "auto" => Ok(BackendChoice::Auto),
        "cpu" => Ok(BackendChoice::Cpu),
        "cuda" => Ok(BackendChoice::Cuda),
        other => Err(Error::Usage(format!(
            "--backend {other}: expected auto, cpu or cuda"
        ))),
    }
}

/// A backend for `choice`. `auto` without a usable GPU prints one line on stderr now and returns the CPU
/// backend (for `selftest`, whose table names the backend it ran on).
pub fn select(choice: BackendChoice) -> Result<Box<dyn Backend>> {
    let c = select_deferred(choice)?;
    if let Some(why) = &c.no_gpu {
        eprintln!("isolate: no usable GPU ({why}); using the CPU backend");
    }
    Ok(c.backend)
}
