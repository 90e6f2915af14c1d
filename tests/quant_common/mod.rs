//! Helpers shared by the `isolate quant` / `isolate fingerprint` integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use isolate::formats::DType;
use isolate::io::{safetensors_io, Tensor};
use isolate::quant::{quantize_activation, QuantSpec};

pub const REAL: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/fixtures/minilm/ffn_act.safetensors"
);

pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub fn isolate(args: &[&str]) -> Out {
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

pub fn json(o: &Out) -> serde_json::Value {
    serde_json::from_str(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", o.stdout))
}

/// Asserts exit 2 with one line on stderr containing every `needle`.
pub fn bad(args: &[&str], needles: &[&str]) {
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

pub fn write(dir: &Path, name: &str, tensors: &[Tensor]) -> PathBuf {
    let p = dir.join(name);
    safetensors_io::write(&p, tensors, None).unwrap();
    p
}

pub fn real_x() -> Tensor {
    safetensors_io::read(Path::new(REAL))
        .unwrap()
        .into_iter()
        .find(|t| t.name == "x")
        .unwrap()
}

/// A dump of `spec` on the real x: xq (e4m3fn) and f32 scales.
pub fn dump(spec: &str) -> (Tensor, Tensor, Vec<f32>) {
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

pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}
