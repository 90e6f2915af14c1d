//! `isolate fingerprint` end to end on dumps of the bundled real activation.

use isolate::formats::DType;
use isolate::io::Tensor;
use isolate::quant::scale::e8m0_code_of;

use crate::common::{isolate, s};
use crate::quant_util::*;

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
    let j = o.json();
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
    let j = isolate(&[
        "fingerprint",
        "--input",
        REAL,
        "--input",
        s(&p),
        "--json",
        "-",
    ])
    .json();
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
    let j = isolate(&[
        "fingerprint",
        "--input",
        REAL,
        "--input",
        s(&p),
        "--xs-layout",
        "packed-ue8m0",
        "--json",
        "-",
    ])
    .json();
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

#[test]
fn backend_cuda_without_a_gpu_is_one_line_and_exit_2() {
    let out = isolate(&[
        "fingerprint",
        "--backend",
        "cuda",
        "--input",
        "fixtures/minilm/ffn_act.safetensors",
        "--input",
        "fixtures/minilm/ffn_act_q.safetensors",
    ]);
    if isolate::backend::cuda::probe::driver().is_ok() {
        return; // a GPU machine: covered by tests/gpu.rs
    }
    assert_eq!(out.code, 2);
    let err = &out.stderr;
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("--backend cuda") && !err.contains("panicked"),
        "{err}"
    );
}
