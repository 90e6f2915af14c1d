//! The README demo: real MiniLM activations (fixtures/minilm/ffn_act.safetensors) and what DeepGEMM and vLLM
//! dump for them on an H100 (fixtures/minilm/ffn_act_q.safetensors, made by fixtures/gen/quant_golden.py).

use crate::common::isolate;

const X: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/fixtures/minilm/ffn_act.safetensors"
);
const Q: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/fixtures/minilm/ffn_act_q.safetensors"
);

fn quant(reference: &str, extra: &[&str]) -> i32 {
    let mut a = vec![
        "quant",
        "--input",
        X,
        "--input",
        Q,
        "--reference",
        reference,
        "--candidate",
        "dumped",
    ];
    a.extend_from_slice(extra);
    let o = isolate(&a);
    assert!(
        o.code == 0 || o.code == 1,
        "{reference} {extra:?}: {}{}",
        o.stdout,
        o.stderr
    );
    o.code
}

#[test]
fn deepgemm_dump_in_every_layout_passes_deepgemm_and_fails_nearest() {
    assert_eq!(quant("deepgemm-ue8m0", &[]), 0);
    assert_eq!(quant("deepgemm-ue8m0", &["--name", "xs=xs_e8m0"]), 0);
    assert_eq!(
        quant(
            "deepgemm-ue8m0",
            &["--name", "xs=xs_tma", "--xs-layout", "tma"]
        ),
        0
    );
    assert_eq!(
        quant(
            "deepgemm-ue8m0",
            &["--name", "xs=xs_packed", "--xs-layout", "packed-ue8m0"]
        ),
        0
    );
    assert_eq!(quant("torch-e8m0", &[]), 1);
}

#[test]
fn vllm_dump_passes_vllm_and_fails_deepgemm() {
    let v = ["--name", "xq=xq_vllm", "--name", "xs=xs_vllm"];
    assert_eq!(quant("vllm", &v), 0);
    assert_eq!(quant("deepgemm", &v), 1);
}

#[test]
fn fingerprints_of_the_real_dumps() {
    let o = isolate(&["fingerprint", "--input", X, "--input", Q, "--json", "-"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let j = o.json();
    let best: Vec<&str> = j["best"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(best.contains(&"deepgemm-ue8m0"), "{best:?}");
    assert!(j["undetermined"]["pow2"]["values"]
        .as_array()
        .unwrap()
        .contains(&"float-ceil".into()));
    let o = isolate(&[
        "fingerprint",
        "--input",
        X,
        "--input",
        Q,
        "--name",
        "xq=xq_vllm",
        "--name",
        "xs=xs_vllm",
        "--json",
        "-",
    ]);
    assert_eq!(o.code, 0);
    let j = o.json();
    assert_eq!(j["proven"]["scale"], "div");
    assert_eq!(j["proven"]["q"], "div");
    assert_eq!(j["best"][0], "vllm");
}
