//! The attribution rule of `isolate gemm` (docs/contract.md §5): from the four path outputs
//! A, B, C1, C2 (and the optional dumps), the shares of the drift, the verdict, the severity and the sanity
//! checks. See `gemm_isolate` for the paths and the choice of the drift's reference.

use crate::error::Result;
use crate::io::Tensor;
use crate::metrics::{compare, flag_for, Comparison, Severity};

/// The four path names, in report order.
pub const PATHS: [&str; 4] = ["A", "B", "C1", "C2"];

/// The verdict of the attribution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Quant,
    Gemm,
    Both,
    None,
    Inconclusive,
}

impl Verdict {
    /// Its JSON / terminal spelling.
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Quant => "quant",
            Verdict::Gemm => "gemm",
            Verdict::Both => "both",
            Verdict::None => "none",
            Verdict::Inconclusive => "inconclusive",
        }
    }
    /// Exit code of `isolate gemm`: 0 for `none`, 1 otherwise.
    pub fn exit_code(self) -> i32 {
        (self != Verdict::None) as i32
    }
}

/// The thresholds of the verdict rule (command-line options).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct VerdictThresholds {
    /// A share at least this large is "the" cause (0.8).
    pub major: f64,
    /// A share below this is negligible; each share at least this large makes `both` (0.2).
    pub minor: f64,
    /// 1 − cos(A, B) at most this, with max_abs = 0, counts as equal (1e-12).
    pub equal_drift: f64,
    /// Measure the shares' drift against `ref_out` (when given) instead of B.
    pub shares_vs_ref_out: bool,
}

impl Default for VerdictThresholds {
    fn default() -> Self {
        VerdictThresholds {
            major: 0.8,
            minor: 0.2,
            equal_drift: 1e-12,
            shares_vs_ref_out: false,
        }
    }
}

impl VerdictThresholds {
    /// The rule in one line.
    pub fn rule(&self) -> String {
        format!(
            "quant if drift(C2)/drift(A) ≥ {} and drift(C1)/drift(A) < {}; gemm symmetrically; both if each ≥ {}; \
             none if A ≡ B bitwise; else inconclusive (drift = 1 − cos vs {})",
            self.major,
            self.minor,
            self.minor,
            if self.shares_vs_ref_out { "ref_out" } else { "B" }
        )
    }
}

/// cos / rel / max_abs of one comparison, plus its flag and bit equality.
#[derive(Clone, Debug)]
pub struct Metrics {
    pub cos: f64,
    pub rel: f64,
    pub max_abs: f64,
    /// Fraction of elements with equal bytes (None when dtypes differ).
    pub byte_equal: Option<f64>,
    /// Fraction of elements equal as numbers.
    pub value_equal: f64,
    pub bitwise: bool,
    pub severity: Severity,
}

impl Metrics {
    /// From a comparison.
    pub fn of(c: &Comparison) -> Metrics {
        Metrics {
            cos: c.cos,
            rel: c.rel,
            max_abs: c.max_abs,
            byte_equal: c.byte_equal,
            value_equal: c.value_equal,
            bitwise: c.bitwise_equal(),
            severity: c.severity(),
        }
    }
    /// [`crate::metrics::drift_of_cos`] of this path's cosine.
    pub fn drift(&self) -> f64 {
        crate::metrics::drift_of_cos(self.cos)
    }
}

/// Whether A reproduces `target_out` and B `ref_out`.
#[derive(Clone, Debug)]
pub struct Sanity {
    pub a_vs_target: Option<Metrics>,
    pub b_vs_ref: Option<Metrics>,
    /// A does not reproduce `target_out` bit for bit: the verdict is provisional.
    pub provisional: bool,
    /// Human-readable lines.
    pub notes: Vec<String>,
}

/// The attribution of four path outputs.
#[derive(Clone, Debug)]
pub struct Attribution {
    pub verdict: Verdict,
    pub quant_share: f64,
    pub gemm_share: f64,
    /// The severity flag (docs/numerics.md §9.8) of A against the reference.
    pub severity: Severity,
    /// What `vs_ref` compares with: "ref_out" or "B".
    pub reference: &'static str,
    /// What the shares' drift is measured against: "ref_out" or "B".
    pub shares_vs: &'static str,
    pub vs_ref: [Metrics; 4],
    pub vs_target: [Option<Metrics>; 4],
    pub a_vs_b: Metrics,
    pub sanity: Sanity,
    pub rule: String,
}

/// Attributes the drift of path outputs `outs` = [A, B, C1, C2] (each [M, N]) per the module doc.
pub fn attribute(
    outs: [&Tensor; 4],
    ref_out: Option<&Tensor>,
    target_out: Option<&Tensor>,
    t: &VerdictThresholds,
) -> Result<Attribution> {
    attribute_with_copies(outs, [None; 4], ref_out, target_out, t)
}

/// [`attribute`] where `copies[i] = Some(j)` (j < i) says that path i's output is path j's, bit for bit (a
/// path that reused an earlier one's GEMM): its comparisons are path j's, not computed again.
pub fn attribute_with_copies(
    outs: [&Tensor; 4],
    copies: [Option<usize>; 4],
    ref_out: Option<&Tensor>,
    target_out: Option<&Tensor>,
    t: &VerdictThresholds,
) -> Result<Attribution> {
    let tensor = |s: Subject| -> Result<&Tensor> {
        match s {
            Subject::Path(i) => Ok(outs[i]),
            Subject::RefOut => {
                ref_out.ok_or_else(|| crate::error::Error::Usage("no ref_out".into()))
            }
            Subject::TargetOut => {
                target_out.ok_or_else(|| crate::error::Error::Usage("no target_out".into()))
            }
        }
    };
    attribute_by(
        &mut |x, y| compare(tensor(x)?, tensor(y)?),
        copies,
        ref_out.is_some(),
        target_out.is_some(),
        t,
    )
}

/// What one comparison of the attribution is between: a path's output, or a dumped output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Subject {
    /// Path i of [`PATHS`].
    Path(usize),
    RefOut,
    TargetOut,
}

/// The attribution with its comparisons made by `cmp(candidate, reference)` wherever the outputs are (the
/// host or the device: the same bits): `copies` as in [`attribute_with_copies`], and which dumped outputs
/// there are.
pub fn attribute_by(
    cmp: &mut dyn FnMut(Subject, Subject) -> Result<crate::metrics::Comparison>,
    copies: [Option<usize>; 4],
    has_ref_out: bool,
    has_target_out: bool,
    t: &VerdictThresholds,
) -> Result<Attribution> {
    let r = if has_ref_out {
        Subject::RefOut
    } else {
        Subject::Path(1)
    };
    // Each path's metrics against `with`, computed once per distinct output.
    let mut against = |with: Subject| -> Result<Vec<Metrics>> {
        let mut v: Vec<Metrics> = Vec::with_capacity(4);
        for (i, copy) in copies.iter().enumerate() {
            let m = match *copy {
                Some(j) if j < i => v[j].clone(),
                _ => Metrics::of(&cmp(Subject::Path(i), with)?),
            };
            v.push(m);
        }
        Ok(v)
    };
    let vs_ref = against(r)?;
    let vs_target: Vec<Option<Metrics>> = if has_target_out {
        against(Subject::TargetOut)?.into_iter().map(Some).collect()
    } else {
        vec![None; 4]
    };
    let base = if t.shares_vs_ref_out {
        r
    } else {
        Subject::Path(1)
    };
    let drift: Vec<f64> = if base == r {
        vs_ref.iter().map(Metrics::drift).collect()
    } else {
        against(base)?.iter().map(Metrics::drift).collect()
    };
    // Without ref_out the reference is B itself: A vs B is already vs_ref[0].
    let a_vs_b = if r == Subject::Path(1) {
        vs_ref[0].clone()
    } else {
        Metrics::of(&cmp(Subject::Path(0), Subject::Path(1))?)
    };
    let equal = a_vs_b.bitwise || (a_vs_b.drift() <= t.equal_drift && a_vs_b.max_abs == 0.0);
    let (qs, gs) = (drift[3] / drift[0], drift[2] / drift[0]);
    let verdict = if equal {
        Verdict::None
    } else if !(qs.is_finite() && gs.is_finite()) {
        Verdict::Inconclusive
    } else if qs >= t.major && gs < t.minor {
        Verdict::Quant
    } else if gs >= t.major && qs < t.minor {
        Verdict::Gemm
    } else if qs >= t.minor && gs >= t.minor {
        Verdict::Both
    } else {
        Verdict::Inconclusive
    };
    let (quant_share, gemm_share) = if equal { (0.0, 0.0) } else { (qs, gs) };
    let severity = flag_for(vs_ref[0].cos, vs_ref[0].rel);
    let sanity = sanity(vs_target[0].clone(), has_ref_out.then(|| vs_ref[1].clone()));
    let arr = |v: Vec<Metrics>| -> [Metrics; 4] { v.try_into().unwrap_or_else(|_| unreachable!()) };
    let arr_o = |v: Vec<Option<Metrics>>| -> [Option<Metrics>; 4] {
        v.try_into().unwrap_or_else(|_| unreachable!())
    };
    Ok(Attribution {
        verdict,
        quant_share,
        gemm_share,
        severity,
        reference: if has_ref_out { "ref_out" } else { "B" },
        shares_vs: if t.shares_vs_ref_out && has_ref_out {
            "ref_out"
        } else {
            "B"
        },
        vs_ref: arr(vs_ref),
        vs_target: arr_o(vs_target),
        a_vs_b,
        sanity,
        rule: t.rule(),
    })
}

fn sanity(a_vs_target: Option<Metrics>, b_vs_ref: Option<Metrics>) -> Sanity {
    let mut notes = Vec::new();
    let provisional = match &a_vs_target {
        Some(m) if m.bitwise => {
            notes.push(
                "A reproduces target_out bit for bit: the target emulation is the target's kernel"
                    .into(),
            );
            false
        }
        Some(m) => {
            notes.push(format!(
                "A does not reproduce target_out ({}, cos {:.9}, rel {:.3e}): the chosen target \
                 emulation is not the target's kernel; the verdict is provisional (try `isolate gemm fingerprint`)",
                equality(m),
                m.cos,
                m.rel
            ));
            true
        }
        None => {
            notes.push("no target_out given: A is not checked against the target".into());
            false
        }
    };
    match &b_vs_ref {
        Some(m) if m.bitwise => notes.push("B reproduces ref_out bit for bit".into()),
        Some(m) => notes.push(format!(
            "B does not reproduce ref_out ({}, cos {:.9}, rel {:.3e})",
            equality(m),
            m.cos,
            m.rel
        )),
        None => {}
    }
    Sanity {
        a_vs_target,
        b_vs_ref,
        provisional,
        notes,
    }
}

/// "x% bit-equal", or "x% equal values (dtypes differ)".
fn equality(m: &Metrics) -> String {
    match m.byte_equal {
        Some(b) => format!("{:.4}% bit-equal", 100.0 * b),
        None => format!("{:.4}% equal values, dtypes differ", 100.0 * m.value_equal),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reference vector and copies with chosen drifts: d(e) = r + e·u with u ⟂ r, so 1 − cos ≈ e²/2.
    fn outs(ea: f64, eb: f64, ec1: f64, ec2: f64) -> [Tensor; 4] {
        let n = 64;
        let r: Vec<f64> = (0..n).map(|i| 1.0 + (i % 7) as f64).collect();
        let mut u: Vec<f64> = (0..n)
            .map(|i| if i % 2 == 0 { 1.0 } else { -1.0 } * (1.0 + (i % 3) as f64))
            .collect();
        let ru: f64 = r.iter().zip(&u).map(|(a, b)| a * b).sum::<f64>()
            / r.iter().map(|a| a * a).sum::<f64>();
        u.iter_mut().zip(&r).for_each(|(x, y)| *x -= ru * y);
        let mk = |name: &str, e: f64| {
            let v: Vec<f32> = r.iter().zip(&u).map(|(a, b)| (a + e * b) as f32).collect();
            Tensor::from_f32(name, vec![8, 8], &v).unwrap()
        };
        [mk("A", ea), mk("B", eb), mk("C1", ec1), mk("C2", ec2)]
    }

    fn verdict(ea: f64, ec1: f64, ec2: f64) -> Attribution {
        let o = outs(ea, 0.0, ec1, ec2);
        attribute(
            [&o[0], &o[1], &o[2], &o[3]],
            None,
            None,
            &VerdictThresholds::default(),
        )
        .unwrap()
    }

    #[test]
    fn verdict_rule_on_crafted_drifts() {
        // Drift ∝ e²: shares are (e_C2/e_A)² and (e_C1/e_A)².
        let q = verdict(1e-2, 1e-4, 0.99e-2);
        assert_eq!(q.verdict, Verdict::Quant, "{q:?}");
        assert!((q.quant_share - 0.98).abs() < 1e-3 && q.gemm_share < 1e-3);
        assert_eq!(verdict(1e-2, 1e-2, 1e-3).verdict, Verdict::Gemm);
        let both = verdict(1e-2, 0.7e-2, 0.7e-2); // shares 0.49 each
        assert_eq!(both.verdict, Verdict::Both);
        // quant share 0.81 but gemm share 0.25: not "quant" — both are ≥ 0.2.
        assert_eq!(verdict(1e-2, 0.5e-2, 0.9e-2).verdict, Verdict::Both);
        // quant share 0.64 (< 0.8) and gemm 0.01: neither cause dominates → inconclusive.
        assert_eq!(verdict(1e-2, 1e-3, 0.8e-2).verdict, Verdict::Inconclusive);
        let none = verdict(0.0, 0.0, 0.0);
        assert_eq!((none.verdict, none.quant_share), (Verdict::None, 0.0));
        assert_eq!(none.severity.symbol(), "✓");
        // Thresholds are options.
        let o = outs(1e-2, 0.0, 1e-3, 0.8e-2);
        let t = VerdictThresholds {
            major: 0.6,
            ..Default::default()
        };
        let a = attribute([&o[0], &o[1], &o[2], &o[3]], None, None, &t).unwrap();
        assert_eq!(a.verdict, Verdict::Quant);
        assert!(a.rule.contains("≥ 0.6"));
    }

    #[test]
    fn copied_paths_reuse_their_sources_comparisons() {
        // C1 = B and C2 = A bit for bit (both sides name one GEMM): declaring the copies must give the same
        // attribution as comparing every path, with and without ref_out / target_out.
        let o = outs(1e-2, 0.0, 0.0, 1e-2);
        let (c1, c2) = (o[1].renamed("C1"), o[0].renamed("C2"));
        let four = [&o[0], &o[1], &c1, &c2];
        let (target, refo) = (
            o[0].renamed("target_out"),
            outs(1e-3, 1e-3, 0.0, 0.0)[1].renamed("ref_out"),
        );
        for (r, tg) in [(None, None), (Some(&refo), Some(&target))] {
            let t = VerdictThresholds::default();
            let all = attribute(four, r, tg, &t).unwrap();
            let reused =
                attribute_with_copies(four, [None, None, Some(1), Some(0)], r, tg, &t).unwrap();
            assert_eq!(format!("{all:?}"), format!("{reused:?}"));
        }
    }

    #[test]
    fn nan_outputs_are_inconclusive_and_flagged() {
        let mut o = outs(1e-2, 0.0, 1e-3, 1e-2);
        let mut v = o[0].to_f32();
        v[3] = f32::NAN;
        o[0] = Tensor::from_f32("A", vec![8, 8], &v).unwrap();
        let a = attribute(
            [&o[0], &o[1], &o[2], &o[3]],
            None,
            None,
            &VerdictThresholds::default(),
        )
        .unwrap();
        assert_eq!(a.verdict, Verdict::Inconclusive);
        assert_eq!(a.severity.symbol(), "??");
    }

    #[test]
    fn ref_out_is_the_reference_and_sanity_checks_both_dumps() {
        let o = outs(1e-2, 1e-3, 1e-3, 1e-2);
        let (target, refo) = (
            o[0].renamed("target_out"),
            outs(0.0, 0.0, 0.0, 0.0)[1].renamed("ref_out"),
        );
        let a = attribute(
            [&o[0], &o[1], &o[2], &o[3]],
            Some(&refo),
            Some(&target),
            &VerdictThresholds::default(),
        )
        .unwrap();
        assert_eq!(a.reference, "ref_out");
        assert!(!a.sanity.provisional && a.sanity.a_vs_target.as_ref().unwrap().bitwise);
        assert!(!a.sanity.b_vs_ref.as_ref().unwrap().bitwise);
        assert!(
            a.vs_target[0].as_ref().unwrap().bitwise && !a.vs_target[1].as_ref().unwrap().bitwise
        );
        // B drifts a little from ref_out, A a lot, C2 as much as A, C1 as little as B: quant, measured against
        // B (C1 ≈ B) and against ref_out.
        assert_eq!(a.verdict, Verdict::Quant);
        assert_eq!(a.shares_vs, "B");
        let t = VerdictThresholds {
            shares_vs_ref_out: true,
            ..Default::default()
        };
        let r = attribute([&o[0], &o[1], &o[2], &o[3]], Some(&refo), Some(&target), &t).unwrap();
        assert_eq!((r.verdict, r.shares_vs), (Verdict::Quant, "ref_out"));
        // A drift every path shares (all four 1e-2 away from ref_out along the same direction, and A, C1 a bit
        // further along another): against ref_out every share is ≈ 1 ("both"); against B it is the GEMM.
        let base = outs(1e-2, 1e-2, 1e-2, 1e-2);
        let mut v: Vec<Vec<f32>> = base.iter().map(|t| t.to_f32()).collect();
        for (i, x) in v[0].iter_mut().enumerate() {
            *x += if i % 3 == 0 { 0.01 } else { -0.005 };
        }
        v[2] = v[0].clone();
        let o2: Vec<Tensor> = v
            .iter()
            .enumerate()
            .map(|(i, x)| Tensor::from_f32(PATHS[i], vec![8, 8], x).unwrap())
            .collect();
        let g = attribute(
            [&o2[0], &o2[1], &o2[2], &o2[3]],
            Some(&refo),
            None,
            &VerdictThresholds::default(),
        )
        .unwrap();
        assert_eq!(g.verdict, Verdict::Gemm);
        let g2 = attribute([&o2[0], &o2[1], &o2[2], &o2[3]], Some(&refo), None, &t).unwrap();
        assert_ne!(
            g2.verdict,
            Verdict::Gemm,
            "{:?}",
            (g2.quant_share, g2.gemm_share)
        );
        let other = o[2].renamed("target_out");
        let p = attribute(
            [&o[0], &o[1], &o[2], &o[3]],
            None,
            Some(&other),
            &VerdictThresholds::default(),
        )
        .unwrap();
        assert!(p.sanity.provisional && p.sanity.notes[0].contains("provisional"));
        assert_eq!(Verdict::None.exit_code(), 0);
        assert_eq!(Verdict::Inconclusive.exit_code(), 1);
    }
}
