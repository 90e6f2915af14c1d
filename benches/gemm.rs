//! GEMM emulation speed: M=16, N=1536, K=7168 (a DeepSeek-shaped decode step) through each preset.
//! Goal (issue 4): the four paths of `isolate gemm` in < 2 s on the 2-core build machine.

use criterion::{criterion_group, criterion_main, Criterion};
use isolate::formats::Fp8Format;
use isolate::gemm::synthetic::{quantized, ScaleKind};
use isolate::gemm::{gemm, GemmSpec, Operand, Preset};

fn bench(c: &mut Criterion) {
    let (m, n, k) = (16, 1536, 7168);
    let a: Operand = quantized(m, k, 1, 128, Fp8Format::E4m3fn, ScaleKind::Pow2, 1).into();
    let b: Operand = quantized(n, k, 128, 128, Fp8Format::E4m3fn, ScaleKind::Pow2, 2).into();
    let mut g = c.benchmark_group("gemm_16x1536x7168");
    g.sample_size(10);
    for p in Preset::ALL {
        let spec = GemmSpec::parse(p.name()).unwrap();
        g.bench_function(p.name(), |bch| bch.iter(|| gemm(&spec, &a, &b).unwrap()));
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
