//! GEMM emulation speed: M=16, N=1536, K=7168 (a DeepSeek-shaped decode step) through each preset, and the
//! four paths of `isolate gemm` (target: FP8 activation + blockwise; reference: bf16 activation +
//! dequant-bf16). Goal (docs/kernels.md §2.3): the four paths in < 2 s on the 2-core build machine.

use criterion::{criterion_group, criterion_main, Criterion};
use isolate::experiment::gemm::isolate::{run, Activation, IsolateInputs, VerdictThresholds};
use isolate::formats::Fp8Format;
use isolate::gemm::{gemm, GemmSpec, Operand, Preset};
use isolate::testdata::{quantized, Scales};

fn bench(c: &mut Criterion) {
    let (m, n, k) = (16, 1536, 7168);
    let aq = quantized(m, k, (1, 128), Fp8Format::E4m3fn, Scales::Pow2, 1);
    let a: Operand = aq.clone().into();
    let b: Operand = quantized(n, k, (128, 128), Fp8Format::E4m3fn, Scales::Pow2, 2).into();
    let mut g = c.benchmark_group("gemm_16x1536x7168");
    g.sample_size(10);
    // Every preset that takes these block-scaled operands (sm90-blockwise: the bit-exact Hopper model, issue
    // 11's speed target is ≤ 3× blockwise; the per-tensor/row presets refuse 128-wide K blocks).
    for p in Preset::ALL {
        let spec = GemmSpec::parse(p.name()).unwrap();
        if isolate::gemm::plan::plan(&spec, &a, &b).is_err() {
            continue;
        }
        g.bench_function(p.name(), |bch| bch.iter(|| gemm(&spec, &a, &b).unwrap()));
    }
    // The reference activation: bf16 values (dequantized codes), kept as they are (quant `none`).
    let plain = a.dequant_bf16();
    g.bench_function("blockwise_plain_activation", |bch| {
        bch.iter(|| gemm(&GemmSpec::parse("blockwise").unwrap(), &plain, &b).unwrap())
    });
    let inp = IsolateInputs {
        target_act: Activation {
            quant: "deepgemm-ue8m0".into(),
            operand: &a,
        },
        ref_act: Activation {
            quant: "none".into(),
            operand: &plain,
        },
        weight: &b,
        target_gemm: GemmSpec::parse("blockwise").unwrap().into(),
        ref_gemm: GemmSpec::parse("dequant-bf16").unwrap().into(),
        target_out: None,
        ref_out: None,
        thresholds: VerdictThresholds::default(),
    };
    g.bench_function("isolate_four_paths", |bch| {
        bch.iter(|| run(&inp, &|_, _, _| {}).unwrap())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
