//! Scale ↔ payload consistency of a dumped `x`, `xq`, `xs`: per group, is `xq` what the element rule gives with
//! the *stored* scale? If not, which scale does reproduce `xq` (the f32 amax/max scale, amax·fl32(1/max), its
//! ue8m0 ceil / nearest / floor, eps floors)? The known production bug: the payload quantized with the f32
//! scale, the scale rounded to UE8M0 afterwards, so that dequantization multiplies by up to 2×.
//!
//! The error the inconsistency adds is measured on the dequantized pair: 1 − cos(decode(xq)·stored, x) against
//! the floor 1 − cos(decode(xq)·s_payload, x), where s_payload is the scale that reproduces the payload (the
//! stored one in consistent groups).

use std::collections::BTreeMap;

use crate::formats::Fp8Format;
use crate::quant::element::{quantize_group, ElementRule};
use crate::quant::scale::{floor_eps, pow2_ceil, pow2_nearest, raw_scale};
use crate::quant::spec::{NanRule, QRule, ScaleRule};
use crate::quant::QuantSpec;

/// A dumped quantization, with scales already read as the logical `[rows, ng]` grid of dequant multipliers.
pub struct Dump<'a> {
    pub x: &'a [f32],
    pub rows: usize,
    pub cols: usize,
    pub q: &'a [u8],
    pub fmt: Fp8Format,
    pub scales: &'a [f32],
    pub group: usize,
    /// The element rule (overflow, NaN) to apply; `q` is tried as div and mul, each as given and with a clamp
    /// to ±max.
    pub element: QuantSpec,
}

/// Groups that share a payload rule and a stored-scale relation.
#[derive(Clone, Debug, PartialEq)]
pub struct Class {
    /// The scale the payload was quantized with ("f32 amax/max", "ue8m0 ceil", …).
    pub payload: String,
    /// What the stored scale is relative to it ("its ue8m0 ceil", "2^1 × it", …).
    pub stored: String,
    pub groups: usize,
    /// Largest stored/payload scale ratio: what dequantization multiplies by.
    pub max_factor: f64,
    /// First group (row, group).
    pub first: (usize, usize),
}

impl Class {
    /// The sentence of the class.
    pub fn sentence(&self) -> String {
        format!(
            "payload quantized with the {} scale, stored scale is {}: dequantization multiplies by up to {}× in \
             {} group{}",
            self.payload,
            self.stored,
            fnum(self.max_factor),
            self.groups,
            if self.groups == 1 { "" } else { "s" }
        )
    }
    /// A machine-readable key.
    pub fn key(&self) -> String {
        format!("{} / {}", self.payload, self.stored)
    }
}

fn fnum(x: f64) -> String {
    if x == x.round() && x.abs() < 1e6 {
        format!("{}", x as i64)
    } else {
        format!("{x:.4}")
    }
}

/// The consistency of a dump.
#[derive(Clone, Debug, PartialEq)]
pub struct Consistency {
    pub groups: usize,
    /// Groups where the stored scale reproduces xq.
    pub consistent: usize,
    /// Inconsistent groups explained by another scale, by class (most groups first).
    pub classes: Vec<Class>,
    /// Inconsistent groups no searched scale explains.
    pub unexplained: usize,
    /// First unexplained group.
    pub first_unexplained: Option<(usize, usize)>,
    /// 1 − cos(decode(xq)·stored, x).
    pub dequant_drift: f64,
    /// 1 − cos(decode(xq)·s_payload, x): the quantization floor of the payload.
    pub floor_drift: f64,
    /// dequant_drift / floor_drift.
    pub ratio: f64,
    /// The layout fingerprint, when the declared layout did not fit or most groups were inconsistent
    /// (docs/numerics.md §7.5).
    pub layout: Option<super::layout_search::LayoutSearch>,
    /// Packed UE8M0 words whose bytes are not their groups' codes (a packed `xs` only; §7.5).
    pub packed_leak: Option<super::layout_search::PackedLeak>,
}

impl Consistency {
    /// Fraction of groups whose stored scale reproduces the payload.
    pub fn fraction(&self) -> f64 {
        if self.groups == 0 {
            1.0
        } else {
            self.consistent as f64 / self.groups as f64
        }
    }
}

/// Candidate payload scales of a group with amax `a`, in the order they are preferred.
pub(crate) fn candidates(a: f32, max: f32) -> Vec<(String, f32)> {
    let s0 = raw_scale(a, max, ScaleRule::Div);
    let mut v = vec![
        ("f32 amax/max".to_string(), s0),
        (
            "f32 amax·(1/max)".to_string(),
            raw_scale(a, max, ScaleRule::Mul),
        ),
        ("ue8m0 ceil".to_string(), pow2_ceil(s0, false)),
        ("ue8m0 nearest".to_string(), pow2_nearest(s0, false)),
        ("ue8m0 floor".to_string(), pow2_floor_of(s0)),
    ];
    for eps in [1e-4f32, 1e-6, 1e-10, 1e-12] {
        let se = raw_scale(floor_eps(a, eps), max, ScaleRule::Div);
        v.push((format!("f32 max(amax, {eps:e})/max"), se));
        v.push((
            format!("ue8m0 ceil of max(amax, {eps:e})/max"),
            pow2_ceil(se, false),
        ));
    }
    v
}

/// 2^floor(log2 s) for a positive normal s (the exponent field), s otherwise.
fn pow2_floor_of(s: f32) -> f32 {
    if s.is_finite() && s > 0.0 && s.is_normal() {
        f32::from_bits(s.to_bits() & 0xFF80_0000)
    } else {
        s
    }
}

/// What `stored` is relative to the payload scale `sp`.
fn relation(stored: f32, sp: f32) -> String {
    if stored == pow2_ceil(sp, false) {
        "its ue8m0 ceil".into()
    } else if stored == pow2_nearest(sp, false) {
        "its ue8m0 nearest".into()
    } else if stored == pow2_floor_of(sp) {
        "its ue8m0 floor".into()
    } else {
        let r = (stored as f64 / sp as f64).log2();
        if r.is_finite() && r == r.round() {
            format!("2^{} × it", r as i64)
        } else {
            format!("{:.4} × it", stored as f64 / sp as f64)
        }
    }
}

/// Whether quantizing `xs` with scale `s` under `spec`'s element rule (div or mul) gives `q`.
pub(crate) fn reproduces(xs: &[f32], q: &[u8], s: f32, spec: &QuantSpec, buf: &mut [u8]) -> bool {
    if !(s.is_finite() && s > 0.0) {
        return false;
    }
    [
        (QRule::Div, spec.clamp),
        (QRule::Mul, spec.clamp),
        (QRule::Div, true),
        (QRule::Mul, true),
    ]
    .into_iter()
    .any(|(rule, clamp)| {
        let mut sp = *spec;
        sp.q = rule;
        sp.clamp = clamp;
        quantize_group(xs, &ElementRule::new(&sp, s), buf);
        buf == q
    })
}

/// Checks every group of `d`.
pub fn check(d: &Dump) -> Consistency {
    let ng = d.cols.div_ceil(d.group);
    let mut spec = d.element;
    spec.fp8 = d.fmt;
    let max = d.fmt.max_finite();
    let mut classes: BTreeMap<(String, String), Class> = BTreeMap::new();
    let (mut consistent, mut unexplained, mut first_unexplained) = (0, 0, None);
    let mut payload_scales = d.scales.to_vec();
    let mut buf = vec![0u8; d.group];
    for r in 0..d.rows {
        for g in 0..ng {
            let (c0, c1) = (g * d.group, ((g + 1) * d.group).min(d.cols));
            let xs = &d.x[r * d.cols + c0..r * d.cols + c1];
            let q = &d.q[r * d.cols + c0..r * d.cols + c1];
            let buf = &mut buf[..c1 - c0];
            let stored = d.scales[r * ng + g];
            if reproduces(xs, q, stored, &spec, buf) {
                consistent += 1;
                continue;
            }
            let a = crate::quant::scale::amax(xs, NanRule::Ignore);
            let found = candidates(a, max)
                .into_iter()
                .find(|(_, s)| *s != stored && reproduces(xs, q, *s, &spec, buf));
            match found {
                Some((name, sp)) => {
                    payload_scales[r * ng + g] = sp;
                    let rel = relation(stored, sp);
                    let f = stored as f64 / sp as f64;
                    let c = classes.entry((name.clone(), rel.clone())).or_insert(Class {
                        payload: name,
                        stored: rel,
                        groups: 0,
                        max_factor: f,
                        first: (r, g),
                    });
                    c.groups += 1;
                    c.max_factor = c.max_factor.max(f);
                }
                None => {
                    unexplained += 1;
                    first_unexplained.get_or_insert((r, g));
                }
            }
        }
    }
    let mut classes: Vec<Class> = classes.into_values().collect();
    classes.sort_by_key(|c| std::cmp::Reverse(c.groups));
    let dequant_drift = dequant_drift(d, d.scales, ng);
    let floor_drift = dequant_drift_of(d, &payload_scales, ng);
    Consistency {
        groups: d.rows * ng,
        consistent,
        classes,
        unexplained,
        first_unexplained,
        dequant_drift,
        floor_drift,
        ratio: dequant_drift / floor_drift,
        layout: None,
        packed_leak: None,
    }
}

fn dequant_drift(d: &Dump, scales: &[f32], ng: usize) -> f64 {
    dequant_drift_of(d, scales, ng)
}

/// 1 − cos(decode(q)·scale, x) in f64 with compensated sums; non-finite elements are skipped.
pub fn dequant_drift_of(d: &Dump, scales: &[f32], ng: usize) -> f64 {
    let table = d.fmt.table();
    let (mut ab, mut aa, mut bb) = (
        crate::metrics::sum::Neumaier::default(),
        crate::metrics::sum::Neumaier::default(),
        crate::metrics::sum::Neumaier::default(),
    );
    for r in 0..d.rows {
        for c in 0..d.cols {
            let i = r * d.cols + c;
            let y = table[d.q[i] as usize] as f64 * scales[r * ng + c / d.group] as f64;
            let x = d.x[i] as f64;
            if !(x.is_finite() && y.is_finite()) {
                continue;
            }
            ab.add(x * y);
            aa.add(y * y);
            bb.add(x * x);
        }
    }
    let cos = ab.value() / (aa.value().sqrt() * bb.value().sqrt());
    crate::metrics::drift_of_cos(cos)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::presets::preset;

    /// MiniLM-L6 layer-3 FFN activation x [114, 1536] (fixtures/minilm).
    fn minilm_x() -> (usize, usize, Vec<f32>) {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/minilm/ffn_act.safetensors");
        let f = crate::io::load(&p).unwrap();
        crate::quant::cpu::to_matrix(f.get("x").unwrap(), "x").unwrap()
    }

    /// An independent f64 1 − cos(decode(q)·s, x): Kahan sums (not the crate's Neumaier), decode by formula.
    fn drift_f64(x: &[f32], q: &[u8], s: &[f32], cols: usize, g: usize) -> f64 {
        fn kahan(v: impl Iterator<Item = f64>) -> f64 {
            let (mut s, mut c) = (0f64, 0f64);
            for x in v {
                let y = x - c;
                let t = s + y;
                c = (t - s) - y;
                s = t;
            }
            s
        }
        let ng = cols / g;
        let e4m3 = |c: u8| {
            let (e, m) = (((c >> 3) & 0xF) as i32, (c & 7) as f64);
            let v = if e == 0 {
                m / 8.0 * 2f64.powi(-6)
            } else {
                (1.0 + m / 8.0) * 2f64.powi(e - 7)
            };
            if c & 0x80 != 0 {
                -v
            } else {
                v
            }
        };
        let y: Vec<f64> = q
            .iter()
            .enumerate()
            .map(|(i, &c)| e4m3(c) * s[(i / cols) * ng + (i % cols) / g] as f64)
            .collect();
        let ab = kahan(x.iter().zip(&y).map(|(&a, &b)| a as f64 * b));
        let aa = kahan(y.iter().map(|b| b * b));
        let bb = kahan(x.iter().map(|&a| a as f64 * a as f64));
        1.0 - ab / (aa.sqrt() * bb.sqrt())
    }

    #[test]
    fn planted_f32_payload_with_ue8m0_stored_scale_and_a_2x_scale_bug() {
        let (m, k, x) = minilm_x();
        let spec = preset("deepgemm").unwrap(); // f32 scales amax/448
        let t = crate::io::Tensor::from_f32("x", vec![m, k], &x).unwrap();
        let qf = crate::quant::quantize_activation(&spec, &t).unwrap();
        // (d) payload quantized with the f32 scale, the stored scale rounded up to UE8M0 afterwards.
        let stored: Vec<f32> = qf.scales.iter().map(|&s| pow2_ceil(s, false)).collect();
        let d = Dump {
            x: &x,
            rows: m,
            cols: k,
            q: &qf.q,
            fmt: Fp8Format::E4m3fn,
            scales: &stored,
            group: 128,
            element: spec,
        };
        let c = check(&d);
        let not_pow2 = qf
            .scales
            .iter()
            .filter(|s| pow2_ceil(**s, false) != **s)
            .count();
        // A scale just below a power of two gives the same codes as its ceil: those groups are consistent.
        let inconsistent = c.groups - c.consistent;
        assert!(
            inconsistent <= not_pow2 && inconsistent * 10 > not_pow2 * 9,
            "{inconsistent} {not_pow2}"
        );
        assert_eq!(c.unexplained, 0);
        // DeepGEMM's scale is amax·fl32(1/448): where it equals amax/448 the first-searched name is given.
        assert!(
            c.classes
                .iter()
                .all(|k| k.payload.starts_with("f32 amax") && k.stored == "its ue8m0 ceil"),
            "{:?}",
            c.classes
        );
        assert_eq!(
            c.classes.iter().map(|k| k.groups).sum::<usize>(),
            inconsistent
        );
        assert!(c.classes[0].max_factor > 1.0 && c.classes[0].max_factor < 2.0);
        assert!(c.classes[0]
            .sentence()
            .contains("dequantization multiplies by up to"));
        // Figures against an independent f64 computation.
        let want = drift_f64(&x, &qf.q, &stored, k, 128);
        let floor = drift_f64(&x, &qf.q, &qf.scales, k, 128);
        assert!(
            (c.dequant_drift - want).abs() <= 1e-12 * want,
            "{} {want}",
            c.dequant_drift
        );
        // The floor uses the first searched scale that reproduces each group (amax/448 where DeepGEMM's
        // amax·fl32(1/448) is an ulp away and gives the same codes), so it agrees only to ~1e-7 here.
        assert!(
            (c.floor_drift - floor).abs() <= 1e-6 * floor,
            "{} {floor}",
            c.floor_drift
        );
        assert!(c.ratio > 10.0, "{}", c.ratio);
        // (c) a 2× scale bug in 5 groups of an otherwise consistent DeepGEMM ue8m0 dump.
        let ue = preset("deepgemm-ue8m0").unwrap();
        let qu = crate::quant::quantize_activation(&ue, &t).unwrap();
        let mut bad = qu.scales.clone();
        for i in [3usize, 100, 400, 800, 1200] {
            bad[i] *= 2.0;
        }
        let c = check(&Dump {
            q: &qu.q,
            scales: &bad,
            element: ue,
            ..d
        });
        assert_eq!((c.consistent, c.unexplained), (c.groups - 5, 0));
        assert_eq!(c.classes.len(), 1);
        assert_eq!(
            (c.classes[0].payload.as_str(), c.classes[0].stored.as_str()),
            ("ue8m0 ceil", "2^1 × it")
        );
        assert_eq!(c.classes[0].max_factor, 2.0);
        let want = drift_f64(&x, &qu.q, &bad, k, 128);
        assert!((c.dequant_drift - want).abs() <= 1e-12 * want);
        assert!(c.ratio > 1.0);
    }
}
