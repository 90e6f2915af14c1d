//! AMD (HIP) side: the code objects build.rs compiles for gfx942 / gfx950 (`registry`, checked by `elf`), a
//! HIP runtime loaded at run time (`runtime`), the `Backend` on it (`backend`, `--backend hip`) and hiprtc for
//! user kernels (`rtc`), so that one binary runs everywhere: without ROCm, HIP is reported absent. **Nothing
//! here has run on AMD hardware yet.**
//!
//! Why not the `hip-sys` / `hip-runtime-sys` crates: they link `amdhip64` at build time and their build scripts
//! fail without ROCm. `rocmrc` loads dynamically too, but the handful of entry points the kernels need (init,
//! device count, memory, module load, launch) are a few dozen lines over `libloading`, which is already in the
//! tree, and every error stays ours (`hipErrorNoDevice` → a one-line NoGpu error).

pub mod backend;
pub mod elf;
pub mod registry;
pub mod rtc;
pub mod runtime;

pub use backend::HipBackend;
