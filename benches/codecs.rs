//! Codec throughput: f32 → fp8/e8m0/bf16 encode and fp8 decode, single-threaded (GB/s per core of input).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use isolate::formats::convert::{f32_to_bf16_bits, to_f32_vec};
use isolate::formats::{e8m0, DType, E8m0Round, Fp8Format, Overflow};
use rand::{Rng, SeedableRng};

fn inputs(n: usize) -> Vec<f32> {
    let mut r = rand::rngs::StdRng::seed_from_u64(7);
    (0..n).map(|_| r.random_range(-500.0f32..500.0)).collect()
}

fn bench(c: &mut Criterion) {
    let n = 1 << 20;
    let x = inputs(n);
    let mut g = c.benchmark_group("encode");
    g.throughput(Throughput::Bytes((n * 4) as u64));
    for f in Fp8Format::ALL {
        g.bench_function(format!("f32->{}", f.name()), |b| {
            let mut out = vec![0u8; n];
            b.iter(|| {
                for (o, &v) in out.iter_mut().zip(&x) {
                    *o = f.encode(v, Overflow::Nan);
                }
                black_box(&out);
            })
        });
    }
    g.bench_function("f32->e8m0 ceil", |b| {
        let mut out = vec![0u8; n];
        b.iter(|| {
            for (o, &v) in out.iter_mut().zip(&x) {
                *o = e8m0::encode(v, E8m0Round::Ceil);
            }
            black_box(&out);
        })
    });
    g.bench_function("f32->bf16", |b| {
        let mut out = vec![0u16; n];
        b.iter(|| {
            for (o, &v) in out.iter_mut().zip(&x) {
                *o = f32_to_bf16_bits(v);
            }
            black_box(&out);
        })
    });
    g.finish();
    let codes: Vec<u8> = x
        .iter()
        .map(|&v| Fp8Format::E4m3fn.encode(v, Overflow::Saturate))
        .collect();
    let mut g = c.benchmark_group("decode");
    g.throughput(Throughput::Bytes(n as u64));
    g.bench_function("e4m3fn->f32", |b| {
        b.iter(|| black_box(to_f32_vec(DType::F8E4M3FN, &codes)))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
