//! `isolate gemm` and `isolate gemm fingerprint` through the binary: verdicts, JSON fields, exit codes, and
//! one clear line (exit 2) for each kind of bad input.

use std::path::{Path, PathBuf};

use isolate::formats::{DType, Fp8Format};
use isolate::gemm::{gemm, GemmSpec, Operand};
use isolate::io::{safetensors_io, Tensor};
use isolate::quant::Quantized;
use isolate::testdata::{quantized, Scales};

use crate::common::isolate;

fn codes(name: &str, q: &Quantized) -> Tensor {
    Tensor::new(name, DType::F8E4M3FN, vec![q.rows, q.cols], q.q.clone()).unwrap()
}

fn scales(name: &str, q: &Quantized) -> Tensor {
    let (r, c) = q.grid();
    Tensor::from_f32(name, vec![r, c], &q.scales).unwrap()
}

fn out(spec: &str, a: &Quantized, b: &Quantized, name: &str) -> Tensor {
    let (a, b): (Operand, Operand) = (a.clone().into(), b.clone().into());
    gemm(&GemmSpec::parse(spec).unwrap(), &a, &b)
        .unwrap()
        .to_tensor(name)
        .unwrap()
}

/// xq/xs (the target quantizer's activation), x (bf16: another quantizer's codes — one code in 16 moved one
/// step — dequantized), w/ws, w2/ws2 (a weight with another K), and target_out made by `target_spec`.
fn dump(dir: &Path, target_spec: &str, k: usize) -> PathBuf {
    let xq = quantized(6, k, (1, 128), Fp8Format::E4m3fn, Scales::Any, 1);
    let mut xr = xq.clone();
    for c in xr.q.iter_mut().step_by(16) {
        if *c & 0x7F < 0x7D {
            *c += 1;
        }
    }
    let w = quantized(80, k, (128, 128), Fp8Format::E4m3fn, Scales::Any, 2);
    let w2 = quantized(80, k - 128, (128, 128), Fp8Format::E4m3fn, Scales::Any, 5);
    let x: Vec<u8> = (0..xr.rows * xr.cols)
        .flat_map(|i| {
            half::bf16::from_f32(xr.dequant(i / xr.cols, i % xr.cols))
                .to_bits()
                .to_le_bytes()
        })
        .collect();
    let t = vec![
        codes("xq", &xq),
        scales("xs", &xq),
        Tensor::new("x", DType::BF16, vec![xr.rows, xr.cols], x).unwrap(),
        codes("w", &w),
        scales("ws", &w),
        codes("w2", &w2),
        scales("ws2", &w2),
        out(target_spec, &xq, &w, "target_out"),
    ];
    let p = dir.join("dump.safetensors");
    safetensors_io::write(&p, &t, None).unwrap();
    p
}

#[test]
fn fingerprint_finds_the_kernel_that_made_target_out() {
    let d = tempfile::tempdir().unwrap();
    let p = dump(d.path(), "blockwise-v3", 512);
    let o = isolate(&[
        "gemm",
        "fingerprint",
        "--input",
        p.to_str().unwrap(),
        "--json",
        "-",
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let j = o.json();
    assert!(
        j["best"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v == "blockwise-v3"),
        "{}",
        j["best"]
    );
    assert_eq!(j["ranking"][0]["bitwise"], 1.0);
    assert_eq!(j["out"], "bf16");
    let text = isolate(&[
        "gemm",
        "fingerprint",
        "--input",
        p.to_str().unwrap(),
        "--top",
        "3",
    ])
    .stdout;
    assert!(
        text.contains("bit-exact: ") && text.contains("blockwise-v3"),
        "{text}"
    );
}

#[test]
fn verdicts_json_and_exit_codes() {
    let d = tempfile::tempdir().unwrap();
    let p = dump(d.path(), "blockwise", 512);
    let f = p.to_str().unwrap();
    let base = [
        "gemm",
        "--input",
        f,
        "--target-quant",
        "dumped",
        "--ref-quant",
        "dumped",
    ];
    // Same quantizer, same GEMM: none, exit 0; A reproduces target_out.
    let mut a = base.to_vec();
    a.extend([
        "--target-gemm",
        "blockwise",
        "--ref-gemm",
        "blockwise",
        "--json",
        "-",
    ]);
    let o = isolate(&a);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let j = o.json();
    assert_eq!(j["verdict"], "none");
    assert_eq!(j["sanity"]["a_reproduces_target"], true);
    assert_eq!(j["paths"]["C1"]["gemm"], "blockwise");
    assert!(j["paths"]["A"]["vs_target"]["cos"].is_number());
    // Different GEMM: gemm, exit 1.
    let mut g = base.to_vec();
    g.extend([
        "--target-gemm",
        "blockwise",
        "--ref-gemm",
        "exact",
        "--json",
        "-",
    ]);
    let o = isolate(&g);
    let j = o.json();
    assert_eq!((o.code, j["verdict"].as_str()), (1, Some("gemm")));
    assert!(j["shares"]["gemm"].as_f64().unwrap() > 0.8);
    // A different quantizer (the reference: x as it is, i.e. the other codes dequantized), same GEMM: quant.
    let save = d.path().join("paths.safetensors");
    let o = isolate(&[
        "gemm",
        "--input",
        f,
        "--target-quant",
        "dumped",
        "--ref-quant",
        "none",
        "--target-gemm",
        "blockwise",
        "--ref-gemm",
        "blockwise",
        "--save",
        save.to_str().unwrap(),
    ]);
    assert_eq!(o.code, 1, "{}", o.stderr);
    assert!(o.stdout.contains("verdict: quant"), "{}", o.stdout);
    assert!(
        o.stdout.contains("quant 1.000 (C2), gemm 0.000 (C1)"),
        "{}",
        o.stdout
    );
    let saved = isolate::io::load(&save).unwrap();
    let mut names: Vec<&str> = saved.tensors.iter().map(|t| t.name.as_str()).collect();
    names.sort();
    assert_eq!(
        names,
        ["A", "B", "C1", "C2", "x_ref", "xq_target", "xs_target"]
    );
    assert_eq!(saved.get("xq_target").unwrap().dtype, DType::F8E4M3FN);
    // A provisional verdict when A does not reproduce target_out.
    let mut pv = base.to_vec();
    pv.extend([
        "--target-gemm",
        "blockwise,promote=none,acc=trunc:13",
        "--ref-gemm",
        "exact",
    ]);
    let o = isolate(&pv);
    assert_eq!(o.code, 1);
    assert!(
        o.stdout.contains("provisional") && o.stdout.contains("APPROXIMATE"),
        "{}",
        o.stdout
    );
}

fn bad(args: &[&str], want: &str) {
    let o = isolate(args);
    let err = &o.stderr;
    assert_eq!(o.code, 2, "{args:?}: stdout {} stderr {err}", o.stdout);
    assert_eq!(err.lines().count(), 1, "{args:?}: one line expected: {err}");
    assert!(err.contains(want), "{args:?}: '{want}' not in: {err}");
}

#[test]
fn bad_inputs_are_one_line_and_exit_2() {
    let d = tempfile::tempdir().unwrap();
    let p = dump(d.path(), "blockwise", 512);
    let f = p.to_str().unwrap();
    let run = |extra: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = [
            "gemm",
            "--input",
            f,
            "--target-quant",
            "dumped",
            "--ref-quant",
            "dumped",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        v.extend(
            ["--target-gemm", "blockwise", "--ref-gemm", "exact"]
                .iter()
                .map(|s| s.to_string()),
        );
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let call = |extra: &[&str], want: &str| {
        let v = run(extra);
        let refs: Vec<&str> = v.iter().map(String::as_str).collect();
        bad(&refs, want);
    };
    call(&["--name", "xq=nope"], "--name xq=TENSOR");
    call(
        &["--name", "w=w2", "--name", "ws=ws2"],
        "inner dimensions disagree",
    );
    call(&["--name", "ws=xs"], "does not fit w [N, K] = [80, 512]");
    call(&["--name", "target_out=w"], "target_out");
    call(&["--name", "ws=none"], "--name ws=TENSOR");
    call(&["--name", "xs=ws"], "xs ('ws') has shape [1, 4]");
    let spec = |g: &str, want: &str| {
        bad(
            &[
                "gemm",
                "--input",
                f,
                "--target-quant",
                "dumped",
                "--ref-quant",
                "dumped",
                "--target-gemm",
                g,
                "--ref-gemm",
                "exact",
            ],
            want,
        )
    };
    spec(
        "blockwize",
        "blockwise, blockwise-v3, fast-accum, dequant-bf16, exact",
    );
    spec("blockwise,promote=7", "32, 64, 128, none");
    call(&["--fp8", "e3m4"], "--fp8 e3m4");
    call(&["--name", "colour=x"], "unknown role 'colour'");
    // The mode flag became a subcommand: the old spelling says what to type instead.
    bad(
        &["gemm", "--fingerprint", "--input", f],
        "is now a subcommand: isolate gemm fingerprint",
    );
    bad(
        &[
            "gemm",
            "--input",
            f,
            "--target-quant",
            "dumped",
            "--ref-quant",
            "none",
            "--name",
            "x=y",
            "--target-gemm",
            "exact",
            "--ref-gemm",
            "exact",
        ],
        "role 'x'",
    );

    // K not a multiple of the weight's 128-wide blocks.
    let xq = quantized(2, 300, (1, 100), Fp8Format::E4m3fn, Scales::Pow2, 3);
    let w = quantized(4, 300, (128, 128), Fp8Format::E4m3fn, Scales::Pow2, 4);
    let p2 = d.path().join("k300.safetensors");
    safetensors_io::write(
        &p2,
        &[
            codes("xq", &xq),
            scales("xs", &xq),
            codes("w", &w),
            scales("ws", &w),
        ],
        None,
    )
    .unwrap();
    bad(
        &[
            "gemm",
            "--input",
            p2.to_str().unwrap(),
            "--target-quant",
            "dumped",
            "--ref-quant",
            "dumped",
            "--target-gemm",
            "blockwise",
            "--ref-gemm",
            "exact",
        ],
        "K = 300 is not a multiple",
    );
    let o = isolate(&["gemm", "--input", f, "--target-quant", "dumped"]);
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(o.stderr.contains("--ref-quant"), "{}", o.stderr);

    // A 1-D weight, and an activation without rows (bf16 x quantized by a preset).
    let x = |rows: usize| {
        Tensor::new("x", DType::BF16, vec![rows, 256], vec![0x3f; rows * 512]).unwrap()
    };
    let w = |shape: Vec<usize>| {
        let n: usize = shape.iter().product();
        Tensor::new("w", DType::BF16, shape, vec![0x3c; n * 2]).unwrap()
    };
    for (name, t, want) in [
        (
            "w1d",
            vec![x(4), w(vec![256])],
            "a weight is a matrix [N, K]",
        ),
        ("m0", vec![x(0), w(vec![128, 256])], "no rows (M = 0)"),
    ] {
        let p = d.path().join(format!("{name}.safetensors"));
        safetensors_io::write(&p, &t, None).unwrap();
        bad(
            &[
                "gemm",
                "--backend",
                "cpu",
                "--input",
                p.to_str().unwrap(),
                "--target-quant",
                "torch-e8m0",
                "--ref-quant",
                "deepgemm-ue8m0",
                "--target-gemm",
                "blockwise",
                "--ref-gemm",
                "exact",
            ],
            want,
        );
    }
}

/// The real MiniLM-L6 layer-3 FFN down projection (fixtures/minilm): x bf16 [114, 1536], w e4m3fn + ws.
const MINILM: &str = "fixtures/minilm/ffn_act.safetensors";

#[test]
fn real_activation_planted_quantizer_and_gemm_differences() {
    // torch-e8m0 (nearest E8M0 scales, ATOM act_quant_inplace) vs deepgemm-ue8m0 (ceil), same GEMM: quant.
    let o = isolate(&[
        "gemm",
        "--input",
        MINILM,
        "--target-quant",
        "torch-e8m0",
        "--ref-quant",
        "deepgemm-ue8m0",
        "--target-gemm",
        "blockwise",
        "--ref-gemm",
        "blockwise",
        "--json",
        "-",
    ]);
    assert_eq!(o.code, 1, "{}", o.stderr);
    let j = o.json();
    assert_eq!(j["verdict"], "quant");
    assert_eq!(j["paths"]["A"]["quant"], "torch-e8m0");
    assert_eq!(j["paths"]["C1"]["vs_ref"]["bitwise"], true);
    // Same quantizer, an accumulation difference: gemm (attributed, and flagged as noise-level ✓).
    let o = isolate(&[
        "gemm",
        "--input",
        MINILM,
        "--target-quant",
        "deepgemm-ue8m0",
        "--ref-quant",
        "deepgemm-ue8m0",
        "--target-gemm",
        "blockwise,promote=none,acc=trunc:13",
        "--ref-gemm",
        "blockwise",
        "--json",
        "-",
    ]);
    assert_eq!(o.code, 1, "{}", o.stderr);
    let j = o.json();
    assert_eq!(
        (j["verdict"].as_str(), j["severity"].as_str()),
        (Some("gemm"), Some("✓"))
    );
    // A floating weight is quantized by --weight-quant (here: kept as it is with `none`).
    let d = tempfile::tempdir().unwrap();
    let f = isolate::io::load(Path::new(MINILM)).unwrap();
    let w = f.get("w").unwrap();
    let ws = f.get("ws").unwrap();
    let deq: Vec<f32> = (0..w.numel())
        .map(|i| w.get_f64(i) as f32 * ws.get_f64((i / 1536 / 128) * 12 + (i % 1536) / 128) as f32)
        .collect();
    let p = d.path().join("wf.safetensors");
    let x = f.get("x").unwrap().clone();
    safetensors_io::write(
        &p,
        &[x, Tensor::from_f32("w", vec![384, 1536], &deq).unwrap()],
        None,
    )
    .unwrap();
    let p = p.to_str().unwrap();
    let args = [
        "gemm",
        "--input",
        p,
        "--target-quant",
        "deepgemm-ue8m0",
        "--ref-quant",
        "none",
        "--target-gemm",
        "blockwise",
        "--ref-gemm",
        "exact",
    ];
    let o = isolate(&args);
    assert_eq!(o.code, 1, "{}", o.stderr);
    assert!(o.stdout.contains("verdict: "), "{}", o.stdout);
    let mut none = args.to_vec();
    none.extend(["--weight-quant", "none"]);
    assert_eq!(isolate(&none).code, 1);
    let mut badq = args.to_vec();
    badq.extend(["--weight-quant", "deepgem"]);
    bad(&badq, "--weight-quant");
    bad(
        &[
            "gemm",
            "--input",
            p,
            "--target-quant",
            "torch-e9m0",
            "--ref-quant",
            "none",
            "--target-gemm",
            "blockwise",
            "--ref-gemm",
            "exact",
        ],
        "--target-quant",
    );
}
