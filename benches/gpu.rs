//! Criterion benches of the GPU kernels (wall time per launch, synchronised). Without a usable GPU they print
//! why and measure nothing. `isolate bench quant|gemm` gives the event-timed figures against the card's
//! ceilings; these track regressions.

use criterion::{criterion_group, criterion_main, Criterion};
use isolate::backend::cuda::gemm::{blockwise_into, BlockwiseArgs, DevOperand};
use isolate::backend::cuda::tc::{tc_into, TcKind};
use isolate::backend::cuda::CudaBackend;
use isolate::backend::Backend;
use isolate::formats::{Fp8Format, Overflow};
use isolate::testdata::{codec_inputs, random_quantized, Codes, Rng, Scales};

fn gpu_benches(c: &mut Criterion) {
    let be = match CudaBackend::new() {
        Ok(b) => b,
        Err(e) => {
            println!("GPU benches skipped: {e}");
            return;
        }
    };
    let mut rng = Rng::new(3);
    let x = codec_inputs(&mut rng, 1 << 22);
    c.bench_function("gpu fp8 encode e4m3fn 4M (with copies)", |b| {
        b.iter(|| be.fp8_encode(&x, Fp8Format::E4m3fn, Overflow::Nan).unwrap())
    });
    let (m, n, k) = (1024, 1024, 1024);
    let a = random_quantized(
        &mut rng,
        m,
        k,
        (1, 128),
        Fp8Format::E4m3fn,
        Codes::Normal,
        Scales::Pow2,
    );
    let w = random_quantized(
        &mut rng,
        n,
        k,
        (128, 128),
        Fp8Format::E4m3fn,
        Codes::Normal,
        Scales::Pow2,
    );
    let (da, dw) = (
        DevOperand::upload(&be, &a).unwrap(),
        DevOperand::upload(&be, &w).unwrap(),
    );
    let mut out = be.stream.alloc_zeros::<f32>(m * n).unwrap();
    let args = BlockwiseArgs {
        interval: 128,
        split_k: 1,
        left: false,
        out_bf16: true,
    };
    c.bench_function("gpu gemm blockwise 1024³", |b| {
        b.iter(|| {
            blockwise_into(&be, &da, &dw, &args, &mut out).unwrap();
            be.sync("bench").unwrap();
        })
    });
    c.bench_function("gpu gemm tc 1024³", |b| {
        b.iter(|| {
            tc_into(&be, TcKind::Promote, &da, &dw, 128, true, &mut out).unwrap();
            be.sync("bench").unwrap();
        })
    });
}

criterion_group!(benches, gpu_benches);
criterion_main!(benches);
