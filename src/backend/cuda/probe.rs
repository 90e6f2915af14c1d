//! Probes for the CUDA libraries. cudarc with dynamic loading **panics** when libcuda, libnvrtc or
//! libcublasLt is missing (toolchain.md), so every GPU path asks here first and gets an error instead.

use crate::error::{Error, Result};

/// libcuda (the driver) can be loaded.
pub fn driver() -> Result<()> {
    // SAFETY: only tries to dlopen the library names cudarc would use.
    if unsafe { cudarc::driver::sys::is_culib_present() } {
        Ok(())
    } else {
        Err(Error::NoGpu(
            "the CUDA driver library libcuda.so was not found".into(),
        ))
    }
}

/// libnvrtc (run-time compilation) can be loaded.
pub fn nvrtc() -> Result<()> {
    // SAFETY: as above.
    if unsafe { cudarc::nvrtc::sys::is_culib_present() } {
        Ok(())
    } else {
        Err(Error::NoGpu(
            "libnvrtc.so (CUDA run-time compiler) was not found; put the CUDA toolkit's lib64 on LD_LIBRARY_PATH"
                .into(),
        ))
    }
}

/// libcublasLt can be loaded.
pub fn cublaslt() -> Result<()> {
    // SAFETY: as above.
    if unsafe { cudarc::cublaslt::sys::is_culib_present() } {
        Ok(())
    } else {
        Err(Error::NoGpu(
            "libcublasLt.so was not found; put the CUDA toolkit's lib64 on LD_LIBRARY_PATH".into(),
        ))
    }
}

/// Runs `f`, turning a panic inside cudarc (a missing symbol, say) into `Error::NoGpu` without printing the
/// panic message.
pub fn guarded<T>(what: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    std::panic::set_hook(hook);
    match r {
        Ok(r) => r,
        Err(p) => {
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            Err(Error::NoGpu(format!("{what} failed: {msg}")))
        }
    }
}
