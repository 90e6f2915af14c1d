//! GEMM emulation speed: M=16, N=1536, K=7168 (a DeepSeek-shaped decode step) through each preset, and the
//! four paths of `isolate gemm` (target: FP8 activation + blockwise; reference: bf16 activation +
//! dequant-bf16). Goal (docs/kernels.md §2.3): the four paths in < 2 s on the 2-core build machine.

use criterion::{criterion_group, criterion_main, Criterion};
use isolate::experiment::gemm::isolate::{run, Activation, IsolateInputs, VerdictThresholds};
use isolate::experiment::gemm::staged::Staged;
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
    let (sa, splain, sb) = (
        Staged::on_host(a.clone()),
        Staged::on_host(plain.clone()),
        Staged::on_host(b.clone()),
    );
    let inp = IsolateInputs {
        target_act: Activation {
            quant: "deepgemm-ue8m0".into(),
            operand: &sa,
        },
        ref_act: Activation {
            quant: "none".into(),
            operand: &splain,
        },
        weight: &sb,
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

/// `isolate gemm fingerprint`'s whole CPU grid on a DeepSeek-shaped dump (M=64, N=256, K=7168, A 1×128 and B
/// 128×128 f32 scales; target_out made by sm90-blockwise with split-K 2, what cuBLASLt picks at this shape),
/// the fingerprint's goal, < 30 s on the 2-core build machine; beside it, in the same run, the tensor-core grid run
/// one variant at a time (no shared work) and the grid without the tensor-core variants.
fn fingerprint_bench(c: &mut Criterion) {
    use isolate::backend::CpuBackend;
    use isolate::experiment::gemm::fingerprint::{default_variants, fingerprint, tc_variants};
    use isolate::gemm::{Acc, GemmChoice};
    let (m, n, k) = (64, 256, 7168);
    let a: Operand = quantized(m, k, (1, 128), Fp8Format::E4m3fn, Scales::Any, 3).into();
    let b: Operand = quantized(n, k, (128, 128), Fp8Format::E4m3fn, Scales::Any, 4).into();
    let target = gemm(
        &GemmSpec::parse("sm90-blockwise,split_k=2").unwrap(),
        &a,
        &b,
    )
    .unwrap()
    .to_tensor("target_out")
    .unwrap();
    let all: Vec<GemmChoice> = default_variants().into_iter().map(Into::into).collect();
    let older: Vec<GemmChoice> = default_variants()
        .into_iter()
        .filter(|s| !matches!(s.acc, Acc::Mma(_)))
        .map(Into::into)
        .collect();
    let f = fingerprint(&CpuBackend, &a, &b, &target, &all, &|_, _| {}).unwrap();
    eprintln!(
        "fingerprint 64x256x7168: {} variants in the grid, {} ran, {} skipped; bit-exact: {}",
        all.len(),
        f.ranking.len(),
        f.skipped.len(),
        f.best()
            .iter()
            .map(|v| v.spec.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let mut g = c.benchmark_group("fingerprint_64x256x7168");
    g.sample_size(10);
    g.bench_function("whole_grid", |bch| {
        bch.iter(|| fingerprint(&CpuBackend, &a, &b, &target, &all, &|_, _| {}).unwrap())
    });
    g.bench_function("grid_without_tc", |bch| {
        bch.iter(|| fingerprint(&CpuBackend, &a, &b, &target, &older, &|_, _| {}).unwrap())
    });
    // The tensor-core variants that fit these operands, each its own GEMM (what the search did before
    // sharing).
    let tc: Vec<GemmSpec> = tc_variants()
        .into_iter()
        .filter(|s| isolate::gemm::plan::plan(s, &a, &b).is_ok())
        .collect();
    eprintln!("tensor-core variants that fit: {}", tc.len());
    g.bench_function("tc_grid_unshared", |bch| {
        bch.iter(|| {
            for s in &tc {
                gemm(s, &a, &b).unwrap();
            }
        })
    });
    g.finish();
}

criterion_group!(benches, bench, fingerprint_bench);
criterion_main!(benches);
