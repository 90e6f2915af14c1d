//! The SIMT CPU executor: CUDA / HIP kernel sources (the built-in `kernels/*.cu` and users' PoC kernels)
//! compiled by the system C++ compiler against the project's header (`simt.hpp`) into a shared object and run
//! on the CPU, one OS thread per block, lanes of a warp (32) or wavefront (64) in lockstep at every shuffle and
//! barrier. It lets a machine without any GPU run the real kernel sources bitwise against their Rust twins.
//!
//! ```ignore
//! let m = simt::builtin("quant", simt::Mode::Hip)?;           // compiled once per source, cached on disk
//! let x = m.upload(bytes, "x")?;                             // a guard-paged, bounds-checked buffer
//! m.launch("quant_blocks", [g, 1, 1], [256, 1, 1], 64, &[Arg::Raw(params_bytes)])?;
//! ```
//! Launches take cuLaunchKernel's argument convention (one blob per parameter, the kernel's C layout) and the
//! same parameter structs as the CUDA launches (`kernels.rs`). A kernel that reads or writes outside its
//! buffers, a shuffle that reads an inactive lane, `__trap()`: an error naming the kernel, block, thread and
//! buffer (exit 2), never a crash.
//!
//! The shared object is loaded with `libloading` (already in the dependency tree through cudarc's dynamic
//! loading): a `dlopen` wrapper with typed symbols and errors instead of hand-written `libc::dlopen` calls.
//! Loaded objects are never unloaded: the executor's fault handler lives in them.

pub mod backend;
pub mod kernels;
pub mod resident;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::ffi::{c_char, c_int, c_uint, c_void, CString};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use crate::error::{Error, Result};

pub use backend::SimtBackend;

/// The executor's header.
pub const SIMT_HPP: &str = include_str!("simt.hpp");

/// Which branch of the project's portability macros the source sees.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    /// As nvcc compiles it (32-bit shuffle masks).
    Cuda,
    /// As the HIP build compiles it (`ISO_SIMT_HIP`: maskless shuffles over the wavefront), for gfx942: its
    /// FP8 MFMA builtins read fnuz codes.
    Hip,
    /// As [`Mode::Hip`], for gfx950 (`ISO_SIMT_GFX950`): the FP8 MFMA builtins read OCP codes.
    HipGfx950,
}

/// One kernel parameter.
#[derive(Clone, Copy, Debug)]
pub enum Arg<'a> {
    /// A buffer's address (a pointer parameter).
    Ptr(&'a Buffer),
    U64(u64),
    I64(i64),
    U32(u32),
    I32(i32),
    F32(f32),
    /// A struct parameter, in the kernel's C layout.
    Raw(&'a [u8]),
}

type LaunchFn = unsafe extern "C" fn(
    *const c_char,
    *const c_uint,
    *const c_uint,
    c_int,
    c_int,
    c_int,
    *mut *mut c_void,
    c_int,
    *mut c_char,
    usize,
) -> c_int;
type AllocFn = unsafe extern "C" fn(usize, *const c_char) -> *mut c_void;
type FreeFn = unsafe extern "C" fn(*mut c_void);

/// A compiled, loaded kernel module.
pub struct Module {
    /// The shared object.
    pub path: PathBuf,
    /// What it was compiled from (a file name or `builtin:NAME`).
    pub what: String,
    /// Its entry points.
    pub entries: Vec<String>,
    launch: LaunchFn,
    alloc: AllocFn,
    free: FreeFn,
}

/// A buffer of a module: `len` bytes, zeroed, ending (rounded up to 16) on an inaccessible page.
pub struct Buffer {
    ptr: *mut u8,
    len: usize,
    free: FreeFn,
}

// SAFETY: the buffer owns its mapping; kernels touch it only during a launch, which borrows it.
unsafe impl Send for Buffer {}
unsafe impl Sync for Buffer {}

impl Buffer {
    /// The address a kernel parameter carries.
    pub fn addr(&self) -> u64 {
        self.ptr as u64
    }
    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: ptr points to len live bytes owned by self.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: as above, uniquely borrowed.
        unsafe { std::slice::from_raw_parts_mut(self.ptr, self.len) }
    }
    pub fn to_vec(&self) -> Vec<u8> {
        self.as_slice().to_vec()
    }
}

impl std::fmt::Debug for Buffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Buffer({:#x}, {} bytes)", self.addr(), self.len)
    }
}

/// Native-endian f32s of `b` (a kernel's output).
pub fn f32s(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4)
        .map(|c| f32::from_ne_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

impl Drop for Buffer {
    fn drop(&mut self) {
        // SAFETY: allocated by this module's simt_alloc, freed once.
        unsafe { (self.free)(self.ptr as *mut c_void) }
    }
}

impl Module {
    /// A zeroed buffer of `len` bytes called `name` in fault messages.
    pub fn alloc(&self, len: usize, name: &str) -> Result<Buffer> {
        let c = CString::new(name).unwrap_or_default();
        // SAFETY: simt_alloc returns a fresh mapping of at least len bytes or null.
        let p = unsafe { (self.alloc)(len, c.as_ptr()) } as *mut u8;
        if p.is_null() {
            return Err(Error::Gpu(format!(
                "simt-cpu: cannot allocate {len} bytes for `{name}`"
            )));
        }
        Ok(Buffer {
            ptr: p,
            len,
            free: self.free,
        })
    }

    /// A buffer holding `bytes`.
    pub fn upload(&self, bytes: &[u8], name: &str) -> Result<Buffer> {
        let mut b = self.alloc(bytes.len(), name)?;
        b.as_mut_slice().copy_from_slice(bytes);
        Ok(b)
    }

    /// Runs kernel `name` on `grid` × `block` with warps of `warp` lanes (32 or 64) to completion.
    pub fn launch(
        &self,
        name: &str,
        grid: [u32; 3],
        block: [u32; 3],
        warp: u32,
        args: &[Arg],
    ) -> Result<()> {
        let mut blobs: Vec<Vec<u8>> = args
            .iter()
            .map(|a| match *a {
                Arg::Ptr(b) => b.addr().to_ne_bytes().to_vec(),
                Arg::U64(v) => v.to_ne_bytes().to_vec(),
                Arg::I64(v) => v.to_ne_bytes().to_vec(),
                Arg::U32(v) => v.to_ne_bytes().to_vec(),
                Arg::I32(v) => v.to_ne_bytes().to_vec(),
                Arg::F32(v) => v.to_ne_bytes().to_vec(),
                // 16-byte aligned copies: the kernel reads its parameters in place.
                Arg::Raw(r) => r.to_vec(),
            })
            .collect();
        let nbytes: usize = blobs.iter().map(|b| b.len()).sum();
        // Copy into u128-aligned storage (a struct parameter may hold 16-byte-aligned members).
        let mut aligned: Vec<Vec<u128>> = blobs
            .iter_mut()
            .map(|b| {
                let mut v = vec![0u128; b.len().div_ceil(16).max(1)];
                // SAFETY: v has at least b.len() bytes.
                unsafe {
                    std::ptr::copy_nonoverlapping(b.as_ptr(), v.as_mut_ptr() as *mut u8, b.len())
                };
                v
            })
            .collect();
        let mut ptrs: Vec<*mut c_void> = aligned
            .iter_mut()
            .map(|v| v.as_mut_ptr() as *mut c_void)
            .collect();
        let cname =
            CString::new(name).map_err(|_| Error::Usage(format!("kernel name {name:?}")))?;
        let mut err = vec![0u8; 2048];
        let workers = std::env::var("ISOLATE_SIMT_THREADS")
            .ok()
            .and_then(|v| v.parse::<i32>().ok())
            .unwrap_or(0);
        // SAFETY: the entry point checks the parameter count and byte total against the kernel's signature;
        // pointer parameters are addresses of live buffers of this module (a kernel reaching outside them is
        // caught by the executor's guard pages and reported).
        let rc = unsafe {
            (self.launch)(
                cname.as_ptr(),
                grid.as_ptr(),
                block.as_ptr(),
                warp as c_int,
                args.len() as c_int,
                nbytes as c_int,
                ptrs.as_mut_ptr(),
                workers,
                err.as_mut_ptr() as *mut c_char,
                err.len(),
            )
        };
        if rc != 0 {
            let end = err.iter().position(|&c| c == 0).unwrap_or(err.len());
            return Err(Error::Usage(format!(
                "simt-cpu ({}): {}",
                self.what,
                String::from_utf8_lossy(&err[..end])
            )));
        }
        Ok(())
    }
}

/// The C++ compilers looked for, in order: `$CXX`, then these names on `PATH`.
pub const COMPILERS: [&str; 3] = ["c++", "g++", "clang++"];

/// The C++ compiler: `$CXX`, else the first of [`COMPILERS`] on `PATH`.
pub fn find_compiler() -> Result<PathBuf> {
    if let Some(cxx) = std::env::var_os("CXX").filter(|v| !v.is_empty()) {
        let p = PathBuf::from(&cxx);
        if p.components().count() > 1 {
            if p.is_file() {
                return Ok(p);
            }
        } else if let Some(p) = on_path(&cxx.to_string_lossy()) {
            return Ok(p);
        }
    }
    for c in COMPILERS {
        if let Some(p) = on_path(c) {
            return Ok(p);
        }
    }
    Err(Error::Usage(format!(
        "simt-cpu needs a C++20 compiler: none found ($CXX, {} on PATH)",
        COMPILERS.join(", ")
    )))
}

fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// Where compiled modules are cached: `$ISOLATE_SIMT_CACHE`, `$XDG_CACHE_HOME/isolate/simt`,
/// `~/.cache/isolate/simt`, else the temporary directory.
pub fn cache_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("ISOLATE_SIMT_CACHE") {
        return d.into();
    }
    if let Some(d) = std::env::var_os("XDG_CACHE_HOME") {
        return Path::new(&d).join("isolate/simt");
    }
    if let Some(h) = std::env::var_os("HOME") {
        return Path::new(&h).join(".cache/isolate/simt");
    }
    std::env::temp_dir().join("isolate-simt")
}

/// `simt_log2f_table.h`: CUDA's measured log2f band (crate::formats::e8m0).
fn log2f_table_header() -> String {
    let t = &crate::formats::e8m0::LOG2F_EXACT_K_MAX_REST;
    let body: Vec<String> = t.iter().map(|v| v.to_string()).collect();
    format!(
        "// Written by src/backend/simt/mod.rs from src/formats/log2f_table.rs.\n#pragma once\n\
         static const unsigned SIMT_LOG2F_EXACT_K_MAX_REST[{}] = {{{}}};\n",
        t.len(),
        body.join(",")
    )
}

/// Vendor header names a kernel may include; each includes the executor's header.
const VENDOR_HEADERS: [&str; 10] = [
    "cuda_runtime.h",
    "cuda_bf16.h",
    "cuda_fp16.h",
    "cuda_fp8.h",
    "cuda.h",
    "hip/hip_runtime.h",
    "hip/hip_bf16.h",
    "hip/hip_fp16.h",
    "hip/hip_fp8.h",
    "device_launch_parameters.h",
];

/// FNV-1a, stable across builds (the cache key).
fn fnv(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for &b in *p {
            h ^= b as u64;
            h = h.wrapping_mul(0x100_0000_01b3);
        }
        h ^= 0xff;
        h = h.wrapping_mul(0x100_0000_01b3);
    }
    h
}

/// Flags every module gets: C++20, optimised, no FMA contraction, IEEE math (the project's nvcc flags).
const CXX_FLAGS: &[&str] = &[
    "-std=c++20",
    "-O2",
    "-fPIC",
    "-shared",
    "-ffp-contract=off",
    "-fno-fast-math",
    "-fno-strict-aliasing",
    "-U_FORTIFY_SOURCE",
    "-Wno-unknown-pragmas",
    "-pthread",
];

static LOADED: Mutex<Option<HashMap<u64, &'static Module>>> = Mutex::new(None);

/// Compiles `source` (its `__global__` functions are the entry points) in `mode` and loads it; `what` names
/// it in errors; `include_dir` is searched for its local includes. Cached on disk by content and in memory.
pub fn compile(
    source: &str,
    what: &str,
    mode: Mode,
    include_dir: Option<&Path>,
) -> Result<&'static Module> {
    let cxx = find_compiler()?;
    let entries = crate::backend::cuda::user::global_functions(source);
    if entries.is_empty() {
        return Err(Error::Usage(format!("{what}: no __global__ function")));
    }
    let table = log2f_table_header();
    let mode_s = format!("{mode:?}");
    let inc_s = include_dir
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let cxx_s = cxx.display().to_string();
    let key = fnv(&[
        SIMT_HPP.as_bytes(),
        table.as_bytes(),
        source.as_bytes(),
        mode_s.as_bytes(),
        inc_s.as_bytes(),
        cxx_s.as_bytes(),
        CXX_FLAGS.join(" ").as_bytes(),
    ]);
    let mut loaded = LOADED.lock().unwrap_or_else(|e| e.into_inner());
    let map = loaded.get_or_insert_with(HashMap::new);
    if let Some(m) = map.get(&key) {
        return Ok(m);
    }
    let dir = cache_dir();
    let inc = dir.join(format!(
        "include-{:016x}",
        fnv(&[SIMT_HPP.as_bytes(), table.as_bytes()])
    ));
    let io = |p: &Path, e| Error::io(p, e);
    if !inc.join("simt.hpp").exists() {
        std::fs::create_dir_all(inc.join("hip")).map_err(|e| io(&inc, e))?;
        std::fs::write(inc.join("simt_log2f_table.h"), &table).map_err(|e| io(&inc, e))?;
        for h in VENDOR_HEADERS {
            std::fs::write(inc.join(h), "#pragma once\n#include \"simt.hpp\"\n")
                .map_err(|e| io(&inc, e))?;
        }
        let tmp = inc.join(format!("simt.hpp.{}", std::process::id()));
        std::fs::write(&tmp, SIMT_HPP).map_err(|e| io(&tmp, e))?;
        std::fs::rename(&tmp, inc.join("simt.hpp")).map_err(|e| io(&inc, e))?;
    }
    let so = dir.join(format!("{key:016x}.so"));
    if !so.exists() {
        let unit = dir.join(format!("{key:016x}.{}.cpp", std::process::id()));
        let mut text = String::from("#include \"simt.hpp\"\n#line 1 \"");
        text.push_str(&what.replace(['"', '\\'], "_"));
        text.push_str("\"\n");
        text.push_str(source);
        text.push_str("\n// Entry points (src/backend/simt/mod.rs).\nextern \"C\" const ::simt::Entry simt_entries[] = {\n");
        for e in &entries {
            text.push_str(&format!("    SIMT_ENTRY({e}),\n"));
        }
        text.push_str("    {nullptr, nullptr, 0, 0, nullptr}};\n");
        std::fs::write(&unit, text).map_err(|e| io(&unit, e))?;
        let tmp_so = dir.join(format!("{key:016x}.{}.so", std::process::id()));
        let mut cmd = Command::new(&cxx);
        cmd.args(CXX_FLAGS).arg("-I").arg(&inc);
        if let Some(d) = include_dir {
            cmd.arg("-I").arg(d);
        }
        if mode != Mode::Cuda {
            cmd.arg("-DISO_SIMT_HIP=1");
        }
        if mode == Mode::HipGfx950 {
            cmd.arg("-DISO_SIMT_GFX950=1");
        }
        cmd.arg("-x").arg("c++").arg(&unit).arg("-o").arg(&tmp_so);
        let out = cmd
            .output()
            .map_err(|e| Error::Usage(format!("simt-cpu: running {}: {e}", cxx.display())))?;
        let _ = std::fs::remove_file(&unit);
        if !out.status.success() {
            let log = String::from_utf8_lossy(&out.stderr);
            let first: Vec<&str> = log
                .lines()
                .filter(|l| l.contains("error"))
                .take(8)
                .collect();
            return Err(Error::Usage(format!(
                "{what}: {} could not compile it for simt-cpu:\n{}",
                cxx.display(),
                if first.is_empty() {
                    log.trim_end().to_string()
                } else {
                    first.join("\n")
                }
            )));
        }
        std::fs::rename(&tmp_so, &so).map_err(|e| io(&so, e))?;
    }
    // SAFETY: a shared object this function just compiled from the executor's header; its initialisers only
    // set up statics.
    let lib = unsafe { libloading::Library::new(&so) }
        .map_err(|e| Error::Usage(format!("simt-cpu: loading {}: {e}", so.display())))?;
    let lib: &'static libloading::Library = Box::leak(Box::new(lib));
    let sym = |n: &[u8]| -> Result<*const ()> {
        // SAFETY: the symbols are the header's extern "C" functions with these signatures.
        unsafe { lib.get::<*const ()>(n) }
            .map(|s| *s)
            .map_err(|e| Error::Usage(format!("simt-cpu: {}: {e}", so.display())))
    };
    // SAFETY: simt_abi_version is `int simt_abi_version()`.
    let ver: unsafe extern "C" fn() -> c_int =
        unsafe { std::mem::transmute(sym(b"simt_abi_version\0")?) };
    if unsafe { ver() } != 1 {
        return Err(Error::Usage(format!(
            "simt-cpu: {} has another ABI",
            so.display()
        )));
    }
    // SAFETY: the signatures of simt.hpp's exported functions.
    let m = Module {
        path: so.clone(),
        what: what.to_string(),
        entries,
        launch: unsafe { std::mem::transmute::<*const (), LaunchFn>(sym(b"simt_launch\0")?) },
        alloc: unsafe { std::mem::transmute::<*const (), AllocFn>(sym(b"simt_alloc\0")?) },
        free: unsafe { std::mem::transmute::<*const (), FreeFn>(sym(b"simt_free\0")?) },
    };
    let m: &'static Module = Box::leak(Box::new(m));
    map.insert(key, m);
    Ok(m)
}

/// Built-in module `name` (kernels/NAME.cu, local includes inlined) compiled for the executor: a portable
/// module of the CUDA registry, or an AMD-only one (`// isolate-hip-only:`) in a HIP mode.
pub fn builtin(name: &str, mode: Mode) -> Result<&'static Module> {
    let src = match crate::backend::cuda::registry::module_source(name) {
        Some(m) => m.source,
        None => crate::backend::hip::registry::hip_only_source(name)
            .filter(|_| mode != Mode::Cuda)
            .ok_or_else(|| Error::Usage(format!("no kernel module {name} in this build")))?,
    };
    compile(src, &format!("kernels/{name}.cu"), mode, None)
}

/// A user kernel file (`.cu` in CUDA mode, `.hip` in HIP mode), its folder on the include path.
pub fn user_file(path: &Path) -> Result<&'static Module> {
    let src = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let mode = if path.extension().is_some_and(|e| e == "hip") {
        Mode::Hip
    } else {
        Mode::Cuda
    };
    compile(&src, &path.display().to_string(), mode, path.parent())
}
