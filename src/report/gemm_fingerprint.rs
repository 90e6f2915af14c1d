//! The report of `isolate gemm fingerprint`: the ranked GEMM variants, the axes the data proved and those it
//! left open, and the JSON (`ranking`, `best`, `skipped`, `proven`, `undetermined`).

use serde_json::{json, Value};

use crate::experiment::gemm::fingerprint::GemmFingerprint;
use crate::experiment::gemm::FingerprintReport;
use crate::gemm::OutType;
use crate::report::doc::{Block, Doc, DocTable, Tone};
use crate::report::fmt::{fcos, fopt};
use crate::report::json::num;
use crate::report::Render;

fn pct(x: f64) -> String {
    if x.is_nan() {
        "-".into()
    } else {
        format!("{:.3}%", 100.0 * x)
    }
}

fn out_name(o: OutType) -> &'static str {
    match o {
        OutType::Bf16 => "bf16",
        OutType::F32 => "f32",
    }
}

/// The JSON of `isolate gemm fingerprint`: `ranking`, `best`, `skipped`, and what the bit-exact emulations say
/// about the axes: `proven` (axis → the value every one of them has) and `undetermined` (axis → the values
/// among them); both empty when no emulation is bit-exact.
pub fn fingerprint_json(f: &GemmFingerprint) -> Value {
    let ranking: Vec<Value> = f
        .ranking
        .iter()
        .map(|v| {
            json!({
                "variant": v.spec.to_string(),
                "axes": v.spec.axes(),
                "bitwise": num(v.bitwise),
                "within_1ulp": num(v.within_1ulp),
                "ulp_median": v.ulp_median,
                "ulp_p99": v.ulp_p99,
                "ulp_max": v.ulp_max,
                "cos": num(v.cos),
                "rel": num(v.rel),
                "max_abs": num(v.max_abs),
                "approximate": v.spec.is_approximate(),
            })
        })
        .collect();
    json!({
        "out": out_name(f.out),
        "n": f.n,
        "ranking": ranking,
        "best": f.best().iter().map(|v| v.spec.to_string()).collect::<Vec<_>>(),
        "skipped": f.skipped.iter().map(|(v, why)| json!({"variant": v, "reason": why})).collect::<Vec<_>>(),
        "proven": f.proven.iter().map(|(a, v)| (a.clone(), json!(v))).collect::<serde_json::Map<_, _>>(),
        "undetermined": f.undetermined.iter().map(|(a, v)| (a.clone(), json!(v))).collect::<serde_json::Map<_, _>>(),
    })
}

/// The document of `isolate gemm fingerprint` (the first `top` variants).
pub fn document(f: &GemmFingerprint, top: usize) -> Doc {
    let mut doc = Doc::new("isolate gemm fingerprint");
    let mut t = DocTable::new([
        "#", "variant", "bitwise", "≤1 ulp", "median", "p99", "max ulp", "cos",
    ])
    .left(&[1]);
    for (i, v) in f.ranking.iter().take(top).enumerate() {
        t.row(
            if v.bitwise == 1.0 {
                Tone::Ok
            } else {
                Tone::Neutral
            },
            vec![
                (i + 1).to_string(),
                v.spec.to_string(),
                pct(v.bitwise),
                pct(v.within_1ulp),
                fopt(v.ulp_median),
                fopt(v.ulp_p99),
                fopt(v.ulp_max),
                fcos(v.cos),
            ],
        );
    }
    doc.push(Block::Line(format!(
        "{} GEMM variants vs target_out ({} elements, {} output, ulp in {}):",
        f.ranking.len(),
        f.n,
        out_name(f.out),
        out_name(f.out)
    )));
    doc.push(Block::Table(t));
    let best: Vec<String> = f.best().iter().map(|v| v.spec.to_string()).collect();
    doc.push(match f.ranking.first() {
        Some(b) if b.bitwise == 1.0 => {
            Block::Verdict(Tone::Ok, format!("bit-exact: {}", best.join(", ")))
        }
        Some(b) => Block::Verdict(
            Tone::Bad,
            format!(
                "no variant is bit-exact; best ({} bit-equal): {}",
                pct(b.bitwise),
                best.join(", ")
            ),
        ),
        None => Block::Verdict(Tone::Bad, "no variant applies to these operands".into()),
    });
    if !f.proven.is_empty() {
        let p: Vec<String> = f.proven.iter().map(|(a, v)| format!("{a}={v}")).collect();
        let proven = format!("{} (every bit-exact emulation has it)", p.join(", "));
        let open: Vec<String> = f
            .undetermined
            .iter()
            .map(|(a, v)| format!("{a} ∈ {{{}}}", v.join(", ")))
            .collect();
        let open = if open.is_empty() {
            "nothing: one configuration".into()
        } else {
            format!("{} (the data cannot tell these apart)", open.join(", "))
        };
        doc.push(Block::Fields(vec![
            ("proven by the data".into(), proven),
            ("left open".into(), open),
        ]));
    }
    if f.best().iter().any(|v| v.spec.is_approximate()) {
        doc.push(Block::Line(
            "note: trunc:N variants are approximate models of tensor-core accumulation, not kernels".into(),
        ));
    }
    // Skipped variants, one line per reason (the JSON lists each).
    let mut reasons: Vec<(&str, Vec<&str>)> = Vec::new();
    for (v, why) in &f.skipped {
        match reasons.iter_mut().find(|(w, _)| *w == why.as_str()) {
            Some((_, vs)) => vs.push(v),
            None => reasons.push((why, vec![v])),
        }
    }
    for (why, vs) in reasons {
        doc.push(Block::Line(if vs.len() == 1 {
            format!("skipped {}: {why}", vs[0])
        } else {
            format!(
                "skipped {} variants ({}{}): {why}",
                vs.len(),
                vs[..2].join(", "),
                if vs.len() > 2 { ", …" } else { "" }
            )
        }));
    }
    doc
}

impl Render for FingerprintReport {
    fn document(&self, _figures: bool) -> Doc {
        document(&self.fingerprint, self.top)
    }
    fn json(&self) -> Value {
        fingerprint_json(&self.fingerprint)
    }
}
