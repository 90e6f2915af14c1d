//! `isolate kernels`: what this binary carries — every kernel module as nvcc's sm_90 SASS and PTX, as AMD code
//! objects for gfx942 / gfx950, and as source (for NVRTC at run time and the simt-cpu executor) — with its size
//! and how it was built, or why it was not; and which C++ compiler simt-cpu would use here.

use crate::backend::cuda::registry::{self as cuda_registry, MODULES};
use crate::backend::hip::elf;
use crate::backend::hip::registry::{self as hip_registry, CODE_OBJECTS, NOT_BUILT};
use crate::backend::simt;

/// One thing the binary carries (or would, had its compiler been there).
#[derive(Clone, Debug, PartialEq)]
pub struct Artifact {
    /// The kernel file stem (`codecs`, `quant`, …).
    pub module: String,
    /// `sm_90`, `sm_90a`, `compute_90`, `gfx942`, `gfx950`, or `source`.
    pub target: String,
    /// `cubin`, `PTX`, `code object`, `CUDA C++`.
    pub kind: String,
    /// Embedded bytes (0 when not built).
    pub bytes: usize,
    /// Whether it is embedded.
    pub built: bool,
    /// The compiler that made it, or `not built: why`; for a code object also what its ELF header says.
    pub how: String,
}

/// What `isolate kernels` found.
pub struct KernelsReport {
    pub artifacts: Vec<Artifact>,
    /// The nvcc the CUDA modules were built with (or why none).
    pub nvcc: String,
    /// The clang the AMD code objects were built with (or why none).
    pub hip_compiler: String,
    /// The C++ compiler `--backend simt-cpu` would use on this machine, or why there is none.
    pub simt_compiler: std::result::Result<String, String>,
}

/// What the ELF header of an embedded code object says (machine, arch, kernel count), in words.
fn code_object_check(bytes: &[u8], target: &str) -> String {
    match elf::parse(bytes) {
        Some(i) if i.machine == elf::EM_AMDGPU && elf::mach(target) == Some(i.mach) => {
            format!("ELF AMDGPU {target}, {} symbols", i.symbols.len())
        }
        Some(i) => format!(
            "ELF machine {} mach {:#x}: NOT an AMDGPU {target} object",
            i.machine, i.mach
        ),
        None => "not an ELF file".into(),
    }
}

/// The AMD code objects of `module`, embedded or not (with why).
fn amd_artifacts(module: &str, hip: &str, artifacts: &mut Vec<Artifact>) {
    for co in CODE_OBJECTS.iter().filter(|c| c.module == module) {
        artifacts.push(Artifact {
            module: module.to_string(),
            target: co.target.to_string(),
            kind: "code object".into(),
            bytes: co.bytes.len(),
            built: true,
            how: format!("{hip}; {}", code_object_check(co.bytes, co.target)),
        });
    }
    for (_, t, why) in NOT_BUILT.iter().filter(|n| n.0 == module) {
        artifacts.push(Artifact {
            module: module.to_string(),
            target: t.to_string(),
            kind: "code object".into(),
            bytes: 0,
            built: false,
            how: format!("not built: {why}"),
        });
    }
}

/// Lists the embedded kernels.
pub fn run() -> KernelsReport {
    let nvcc = cuda_registry::BUILT_WITH.to_string();
    let hip = hip_registry::BUILT_WITH.to_string();
    let mut artifacts = Vec::new();
    for m in MODULES {
        let a = |target: &str, kind: &str, bytes: Option<usize>, why: &str| Artifact {
            module: m.name.to_string(),
            target: target.to_string(),
            kind: kind.to_string(),
            bytes: bytes.unwrap_or(0),
            built: bytes.is_some(),
            how: match bytes {
                Some(_) => nvcc.clone(),
                None => format!("not built: {why}"),
            },
        };
        let sm = if m.sm90a { "sm_90a" } else { "sm_90" };
        let no_nvcc = "no nvcc at build time (scripts/install-nvcc.sh); NVRTC compiles the source at run time";
        artifacts.push(a(
            sm,
            "cubin",
            m.cubin.map(<[u8]>::len),
            if m.ptx.is_some() {
                "no ptxas beside nvcc at build time"
            } else {
                no_nvcc
            },
        ));
        artifacts.push(a(
            if m.sm90a { "compute_90a" } else { "compute_90" },
            "PTX",
            m.ptx.map(str::len),
            no_nvcc,
        ));
        amd_artifacts(m.name, &hip, &mut artifacts);
        // The portable modules (those that ask for AMD targets) are the ones simt-cpu runs.
        let portable = CODE_OBJECTS.iter().any(|c| c.module == m.name)
            || NOT_BUILT.iter().any(|n| n.0 == m.name);
        artifacts.push(Artifact {
            module: m.name.to_string(),
            target: "source".into(),
            kind: "CUDA C++".into(),
            bytes: m.source.len(),
            built: true,
            how: format!(
                "embedded: NVRTC compiles it at run time when no PTX loads{}",
                if portable {
                    "; simt-cpu compiles it with the C++ compiler"
                } else {
                    ""
                }
            ),
        });
    }
    // The AMD-only modules (`// isolate-hip-only:`): code objects and the source simt-cpu compiles.
    for (name, src) in hip_registry::HIP_ONLY_SOURCES {
        amd_artifacts(name, &hip, &mut artifacts);
        artifacts.push(Artifact {
            module: name.to_string(),
            target: "source".into(),
            kind: "HIP C++".into(),
            bytes: src.len(),
            built: true,
            how: "embedded: AMD only (no CUDA build); simt-cpu compiles it with the C++ compiler"
                .into(),
        });
    }
    KernelsReport {
        artifacts,
        nvcc,
        hip_compiler: hip,
        simt_compiler: simt::find_compiler()
            .map(|p| p.display().to_string())
            .map_err(|e| e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every module has its source; every portable module asks for gfx942 and gfx950, embedded or not.
    #[test]
    fn lists_every_module_and_both_amd_targets() {
        let r = run();
        for m in MODULES {
            assert!(r
                .artifacts
                .iter()
                .any(|a| a.module == m.name && a.target == "source" && a.bytes > 0));
        }
        for module in ["codecs", "quant", "gemm_blockwise", "gemm_mfma"] {
            for t in ["gfx942", "gfx950"] {
                let a = r
                    .artifacts
                    .iter()
                    .find(|a| a.module == module && a.target == t)
                    .unwrap_or_else(|| panic!("{module} {t} not listed"));
                assert_eq!(a.built, a.bytes > 0);
                if a.built {
                    assert!(a.how.contains(&format!("ELF AMDGPU {t}")), "{}", a.how);
                } else {
                    assert!(a.how.starts_with("not built: "), "{}", a.how);
                }
            }
        }
        assert!(!r
            .artifacts
            .iter()
            .any(|a| a.module == "quant_variants" && a.target.starts_with("gfx")));
        // The AMD-only MFMA GEMM has no CUDA build, and its source is listed for simt-cpu.
        assert!(!r.artifacts.iter().any(|a| a.module == "gemm_mfma"
            && (a.target.starts_with("sm_") || a.target.starts_with("compute_"))));
        assert!(r
            .artifacts
            .iter()
            .any(|a| a.module == "gemm_mfma" && a.target == "source" && a.kind == "HIP C++"));
    }
}
