//! `isolate fingerprint`: which quantizer rules does a dump (x, xq, xs) implement? Every reachable
//! combination of the axes is scored by the fraction of groups it reproduces byte for byte (codes and
//! scale); the ranking, the set tied at the top, and which axis values the data proves or cannot decide.
//!
//! The fp8 flavour comes from the payload, the group size from the scale shape. Work shared between
//! combinations is done once: amax per group (per NaN rule), each distinct scale of a group once across all
//! scale rules, and the codes of a group once per distinct (scale, max, NaN rule) and q/clamp/overflow rule.

use rayon::prelude::*;

use crate::formats::{Fp8Format, Overflow};
use crate::quant::element::{quantize_group, ElementRule};
use crate::quant::presets;
use crate::quant::scale::{amax, e8m0_code_of, group_scale};
use crate::quant::spec::{Axis, EpsOn, NanRule, Pow2, QRule, QuantSpec, ScaleRule};

/// The dump to explain.
pub struct QuantDump<'a> {
    /// x as a row-major f32 matrix [rows, cols].
    pub x: &'a [f32],
    pub rows: usize,
    pub cols: usize,
    /// The payload codes [rows, cols].
    pub q: &'a [u8],
    pub fmt: Fp8Format,
    /// Dumped scales, logical [rows, ceil(cols/group)].
    pub scales: &'a [f32],
    /// Their E8M0 codes when the dump stores codes.
    pub codes: Option<&'a [u8]>,
    pub group: usize,
}

/// One scored combination.
#[derive(Clone, Debug)]
pub struct Scored {
    pub spec: QuantSpec,
    /// Canonical label (closest preset + overrides).
    pub label: String,
    /// Groups reproduced exactly (all codes and the scale).
    pub exact: usize,
    pub q_equal: usize,
    pub s_equal: usize,
}

/// What the data says about one axis among the best variants.
#[derive(Clone, Debug)]
pub struct AxisFinding {
    pub axis: Axis,
    /// The distinct values among the best variants (where the axis matters).
    pub values: Vec<String>,
    /// Why the data cannot separate them (when more than one value).
    pub reason: Option<String>,
    /// For each value tried but not among the best: the best variant with it and its exact groups.
    pub alternatives: Vec<(String, String, usize)>,
}

/// The result of [`fingerprint`].
#[derive(Clone, Debug)]
pub struct Fingerprint {
    pub groups: usize,
    pub elements: usize,
    pub group: usize,
    pub fmt: Fp8Format,
    /// Every variant, best first.
    pub ranking: Vec<Scored>,
    /// How many variants share the top score.
    pub best: usize,
    pub axes: Vec<AxisFinding>,
    /// Whether x had NaN/inf (then the NaN rule is an axis).
    pub nonfinite: bool,
    /// Whether K is not a multiple of G (scored with zero padding).
    pub padded: bool,
}

impl Fingerprint {
    /// The top variants.
    pub fn best(&self) -> &[Scored] {
        &self.ranking[..self.best]
    }
    /// Whether some variant reproduces every group.
    pub fn reproduced(&self) -> bool {
        self.ranking.first().is_some_and(|s| s.exact == self.groups)
    }
}

/// The scale rules tried: (eps, eps_on, scale, pow2, code_clamp).
fn scale_rules() -> Vec<(f32, EpsOn, ScaleRule, Pow2, bool)> {
    let epss = [1e-4f64 as f32, 1e-10f64 as f32, 1e-12f64 as f32, 0.0];
    let mut v = Vec::new();
    for pow2 in [
        Pow2::None,
        Pow2::Ceil,
        Pow2::FloatCeil,
        Pow2::Nearest,
        Pow2::Floor,
        Pow2::Even,
    ] {
        let from_amax = matches!(pow2, Pow2::Floor | Pow2::Even);
        let ccs: &[bool] = if pow2 == Pow2::None {
            &[false]
        } else {
            &[false, true]
        };
        let scales: &[ScaleRule] = if from_amax {
            &[ScaleRule::Mul]
        } else {
            &[ScaleRule::Mul, ScaleRule::Div]
        };
        for &eps in &epss {
            let ons: &[EpsOn] = if eps == 0.0 || from_amax {
                &[EpsOn::Amax]
            } else {
                &[EpsOn::Amax, EpsOn::Scale, EpsOn::Both]
            };
            for &on in ons {
                for &sc in scales {
                    for &cc in ccs {
                        v.push((eps, on, sc, pow2, cc));
                    }
                }
            }
        }
    }
    v
}

/// The element rules tried: (q, clamp, overflow).
const Q_RULES: [(QRule, bool, Overflow); 6] = [
    (QRule::Div, true, Overflow::Saturate),
    (QRule::Mul, true, Overflow::Saturate),
    (QRule::Div, false, Overflow::Saturate),
    (QRule::Mul, false, Overflow::Saturate),
    (QRule::Div, false, Overflow::Nan),
    (QRule::Mul, false, Overflow::Nan),
];

/// Scores every combination on the dump.
pub fn fingerprint(d: &QuantDump<'_>) -> Fingerprint {
    let (rows, cols, g) = (d.rows, d.cols, d.group);
    let ng = cols.div_ceil(g);
    let nonfinite = d.x.iter().any(|v| !v.is_finite());
    let padded = cols % g != 0;
    let maxes: Vec<Option<f32>> = match d.fmt {
        Fp8Format::E4m3fnuz => vec![None, Some(224.0)],
        _ => vec![None],
    };
    let nans: Vec<NanRule> = if nonfinite {
        vec![NanRule::Propagate, NanRule::Ignore]
    } else {
        vec![NanRule::Propagate]
    };
    // Scale variants (everything but the element rule), in a fixed order.
    let mut svs: Vec<QuantSpec> = Vec::new();
    for &nan in &nans {
        for &max in &maxes {
            for &(eps, eps_on, scale, pow2, code_clamp) in &scale_rules() {
                svs.push(QuantSpec {
                    fp8: d.fmt,
                    max,
                    eps,
                    eps_on,
                    scale,
                    pow2,
                    code_clamp,
                    nan,
                    pad: padded,
                    group: g,
                    ..presets::DEEPGEMM
                });
            }
        }
    }
    let nsv = svs.len();
    let nq = Q_RULES.len();
    let nvar = nsv * nq;

    #[derive(Clone)]
    struct Acc {
        exact: Vec<u32>,
        q: Vec<u64>,
        s: Vec<u32>,
    }
    let zero = || Acc {
        exact: vec![0; nvar],
        q: vec![0; nvar],
        s: vec![0; nsv],
    };
    let acc = (0..rows * ng)
        .into_par_iter()
        .fold(zero, |mut acc, gi| {
            let (row, k) = (gi / ng, gi % ng);
            let (c0, c1) = (k * g, ((k + 1) * g).min(cols));
            let xs = &d.x[row * cols + c0..row * cols + c1];
            let want = &d.q[row * cols + c0..row * cols + c1];
            let len = (c1 - c0) as u32;
            let (ds, dcode) = (d.scales[gi], d.codes.map(|c| c[gi]));
            let amaxes: Vec<f32> = nans.iter().map(|n| amax(xs, *n)).collect();
            // Distinct (scale bits, max, nan) keys of this group and their code-match counts per q rule.
            let mut keys: Vec<(u32, Option<f32>, NanRule)> = Vec::new();
            let mut counts: Vec<[u32; 6]> = Vec::new();
            let mut out = vec![0u8; xs.len()];
            for (si, sv) in svs.iter().enumerate() {
                let a = amaxes[nans.iter().position(|n| *n == sv.nan).unwrap()];
                let s = group_scale(sv, a);
                let key = (s.to_bits(), sv.max, sv.nan);
                let ki = match keys.iter().position(|k| *k == key) {
                    Some(i) => i,
                    None => {
                        let mut c = [0u32; 6];
                        for (qi, &(q, clamp, overflow)) in Q_RULES.iter().enumerate() {
                            let spec = QuantSpec {
                                q,
                                clamp,
                                overflow,
                                ..*sv
                            };
                            quantize_group(xs, &ElementRule::new(&spec, s), &mut out);
                            c[qi] = out.iter().zip(want).filter(|(a, b)| a == b).count() as u32;
                        }
                        keys.push(key);
                        counts.push(c);
                        keys.len() - 1
                    }
                };
                let s_ok = match dcode {
                    Some(code) => e8m0_code_of(s) == Some(code),
                    None => s.to_bits() == ds.to_bits() || (s.is_nan() && ds.is_nan()),
                };
                acc.s[si] += s_ok as u32;
                for (qi, &c) in counts[ki].iter().enumerate() {
                    acc.q[si * nq + qi] += c as u64;
                    acc.exact[si * nq + qi] += (s_ok && c == len) as u32;
                }
            }
            acc
        })
        .reduce(zero, |mut a, b| {
            for (x, y) in a.exact.iter_mut().zip(&b.exact) {
                *x += y;
            }
            for (x, y) in a.q.iter_mut().zip(&b.q) {
                *x += y;
            }
            for (x, y) in a.s.iter_mut().zip(&b.s) {
                *x += y;
            }
            a
        });

    let mut ignore = Vec::new();
    if !nonfinite {
        ignore.push(Axis::Nan);
    }
    if !padded {
        ignore.push(Axis::Pad);
    }
    let mut ranking: Vec<Scored> = Vec::with_capacity(nvar);
    for (si, sv) in svs.iter().enumerate() {
        for (qi, &(q, clamp, overflow)) in Q_RULES.iter().enumerate() {
            let spec = QuantSpec {
                q,
                clamp,
                overflow,
                ..*sv
            };
            ranking.push(Scored {
                label: spec.describe(&ignore),
                spec,
                exact: acc.exact[si * nq + qi] as usize,
                q_equal: acc.q[si * nq + qi] as usize,
                s_equal: acc.s[si] as usize,
            });
        }
    }
    let simplicity = |s: &Scored| (s.label.matches(',').count(), preset_rank(&s.label));
    ranking.sort_by(|a, b| {
        b.exact
            .cmp(&a.exact)
            .then(b.q_equal.cmp(&a.q_equal))
            .then(b.s_equal.cmp(&a.s_equal))
            .then(simplicity(a).cmp(&simplicity(b)))
    });
    let top = ranking.first().map(|s| s.exact).unwrap_or(0);
    let best = ranking.iter().take_while(|s| s.exact == top).count();
    let axes = findings(&ranking, best, nonfinite, maxes.len() > 1);
    Fingerprint {
        groups: rows * ng,
        elements: rows * cols,
        group: g,
        fmt: d.fmt,
        ranking,
        best,
        axes,
        nonfinite,
        padded,
    }
}

fn preset_rank(label: &str) -> usize {
    let base = label.split(',').next().unwrap_or("");
    presets::names()
        .iter()
        .position(|n| *n == base)
        .unwrap_or(usize::MAX)
}

/// Per axis: the values the best variants take, why the data cannot separate them, and how the best variant
/// of every other value fares (`ranking` is sorted, its first `best` entries tie at the top).
fn findings(ranking: &[Scored], best: usize, nonfinite: bool, two_max: bool) -> Vec<AxisFinding> {
    let mut axes = vec![
        Axis::Pow2,
        Axis::Scale,
        Axis::Q,
        Axis::Eps,
        Axis::EpsOn,
        Axis::CodeClamp,
        Axis::Clamp,
        Axis::Overflow,
    ];
    if two_max {
        axes.push(Axis::Max);
    }
    if nonfinite {
        axes.push(Axis::Nan);
    }
    axes.into_iter()
        .map(|axis| {
            let mut values: Vec<String> = Vec::new();
            for s in &ranking[..best] {
                if s.spec.relevant(axis) {
                    let v = s.spec.value(axis);
                    if !values.contains(&v) {
                        values.push(v);
                    }
                }
            }
            let mut alternatives: Vec<(String, String, usize)> = Vec::new();
            for s in &ranking[best..] {
                if s.spec.relevant(axis) {
                    let v = s.spec.value(axis);
                    if !values.contains(&v) && !alternatives.iter().any(|a| a.0 == v) {
                        alternatives.push((v, s.label.clone(), s.exact));
                    }
                }
            }
            let reason = (values.len() > 1).then(|| reason(axis, &values));
            AxisFinding {
                axis,
                values,
                reason,
                alternatives,
            }
        })
        .collect()
}

/// A plain sentence on why the data cannot tell these values apart.
fn reason(axis: Axis, values: &[String]) -> String {
    let has = |v: &str| values.iter().any(|x| x == v);
    match axis {
        Axis::Pow2 if has("ceil") && has("float-ceil") && values.len() == 2 => {
            "no group's scale lies the few ulps above a power of two where CUDA's log2f rounds down to k; \
             bf16 (or f16) input can never put it there, so such dumps cannot separate float-ceil from ceil"
                .into()
        }
        Axis::Pow2 => "no group's scale falls where these power-of-two roundings disagree".into(),
        Axis::Scale => {
            "amax/max and amax·fl32(1/max) round to the same scale on every group (always so once the scale \
             is rounded to a power of two, docs/numerics.md §10.2)"
                .into()
        }
        Axis::Q => {
            "x/s and x·fl32(1/s) give the same codes on every group (exactly equal when s is a power of two)"
                .into()
        }
        Axis::Eps | Axis::EpsOn => {
            "no group is small enough for the eps floor to act: only all-zero or tiny groups reveal eps".into()
        }
        Axis::CodeClamp => "no scale code reaches 0 or 255, where the [1, 254] clamp acts".into(),
        Axis::Clamp | Axis::Overflow => {
            "no scaled value exceeds ±max, so neither the clamp nor the cast's overflow rule ever acts".into()
        }
        Axis::Max => "no scaled value reaches the clamp values being compared".into(),
        Axis::Nan => "the NaN/inf elements give the same codes under both rules".into(),
        _ => "the data does not separate these values".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::Tensor;
    use crate::quant::quantize_activation;

    fn dump_of(spec: &str, xv: &[f32], rows: usize, cols: usize) -> (Vec<u8>, Vec<f32>, usize) {
        let spec = QuantSpec::parse(spec).unwrap();
        let x = Tensor::from_f32("x", vec![rows, cols], xv).unwrap();
        let q = quantize_activation(&spec, &x).unwrap();
        (q.q, q.scales, spec.group)
    }

    fn data(rows: usize, cols: usize) -> Vec<f32> {
        use rand::{Rng, SeedableRng};
        let mut r = rand::rngs::StdRng::seed_from_u64(3);
        (0..rows * cols)
            .map(|i| {
                let v: f32 = r.random_range(-1.0..1.0);
                v * (1 + i % 7) as f32 * 0.3
            })
            .collect()
    }

    fn run(spec: &str, xv: &[f32], rows: usize, cols: usize) -> Fingerprint {
        let (q, s, g) = dump_of(spec, xv, rows, cols);
        fingerprint(&QuantDump {
            x: xv,
            rows,
            cols,
            q: &q,
            fmt: QuantSpec::parse(spec).unwrap().fp8,
            scales: &s,
            codes: None,
            group: g,
        })
    }

    #[test]
    fn finds_the_generating_preset_among_the_best() {
        let (rows, cols) = (16, 256);
        let xv = data(rows, cols);
        for p in [
            "deepgemm-ue8m0",
            "torch-e8m0",
            "vllm",
            "deepgemm",
            "aiter-fnuz",
        ] {
            let f = run(&format!("{p},group=64"), &xv, rows, cols);
            assert!(f.reproduced(), "{p}");
            let labels: Vec<&str> = f.best().iter().map(|s| s.label.as_str()).collect();
            assert!(
                labels.contains(&format!("{p},group=64").as_str()),
                "{p}: {labels:?}"
            );
            assert_eq!(f.group, 64);
        }
    }

    #[test]
    fn separates_scale_formula_and_rounding() {
        let (rows, cols) = (16, 256);
        let xv = data(rows, cols);
        let f = run("vllm", &xv, rows, cols);
        let pow2 = f.axes.iter().find(|a| a.axis == Axis::Pow2).unwrap();
        assert_eq!(pow2.values, vec!["none"]);
        let scale = f.axes.iter().find(|a| a.axis == Axis::Scale).unwrap();
        assert_eq!(scale.values, vec!["div"]);
        // Power-of-two dumps leave q and the scale formula undetermined, and say why.
        let f = run("deepgemm-ue8m0", &xv, rows, cols);
        let q = f.axes.iter().find(|a| a.axis == Axis::Q).unwrap();
        assert_eq!(q.values.len(), 2);
        assert!(q.reason.as_ref().unwrap().contains("power of two"));
        let pow2 = f.axes.iter().find(|a| a.axis == Axis::Pow2).unwrap();
        assert!(pow2.values.contains(&"ceil".to_string()));
        assert!(!pow2.values.contains(&"nearest".to_string()));
    }

    #[test]
    fn float_ceil_and_ceil_separate_just_above_a_power_of_two() {
        // One row whose amax is the f32 just above 1.75 = 448·2^-8: s = amax/448 rounds to one ulp above
        // 2^-8, where CUDA's log2f returns exactly -8 (measured).
        let mut xv = data(4, 128);
        xv[0] = f32::from_bits(1.75f32.to_bits() + 1);
        for v in xv[1..128].iter_mut() {
            *v = v.clamp(-1.7, 1.7);
        }
        let f = run("vllm-ue8m0", &xv, 4, 128);
        let pow2 = f.axes.iter().find(|a| a.axis == Axis::Pow2).unwrap();
        assert_eq!(pow2.values, vec!["float-ceil"]);
        let f = run("vllm-ue8m0,pow2=ceil", &xv, 4, 128);
        let pow2 = f.axes.iter().find(|a| a.axis == Axis::Pow2).unwrap();
        assert!(!pow2.values.contains(&"float-ceil".to_string()));
    }
}
