//! The tensor-core twins (docs/numerics.md §8.7): the GPU `tc` kernels against the CPU accumulator models bit
//! for bit on many small random shapes (codes drawn in runs of 32 that are all zero, subnormal, ±max, mixed
//! exponents, sparse or uniform; a NaN now and then; all-zero rows), and cuBLASLt's outputs fingerprinted by
//! the CPU tensor-core grid.
//!
//! Check names (what to look for in `isolate selftest --backend cuda`):
//! - `gemm tc twin wgmma ≡ cpu sm90-blockwise (N shapes)`: required, Hopper only (the WGMMA path);
//! - `gemm tc twin mma.sync ≡ cpu sm89-blockwise (N shapes)`: required on Ada (sm_89), where `tc` runs
//!   mma.sync; on other cards `gemm tc twin mma.sync vs cpu sm90-blockwise (N shapes, informational: …)`
//!   reports the agreement without failing (Hopper's mma.sync FP8 is not modelled: §8.7);
//! - `gemm cublaslt M×N×K fingerprinted by the cpu tc grid`: required; its detail names the bit-exact
//!   presets.

use crate::backend::cuda::cublaslt::{lt_scaling, LtGemm};
use crate::backend::cuda::tc::{tc, TcKind};
use crate::backend::cuda::wgmma::wgmma_fits;
use crate::backend::cuda::CudaBackend;
use crate::error::Result;
use crate::experiment::gemm::fingerprint::{fingerprint, tc_variants};
use crate::experiment::selftest::Check;
use crate::formats::Fp8Format;
use crate::gemm::{gemm, GemmChoice, GemmOutput, GemmSpec, OutType};
use crate::quant::Quantized;
use crate::testdata::{random_quantized, Codes, Rng, Scales};

/// Random shapes each tensor-core path runs.
pub const TWIN_SHAPES: usize = 10_000;

fn same_f32(a: &f32, b: &f32) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

/// One path's tally over every shape.
struct Tally {
    n: usize,
    mismatches: usize,
    first: Option<String>,
}

impl Tally {
    fn new() -> Tally {
        Tally {
            n: 0,
            mismatches: 0,
            first: None,
        }
    }

    fn add(&mut self, what: &str, n_cols: usize, got: &[f32], want: &[f32]) {
        self.n += want.len();
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            if !same_f32(g, w) {
                self.mismatches += 1;
                if self.first.is_none() {
                    self.first = Some(format!(
                        "{what}: C[{}, {}] = {g:e} ({:#010x}) vs cpu {w:e} ({:#010x})",
                        i / n_cols,
                        i % n_cols,
                        g.to_bits(),
                        w.to_bits()
                    ));
                }
            }
        }
        if got.len() != want.len() {
            self.mismatches += want.len().max(1);
        }
    }
}

/// A random operand of a twin case.
fn operand(rng: &mut Rng, rows: usize, k: usize, block: (usize, usize), nan: bool) -> Quantized {
    let scales = if rng.below(2) == 0 {
        Scales::Pow2
    } else {
        Scales::Any
    };
    let mut x = random_quantized(
        rng,
        rows,
        k,
        block,
        Fp8Format::E4m3fn,
        Codes::Groups,
        scales,
    );
    if rng.below(8) == 0 {
        let r = rng.below(rows);
        x.q[r * k..(r + 1) * k].iter_mut().for_each(|c| *c = 0);
    }
    if nan {
        let i = rng.below(x.q.len());
        x.q[i] = 0x7F;
    }
    x
}

/// The tensor-core twin checks on a CUDA backend.
pub fn checks(be: &CudaBackend, seed: u64) -> Result<Vec<Check>> {
    let mut rng = Rng::new(seed ^ 0x7C7C);
    let hopper = be.info.cc == (9, 0);
    let ada = be.info.cc == (8, 9);
    let mma_model = if ada { "sm89" } else { "sm90" };
    let (mut wg, mut ms) = (Tally::new(), Tally::new());
    let mut wg_shapes = 0;
    let mut mma_equal = 0usize;
    for s in 0..TWIN_SHAPES {
        let m = 1 + rng.below(if s % 10 == 0 { 130 } else { 40 });
        let n = 1 + rng.below(if s % 10 == 0 { 140 } else { 48 });
        let k = 128 * (1 + rng.below(4));
        // mma.sync also runs 64-wide scale blocks (promotion every 64); WGMMA needs 1×128·128×128.
        let p = if s % 4 == 3 { 64 } else { 128 };
        let nan = s % 97 == 0;
        let a = operand(&mut rng, m, k, (1, p), nan);
        let b = operand(&mut rng, n, k, (128, p), false);
        let out_bf16 = s % 2 == 1;
        let out = if out_bf16 { "bf16" } else { "f32" };
        let (oa, ob) = (a.clone().into(), b.clone().into());
        let what = |path: &str, model: &str| {
            format!("{path} {m}×{n}×{k} 1×{p} {model}-blockwise out={out}")
        };
        if hopper && wgmma_fits(be, &a, &b) {
            let spec = GemmSpec::parse(&format!("sm90-blockwise,promote={p},out={out}"))?;
            let want = gemm(&spec, &oa, &ob)?.values;
            let got = tc(be, TcKind::Promote, &a, &b, out_bf16)?;
            wg.add(&what("wgmma", "sm90"), n, &got, &want);
            wg_shapes += 1;
        }
        let spec = GemmSpec::parse(&format!("{mma_model}-blockwise,promote={p},out={out}"))?;
        let want = gemm(&spec, &oa, &ob)?.values;
        let got = tc(be, TcKind::PromoteMma, &a, &b, out_bf16)?;
        let before = ms.mismatches;
        ms.add(&what("mma.sync", mma_model), n, &got, &want);
        mma_equal += (ms.mismatches == before) as usize;
    }
    let mut out = Vec::new();
    if hopper {
        out.push(Check {
            name: format!("gemm tc twin wgmma ≡ cpu sm90-blockwise ({wg_shapes} shapes)"),
            n: wg.n,
            mismatches: wg.mismatches,
            first: wg.first,
        });
    }
    if ada {
        out.push(Check {
            name: format!("gemm tc twin mma.sync ≡ cpu sm89-blockwise ({TWIN_SHAPES} shapes)"),
            n: ms.n,
            mismatches: ms.mismatches,
            first: ms.first,
        });
    } else {
        out.push(Check {
            name: format!(
                "gemm tc twin mma.sync vs cpu sm90-blockwise ({TWIN_SHAPES} shapes, informational: mma.sync FP8 on sm_{}{} is not modelled, docs/numerics.md §8.7)",
                be.info.cc.0, be.info.cc.1
            ),
            n: ms.n,
            mismatches: 0,
            first: Some(format!(
                "{} of {} outputs bit-equal, {mma_equal} of {TWIN_SHAPES} shapes entirely{}",
                ms.n - ms.mismatches,
                ms.n,
                ms.first.map(|f| format!("; first difference {f}")).unwrap_or_default()
            )),
        });
    }
    out.extend(cublaslt_fingerprints(be, &mut rng)?);
    Ok(out)
}

/// cuBLASLt (1×128·128×128 block scaling, bf16 out) on a few shapes, each output fingerprinted by the CPU
/// tensor-core grid: passes when some CPU variant reproduces it bit for bit.
fn cublaslt_fingerprints(be: &CudaBackend, rng: &mut Rng) -> Result<Vec<Check>> {
    let variants: Vec<GemmChoice> = tc_variants().into_iter().map(Into::into).collect();
    let mut out = Vec::new();
    for &(m, n, k) in &[
        (1, 256, 1024),
        (16, 512, 2048),
        (64, 256, 7168),
        (130, 208, 1536),
    ] {
        let a = operand(rng, m, k, (1, 128), false);
        let b = operand(rng, n, k, (128, 128), false);
        let name = format!("gemm cublaslt {m}×{n}×{k} fingerprinted by the cpu tc grid");
        if let Err(why) = lt_scaling(&a, &b) {
            out.push(Check {
                name,
                n: 0,
                mismatches: 1,
                first: Some(why),
            });
            continue;
        }
        let got = match LtGemm::new(be, &a, &b, true).and_then(|lt| lt.run_host(be)) {
            Ok(v) => v,
            Err(e) => {
                out.push(Check {
                    name,
                    n: 0,
                    mismatches: 1,
                    first: Some(e.to_string()),
                });
                continue;
            }
        };
        let target = GemmOutput::from_f32(m, n, got[..m * n].to_vec(), OutType::Bf16)
            .to_tensor("target_out")?;
        let f = fingerprint(be, &a.into(), &b.into(), &target, &variants, &|_, _| {})?;
        let best = f.best();
        let names: Vec<String> = best.iter().map(|v| v.spec.to_string()).collect();
        let (mismatches, first) = match best.first() {
            Some(v) if v.bitwise == 1.0 => (0, format!("bit-exact: {}", names.join(", "))),
            Some(v) => (
                ((1.0 - v.bitwise) * f.n as f64).round().max(1.0) as usize,
                format!(
                    "none bit-exact; best {:.4}%: {}",
                    100.0 * v.bitwise,
                    names.join(", ")
                ),
            ),
            None => (1, "no variant applies".into()),
        };
        out.push(Check {
            name,
            n: f.n,
            mismatches,
            first: Some(first),
        });
    }
    Ok(out)
}
