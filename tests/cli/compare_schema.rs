//! `compare schema` on synthetic weight dumps written here: prefixes, missing names, shape and dtype changes,
//! aiter-shuffled fp8 weights, e8m0 scales, tensor-parallel shards.

use std::path::{Path, PathBuf};

use isolate::formats::shuffle::shuffle_aiter16x16;
use isolate::formats::{e8m0, DType, E8m0Round, Fp8Format, Overflow};
use isolate::io::Tensor;
use serde_json::json;

use crate::common::{isolate, Run};
use crate::compare_util::*;

const N: usize = 32;
const K: usize = 64;

fn fp8(v: &[f32]) -> Vec<u8> {
    v.iter()
        .map(|&x| Fp8Format::E4m3fn.encode(x * 200.0, Overflow::Saturate))
        .collect()
}

fn weight() -> Vec<u8> {
    fp8(&values(N * K, 3))
}

/// ATOM side: `model.` prefix, shuffled fp8 weight, e8m0 scale, bf16 norm, [1, K] bias, a buffer, an extra.
fn side_a(shuffled: bool) -> Vec<Tensor> {
    let w = if shuffled {
        shuffle_aiter16x16(&weight(), &[N, K], 1).unwrap()
    } else {
        weight()
    };
    let norm: Vec<u8> = values(K, 4)
        .iter()
        .flat_map(|&x| half::bf16::from_f32(x).to_bits().to_le_bytes())
        .collect();
    vec![
        raw("model.layers.0.attn.wq.weight", DType::F8E4M3FN, &[N, K], w),
        raw(
            "model.layers.0.attn.wq.weight_scale",
            DType::F8E8M0,
            &[1, 1],
            vec![e8m0::encode(0.125, E8m0Round::Nearest)],
        ),
        raw("model.layers.0.norm.weight", DType::BF16, &[K], norm),
        f32t("model.layers.0.ffn.bias", &[1, K], &values(K, 5)),
        f32t("buffer:model.layers.0.rope.cos", &[8], &values(8, 6)),
        i64t("_tp_rank", &[0]),
        f32t("model.layers.0.only_a", &[4], &[1.0; 4]),
    ]
}

/// Reference side: plain names and layouts, f32 scale and norm.
fn side_b() -> Vec<Tensor> {
    vec![
        raw(
            "layers.0.attn.wq.weight",
            DType::F8E4M3FN,
            &[N, K],
            weight(),
        ),
        f32t("layers.0.attn.wq.weight_scale", &[1, 1], &[0.125]),
        f32t("layers.0.norm.weight", &[K], &values(K, 4)),
        f32t("layers.0.ffn.bias", &[K], &values(K, 5)),
        f32t("layers.0.rope.cos", &[8], &values(8, 6)),
        f32t("layers.0.only_b", &[4], &[1.0; 4]),
    ]
}

fn schema(a: &[&Path], b: &[&Path], extra: &[&str]) -> Run {
    let mut v: Vec<String> = vec![
        "compare".into(),
        "schema".into(),
        "--json".into(),
        "-".into(),
    ];
    for p in a {
        v.extend(["--a".into(), p.display().to_string()]);
    }
    for p in b {
        v.extend(["--b".into(), p.display().to_string()]);
    }
    v.extend(extra.iter().map(|s| s.to_string()));
    isolate(&v)
}

fn row<'a>(j: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    j["common"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == name)
        .unwrap_or_else(|| panic!("{name}: {j}"))
}

fn file(dir: &Path, name: &str, t: Vec<Tensor>) -> PathBuf {
    let p = dir.join(name);
    write(&p, t);
    p
}

#[test]
fn names_shapes_dtypes_and_unshuffled_bytes() {
    let d = tempfile::tempdir().unwrap();
    let a = file(
        d.path(),
        "atom_weight_rank0_layer0.safetensors",
        side_a(true),
    );
    let b = file(d.path(), "ref_weight_rank0_layer0.safetensors", side_b());
    let r = schema(&[&a], &[&b], &[]);
    let j = r.json();
    assert_eq!(r.code, 1);
    assert_eq!(j["only_a"], json!(["layers.0.only_a"]));
    assert_eq!(j["only_b"], json!(["layers.0.only_b"]));
    assert_eq!(j["shape_diff"], json!(["layers.0.ffn.bias"]));
    assert_eq!(
        j["dtype_diff"],
        json!(["layers.0.attn.wq.weight_scale", "layers.0.norm.weight"])
    );
    let names: Vec<&str> = j["common"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "layers.0.attn.wq.weight",
            "layers.0.attn.wq.weight_scale",
            "layers.0.ffn.bias",
            "layers.0.norm.weight",
            "layers.0.rope.cos"
        ]
    );
    // Shuffled bytes differ until unshuffled.
    assert_ne!(row(&j, "layers.0.attn.wq.weight")["status"], "bytes_equal");
    assert_eq!(
        row(&j, "layers.0.attn.wq.weight_scale")["status"],
        "values_equal"
    ); // e8m0 vs f32
    assert_eq!(row(&j, "layers.0.rope.cos")["status"], "bytes_equal"); // buffer:model. stripped
    let bias = row(&j, "layers.0.ffn.bias");
    assert_eq!(
        (bias["status"].as_str(), bias["value_equal"].as_f64()),
        (Some("shape_mismatch"), Some(1.0))
    );
    let norm = row(&j, "layers.0.norm.weight"); // bf16 vs f32: close, not equal
    assert_eq!(
        (norm["status"].as_str(), norm["ok"].as_bool()),
        (Some("✓"), Some(true))
    );
    let r = schema(&[&a], &[&b], &["--unshuffle", "aiter16x16"]);
    let j = r.json();
    let w = row(&j, "layers.0.attn.wq.weight");
    assert_eq!(w["status"], "bytes_equal", "{w}");
    assert!(w["notes"][0].as_str().unwrap().contains("unshuffled"));
    // The shuffled side can be B.
    let r = schema(
        &[&b],
        &[&a],
        &["--unshuffle", "aiter16x16", "--unshuffle-side", "b"],
    );
    assert_eq!(
        row(&r.json(), "layers.0.attn.wq.weight")["status"],
        "bytes_equal"
    );
    let text = isolate(&[
        "compare",
        "schema",
        "--a",
        a.to_str().unwrap(),
        "--b",
        b.to_str().unwrap(),
    ])
    .stdout;
    assert!(
        text.contains("only in A: 1, only in B: 1, common: 5"),
        "{text}"
    );
}

#[test]
fn equal_sides_pass_and_prefixes_are_options() {
    let d = tempfile::tempdir().unwrap();
    let a = file(d.path(), "a.safetensors", side_b());
    let b = file(d.path(), "b.safetensors", side_b());
    assert_eq!(schema(&[&a], &[&b], &[]).code, 0);
    let a2 = file(d.path(), "a2.safetensors", side_a(false));
    // With another prefix nothing is in common.
    schema(&[&a2], &[&a], &["--strip-prefix", "engine."])
        .assert_bad_input(&["no parameter names in common", "--strip-prefix"]);
    let j = schema(
        &[&a2],
        &[&a],
        &["--strip-prefix", "engine.", "--strip-prefix", "model."],
    )
    .json();
    assert_eq!(j["common"].as_array().unwrap().len(), 5);
}

#[test]
fn tensor_parallel_shards_are_concatenated() {
    let d = tempfile::tempdir().unwrap();
    let w = weight();
    let half = N / 2 * K;
    let shard = |i: usize, shuffled: bool| {
        let rows = w[i * half..(i + 1) * half].to_vec();
        let bytes = if shuffled {
            shuffle_aiter16x16(&rows, &[N / 2, K], 1).unwrap()
        } else {
            rows
        };
        vec![
            raw(
                "model.layers.0.attn.wq.weight",
                DType::F8E4M3FN,
                &[N / 2, K],
                bytes,
            ),
            f32t("model.layers.0.rope.cos", &[8], &values(8, 6)), // replicated on every rank
        ]
    };
    let full = file(
        d.path(),
        "full.safetensors",
        vec![
            raw(
                "layers.0.attn.wq.weight",
                DType::F8E4M3FN,
                &[N, K],
                w.clone(),
            ),
            f32t("layers.0.rope.cos", &[8], &values(8, 6)),
        ],
    );
    // Given out of order: weight_rank1 before weight_rank0 is put back in rank order (natural file order).
    let s1 = file(d.path(), "weight_rank1_layer0.safetensors", shard(1, false));
    let s0 = file(d.path(), "weight_rank0_layer0.safetensors", shard(0, false));
    schema(&[&s1, &s0], &[&full], &[]).assert_bad_input(&["layers.0.attn.wq.weight", "--tp-dim"]);
    let j = schema(&[&s1, &s0], &[&full], &["--tp-dim", "0"]).json();
    assert_eq!(row(&j, "layers.0.attn.wq.weight")["status"], "bytes_equal");
    assert_eq!(row(&j, "layers.0.attn.wq.weight")["a_shape"], json!([N, K]));
    assert!(row(&j, "layers.0.rope.cos")["notes"][0]
        .as_str()
        .unwrap()
        .contains("replicated"));
    assert_eq!(j["exit_code"], 0);
    // Each rank's local weight shuffled by aiter: unshuffled shard by shard, then concatenated.
    let t0 = file(d.path(), "sh_rank0.safetensors", shard(0, true));
    let t1 = file(d.path(), "sh_rank1.safetensors", shard(1, true));
    let j = schema(
        &[&t0, &t1],
        &[&full],
        &["--tp-dim", "0", "--unshuffle", "aiter16x16"],
    )
    .json();
    assert_eq!(row(&j, "layers.0.attn.wq.weight")["status"], "bytes_equal");
}

#[test]
fn bad_schema_inputs_exit_2() {
    let d = tempfile::tempdir().unwrap();
    let a = file(d.path(), "a.safetensors", side_b());
    schema(&[&a], &[&a], &["--unshuffle", "aiter32"]).assert_bad_input(&["--unshuffle aiter32"]);
    schema(
        &[&a],
        &[&a],
        &["--unshuffle", "aiter16x16", "--unshuffle-side", "c"],
    )
    .assert_bad_input(&["--unshuffle-side c"]);
    schema(&[&a], &[&d.path().join("missing.pt")], &[]).assert_bad_input(&["missing.pt"]);
    let junk = d.path().join("junk.pt");
    std::fs::write(&junk, b"hello").unwrap();
    schema(&[&a], &[&junk], &[]).assert_bad_input(&["junk.pt"]);
}
