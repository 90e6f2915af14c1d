//! Presentation of `isolate quant`: the terminal summary and the `--json` object (design.md: `byte_equal`,
//! `q_match`, `s_match`, `mismatches`).

use serde_json::{json, Value};

use crate::experiment::quant_verify::QuantReport;
use crate::quant::NonFinite;
use crate::report::json::num;
use crate::report::table::Table;

fn pct(a: usize, n: usize) -> String {
    if a == n {
        "100%".into()
    } else {
        format!("{:.3}%", 100.0 * a as f64 / n as f64)
    }
}

fn val(v: f32) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == 0.0 || (v.abs() >= 1e-3 && v.abs() < 1e5) {
        format!("{v}")
    } else {
        format!("{v:e}")
    }
}

/// The terminal report.
pub fn render(r: &QuantReport) -> String {
    let mut out = String::new();
    let line = |out: &mut String, k: &str, v: String| out.push_str(&format!("{k:<10} {v}\n"));
    line(&mut out, "reference", r.reference.clone());
    line(
        &mut out,
        "candidate",
        match r.cand_scale_kind {
            Some(k) => format!("{} ({} scales)", r.candidate, k),
            None => r.candidate.clone(),
        },
    );
    line(
        &mut out,
        "x",
        format!(
            "{} [{}, {}]: {} groups of 1×{} ({} codes)",
            r.x_dtype,
            r.rows,
            r.cols,
            r.groups,
            r.group,
            r.fmt.name()
        ),
    );
    if r.nonfinite.any() {
        line(&mut out, "x has", r.nonfinite.describe());
    }
    let as_values = |bytes: usize, values: usize, n: usize| {
        if values == bytes {
            String::new()
        } else {
            format!(
                "; {values} equal as values ({}: ±0, NaN codes)",
                pct(values, n)
            )
        }
    };
    line(
        &mut out,
        "q",
        format!(
            "{} of {} codes byte-equal ({}){}",
            r.q_equal,
            r.elements,
            pct(r.q_equal, r.elements),
            as_values(r.q_equal, r.q_value_equal, r.elements)
        ),
    );
    line(
        &mut out,
        "scales",
        format!(
            "{} of {} byte-equal ({}){}",
            r.s_equal,
            r.groups,
            pct(r.s_equal, r.groups),
            as_values(r.s_equal, r.s_value_equal, r.groups)
        ),
    );
    line(
        &mut out,
        "verdict",
        if r.byte_equal {
            "BYTE-EQUAL: the candidate reproduces the reference bit for bit".into()
        } else {
            format!(
                "NOT byte-equal: {} of {} groups differ",
                r.mismatching_groups, r.groups
            )
        },
    );
    if r.byte_equal {
        return out;
    }
    out.push_str("\nmismatching groups by likely cause\n");
    let mut t = Table::new(["groups", "cause"]).left_align(1);
    for (c, n) in &r.causes {
        t.row([n.to_string(), c.describe()]);
    }
    out.push_str(&t.render());
    if !r.mismatches.is_empty() {
        out.push_str(&format!("\nfirst {} differing codes\n", r.mismatches.len()));
        let mut t = Table::new([
            "row",
            "col",
            "x",
            "ref",
            "cand",
            "ref value",
            "cand value",
            "ref scale",
            "cand scale",
        ]);
        for m in &r.mismatches {
            t.row([
                m.row.to_string(),
                m.col.to_string(),
                val(m.x),
                format!("0x{:02X}", m.ref_byte),
                format!("0x{:02X}", m.cand_byte),
                val(m.ref_value),
                val(m.cand_value),
                val(m.ref_scale),
                val(m.cand_scale),
            ]);
        }
        out.push_str(&t.render());
    }
    let scale_only: Vec<_> = r
        .group_mismatches
        .iter()
        .filter(|g| g.elements == 0)
        .collect();
    if !scale_only.is_empty() {
        out.push_str("\ngroups whose scale alone differs (codes equal)\n");
        let mut t = Table::new(["row", "group", "ref scale", "cand scale", "cause"]).left_align(4);
        for g in scale_only {
            t.row([
                g.row.to_string(),
                g.group.to_string(),
                val(g.ref_scale),
                val(g.cand_scale),
                g.cause.describe(),
            ]);
        }
        out.push_str(&t.render());
    }
    out
}

/// The NaN/inf report of x as JSON.
pub fn nonfinite_json(nf: &NonFinite) -> Value {
    json!({
        "nan": nf.nan,
        "inf": nf.inf,
        "first_nan": nf.first_nan.map(|(r, c)| json!([r, c])),
        "first_inf": nf.first_inf.map(|(r, c)| json!([r, c])),
    })
}

/// The `--json` object.
pub fn to_json(r: &QuantReport) -> Value {
    json!({
        "reference": r.reference,
        "candidate": r.candidate,
        "candidate_scales": r.cand_scale_kind,
        "shape": [r.rows, r.cols],
        "group": r.group,
        "fp8": r.fmt.name(),
        "x_dtype": r.x_dtype,
        "x_nonfinite": nonfinite_json(&r.nonfinite),
        "byte_equal": r.byte_equal,
        "q_match": r.q_match(),
        "s_match": r.s_match(),
        "q_value_match": r.q_value_match(),
        "s_value_match": r.s_value_match(),
        "elements": r.elements,
        "q_equal": r.q_equal,
        "groups": r.groups,
        "s_equal": r.s_equal,
        "mismatching_groups": r.mismatching_groups,
        "causes": r.causes.iter().map(|(c, n)| json!({
            "cause": c.key(), "description": c.describe(), "groups": n,
        })).collect::<Vec<_>>(),
        "mismatches": r.mismatches.iter().map(|m| json!({
            "row": m.row, "col": m.col, "x": num(m.x as f64),
            "ref_byte": m.ref_byte, "cand_byte": m.cand_byte,
            "ref_value": num(m.ref_value as f64), "cand_value": num(m.cand_value as f64),
            "ref_scale": num(m.ref_scale as f64), "cand_scale": num(m.cand_scale as f64),
        })).collect::<Vec<_>>(),
        "group_mismatches": r.group_mismatches.iter().map(|g| json!({
            "row": g.row, "group": g.group,
            "ref_scale": num(g.ref_scale as f64), "cand_scale": num(g.cand_scale as f64),
            "elements": g.elements, "cause": g.cause.key(),
        })).collect::<Vec<_>>(),
    })
}
