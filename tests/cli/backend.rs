//! `--backend` and the GPU commands on a machine without a GPU (CI): `auto` falls back to the CPU with one line
//! on stderr, `cuda` and `bench` exit 2 with one clear line. Skipped (with a note) where a GPU is present.

use crate::common::isolate;

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
    let o = isolate(&["selftest", "--backend", "cuda"]);
    assert_eq!(o.code, 2, "{}{}", o.stdout, o.stderr);
    assert_eq!(o.stderr.lines().count(), 1, "{}", o.stderr);
    assert!(
        o.stderr
            .starts_with("isolate: --backend cuda: no usable GPU"),
        "{}",
        o.stderr
    );
}

#[test]
fn auto_backend_falls_back_to_cpu_saying_so() {
    if has_gpu() {
        return;
    }
    let o = isolate(&["selftest"]);
    assert_eq!(o.code, 0, "{}{}", o.stdout, o.stderr);
    assert_eq!(o.stderr.lines().count(), 1, "{}", o.stderr);
    assert!(o.stderr.contains("using the CPU backend"), "{}", o.stderr);
    assert!(
        o.stdout.contains("backend: cpu") && o.stdout.contains("0 failed"),
        "{}",
        o.stdout
    );
}

#[test]
fn bench_without_gpu_is_exit_2() {
    if has_gpu() {
        return;
    }
    let o = isolate(&["bench", "gemm", "--m", "64", "--n", "64", "--k", "128"]);
    assert_eq!(o.code, 2);
    assert!(o.stderr.contains("bench needs a CUDA GPU"), "{}", o.stderr);
}

#[test]
fn bad_bench_shape_and_bad_backend_are_usage_errors() {
    let o = isolate(&["bench", "gemm", "--k", "100"]);
    assert_eq!(o.code, 2);
    assert!(o.stderr.contains("K % 128 = 0"), "{}", o.stderr);
    let o = isolate(&["selftest", "--backend", "rocm"]);
    assert_eq!(o.code, 2);
    assert!(o.stderr.contains("rocm"), "{}", o.stderr);
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
    let o = gemm("torch-e8m0");
    assert_eq!(o.code, 1, "{}{}", o.stdout, o.stderr);
    assert!(o.stdout.contains("verdict: quant"), "{}", o.stdout);
    assert_eq!(o.stderr.lines().count(), 1, "{}", o.stderr);
    assert!(o.stderr.contains("ran on the CPU backend"), "{}", o.stderr);
    let o = gemm("torch-e8m0,group=100");
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert_eq!(o.stderr.lines().count(), 1, "{}", o.stderr);
    assert!(
        o.stderr.contains("not a multiple of the block width 100"),
        "{}",
        o.stderr
    );
    let o = isolate(&[
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
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(
        o.stderr.is_empty(),
        "--backend cpu is no fallback: {}",
        o.stderr
    );
}
