//! CPU quantizer throughput (bf16 input, ue8m0 presets; per core: a one-thread pool) and the fingerprint of
//! an M = 1024, K = 7168 dump over every axis combination (the default pool).
//!
//! `cargo bench --bench quant -- --warm-up-time 1 --measurement-time 3`

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use isolate::experiment::quant::fingerprint::{fingerprint, QuantDump};
use isolate::formats::DType;
use isolate::io::Tensor;
use isolate::quant::{quantize_activation, QuantSpec};

const M: usize = 1024;
const K: usize = 7168;

/// A deterministic bf16 activation with a spread of group magnitudes.
fn activation() -> Tensor {
    let mut s: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut bytes = Vec::with_capacity(M * K * 2);
    for i in 0..M * K {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        let u = (s >> 40) as f32 / (1u64 << 24) as f32 - 0.5;
        let v = u * (1 + (i / 128) % 37) as f32;
        bytes.extend_from_slice(&half::bf16::from_f32(v).to_bits().to_le_bytes());
    }
    Tensor::new("x", DType::BF16, vec![M, K], bytes).unwrap()
}

fn quantize(c: &mut Criterion) {
    let x = activation();
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let mut g = c.benchmark_group("quantize_bf16_1024x7168_one_core");
    g.throughput(Throughput::Bytes((M * K * 2) as u64));
    for p in [
        "deepgemm-ue8m0",
        "deepseek-v32-ue8m0",
        "vllm-ue8m0",
        "torch-e8m0",
        "vllm",
    ] {
        let spec = QuantSpec::parse(p).unwrap();
        g.bench_function(p, |b| {
            b.iter(|| one.install(|| quantize_activation(&spec, &x).unwrap()))
        });
    }
    g.finish();
}

fn fingerprint_all(c: &mut Criterion) {
    let x = activation();
    let spec = QuantSpec::parse("deepgemm-ue8m0").unwrap();
    let q = quantize_activation(&spec, &x).unwrap();
    let xv = x.to_f32();
    let mut g = c.benchmark_group("fingerprint_1024x7168_all_variants");
    g.sample_size(10);
    g.bench_function("deepgemm-ue8m0 dump", |b| {
        b.iter(|| {
            let f = fingerprint(&QuantDump {
                x: &xv,
                rows: M,
                cols: K,
                q: &q.q,
                fmt: q.fmt,
                scales: &q.scales,
                codes: None,
                group: 128,
            });
            assert!(f.reproduced());
            f
        })
    });
    g.finish();
}

criterion_group!(benches, quantize, fingerprint_all);
criterion_main!(benches);
