//! User kernels (`kernel:FILE.hip`) on an AMD GPU: compiled at run time by hiprtc (`libhiprtc.so`, loaded like
//! the runtime) for the device's target, with the quant ABI v1 of the CUDA user kernels
//! (`crate::backend::cuda::user`). A compile error is one `Error::Usage` with the first error lines (exit 2).
//! Only the absence of hiprtc is tested here: no AMD machine was reachable.

use std::ffi::{c_char, c_int, c_void, CString};

use crate::backend::hip::backend::HipBackend;
use crate::error::{Error, Result};
use crate::formats::DType;
use crate::kernel_ref::KernelRef;

/// Library names tried in order after `$ISOLATE_HIPRTC_LIB`.
pub const LIBRARIES: [&str; 4] = [
    "libhiprtc.so",
    "libhiprtc.so.7",
    "libhiprtc.so.6",
    "/opt/rocm/lib/libhiprtc.so",
];

type Create = unsafe extern "C" fn(
    *mut *mut c_void,
    *const c_char,
    *const c_char,
    c_int,
    *const *const c_char,
    *const *const c_char,
) -> c_int;
type Compile = unsafe extern "C" fn(*mut c_void, c_int, *const *const c_char) -> c_int;
type Size = unsafe extern "C" fn(*mut c_void, *mut usize) -> c_int;
type Get = unsafe extern "C" fn(*mut c_void, *mut c_char) -> c_int;
type Destroy = unsafe extern "C" fn(*mut *mut c_void) -> c_int;

/// hiprtc, loaded: Err(NoGpu) naming the libraries looked for when there is none.
pub fn load() -> Result<(String, libloading::Library)> {
    let mut names: Vec<String> = std::env::var("ISOLATE_HIPRTC_LIB")
        .ok()
        .into_iter()
        .collect();
    names.extend(LIBRARIES.iter().map(|s| s.to_string()));
    for n in &names {
        // SAFETY: loading hiprtc runs its initialisers, which only register its state.
        if let Ok(l) = unsafe { libloading::Library::new(n) } {
            return Ok((n.clone(), l));
        }
    }
    Err(Error::NoGpu(format!(
        "no hiprtc: none of {} could be loaded (install ROCm, or set ISOLATE_HIPRTC_LIB)",
        names.join(", ")
    )))
}

/// The first lines of a compile log that say `error` (all of it, trimmed, when none does).
pub fn first_errors(log: &str, n: usize) -> String {
    let errs: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("error"))
        .take(n)
        .collect();
    if errs.is_empty() {
        log.trim().lines().take(n).collect::<Vec<_>>().join("\n")
    } else {
        errs.join("\n")
    }
}

/// Compiles `src` (named `what`) for `target` (`gfx942`, `gfx950`) into a code object.
pub fn compile(src: &str, what: &str, target: &str) -> Result<Vec<u8>> {
    let (library, lib) = load()?;
    // SAFETY: hiprtc's C entry points with the signatures of hiprtc.h.
    let sym = |name: &str| -> Result<*const ()> {
        let c = CString::new(name).unwrap();
        unsafe { lib.get::<*const ()>(c.as_bytes_with_nul()) }
            .map(|s| *s)
            .map_err(|e| Error::NoGpu(format!("{library}: no {name}: {e}")))
    };
    // SAFETY: the symbols have the types above (hiprtc.h).
    let (create, comp, log_size, get_log, code_size, get_code, destroy) = unsafe {
        (
            std::mem::transmute::<*const (), Create>(sym("hiprtcCreateProgram")?),
            std::mem::transmute::<*const (), Compile>(sym("hiprtcCompileProgram")?),
            std::mem::transmute::<*const (), Size>(sym("hiprtcGetProgramLogSize")?),
            std::mem::transmute::<*const (), Get>(sym("hiprtcGetProgramLog")?),
            std::mem::transmute::<*const (), Size>(sym("hiprtcGetCodeSize")?),
            std::mem::transmute::<*const (), Get>(sym("hiprtcGetCode")?),
            std::mem::transmute::<*const (), Destroy>(sym("hiprtcDestroyProgram")?),
        )
    };
    let csrc =
        CString::new(src).map_err(|_| Error::Usage(format!("{what}: a NUL byte in the source")))?;
    let cname = CString::new(what.replace('\0', "_")).unwrap_or_default();
    let mut prog = std::ptr::null_mut();
    // SAFETY: valid C strings, no headers passed.
    let rc = unsafe {
        create(
            &mut prog,
            csrc.as_ptr(),
            cname.as_ptr(),
            0,
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    if rc != 0 {
        return Err(Error::Gpu(format!("hiprtcCreateProgram failed ({rc})")));
    }
    // The build flags of the embedded kernels (build.rs): no FMA contraction, no flush-to-zero.
    let opts: Vec<CString> = [
        format!("--offload-arch={target}"),
        "-O3".into(),
        "-std=c++17".into(),
        "-ffp-contract=off".into(),
        "-fno-gpu-flush-denormals-to-zero".into(),
    ]
    .into_iter()
    .map(|o| CString::new(o).unwrap())
    .collect();
    let optp: Vec<*const c_char> = opts.iter().map(|o| o.as_ptr()).collect();
    // SAFETY: prog is live; the options outlive the call.
    let rc = unsafe { comp(prog, optp.len() as c_int, optp.as_ptr()) };
    let result = if rc != 0 {
        let mut n = 0usize;
        // SAFETY: prog is live; the log buffer has the size hiprtc reported.
        let log = unsafe {
            log_size(prog, &mut n);
            let mut buf = vec![0u8; n.max(1)];
            get_log(prog, buf.as_mut_ptr() as *mut c_char);
            String::from_utf8_lossy(&buf[..n.saturating_sub(1)]).into_owned()
        };
        Err(Error::Usage(format!(
            "{what}: hiprtc could not compile it for {target}:\n{}",
            first_errors(&log, 8)
        )))
    } else {
        let mut n = 0usize;
        // SAFETY: prog is live; the buffer has the size hiprtc reported.
        unsafe {
            code_size(prog, &mut n);
            let mut code = vec![0u8; n];
            get_code(prog, code.as_mut_ptr() as *mut c_char);
            Ok(code)
        }
    };
    // SAFETY: prog was created above and is destroyed once.
    unsafe { destroy(&mut prog) };
    result
}

/// Runs user quant kernel `k` (ABI v1) on the HIP device over `x` [rows, cols]: FP8 codes and f32 scales
/// [rows, ceil(cols / group)], outputs poisoned first as on CUDA.
#[allow(clippy::too_many_arguments)]
pub fn run_user_quant(
    be: &HipBackend,
    k: &KernelRef,
    x: &[u8],
    dtype: DType,
    rows: usize,
    cols: usize,
    group: usize,
) -> Result<(Vec<u8>, Vec<f32>)> {
    let src = std::fs::read_to_string(&k.path).map_err(|e| Error::io(&k.path, e))?;
    let entry = k.entry_among(&crate::backend::cuda::user::global_functions(&src))?;
    let code = compile(&src, &k.path.display().to_string(), be.target)?;
    let h = be.hip();
    let m = h.load_bytes(&code, be.target)?;
    let xd = crate::backend::cuda::user::x_dtype_id(dtype)?;
    let ns = rows * cols.div_ceil(group);
    let dx = h.upload(x)?;
    let dq = h.upload(&vec![0xA5u8; rows * cols])?;
    let poison: Vec<u8> = std::iter::repeat_n(0x7FBA_DBADu32.to_ne_bytes(), ns)
        .flatten()
        .collect();
    let ds = h.upload(&poison)?;
    let p = |b: &crate::backend::hip::runtime::DeviceBuffer| (b.ptr as u64).to_ne_bytes().to_vec();
    let i64b = |v: usize| (v as i64).to_ne_bytes().to_vec();
    let blobs = vec![
        p(&dx),
        xd.to_ne_bytes().to_vec(),
        p(&dq),
        p(&ds),
        i64b(rows),
        i64b(cols),
        (group as i32).to_ne_bytes().to_vec(),
        i64b(cols),
        i64b(cols),
        i64b(cols.div_ceil(group)),
    ];
    h.launch_blobs(&m, &entry, [1024, 1, 1], [256, 1, 1], &blobs)?;
    let q = h.download(&dq)?[..rows * cols].to_vec();
    let s = crate::backend::simt::f32s(&h.download(&ds)?[..ns * 4]);
    Ok((q, s))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Without ROCm, hiprtc is reported absent in one line naming the libraries looked for.
    #[test]
    fn absent_hiprtc_is_one_line() {
        if std::env::var_os("ISOLATE_HIPRTC_LIB").is_some() {
            return;
        }
        match compile("extern \"C\" __global__ void k() {}", "k.hip", "gfx942") {
            // hiprtc is installed here and compiled the kernel, or refused it with its own log: nothing to check.
            Ok(_) => {}
            Err(e) => {
                let s = e.to_string();
                if matches!(e, Error::NoGpu(_)) {
                    assert!(s.contains("libhiprtc.so") && !s.contains('\n'), "{s}");
                }
            }
        }
    }

    #[test]
    fn compile_logs_keep_the_error_lines() {
        let log = "k.hip:3:5: warning: unused\nk.hip:4:1: error: expected ';'\nnote: x\nk.hip:9:2: error: undeclared\n";
        assert_eq!(
            first_errors(log, 8),
            "k.hip:4:1: error: expected ';'\nk.hip:9:2: error: undeclared"
        );
        assert_eq!(first_errors("  odd failure\n", 8), "odd failure");
    }
}
