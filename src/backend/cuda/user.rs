//! User kernels: `kernel:FILE.cu[:ENTRY]`, compiled with NVRTC for this GPU and launched with a small fixed
//! ABI, so that a proof-of-concept kernel can be checked byte for byte against a reference preset and timed
//! beside the built-in one.
//!
//! ## Quant ABI (v1)
//! ```c
//! extern "C" __global__ void ENTRY(
//!     const void* x, int x_dtype,          // [M, K] input; x_dtype 0 = f32, 1 = bf16, 2 = f16
//!     unsigned char* q,                    // [M, K] FP8 codes out
//!     float* s,                            // [M, ceil(K / group)] f32 dequant scales out (x ≈ q · s)
//!     long long M, long long K, int group, // 1×group groups along K
//!     long long ldx, long long ldq, long long lds); // row strides in elements
//! ```
//! Launched with 256 threads per block and 8 blocks per SM: write grid-stride loops. The file is compiled
//! with NVRTC (`-fmad=false`, IEEE division, no FTZ, `--gpu-architecture=sm_XY` of the card) with the CUDA
//! headers (`$CUDA_HOME/include` or `/usr/local/cuda/include`) and the file's own folder on the include path.

use std::path::PathBuf;

use cudarc::driver::{
    CudaFunction, CudaSlice, DevicePtr, DevicePtrMut, LaunchConfig, PushKernelArg,
};
use cudarc::nvrtc::{compile_ptx_with_opts, CompileError};

use crate::backend::cuda::registry::nvrtc_options;
use crate::backend::cuda::{gpu_err, probe, CudaBackend};
use crate::error::{Error, Result};
use crate::formats::DType;
use crate::kernel_ref::KernelRef;

/// `src` without its `//` and `/* */` comments (string literals are not special-cased: kernels rarely hold
/// comment markers in strings).
fn strip_comments(src: &str) -> String {
    let mut out = String::with_capacity(src.len());
    let mut rest = src;
    loop {
        let (line, block) = (rest.find("//"), rest.find("/*"));
        match (line, block) {
            (Some(l), b) if b.is_none_or(|b| l < b) => {
                out.push_str(&rest[..l]);
                rest = rest[l..].find('\n').map_or("", |e| &rest[l + e..]);
            }
            (_, Some(b)) => {
                out.push_str(&rest[..b]);
                out.push(' ');
                rest = rest[b + 2..]
                    .find("*/")
                    .map_or("", |e| &rest[b + 2 + e + 2..]);
            }
            _ => {
                out.push_str(rest);
                return out;
            }
        }
    }
}

/// The lines of `src` that survive its own `#ifdef NAME` / `#ifndef NAME` / `#if [!]defined(NAME)` / `#else` /
/// `#endif` conditionals, given the names it `#define`s (and `#undef`s) above them. Any other `#if` expression is
/// taken as true. Enough to list the entry points of a source that compiles some of them conditionally (the
/// bench-only quantizer variants); not a C preprocessor.
fn active_lines(src: &str) -> String {
    let mut defined: Vec<String> = Vec::new();
    // One entry per open conditional: (this branch is active, an earlier branch was taken).
    let mut stack: Vec<(bool, bool)> = Vec::new();
    let mut out = String::with_capacity(src.len());
    let name = |rest: &str| {
        rest.trim()
            .trim_start_matches('(')
            .split(|c: char| !(c.is_alphanumeric() || c == '_'))
            .next()
            .unwrap_or("")
            .to_string()
    };
    for line in src.lines() {
        let t = line.trim_start();
        let live = stack.iter().all(|&(on, _)| on);
        let directive = t.strip_prefix('#').map(str::trim_start);
        let cond = |d: &str, defined: &[String]| -> Option<bool> {
            if let Some(r) = d.strip_prefix("ifdef") {
                return Some(defined.contains(&name(r)));
            }
            if let Some(r) = d.strip_prefix("ifndef") {
                return Some(!defined.contains(&name(r)));
            }
            let r = d.strip_prefix("if")?.trim_start();
            if let Some(r) = r.strip_prefix("!defined") {
                return Some(!defined.contains(&name(r)));
            }
            if let Some(r) = r.strip_prefix("defined") {
                return Some(defined.contains(&name(r)));
            }
            Some(true)
        };
        match directive {
            Some(d) if d.starts_with("if") => {
                let c = cond(d, &defined).unwrap_or(true);
                stack.push((c, c));
            }
            Some(d) if d.starts_with("else") || d.starts_with("elif") => {
                if let Some(top) = stack.last_mut() {
                    top.0 = !top.1;
                    top.1 = true;
                }
            }
            Some(d) if d.starts_with("endif") => {
                stack.pop();
            }
            Some(d) if live && d.starts_with("define") => defined.push(name(&d["define".len()..])),
            Some(d) if live && d.starts_with("undef") => {
                let n = name(&d["undef".len()..]);
                defined.retain(|x| *x != n);
            }
            _ if live => {
                out.push_str(line);
                out.push('\n');
            }
            _ => {}
        }
    }
    out
}

/// Attributes that may stand between `__global__` and the kernel's name, with a parenthesized argument.
const ATTRIBUTES: [&str; 4] = [
    "__launch_bounds__",
    "__attribute__",
    "__cluster_dims__",
    "__maxnreg__",
];

/// The `__global__` functions of a source, by name (comments ignored; `__launch_bounds__(…)` and similar
/// attributes skipped).
pub fn global_functions(src: &str) -> Vec<String> {
    let src = active_lines(&strip_comments(src));
    let mut out = Vec::new();
    let mut rest = src.as_str();
    while let Some(i) = rest.find("__global__") {
        rest = &rest[i + "__global__".len()..];
        loop {
            let Some(paren) = rest.find('(') else {
                return out;
            };
            let name = rest[..paren]
                .split(|c: char| !(c.is_alphanumeric() || c == '_'))
                .rfind(|t| !t.is_empty())
                .unwrap_or("");
            if ATTRIBUTES.contains(&name) {
                // Skip to the attribute's matching ')'.
                let mut depth = 0usize;
                let mut end = rest.len();
                for (j, ch) in rest[paren..].char_indices() {
                    match ch {
                        '(' => depth += 1,
                        ')' => {
                            depth -= 1;
                            if depth == 0 {
                                end = paren + j + 1;
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                rest = &rest[end..];
                continue;
            }
            if !name.is_empty() && !out.iter().any(|n| n == name) {
                out.push(name.to_string());
            }
            rest = &rest[paren..];
            break;
        }
    }
    out
}

/// A compiled user kernel.
pub struct UserKernel {
    pub path: PathBuf,
    pub entry: String,
    pub func: CudaFunction,
}

fn cuda_include() -> Option<PathBuf> {
    let home = std::env::var_os("CUDA_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| "/usr/local/cuda".into());
    let inc = home.join("include");
    inc.is_dir().then_some(inc)
}

/// Reads and compiles `k` for this GPU. Errors name the file: missing file, no/ambiguous entry point, NVRTC
/// log (all exit 2).
pub fn load(be: &CudaBackend, k: &KernelRef) -> Result<UserKernel> {
    let src = std::fs::read_to_string(&k.path).map_err(|e| Error::io(&k.path, e))?;
    let fns = global_functions(&src);
    let entry = k.entry_among(&fns)?;
    probe::nvrtc()?;
    let mut opts = nvrtc_options(be.modules.arch(false), &k.path.display().to_string());
    if let Some(inc) = cuda_include() {
        opts.include_paths.push(inc.display().to_string());
    }
    if let Some(dir) = k.path.parent().filter(|d| !d.as_os_str().is_empty()) {
        opts.include_paths.push(dir.display().to_string());
    }
    if src.contains('\0') {
        return Err(Error::Usage(format!(
            "{}: the source contains a NUL byte",
            k.path.display()
        )));
    }
    let ptx = compile_ptx_with_opts(&src, opts).map_err(|e| match e {
        CompileError::CompileError { log, .. } => Error::Usage(format!(
            "{}: NVRTC could not compile it:\n{}",
            k.path.display(),
            log.to_string_lossy().trim_end()
        )),
        e => Error::Gpu(format!("{}: NVRTC: {e:?}", k.path.display())),
    })?;
    let m = be
        .ctx
        .load_module(ptx)
        .map_err(|e| gpu_err(format!("loading {}", k.path.display()), e))?;
    let func = m.load_function(&entry).map_err(|e| {
        Error::Usage(format!(
            "{}: '{entry}' is not an extern \"C\" kernel in the compiled module ({e:?}); declare it extern \"C\"",
            k.path.display()
        ))
    })?;
    Ok(UserKernel {
        path: k.path.clone(),
        entry,
        func,
    })
}

/// Input dtype id of the quant ABI.
pub fn x_dtype_id(d: DType) -> Result<i32> {
    match d {
        DType::F32 => Ok(0),
        DType::BF16 => Ok(1),
        DType::F16 => Ok(2),
        d => Err(Error::BadTensor(format!(
            "{d}: a user quant kernel takes bf16, f16 or f32 input"
        ))),
    }
}

/// Launches a user quant kernel (ABI v1) on device buffers, asynchronously.
#[allow(clippy::too_many_arguments)]
pub fn launch_quant(
    be: &CudaBackend,
    k: &UserKernel,
    x: &CudaSlice<u8>,
    dtype: DType,
    q: &mut CudaSlice<u8>,
    s: &mut CudaSlice<f32>,
    m: usize,
    kk: usize,
    group: usize,
) -> Result<()> {
    let st = &be.stream;
    let xd = x_dtype_id(dtype)?;
    let (xp, qp, sp) = (
        x.device_ptr(st).0,
        q.device_ptr_mut(st).0,
        s.device_ptr_mut(st).0,
    );
    let (mm, kl, g) = (m as i64, kk as i64, group as i32);
    let (ldx, ldq, lds) = (kk as i64, kk as i64, kk.div_ceil(group) as i64);
    let cfg = LaunchConfig {
        grid_dim: (be.info.sms * 8, 1, 1),
        block_dim: (256, 1, 1),
        shared_mem_bytes: 0,
    };
    let mut l = st.launch_builder(&k.func);
    l.arg(&xp)
        .arg(&xd)
        .arg(&qp)
        .arg(&sp)
        .arg(&mm)
        .arg(&kl)
        .arg(&g)
        .arg(&ldx)
        .arg(&ldq)
        .arg(&lds);
    // SAFETY: ABI v1 — the kernel reads M·K inputs and writes M·K codes and M·ceil(K/group) scales, the sizes
    // of these buffers.
    unsafe { l.launch(cfg) }
        .map_err(|e| gpu_err(format!("{}::{}", k.path.display(), k.entry), e))?;
    Ok(())
}

/// Runs a user quant kernel host to host: codes [M, K] and f32 scales [M, ceil(K/group)].
pub fn run_quant(
    be: &CudaBackend,
    k: &UserKernel,
    x: &[u8],
    dtype: DType,
    m: usize,
    kk: usize,
    group: usize,
) -> Result<(Vec<u8>, Vec<f32>)> {
    let st = &be.stream;
    let dx = st.clone_htod(x).map_err(|e| gpu_err("copy to GPU", e))?;
    // Poisoned outputs: every element must be written.
    let mut q = st
        .clone_htod(&vec![0xA5u8; (m * kk).max(1)])
        .map_err(|e| gpu_err("copy to GPU", e))?;
    let ns = m * kk.div_ceil(group);
    let mut s = st
        .clone_htod(&vec![f32::from_bits(0x7FBA_DBAD); ns.max(1)])
        .map_err(|e| gpu_err("copy to GPU", e))?;
    launch_quant(be, k, &dx, dtype, &mut q, &mut s, m, kk, group)?;
    let q = st
        .clone_dtoh(&q)
        .map_err(|e| gpu_err(format!("{}", k.path.display()), e))?;
    let s = st
        .clone_dtoh(&s)
        .map_err(|e| gpu_err(format!("{}", k.path.display()), e))?;
    Ok((q[..m * kk].to_vec(), s[..ns].to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn global_functions_skip_attributes_and_comments() {
        let src = r#"
// extern "C" __global__ void ENTRY(const void* x);   (a comment naming the ABI)
/* __global__ void in_block_comment(int) */
extern "C" __global__ void __launch_bounds__(256, 2) gemm_blockwise(const unsigned char* a) {}
extern "C" __global__ void
    __attribute__((noinline)) second(int n) {}
extern "C" __global__ void plain(int n) {}
__device__ float helper(float x) { return x; }
extern "C" __global__ void plain(int n2);
"#;
        assert_eq!(global_functions(src), ["gemm_blockwise", "second", "plain"]);
        assert_eq!(
            global_functions(include_str!("../../../examples/gemm_blockwise.cu")),
            ["gemm_blockwise"]
        );
        assert_eq!(
            global_functions(include_str!("../../../examples/quant_ue8m0.cu")),
            ["quant_ue8m0"]
        );
        assert!(global_functions("__global__ void f").is_empty());
        let cond = "#define V\n#ifndef V\n__global__ void prod(int);\n#else\n__global__ void bench(int);\n#endif\n\
                    #ifdef NOPE\n__global__ void off(int);\n#endif\n__global__ void always(int);";
        assert_eq!(global_functions(cond), ["bench", "always"]);
        assert_eq!(
            global_functions(include_str!("../../../kernels/quant.cu")),
            [
                "quant_blocks",
                "quant_act_w64_1",
                "quant_act_w64_2",
                "quant_act_w64_4",
                "quant_act_w64_8"
            ]
        );
    }
}
