//! Dumps of the bundled real activation for the `isolate quant` / `isolate fingerprint` tests.

use std::path::{Path, PathBuf};

use isolate::formats::DType;
use isolate::io::{safetensors_io, Tensor};
use isolate::quant::{quantize_activation, QuantSpec};

pub const REAL: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/fixtures/minilm/ffn_act.safetensors"
);

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
