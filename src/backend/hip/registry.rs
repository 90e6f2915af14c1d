//! The AMD code objects build.rs embedded (`$OUT_DIR/hip_kernels.rs`): one ELF per kernel module and target
//! (gfx942 = MI300, gfx950 = MI350), compiled from the same kernels/*.cu sources as the CUDA modules. None of
//! them has run on AMD hardware yet.

/// One module compiled for one AMD target.
#[derive(Debug)]
pub struct CodeObject {
    /// The kernel file stem (`codecs`, `quant`).
    pub module: &'static str,
    /// `gfx942` or `gfx950`.
    pub target: &'static str,
    /// The ELF code object (v5), as clang wrote it.
    pub bytes: &'static [u8],
}

include!(concat!(env!("OUT_DIR"), "/hip_kernels.rs"));

/// The code object of `module` for `target` (a device's `gcnArchName` up to its first `:`).
pub fn code_object(module: &str, target: &str) -> Option<&'static CodeObject> {
    let t = target.split(':').next().unwrap_or(target);
    CODE_OBJECTS
        .iter()
        .find(|c| c.module == module && c.target == t)
}

/// The source of AMD-only module `name` (`// isolate-hip-only:`, local includes inlined): what the CPU executor
/// compiles.
pub fn hip_only_source(name: &str) -> Option<&'static str> {
    HIP_ONLY_SOURCES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, s)| *s)
}

/// The embedded target a device runs, from its `gcnArchName` (`gfx942:sramecc+:xnack-`): the name before the
/// first `:` when a code object is built for it (gfx942 = MI300, gfx950 = MI350), else None. gfx940 and gfx941
/// (early MI300 steppings) have their own ISA in the ELF header and are not built.
pub fn target_for_arch(gcn_arch_name: &str) -> Option<&'static str> {
    let base = gcn_arch_name.split(':').next().unwrap_or("").trim();
    ["gfx942", "gfx950"].into_iter().find(|t| *t == base)
}

/// The FP8 formats the MFMA instructions of `target` read: (fp8, bf8). gfx942 reads fnuz codes (its bf8 is
/// e5m2fnuz, which `isolate` has no format for: None); gfx950 reads OCP e4m3fn / e5m2 (docs/numerics.md §8.7).
pub fn mfma_formats(
    target: &str,
) -> Option<(crate::formats::Fp8Format, Option<crate::formats::Fp8Format>)> {
    use crate::formats::Fp8Format;
    match target {
        "gfx942" => Some((Fp8Format::E4m3fnuz, None)),
        "gfx950" => Some((Fp8Format::E4m3fn, Some(Fp8Format::E5m2))),
        _ => None,
    }
}

/// Every kernel the Rust side launches from each module (the CUDA launches' names).
pub const LAUNCHED: &[(&str, &[&str])] = &[
    (
        "codecs",
        &[
            "e8m0_encode",
            "e8m0_decode",
            "fp8_encode",
            "fp8_decode",
            "e8m0_encode_sweep",
            "fp8_encode_sweep",
        ],
    ),
    // The production entries only: the bench-only variants live in quant_variants.cu, which has no AMD build.
    ("quant", &crate::backend::cuda::quant::PRODUCTION),
    (
        "gemm_blockwise",
        &["gemm_blockwise", "gemm_blockwise_split"],
    ),
    ("gemm_mfma", &["gemm_mfma"]),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::Fp8Format;

    #[test]
    fn arch_names_pick_the_code_object_target() {
        assert_eq!(target_for_arch("gfx942:sramecc+:xnack-"), Some("gfx942"));
        assert_eq!(target_for_arch("gfx942"), Some("gfx942"));
        assert_eq!(target_for_arch("gfx950:sramecc+:xnack-"), Some("gfx950"));
        for other in [
            "gfx940:sramecc+:xnack-",
            "gfx941",
            "gfx90a:sramecc+:xnack-",
            "gfx1100",
            "",
            "gfx9420",
        ] {
            assert_eq!(target_for_arch(other), None, "{other}");
        }
        assert_eq!(mfma_formats("gfx942"), Some((Fp8Format::E4m3fnuz, None)));
        assert_eq!(
            mfma_formats("gfx950"),
            Some((Fp8Format::E4m3fn, Some(Fp8Format::E5m2)))
        );
        assert!(hip_only_source("gemm_mfma").is_some_and(|s| s.contains("__builtin_amdgcn_mfma")));
        assert!(hip_only_source("quant").is_none());
        // Every embedded code object is for a target the arch mapping can pick.
        for c in CODE_OBJECTS {
            assert_eq!(target_for_arch(c.target), Some(c.target));
            assert!(code_object(c.module, &format!("{}:sramecc+:xnack-", c.target)).is_some());
        }
    }
}
