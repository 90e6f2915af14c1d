//! `--backend simt-cpu` through the binary: a user's quant kernel (`.cu` at 32 lanes, `.hip` at wavefront 64)
//! run by the SIMT CPU executor and checked byte for byte against a preset (exit 0), a wrong one caught
//! (exit 1), a kernel reaching outside its buffers and a machine without a C++ compiler (one line, exit 2); the
//! selftest and the GEMM note on simt-cpu; `--backend hip` without an AMD GPU (one line, exit 2).

use std::process::Command;

use crate::common::{fixture, isolate, s};

fn quant_kernel(kernel: &str) -> crate::common::Run {
    isolate(&[
        "quant",
        "--input",
        s(&fixture("minilm/ffn_act.safetensors")),
        "--reference",
        "deepgemm-ue8m0",
        "--candidate",
        &format!("kernel:{kernel}"),
        "--backend",
        "simt-cpu",
    ])
}

#[test]
fn user_cuda_and_hip_kernels_are_byte_equal_on_simt_cpu() {
    for (k, lanes) in [
        ("examples/quant_ue8m0.cu", "32 lanes"),
        ("examples/quant_ue8m0.hip", "64 lanes"),
    ] {
        let o = quant_kernel(k);
        assert_eq!(o.code, 0, "{k}: {}{}", o.stdout, o.stderr);
        assert!(o.stdout.contains("BYTE-EQUAL"), "{}", o.stdout);
        assert!(
            o.stdout
                .contains(&format!("kernel {k} (simt-cpu, {lanes})")),
            "{}",
            o.stdout
        );
        assert!(o.stderr.is_empty(), "{}", o.stderr);
    }
}

#[test]
fn a_wrong_user_kernel_is_caught_on_simt_cpu() {
    let o = quant_kernel("examples/quant_floor_wrong.cu");
    assert_eq!(o.code, 1, "{}{}", o.stdout, o.stderr);
    assert!(
        o.stdout.contains("NOT byte-equal") && o.stdout.contains("scale differs by 2×"),
        "{}",
        o.stdout
    );
}

/// A HIP port that kept CUDA's 32-lane reduction: at wavefront 64 each half of a group reduces its own amax,
/// so the scales of groups whose largest |x| lies in the other half come out too small. Caught, exit 1.
#[test]
fn a_hip_kernel_reducing_over_half_the_wavefront_is_caught() {
    let src = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/quant_ue8m0.hip"
    ))
    .unwrap();
    let wrong = src.replace("for (int o = 32; o > 0;", "for (int o = 16; o > 0;");
    assert_ne!(wrong, src, "the example's wavefront reduction");
    let d = tempfile::tempdir().unwrap();
    let k = d.path().join("quant_half_wave.hip");
    std::fs::write(&k, wrong).unwrap();
    let o = quant_kernel(s(&k));
    assert_eq!(o.code, 1, "{}{}", o.stdout, o.stderr);
    assert!(o.stdout.contains("NOT byte-equal"), "{}", o.stdout);
}

const OOB: &str = r#"
extern "C" __global__ void quant_oob(const void* x, int x_dtype, unsigned char* q, float* s, long long M,
                                     long long K, int group, long long ldx, long long ldq, long long lds) {
    const unsigned short* xb = (const unsigned short*)x;
    long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x;
    if (i == 0) q[0] = (unsigned char)xb[M * ldx + 64];  // one row past the end of x
}
"#;

#[test]
fn a_kernel_reading_out_of_bounds_is_one_line_exit_2() {
    let d = tempfile::tempdir().unwrap();
    let k = d.path().join("oob.cu");
    std::fs::write(&k, OOB).unwrap();
    let o = quant_kernel(s(&k));
    o.assert_bad_input(&[
        "simt-cpu",
        "quant_oob",
        "past the end of buffer `x`",
        "oob.cu",
    ]);
}

#[test]
fn a_kernel_that_does_not_compile_names_the_compiler_error() {
    let d = tempfile::tempdir().unwrap();
    let k = d.path().join("broken.hip");
    std::fs::write(
        &k,
        "extern \"C\" __global__ void f(const void* x) { undeclared_thing(x); }\n",
    )
    .unwrap();
    let o = quant_kernel(s(&k));
    assert_eq!(o.code, 2, "{}{}", o.stdout, o.stderr);
    assert!(
        o.stderr.contains("broken.hip") && o.stderr.contains("undeclared_thing"),
        "{}",
        o.stderr
    );
    assert!(!o.stderr.contains("panicked"), "{}", o.stderr);
}

#[test]
fn no_cxx_compiler_is_one_line_naming_the_ones_looked_for() {
    let empty = tempfile::tempdir().unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_isolate"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("CXX")
        .env("PATH", empty.path())
        .args([
            "quant",
            "--input",
            "fixtures/minilm/ffn_act.safetensors",
            "--reference",
            "deepgemm-ue8m0",
            "--candidate",
            "kernel:examples/quant_ue8m0.cu",
            "--backend",
            "simt-cpu",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(
        err.contains("C++20 compiler") && err.contains("$CXX, c++, g++, clang++ on PATH"),
        "{err}"
    );
}

#[test]
fn selftest_on_simt_cpu_runs_codecs_and_quantizers() {
    let o = isolate(&["selftest", "--backend", "simt-cpu"]);
    assert_eq!(o.code, 0, "{}{}", o.stdout, o.stderr);
    assert!(
        o.stdout.contains("backend: simt-cpu")
            && o.stdout.contains("fp8 encode e4m3fnuz saturate")
            && o.stdout.contains("quant w deepgemm-ue8m0")
            && o.stdout.contains(" 0 failed"),
        "{}",
        o.stdout
    );
}

#[test]
fn gemm_on_simt_cpu_runs_the_kernels_and_notes_the_rest() {
    let o = isolate(&[
        "gemm",
        "--input",
        s(&fixture("demo/quant_drift.safetensors")),
        "--target-quant",
        "torch-e8m0",
        "--ref-quant",
        "deepgemm-ue8m0",
        "--target-gemm",
        "blockwise",
        "--ref-gemm",
        "blockwise",
        "--backend",
        "simt-cpu",
    ]);
    assert_eq!(o.code, 1, "{}{}", o.stdout, o.stderr);
    assert!(o.stdout.contains("verdict: quant"), "{}", o.stdout);
    assert!(
        // blockwise and blockwise-v3 run kernels/gemm_blockwise.cu on the executor; the noise envelope's
        // sm90-blockwise has no kernel there: one note for it.
        o.stderr.matches("ran on the CPU definition").count() == 1
            && o.stderr.contains("sm90-blockwise")
            && !o.stderr.contains("`blockwise`"),
        "{}",
        o.stderr
    );
}

#[test]
fn hip_backend_without_an_amd_gpu_is_one_line_exit_2() {
    if std::env::var_os("ISOLATE_HIP_LIB").is_some() {
        return;
    }
    let o = isolate(&["selftest", "--backend", "hip"]);
    // One line naming the runtime library looked for.
    o.assert_bad_input(&["--backend hip:", "libamdhip64.so"]);
    // A .hip user kernel on --backend hip: the same line (the runtime comes before hiprtc).
    let o = isolate(&[
        "quant",
        "--input",
        s(&fixture("minilm/ffn_act.safetensors")),
        "--reference",
        "deepgemm-ue8m0",
        "--candidate",
        "kernel:examples/quant_ue8m0.hip",
        "--backend",
        "hip",
    ]);
    o.assert_bad_input(&["--backend hip:", "libamdhip64.so"]);
    let o = isolate(&[
        "quant",
        "--input",
        s(&fixture("minilm/ffn_act.safetensors")),
        "--reference",
        "deepgemm-ue8m0",
        "--candidate",
        "kernel:examples/quant_ue8m0.hip",
        "--backend",
        "cuda",
    ]);
    o.assert_bad_input(&["is a HIP kernel", "--backend simt-cpu"]);
}

/// `isolate gemm --backend simt-cpu` takes the device-resident path (operands quantized and kept by the
/// executor, block-exact GEMMs on the kept operands, every comparison by kernels/compare.cu, a bf16
/// `target_out` and an f32 `ref_out` uploaded): its `--json` report and its `--save` file are the CPU
/// backend's, byte for byte.
#[test]
fn isolate_gemm_on_simt_cpu_takes_the_resident_path_to_the_cpus_bytes() {
    use isolate::formats::DType;
    use isolate::io::{safetensors_io, Tensor};
    let d = tempfile::tempdir().unwrap();
    let (m, n, k) = (40, 96, 512);
    let mut rng = isolate::testdata::Rng::new(11);
    let mut bf16 = |len: usize, scale: f64| -> Vec<u8> {
        (0..len)
            .flat_map(|i| {
                let v = rng.normal() * scale * if i % 61 == 0 { 40.0 } else { 1.0 };
                half::bf16::from_f64(v).to_le_bytes()
            })
            .collect()
    };
    let x = Tensor::new("x", DType::BF16, vec![m, k], bf16(m * k, 1.0)).unwrap();
    let w = Tensor::new("w", DType::BF16, vec![n, k], bf16(n * k, 0.02)).unwrap();
    let target_out = Tensor::new("target_out", DType::BF16, vec![m, n], bf16(m * n, 1.0)).unwrap();
    let ref_vals: Vec<f32> = (0..m * n).map(|i| (i % 13) as f32 - 6.0).collect();
    let ref_out = Tensor::from_f32("ref_out", vec![m, n], &ref_vals).unwrap();
    let input = d.path().join("in.safetensors");
    safetensors_io::write(&input, &[x, w, target_out, ref_out], None).unwrap();
    let run = |be: &str| {
        let (json, save) = (
            d.path().join(format!("{be}.json")),
            d.path().join(format!("{be}.safetensors")),
        );
        let o = isolate(&[
            "gemm",
            "--backend",
            be,
            "--input",
            s(&input),
            "--target-quant",
            "torch-e8m0",
            "--ref-quant",
            "deepgemm-ue8m0",
            "--target-gemm",
            "blockwise",
            "--ref-gemm",
            "blockwise,out=f32",
            "--json",
            s(&json),
            "--save",
            s(&save),
        ]);
        assert_eq!(o.code, 1, "{be}: {}{}", o.stdout, o.stderr);
        (
            std::fs::read_to_string(&json).unwrap(),
            std::fs::read(&save).unwrap(),
            o.stderr,
        )
    };
    let (simt_json, simt_save, simt_err) = run("simt-cpu");
    let (cpu_json, cpu_save, _) = run("cpu");
    assert!(simt_json.contains("\"cos\""), "{simt_json}");
    assert_eq!(simt_json, cpu_json, "the --json reports differ");
    assert!(simt_save == cpu_save, "the --save files differ");
    // Every GEMM ran on the executor: no note of one handed to the CPU.
    assert!(!simt_err.contains("runs on the CPU"), "{simt_err}");
}
