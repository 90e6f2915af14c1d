//! The bundled `isolate gemm` demo (README's main job): real MiniLM activations, target/reference outputs made
//! with PyTorch on an H100 by fixtures/gen/gemm_demo.py. A planted quantizer difference must give `quant` with
//! both emulations reproducing their dumps bit for bit; the real cuBLASLt block-scaled GEMM against the
//! exact-partial-sum reference must give `gemm`, provisional, with no emulation bit-exact to cuBLAS.

use crate::common::isolate;

/// `isolate ARGS --json -`: (exit code, JSON), never a panic.
fn isolate_json(args: &[&str]) -> (i32, serde_json::Value) {
    let mut a = args.to_vec();
    a.extend(["--json", "-"]);
    let out = isolate(&a);
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    (out.code, out.json())
}

#[test]
fn planted_quantizer_difference_is_attributed_to_quant() {
    let (code, j) = isolate_json(&[
        "gemm",
        "--input",
        "fixtures/demo/quant_drift.safetensors",
        "--target-quant",
        "torch-e8m0",
        "--ref-quant",
        "deepgemm-ue8m0",
        "--target-gemm",
        "blockwise",
        "--ref-gemm",
        "blockwise",
    ]);
    assert_eq!(code, 1);
    assert_eq!(j["verdict"], "quant");
    assert_eq!(j["shares"]["quant"], 1.0);
    assert_eq!(j["shares"]["gemm"], 0.0);
    assert_eq!(j["severity"], "?");
    assert_eq!(j["sanity"]["a_reproduces_target"], true);
    assert_eq!(j["sanity"]["b_reproduces_ref"], true);
    assert_eq!(j["sanity"]["provisional"], false);
    assert_eq!(j["paths"]["B"]["vs_ref"]["cos"], 1.0);
    assert!(j["paths"]["A"]["vs_ref"]["cos"].as_f64().unwrap() < 0.9995);
    // The target's own dumped xq/xs replay the same way.
    let (code, j) = isolate_json(&[
        "gemm",
        "--input",
        "fixtures/demo/quant_drift.safetensors",
        "--target-quant",
        "dumped",
        "--ref-quant",
        "deepgemm-ue8m0",
        "--target-gemm",
        "blockwise",
        "--ref-gemm",
        "blockwise",
    ]);
    assert_eq!((code, j["verdict"].as_str()), (1, Some("quant")));
    assert_eq!(j["sanity"]["a_reproduces_target"], true);
}

#[test]
fn real_cublas_gemm_difference_is_attributed_to_gemm_provisionally() {
    let (code, j) = isolate_json(&[
        "gemm",
        "--input",
        "fixtures/demo/gemm_drift.safetensors",
        "--target-quant",
        "deepgemm-ue8m0",
        "--ref-quant",
        "deepgemm-ue8m0",
        "--target-gemm",
        "blockwise,promote=none,acc=trunc:13",
        "--ref-gemm",
        "blockwise",
    ]);
    assert_eq!(code, 1);
    assert_eq!(j["verdict"], "gemm");
    assert_eq!(j["severity"], "✓");
    assert_eq!(j["sanity"]["b_reproduces_ref"], true);
    assert_eq!(j["sanity"]["a_reproduces_target"], false);
    assert_eq!(j["sanity"]["provisional"], true);
    let (code, j) = isolate_json(&[
        "gemm",
        "fingerprint",
        "--input",
        "fixtures/demo/gemm_drift.safetensors",
        "--target-quant",
        "dumped",
    ]);
    // The bit-exact Hopper model (acc=sm90) reproduces cuBLASLt's block-scaled kernel: the fingerprint names it.
    assert_eq!(
        code, 0,
        "sm90-blockwise reproduces cuBLAS bit for bit: {}",
        j["ranking"][0]
    );
    assert_eq!(j["ranking"][0]["bitwise"].as_f64(), Some(1.0));
    let names: Vec<String> = j["ranking"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["bitwise"].as_f64() == Some(1.0))
        .map(|r| r.to_string())
        .collect();
    assert!(
        names.iter().any(|n| n.contains("sm90-blockwise")),
        "{names:?}"
    );
    // The fingerprint says which axes the data proved: the Hopper accumulator model is one of them.
    assert_eq!(j["proven"]["acc"], "sm90", "{}", j["proven"]);
    assert!(j["undetermined"].is_object(), "{}", j["undetermined"]);
    // …with the approximate trunc:13 model as the target, A does not reproduce it (provisional above); with the
    // bit-exact sm90-blockwise it does, and the verdict is no longer provisional.
    let (code, j) = isolate_json(&[
        "gemm",
        "--input",
        "fixtures/demo/gemm_drift.safetensors",
        "--target-quant",
        "deepgemm-ue8m0",
        "--ref-quant",
        "deepgemm-ue8m0",
        "--target-gemm",
        "sm90-blockwise",
        "--ref-gemm",
        "blockwise",
    ]);
    assert_eq!((code, j["verdict"].as_str()), (1, Some("gemm")));
    assert_eq!(j["sanity"]["a_reproduces_target"], true);
    assert_eq!(j["sanity"]["provisional"], false);
}

/// The noise envelope on the bundled demos: the quantizer difference is as large as FP8 quantization itself
/// (drift/floor ≈ 1 in the default band), the cuBLASLt-vs-blockwise difference is GEMM-order noise (≪ 1).
#[test]
fn envelope_reads_quant_drift_as_floor_and_gemm_drift_as_noise() {
    let run = |file: &str, tq: &str, tg: &str| {
        isolate_json(&[
            "gemm",
            "--input",
            file,
            "--target-quant",
            tq,
            "--ref-quant",
            "deepgemm-ue8m0",
            "--target-gemm",
            tg,
            "--ref-gemm",
            "blockwise",
        ])
        .1
    };
    let q = run(
        "fixtures/demo/quant_drift.safetensors",
        "torch-e8m0",
        "blockwise",
    );
    let e = &q["envelope"];
    assert_eq!(e["available"], true, "{e}");
    assert_eq!(e["reading"], "quantization", "{e}");
    let r = e["ratio"]["one_minus_cos"].as_f64().unwrap();
    assert!(r > 1.0 && r < 10.0, "{r}");
    // The drift is A vs B, the floor B vs the exact product.
    let d = e["drift"]["one_minus_cos"].as_f64().unwrap();
    let f = e["floor"]["one_minus_cos"].as_f64().unwrap();
    assert!((d / f - r).abs() <= 1e-12 * r);
    assert_eq!(e["gemm_order"]["available"], true);
    assert_eq!(e["gemm_order"]["drift_within"], false);
    let g = run(
        "fixtures/demo/gemm_drift.safetensors",
        "deepgemm-ue8m0",
        "sm90-blockwise",
    );
    let e = &g["envelope"];
    assert_eq!(e["reading"], "noise", "{e}");
    assert!(e["ratio"]["one_minus_cos"].as_f64().unwrap() < 0.1);
    // The same floor: same reference path, same x.
    assert_eq!(e["floor"], q["envelope"]["floor"]);
}

/// Operands that cannot give an exact product: the envelope is unavailable with the reason, never a crash.
#[test]
fn envelope_unavailable_without_x_or_with_nan() {
    use isolate::io::Tensor;
    let d = tempfile::tempdir().unwrap();
    let f = isolate::io::load(std::path::Path::new(
        "fixtures/demo/quant_drift.safetensors",
    ))
    .unwrap();
    let keep: Vec<Tensor> = ["xq", "xs", "w", "ws"]
        .iter()
        .map(|n| f.get(n).unwrap().clone())
        .collect();
    let no_x = d.path().join("no_x.safetensors");
    isolate::io::safetensors_io::write(&no_x, &keep, None).unwrap();
    let (code, j) = isolate_json(&[
        "gemm",
        "--input",
        no_x.to_str().unwrap(),
        "--target-quant",
        "dumped",
        "--ref-quant",
        "dumped",
        "--target-gemm",
        "sm90-blockwise",
        "--ref-gemm",
        "blockwise",
    ]);
    assert_eq!(code, 1);
    assert_eq!(j["envelope"]["available"], false);
    assert!(
        j["envelope"]["reason"].as_str().unwrap().contains("no `x`"),
        "{}",
        j["envelope"]
    );
    // x with a NaN.
    let x = f.get("x").unwrap();
    let mut v = x.to_f32();
    v[5] = f32::NAN;
    let mut with_nan = keep.clone();
    with_nan.push(Tensor::from_f32("x", x.shape.clone(), &v).unwrap());
    let nan_x = d.path().join("nan_x.safetensors");
    isolate::io::safetensors_io::write(&nan_x, &with_nan, None).unwrap();
    let (code, j) = isolate_json(&[
        "gemm",
        "--input",
        nan_x.to_str().unwrap(),
        "--target-quant",
        "dumped",
        "--ref-quant",
        "dumped",
        "--target-gemm",
        "sm90-blockwise",
        "--ref-gemm",
        "blockwise",
    ]);
    assert_eq!(code, 1);
    let reason = j["envelope"]["reason"].as_str().unwrap();
    assert!(reason.contains("NaN/inf"), "{reason}");
}
