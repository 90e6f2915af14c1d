//! Compute backends: one trait, implementations for the CPU (always there, the reference), CUDA, HIP (AMD, loaded
//! at run time; never run on AMD hardware) and the SIMT executor (`simt-cpu`: the kernel sources run on the CPU).
//!
//! Every backend computes the same functions bit for bit; the CPU one is the definition. [`select`] turns a
//! [`BackendKind`] into a [`Device`]: `auto` uses CUDA when a GPU and its driver are there and otherwise falls
//! back to HIP and then to the CPU, keeping the reasons in [`Selected::fallback`] for the caller to say; `cuda` or
//! `hip` without their GPU is `Error::NoGpu` (exit 2). A backend never prints: what it decided on its own (a GEMM it could not run and
//! handed to the CPU) it keeps as notes ([`Backend::take_notes`]) for the caller to report.

use std::str::FromStr;

use crate::error::{Error, Result};
use crate::formats::{E8m0Round, Fp8Format, Overflow};
use crate::gemm::{GemmChoice, GemmOutput, GemmSpec, GpuGemm, Operand, OutType};
use crate::io::Tensor;
use crate::quant::{QuantSpec, Quantized};

pub mod compare_abi;
pub mod cpu;
pub mod cuda;
pub mod hip;
pub mod resident;
pub mod simt;

pub use cpu::CpuBackend;
pub use cuda::CudaBackend;
pub use hip::HipBackend;
pub use resident::{Resident, ResidentOps};
pub use simt::SimtBackend;

/// The operations a backend offers. Slices in, vectors out: each call moves its data to the device and back
/// (a backend with device memory also offers [`ResidentOps`], which keep it there).
pub trait Backend {
    /// `cpu`, `cuda` or `simt-cpu`.
    fn name(&self) -> &'static str;
    /// A line describing the device (CPU model / GPU name, compute capability, how kernels were built).
    fn describe(&self) -> String;
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
    /// What the backend decided on its own since the last call (e.g. "GEMM exact runs on the CPU (…)"), for
    /// the caller to report; the CPU backend has none.
    fn take_notes(&self) -> Vec<String> {
        Vec::new()
    }
    /// The operations that keep their data on the device between calls (docs/ARCHITECTURE.md), when this
    /// backend has device memory; None (the default) where everything is on the host.
    fn resident(&self) -> Option<&dyn ResidentOps> {
        None
    }
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

/// Which backend a command asked for (the `--backend` flag's values).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum BackendKind {
    /// CUDA when an NVIDIA GPU is there, else HIP when an AMD one is, else the CPU (the reasons kept in
    /// [`Selected::fallback`]).
    #[default]
    Auto,
    /// The CPU reference.
    Cpu,
    /// An NVIDIA GPU through CUDA; `Error::NoGpu` when there is none.
    Cuda,
    /// An AMD GPU through the HIP runtime (gfx942 / gfx950); `Error::NoGpu` when there is none.
    Hip,
    /// The kernel sources run on the CPU by the SIMT executor (`Error::Usage` without a C++ compiler).
    SimtCpu,
}

impl BackendKind {
    /// Every kind, as the command line spells it.
    pub const ALL: [BackendKind; 5] = [
        BackendKind::Auto,
        BackendKind::Cpu,
        BackendKind::Cuda,
        BackendKind::Hip,
        BackendKind::SimtCpu,
    ];

    /// The spelling on the command line.
    pub fn name(self) -> &'static str {
        match self {
            BackendKind::Auto => "auto",
            BackendKind::Cpu => "cpu",
            BackendKind::Cuda => "cuda",
            BackendKind::Hip => "hip",
            BackendKind::SimtCpu => "simt-cpu",
        }
    }
}

impl FromStr for BackendKind {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        BackendKind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = BackendKind::ALL.iter().map(|k| k.name()).collect();
                format!("'{s}': expected one of {}", names.join(", "))
            })
    }
}

/// A backend that was opened: the CPU, a CUDA device or the SIMT executor. Code that needs what only one of
/// them offers (the CUDA selftest sweeps, user kernels, benchmarks) matches on it; everything else uses
/// [`Device::backend`].
pub enum Device {
    Cpu(CpuBackend),
    Cuda(Box<CudaBackend>),
    Hip(Box<HipBackend>),
    Simt(SimtBackend),
}

impl Device {
    /// The backend behind the common trait.
    pub fn backend(&self) -> &dyn Backend {
        match self {
            Device::Cpu(b) => b,
            Device::Cuda(b) => b.as_ref(),
            Device::Hip(b) => b.as_ref(),
            Device::Simt(b) => b,
        }
    }

    /// The CUDA backend, when this is one.
    pub fn cuda(&self) -> Option<&CudaBackend> {
        match self {
            Device::Cuda(b) => Some(b),
            Device::Cpu(_) | Device::Hip(_) | Device::Simt(_) => None,
        }
    }

    /// Opens the AMD device 0 (`Error::NoGpu` naming why there is none).
    pub fn open_hip() -> Result<Device> {
        Ok(Device::Hip(Box::new(HipBackend::new()?)))
    }

    /// Opens the CUDA device 0 (`Error::NoGpu` naming why there is none).
    pub fn open_cuda() -> Result<Device> {
        Ok(Device::Cuda(Box::new(CudaBackend::new()?)))
    }
}

/// The device [`select`] opened, and why `auto` fell back to the CPU.
pub struct Selected {
    pub device: Device,
    /// Why there is no usable GPU, when `auto` fell back to the CPU (the command says so after its report).
    pub fallback: Option<String>,
}

impl Selected {
    /// A device the command picked itself (no fallback to report).
    pub fn of(device: Device) -> Selected {
        Selected {
            device,
            fallback: None,
        }
    }

    /// The backend behind the common trait.
    pub fn backend(&self) -> &dyn Backend {
        self.device.backend()
    }
}

/// The device for `kind`: the CPU, CUDA or HIP (`Error::NoGpu` without their GPU), the SIMT executor
/// (`Error::Usage` without a C++ compiler), or `auto` (CUDA, else HIP, else the CPU with the reasons kept in
/// [`Selected::fallback`]).
pub fn select(kind: BackendKind) -> Result<Selected> {
    match kind {
        BackendKind::Cpu => Ok(Selected::of(Device::Cpu(CpuBackend))),
        BackendKind::SimtCpu => Ok(Selected::of(Device::Simt(SimtBackend::new()?))),
        BackendKind::Hip => match Device::open_hip() {
            Ok(d) => Ok(Selected::of(d)),
            Err(Error::NoGpu(why)) => Err(Error::NoGpu(format!("--backend hip: {why}"))),
            Err(e) => Err(e),
        },
        BackendKind::Cuda => match Device::open_cuda() {
            Ok(d) => Ok(Selected::of(d)),
            Err(Error::NoGpu(why)) => Err(Error::NoGpu(format!(
                "--backend cuda: no usable GPU: {why}"
            ))),
            Err(e) => Err(e),
        },
        BackendKind::Auto => match Device::open_cuda() {
            Ok(d) => Ok(Selected::of(d)),
            Err(Error::NoGpu(cuda)) => match Device::open_hip() {
                Ok(d) => Ok(Selected::of(d)),
                Err(Error::NoGpu(hip)) => Ok(Selected {
                    device: Device::Cpu(CpuBackend),
                    fallback: Some(auto_fallback(&cuda, &hip)),
                }),
                Err(e) => Err(e),
            },
            Err(e) => Err(e),
        },
    }
}

/// Why `auto` fell back to the CPU: the CUDA reason, and the HIP one unless ROCm is simply not installed
/// (the common case on an NVIDIA-less build machine, not worth a second clause).
pub fn auto_fallback(cuda: &str, hip: &str) -> String {
    if hip.contains("no HIP runtime") {
        cuda.to_string()
    } else {
        format!("{cuda}; AMD: {hip}")
    }
}

/// The device for a command that runs the GPU-only GEMM `g`: CUDA, or `Error::NoGpu` with one line saying
/// that `g` runs only on the GPU and why there is none (`--backend cpu`, no driver, no device).
pub fn require_gpu(kind: BackendKind, g: &GpuGemm) -> Result<Device> {
    match kind {
        BackendKind::Cpu | BackendKind::SimtCpu => {
            return Err(gpu_only(
                g,
                &format!(
                    "--backend {} was given (use --backend cuda or auto on a machine with an NVIDIA GPU)",
                    kind.name()
                ),
            ))
        }
        BackendKind::Hip => {
            return Err(gpu_only(
                g,
                "--backend hip was given: it is a CUDA GEMM (use --backend cuda or auto on a machine with an NVIDIA GPU)",
            ))
        }
        BackendKind::Auto | BackendKind::Cuda => {}
    }
    match Device::open_cuda() {
        Ok(d) => Ok(d),
        Err(Error::NoGpu(why)) => Err(gpu_only(g, &format!("no usable GPU ({why})"))),
        Err(e) => Err(e),
    }
}
