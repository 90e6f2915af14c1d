//! `--backend` and the GPU commands on a machine without a GPU (CI): `auto` falls back to the CPU with one line
//! on stderr, `cuda` and `bench` exit 2 with one clear line. Skipped (with a note) where a GPU is present.

use std::process::Command;

fn isolate(args: &[&str]) -> (i32, String, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_isolate"))
        .args(args)
        .output()
        .unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn has_gpu() -> bool {
    let gpu = isolate::backend::cuda::CudaBackend::new().is_ok();
    if gpu {
        eprintln!("a GPU is present: the no-GPU behaviour is not tested here");
    }
    gpu
}

#[test]
fn cuda_backend_without_gpu_is_exit_2_with_one_line() {
    if has_gpu() {
        return;
    }
    let (code, out, err) = isolate(&["selftest", "--backend", "cuda"]);
    assert_eq!(code, 2, "{out}{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("isolate: --backend cuda: no usable GPU"),
        "{err}"
    );
}

#[test]
fn auto_backend_falls_back_to_cpu_saying_so() {
    if has_gpu() {
        return;
    }
    let (code, out, err) = isolate(&["selftest"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("using the CPU backend"), "{err}");
    assert!(
        out.contains("backend: cpu") && out.contains("0 failed"),
        "{out}"
    );
}

#[test]
fn bench_without_gpu_is_exit_2() {
    if has_gpu() {
        return;
    }
    let (code, _, err) = isolate(&["bench", "gemm", "--m", "64", "--n", "64", "--k", "128"]);
    assert_eq!(code, 2);
    assert!(err.contains("bench needs a CUDA GPU"), "{err}");
}

#[test]
fn bad_bench_shape_and_bad_backend_are_usage_errors() {
    let (code, _, err) = isolate(&["bench", "gemm", "--k", "100"]);
    assert_eq!(code, 2);
    assert!(err.contains("K % 128 = 0"), "{err}");
    let (code, _, err) = isolate(&["selftest", "--backend", "rocm"]);
    assert_eq!(code, 2);
    assert!(err.contains("rocm"), "{err}");
}

/// The data commands say where `auto` ran once they have finished, and a bad input still gets exactly one line
/// (its error), not the fallback line too.
#[test]
fn data_commands_say_the_fallback_after_the_report_and_errors_stay_one_line() {
    if has_gpu() {
        return;
    }
    let demo = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/demo/quant_drift.safetensors"
    );
    let gemm = |tq: &str| {
        isolate(&[
            "gemm",
            "--input",
            demo,
            "--target-quant",
            tq,
            "--ref-quant",
            "deepgemm-ue8m0",
            "--target-gemm",
            "blockwise",
            "--ref-gemm",
            "blockwise",
        ])
    };
    let (code, out, err) = gemm("torch-e8m0");
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("verdict: quant"), "{out}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("ran on the CPU backend"), "{err}");
    let (code, _, err) = gemm("torch-e8m0,group=100");
    assert_eq!(code, 2, "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("not a multiple of the block width 100"),
        "{err}"
    );
    let (code, _, err) = isolate(&[
        "quant",
        "--backend",
        "cpu",
        "--input",
        demo,
        "--reference",
        "torch-e8m0",
        "--candidate",
        "dumped",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(err.is_empty(), "--backend cpu is no fallback: {err}");
}
