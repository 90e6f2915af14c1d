//! Shared helpers of the compare integration tests: write synthetic dumps, run the binary.
#![allow(dead_code)]

use std::path::Path;
use std::process::Command;

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

/// Output of one run of the binary.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// stdout parsed as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}\nstderr: {}", self.stdout, self.stderr))
    }
    /// Asserts a bad-input failure: exit 2 and exactly one line on stderr containing every `needle`.
    pub fn assert_bad_input(&self, needles: &[&str]) {
        assert_eq!(
            self.code, 2,
            "stdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        assert_eq!(
            self.stderr.trim_end().lines().count(),
            1,
            "one line: {}",
            self.stderr
        );
        assert!(!self.stderr.contains("panicked"), "{}", self.stderr);
        for n in needles {
            assert!(self.stderr.contains(n), "'{n}' not in: {}", self.stderr);
        }
    }
}

/// Runs `isolate ARGS`.
pub fn isolate<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_isolate"))
        .args(args)
        .output()
        .expect("run isolate");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
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
