//! Helpers of the compare tests: synthetic dumps, an independent `cos_max`, JSON floats.

use std::path::Path;

use isolate::formats::DType;
use isolate::io::{safetensors_io, Tensor};

/// Writes tensors (name, dtype, shape, bytes) to a safetensors file.
pub fn write(path: &Path, tensors: Vec<Tensor>) {
    safetensors_io::write(path, &tensors, None).unwrap();
}

/// An f32 tensor.
pub fn f32t(name: &str, shape: &[usize], v: &[f32]) -> Tensor {
    Tensor::from_f32(name, shape.to_vec(), v).unwrap()
}

/// An i64 tensor.
pub fn i64t(name: &str, v: &[i64]) -> Tensor {
    let b = v.iter().flat_map(|x| x.to_le_bytes()).collect();
    Tensor::new(name, DType::I64, vec![v.len()], b).unwrap()
}

/// A raw tensor.
pub fn raw(name: &str, dtype: DType, shape: &[usize], bytes: Vec<u8>) -> Tensor {
    Tensor::new(name, dtype, shape.to_vec(), bytes).unwrap()
}

/// Deterministic pseudo-random values in (−1, 1) (xorshift).
pub fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

/// Independent f64 `cos_max(a, b)` of ATOM (plain sums; b is the reference).
pub fn cos_max(a: &[f32], b: &[f32]) -> (f64, f64, f64) {
    let (mut ab, mut aa, mut bb, mut m, mut mb) = (0f64, 0f64, 0f64, 0f64, 0f64);
    for (&x, &y) in a.iter().zip(b) {
        let (x, y) = (x as f64, y as f64);
        ab += x * y;
        aa += x * x;
        bb += y * y;
        m = m.max((x - y).abs());
        mb = mb.max(y.abs());
    }
    (ab / (aa.sqrt() * bb.sqrt()), m, m / mb.max(1e-12))
}

/// A float from JSON (numbers, or "NaN").
pub fn f(v: &serde_json::Value) -> f64 {
    v.as_f64().unwrap_or_else(|| {
        if v == "NaN" {
            f64::NAN
        } else {
            panic!("not a number: {v}")
        }
    })
}
