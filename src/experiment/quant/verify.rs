//! `isolate quant`: is a candidate quantizer (a spec, or dumped `xq`/`xs`) byte-equal to a reference spec on
//! the same `x`? Counts equal codes and scales, lists the first mismatches, and says for each mismatching
//! group which rule most likely differs.

use crate::error::{Error, Result};
use crate::formats::Fp8Format;
use crate::io::Tensor;
use crate::quant::cpu::{matrix_dims, scan_nonfinite, to_matrix};
use crate::quant::layout::{payload_bytes, payload_format, read_scales, XsLayout};
use crate::quant::scale::e8m0_code_of;
use crate::quant::{NonFinite, QuantSpec, Quantized};

pub use crate::experiment::quant::cause::Cause;
use crate::experiment::quant::cause::{ordinal, scale_cause};

/// One side of the comparison.
#[derive(Clone, Debug)]
pub struct Side {
    /// The spec string, or `dumped (xq, xs)`.
    pub label: String,
    pub q: Quantized,
    /// E8M0 codes of the scales, when the side is a dump that stores codes (compared code for code).
    pub codes: Option<Vec<u8>>,
}

/// One element whose bytes differ.
#[derive(Clone, Debug)]
pub struct Mismatch {
    pub row: usize,
    pub col: usize,
    pub x: f32,
    pub ref_byte: u8,
    pub cand_byte: u8,
    pub ref_value: f32,
    pub cand_value: f32,
    pub ref_scale: f32,
    pub cand_scale: f32,
}

/// One group whose scale or codes differ.
#[derive(Clone, Debug)]
pub struct GroupMismatch {
    pub row: usize,
    pub group: usize,
    pub ref_scale: f32,
    pub cand_scale: f32,
    /// Elements of the group whose bytes differ.
    pub elements: usize,
    pub cause: Cause,
}

/// The result of [`verify`].
#[derive(Clone, Debug)]
pub struct VerifyReport {
    pub reference: String,
    pub candidate: String,
    pub rows: usize,
    pub cols: usize,
    pub group: usize,
    pub fmt: Fp8Format,
    pub x_dtype: String,
    pub nonfinite: NonFinite,
    pub elements: usize,
    /// Codes with identical bytes.
    pub q_equal: usize,
    /// Codes equal as values (also −0 = +0 and NaN = NaN of any code).
    pub q_value_equal: usize,
    pub groups: usize,
    /// Scales with identical f32 bits (or E8M0 codes), NaN = NaN.
    pub s_equal: usize,
    /// Scales equal as numbers (−0 = +0, NaN = NaN; a dump's codes decoded).
    pub s_value_equal: usize,
    pub byte_equal: bool,
    /// Classes of mismatching groups, most frequent first.
    pub causes: Vec<(Cause, usize)>,
    pub mismatching_groups: usize,
    pub mismatches: Vec<Mismatch>,
    pub group_mismatches: Vec<GroupMismatch>,
    /// What the candidate's scales were (f32, e8m0, …) when dumped.
    pub cand_scale_kind: Option<&'static str>,
    /// Scale ↔ payload consistency of a dumped candidate.
    pub consistency: Option<crate::experiment::quant::consistency::Consistency>,
}

impl VerifyReport {
    pub fn q_match(&self) -> f64 {
        frac(self.q_equal, self.elements)
    }
    pub fn s_match(&self) -> f64 {
        frac(self.s_equal, self.groups)
    }
    /// Fraction of codes equal as values.
    pub fn q_value_match(&self) -> f64 {
        frac(self.q_value_equal, self.elements)
    }
    /// Fraction of scales equal as numbers.
    pub fn s_value_match(&self) -> f64 {
        frac(self.s_value_equal, self.groups)
    }
}

fn frac(a: usize, n: usize) -> f64 {
    if n == 0 {
        1.0
    } else {
        a as f64 / n as f64
    }
}

/// How the candidate is given.
pub enum Candidate<'a> {
    Spec(QuantSpec),
    /// Codes and scales computed elsewhere (a user kernel: `kernel:FILE.cu`), named by `label`.
    Computed {
        label: String,
        q: Quantized,
    },
    Dumped {
        xq: &'a Tensor,
        xs: &'a Tensor,
        layout: XsLayout,
        fp8: Option<Fp8Format>,
    },
}

/// Quantizes `x` with `reference` and compares with the candidate; `show` = how many mismatches to keep.
pub fn verify(
    x: &Tensor,
    reference: &QuantSpec,
    candidate: Candidate<'_>,
    show: usize,
) -> Result<VerifyReport> {
    verify_with(&crate::backend::CpuBackend, x, reference, candidate, show)
}

/// [`verify`] with the quantizations computed on `be` (the same bytes on every backend).
pub fn verify_with(
    be: &dyn crate::backend::Backend,
    x: &Tensor,
    reference: &QuantSpec,
    candidate: Candidate<'_>,
    show: usize,
) -> Result<VerifyReport> {
    if reference.is_none() {
        return Err(Error::Usage(
            "--reference none does not quantize: name a quant preset".into(),
        ));
    }
    let (rows, cols, xv) = to_matrix(x, "x")?;
    let nonfinite = scan_nonfinite(&xv, cols);
    let r = Side {
        label: reference.to_string(),
        q: be.quantize_activation(reference, x)?,
        codes: None,
    };
    let mut cand_scale_kind = None;
    let c = match candidate {
        Candidate::Spec(spec) => {
            if spec.is_none() {
                return Err(Error::Usage(
                    "--candidate none does not quantize: name a quant preset or 'dumped'".into(),
                ));
            }
            if spec.fp8 != reference.fp8 {
                return Err(Error::Usage(format!(
                    "the reference quantizes to {} and the candidate to {}: bytes of different FP8 formats cannot be compared",
                    reference.fp8.name(),
                    spec.fp8.name()
                )));
            }
            if spec.group != reference.group {
                return Err(Error::Usage(format!(
                    "the reference uses groups of {} and the candidate of {}: their scales cannot be compared group by group",
                    reference.group, spec.group
                )));
            }
            Side {
                label: spec.to_string(),
                q: be.quantize_activation(&spec, x)?,
                codes: None,
            }
        }
        Candidate::Computed { label, q } => Side {
            label,
            q,
            codes: None,
        },
        Candidate::Dumped {
            xq,
            xs,
            layout,
            fp8,
        } => {
            let who = format!("--reference {reference}");
            let fmt = payload_format(xq, fp8, Some((reference.fp8, &who)))?;
            let (m, k) = matrix_dims(x, "x")?;
            let q = payload_bytes(xq, m, k)?.to_vec();
            let ng = k.div_ceil(reference.group);
            let s = read_scales(xs, layout, m, ng)?;
            cand_scale_kind = Some(s.kind);
            Side {
                label: "dumped (xq, xs)".into(),
                q: Quantized {
                    rows: m,
                    cols: k,
                    fmt,
                    q,
                    block_rows: 1,
                    block_cols: reference.group,
                    scales: s.values,
                },
                codes: s.codes,
            }
        }
    };
    let mut rep = compare(&r, &c, &xv, show);
    rep.x_dtype = x.dtype.to_string();
    rep.nonfinite = nonfinite;
    rep.cand_scale_kind = cand_scale_kind;
    debug_assert_eq!((rep.rows, rep.cols), (rows, cols));
    Ok(rep)
}

/// Whether two scales are equal: code for code when either side is a dump of E8M0 codes, else f32 bit for
/// bit (NaN equal to NaN).
fn scales_equal(rs: f32, cs: f32, ccode: Option<u8>) -> bool {
    match ccode {
        Some(c) => e8m0_code_of(rs) == Some(c),
        None => rs.to_bits() == cs.to_bits() || (rs.is_nan() && cs.is_nan()),
    }
}

/// Compares two quantized operands of the same shape and grid; `xv` is x as f32 (for listing).
pub fn compare(r: &Side, c: &Side, xv: &[f32], show: usize) -> VerifyReport {
    let (rows, cols, g) = (r.q.rows, r.q.cols, r.q.block_cols);
    let ng = cols.div_ceil(g);
    let fmt = r.q.fmt;
    let max = fmt.max_finite();
    let mut rep = VerifyReport {
        reference: r.label.clone(),
        candidate: c.label.clone(),
        rows,
        cols,
        group: g,
        fmt,
        x_dtype: String::new(),
        nonfinite: NonFinite::default(),
        elements: rows * cols,
        q_equal: 0,
        q_value_equal: 0,
        groups: rows * ng,
        s_equal: 0,
        s_value_equal: 0,
        byte_equal: false,
        causes: Vec::new(),
        mismatching_groups: 0,
        mismatches: Vec::new(),
        group_mismatches: Vec::new(),
        cand_scale_kind: None,
        consistency: None,
    };
    let mut counts: std::collections::BTreeMap<Cause, usize> = Default::default();
    for row in 0..rows {
        for gi in 0..ng {
            let k = row * ng + gi;
            let (rs, cs) = (r.q.scales[k], c.q.scales[k]);
            let s_eq = scales_equal(rs, cs, c.codes.as_ref().map(|v| v[k]));
            rep.s_equal += s_eq as usize;
            rep.s_value_equal += (rs == cs || (rs.is_nan() && cs.is_nan())) as usize;
            let (c0, c1) = (gi * g, ((gi + 1) * g).min(cols));
            let mut diff = 0usize;
            let mut value_eq = 0usize;
            let mut top = false;
            let mut one = true;
            for col in c0..c1 {
                let i = row * cols + col;
                let (a, b) = (r.q.q[i], c.q.q[i]);
                if a == b {
                    continue;
                }
                diff += 1;
                let (va, vb) = (fmt.decode(a), fmt.decode(b));
                value_eq += (va == vb || (va.is_nan() && vb.is_nan())) as usize;
                if va.is_nan() || vb.is_nan() || va.abs() >= max || vb.abs() >= max {
                    top = true;
                }
                if (ordinal(a) - ordinal(b)).abs() != 1 {
                    one = false;
                }
                if rep.mismatches.len() < show {
                    rep.mismatches.push(Mismatch {
                        row,
                        col,
                        x: xv[i],
                        ref_byte: a,
                        cand_byte: b,
                        ref_value: va,
                        cand_value: vb,
                        ref_scale: rs,
                        cand_scale: cs,
                    });
                }
            }
            rep.q_equal += (c1 - c0) - diff;
            rep.q_value_equal += (c1 - c0) - diff + value_eq;
            if s_eq && diff == 0 {
                continue;
            }
            let cause = if !s_eq {
                scale_cause(rs, cs, c.codes.is_some())
            } else if top {
                Cause::TopCode
            } else if one {
                Cause::OneCode
            } else {
                Cause::ManyCodes
            };
            *counts.entry(cause).or_default() += 1;
            rep.mismatching_groups += 1;
            if rep.group_mismatches.len() < show {
                rep.group_mismatches.push(GroupMismatch {
                    row,
                    group: gi,
                    ref_scale: rs,
                    cand_scale: cs,
                    elements: diff,
                    cause,
                });
            }
        }
    }
    rep.byte_equal = rep.mismatching_groups == 0;
    let mut causes: Vec<(Cause, usize)> = counts.into_iter().collect();
    causes.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    rep.causes = causes;
    rep
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::quantize_activation;

    fn x() -> Tensor {
        // 2 rows × 8, groups of 4 chosen by hand.
        let v = [
            3.0f32, 1.0, -2.0,
            0.5, // amax 3: 3·fl32(1/448) = 1.71·2^-8 → ceil 2^-7, nearest 2^-7
            2.5, 1.0, 0.25, -1.0, // amax 2.5: 1.43·2^-8 → ceil 2^-7, nearest 2^-8
            0.0, 0.0, 0.0, 0.0, // eps decides
            7.0, 1.0, 2.0, 3.0, // amax 7 = 448·2^-6: exact power of two
        ];
        Tensor::from_f32("x", vec![2, 8], &v).unwrap()
    }

    fn spec(s: &str) -> QuantSpec {
        QuantSpec::parse(s).unwrap()
    }

    #[test]
    fn identical_specs_are_byte_equal() {
        let r = spec("deepgemm-ue8m0,group=4");
        let rep = verify(&x(), &r, Candidate::Spec(r), 10).unwrap();
        assert!(rep.byte_equal);
        assert_eq!((rep.q_equal, rep.s_equal, rep.groups), (16, 4, 4));
        assert!(rep.mismatches.is_empty() && rep.causes.is_empty());
    }

    #[test]
    fn nearest_vs_ceil_is_a_2x_scale_difference() {
        let rep = verify(
            &x(),
            &spec("deepgemm-ue8m0,group=4"),
            Candidate::Spec(spec("torch-e8m0,group=4")),
            10,
        )
        .unwrap();
        assert!(!rep.byte_equal);
        // Only group (0, 1) differs: 2.5·fl32(1/448) = 1.43·2^-8, ceil 2^-7, nearest 2^-8. (The all-zero
        // group's 1e-4·fl32(1/448) = 1.87·2^-23 goes up under both rules; 7·fl32(1/448) = 2^-6 exactly.)
        let g01 = rep
            .group_mismatches
            .iter()
            .find(|g| (g.row, g.group) == (0, 1))
            .unwrap();
        assert_eq!(g01.cause, Cause::ScalePow2(-1));
        assert_eq!(
            (g01.ref_scale, g01.cand_scale),
            (2f32.powi(-7), 2f32.powi(-8))
        );
        assert_eq!(rep.causes, vec![(Cause::ScalePow2(-1), 1)]);
        assert!(Cause::ScalePow2(-1).describe().contains("2×"));
    }

    #[test]
    fn divide_vs_multiply_scale_is_ulps() {
        let rep = verify(
            &x(),
            &spec("vllm,group=4"),
            Candidate::Spec(spec("vllm,scale=mul,group=4")),
            10,
        )
        .unwrap();
        // 3/448 vs 3·fl32(1/448), 2.5/448 vs …: some differ by an ulp.
        assert!(rep
            .causes
            .iter()
            .all(|(c, _)| matches!(c, Cause::ScaleUlps(_) | Cause::OneCode)));
        assert!(rep.s_equal < 4);
    }

    #[test]
    fn clamp_vs_nan_cast_is_a_top_code_difference() {
        // floor: amax 3 → 2^(exp(3)−8) = 2^-7, 3/2^-7 = 384 fits; amax 7 → 2^-6, 7·64 = 448 fits; make one
        // that overflows: amax 3.9 → 2^-7, 3.9·128 = 499 > 464.
        let xv = [3.9f32, 1.0, 1.0, 1.0];
        let x = Tensor::from_f32("x", vec![1, 4], &xv).unwrap();
        let rep = verify(
            &x,
            &spec("deepgemm,pow2=floor,group=4"),
            Candidate::Spec(spec("deepgemm,pow2=floor,clamp=yes,group=4")),
            10,
        )
        .unwrap();
        assert_eq!(rep.causes, vec![(Cause::TopCode, 1)]);
        assert_eq!(rep.mismatches[0].ref_byte, 0x7F);
        assert_eq!(rep.mismatches[0].cand_byte, 0x7E);
        assert_eq!(rep.mismatches[0].x, 3.9);
    }

    #[test]
    fn minus_zero_is_value_equal_but_not_byte_equal() {
        // A tiny negative x quantizes to −0 (0x80); a candidate that writes +0 there is value-equal only.
        let r = spec("vllm,group=4");
        let x = Tensor::from_f32("x", vec![1, 4], &[-1e-30, 1.0, 2.0, 3.0]).unwrap();
        let q = quantize_activation(&r, &x).unwrap();
        assert_eq!(q.q[0], 0x80);
        let mut bytes = q.q.clone();
        bytes[0] = 0x00;
        let xq = Tensor::new("xq", crate::formats::DType::F8E4M3FN, vec![1, 4], bytes).unwrap();
        let xs = Tensor::from_f32("xs", vec![1, 1], &q.scales).unwrap();
        let rep = verify(
            &x,
            &r,
            Candidate::Dumped {
                xq: &xq,
                xs: &xs,
                layout: XsLayout::Row,
                fp8: None,
            },
            5,
        )
        .unwrap();
        assert!(!rep.byte_equal);
        assert_eq!((rep.q_equal, rep.q_value_equal), (3, 4));
        assert_eq!((rep.s_equal, rep.s_value_equal), (1, 1));
    }

    #[test]
    fn mismatched_formats_and_groups_are_usage_errors() {
        assert!(verify(&x(), &spec("aiter"), Candidate::Spec(spec("aiter-fnuz")), 1).is_err());
        assert!(verify(
            &x(),
            &spec("vllm,group=4"),
            Candidate::Spec(spec("vllm,group=8")),
            1
        )
        .is_err());
    }

    #[test]
    fn dumped_codes_compare_code_for_code() {
        let r = spec("deepgemm-ue8m0,group=4");
        let q = quantize_activation(&r, &x()).unwrap();
        let codes: Vec<u8> = q.scales.iter().map(|s| e8m0_code_of(*s).unwrap()).collect();
        let xq = Tensor::new(
            "xq",
            crate::formats::DType::F8E4M3FN,
            vec![2, 8],
            q.q.clone(),
        )
        .unwrap();
        let xs = Tensor::new(
            "xs",
            crate::formats::DType::F8E8M0,
            vec![2, 2],
            codes.clone(),
        )
        .unwrap();
        fn d<'a>(xq: &'a Tensor, xs: &'a Tensor) -> Candidate<'a> {
            Candidate::Dumped {
                xq,
                xs,
                layout: XsLayout::Row,
                fp8: None,
            }
        }
        let rep = verify(&x(), &r, d(&xq, &xs), 5).unwrap();
        assert!(rep.byte_equal, "{rep:?}");
        assert_eq!(rep.cand_scale_kind, Some("e8m0"));
        let mut bad = codes;
        bad[3] -= 1;
        let xs2 = Tensor::new("xs", crate::formats::DType::F8E8M0, vec![2, 2], bad).unwrap();
        let rep = verify(&x(), &r, d(&xq, &xs2), 5).unwrap();
        assert_eq!(rep.s_equal, 3);
        assert_eq!(rep.causes, vec![(Cause::ScalePow2(-1), 1)]);
        // A non-power-of-two reference against E8M0 codes.
        let rep = verify(&x(), &spec("deepgemm,group=4"), d(&xq, &xs), 5).unwrap();
        assert!(rep.causes.iter().any(|(c, _)| *c == Cause::ScaleNotPow2));
    }
}
