//! Metric throughput: the f64 compensated comparison (cos, rel, max_abs, calc_diff, ulp, equality) of two
//! bf16 and two f32 tensors, against reading the same bytes once (a plain sum), so the note can say how
//! close the one-pass comparison is to the memory floor. Uses every core (rayon), like the tool.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use isolate::formats::convert::f32_to_bf16_bits;
use isolate::formats::DType;
use isolate::io::Tensor;
use isolate::metrics::compare;
use rand::{Rng, SeedableRng};

fn tensors(n: usize, dtype: DType) -> (Tensor, Tensor) {
    let mut r = rand::rngs::StdRng::seed_from_u64(3);
    let a: Vec<f32> = (0..n).map(|_| r.random_range(-4.0f32..4.0)).collect();
    let b: Vec<f32> = a
        .iter()
        .map(|v| v * (1.0 + r.random_range(-1e-3f32..1e-3)))
        .collect();
    let enc = |v: &[f32]| -> Vec<u8> {
        match dtype {
            DType::BF16 => v
                .iter()
                .flat_map(|&x| f32_to_bf16_bits(x).to_le_bytes())
                .collect(),
            _ => v.iter().flat_map(|&x| x.to_le_bytes()).collect(),
        }
    };
    (
        Tensor::new("a", dtype, vec![n], enc(&a)).unwrap(),
        Tensor::new("b", dtype, vec![n], enc(&b)).unwrap(),
    )
}

fn bench(c: &mut Criterion) {
    let n = 1 << 24;
    for dtype in [DType::BF16, DType::F32] {
        let (a, b) = tensors(n, dtype);
        let mut g = c.benchmark_group(format!("metrics {dtype}"));
        g.sample_size(10);
        g.throughput(Throughput::Bytes((2 * n * dtype.size()) as u64));
        g.bench_function("compare (cos, rel, max_abs, calc_diff, ulp)", |bch| {
            bch.iter(|| black_box(compare(&a, &b).unwrap().cos))
        });
        g.bench_function("read bytes once (u64 sum)", |bch| {
            use rayon::prelude::*;
            bch.iter(|| {
                let s: u64 = [a.bytes(), b.bytes()]
                    .par_iter()
                    .map(|x| {
                        x.par_chunks(1 << 16)
                            .map(|c| c.iter().map(|&v| v as u64).sum::<u64>())
                            .sum::<u64>()
                    })
                    .sum();
                black_box(s)
            })
        });
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
