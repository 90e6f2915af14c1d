//! `blockwise`, `blockwise-v3` and `exact` bit for bit against the independent PyTorch implementation of
//! fixtures/gen/gemm_golden.py (run on the GPU machine), recomputed here from the same quantized operands.

use std::path::Path;

use isolate::formats::{DType, Fp8Format};
use isolate::gemm::{gemm, GemmSpec, Operand};
use isolate::io::{self, Tensor, TensorFile};
use isolate::metrics::compare;
use isolate::quant::Quantized;

use crate::common::fixture;

/// `fixtures/REL`.
fn load(rel: &str) -> TensorFile {
    let path = fixture(rel);
    io::load(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run fixtures/gen/gemm_golden.py)", path.display()))
}

fn get<'a>(f: &'a TensorFile, name: &str) -> &'a Tensor {
    f.get(name)
        .unwrap_or_else(|| panic!("{}: no tensor '{name}'", f.path.display()))
}

/// An e4m3fn operand from codes [rows, cols] and f32 scales on a (br × 128) grid.
fn operand(q: &Tensor, s: &Tensor, br: usize) -> Operand {
    assert_eq!(q.dtype, DType::F8E4M3FN, "{}", q.name);
    Operand::Quantized(Quantized {
        rows: q.shape[0],
        cols: q.shape[1],
        fmt: Fp8Format::E4m3fn,
        q: q.bytes().to_vec(),
        block_rows: br,
        block_cols: 128,
        scales: s.to_f32(),
    })
}

/// FNV-1a 64 of bytes (the script records it for the weight it used).
fn fnv1a64(b: &[u8]) -> String {
    let mut h: u64 = 0xCBF2_9CE4_8422_2325;
    for &x in b {
        h = (h ^ x as u64).wrapping_mul(0x0100_0000_01B3);
    }
    format!("{h:016x}")
}

/// A `__metadata__` entry of a safetensors file (read from its JSON header).
fn metadata(path: &Path, key: &str) -> Option<String> {
    let b = std::fs::read(path).ok()?;
    let n = u64::from_le_bytes(b[..8].try_into().ok()?) as usize;
    let v: serde_json::Value = serde_json::from_slice(&b[8..8 + n]).ok()?;
    v["__metadata__"][key].as_str().map(str::to_string)
}

fn check_outputs(golden: &TensorFile, a: &Operand, b: &Operand) {
    for (name, spec) in [
        ("blockwise", "blockwise"),
        ("blockwise_f32", "blockwise,out=f32"),
        ("blockwise_v3", "blockwise-v3"),
        ("exact", "exact"),
    ] {
        let want = get(golden, name);
        let got = gemm(&GemmSpec::parse(spec).unwrap(), a, b)
            .unwrap()
            .to_tensor(name)
            .unwrap();
        assert_eq!((got.dtype, &got.shape), (want.dtype, &want.shape), "{name}");
        let c = compare(&got, want).unwrap();
        assert!(
            c.bitwise_equal(),
            "{}: {name} ({spec}) differs from PyTorch: {:.4}% of elements bit-equal, max_abs {:e} at {:?} {:?}",
            golden.path.display(),
            100.0 * c.byte_equal.unwrap_or(0.0),
            c.max_abs,
            c.max_abs_at,
            c.max_abs_values
        );
    }
}

#[test]
fn deepseek_shaped_case_is_bit_exact_against_pytorch() {
    let g = load("golden/gemm_deepseek.safetensors");
    let a = operand(get(&g, "xq"), get(&g, "xs"), 1);
    let b = operand(get(&g, "w"), get(&g, "ws"), 128);
    assert_eq!((a.rows(), b.rows(), a.cols()), (8, 256, 7168));
    check_outputs(&g, &a, &b);
}

#[test]
fn minilm_ffn_down_projection_is_bit_exact_against_pytorch() {
    let g = load("golden/gemm_minilm.safetensors");
    let m = load("minilm/ffn_act.safetensors");
    // The weight: the golden file's own (when the script quantized `w_down`) or the MiniLM fixture's.
    let (w, ws) = match (g.get("w"), g.get("ws")) {
        (Some(w), Some(ws)) => (w, ws),
        _ => (get(&m, "w"), get(&m, "ws")),
    };
    if let Some(h) = metadata(&g.path, "w_fnv1a64") {
        assert_eq!(
            fnv1a64(w.bytes()),
            h,
            "the weight is not the one the golden data was made with"
        );
    }
    let a = operand(get(&g, "xq"), get(&g, "xs"), 1);
    let b = operand(w, ws, 128);
    assert_eq!((b.rows(), a.cols()), (384, 1536));
    check_outputs(&g, &a, &b);
}
