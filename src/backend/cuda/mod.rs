//! The CUDA backend (cudarc, driver API, libraries loaded at run time).
//!
//! `CudaBackend::new` probes libcuda before the first cudarc call (a missing library makes cudarc panic),
//! then opens device 0. Kernels come from the build.rs registry ([`registry`]); each kernel has a CPU twin in
//! src/formats, src/quant or src/gemm and the selftest checks them bit for bit.

use std::collections::HashMap;
use std::fmt::Display;
use std::sync::{Arc, Mutex};

use cudarc::driver::sys::CUdevice_attribute as Attr;
use cudarc::driver::{CudaContext, CudaFunction, CudaStream, LaunchConfig};

use crate::backend::Backend;
use crate::error::{Error, Result};
use crate::formats::{E8m0Round, Fp8Format, Overflow};
use crate::gemm::{GemmOutput, GemmSpec, GpuGemm, Operand, OutType};
use crate::io::Tensor;
use crate::kernel_ref::KernelRef;
use crate::quant::{QuantSpec, Quantized};

pub mod abi;
pub mod codecs;
pub mod compare;
pub mod cublaslt;
pub mod gemm;
pub mod gpu_gemm;
pub mod param_layout;
pub mod probe;
pub mod quant;
pub mod registry;
pub mod resident;
pub mod tc;
pub mod timing;
pub mod user;
pub mod user_gemm;
pub mod wgmma;

/// A GPU error with what was being done.
pub fn gpu_err(what: impl Display, e: impl std::fmt::Debug) -> Error {
    Error::Gpu(format!("{what}: {e:?}"))
}

/// What the device is.
#[derive(Clone, Debug)]
pub struct DeviceInfo {
    pub name: String,
    pub cc: (i32, i32),
    pub sms: u32,
    pub l2_bytes: usize,
    pub mem_bytes: usize,
}

/// Device 0 with its default stream and the kernel modules.
pub struct CudaBackend {
    pub ctx: Arc<CudaContext>,
    pub stream: Arc<CudaStream>,
    pub info: DeviceInfo,
    pub modules: registry::Modules,
    /// User kernels compiled so far (`kernel:FILE.cu[:ENTRY]`), compiled once each.
    pub user_kernels: Mutex<HashMap<KernelRef, Arc<user::UserKernel>>>,
    /// What the backend decided on its own since the caller last asked ([`Backend::take_notes`]).
    pub notes: Mutex<Vec<String>>,
}

impl CudaBackend {
    /// Opens device 0; `Error::NoGpu` when the driver library or a device is missing.
    pub fn new() -> Result<Self> {
        probe::driver()?;
        probe::guarded("opening the CUDA device", || {
            let n = CudaContext::device_count()
                .map_err(|e| Error::NoGpu(format!("the CUDA driver reports no device ({e:?})")))?;
            if n < 1 {
                return Err(Error::NoGpu("the CUDA driver reports no device".into()));
            }
            let ctx = CudaContext::new(0)
                .map_err(|e| Error::NoGpu(format!("cannot open GPU 0: {e:?}")))?;
            // One stream only: cudarc's per-buffer event tracking would only add work.
            // SAFETY: every launch and copy of this backend goes to `stream`, in order.
            unsafe { ctx.disable_event_tracking() };
            let attr = |a| ctx.attribute(a).map_err(|e| gpu_err("device attribute", e));
            let info = DeviceInfo {
                name: ctx.name().map_err(|e| gpu_err("device name", e))?,
                cc: ctx
                    .compute_capability()
                    .map_err(|e| gpu_err("compute capability", e))?,
                sms: attr(Attr::CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT)? as u32,
                l2_bytes: attr(Attr::CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE)? as usize,
                mem_bytes: ctx.total_mem().map_err(|e| gpu_err("device memory", e))?,
            };
            let stream = ctx.default_stream();
            let modules = registry::Modules::new(ctx.clone(), info.cc);
            Ok(CudaBackend {
                ctx,
                stream,
                info,
                modules,
                user_kernels: Mutex::new(HashMap::new()),
                notes: Mutex::new(Vec::new()),
            })
        })
    }

    /// Function `entry` of built-in module `module`.
    pub fn function(&self, module: &'static str, entry: &str) -> Result<CudaFunction> {
        self.modules.function(module, entry)
    }

    /// A grid-stride launch over `n` elements.
    pub fn grid_for(&self, n: usize, threads: u32) -> LaunchConfig {
        let blocks = n
            .div_ceil(threads as usize)
            .clamp(1, self.info.sms as usize * 16) as u32;
        LaunchConfig {
            grid_dim: (blocks, 1, 1),
            block_dim: (threads, 1, 1),
            shared_mem_bytes: 0,
        }
    }

    /// Waits for the stream; reports any asynchronous kernel error.
    pub fn sync(&self, what: &str) -> Result<()> {
        self.stream.synchronize().map_err(|e| gpu_err(what, e))
    }
}

impl Backend for CudaBackend {
    fn name(&self) -> &'static str {
        "cuda"
    }

    fn describe(&self) -> String {
        format!(
            "{} (sm_{}{}, {} SMs, {:.0} GiB, L2 {} MiB); kernels: {}",
            self.info.name,
            self.info.cc.0,
            self.info.cc.1,
            self.info.sms,
            self.info.mem_bytes as f64 / (1u64 << 30) as f64,
            self.info.l2_bytes >> 20,
            registry::BUILT_WITH
        )
    }

    fn take_notes(&self) -> Vec<String> {
        std::mem::take(&mut *self.notes.lock().unwrap_or_else(|e| e.into_inner()))
    }

    fn resident(&self) -> Option<&dyn crate::backend::ResidentOps> {
        Some(self)
    }

    fn e8m0_encode(&self, x: &[f32], round: E8m0Round) -> Result<Vec<u8>> {
        codecs::e8m0_encode(self, x, round)
    }

    fn e8m0_decode(&self, codes: &[u8]) -> Result<Vec<f32>> {
        codecs::e8m0_decode(self, codes)
    }

    fn fp8_encode(&self, x: &[f32], fmt: Fp8Format, overflow: Overflow) -> Result<Vec<u8>> {
        codecs::fp8_encode(self, x, fmt, overflow)
    }

    fn fp8_decode(&self, codes: &[u8], fmt: Fp8Format) -> Result<Vec<f32>> {
        codecs::fp8_decode(self, codes, fmt)
    }

    fn quantize_activation(&self, spec: &QuantSpec, x: &Tensor) -> Result<Quantized> {
        quant::quantize(self, spec, x, false)
    }

    fn quantize_weight(&self, spec: &QuantSpec, w: &Tensor) -> Result<Quantized> {
        quant::quantize(self, spec, w, true)
    }

    fn gemm(
        &self,
        spec: &GemmSpec,
        a: &Operand,
        b: &Operand,
        progress: &(dyn Fn(usize, usize) + Sync),
    ) -> Result<GemmOutput> {
        gemm::gemm_spec(self, spec, a, b, progress)
    }

    fn gpu_gemm(
        &self,
        g: &GpuGemm,
        out: OutType,
        a: &Quantized,
        b: &Quantized,
    ) -> Result<GemmOutput> {
        gpu_gemm::gpu_gemm(self, g, out, a, b)
    }
}
