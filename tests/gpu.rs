//! GPU tests: every kernel against its CPU twin. Without a usable GPU each test prints why and passes (skips);
//! with `ISOLATE_REQUIRE_GPU=1` a missing GPU fails them instead.

use isolate::backend::cuda::CudaBackend;
use isolate::experiment::selftest::{self, Check, Options};

fn gpu() -> Option<CudaBackend> {
    match CudaBackend::new() {
        Ok(b) => Some(b),
        Err(e) => {
            if std::env::var("ISOLATE_REQUIRE_GPU").is_ok_and(|v| v == "1") {
                panic!("ISOLATE_REQUIRE_GPU=1 but no usable GPU: {e}");
            }
            eprintln!("skipping GPU test: {e}");
            None
        }
    }
}

fn assert_all_pass(checks: &[Check]) {
    assert!(!checks.is_empty(), "no checks ran");
    let failed: Vec<&Check> = checks.iter().filter(|c| !c.passed()).collect();
    assert!(
        failed.is_empty(),
        "{}",
        selftest::table(
            &checks
                .iter()
                .filter(|c| !c.passed())
                .cloned()
                .collect::<Vec<_>>()
        )
    );
}

#[test]
fn codec_kernels_equal_cpu_bitwise() {
    let Some(b) = gpu() else { return };
    let opt = Options {
        codec_n: 1 << 18,
        ..Options::default()
    };
    assert_all_pass(&selftest::codecs::checks(&b, &opt).unwrap());
}

#[test]
fn blockwise_gemm_equals_cpu_bitwise_and_hardware_gemms_are_close() {
    let Some(b) = gpu() else { return };
    assert_all_pass(&selftest::gemm::checks(&b, 11).unwrap());
}

#[test]
fn quant_kernels_equal_cpu_bitwise() {
    let Some(b) = gpu() else { return };
    assert_all_pass(&selftest::quant::checks(&b, 5).unwrap());
}

/// The shipped example kernel, compiled with NVRTC and run through the quant ABI, equals the deepgemm-ue8m0
/// preset byte for byte on finite bf16 input.
#[test]
fn example_user_kernel_is_byte_equal_to_deepgemm_ue8m0() {
    use isolate::backend::cuda::user::{self, KernelRef};
    use isolate::formats::DType;
    use isolate::io::Tensor;
    use isolate::quant::{quantize_activation, QuantSpec};
    let Some(b) = gpu() else { return };
    let dir = std::env::var("ISOLATE_EXAMPLES")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/examples").into());
    let k = user::load(
        &b,
        &KernelRef::parse(&format!("kernel:{dir}/quant_ue8m0.cu")).unwrap(),
    )
    .unwrap();
    let (m, kk) = (300, 1024);
    let mut rng = selftest::data::Rng::new(9);
    let bytes: Vec<u8> = (0..m * kk)
        .flat_map(|i| {
            let s = 2f64.powi((i / kk % 13) as i32 - 6);
            half::bf16::from_f32((rng.normal() * s) as f32)
                .to_bits()
                .to_le_bytes()
        })
        .collect();
    let x = Tensor::new("x", DType::BF16, vec![m, kk], bytes).unwrap();
    let want = quantize_activation(&QuantSpec::parse("deepgemm-ue8m0").unwrap(), &x).unwrap();
    let (q, s) = user::run_quant(&b, &k, x.bytes(), DType::BF16, m, kk, 128).unwrap();
    assert_eq!(q, want.q);
    assert_eq!(
        s.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
        want.scales.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
    );
}

/// A file of the repository: relative to the working directory (the GPU machine runs the staged test binary
/// from the repository root), else to this crate's folder.
fn repo_file(rel: &str) -> String {
    if std::path::Path::new(rel).exists() {
        rel.to_string()
    } else {
        format!("{}/{rel}", env!("CARGO_MANIFEST_DIR"))
    }
}

fn examples_dir() -> String {
    std::env::var("ISOLATE_EXAMPLES")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/examples").into())
}

/// `isolate ARGS --json FILE` in this process: (exit code, JSON).
fn cli_json(args: &[&str]) -> (i32, serde_json::Value) {
    use clap::Parser;
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("out.json");
    let mut v: Vec<&str> = vec!["isolate"];
    v.extend_from_slice(args);
    v.extend_from_slice(&["--json", json.to_str().unwrap()]);
    let code = isolate::cli::run(isolate::cli::Cli::parse_from(&v))
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    let j = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    (code, j)
}

fn demo_gemm(target: &str, reference: &str) -> (i32, serde_json::Value) {
    let demo = repo_file("fixtures/demo/gemm_drift.safetensors");
    cli_json(&[
        "gemm",
        "--backend",
        "cuda",
        "--input",
        &demo,
        "--target-quant",
        "deepgemm-ue8m0",
        "--ref-quant",
        "deepgemm-ue8m0",
        "--target-gemm",
        target,
        "--ref-gemm",
        reference,
    ])
}

/// The bundled demo's target_out is torch._scaled_mm with 1×128 / 128×128 block scales (cuBLASLt on an H100,
/// bf16 out). Replayed with `--target-gemm cublaslt` (our cuBLASLt call, f32 out rounded by isolate), path A
/// should be that same GEMM; the test records what the card gives.
#[test]
fn cublaslt_replays_the_demo_target_out() {
    let Some(_b) = gpu() else { return };
    let (code, j) = demo_gemm("cublaslt", "blockwise");
    let a = &j["sanity"]["a_vs_target"];
    eprintln!(
        "note: cublaslt vs demo target_out: bitwise {} byte_equal {} max_abs {} cos {}; verdict {} (exit {code})",
        j["sanity"]["a_reproduces_target"], a["byte_equal"], a["max_abs"], a["cos"], j["verdict"]
    );
    assert_eq!(j["paths"]["A"]["gemm"], "cublaslt");
    assert_eq!(j["sanity"]["b_reproduces_ref"], true, "{j}");
    assert!(a["cos"].as_f64().unwrap() > 0.999_999, "{j}");
    // Measured on the H100 the demo was made on (kernels/NOTES.md): bit for bit, so the verdict `gemm` is
    // not provisional. Other cards may pick another cuBLASLt algorithm; there the figures are only printed.
    if _b.info.name.contains("H100") {
        assert_eq!(j["sanity"]["a_reproduces_target"], true, "{j}");
        assert_eq!(j["sanity"]["provisional"], false, "{j}");
        assert_eq!((code, j["verdict"].as_str()), (1, Some("gemm")), "{j}");
    }
}

/// Diagnostic beside the test above: cuBLASLt writing bf16 itself (its own epilogue, as torch asks) against
/// isolate's rounding of its f32 output, and both against the demo's target_out.
#[test]
fn cublaslt_bf16_epilogue_equals_isolates_rounding() {
    use isolate::backend::cuda::cublaslt::LtGemm;
    use isolate::gemm::load;
    use isolate::io::Roles;
    use isolate::quant::{quantize_activation, QuantSpec};
    let Some(b) = gpu() else { return };
    let files =
        isolate::io::load_all(&[repo_file("fixtures/demo/gemm_drift.safetensors").into()]).unwrap();
    let roles = Roles::new(files, &[], &["x", "w", "ws", "target_out"]).unwrap();
    let x = quantize_activation(
        &QuantSpec::parse("deepgemm-ue8m0").unwrap(),
        roles.get("x").unwrap(),
    )
    .unwrap();
    let w = load::weight(
        roles.get("w").unwrap(),
        roles.get("ws").unwrap(),
        isolate::formats::Fp8Format::E4m3fn,
    )
    .unwrap();
    let t = roles.get("target_out").unwrap().to_f32();
    let direct = LtGemm::new(&b, &x, &w, true).unwrap().run_host(&b).unwrap();
    let f32out = LtGemm::new(&b, &x, &w, false)
        .unwrap()
        .run_host(&b)
        .unwrap();
    let rounded: Vec<f32> = f32out
        .iter()
        .map(|v| half::bf16::from_f32(*v).to_f32())
        .collect();
    let eq = |p: &[f32], q: &[f32]| {
        p.iter()
            .zip(q)
            .filter(|(a, b)| a.to_bits() == b.to_bits())
            .count()
    };
    eprintln!(
        "note: n {}: bf16 epilogue == target_out {}, rounded f32 == target_out {}, epilogue == rounded {}",
        t.len(),
        eq(&direct, &t),
        eq(&rounded, &t),
        eq(&direct, &rounded)
    );
    assert_eq!(direct.len(), t.len());
}

/// `tc` (WGMMA, promotion every 128 K) through `isolate gemm` on the demo: close to the exact blockwise
/// reference; `--fingerprint` on the GPU ranks tc and cublaslt, and skips tc-fast-accum (block scales) with
/// the reason.
#[test]
fn tc_in_isolate_gemm_and_gpu_variants_in_the_fingerprint() {
    let Some(_b) = gpu() else { return };
    let (_, j) = demo_gemm("tc", "blockwise");
    assert_eq!(j["paths"]["A"]["gemm"], "tc");
    assert!(j["a_vs_b"]["cos"].as_f64().unwrap() > 0.999_999, "{j}");
    let demo = repo_file("fixtures/demo/gemm_drift.safetensors");
    let (_, f) = cli_json(&[
        "gemm",
        "--fingerprint",
        "--backend",
        "cuda",
        "--input",
        &demo,
        "--target-quant",
        "deepgemm-ue8m0",
    ]);
    let ranked: Vec<&str> = f["ranking"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["variant"].as_str().unwrap())
        .collect();
    eprintln!("note: fingerprint ranking: {ranked:?}");
    assert!(
        ranked.contains(&"tc") && ranked.contains(&"cublaslt"),
        "{f}"
    );
    let skipped = f["skipped"].as_array().unwrap();
    assert!(
        skipped.iter().any(|s| s["variant"] == "tc-fast-accum"
            && s["reason"]
                .as_str()
                .unwrap()
                .contains("must not change along K")),
        "{f}"
    );
}

/// The example user GEMM kernel (examples/gemm_blockwise.cu, GEMM ABI v1, NVRTC) equals the blockwise preset
/// bit for bit: on random operands of awkward shapes (f32 and bf16 out, e4m3fn and e4m3fnuz), refusing e5m2
/// as unwritten outputs, and end to end through `isolate gemm --target-gemm kernel:...` on the demo.
#[test]
fn example_gemm_kernel_equals_blockwise() {
    use isolate::backend::cuda::{user::KernelRef, user_gemm};
    use isolate::formats::Fp8Format;
    use isolate::gemm::{gemm, GemmSpec, Operand, OutType};
    let Some(b) = gpu() else { return };
    let k = KernelRef::parse(&format!("kernel:{}/gemm_blockwise.cu", examples_dir())).unwrap();
    let mut rng = selftest::data::Rng::new(21);
    for (m, n, kk, fmt) in [
        (70, 200, 512, Fp8Format::E4m3fn),
        (1, 64, 128, Fp8Format::E4m3fn),
        (130, 129, 384, Fp8Format::E4m3fnuz),
    ] {
        let a = selftest::data::random_quantized(&mut rng, m, kk, (1, 128), fmt, false);
        let w = selftest::data::random_quantized(&mut rng, n, kk, (128, 128), fmt, false);
        for (out, spec) in [
            (OutType::F32, "blockwise,out=f32"),
            (OutType::Bf16, "blockwise"),
        ] {
            let got = user_gemm::run(&b, &k, &a, &w, out).unwrap();
            let (oa, ow): (Operand, Operand) = (a.clone().into(), w.clone().into());
            let want = gemm(&GemmSpec::parse(spec).unwrap(), &oa, &ow).unwrap();
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(
                bits(&got.values),
                bits(&want.values),
                "{m}x{n}x{kk} {fmt:?} {spec}"
            );
        }
    }
    let a = selftest::data::random_quantized(&mut rng, 8, 128, (1, 128), Fp8Format::E5m2, true);
    let w = selftest::data::random_quantized(&mut rng, 8, 128, (128, 128), Fp8Format::E5m2, true);
    let e = user_gemm::run(&b, &k, &a, &w, OutType::Bf16)
        .unwrap_err()
        .to_string();
    assert!(e.contains("left 64 of 64 outputs unwritten"), "{e}");

    let kernel = format!("kernel:{}/gemm_blockwise.cu", examples_dir());
    for (t, r) in [
        (kernel.clone(), "blockwise"),
        (format!("{kernel},out=f32"), "blockwise,out=f32"),
    ] {
        let (code, j) = demo_gemm(&t, r);
        assert_eq!((code, j["verdict"].as_str()), (0, Some("none")), "{j}");
        assert_eq!(j["a_vs_b"]["bitwise"], true);
    }
}

#[test]
fn fingerprint_best_variants_reproduce_the_real_dump_on_the_gpu() {
    use isolate::experiment::fingerprint::{fingerprint, Dump};
    use isolate::experiment::fingerprint_gpu::gpu_check;
    use isolate::quant::cpu::to_matrix;
    use isolate::quant::layout::{payload_bytes, payload_format, read_scales, XsLayout};
    let Some(b) = gpu() else { return };
    let a = isolate::io::load(std::path::Path::new(&repo_file(
        "fixtures/minilm/ffn_act.safetensors",
    )))
    .unwrap();
    let d = isolate::io::load(std::path::Path::new(&repo_file(
        "fixtures/minilm/ffn_act_q.safetensors",
    )))
    .unwrap();
    let (x, xq, xs) = (
        a.get("x").unwrap(),
        d.get("xq").unwrap(),
        d.get("xs").unwrap(),
    );
    let (m, k, xv) = to_matrix(x, "x").unwrap();
    let fmt = payload_format(xq, None, None).unwrap();
    let q = payload_bytes(xq, m, k).unwrap();
    let scales = read_scales(xs, XsLayout::Row, m, k / 128).unwrap();
    let f = fingerprint(&Dump {
        x: &xv,
        rows: m,
        cols: k,
        q,
        fmt,
        scales: &scales.values,
        codes: scales.codes.as_deref(),
        group: 128,
    });
    assert!(f.reproduced());
    let c = gpu_check(&b, &f, x, q, &scales.values, 16).unwrap();
    assert_eq!(c.checked, 16);
    assert_eq!(c.reproduce, 16, "{}", c.line());
    assert!(
        c.disagree.is_empty() && c.refused.is_empty(),
        "{}",
        c.line()
    );
}

/// `isolate gemm --backend cuda` quantizes x (1×128) and a bf16 w (128×128) on the GPU and runs the block-exact
/// GEMMs there: its `--save` file (A, B, C1, C2, both quantized activations) must be the CPU's byte for byte.
/// x is the demo's real MiniLM activation; w is a bf16 weight with outliers, zero blocks and tiny blocks.
#[test]
fn isolate_gemm_on_cuda_saves_the_cpus_bytes() {
    use isolate::formats::DType;
    use isolate::io::{safetensors_io, Tensor};
    use rand::{Rng, SeedableRng};
    if gpu().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let demo = isolate::io::load(std::path::Path::new(&repo_file(
        "fixtures/demo/quant_drift.safetensors",
    )))
    .unwrap();
    let x = demo.get("x").unwrap().clone();
    let (n, k) = (256, x.shape[1]);
    let mut rng = rand::rngs::StdRng::seed_from_u64(5);
    let w: Vec<u8> = (0..n * k)
        .flat_map(|i| {
            let u: f64 = rng.random_range(-0.5..0.5);
            let v = match (i / k / 128, i % k / 128) {
                (0, 3) => 0.0,                  // an all-zero block
                (1, 5) => u * 1e-30,            // a block of tiny values
                _ if i % 997 == 0 => u * 900.0, // outliers
                _ => u * 0.05,
            };
            half::bf16::from_f64(v).to_le_bytes()
        })
        .collect();
    let input = dir.path().join("in.safetensors");
    let w = Tensor::new("w", DType::BF16, vec![n, k], w).unwrap();
    safetensors_io::write(&input, &[x, w], None).unwrap();
    let saved: Vec<isolate::io::TensorFile> = ["cuda", "cpu"]
        .iter()
        .map(|be| {
            let out = dir.path().join(format!("{be}.safetensors"));
            let args = [
                "isolate",
                "gemm",
                "--backend",
                be,
                "--input",
                input.to_str().unwrap(),
                "--target-quant",
                "torch-e8m0",
                "--ref-quant",
                "deepgemm-ue8m0",
                "--target-gemm",
                "blockwise",
                "--ref-gemm",
                "blockwise,out=f32",
                "--weight-quant",
                "vllm-ue8m0",
                "--save",
                out.to_str().unwrap(),
            ];
            use clap::Parser;
            isolate::cli::run(isolate::cli::Cli::parse_from(args)).unwrap();
            isolate::io::load(&out).unwrap()
        })
        .collect();
    let names: Vec<&str> = saved[0].tensors.iter().map(|t| t.name.as_str()).collect();
    assert!(names.len() >= 8, "saved tensors: {names:?}");
    for g in &saved[0].tensors {
        let c = saved[1].get(&g.name).unwrap();
        assert_eq!((g.dtype, &g.shape), (c.dtype, &c.shape), "{}", g.name);
        let first = g.bytes().iter().zip(c.bytes()).position(|(a, b)| a != b);
        assert!(
            first.is_none(),
            "{}: GPU and CPU differ first at byte {first:?}",
            g.name
        );
    }
    assert!(
        std::fs::read(&saved[0].path).unwrap() == std::fs::read(&saved[1].path).unwrap(),
        "the saved files differ outside the tensor data"
    );
}
