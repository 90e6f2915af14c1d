//! Compiles every `kernels/*.cu` to PTX with nvcc when one is found (and that PTX to sm_90 SASS with the ptxas
//! beside it), and writes one registry of modules, `$OUT_DIR/kernels.rs` (included by
//! `src/backend/cuda/registry.rs`).
//!
//! nvcc is looked for in `$NVCC`, `$CUDA_HOME/bin/nvcc`, `PATH`, the pinned pip install under `.cache/cuda`
//! (`scripts/install-nvcc.sh`), then `/usr/local/cuda/bin/nvcc`. An nvcc newer than CUDA 13.0 is refused
//! (driver 580 rejects its PTX). Without nvcc every module carries only its source and the binary compiles it with NVRTC at run time.
//! Each module always carries its source too (with local `#include "x.cuh"` inlined), so that a device the PTX
//! does not load on can still compile it with NVRTC.
//!
//! A kernel's first lines may say `// isolate-arch: sm_90a` (wgmma, setmaxnreg): it is then compiled with
//! `-gencode=arch=compute_90a,code=sm_90a` instead of `-arch=sm_90`.
//!
//! `ISOLATE_REQUIRE_NVCC=1` (set by `.ci/run`) turns "no usable nvcc" into a build error. A kernel that nvcc
//! (or ptxas, when it sits next to nvcc) rejects is always a build error.
//!
//! A kernel whose first lines say `// isolate-hip-only: gfx942 gfx950` is AMD-only (MFMA builtins): nvcc never
//! sees it and it is not in the CUDA registry; its source (includes inlined) goes into `HIP_ONLY_SOURCES` of
//! `$OUT_DIR/hip_kernels.rs` for the CPU executor, and its code objects are built like any `isolate-hip` kernel.
//!
//! HIP: a kernel whose first lines say `// isolate-hip: gfx942 gfx950` is also compiled for those AMD targets
//! (clang `-x hip --offload-arch=… -nogpuinc -nogpulib -mcode-object-version=5` against the project's own
//! `kernels/hip_runtime.cuh`) and its code objects go into `$OUT_DIR/hip_kernels.rs` (included by
//! `src/backend/hip/registry.rs`). The compiler is `$ISOLATE_HIP_CLANG` (a clang, or a zig to run as
//! `zig clang`), else the pinned zig of `scripts/install-hip-compiler.sh` under `.cache/hip`. Without one,
//! build.rs warns and embeds none; `ISOLATE_REQUIRE_HIP=1` makes that, or a kernel clang rejects, a build error
//! (without it a rejected kernel is a warning and is left out). `ISOLATE_NO_HIP=1` skips HIP.

use std::env;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// nvcc flags every kernel gets: no FMA contraction (the CPU twins round every add and multiply; kernels
/// write `fmaf` where a source fuses), IEEE division and square root, no flush-to-zero.
const NVCC_FLAGS: &[&str] = &[
    "--ptx",
    "-fmad=false",
    "-prec-div=true",
    "-prec-sqrt=true",
    "-ftz=false",
    "-std=c++17",
    "-O3",
    "-lineinfo",
];

fn main() {
    let root = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let out = PathBuf::from(env::var("OUT_DIR").unwrap());
    let kdir = root.join("kernels");
    println!("cargo:rerun-if-changed=kernels");
    for v in [
        "NVCC",
        "CUDA_HOME",
        "PATH",
        "ISOLATE_REQUIRE_NVCC",
        "ISOLATE_NO_NVCC",
    ] {
        println!("cargo:rerun-if-env-changed={v}");
    }
    let require = env::var("ISOLATE_REQUIRE_NVCC").is_ok_and(|v| v == "1");
    let nvcc = if env::var("ISOLATE_NO_NVCC").is_ok_and(|v| v == "1") {
        None
    } else {
        find_nvcc(&root)
    };
    if nvcc.is_none() && require {
        panic!(
            "ISOLATE_REQUIRE_NVCC=1 but no nvcc ≤ 13.0 was found (NVCC, CUDA_HOME, PATH, .cache/cuda, /usr/local/cuda): \
             run scripts/install-nvcc.sh"
        );
    }

    let mut files: Vec<PathBuf> = fs::read_dir(&kdir)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.retain(|p| p.extension().is_some_and(|e| e == "cu"));
    files.sort();
    // AMD-only kernels (`// isolate-hip-only:`) are left to hip::build.
    let cuda_files: Vec<&PathBuf> = files.iter().filter(|f| !hip::hip_only(f)).collect();

    let mut reg = String::new();
    let compiler = match &nvcc {
        Some(n) => format!("nvcc {} ({})", n.version, n.path.display()),
        None => "none at build time: NVRTC at run time".to_string(),
    };
    writeln!(reg, "/// How the embedded modules were built.").unwrap();
    writeln!(reg, "pub const BUILT_WITH: &str = {compiler:?};").unwrap();
    writeln!(reg, "/// Every kernel module, in file-name order.").unwrap();
    writeln!(reg, "pub static MODULES: &[ModuleSource] = &[").unwrap();
    for f in cuda_files {
        let name = f.file_stem().unwrap().to_str().unwrap().to_string();
        let src = inline_includes(f, &kdir, 0);
        let arch90a = src
            .lines()
            .take(5)
            .any(|l| l.contains("isolate-arch: sm_90a"));
        let cu_out = out.join(format!("{name}.cu"));
        fs::write(&cu_out, &src).unwrap();
        let ptx = nvcc.as_ref().map(|n| {
            let ptx = out.join(format!("{name}.ptx"));
            n.compile(f, &kdir, &ptx, arch90a);
            ptx
        });
        // ptxas's sm_90 (sm_90a) SASS, when ptxas sits next to nvcc: loaded as it is on a 9.0 device, so a first
        // run does not wait for the driver to JIT the PTX (the quant module's many specialisations took 23 s
        // on an H100 with an empty JIT cache).
        let cubin = ptx
            .as_ref()
            .map(|p| p.with_extension("cubin"))
            .filter(|c| c.exists());
        writeln!(reg, "    ModuleSource {{").unwrap();
        writeln!(reg, "        name: {name:?},").unwrap();
        writeln!(reg, "        sm90a: {arch90a},").unwrap();
        writeln!(
            reg,
            "        source: include_str!({:?}),",
            cu_out.display().to_string()
        )
        .unwrap();
        match ptx {
            Some(p) => writeln!(
                reg,
                "        ptx: Some(include_str!({:?})),",
                p.display().to_string()
            ),
            None => writeln!(reg, "        ptx: None,"),
        }
        .unwrap();
        match cubin {
            Some(c) => writeln!(
                reg,
                "        cubin: Some(include_bytes!({:?})),",
                c.display().to_string()
            ),
            None => writeln!(reg, "        cubin: None,"),
        }
        .unwrap();
        writeln!(reg, "    }},").unwrap();
    }
    writeln!(reg, "];").unwrap();
    fs::write(out.join("kernels.rs"), reg).unwrap();
    hip::build(&root, &out, &kdir, &files);
}

/// The AMD side: code objects for gfx942 / gfx950 and `$OUT_DIR/hip_kernels.rs`.
mod hip {
    use std::env;
    use std::fmt::Write as _;
    use std::fs;
    use std::path::{Path, PathBuf};
    use std::process::{Command, Stdio};

    /// The targets a kernel may ask for.
    const TARGETS: [&str; 2] = ["gfx942", "gfx950"];

    /// clang flags for every HIP kernel: device code only, one code object per target (no offload bundle: the
    /// wheel has no clang-offload-bundler), v5 code objects (older runtimes reject newer ones), no ROCm headers
    /// or device libraries (kernels/hip_runtime.cuh instead), and the arithmetic of the nvcc build: no FMA
    /// contraction, no flush-to-zero, IEEE division.
    const FLAGS: &[&str] = &[
        "-x",
        "hip",
        "-nogpuinc",
        "-nogpulib",
        "-mcode-object-version=5",
        "--cuda-device-only",
        "--no-gpu-bundle-output",
        "-O3",
        "-std=c++17",
        "-ffp-contract=off",
        "-fno-gpu-flush-denormals-to-zero",
        "-Wno-pass-failed",
    ];

    struct Clang {
        /// The program and the arguments before clang's own (`zig clang`).
        cmd: Vec<PathBuf>,
        /// Folders put first on the child's PATH (the `lld` wrapper).
        path_dirs: Vec<PathBuf>,
        version: String,
    }

    impl Clang {
        fn command(&self) -> Command {
            let mut c = Command::new(&self.cmd[0]);
            c.args(&self.cmd[1..]);
            if !self.path_dirs.is_empty() {
                let mut p = self.path_dirs.clone();
                if let Some(old) = env::var_os("PATH") {
                    p.extend(env::split_paths(&old));
                }
                c.env("PATH", env::join_paths(p).unwrap());
            }
            c
        }
    }

    fn find(root: &Path) -> Option<Clang> {
        let cands: Vec<PathBuf> = env::var_os("ISOLATE_HIP_CLANG")
            .map(PathBuf::from)
            .into_iter()
            .chain([root.join(".cache/hip/ziglang/zig")])
            .collect();
        for c in cands {
            if !c.is_file() {
                continue;
            }
            let zig = c.file_name().is_some_and(|n| n == "zig");
            let mut cmd = vec![c.clone()];
            if zig {
                cmd.push("clang".into());
            }
            let path_dirs = if zig {
                // scripts/install-hip-compiler.sh's `lld` wrapper, beside the ziglang folder.
                c.parent()
                    .and_then(|p| p.parent())
                    .map(|p| p.join("bin"))
                    .into_iter()
                    .collect()
            } else {
                vec![]
            };
            let clang = Clang {
                cmd,
                path_dirs,
                version: String::new(),
            };
            let Ok(o) = clang.command().arg("--version").output() else {
                continue;
            };
            let text = String::from_utf8_lossy(&o.stdout).to_string();
            let Some(v) = text.lines().next().filter(|l| l.contains("clang version")) else {
                continue;
            };
            let mut version = v.trim().to_string();
            if zig {
                if let Ok(z) = Command::new(&c).arg("version").output() {
                    version = format!(
                        "zig {} ({version})",
                        String::from_utf8_lossy(&z.stdout).trim()
                    );
                }
            }
            return Some(Clang { version, ..clang });
        }
        None
    }

    /// Whether `f` is an AMD-only kernel (`// isolate-hip-only: …` in its first lines).
    pub fn hip_only(f: &Path) -> bool {
        fs::read_to_string(f)
            .unwrap_or_default()
            .lines()
            .take(5)
            .any(|l| l.contains("isolate-hip-only:"))
    }

    /// The targets `src` asks for in its first lines (`// isolate-hip: gfx942 gfx950`, or `isolate-hip-only:`).
    fn targets(src: &str) -> Vec<&'static str> {
        src.lines()
            .take(5)
            .filter_map(|l| {
                l.split("isolate-hip:")
                    .nth(1)
                    .or_else(|| l.split("isolate-hip-only:").nth(1))
            })
            .flat_map(|t| t.split_whitespace())
            .filter_map(|t| TARGETS.iter().find(|x| **x == t).copied())
            .collect()
    }

    pub fn build(root: &Path, out: &Path, kdir: &Path, files: &[PathBuf]) {
        for v in ["ISOLATE_HIP_CLANG", "ISOLATE_REQUIRE_HIP", "ISOLATE_NO_HIP"] {
            println!("cargo:rerun-if-env-changed={v}");
        }
        println!("cargo:rerun-if-changed=.cache/hip/ziglang/zig");
        let require = env::var("ISOLATE_REQUIRE_HIP").is_ok_and(|v| v == "1");
        let clang = if env::var("ISOLATE_NO_HIP").is_ok_and(|v| v == "1") {
            None
        } else {
            find(root)
        };
        let wanted: Vec<(&PathBuf, Vec<&str>)> = files
            .iter()
            .map(|f| (f, targets(&fs::read_to_string(f).unwrap_or_default())))
            .filter(|(_, t)| !t.is_empty())
            .collect();
        if clang.is_none() {
            if require {
                panic!(
                    "ISOLATE_REQUIRE_HIP=1 but no HIP compiler was found ($ISOLATE_HIP_CLANG, .cache/hip/ziglang/zig): \
                     run scripts/install-hip-compiler.sh"
                );
            }
            if !wanted.is_empty() && env::var("ISOLATE_NO_HIP").map_or(true, |v| v != "1") {
                println!(
                    "cargo:warning=no HIP compiler (scripts/install-hip-compiler.sh): no gfx942/gfx950 code objects embedded"
                );
            }
        }
        // (module, target, why) of every wanted code object that is not embedded.
        let mut not_built: Vec<(String, &str, String)> = Vec::new();
        if clang.is_none() {
            let why = if env::var("ISOLATE_NO_HIP").is_ok_and(|v| v == "1") {
                "ISOLATE_NO_HIP=1 at build time"
            } else {
                "no HIP compiler at build time (scripts/install-hip-compiler.sh)"
            };
            for (f, targets) in &wanted {
                let name = f.file_stem().unwrap().to_str().unwrap().to_string();
                for t in targets {
                    not_built.push((name.clone(), t, why.to_string()));
                }
            }
        }
        let mut reg = String::new();
        let built = clang
            .as_ref()
            .map_or("none at build time".to_string(), |c| c.version.clone());
        writeln!(reg, "/// How the embedded code objects were built.").unwrap();
        writeln!(reg, "pub const BUILT_WITH: &str = {built:?};").unwrap();
        writeln!(
            reg,
            "/// Every embedded code object, by module then target."
        )
        .unwrap();
        writeln!(reg, "pub static CODE_OBJECTS: &[CodeObject] = &[").unwrap();
        if let Some(clang) = &clang {
            let header = kdir.join("hip_runtime.cuh");
            for (f, targets) in &wanted {
                let name = f.file_stem().unwrap().to_str().unwrap().to_string();
                // The targets compile in parallel (the quant module takes ~15 s each).
                let jobs: Vec<_> = targets
                    .iter()
                    .map(|t| {
                        let obj = out.join(format!("{name}.{t}.hsaco"));
                        let _ = fs::remove_file(&obj);
                        let mut c = clang.command();
                        c.args(FLAGS)
                            .arg(format!("--offload-arch={t}"))
                            .arg("-include")
                            .arg(&header)
                            .arg("-I")
                            .arg(kdir)
                            .arg(f)
                            .arg("-o")
                            .arg(&obj);
                        c.stdout(Stdio::piped()).stderr(Stdio::piped());
                        (t, obj, c.spawn())
                    })
                    .collect();
                for (t, obj, child) in jobs {
                    let ok = match child.and_then(|c| c.wait_with_output()) {
                        Ok(o) if o.status.success() && obj.exists() => Ok(()),
                        Ok(o) => Err(format!(
                            "{}{}",
                            String::from_utf8_lossy(&o.stdout),
                            String::from_utf8_lossy(&o.stderr)
                        )),
                        Err(e) => Err(e.to_string()),
                    };
                    if let Err(log) = ok {
                        let first: Vec<&str> = log
                            .lines()
                            .filter(|l| l.contains("error"))
                            .take(10)
                            .collect();
                        let msg = format!(
                            "kernel {} does not compile for {t}:\n{}",
                            f.display(),
                            first.join("\n")
                        );
                        if require {
                            panic!("{msg}");
                        }
                        println!("cargo:warning={}", msg.replace('\n', " | "));
                        not_built.push((
                            name.clone(),
                            t,
                            format!(
                                "clang rejected it: {}",
                                first.first().map_or("(no error line)", |l| l.trim())
                            ),
                        ));
                        continue;
                    }
                    writeln!(
                        reg,
                        "    CodeObject {{ module: {name:?}, target: {t:?}, bytes: include_bytes!({:?}) }},",
                        obj.display().to_string()
                    )
                    .unwrap();
                }
            }
        }
        writeln!(reg, "];").unwrap();
        writeln!(
            reg,
            "/// Code objects a kernel asks for (`// isolate-hip: …`) that are not embedded: (module, target, why)."
        )
        .unwrap();
        writeln!(reg, "pub static NOT_BUILT: &[(&str, &str, &str)] = &[").unwrap();
        for (m, t, why) in &not_built {
            writeln!(reg, "    ({m:?}, {t:?}, {why:?}),").unwrap();
        }
        writeln!(reg, "];").unwrap();
        writeln!(
            reg,
            "/// The AMD-only modules (`// isolate-hip-only:`): (name, source with local includes inlined)."
        )
        .unwrap();
        writeln!(reg, "pub static HIP_ONLY_SOURCES: &[(&str, &str)] = &[").unwrap();
        for f in files.iter().filter(|f| hip_only(f)) {
            let name = f.file_stem().unwrap().to_str().unwrap().to_string();
            let src = super::inline_includes(f, kdir, 0);
            let p = out.join(format!("{name}.hip-only.cu"));
            fs::write(&p, &src).unwrap();
            writeln!(
                reg,
                "    ({name:?}, include_str!({:?})),",
                p.display().to_string()
            )
            .unwrap();
        }
        writeln!(reg, "];").unwrap();
        fs::write(out.join("hip_kernels.rs"), reg).unwrap();
    }
}

/// The source of `f` with every `#include "name"` of a file in `kernels/` replaced by that file (once each
/// level; headers use `#pragma once`, which NVRTC honours within one translation unit).
fn inline_includes(f: &Path, kdir: &Path, depth: usize) -> String {
    assert!(depth < 8, "include nesting too deep at {}", f.display());
    let text = fs::read_to_string(f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
    let mut out = String::new();
    for line in text.lines() {
        let t = line.trim_start();
        if let Some(rest) = t.strip_prefix("#include \"") {
            let inc = rest.split('"').next().unwrap();
            let p = kdir.join(inc);
            if p.exists() {
                println!("cargo:rerun-if-changed={}", p.display());
                out.push_str(&inline_includes(&p, kdir, depth + 1));
                continue;
            }
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

struct Nvcc {
    path: PathBuf,
    version: String,
}

impl Nvcc {
    fn compile(&self, cu: &Path, kdir: &Path, ptx: &Path, arch90a: bool) {
        let mut cmd = Command::new(&self.path);
        cmd.args(NVCC_FLAGS);
        if arch90a {
            cmd.arg("-gencode=arch=compute_90a,code=sm_90a");
        } else {
            cmd.arg("-arch=sm_90");
        }
        cmd.arg("-I").arg(kdir).arg(cu).arg("-o").arg(ptx);
        run(&mut cmd, cu);
        // ptxas catches what the front end lets through (register-indexed MMA fragments, bad asm); its cubin is
        // embedded beside the PTX.
        let ptxas = self.path.with_file_name("ptxas");
        let cubin = ptx.with_extension("cubin");
        let _ = fs::remove_file(&cubin);
        if ptxas.exists() {
            let arch = if arch90a { "sm_90a" } else { "sm_90" };
            let mut c = Command::new(ptxas);
            c.args(["-arch", arch, "-O3", "-o"]).arg(&cubin).arg(ptx);
            run(&mut c, cu);
        }
    }
}

fn run(cmd: &mut Command, what: &Path) {
    let o = cmd
        .output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    if !o.status.success() {
        panic!(
            "kernel {} does not compile:\n{}{}",
            what.display(),
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
    }
}

/// The first nvcc ≤ 13.0 among the candidates; a newer one is reported and skipped.
fn find_nvcc(root: &Path) -> Option<Nvcc> {
    let mut cands: Vec<PathBuf> = Vec::new();
    if let Ok(p) = env::var("NVCC") {
        cands.push(p.into());
    }
    if let Ok(h) = env::var("CUDA_HOME") {
        cands.push(Path::new(&h).join("bin/nvcc"));
    }
    if let Some(path) = env::var_os("PATH") {
        cands.extend(env::split_paths(&path).map(|d| d.join("nvcc")));
    }
    cands.push(root.join(".cache/cuda/nvidia/cu13/bin/nvcc"));
    // The toolkit's default install location, often not on PATH.
    cands.push(PathBuf::from("/usr/local/cuda/bin/nvcc"));
    for c in cands {
        if !c.is_file() {
            continue;
        }
        let Ok(o) = Command::new(&c).arg("--version").output() else {
            continue;
        };
        let text = String::from_utf8_lossy(&o.stdout);
        let Some(ver) = text
            .lines()
            .find_map(|l| l.split(", V").nth(1))
            .map(str::trim)
        else {
            continue;
        };
        let mut it = ver.split('.').map(|x| x.parse::<u32>().unwrap_or(0));
        let (maj, min) = (it.next().unwrap_or(0), it.next().unwrap_or(0));
        if (maj, min) > (13, 0) {
            println!(
                "cargo:warning={}: nvcc {ver} is newer than CUDA 13.0 (driver 580 rejects its PTX); skipped",
                c.display()
            );
            continue;
        }
        return Some(Nvcc {
            path: c,
            version: ver.to_string(),
        });
    }
    None
}
