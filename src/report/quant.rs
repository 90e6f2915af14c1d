//! The report of `isolate quant`: the document and the `--json` object (docs/contract.md §6.4: `byte_equal`,
//! `q_match`, `s_match`, `mismatches`).

use serde_json::{json, Value};

use crate::experiment::quant::verify::VerifyReport;
use crate::experiment::quant::VerifyOutcome;
use crate::quant::NonFinite;
use crate::report::doc::{Block, Doc, DocTable, Tone};
use crate::report::fmt::fval;
use crate::report::json::num;
use crate::report::Render;

fn pct(a: usize, n: usize) -> String {
    if a == n {
        "100%".into()
    } else {
        format!("{:.3}%", 100.0 * a as f64 / n as f64)
    }
}

/// The document of `isolate quant`: what was compared, the match counts, the verdict, and for a mismatch the
/// causes, the first differing codes and the groups whose scale alone differs.
pub fn document(r: &VerifyReport) -> Doc {
    let mut doc = Doc::new(format!(
        "isolate quant: {} vs reference {}",
        r.candidate, r.reference
    ));
    let mut f: Vec<(String, String)> = vec![
        ("reference".into(), r.reference.clone()),
        (
            "candidate".into(),
            match r.cand_scale_kind {
                Some(k) => format!("{} ({} scales)", r.candidate, k),
                None => r.candidate.clone(),
            },
        ),
        (
            "x".into(),
            format!(
                "{} [{}, {}]: {} groups of 1×{} ({} codes)",
                r.x_dtype,
                r.rows,
                r.cols,
                r.groups,
                r.group,
                r.fmt.name()
            ),
        ),
    ];
    if r.nonfinite.any() {
        f.push(("x has".into(), r.nonfinite.describe()));
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
    f.push((
        "q".into(),
        format!(
            "{} of {} codes byte-equal ({}){}",
            r.q_equal,
            r.elements,
            pct(r.q_equal, r.elements),
            as_values(r.q_equal, r.q_value_equal, r.elements)
        ),
    ));
    f.push((
        "scales".into(),
        format!(
            "{} of {} byte-equal ({}){}",
            r.s_equal,
            r.groups,
            pct(r.s_equal, r.groups),
            as_values(r.s_equal, r.s_value_equal, r.groups)
        ),
    ));
    let verdict = if r.byte_equal {
        "BYTE-EQUAL: the candidate reproduces the reference bit for bit".to_string()
    } else {
        format!(
            "NOT byte-equal: {} of {} groups differ",
            r.mismatching_groups, r.groups
        )
    };
    f.push(("verdict".into(), verdict));
    doc.push(Block::Fields(f));
    if r.byte_equal {
        return doc;
    }
    doc.push(Block::Heading("mismatching groups by likely cause".into()));
    let mut t = DocTable::new(["groups", "cause"]).left(&[1]);
    for (c, n) in &r.causes {
        t.row(Tone::Bad, vec![n.to_string(), c.describe()]);
    }
    doc.push(Block::Table(t));
    if !r.mismatches.is_empty() {
        doc.push(Block::Heading(format!(
            "first {} differing codes",
            r.mismatches.len()
        )));
        let mut t = DocTable::new([
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
            t.row(
                Tone::Neutral,
                vec![
                    m.row.to_string(),
                    m.col.to_string(),
                    fval(m.x),
                    format!("0x{:02X}", m.ref_byte),
                    format!("0x{:02X}", m.cand_byte),
                    fval(m.ref_value),
                    fval(m.cand_value),
                    fval(m.ref_scale),
                    fval(m.cand_scale),
                ],
            );
        }
        doc.push(Block::Table(t));
    }
    let scale_only: Vec<_> = r
        .group_mismatches
        .iter()
        .filter(|g| g.elements == 0)
        .collect();
    if !scale_only.is_empty() {
        doc.push(Block::Heading(
            "groups whose scale alone differs (codes equal)".into(),
        ));
        let mut t = DocTable::new(["row", "group", "ref scale", "cand scale", "cause"]).left(&[4]);
        for g in scale_only {
            t.row(
                Tone::Neutral,
                vec![
                    g.row.to_string(),
                    g.group.to_string(),
                    fval(g.ref_scale),
                    fval(g.cand_scale),
                    g.cause.describe(),
                ],
            );
        }
        doc.push(Block::Table(t));
    }
    doc
}

impl Render for VerifyOutcome {
    fn document(&self, _figures: bool) -> Doc {
        let mut doc = document(&self.report);
        if let Some(c) = &self.report.consistency {
            crate::report::consistency::push(c, &mut doc);
        }
        doc
    }
    fn json(&self) -> Value {
        let mut j = to_json(&self.report);
        if let Some(c) = &self.report.consistency {
            j["consistency"] = crate::report::consistency::to_json(c);
        }
        j
    }
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
pub fn to_json(r: &VerifyReport) -> Value {
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
