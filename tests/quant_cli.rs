//! `isolate quant` and `isolate fingerprint` end to end: the binary on the bundled real activation and on
//! dumps written here, JSON fields, exit codes, and every bad input of issue 3 (one line, exit 2).

use std::path::{Path, PathBuf};
use std::process::Command;

use isolate::formats::DType;
use isolate::io::{safetensors_io, Tensor};
use isolate::quant::scale::e8m0_code_of;
use isolate::quant::{quantize_activation, QuantSpec};

const REAL: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/fixtures/minilm/ffn_act.safetensors"
);

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

fn isolate(args: &[&str]) -> Out {
    let o = Command::new(env!("CARGO_BIN_EXE_isolate"))
        .args(args)
        .output()
        .expect("run isolate");
    Out {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

fn json(o: &Out) -> serde_json::Value {
    serde_json::from_str(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", o.stdout))
}

/// Asserts exit 2 with one line on stderr containing every `needle`.
fn bad(args: &[&str], needles: &[&str]) {
    let o = isolate(args);
    assert_eq!(
        o.code, 2,
        "{args:?}\nstdout: {}\nstderr: {}",
        o.stdout, o.stderr
    );
    assert_eq!(o.stderr.trim().lines().count(), 1, "one line: {}", o.stderr);
    assert!(!o.stderr.contains("panicked"), "{}", o.stderr);
    for n in needles {
        assert!(o.stderr.contains(n), "'{n}' not in: {}", o.stderr);
    }
}

fn write(dir: &Path, name: &str, tensors: &[Tensor]) -> PathBuf {
    let p = dir.join(name);
    safetensors_io::write(&p, tensors, None).unwrap();
    p
}

fn real_x() -> Tensor {
    safetensors_io::read(Path::new(REAL))
        .unwrap()
        .into_iter()
        .find(|t| t.name == "x")
        .unwrap()
}

/// A dump of `spec` on the real x: xq (e4m3fn) and f32 scales.
fn dump(spec: &str) -> (Tensor, Tensor, Vec<f32>) {
    let x = real_x();
    let q = quantize_activation(&QuantSpec::parse(spec).unwrap(), &x).unwrap();
    let (m, ng) = (q.rows, q.grid().1);
    let dt = match q.fmt {
        isolate::formats::Fp8Format::E4m3fn => DType::F8E4M3FN,
        isolate::formats::Fp8Format::E4m3fnuz => DType::F8E4M3FNUZ,
        isolate::formats::Fp8Format::E5m2 => DType::F8E5M2,
    };
    let xq = Tensor::new("xq", dt, vec![m, q.cols], q.q.clone()).unwrap();
    let xs = Tensor::from_f32("xs", vec![m, ng], &q.scales).unwrap();
    (xq, xs, q.scales)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn real_activation_poc_passes_and_fails() {
    let pass = isolate(&[
        "quant",
        "--input",
        REAL,
        "--reference",
        "deepgemm-ue8m0",
        "--candidate",
        "vllm-ue8m0",
    ]);
    assert_eq!(pass.code, 0, "{}{}", pass.stdout, pass.stderr);
    assert!(pass.stdout.contains("BYTE-EQUAL"), "{}", pass.stdout);
    let j = json(&isolate(&[
        "quant",
        "--input",
        REAL,
        "--reference",
        "deepgemm-ue8m0",
        "--candidate",
        "vllm-ue8m0",
        "--json",
        "-",
    ]));
    assert_eq!(j["byte_equal"], true);
    assert_eq!(j["q_match"], 1.0);
    assert_eq!(j["s_match"], 1.0);
    assert_eq!(j["mismatches"].as_array().unwrap().len(), 0);

    let fail = isolate(&[
        "quant",
        "--input",
        REAL,
        "--reference",
        "deepgemm-ue8m0",
        "--candidate",
        "torch-e8m0",
    ]);
    assert_eq!(fail.code, 1);
    assert!(
        fail.stdout.contains("scale differs by 2×"),
        "{}",
        fail.stdout
    );
    let o = isolate(&[
        "quant",
        "--input",
        REAL,
        "--reference",
        "deepgemm-ue8m0",
        "--candidate",
        "torch-e8m0",
        "--json",
        "-",
        "--show",
        "3",
    ]);
    assert_eq!(o.code, 1);
    let j = json(&o);
    assert_eq!(j["byte_equal"], false);
    let (qm, sm) = (
        j["q_match"].as_f64().unwrap(),
        j["s_match"].as_f64().unwrap(),
    );
    assert!(qm > 0.1 && qm < 0.99 && sm > 0.1 && sm < 0.99, "{qm} {sm}");
    let m = &j["mismatches"][0];
    for k in [
        "row",
        "col",
        "x",
        "ref_byte",
        "cand_byte",
        "ref_value",
        "cand_value",
        "ref_scale",
        "cand_scale",
    ] {
        assert!(!m[k].is_null(), "{k} in {m}");
    }
    assert_eq!(j["mismatches"].as_array().unwrap().len(), 3);
    assert_eq!(j["causes"][0]["cause"], "scale_pow2_1");
    // The listed scales really are 2× apart and the bytes really differ.
    assert_eq!(
        m["ref_scale"].as_f64().unwrap(),
        2.0 * m["cand_scale"].as_f64().unwrap()
    );
    assert_ne!(m["ref_byte"], m["cand_byte"]);

    // Divide vs multiply for fp32 scales.
    let o = isolate(&[
        "quant",
        "--input",
        REAL,
        "--reference",
        "deepgemm",
        "--candidate",
        "vllm",
        "--json",
        "-",
    ]);
    assert_eq!(o.code, 1);
    let j = json(&o);
    let causes: Vec<&str> = j["causes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["cause"].as_str().unwrap())
        .collect();
    assert!(causes.contains(&"scale_ulps"), "{causes:?}");
}

#[test]
fn dumped_candidate_in_every_scale_layout() {
    let dir = tempfile::tempdir().unwrap();
    let (xq, xs, scales) = dump("deepgemm-ue8m0");
    let (m, ng) = (xs.shape[0], xs.shape[1]);
    let codes: Vec<u8> = scales.iter().map(|v| e8m0_code_of(*v).unwrap()).collect();
    let col: Vec<f32> = (0..ng)
        .flat_map(|g| (0..m).map(move |i| (g, i)))
        .map(|(g, i)| scales[i * ng + g])
        .collect();
    let ma = m.div_ceil(4) * 4;
    let mut tma = vec![-1.0f32; ng * ma];
    let mut packed = vec![0u8; ng.div_ceil(4) * ma * 4];
    for i in 0..m {
        for g in 0..ng {
            tma[g * ma + i] = scales[i * ng + g];
            packed[((g / 4) * ma + i) * 4 + g % 4] = codes[i * ng + g];
        }
    }
    let files = [
        ("row_f32", xs.clone(), "row"),
        (
            "row_e8m0",
            Tensor::new("xs", DType::F8E8M0, vec![m, ng], codes.clone()).unwrap(),
            "row",
        ),
        (
            "col_f32",
            Tensor::from_f32("xs", vec![ng, m], &col).unwrap(),
            "col",
        ),
        (
            "tma_f32",
            Tensor::from_f32("xs", vec![ng, ma], &tma).unwrap(),
            "tma",
        ),
        (
            "packed",
            Tensor::new("xs", DType::I32, vec![ng.div_ceil(4), ma], packed).unwrap(),
            "packed-ue8m0",
        ),
    ];
    for (name, t, layout) in files {
        let p = write(dir.path(), &format!("{name}.safetensors"), &[xq.clone(), t]);
        let o = isolate(&[
            "quant",
            "--input",
            REAL,
            "--input",
            s(&p),
            "--reference",
            "deepgemm-ue8m0",
            "--candidate",
            "dumped",
            "--xs-layout",
            layout,
        ]);
        assert_eq!(o.code, 0, "{name}: {}{}", o.stdout, o.stderr);
        // The same dump against nearest rounding is not byte-equal.
        let o = isolate(&[
            "quant",
            "--input",
            REAL,
            "--input",
            s(&p),
            "--reference",
            "torch-e8m0",
            "--candidate",
            "dumped",
            "--xs-layout",
            layout,
        ]);
        assert_eq!(o.code, 1, "{name}");
    }
    // Raw u8 payload with --fp8, and a tampered byte found at its coordinate.
    let mut raw = xq.bytes().to_vec();
    raw[5 * 1536 + 77] ^= 1;
    let u8q = Tensor::new("layer3.q", DType::U8, vec![m, 1536], raw).unwrap();
    let p = write(dir.path(), "u8.safetensors", &[u8q, xs.renamed("layer3.s")]);
    let o = isolate(&[
        "quant",
        "--input",
        REAL,
        "--input",
        s(&p),
        "--name",
        "xq=layer3.q",
        "--name",
        "xs=layer3.s",
        "--reference",
        "deepgemm-ue8m0",
        "--candidate",
        "dumped",
        "--fp8",
        "e4m3fn",
        "--json",
        "-",
    ]);
    assert_eq!(o.code, 1, "{}", o.stderr);
    let j = json(&o);
    assert_eq!(j["mismatches"][0]["row"], 5);
    assert_eq!(j["mismatches"][0]["col"], 77);
    assert_eq!(j["causes"][0]["cause"], "one_code");
}

#[test]
fn nan_in_x_is_reported_or_rejected_per_source() {
    let dir = tempfile::tempdir().unwrap();
    let mut v = vec![0.5f32; 4 * 256];
    v[2 * 256 + 17] = f32::NAN;
    v[3 * 256 + 1] = f32::INFINITY;
    let p = write(
        dir.path(),
        "nan.safetensors",
        &[Tensor::from_f32("x", vec![4, 256], &v).unwrap()],
    );
    // DeepGEMM and vLLM define the result: the NaN is reported, the comparison runs.
    let o = isolate(&[
        "quant",
        "--input",
        s(&p),
        "--reference",
        "deepgemm-ue8m0",
        "--candidate",
        "vllm-ue8m0",
    ]);
    assert_eq!(o.code, 1, "{}{}", o.stdout, o.stderr);
    assert!(
        o.stdout
            .contains("1 NaN (first at row 2, col 17), 1 inf (first at row 3, col 1)"),
        "{}",
        o.stdout
    );
    let j = json(&isolate(&[
        "quant",
        "--input",
        s(&p),
        "--reference",
        "deepgemm-ue8m0",
        "--candidate",
        "deepgemm-ue8m0",
        "--json",
        "-",
    ]));
    assert_eq!(j["x_nonfinite"]["nan"], 1);
    assert_eq!(j["x_nonfinite"]["first_nan"], serde_json::json!([2, 17]));
    assert_eq!(j["byte_equal"], true);
    // TileLang/HIP sources do not: exit 2 naming the count and the coordinate.
    bad(
        &[
            "quant",
            "--input",
            s(&p),
            "--reference",
            "deepseek-v32",
            "--candidate",
            "vllm",
        ],
        &[
            "1 NaN (first at row 2, col 17)",
            "deepseek-v32",
            "nan=reject",
        ],
    );
    bad(
        &[
            "quant",
            "--input",
            s(&p),
            "--reference",
            "vllm",
            "--candidate",
            "aiter",
        ],
        &["1 NaN", "aiter"],
    );
}

#[test]
fn bad_inputs_exit_2_with_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let q = |r: &str, c: &str| {
        vec![
            "quant".to_string(),
            "--input".into(),
            REAL.into(),
            "--reference".into(),
            r.into(),
            "--candidate".into(),
            c.into(),
        ]
    };
    let run = |v: Vec<String>, needles: &[&str]| {
        bad(&v.iter().map(String::as_str).collect::<Vec<_>>(), needles)
    };
    run(
        q("deepgem", "vllm"),
        &["unknown quant preset 'deepgem'", "deepgemm-ue8m0"],
    );
    run(
        q("vllm,rounding=up", "vllm"),
        &["unknown axis 'rounding'", "pow2"],
    );
    run(
        q("vllm,pow2=up", "vllm"),
        &["bad value 'up' for pow2", "float-ceil"],
    );
    run(q("vllm", "vllm,group=0"), &["group"]);
    run(
        q("aiter", "aiter-fnuz"),
        &["e4m3fn", "e4m3fnuz", "cannot be compared"],
    );
    run(q("vllm", "vllm,group=64"), &["groups of 128", "64"]);
    run(q("none", "vllm"), &["none"]);
    // K not a multiple of the group: ffn_in has K = 384 = 3·128, so take group=256.
    run(
        vec![
            "quant".into(),
            "--input".into(),
            REAL.into(),
            "--name".into(),
            "x=ffn_in".into(),
            "--reference".into(),
            "vllm,group=256".into(),
            "--candidate".into(),
            "vllm,group=256".into(),
        ],
        &["K = 384", "256", "pad=yes"],
    );
    // Missing role, unknown role, bad --xs-layout, missing file.
    run(q("vllm", "dumped"), &["role 'xq'", "--name xq=TENSOR"]);
    bad(
        &[
            "quant",
            "--input",
            REAL,
            "--name",
            "y=x",
            "--reference",
            "vllm",
            "--candidate",
            "vllm",
        ],
        &["unknown role 'y'"],
    );
    bad(
        &[
            "quant",
            "--input",
            REAL,
            "--reference",
            "vllm",
            "--candidate",
            "dumped",
            "--xs-layout",
            "colmajor",
        ],
        &["--xs-layout", "packed-ue8m0"],
    );
    bad(
        &[
            "quant",
            "--input",
            "/nonexistent/x.safetensors",
            "--reference",
            "vllm",
            "--candidate",
            "vllm",
        ],
        &["/nonexistent/x.safetensors"],
    );
    // x of the wrong dtype.
    let p = write(
        dir.path(),
        "int.safetensors",
        &[Tensor::new("x", DType::I32, vec![2, 128], vec![0; 1024]).unwrap()],
    );
    bad(
        &[
            "quant",
            "--input",
            s(&p),
            "--reference",
            "vllm",
            "--candidate",
            "vllm",
        ],
        &["i32", "bf16, f16 or f32"],
    );

    // Dumps that cannot be right.
    let (xq, xs, _) = dump("deepgemm-ue8m0");
    let (m, ng) = (xs.shape[0], xs.shape[1]);
    let d = |name: &str, ts: &[Tensor]| write(dir.path(), name, ts);
    let dumped = |p: &Path, extra: &[&str], needles: &[&str]| {
        let mut a = vec![
            "quant",
            "--input",
            REAL,
            "--input",
            s(p),
            "--reference",
            "deepgemm-ue8m0",
            "--candidate",
            "dumped",
        ];
        a.extend_from_slice(extra);
        bad(&a, needles);
    };
    let short = Tensor::new("xq", DType::F8E4M3FN, vec![m, 1024], vec![0; m * 1024]).unwrap();
    dumped(
        &d("a.safetensors", &[short, xs.clone()]),
        &[],
        &["xq", "[114, 1024]", "[114, 1536]"],
    );
    let wrong_s = Tensor::from_f32("xs", vec![m, ng + 1], &vec![1.0; m * (ng + 1)]).unwrap();
    dumped(
        &d("b.safetensors", &[xq.clone(), wrong_s]),
        &[],
        &["xs", "[114, 13]", "[114, 12]"],
    );
    let bf = Tensor::new("xs", DType::BF16, vec![m, ng], vec![0; m * ng * 2]).unwrap();
    dumped(
        &d("c.safetensors", &[xq.clone(), bf]),
        &[],
        &["xs", "bf16", "f32 scales"],
    );
    let i32s = Tensor::new("xs", DType::I32, vec![m, ng], vec![0; m * ng * 4]).unwrap();
    dumped(
        &d("d.safetensors", &[xq.clone(), i32s]),
        &[],
        &["--xs-layout packed-ue8m0"],
    );
    dumped(
        &d("e.safetensors", &[xq.clone(), xs.clone()]),
        &["--xs-layout", "col"],
        &["--xs-layout row"],
    );
    dumped(
        &d("f.safetensors", &[xq.clone(), xs.clone()]),
        &["--fp8", "e5m2"],
        &["--fp8", "e5m2", "e4m3fn"],
    );
    let fnuz = xq.reinterpret(DType::F8E4M3FNUZ).unwrap();
    dumped(
        &d("g.safetensors", &[fnuz, xs.clone()]),
        &[],
        &["e4m3fnuz", "fp8=e4m3fn"],
    );
    let f32q = Tensor::from_f32("xq", vec![m, 1536], &vec![0.0; m * 1536]).unwrap();
    dumped(
        &d("h.safetensors", &[f32q, xs.clone()]),
        &[],
        &["xq", "f32", "FP8 payload"],
    );
    // Fingerprint: raw bytes need --fp8; an xs shape that fits no group.
    let raw = xq.reinterpret(DType::U8).unwrap();
    let p = d("i.safetensors", &[raw, xs.clone()]);
    bad(
        &["fingerprint", "--input", REAL, "--input", s(&p)],
        &["raw u8", "--fp8"],
    );
    let odd = Tensor::from_f32("xs", vec![m, 7], &vec![1.0; m * 7]).unwrap();
    let p = d("j.safetensors", &[xq.clone(), odd]);
    bad(
        &["fingerprint", "--input", REAL, "--input", s(&p)],
        &["xs", "[114, 7]"],
    );
    let p = d("k.safetensors", &[xq.clone(), xs.clone()]);
    bad(
        &[
            "fingerprint",
            "--input",
            REAL,
            "--input",
            s(&p),
            "--group",
            "0",
        ],
        &["--group"],
    );
}

#[test]
fn fingerprint_finds_the_rules_of_real_dumps() {
    let dir = tempfile::tempdir().unwrap();
    // DeepGEMM ue8m0 on bf16: ceil is proven against nearest/floor/even; q and the scale formula cannot be
    // told apart (power-of-two scales), and the data says so.
    let (xq, xs, _) = dump("deepgemm-ue8m0");
    let p = write(dir.path(), "dg.safetensors", &[xq, xs]);
    let o = isolate(&[
        "fingerprint",
        "--input",
        REAL,
        "--input",
        s(&p),
        "--json",
        "-",
        "--top",
        "5",
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let j = json(&o);
    assert_eq!(j["reproduced"], true);
    assert_eq!(j["group"], 128);
    assert_eq!(j["fp8"], "e4m3fn");
    let best: Vec<&str> = j["best"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for p in ["deepgemm-ue8m0", "deepseek-v32-ue8m0", "vllm-ue8m0"] {
        assert!(best.contains(&p), "{p} not in {best:?}");
    }
    assert!(!best.contains(&"torch-e8m0"));
    assert_eq!(j["ranking"].as_array().unwrap().len(), 5);
    assert_eq!(j["ranking"][0]["q_match"], 1.0);
    assert_eq!(j["ranking"][0]["s_match"], 1.0);
    assert!(j["undetermined"]["q"]["reason"]
        .as_str()
        .unwrap()
        .contains("power of two"));
    // ceil vs float-ceil: this data cannot separate them (no amax = 448·2^k for the measured k), and says so.
    let pow2 = &j["undetermined"]["pow2"];
    let vals: Vec<&str> = pow2["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(vals, ["ceil", "float-ceil"], "{j}");
    assert!(pow2["reason"].as_str().unwrap().contains("log2f"));
    let t = isolate(&["fingerprint", "--input", REAL, "--input", s(&p)]);
    assert!(
        t.stdout.contains("undetermined by this data"),
        "{}",
        t.stdout
    );
    assert!(t.stdout.contains("best:"), "{}", t.stdout);

    // vLLM fp32 scales: the scale formula (div) and q (div) are proven.
    let (xq, xs, _) = dump("vllm");
    let p = write(dir.path(), "v.safetensors", &[xq, xs]);
    let j = json(&isolate(&[
        "fingerprint",
        "--input",
        REAL,
        "--input",
        s(&p),
        "--json",
        "-",
    ]));
    assert_eq!(j["proven"]["scale"], "div");
    assert_eq!(j["proven"]["pow2"], "none");
    assert_eq!(j["best"][0], "vllm");

    // torch-e8m0 (nearest) in packed UE8M0 storage: nearest proven.
    let (xq, _, scales) = dump("torch-e8m0");
    let (m, ng) = (114, 12);
    let ma = 116;
    let mut packed = vec![0u8; 3 * ma * 4];
    for i in 0..m {
        for g in 0..ng {
            packed[((g / 4) * ma + i) * 4 + g % 4] = e8m0_code_of(scales[i * ng + g]).unwrap();
        }
    }
    let p = write(
        dir.path(),
        "t.safetensors",
        &[
            xq.clone(),
            Tensor::new("xs", DType::I32, vec![3, ma], packed).unwrap(),
        ],
    );
    let j = json(&isolate(&[
        "fingerprint",
        "--input",
        REAL,
        "--input",
        s(&p),
        "--xs-layout",
        "packed-ue8m0",
        "--json",
        "-",
    ]));
    assert_eq!(j["reproduced"], true, "{j}");
    assert_eq!(j["proven"]["pow2"], "nearest");

    // A dump no rule explains (one byte flipped): exit 1, the best variant misses one group.
    let mut raw = xq.bytes().to_vec();
    raw[100] ^= 0x01;
    let bent = Tensor::new("xq", DType::F8E4M3FN, vec![m, 1536], raw).unwrap();
    let (_, xs, _) = dump("torch-e8m0");
    let p = write(dir.path(), "bent.safetensors", &[bent, xs]);
    let o = isolate(&["fingerprint", "--input", REAL, "--input", s(&p)]);
    assert_eq!(o.code, 1, "{}", o.stderr);
    assert!(
        o.stdout.contains("no variant reproduces every group"),
        "{}",
        o.stdout
    );
}
