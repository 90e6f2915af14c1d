//! `isolate bench gemm`: blockwise (exact), tc, tc-fast-accum and cuBLASLt FP8 at M×N×K (default
//! 4096×7168×7168), TFLOP/s with cuBLASLt (1×128 / 128×128 block scaling) measured in the same run as the
//! baseline, the FP32 FMA and FP64 MMA rates measured on the card, and each output checked against blockwise;
//! a user GEMM kernel (`--kernel FILE.cu[:ENTRY]`, GEMM ABI v1) verified and timed beside them.

use cudarc::driver::CudaSlice;

use crate::backend::cuda::cublaslt::LtGemm;
use crate::backend::cuda::gemm::{blockwise_into, BlockwiseArgs, DevOperand};
use crate::backend::cuda::tc::{tc_into, tc_kernel_name, tc_unsupported, TcKind};
use crate::backend::cuda::timing::{compute_peaks, time};
use crate::backend::cuda::{gpu_err, user_gemm, CudaBackend};
use crate::error::Result;
use crate::experiment::bench::{rel_l2, BenchRow};
use crate::formats::Fp8Format;
use crate::kernel_ref::KernelRef;
use crate::quant::Quantized;
use crate::testdata::{random_quantized, Codes, Rng, Scales};

/// Options of `bench gemm`.
#[derive(Clone, Debug)]
pub struct GemmBench {
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub reps: usize,
    /// A user GEMM kernel timed beside the built-in ones.
    pub kernel: Option<KernelRef>,
}

/// The measured figures.
pub struct GemmBenchReport {
    pub rows: Vec<BenchRow>,
    pub fp32_tflops: f64,
    pub fp64_mma_tflops: f64,
    pub cublaslt_tflops: f64,
    /// Whether a user kernel (when given) equalled blockwise bit for bit.
    pub user_equal: bool,
}

fn download(be: &CudaBackend, c: &CudaSlice<f32>, n: usize) -> Result<Vec<f32>> {
    let mut v = be.stream.clone_dtoh(c).map_err(|e| gpu_err("copy", e))?;
    v.truncate(n);
    Ok(v)
}

/// Runs the GEMM benchmark.
pub fn run(be: &CudaBackend, o: &GemmBench) -> Result<GemmBenchReport> {
    let (m, n, k) = (o.m, o.n, o.k);
    let user = o
        .kernel
        .as_ref()
        .map(|kr| user_gemm::load_cached(be, kr))
        .transpose()?;
    let flop = 2.0 * m as f64 * n as f64 * k as f64;
    let (fp32, fp64) = compute_peaks(be)?;
    let mut rng = Rng::new(7);
    // Two operand sets, alternated (A + B ≥ 80 MB at the default size: more than the 50 MB L2 of an H100).
    let sets: Vec<(Quantized, Quantized)> = (0..2)
        .map(|_| {
            (
                random_quantized(
                    &mut rng,
                    m,
                    k,
                    (1, 128),
                    Fp8Format::E4m3fn,
                    Codes::Normal,
                    Scales::Any,
                ),
                random_quantized(
                    &mut rng,
                    n,
                    k,
                    (128, 128),
                    Fp8Format::E4m3fn,
                    Codes::Normal,
                    Scales::Any,
                ),
            )
        })
        .collect();
    let dev: Vec<(DevOperand, DevOperand)> = sets
        .iter()
        .map(|(a, b)| Ok((DevOperand::upload(be, a)?, DevOperand::upload(be, b)?)))
        .collect::<Result<_>>()?;
    let mut c = be
        .stream
        .alloc_zeros::<f32>(m * n)
        .map_err(|e| gpu_err("alloc", e))?;
    let tflops = |ms: f64| flop / (ms * 1e-3) / 1e12;
    let mut rows = Vec::new();

    // cuBLASLt first: the baseline.
    let lts: Vec<LtGemm> = sets
        .iter()
        .map(|(a, b)| LtGemm::new(be, a, b, false))
        .collect::<Result<_>>()?;
    let mut d = be
        .stream
        .alloc_zeros::<f32>(lts[0].mp * n)
        .map_err(|e| gpu_err("alloc", e))?;
    let t = time(be, 3, o.reps, |i| lts[i % 2].run(be, &mut d))?;
    let lt_tf = tflops(t.median());
    lts[0].run(be, &mut d)?;
    let lt_out = download(be, &d, m * n)?;

    let args = BlockwiseArgs {
        interval: 128,
        split_k: 1,
        left: false,
        out_bf16: false,
    };
    let t_bw = time(be, 1, o.reps.min(10), |i| {
        let (a, b) = &dev[i % 2];
        blockwise_into(be, a, b, &args, &mut c)
    })?;
    blockwise_into(be, &dev[0].0, &dev[0].1, &args, &mut c)?;
    let bw = download(be, &c, m * n)?;
    rows.push(BenchRow {
        name: "blockwise (FP64 MMA, exact)".into(),
        median_ms: t_bw.median(),
        min_ms: t_bw.min(),
        rate: tflops(t_bw.median()),
        of_baseline: tflops(t_bw.median()) / (fp32 / 1e12),
        baseline: "FP32 FMA peak".into(),
        check: "reference of this table".into(),
    });
    for kind in [TcKind::Promote, TcKind::PromoteMma] {
        let name = tc_kernel_name(be, kind, &dev[0].0, &dev[0].1);
        let t_tc = time(be, 3, o.reps, |i| {
            let (a, b) = &dev[i % 2];
            tc_into(be, kind, a, b, 128, false, &mut c)
        })?;
        tc_into(be, kind, &dev[0].0, &dev[0].1, 128, false, &mut c)?;
        let tc_out = download(be, &c, m * n)?;
        rows.push(BenchRow {
            name: format!("tc ({name}, promote 128)"),
            median_ms: t_tc.median(),
            min_ms: t_tc.min(),
            rate: tflops(t_tc.median()),
            of_baseline: tflops(t_tc.median()) / lt_tf,
            baseline: "cuBLASLt".into(),
            check: format!("rel {:.2e} vs blockwise", rel_l2(&tc_out, &bw)),
        });
    }
    // tc-fast-accum needs scales constant along K: the same codes with one scale per row / per 128 rows.
    let (fa, fb) = (
        sets[0].0.with_row_constant_scales(),
        sets[0].1.with_row_constant_scales(),
    );
    if tc_unsupported(TcKind::FastAccum, &fa, &fb).is_none() {
        let (da, db) = (DevOperand::upload(be, &fa)?, DevOperand::upload(be, &fb)?);
        let t = time(be, 3, o.reps, |_| {
            tc_into(be, TcKind::FastAccum, &da, &db, 128, false, &mut c)
        })?;
        tc_into(be, TcKind::FastAccum, &da, &db, 128, false, &mut c)?;
        let fast_out = download(be, &c, m * n)?;
        blockwise_into(be, &da, &db, &args, &mut c)?;
        let exact = download(be, &c, m * n)?;
        rows.push(BenchRow {
            name: "tc-fast-accum (row scales)".into(),
            median_ms: t.median(),
            min_ms: t.min(),
            rate: tflops(t.median()),
            of_baseline: tflops(t.median()) / lt_tf,
            baseline: "cuBLASLt".into(),
            check: format!("rel {:.2e} vs blockwise", rel_l2(&fast_out, &exact)),
        });
    }
    let mut user_equal = true;
    if let Some(uk) = &user {
        use crate::gemm::OutType;
        let mut uc = user_gemm::poisoned_output(be, m, n, OutType::F32)?;
        user_gemm::launch(be, uk, &dev[0].0, &dev[0].1, &mut uc, OutType::F32)?;
        let bytes = be.stream.clone_dtoh(&uc).map_err(|e| gpu_err("copy", e))?;
        let got = user_gemm::read_output(uk, &bytes, m, n, OutType::F32)?.values;
        let eq = got
            .iter()
            .zip(&bw)
            .filter(|(g, w)| g.to_bits() == w.to_bits())
            .count();
        user_equal = eq == m * n;
        let t = time(be, 1, o.reps.min(10), |i| {
            let (a, b) = &dev[i % 2];
            user_gemm::launch(be, uk, a, b, &mut uc, OutType::F32)
        })?;
        rows.push(BenchRow {
            name: format!("user {}::{}", uk.path.display(), uk.entry),
            median_ms: t.median(),
            min_ms: t.min(),
            rate: tflops(t.median()),
            of_baseline: tflops(t.median()) / lt_tf,
            baseline: "cuBLASLt".into(),
            check: if user_equal {
                "bit-equal to blockwise (f32 out)".into()
            } else {
                format!(
                    "{:.6} bit-equal, rel {:.2e} vs blockwise",
                    eq as f64 / (m * n) as f64,
                    rel_l2(&got, &bw)
                )
            },
        });
    }
    rows.push(BenchRow {
        name: "cublaslt (FP8, 1x128/128x128)".into(),
        median_ms: t.median(),
        min_ms: t.min(),
        rate: lt_tf,
        of_baseline: 1.0,
        baseline: "cuBLASLt".into(),
        check: format!("rel {:.2e} vs blockwise", rel_l2(&lt_out, &bw)),
    });
    Ok(GemmBenchReport {
        rows,
        fp32_tflops: fp32 / 1e12,
        fp64_mma_tflops: fp64 / 1e12,
        cublaslt_tflops: lt_tf,
        user_equal,
    })
}
