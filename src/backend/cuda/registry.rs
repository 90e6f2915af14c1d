//! The kernel modules built by build.rs (`$OUT_DIR/kernels.rs`): sm_90 SASS and PTX made by nvcc and ptxas at
//! build time when they were there, and always the source, which NVRTC compiles at run time when there is no
//! PTX or the PTX does not load on this device.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use cudarc::driver::{CudaContext, CudaFunction, CudaModule};
use cudarc::nvrtc::{compile_ptx_with_opts, CompileOptions, Ptx};

use crate::backend::cuda::{gpu_err, probe};
use crate::error::{Error, Result};

/// One `kernels/*.cu` file.
#[derive(Debug)]
pub struct ModuleSource {
    /// The file stem (`codecs`, `quant`, …).
    pub name: &'static str,
    /// Whether it needs sm_90a (wgmma, setmaxnreg).
    pub sm90a: bool,
    /// The source with local includes inlined.
    pub source: &'static str,
    /// nvcc's PTX, when nvcc was there at build time.
    pub ptx: Option<&'static str>,
    /// ptxas's SASS for sm_90 (sm_90a) from that PTX, when ptxas was there too: loaded without JIT on a 9.0
    /// device.
    pub cubin: Option<&'static [u8]>,
}

include!(concat!(env!("OUT_DIR"), "/kernels.rs"));

/// The module named `name`.
pub fn module_source(name: &str) -> Option<&'static ModuleSource> {
    MODULES.iter().find(|m| m.name == name)
}

/// NVRTC options matching build.rs's nvcc flags (no FMA contraction, IEEE div/sqrt, no FTZ).
pub fn nvrtc_options(arch: String, name: &str) -> CompileOptions {
    CompileOptions {
        ftz: Some(false),
        prec_sqrt: Some(true),
        prec_div: Some(true),
        fmad: Some(false),
        options: vec![
            format!("--gpu-architecture={arch}"),
            "--std=c++17".into(),
            "-lineinfo".into(),
        ],
        name: Some(format!("{name}.cu")),
        ..Default::default()
    }
}

/// Compiles CUDA C++ source with NVRTC for `arch` (e.g. `sm_90`); `what` names it in errors.
pub fn nvrtc_compile(src: &str, arch: String, what: &str) -> Result<Ptx> {
    probe::nvrtc()?;
    if src.contains('\0') {
        return Err(Error::Usage(format!(
            "{what}: the source contains a NUL byte"
        )));
    }
    compile_ptx_with_opts(src, nvrtc_options(arch, what)).map_err(|e| match e {
        cudarc::nvrtc::CompileError::CompileError { log, .. } => Error::Usage(format!(
            "{what}: NVRTC could not compile it:\n{}",
            log.to_string_lossy().trim_end()
        )),
        e => Error::Gpu(format!("{what}: NVRTC: {e:?}")),
    })
}

/// Loaded modules, each loaded once per context.
pub struct Modules {
    ctx: Arc<CudaContext>,
    cc: (i32, i32),
    loaded: Mutex<HashMap<&'static str, (Arc<CudaModule>, &'static str)>>,
}

impl Modules {
    pub fn new(ctx: Arc<CudaContext>, cc: (i32, i32)) -> Self {
        Modules {
            ctx,
            cc,
            loaded: Mutex::new(HashMap::new()),
        }
    }

    /// The NVRTC architecture for this device (`sm_90a` for a module that asks for it on a 9.0 device).
    pub fn arch(&self, sm90a: bool) -> String {
        let a = if sm90a && self.cc == (9, 0) { "a" } else { "" };
        format!("sm_{}{}{a}", self.cc.0, self.cc.1)
    }

    /// The function `entry` of built-in module `module`.
    pub fn function(&self, module: &'static str, entry: &str) -> Result<CudaFunction> {
        let m = self.load(module)?;
        m.load_function(entry)
            .map_err(|e| gpu_err(format!("kernel {module}::{entry}"), e))
    }

    /// How module `name` was loaded: "nvcc cubin", "nvcc PTX" or "NVRTC".
    pub fn how(&self, name: &'static str) -> Option<&'static str> {
        self.loaded.lock().unwrap().get(name).map(|m| m.1)
    }

    fn load(&self, name: &'static str) -> Result<Arc<CudaModule>> {
        if let Some(m) = self.loaded.lock().unwrap().get(name) {
            return Ok(m.0.clone());
        }
        let src = module_source(name)
            .ok_or_else(|| Error::Gpu(format!("no kernel module {name} in this build")))?;
        if src.sm90a && self.cc != (9, 0) {
            return Err(Error::NoGpu(format!(
                "kernel module {name} needs an sm_90 (Hopper) GPU; this one is sm_{}{}",
                self.cc.0, self.cc.1
            )));
        }
        // SASS built for this exact architecture first (no JIT), then PTX (the driver JITs it, and caches the
        // result), then NVRTC from the source.
        let from_cubin = src
            .cubin
            .filter(|_| self.cc == (9, 0))
            .and_then(|c| self.ctx.load_module(Ptx::from_binary(c.to_vec())).ok())
            .map(|m| (m, "nvcc cubin"));
        let from_ptx = from_cubin.or_else(|| {
            src.ptx
                .and_then(|p| self.ctx.load_module(Ptx::from_src(p)).ok())
                .map(|m| (m, "nvcc PTX"))
        });
        let (m, how) = match from_ptx {
            Some(m) => m,
            None => {
                let ptx = nvrtc_compile(src.source, self.arch(src.sm90a), name)?;
                let m = self
                    .ctx
                    .load_module(ptx)
                    .map_err(|e| gpu_err(format!("loading module {name}"), e))?;
                (m, "NVRTC")
            }
        };
        self.loaded.lock().unwrap().insert(name, (m.clone(), how));
        Ok(m)
    }
}
