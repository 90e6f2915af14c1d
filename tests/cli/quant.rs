//! `isolate quant` end to end: the binary on the bundled real activation and on dumps written here, JSON
//! fields, exit codes, NaN reporting.

use isolate::formats::DType;
use isolate::io::Tensor;
use isolate::quant::scale::e8m0_code_of;

use crate::common::{bad, isolate, s};
use crate::quant_util::*;

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
    let j = isolate(&[
        "quant",
        "--input",
        REAL,
        "--reference",
        "deepgemm-ue8m0",
        "--candidate",
        "vllm-ue8m0",
        "--json",
        "-",
    ])
    .json();
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
    let j = o.json();
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
    let j = o.json();
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
    let j = o.json();
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
    let j = isolate(&[
        "quant",
        "--input",
        s(&p),
        "--reference",
        "deepgemm-ue8m0",
        "--candidate",
        "deepgemm-ue8m0",
        "--json",
        "-",
    ])
    .json();
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

/// `isolate quant --help` lists every preset and every axis a spec string takes.
#[test]
fn help_names_every_preset_and_axis() {
    let o = isolate(&["quant", "--help"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    for p in isolate::quant::presets::names() {
        assert!(o.stdout.contains(p), "{p} missing from quant --help");
    }
    for a in isolate::quant::spec::Axis::ALL {
        assert!(o.stdout.contains(&format!("{}=", a.name())), "{a:?}");
    }
}
