//! `isolate gemm fingerprint`: which GEMM emulation reproduces a dumped output? Runs every variant of a
//! grid over the axes of docs/numerics.md §8.2 (promote interval, acc, scale order, split-K, dequant) on the dumped
//! quantized operands, compares each with the dump (`metrics::compare`) and ranks them by the fraction of
//! bit-equal elements, then by the fraction within 1 ulp, then by the largest ulp distance. On a GPU backend the
//! GPU-only GEMMs (`tc`, `tc-fast-accum`, `cublaslt`: the real kernels) are ranked with them ([`gpu_variants`]).

use crate::backend::{Backend, Device};
use crate::error::{Error, Result};
use crate::formats::DType;
use crate::gemm::{
    gemm, plan, Acc, Dequant, GemmChoice, GemmSpec, GpuGemm, Operand, OutType, Preset, Promote,
    ScaleOrder,
};
use crate::io::Tensor;
use crate::metrics::compare;

/// How one variant matches the dump.
#[derive(Clone, Debug)]
pub struct VariantScore {
    pub spec: GemmChoice,
    /// Fraction of elements whose bytes equal the dump's (value equality when the dtypes differ).
    pub bitwise: f64,
    /// Fraction of elements within 1 ulp (in the output dtype).
    pub within_1ulp: f64,
    pub ulp_median: Option<u64>,
    pub ulp_p99: Option<u64>,
    pub ulp_max: Option<u64>,
    pub cos: f64,
    pub rel: f64,
    pub max_abs: f64,
}

impl VariantScore {
    /// The ranking key, larger is better.
    fn key(&self) -> (f64, f64, i128) {
        let nan0 = |x: f64| if x.is_nan() { 0.0 } else { x };
        (
            nan0(self.bitwise),
            nan0(self.within_1ulp),
            -(self.ulp_max.map(|u| u as i128).unwrap_or(i128::MAX)),
        )
    }
}

/// The ranked variants.
#[derive(Clone, Debug)]
pub struct GemmFingerprint {
    /// Best first.
    pub ranking: Vec<VariantScore>,
    /// Variants that do not apply to these operands, with the reason.
    pub skipped: Vec<(String, String)>,
    /// The output type every variant was run with (the dump's: bf16 or f32).
    pub out: OutType,
    /// Elements compared.
    pub n: usize,
}

impl GemmFingerprint {
    /// Every variant with the top score.
    pub fn best(&self) -> Vec<&VariantScore> {
        match self.ranking.first() {
            None => Vec::new(),
            Some(top) => self
                .ranking
                .iter()
                .take_while(|v| v.key() == top.key())
                .collect(),
        }
    }
}

/// The default grid: the presets, then promote × acc × scale order (block-exact, f32-seq, exact),
/// truncated accumulators of 10–23 bits with and without promotion, split-K 2 and 4 of the blockwise
/// kernels, and bf16-dequantized GEMMs. Duplicates (same axes) are removed.
pub fn default_variants() -> Vec<GemmSpec> {
    let mut v: Vec<GemmSpec> = Preset::ALL.iter().map(|p| p.spec()).collect();
    let base = Preset::Blockwise.spec();
    let orders = [ScaleOrder::Fused, ScaleOrder::Left];
    for promote in [
        Promote::Every(128),
        Promote::Every(64),
        Promote::Every(32),
        Promote::None,
    ] {
        for acc in [Acc::BlockExact, Acc::F32Seq, Acc::Exact] {
            for scale_order in orders {
                v.push(GemmSpec {
                    promote,
                    acc,
                    scale_order,
                    ..base
                });
            }
        }
    }
    for bits in [10, 11, 12, 13, 14, 15, 16, 18, 20, 23] {
        for scale_order in orders {
            v.push(GemmSpec {
                acc: Acc::Trunc(bits),
                scale_order,
                ..base
            });
        }
        v.push(GemmSpec {
            promote: Promote::None,
            acc: Acc::Trunc(bits),
            ..base
        });
    }
    for split_k in [2, 4] {
        for scale_order in orders {
            v.push(GemmSpec {
                split_k,
                scale_order,
                ..base
            });
        }
    }
    for acc in [Acc::F32Seq, Acc::BlockExact] {
        v.push(GemmSpec {
            dequant: Dequant::Bf16,
            promote: Promote::None,
            acc,
            ..base
        });
    }
    let mut seen = std::collections::HashSet::new();
    v.into_iter()
        .map(|s| s.canonical())
        .filter(|s| seen.insert(*s))
        .collect()
}

/// The GPU-only GEMMs a GPU backend adds to the grid: the real kernels `tc`, `tc-fast-accum`, `cublaslt`.
pub fn gpu_variants() -> Vec<GemmChoice> {
    [GpuGemm::Tc, GpuGemm::TcFastAccum, GpuGemm::Cublaslt]
        .into_iter()
        .map(|gemm| GemmChoice::Gpu {
            gemm,
            out: OutType::Bf16,
        })
        .collect()
}

/// The grid for a backend: the emulations of [`default_variants`], and on CUDA the [`gpu_variants`].
pub fn variants_for(device: &Device) -> Vec<GemmChoice> {
    let mut v: Vec<GemmChoice> = default_variants().into_iter().map(Into::into).collect();
    if device.cuda().is_some() {
        v.extend(gpu_variants());
    }
    v
}

/// The output type that matches a dumped output's dtype (f32 for anything but bf16).
pub fn out_for(target: &Tensor) -> OutType {
    if target.dtype == DType::BF16 {
        OutType::Bf16
    } else {
        OutType::F32
    }
}

/// Runs `variants` (their `out` replaced by the dump's type) on `a`, `b` and ranks them against `target`
/// ([M, N]). Emulations run on the CPU reference, GPU-only GEMMs on `be`; a variant that cannot take these
/// operands (shapes, scale blocks, no GPU) is listed in `skipped` with the reason. `progress(done, total)` is
/// called after each variant.
pub fn fingerprint(
    be: &dyn Backend,
    a: &Operand,
    b: &Operand,
    target: &Tensor,
    variants: &[GemmChoice],
    progress: &dyn Fn(usize, usize),
) -> Result<GemmFingerprint> {
    let target = crate::gemm::load::output(target, "target_out", a.rows(), b.rows())?;
    let out = out_for(&target);
    let mut ranking = Vec::new();
    let mut skipped = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (i, v) in variants.iter().enumerate() {
        let choice = v.with_out(out);
        if !seen.insert(choice.clone()) {
            continue;
        }
        let c = match &choice {
            GemmChoice::Emulation(spec) => {
                let (pa, pb);
                let (ca, cb) = if spec.dequant == Dequant::Bf16 {
                    pa = a.dequant_bf16();
                    pb = b.dequant_bf16();
                    (&pa, &pb)
                } else {
                    (a, b)
                };
                if let Err(e) = plan::plan(spec, ca, cb) {
                    skipped.push((choice.to_string(), e.to_string()));
                    continue;
                }
                gemm(spec, a, b)?
            }
            GemmChoice::Gpu { .. } => {
                match crate::backend::run_gemm(be, &choice, a, b, &|_, _| {}) {
                    Ok(c) => c,
                    // Operands it cannot take, or a library that has no algorithm for them: listed, not fatal.
                    Err(e @ (Error::Usage(_) | Error::NoGpu(_) | Error::Gpu(_))) => {
                        skipped.push((choice.to_string(), e.to_string()));
                        continue;
                    }
                    Err(e) => return Err(e),
                }
            }
        };
        let c = c.to_tensor("candidate")?;
        let cmp = compare(&c, &target)?;
        let ulp = cmp.ulp.as_ref();
        ranking.push(VariantScore {
            spec: choice,
            bitwise: cmp.byte_equal.unwrap_or(cmp.value_equal),
            within_1ulp: ulp.map(|h| h.fraction_within(1)).unwrap_or(f64::NAN),
            ulp_median: ulp.and_then(|h| h.quantile(0.5)),
            ulp_p99: ulp.and_then(|h| h.quantile(0.99)),
            ulp_max: ulp.filter(|h| h.count > 0).map(|h| h.max),
            cos: cmp.cos,
            rel: cmp.rel,
            max_abs: cmp.max_abs,
        });
        progress(i + 1, variants.len());
    }
    // Stable sort: among equal scores the grid order (presets first) is kept.
    ranking.sort_by(|x, y| {
        y.key()
            .partial_cmp(&x.key())
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    Ok(GemmFingerprint {
        ranking,
        skipped,
        out,
        n: target.numel(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::CpuBackend;
    use crate::formats::Fp8Format;
    use crate::testdata::{quantized, Scales};

    fn operands(kind: Scales) -> (Operand, Operand) {
        (
            quantized(6, 512, (1, 128), Fp8Format::E4m3fn, kind, 31).into(),
            quantized(72, 512, (128, 128), Fp8Format::E4m3fn, kind, 32).into(),
        )
    }

    fn rank(spec: &str, kind: Scales) -> GemmFingerprint {
        let (a, b) = operands(kind);
        let target = gemm(&GemmSpec::parse(spec).unwrap(), &a, &b)
            .unwrap()
            .to_tensor("t")
            .unwrap();
        fingerprint(&CpuBackend, &a, &b, &target, &emulations(), &|_, _| {}).unwrap()
    }

    fn emulations() -> Vec<GemmChoice> {
        default_variants().into_iter().map(Into::into).collect()
    }

    #[test]
    fn the_variant_that_made_the_output_ranks_first() {
        for (spec, kind) in [
            ("blockwise-v3,out=f32", Scales::Any),
            ("blockwise,split_k=2", Scales::Any),
            ("fast-accum,acc=trunc:11,out=f32", Scales::Pow2),
            ("blockwise,acc=f32-seq,promote=32,out=f32", Scales::Any),
            ("dequant-bf16", Scales::Any),
        ] {
            let f = rank(spec, kind);
            let want = GemmChoice::Emulation(GemmSpec::parse(spec).unwrap().canonical());
            let best = f.best();
            assert_eq!(best[0].bitwise, 1.0, "{spec}");
            assert!(
                best.iter().any(|v| v.spec == want),
                "{spec}: best {:?}",
                best.iter().map(|v| v.spec.to_string()).collect::<Vec<_>>()
            );
            // Ranked by bitwise match, descending; a different variant really does score lower somewhere.
            assert!(f.ranking.windows(2).all(|w| w[0].bitwise >= w[1].bitwise));
            assert!(f.ranking.last().unwrap().bitwise < 1.0, "{spec}");
            assert_eq!(
                f.out,
                if spec.contains("f32") {
                    OutType::F32
                } else {
                    OutType::Bf16
                }
            );
        }
    }

    #[test]
    fn variants_that_do_not_fit_are_skipped_with_a_reason() {
        let a: Operand = quantized(2, 256, (1, 64), Fp8Format::E4m3fn, Scales::Pow2, 1).into();
        let b: Operand = quantized(8, 256, (128, 128), Fp8Format::E4m3fn, Scales::Pow2, 2).into();
        let t = gemm(&GemmSpec::parse("blockwise,promote=64").unwrap(), &a, &b)
            .unwrap()
            .to_tensor("t")
            .unwrap();
        let f = fingerprint(&CpuBackend, &a, &b, &t, &emulations(), &|_, _| {}).unwrap();
        assert!(f
            .skipped
            .iter()
            .any(|(v, why)| v == "blockwise" && why.contains("promote=128")));
        assert_eq!(f.best()[0].bitwise, 1.0);
        let wrong = Tensor::from_f32("t", vec![8, 2], &[0.0; 16]).unwrap();
        let e = fingerprint(&CpuBackend, &a, &b, &wrong, &emulations(), &|_, _| {}).unwrap_err();
        assert!(e.to_string().contains("[M, N] = [2, 8]"), "{e}");
    }

    #[test]
    fn grid_is_deduplicated_and_canonical() {
        let v = default_variants();
        let names: Vec<String> = v.iter().map(|s| s.to_string()).collect();
        let unique: std::collections::HashSet<_> = names.iter().collect();
        assert_eq!(unique.len(), names.len());
        assert_eq!(
            &names[..5],
            &[
                "blockwise",
                "blockwise-v3",
                "fast-accum",
                "dequant-bf16",
                "exact"
            ]
        );
        assert!(names.contains(&"fast-accum,acc=trunc:14".to_string()));
        assert!(v.len() > 40 && v.len() < 80, "{}", v.len());
    }
}
