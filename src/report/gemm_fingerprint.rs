//! The report of `isolate gemm fingerprint`: the ranked GEMM variants and the JSON (`ranking`, `best`,
//! `skipped`).

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

/// The JSON of `isolate gemm fingerprint`: `ranking`, `best`, `skipped`.
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
    if best
        .iter()
        .any(|s| s.contains("fast-accum") || s.contains("trunc"))
    {
        doc.push(Block::Line(
            "note: trunc:N variants are approximate models of tensor-core accumulation, not kernels".into(),
        ));
    }
    for (v, why) in &f.skipped {
        doc.push(Block::Line(format!("skipped {v}: {why}")));
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
