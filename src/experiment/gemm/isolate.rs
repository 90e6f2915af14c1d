//! `isolate gemm`: quantizer × GEMM cross-attribution (docs/contract.md §5; docs/method.md §3.6).
//!
//! Four paths over one dumped activation and one weight:
//! A = target quant + target GEMM, B = reference quant + reference GEMM,
//! C1 = reference quant + target GEMM, C2 = target quant + reference GEMM.
//! The `vs_ref` metrics and the severity compare each path with R = `ref_out` when given, else B. The drift
//! used for the shares is 1 − cos(path, B) by default (`VerdictThresholds::shares_vs_ref_out` = false): C1 and C2
//! each differ from B in exactly one factor, so measuring against B isolates the factors even when B itself
//! does not reproduce `ref_out` (e.g. `ref_out` is an unquantized f32 layer whose weight-quantization error
//! every path shares; measured against it, that common drift would make every share ≈ 1). With
//! `shares_vs_ref_out` the drift is 1 − cos(path, ref_out) as docs/contract.md §5.3 words it. Attribution:
//! - `none` when A and B are bitwise equal (or 1 − cos(A, B) ≤ 1e-12 and max_abs(A, B) = 0);
//! - else shares quant = drift(C2)/drift(A), gemm = drift(C1)/drift(A);
//!   `quant` when quant ≥ 0.8 and gemm < 0.2, `gemm` symmetrically, `both` when each ≥ 0.2, else
//!   `inconclusive` (an interaction, or drift(A) = 0 / NaN so that shares are undefined).
//!
//! Significance is a separate answer: `severity` is the flag (docs/numerics.md §9.8) of A against R.
//! Sanity: does A reproduce `target_out` and B `ref_out`? If A does not, the chosen target emulation is not
//! the target's kernel and the verdict is provisional.

use std::collections::HashMap;
use std::sync::Arc;

use crate::error::Result;
pub use crate::experiment::gemm::attribution::{
    attribute, attribute_by, attribute_with_copies, Attribution, Metrics, Sanity, Subject, Verdict,
    VerdictThresholds, PATHS,
};
use crate::experiment::gemm::staged::{compare_staged, Staged};
use crate::experiment::Stopwatch;
use crate::formats::DType;
use crate::gemm::{GemmChoice, Operand};
use crate::io::Tensor;
use crate::metrics::Comparison;

/// One path's outcome.
pub struct PathResult {
    pub name: &'static str,
    pub quant: String,
    pub gemm: String,
    /// The output, where it was computed (a path that reused another's GEMM shares its output).
    pub output: Arc<Staged<Tensor>>,
    pub vs_ref: Metrics,
    pub vs_target: Option<Metrics>,
}

/// A quantized (or plain) activation and the name of the quantizer that made it.
pub struct Activation<'a> {
    pub quant: String,
    pub operand: &'a Staged<Operand>,
}

/// Everything the four paths need.
pub struct IsolateInputs<'a> {
    pub target_act: Activation<'a>,
    pub ref_act: Activation<'a>,
    pub weight: &'a Staged<Operand>,
    pub target_gemm: GemmChoice,
    pub ref_gemm: GemmChoice,
    pub target_out: Option<&'a Tensor>,
    pub ref_out: Option<&'a Tensor>,
    pub thresholds: VerdictThresholds,
}

/// The result of `isolate gemm`.
pub struct IsolateResult {
    pub paths: [PathResult; 4],
    pub attribution: Attribution,
    /// A against B in full (with the ulp distances), for the noise envelope.
    pub a_vs_b: Comparison,
    /// Caveats of the GEMM emulations used (approximate models).
    pub notes: Vec<String>,
}

impl IsolateResult {
    /// Path i's output on the host (copied from the device the first time), named after the path.
    pub fn output(&self, i: usize, be: &dyn crate::backend::Backend) -> Result<&Tensor> {
        self.paths[i].output.host(be.resident(), PATHS[i])
    }
}

/// Runs the four GEMMs (calling `progress(path_index, done, total)`) and attributes the drift. `target_out`
/// and `ref_out` must be [M, N].
pub fn run(
    inp: &IsolateInputs,
    progress: &(dyn Fn(usize, usize, usize) + Sync),
) -> Result<IsolateResult> {
    run_with(
        &crate::backend::CpuBackend,
        inp,
        progress,
        &mut Stopwatch::start(),
    )
}

/// [`run`] with the GEMMs computed on `be` (the same bits on every backend). With a backend that keeps data
/// on its device ([`crate::backend::ResidentOps`]), a GEMM it computes there leaves its output there and the
/// comparisons run there too; anything else runs on the host.
pub fn run_with(
    be: &dyn crate::backend::Backend,
    inp: &IsolateInputs,
    progress: &(dyn Fn(usize, usize, usize) + Sync),
    phases: &mut Stopwatch,
) -> Result<IsolateResult> {
    let rd = be.resident();
    let (m, n) = (inp.target_act.operand.rows(), inp.weight.rows());
    let dumped = |t: Option<&Tensor>, role: &str| -> Result<Option<Staged<Tensor>>> {
        Ok(t.map(|t| crate::gemm::load::output(t, role, m, n))
            .transpose()?
            .map(Staged::on_host))
    };
    let target_out = dumped(inp.target_out, "target_out")?;
    let ref_out = dumped(inp.ref_out, "ref_out")?;
    let plan = [
        (&inp.target_act, &inp.target_gemm),
        (&inp.ref_act, &inp.ref_gemm),
        (&inp.ref_act, &inp.target_gemm),
        (&inp.target_act, &inp.ref_gemm),
    ];
    let mut outs: Vec<Arc<Staged<Tensor>>> = Vec::with_capacity(4);
    let mut copies: [Option<usize>; 4] = [None; 4];
    for (i, (act, choice)) in plan.iter().enumerate() {
        // An emulation is a pure function of its operands: a path with the same activation and the same
        // emulated GEMM as an earlier one (A = C2 and B = C1 when both sides name one GEMM) reuses its output.
        let same = (0..i).find(|&j| {
            matches!(choice, GemmChoice::Emulation(_))
                && std::ptr::eq(plan[j].0.operand, act.operand)
                && plan[j].1 == *choice
        });
        if let Some(j) = same {
            outs.push(outs[j].clone());
            copies[i] = Some(j);
            progress(i, 1, 1);
            phases.mark(&format!("GEMM path {} (= path {})", PATHS[i], PATHS[j]));
            continue;
        }
        let on_device = match rd {
            Some(rd) if matches!(choice, GemmChoice::Emulation(_)) => {
                match (act.operand.on(rd)?, inp.weight.on(rd)?) {
                    (Some(a), Some(w)) => rd.gemm(choice, a, w)?,
                    _ => None,
                }
            }
            _ => None,
        };
        let out = match on_device {
            Some(r) => {
                progress(i, 1, 1);
                Staged::on_device(r)
            }
            None => {
                let o = crate::backend::run_gemm(
                    be,
                    choice,
                    act.operand.host(rd)?,
                    inp.weight.host(rd)?,
                    &|d, t| progress(i, d, t),
                )?;
                Staged::on_host(o.to_tensor(PATHS[i])?)
            }
        };
        outs.push(Arc::new(out));
        phases.mark(&format!("GEMM path {} ({choice})", PATHS[i]));
    }
    let subject = |s: Subject| -> (&Staged<Tensor>, &str) {
        match s {
            Subject::Path(i) => (outs[i].as_ref(), PATHS[i]),
            Subject::RefOut => (
                ref_out.as_ref().expect("asked only with ref_out"),
                "ref_out",
            ),
            Subject::TargetOut => (
                target_out.as_ref().expect("asked only with target_out"),
                "target_out",
            ),
        }
    };
    let mut done: HashMap<(Subject, Subject), Comparison> = HashMap::new();
    let mut cmp = |x: Subject, y: Subject| -> Result<Comparison> {
        if let Some(c) = done.get(&(x, y)) {
            return Ok(c.clone());
        }
        let c = compare_staged(rd, subject(x), subject(y))?;
        done.insert((x, y), c.clone());
        Ok(c)
    };
    let attribution = attribute_by(
        &mut cmp,
        copies,
        ref_out.is_some(),
        target_out.is_some(),
        &inp.thresholds,
    )?;
    let a_vs_b = cmp(Subject::Path(0), Subject::Path(1))?;
    phases.mark("compare the 4 paths");
    let mut notes = Vec::new();
    for (role, s) in [("target", &inp.target_gemm), ("reference", &inp.ref_gemm)] {
        if s.is_approximate() {
            notes.push(format!("{role} GEMM {s}: {}", s.description()));
        }
    }
    let paths: Vec<PathResult> = outs
        .into_iter()
        .enumerate()
        .map(|(i, output)| PathResult {
            name: PATHS[i],
            quant: plan[i].0.quant.clone(),
            gemm: plan[i].1.to_string(),
            output,
            vs_ref: attribution.vs_ref[i].clone(),
            vs_target: attribution.vs_target[i].clone(),
        })
        .collect();
    Ok(IsolateResult {
        paths: paths.try_into().unwrap_or_else(|_| unreachable!()),
        attribution,
        a_vs_b,
        notes,
    })
}

/// The tensors `--save` writes: the four outputs, and each quantizer's activation (`xq_*` codes in their FP8
/// dtype + `xs_*` f32 scales, or `x_*` f32 values for a plain one) so a user can feed the reference-quantized
/// activation into their own kernel. Device data is copied to the host here.
pub fn saved_tensors(
    be: &dyn crate::backend::Backend,
    inp: &IsolateInputs,
    res: &IsolateResult,
) -> Result<Vec<Tensor>> {
    let rd = be.resident();
    let mut v: Vec<Tensor> = Vec::with_capacity(8);
    for (i, p) in res.paths.iter().enumerate() {
        let mut t = res.output(i, be)?.clone();
        t.name = p.name.to_string();
        v.push(t);
    }
    for (tag, act) in [("target", &inp.target_act), ("ref", &inp.ref_act)] {
        match act.operand.host(rd)? {
            Operand::Quantized(q) => {
                let dt = crate::gemm::operand::fp8_dtype(q.fmt);
                v.push(Tensor::new(
                    format!("xq_{tag}"),
                    dt,
                    vec![q.rows, q.cols],
                    q.q.clone(),
                )?);
                let (gr, gc) = q.grid();
                v.push(Tensor::from_f32(
                    format!("xs_{tag}"),
                    vec![gr, gc],
                    &q.scales,
                )?);
            }
            Operand::Plain { rows, cols, values } => {
                v.push(Tensor::from_f32(
                    format!("x_{tag}"),
                    vec![*rows, *cols],
                    values,
                )?);
            }
        }
    }
    debug_assert!(v.iter().all(|t| t.dtype != DType::U8));
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn isolate(target_act: Operand, ref_act: Operand, tg: &str, rg: &str) -> IsolateResult {
        let (target_act, ref_act) = (Staged::on_host(target_act), Staged::on_host(ref_act));
        let w: Operand = crate::testdata::quantized(
            96,
            512,
            (128, 128),
            crate::formats::Fp8Format::E4m3fn,
            crate::testdata::Scales::Pow2,
            41,
        )
        .into();
        let w = Staged::on_host(w);
        let inp = IsolateInputs {
            target_act: Activation {
                quant: "target-q".into(),
                operand: &target_act,
            },
            ref_act: Activation {
                quant: "ref-q".into(),
                operand: &ref_act,
            },
            weight: &w,
            target_gemm: GemmChoice::parse(tg).unwrap(),
            ref_gemm: GemmChoice::parse(rg).unwrap(),
            target_out: None,
            ref_out: None,
            thresholds: VerdictThresholds::default(),
        };
        let r = run(&inp, &|_, _, _| {}).unwrap();
        let saved = saved_tensors(&crate::backend::CpuBackend, &inp, &r).unwrap();
        let names: Vec<&str> = saved.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "A",
                "B",
                "C1",
                "C2",
                "xq_target",
                "xs_target",
                "xq_ref",
                "xs_ref"
            ]
        );
        r
    }

    #[test]
    fn planted_quantizer_and_gemm_differences_get_their_verdicts() {
        use crate::testdata::{quantized, Scales};
        let q = quantized(
            8,
            512,
            (1, 128),
            crate::formats::Fp8Format::E4m3fn,
            Scales::Pow2,
            40,
        );
        // A different quantizer: every 16th code one step up in magnitude (a rounding disagreement).
        let mut t = q.clone();
        for c in t.q.iter_mut().step_by(16) {
            if *c & 0x7F < 0x7D {
                *c += 1;
            }
        }
        let (refa, tgta): (Operand, Operand) = (q.into(), t.into());
        let r = isolate(tgta.clone(), refa.clone(), "blockwise", "blockwise");
        assert_eq!(r.attribution.verdict, Verdict::Quant);
        assert_eq!(
            (r.attribution.quant_share, r.attribution.gemm_share),
            (1.0, 0.0)
        );
        assert!(
            r.paths[2].vs_ref.bitwise
                && r.paths[0].gemm == "blockwise"
                && r.paths[1].quant == "ref-q"
        );
        let g = isolate(
            refa.clone(),
            refa.clone(),
            "blockwise,promote=none,acc=trunc:13",
            "exact",
        );
        assert_eq!(g.attribution.verdict, Verdict::Gemm);
        assert!(g.notes[0].contains("APPROXIMATE"));
        let n = isolate(
            refa.clone(),
            refa.clone(),
            "blockwise",
            "blockwise,split_k=1",
        );
        assert_eq!(n.attribution.verdict, Verdict::None);
        let b = isolate(
            tgta.clone(),
            refa.clone(),
            "blockwise,promote=none,acc=trunc:5",
            "exact",
        );
        let sh = (b.attribution.quant_share, b.attribution.gemm_share);
        assert_eq!(b.attribution.verdict, Verdict::Both, "{sh:?}");
        assert!(sh.0 > 0.3 && sh.1 > 0.3, "{sh:?}");
    }
}
