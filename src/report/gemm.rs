//! Presentation of `isolate gemm` and `isolate gemm --fingerprint`: terminal tables and the JSON of
//! design.md ("Commands and exit codes": `verdict`, `paths.{A,B,C1,C2}.{quant, gemm, vs_ref, vs_target}`,
//! `shares`, `sanity`).

use serde_json::{json, Value};

use crate::experiment::gemm_fingerprint::GemmFingerprint;
use crate::experiment::gemm_isolate::{IsolateResult, Metrics};
use crate::gemm::OutType;
use crate::report::json::num;
use crate::report::table::{fnum, Table};

fn metrics_json(m: &Metrics) -> Value {
    json!({
        "cos": num(m.cos),
        "rel": num(m.rel),
        "max_abs": num(m.max_abs),
        "bitwise": m.bitwise,
        "byte_equal": m.byte_equal.map(num),
        "value_equal": num(m.value_equal),
        "flag": m.severity.symbol(),
    })
}

/// The JSON of `isolate gemm`.
pub fn isolate_json(r: &IsolateResult) -> Value {
    let a = &r.attribution;
    let paths: serde_json::Map<String, Value> = r
        .paths
        .iter()
        .map(|p| {
            (
                p.name.to_string(),
                json!({
                    "quant": p.quant,
                    "gemm": p.gemm,
                    "vs_ref": metrics_json(&p.vs_ref),
                    "vs_target": p.vs_target.as_ref().map(metrics_json),
                }),
            )
        })
        .collect();
    let s = &a.sanity;
    json!({
        "verdict": a.verdict.name(),
        "rule": a.rule,
        "reference": a.reference,
        "shares_vs": a.shares_vs,
        "severity": a.severity.symbol(),
        "shares": {"quant": num(a.quant_share), "gemm": num(a.gemm_share)},
        "paths": paths,
        "a_vs_b": metrics_json(&a.a_vs_b),
        "sanity": {
            "a_reproduces_target": s.a_vs_target.as_ref().map(|m| m.bitwise),
            "b_reproduces_ref": s.b_vs_ref.as_ref().map(|m| m.bitwise),
            "a_vs_target": s.a_vs_target.as_ref().map(metrics_json),
            "b_vs_ref": s.b_vs_ref.as_ref().map(metrics_json),
            "provisional": s.provisional,
            "notes": s.notes,
        },
        "notes": r.notes,
    })
}

/// The terminal report of `isolate gemm`.
pub fn isolate_text(r: &IsolateResult) -> String {
    let a = &r.attribution;
    let has_target = r.paths[0].vs_target.is_some();
    let mut head = vec!["path", "quant", "GEMM", "cos", "rel", "max_abs", "flag"];
    if has_target {
        head.extend(["cos(target)", "rel(target)", "bitwise(target)"]);
    }
    let mut t = Table::new(head).left_align(0).left_align(1).left_align(2);
    for p in &r.paths {
        let m = &p.vs_ref;
        let mut row = vec![
            p.name.to_string(),
            p.quant.clone(),
            p.gemm.clone(),
            fnum(m.cos),
            format!("{:.3e}", m.rel),
            format!("{:.3e}", m.max_abs),
            m.severity.symbol().to_string(),
        ];
        if let Some(v) = &p.vs_target {
            row.extend([fnum(v.cos), format!("{:.3e}", v.rel), yes_no(v.bitwise)]);
        } else if has_target {
            row.extend(["-".into(), "-".into(), "-".into()]);
        }
        t.row(row);
    }
    let mut out = format!(
        "paths vs {} (A = target quant + target GEMM, B = reference quant + reference GEMM, C1 = reference quant \
         + target GEMM, C2 = target quant + reference GEMM)\n",
        if a.reference == "ref_out" { "ref_out" } else { "B" }
    );
    out.push_str(&t.render());
    out.push_str(&format!(
        "shares of the drift of A (1 − cos vs {}): quant {} (C2), gemm {} (C1)\n",
        a.shares_vs,
        share(a.quant_share),
        share(a.gemm_share)
    ));
    out.push_str(&format!(
        "verdict: {}  (severity of A: {})\nrule: {}\n",
        a.verdict.name(),
        a.severity.symbol(),
        a.rule
    ));
    for n in a.sanity.notes.iter().chain(&r.notes) {
        out.push_str(&format!("note: {n}\n"));
    }
    out
}

fn share(x: f64) -> String {
    if x.is_finite() {
        format!("{x:.3}")
    } else {
        "undefined".into()
    }
}

fn yes_no(b: bool) -> String {
    if b { "yes" } else { "no" }.into()
}

fn pct(x: f64) -> String {
    if x.is_nan() {
        "-".into()
    } else {
        format!("{:.3}%", 100.0 * x)
    }
}

fn opt(u: Option<u64>) -> String {
    u.map(|u| u.to_string()).unwrap_or_else(|| "-".into())
}

fn out_name(o: OutType) -> &'static str {
    match o {
        OutType::Bf16 => "bf16",
        OutType::F32 => "f32",
    }
}

/// The JSON of `isolate gemm --fingerprint`: `ranking`, `best`, `skipped`.
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

/// The terminal report of `isolate gemm --fingerprint` (the first `top` variants).
pub fn fingerprint_text(f: &GemmFingerprint, top: usize) -> String {
    let mut t = Table::new([
        "#", "variant", "bitwise", "≤1 ulp", "median", "p99", "max ulp", "cos",
    ])
    .left_align(1);
    for (i, v) in f.ranking.iter().take(top).enumerate() {
        t.row([
            (i + 1).to_string(),
            v.spec.to_string(),
            pct(v.bitwise),
            pct(v.within_1ulp),
            opt(v.ulp_median),
            opt(v.ulp_p99),
            opt(v.ulp_max),
            fnum(v.cos),
        ]);
    }
    let mut out = format!(
        "{} GEMM variants vs target_out ({} elements, {} output, ulp in {}):\n",
        f.ranking.len(),
        f.n,
        out_name(f.out),
        out_name(f.out)
    );
    out.push_str(&t.render());
    let best: Vec<String> = f.best().iter().map(|v| v.spec.to_string()).collect();
    match f.ranking.first() {
        Some(b) if b.bitwise == 1.0 => out.push_str(&format!("bit-exact: {}\n", best.join(", "))),
        Some(b) => out.push_str(&format!(
            "no variant is bit-exact; best ({} bit-equal): {}\n",
            pct(b.bitwise),
            best.join(", ")
        )),
        None => out.push_str("no variant applies to these operands\n"),
    }
    if best
        .iter()
        .any(|s| s.contains("fast-accum") || s.contains("trunc"))
    {
        out.push_str("note: trunc:N variants are approximate models of tensor-core accumulation, not kernels\n");
    }
    for (v, why) in &f.skipped {
        out.push_str(&format!("skipped {v}: {why}\n"));
    }
    out
}
