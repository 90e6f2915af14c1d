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

/// Every kernel the Rust side launches from each portable module (the CUDA launches' names).
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
];
