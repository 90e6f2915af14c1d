//! `isolate gemm` with the GPU-only GEMMs (`tc`, `tc-fast-accum`, `cublaslt`, `kernel:FILE.cu`) where they
//! cannot run: exit 2 with one line saying the GEMM runs only on the GPU and why. The GPU side is in
//! tests/gpu.rs.

use crate::common::{isolate, Run};

/// Relative to the crate's folder, where `isolate` runs the binary.
const DEMO: &str = "fixtures/demo/gemm_drift.safetensors";

fn gemm(target: &str, reference: &str, extra: &[&str]) -> Run {
    let mut a = vec![
        "gemm",
        "--input",
        DEMO,
        "--target-quant",
        "deepgemm-ue8m0",
        "--ref-quant",
        "deepgemm-ue8m0",
        "--target-gemm",
        target,
        "--ref-gemm",
        reference,
    ];
    a.extend_from_slice(extra);
    isolate(&a)
}

fn one_line_exit_2(o: Run, want: &str) {
    let (code, out, err) = (o.code, o.stdout, o.stderr);
    assert_eq!(code, 2, "stdout {out} stderr {err}");
    assert_eq!(err.lines().count(), 1, "one line expected: {err}");
    assert!(err.contains(want), "'{want}' not in: {err}");
}

#[test]
fn gpu_only_gemms_with_backend_cpu_are_one_line_exit_2() {
    for g in ["tc", "tc-fast-accum", "cublaslt", "cublaslt,out=f32"] {
        let name = g.split(',').next().unwrap();
        one_line_exit_2(
            gemm(g, "blockwise", &["--backend", "cpu"]),
            &format!("`{name}` runs only on the GPU: --backend cpu was given"),
        );
        // As the reference GEMM too.
        one_line_exit_2(
            gemm("blockwise", g, &["--backend", "cpu"]),
            &format!("`{name}` runs only on the GPU"),
        );
    }
    one_line_exit_2(
        gemm(
            "kernel:examples/gemm_blockwise.cu",
            "blockwise",
            &["--backend", "cpu"],
        ),
        "`kernel:examples/gemm_blockwise.cu` runs only on the GPU",
    );
}

#[test]
fn gpu_only_gemms_without_a_gpu_say_why() {
    if isolate::backend::cuda::CudaBackend::new().is_ok() {
        eprintln!("a GPU is present: the no-GPU behaviour is not tested here");
        return;
    }
    for backend in ["auto", "cuda"] {
        one_line_exit_2(
            gemm("cublaslt", "blockwise", &["--backend", backend]),
            "`cublaslt` runs only on the GPU: no usable GPU (",
        );
    }
}

#[test]
fn bad_gpu_gemm_specs_are_one_line_exit_2() {
    one_line_exit_2(
        gemm("tc,promote=64", "blockwise", &[]),
        "--target-gemm: GEMM spec 'tc,promote=64': tc runs on the GPU's own arithmetic; its only axis is out=bf16|f32",
    );
    one_line_exit_2(
        gemm("blockwise", "cublaslt,out=f16", &[]),
        "--ref-gemm: GEMM spec 'cublaslt,out=f16': out=f16: out must be one of bf16, f32",
    );
    one_line_exit_2(
        gemm("cublas", "blockwise", &[]),
        "GPU-only: tc, tc-fast-accum, cublaslt, kernel:FILE.cu[:ENTRY]",
    );
    one_line_exit_2(
        gemm("kernel:no/such/kernel.cu", "blockwise", &[]),
        "no/such/kernel.cu",
    );
}
