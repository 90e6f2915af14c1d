//! `isolate gemm fingerprint`: which GEMM emulation reproduces a dumped output? Runs every variant of a
//! grid over the axes of docs/numerics.md §8.2 (promote interval, acc, scale order, split-K, dequant) and the
//! tensor-core accumulator models of §8.7 (acc=sm90|sm89|sm100|cdna3 × promotion interval × split-K × epilogue
//! order) on the dumped quantized operands, compares each with the dump (`metrics::compare`) and ranks them by
//! the fraction of bit-equal elements, then by the fraction within 1 ulp, then by the largest ulp distance. The
//! axes on which every bit-exact emulation agrees are what the data proved; the others it left open. On a GPU
//! backend the GPU-only GEMMs (`tc`, `tc-fast-accum`, `cublaslt`: the real kernels) are ranked with them
//! ([`gpu_variants`]).
//!
//! Speed: the accumulator-model variants that differ only in split-K, scale order and epilogue share the
//! model's work ([`crate::gemm::gemm_many`]): on a DeepSeek-shaped dump (64×256×7168) they add under a second
//! to the whole grid's 21 s on two cores (docs/measurements/gemm-fingerprint-cpu.txt).

use crate::backend::{Backend, Device};
use crate::error::{Error, Result};
use crate::formats::DType;
use crate::gemm::mma::Model;
use crate::gemm::spec::GemmAxis;
use crate::gemm::{
    gemm_many, plan, Acc, Dequant, Epilogue, GemmChoice, GemmSpec, GpuGemm, Operand, OutType,
    Preset, Promote, ScaleOrder,
};
use crate::io::Tensor;
use crate::metrics::compare;
use crate::spec_syntax::SpecAxis;

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
    /// The axes on which every bit-exact emulation agrees, with that value (`acc` → `sm90`); empty when no
    /// emulation is bit-exact. Within the searched grid: an axis the grid never varies in that family is
    /// listed too.
    pub proven: Vec<(String, String)>,
    /// The axes on which the bit-exact emulations differ, with every value among them: the data cannot tell
    /// these apart.
    pub undetermined: Vec<(String, Vec<String>)>,
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

/// Split-K values the tensor-core grid searches (the H200 `torch._scaled_mm` cases needed 1 and 2; 3, 4 and
/// 8 are what cuBLASLt's heuristics pick elsewhere).
pub const TC_SPLIT_K: [usize; 5] = [1, 2, 3, 4, 8];

/// The tensor-core grid (docs/numerics.md §8.7): accumulator model × promotion interval (32, 64, 128, none) ×
/// split-K ([`TC_SPLIT_K`]) × where the scales go (at each promotion, fused or left to right; or in the
/// epilogue, `ab`, `a-b`, `b-a`). `promote=none` with the scales at the promotion is no kernel (the
/// accumulator cannot apply scales) and is left out; the combinations that do not fit the operands (cdna3 on
/// OCP codes, epilogue scaling of K-blocked scales, …) are listed as skipped.
pub fn tc_variants() -> Vec<GemmSpec> {
    let base = Preset::Sm90Blockwise.spec();
    let places = [
        (Epilogue::Promote, ScaleOrder::Fused),
        (Epilogue::Promote, ScaleOrder::Left),
        (Epilogue::Ab, ScaleOrder::Fused),
        (Epilogue::AThenB, ScaleOrder::Fused),
        (Epilogue::BThenA, ScaleOrder::Fused),
    ];
    let mut v = Vec::new();
    for model in Model::ALL {
        for promote in [
            Promote::Every(128),
            Promote::Every(64),
            Promote::Every(32),
            Promote::None,
        ] {
            for split_k in TC_SPLIT_K {
                for (epilogue, scale_order) in places {
                    if promote == Promote::None && epilogue == Epilogue::Promote {
                        continue;
                    }
                    v.push(GemmSpec {
                        promote,
                        acc: Acc::Mma(model),
                        scale_order,
                        split_k,
                        epilogue,
                        ..base
                    });
                }
            }
        }
    }
    v
}

/// The default grid: the presets, then promote × acc × scale order (block-exact, f32-seq, exact),
/// truncated accumulators of 10–23 bits with and without promotion, split-K 2 and 4 of the blockwise
/// kernels, bf16-dequantized GEMMs, and the tensor-core grid ([`tc_variants`]). Duplicates (same axes) are
/// removed.
pub fn default_variants() -> Vec<GemmSpec> {
    let mut v: Vec<GemmSpec> = Preset::ALL
        .iter()
        .filter(|p| !p.is_alias())
        .map(|p| p.spec())
        .collect();
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
    v.extend(tc_variants());
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
    let score = |choice: &GemmChoice, c: crate::gemm::GemmOutput| -> Result<VariantScore> {
        let c = c.to_tensor("candidate")?;
        let cmp = compare(&c, &target)?;
        let ulp = cmp.ulp.as_ref();
        Ok(VariantScore {
            spec: choice.clone(),
            bitwise: cmp.byte_equal.unwrap_or(cmp.value_equal),
            within_1ulp: ulp.map(|h| h.fraction_within(1)).unwrap_or(f64::NAN),
            ulp_median: ulp.and_then(|h| h.quantile(0.5)),
            ulp_p99: ulp.and_then(|h| h.quantile(0.99)),
            ulp_max: ulp.filter(|h| h.count > 0).map(|h| h.max),
            cos: cmp.cos,
            rel: cmp.rel,
            max_abs: cmp.max_abs,
        })
    };
    // One slot per distinct variant, in grid order: the ranking keeps that order among equal scores.
    let mut slots: Vec<(
        GemmChoice,
        Option<std::result::Result<VariantScore, String>>,
    )> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for v in variants {
        let choice = v.with_out(out);
        if seen.insert(choice.clone()) {
            slots.push((choice, None));
        }
    }
    let total = slots.len();
    let mut done = 0usize;
    // Emulations: every spec that fits these operands, run together so that families share their work.
    let mut specs = Vec::new();
    let mut spec_slot = Vec::new();
    for (i, (choice, slot)) in slots.iter_mut().enumerate() {
        if let GemmChoice::Emulation(spec) = choice {
            let (pa, pb);
            let (ca, cb) = if spec.dequant == Dequant::Bf16 {
                pa = a.dequant_bf16();
                pb = b.dequant_bf16();
                (&pa, &pb)
            } else {
                (a, b)
            };
            match plan::plan(spec, ca, cb) {
                Err(e) => *slot = Some(Err(e.to_string())),
                Ok(_) => {
                    specs.push(*spec);
                    spec_slot.push(i);
                }
            }
        }
    }
    gemm_many(&specs, a, b, &mut |j, r| {
        let i = spec_slot[j];
        slots[i].1 = Some(match r {
            Ok(c) => Ok(score(&slots[i].0, c)?),
            Err(e @ Error::Usage(_)) => Err(e.to_string()),
            Err(e) => return Err(e),
        });
        done += 1;
        progress(done, total);
        Ok(())
    })?;
    for (choice, slot) in slots.iter_mut() {
        if let GemmChoice::Gpu { .. } = choice {
            *slot = Some(
                match crate::backend::run_gemm(be, choice, a, b, &|_, _| {}) {
                    Ok(c) => Ok(score(choice, c)?),
                    // Operands it cannot take, or a library that has no algorithm for them: listed, not fatal.
                    Err(e @ (Error::Usage(_) | Error::NoGpu(_) | Error::Gpu(_))) => {
                        Err(e.to_string())
                    }
                    Err(e) => return Err(e),
                },
            );
            done += 1;
            progress(done, total);
        }
    }
    let mut ranking = Vec::new();
    let mut skipped = Vec::new();
    for (choice, slot) in slots {
        match slot {
            Some(Ok(v)) => ranking.push(v),
            Some(Err(why)) => skipped.push((choice.to_string(), why)),
            None => {}
        }
    }
    // Stable sort: among equal scores the grid order (presets first) is kept.
    ranking.sort_by(|x, y| {
        y.key()
            .partial_cmp(&x.key())
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    let (proven, undetermined) = axes_of(&ranking);
    Ok(GemmFingerprint {
        ranking,
        skipped,
        out,
        n: target.numel(),
        proven,
        undetermined,
    })
}

/// What the bit-exact emulations of a ranking say about each axis but `out` (the dump's type): the axes on
/// which they all agree, and those on which they differ (with the values, in grid order).
#[allow(clippy::type_complexity)]
fn axes_of(ranking: &[VariantScore]) -> (Vec<(String, String)>, Vec<(String, Vec<String>)>) {
    let exact: Vec<GemmSpec> = ranking
        .iter()
        .filter(|v| v.bitwise == 1.0)
        .filter_map(|v| v.spec.spec().copied())
        .collect();
    let (mut proven, mut open) = (Vec::new(), Vec::new());
    if exact.is_empty() {
        return (proven, open);
    }
    for &axis in GemmAxis::all() {
        if axis == GemmAxis::Out {
            continue;
        }
        let mut values: Vec<String> = Vec::new();
        for s in &exact {
            let v = s.axis_value(axis);
            if !values.contains(&v) {
                values.push(v);
            }
        }
        if values.len() == 1 {
            proven.push((axis.name().to_string(), values.remove(0)));
        } else {
            open.push((axis.name().to_string(), values));
        }
    }
    (proven, open)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::CpuBackend;
    use crate::formats::Fp8Format;
    use crate::gemm::gemm;
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
            ("blockwise,promote=none,acc=trunc:11,out=f32", Scales::Pow2),
            ("sm90-blockwise,split_k=2,scale_order=left", Scales::Any),
            ("sm89-blockwise,promote=64", Scales::Any),
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
                "dequant-bf16",
                "exact",
                "sm90-blockwise"
            ]
        );
        assert!(names.contains(&"blockwise,promote=none,acc=trunc:14".to_string()));
        assert!(!names.iter().any(|n| n.starts_with("fast-accum")));
        // The tensor-core grid: 4 models × (3 intervals × 5 split-K × 5 scale placements + 5 split-K × 3
        // epilogues).
        assert_eq!(tc_variants().len(), 4 * (3 * 5 * 5 + 5 * 3));
        for n in [
            "sm90-blockwise,split_k=2",
            "sm89-blockwise,promote=32,scale_order=left",
            "sm100-promote,split_k=8,epilogue=b-a",
            "cdna3-fast-accum,split_k=4,epilogue=a-b",
        ] {
            let want = GemmSpec::parse(n).unwrap().canonical();
            assert!(v.contains(&want), "{n}");
        }
        assert!(v.len() > 400 && v.len() < 460, "{}", v.len());
    }

    #[test]
    fn proven_and_undetermined_axes() {
        // Per-row scales: sm90's chained accumulator over all of K; the epilogue order cannot matter for
        // power-of-two scales, so the data leaves it open, but it proves the model and the interval.
        let a: Operand = quantized(4, 512, (1, 512), Fp8Format::E4m3fn, Scales::Pow2, 3).into();
        let b: Operand = quantized(64, 512, (1, 512), Fp8Format::E4m3fn, Scales::Pow2, 4).into();
        let t = gemm(&GemmSpec::parse("sm90-fast-accum").unwrap(), &a, &b)
            .unwrap()
            .to_tensor("t")
            .unwrap();
        let f = fingerprint(&CpuBackend, &a, &b, &t, &emulations(), &|_, _| {}).unwrap();
        assert_eq!(f.best()[0].bitwise, 1.0);
        let proven: std::collections::HashMap<_, _> = f.proven.iter().cloned().collect();
        assert_eq!(proven.get("acc").map(String::as_str), Some("sm90"), "{f:?}");
        assert_eq!(proven.get("promote").map(String::as_str), Some("none"));
        let open: std::collections::HashMap<_, _> = f.undetermined.iter().cloned().collect();
        assert!(
            open["epilogue"].contains(&"ab".to_string()),
            "{:?}",
            f.undetermined
        );
        // cdna3 does not take OCP codes: skipped with the reason.
        assert!(f
            .skipped
            .iter()
            .any(|(v, why)| v.starts_with("cdna3") && why.contains("fnuz")));
        // Nothing bit-exact: nothing proven.
        let zero = Tensor::from_f32("t", vec![4, 64], &[1.0; 256]).unwrap();
        let f = fingerprint(&CpuBackend, &a, &b, &zero, &emulations(), &|_, _| {}).unwrap();
        assert!(f.proven.is_empty() && f.undetermined.is_empty());
    }
}
