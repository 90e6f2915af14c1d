//! `--backend simt-cpu`: the [`Backend`] trait on the SIMT executor. Codecs and quantizers run the built-in
//! kernel sources (kernels/codecs.cu, kernels/quant.cu) compiled by the system C++ compiler and executed on
//! the CPU as the HIP build compiles them, at wavefront 64 (CDNA). GEMMs run kernels/gemm_blockwise.cu
//! (`acc=block-exact`: `blockwise`, `blockwise-v3`, their axes) or kernels/gemm_mfma.cu (`acc=cdna3` with
//! promotion: `cdna3-blockwise` and its axes, the MFMA builtins given by the executor from the `cdna3` model);
//! any other GEMM runs the CPU definition, with a note saying so.

use std::sync::Mutex;

use crate::backend::simt::{self, kernels, Mode, Module};
use crate::backend::Backend;
use crate::error::{Error, Result};
use crate::formats::{DType, E8m0Round, Fp8Format, Overflow};
use crate::gemm::{GemmOutput, GemmSpec, GpuGemm, Operand, OutType};
use crate::io::Tensor;
use crate::kernel_ref::KernelRef;
use crate::quant::{QuantSpec, Quantized};

/// The kernel sources on the CPU, through the SIMT executor.
pub struct SimtBackend {
    /// The C++ compiler modules are built with.
    pub compiler: std::path::PathBuf,
    /// Which branch of the portability macros the built-in sources see.
    pub mode: Mode,
    /// Lanes per warp / wavefront.
    pub warp: u32,
    /// The GEMM emulations handed to the CPU since the last [`Backend::take_notes`].
    cpu_gemms: Mutex<Vec<String>>,
}

impl SimtBackend {
    /// The HIP sources at wavefront 64 (as on an MI300); `Error::Usage` naming the compilers looked for when
    /// there is no C++ compiler.
    pub fn new() -> Result<SimtBackend> {
        Ok(SimtBackend {
            compiler: simt::find_compiler()?,
            mode: Mode::Hip,
            warp: 64,
            cpu_gemms: Mutex::new(Vec::new()),
        })
    }

    /// Lanes a user kernel runs with: 64 for a `.hip` file (a CDNA wavefront), 32 otherwise (an NVIDIA warp).
    pub fn user_warp(k: &KernelRef) -> u32 {
        if k.is_hip() {
            64
        } else {
            32
        }
    }

    /// Compiles a user quant kernel (`.cu` as nvcc sees it, `.hip` as the HIP build does) and runs it (quant ABI
    /// v1 of `crate::backend::cuda::user`) over `x` [rows, cols]: FP8 codes and f32 scales
    /// [rows, ceil(cols / group)]. A compile error, a missing entry point or a kernel reaching outside its
    /// buffers is an error naming the file (exit 2).
    #[allow(clippy::too_many_arguments)]
    pub fn run_user_quant(
        &self,
        k: &KernelRef,
        x: &[u8],
        dtype: DType,
        rows: usize,
        cols: usize,
        group: usize,
    ) -> Result<(Vec<u8>, Vec<f32>)> {
        let src = std::fs::read_to_string(&k.path).map_err(|e| Error::io(&k.path, e))?;
        let entry = k.entry_among(&crate::backend::cuda::user::global_functions(&src))?;
        let mode = if k.is_hip() { Mode::Hip } else { Mode::Cuda };
        let dir = k.path.parent().filter(|d| !d.as_os_str().is_empty());
        let m = simt::compile(&src, &k.path.display().to_string(), mode, dir)?;
        kernels::run_user_quant(m, &entry, Self::user_warp(k), x, dtype, rows, cols, group)
    }

    pub(crate) fn module(&self, name: &str) -> Result<&'static Module> {
        simt::builtin(name, self.mode)
    }

    fn cpu_gemm(&self, spec: String) {
        let mut v = self.cpu_gemms.lock().unwrap_or_else(|e| e.into_inner());
        if !v.contains(&spec) {
            v.push(spec);
        }
    }
}

impl Backend for SimtBackend {
    fn name(&self) -> &'static str {
        "simt-cpu"
    }

    fn describe(&self) -> String {
        format!(
            "kernel sources ({} build, {}-lane {}) on the CPU executor, compiled with {}",
            if self.mode != Mode::Cuda {
                "HIP"
            } else {
                "CUDA"
            },
            self.warp,
            if self.warp == 64 {
                "wavefronts"
            } else {
                "warps"
            },
            self.compiler.display()
        )
    }

    fn e8m0_encode(&self, x: &[f32], round: E8m0Round) -> Result<Vec<u8>> {
        kernels::e8m0_encode(self.module("codecs")?, self.warp, x, round)
    }

    fn e8m0_decode(&self, codes: &[u8]) -> Result<Vec<f32>> {
        kernels::e8m0_decode(self.module("codecs")?, self.warp, codes)
    }

    fn fp8_encode(&self, x: &[f32], fmt: Fp8Format, overflow: Overflow) -> Result<Vec<u8>> {
        kernels::fp8_encode(self.module("codecs")?, self.warp, x, fmt, overflow)
    }

    fn fp8_decode(&self, codes: &[u8], fmt: Fp8Format) -> Result<Vec<f32>> {
        kernels::fp8_decode(self.module("codecs")?, self.warp, codes, fmt)
    }

    fn quantize_activation(&self, spec: &QuantSpec, x: &Tensor) -> Result<Quantized> {
        kernels::quantize(self.module("quant")?, self.warp, spec, x, false)
    }

    fn quantize_weight(&self, spec: &QuantSpec, w: &Tensor) -> Result<Quantized> {
        kernels::quantize(self.module("quant")?, self.warp, spec, w, true)
    }

    fn gemm(
        &self,
        spec: &GemmSpec,
        a: &Operand,
        b: &Operand,
        progress: &(dyn Fn(usize, usize) + Sync),
    ) -> Result<GemmOutput> {
        // Shape errors exactly as the CPU reports them.
        crate::gemm::plan::plan(spec, a, b)?;
        let (kernel, args) = match kernels::gemm_kernel_for(spec, a, b) {
            Ok(k) => k,
            Err(why) => {
                self.cpu_gemm(format!("{spec}` ({why})"));
                return crate::gemm::gemm_with_progress(spec, a, b, progress);
            }
        };
        let (Operand::Quantized(qa), Operand::Quantized(qb)) = (a, b) else {
            unreachable!("checked by gemm_kernel_for")
        };
        let values = match kernel {
            kernels::GemmKernel::Blockwise => kernels::gemm(
                self.module("gemm_blockwise")?,
                kernel,
                self.warp,
                qa,
                qb,
                &args,
            )?,
            // The fnuz MFMA of gfx942 (gemm_kernel_for checked the formats).
            kernels::GemmKernel::Mfma => kernels::gemm(
                simt::builtin("gemm_mfma", Mode::Hip)?,
                kernel,
                64,
                qa,
                qb,
                &args,
            )?,
        };
        progress(1, 1);
        Ok(GemmOutput {
            rows: qa.rows,
            cols: qb.rows,
            values,
            out: spec.out,
        })
    }

    fn gpu_gemm(
        &self,
        g: &GpuGemm,
        _out: OutType,
        _a: &Quantized,
        _b: &Quantized,
    ) -> Result<GemmOutput> {
        Err(crate::backend::gpu_only(
            g,
            "this is the simt-cpu backend (kernel sources on the CPU)",
        ))
    }

    fn resident(&self) -> Option<&dyn crate::backend::ResidentOps> {
        Some(self)
    }

    /// One line for every GEMM handed to the CPU definition.
    fn take_notes(&self) -> Vec<String> {
        let v = std::mem::take(&mut *self.cpu_gemms.lock().unwrap_or_else(|e| e.into_inner()));
        let what = match v.as_slice() {
            [] => return Vec::new(),
            [one] => format!("GEMM `{one}"),
            few if few.len() <= 3 => format!("GEMMs `{}", few.join(", `")),
            many => format!("{} GEMM emulations", many.len()),
        };
        vec![format!(
            "{what} ran on the CPU definition: simt-cpu has GEMM kernels for acc=block-exact and acc=cdna3 only"
        )]
    }
}
