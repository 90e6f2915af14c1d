//! What `--target-gemm` / `--ref-gemm` name: a CPU emulation ([`GemmSpec`]: `blockwise`, `fast-accum,…`) or a
//! GEMM that only runs on the GPU (docs/numerics.md §8.5: `tc`, `tc-fast-accum`, `cublaslt`, and a user
//! kernel `kernel:FILE.cu[:ENTRY]`). GPU-only GEMMs take one axis, `out=bf16|f32` (default bf16, as the
//! presets); their f32 results go through the same bf16 rounding as the emulations ([`GemmOutput::from_f32`]),
//! except a user kernel, which writes bf16 itself when asked (its own epilogue is part of what it tests).
//!
//! [`GemmOutput::from_f32`]: crate::gemm::GemmOutput::from_f32

use std::fmt;
use std::path::PathBuf;

use crate::error::{Error, Result};
use crate::gemm::spec::{GemmSpec, OutType, Preset};

/// A GEMM that runs only on the GPU.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum GpuGemm {
    /// A real FP8 tensor-core GEMM (WGMMA on sm_90, mma.sync elsewhere) with promotion to f32 every 128 K
    /// (kernels/gemm_wgmma.cu, kernels/gemm_tc.cu).
    Tc,
    /// The same tensor cores accumulating all of K without promotion (scales must be constant along K).
    TcFastAccum,
    /// cuBLASLt FP8 with 1×128 / 128×128 block scaling (what `torch._scaled_mm` runs on an H100), or
    /// per-tensor scales.
    Cublaslt,
    /// A user kernel, `kernel:FILE.cu[:ENTRY]`, compiled with NVRTC (GEMM ABI v1,
    /// src/backend/cuda/user_gemm.rs).
    Kernel {
        path: PathBuf,
        entry: Option<String>,
    },
}

impl GpuGemm {
    /// The built-in names a spec string uses.
    pub const BUILT_IN: [&'static str; 3] = ["tc", "tc-fast-accum", "cublaslt"];

    /// Parses a built-in name or `kernel:FILE.cu[:ENTRY]`.
    pub fn parse(s: &str) -> Option<GpuGemm> {
        match s {
            "tc" => Some(GpuGemm::Tc),
            "tc-fast-accum" => Some(GpuGemm::TcFastAccum),
            "cublaslt" => Some(GpuGemm::Cublaslt),
            _ => {
                let k = crate::kernel_ref::KernelRef::parse(s)?;
                Some(GpuGemm::Kernel {
                    path: k.path,
                    entry: k.entry,
                })
            }
        }
    }

    /// One line saying what it is.
    pub fn description(&self) -> String {
        match self {
            GpuGemm::Tc => "GPU: FP8 tensor-core GEMM (WGMMA/mma.sync), f32 promotion every 128 K".into(),
            GpuGemm::TcFastAccum => {
                "GPU: FP8 tensor-core GEMM accumulating all of K in the tensor cores (no promotion)".into()
            }
            GpuGemm::Cublaslt => {
                "GPU: cuBLASLt FP8 GEMM, 1x128/128x128 block scaling (torch._scaled_mm's kernel on Hopper)".into()
            }
            GpuGemm::Kernel { .. } => format!("GPU: user kernel {self} (GEMM ABI v1)"),
        }
    }
}

impl fmt::Display for GpuGemm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GpuGemm::Tc => f.write_str("tc"),
            GpuGemm::TcFastAccum => f.write_str("tc-fast-accum"),
            GpuGemm::Cublaslt => f.write_str("cublaslt"),
            GpuGemm::Kernel { path, entry } => {
                write!(f, "kernel:{}", path.display())?;
                if let Some(e) = entry {
                    write!(f, ":{e}")?;
                }
                Ok(())
            }
        }
    }
}

/// A `--target-gemm` / `--ref-gemm` value.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum GemmChoice {
    /// A CPU emulation (runs on any backend; the block-exact ones on the GPU when it is there).
    Emulation(GemmSpec),
    /// A GEMM that only runs on the GPU, with its output type.
    Gpu { gemm: GpuGemm, out: OutType },
}

impl From<GemmSpec> for GemmChoice {
    fn from(s: GemmSpec) -> Self {
        GemmChoice::Emulation(s)
    }
}

fn out_value(s: &str, v: &str) -> Result<OutType> {
    match v {
        "bf16" => Ok(OutType::Bf16),
        "f32" => Ok(OutType::F32),
        _ => Err(Error::Usage(format!(
            "GEMM spec '{s}': out={v}: out must be one of bf16, f32"
        ))),
    }
}

impl GemmChoice {
    /// Parses an emulation spec (`preset[,axis=value]…`), a GPU-only GEMM (`tc`, `tc-fast-accum`, `cublaslt`
    /// with an optional `,out=bf16|f32`), or `kernel:FILE.cu[:ENTRY][,out=bf16|f32]`.
    pub fn parse(s: &str) -> Result<GemmChoice> {
        let t = s.trim();
        // A trailing `,out=…` is the only axis of a GPU-only GEMM (a kernel path may itself hold commas).
        let last_out = t.rsplit_once(',').and_then(|(h, last)| {
            let v = last
                .trim()
                .strip_prefix("out")?
                .trim_start()
                .strip_prefix('=')?;
            Some((h.trim(), v.trim()))
        });
        let (head, out) = match last_out {
            Some((h, v)) if GpuGemm::parse(h).is_some() => (h, out_value(s, v)?),
            _ => (t, OutType::Bf16),
        };
        if let Some(g) = GpuGemm::parse(head) {
            return Ok(GemmChoice::Gpu { gemm: g, out });
        }
        let name = t.split(',').next().unwrap_or("").trim();
        if let Some(g) = GpuGemm::BUILT_IN.iter().find(|g| **g == name) {
            return Err(Error::Usage(format!(
                "GEMM spec '{s}': {g} runs on the GPU's own arithmetic; its only axis is out=bf16|f32"
            )));
        }
        if Preset::parse(name).is_none() {
            return Err(Error::Usage(format!(
                "GEMM spec '{s}': unknown preset '{name}'; presets are {}; GPU-only: {}, kernel:FILE.cu[:ENTRY]",
                Preset::ALL.map(Preset::name).join(", "),
                GpuGemm::BUILT_IN.join(", ")
            )));
        }
        GemmSpec::parse(t).map(GemmChoice::Emulation)
    }

    /// [`GemmChoice::parse`], with a `kernel:` file checked to exist (the command line's parser).
    pub fn parse_checked(s: &str) -> Result<GemmChoice> {
        let c = GemmChoice::parse(s)?;
        if let Some(GpuGemm::Kernel { path, .. }) = c.gpu() {
            crate::kernel_ref::check_exists(path)?;
        }
        Ok(c)
    }

    /// The GPU-only GEMM, if it is one.
    pub fn gpu(&self) -> Option<&GpuGemm> {
        match self {
            GemmChoice::Gpu { gemm, .. } => Some(gemm),
            GemmChoice::Emulation(_) => None,
        }
    }

    /// The emulation spec, if it is one.
    pub fn spec(&self) -> Option<&GemmSpec> {
        match self {
            GemmChoice::Emulation(s) => Some(s),
            GemmChoice::Gpu { .. } => None,
        }
    }

    /// The output type.
    pub fn out(&self) -> OutType {
        match self {
            GemmChoice::Emulation(s) => s.out,
            GemmChoice::Gpu { out, .. } => *out,
        }
    }

    /// The same GEMM with another output type.
    pub fn with_out(&self, out: OutType) -> GemmChoice {
        match self {
            GemmChoice::Emulation(s) => GemmChoice::Emulation(GemmSpec { out, ..*s }.canonical()),
            GemmChoice::Gpu { gemm, .. } => GemmChoice::Gpu {
                gemm: gemm.clone(),
                out,
            },
        }
    }

    /// Whether it is only an approximate model of a kernel (GPU GEMMs are the kernels themselves).
    pub fn is_approximate(&self) -> bool {
        self.spec().is_some_and(GemmSpec::is_approximate)
    }

    /// One line saying what it reproduces.
    pub fn description(&self) -> String {
        match self {
            GemmChoice::Emulation(s) => s.description(),
            GemmChoice::Gpu { gemm, .. } => gemm.description(),
        }
    }

    /// Every axis as `axis=value` (emulations), or `gpu=NAME,out=…`.
    pub fn axes(&self) -> String {
        match self {
            GemmChoice::Emulation(s) => s.axes(),
            GemmChoice::Gpu { gemm, out } => format!(
                "gpu={gemm},out={}",
                if *out == OutType::Bf16 { "bf16" } else { "f32" }
            ),
        }
    }
}

impl fmt::Display for GemmChoice {
    /// The spec string [`GemmChoice::parse`] reads back (`,out=f32` only when not the default).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GemmChoice::Emulation(s) => s.fmt(f),
            GemmChoice::Gpu { gemm, out } => {
                let text = gemm.to_string();
                f.write_str(&text)?;
                // A kernel path may itself end in `,out=…`; the default is then written out too, or the
                // parser would take that part of the path for the axis (a fuzz finding).
                let path_ends_in_out = text.rsplit_once(',').is_some_and(|(_, last)| {
                    last.trim()
                        .strip_prefix("out")
                        .is_some_and(|r| r.trim_start().starts_with('='))
                });
                match out {
                    OutType::F32 => f.write_str(",out=f32")?,
                    OutType::Bf16 if path_ends_in_out => f.write_str(",out=bf16")?,
                    OutType::Bf16 => {}
                }
                Ok(())
            }
        }
    }
}

impl std::str::FromStr for GemmChoice {
    type Err = String;
    /// [`GemmChoice::parse_checked`], its error as one line.
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        GemmChoice::parse_checked(s).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kernel_path_ending_in_out_round_trips() {
        // Fuzz finding: the path `a:b,out=x` (no source ending, so all of it is the path) printed without
        // its default out, and the printed text then parsed `,out=x` as the axis and failed.
        let s = "kernel:my.Au:kernel:my.Ary,out=bf1u+entry6,out=bf16";
        let c = GemmChoice::parse(s).unwrap();
        assert_eq!(c.to_string(), s);
        assert_eq!(GemmChoice::parse(&c.to_string()).unwrap(), c);
        let f = GemmChoice::parse("kernel:a,out=z,out=f32").unwrap();
        assert_eq!(GemmChoice::parse(&f.to_string()).unwrap(), f);
        assert_eq!(
            GemmChoice::parse("kernel:a.cu").unwrap().to_string(),
            "kernel:a.cu"
        );
    }

    #[test]
    fn gpu_gemms_parse_and_round_trip() {
        for (s, g, out) in [
            ("tc", GpuGemm::Tc, OutType::Bf16),
            ("tc-fast-accum,out=f32", GpuGemm::TcFastAccum, OutType::F32),
            ("cublaslt, out=bf16", GpuGemm::Cublaslt, OutType::Bf16),
            (
                "kernel:examples/gemm_blockwise.cu:gemm_blockwise,out=f32",
                GpuGemm::Kernel {
                    path: "examples/gemm_blockwise.cu".into(),
                    entry: Some("gemm_blockwise".into()),
                },
                OutType::F32,
            ),
            (
                "kernel:dir,with,commas/k.cu",
                GpuGemm::Kernel {
                    path: "dir,with,commas/k.cu".into(),
                    entry: None,
                },
                OutType::Bf16,
            ),
        ] {
            let c = GemmChoice::parse(s).unwrap();
            assert_eq!(c, GemmChoice::Gpu { gemm: g, out }, "{s}");
            assert_eq!(GemmChoice::parse(&c.to_string()).unwrap(), c);
            assert!(!c.is_approximate());
        }
        assert_eq!(
            GemmChoice::parse("cublaslt,out=f32").unwrap().to_string(),
            "cublaslt,out=f32"
        );
        assert_eq!(GemmChoice::parse("tc").unwrap().axes(), "gpu=tc,out=bf16");
        let e = GemmChoice::parse("blockwise-v3,out=f32").unwrap();
        assert_eq!(
            e,
            GemmChoice::Emulation(GemmSpec::parse("blockwise-v3,out=f32").unwrap())
        );
        assert_eq!(e.with_out(OutType::Bf16).to_string(), "blockwise-v3");
        assert!(GemmChoice::parse("blockwise,promote=none,acc=trunc:13")
            .unwrap()
            .is_approximate());
        assert!(!GemmChoice::parse("fast-accum").unwrap().is_approximate());
    }

    #[test]
    fn bad_gpu_specs_say_what_is_valid() {
        let msg = |s: &str| match GemmChoice::parse(s) {
            Err(Error::Usage(m)) => m,
            other => panic!("{s}: expected a usage error, got {other:?}"),
        };
        assert!(msg("tc,promote=64").contains("only axis is out=bf16|f32"));
        assert!(msg("cublaslt,out=f16").contains("bf16, f32"));
        let m = msg("cublas");
        assert!(
            m.contains("blockwise, blockwise-v3")
                && m.contains("GPU-only: tc, tc-fast-accum, cublaslt, kernel:FILE.cu[:ENTRY]"),
            "{m}"
        );
        assert!(msg("blockwise,promote=96").contains("32, 64, 128, none"));
    }
}
