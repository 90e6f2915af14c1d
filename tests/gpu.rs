//! GPU tests: every kernel against its CPU twin. Without a usable GPU each test prints why and passes (skips);
//! with `ISOLATE_REQUIRE_GPU=1` a missing GPU fails them instead.
//!
//! No `mod common`: these tests run `isolate` in this process, not the binary, and scripts/stage-gpu.sh
//! carries this test binary to a GPU machine without cargo, where it runs from the repository root.

#[path = "gpu/fingerprint.rs"]
mod fingerprint;
#[path = "gpu/gemm.rs"]
mod gemm;
#[path = "gpu/kernels.rs"]
mod kernels;
#[path = "gpu/support.rs"]
mod support;
#[path = "gpu/user_kernels.rs"]
mod user_kernels;
