//! Bad inputs to `isolate quant` and `isolate fingerprint` (spec strings, roles, files, dtypes, shapes, scale
//! layouts, FP8 formats): each is one line on stderr and exit 2 (docs/contract.md §3, §4).

use std::path::Path;

use isolate::formats::DType;
use isolate::io::Tensor;

use crate::common::{bad, s};
use crate::quant_util::*;

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
    // Row-major scales declared col no longer fail: the layout fingerprint reads them as row, names the
    // mistake and exits 1 (docs/contract.md §6.8). Garbage scales in a shape no layout takes still exit 2.
    let e = d("e.safetensors", &[xq.clone(), xs.clone()]);
    let r = crate::common::isolate(&[
        "quant",
        "--input",
        REAL,
        "--input",
        s(&e),
        "--reference",
        "deepgemm-ue8m0",
        "--candidate",
        "dumped",
        "--xs-layout",
        "col",
    ]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout
            .contains("layout: xs is transposed: 100 % of groups consistent as row"),
        "{}",
        r.stdout
    );
    let junk = Tensor::from_f32("xs", vec![m + 1, ng], &vec![1.0; (m + 1) * ng]).unwrap();
    dumped(
        &d("e2.safetensors", &[xq.clone(), junk]),
        &["--xs-layout", "col"],
        &["xs", "--xs-layout col"],
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
