//! The report of `isolate fingerprint`: ranking table, the set tied at the top, proven and undetermined
//! axes; `--json` with `ranking` [{variant, q_match, s_match}] and `best`.

use serde_json::{json, Value};

use crate::experiment::quant::fingerprint::{Fingerprint, Scored};
use crate::experiment::quant::fingerprint_gpu::GpuCheck;
use crate::experiment::quant::FingerprintReport;
use crate::report::doc::{Block, Doc, DocTable, Tone};
use crate::report::Render;

fn frac(a: usize, n: usize) -> f64 {
    if n == 0 {
        1.0
    } else {
        a as f64 / n as f64
    }
}

fn pct(a: usize, n: usize) -> String {
    if a == n {
        "100%".into()
    } else {
        format!("{:.3}%", 100.0 * frac(a, n))
    }
}

/// How many best variants are named in the terminal summary.
const NAMED: usize = 12;

/// The document of `isolate fingerprint`; `subject` describes the inputs (one line).
pub fn document(f: &Fingerprint, subject: &str, top: usize) -> Doc {
    let mut doc = Doc::new("isolate fingerprint");
    let line = |doc: &mut Doc, l: String| doc.push(Block::Line(l));
    line(&mut doc, subject.to_string());
    line(
        &mut doc,
        format!(
            "{} variants scored on {} groups of 1×{} ({} codes)",
            f.ranking.len(),
            f.groups,
            f.group,
            f.fmt.name()
        ),
    );
    line(&mut doc, String::new());
    let mut t = DocTable::new(["rank", "variant", "groups exact", "q_match", "s_match"]).left(&[1]);
    for (i, s) in f.ranking.iter().take(top).enumerate() {
        t.row(
            if s.exact == f.groups {
                Tone::Ok
            } else {
                Tone::Neutral
            },
            vec![
                (i + 1).to_string(),
                s.label.clone(),
                pct(s.exact, f.groups),
                pct(s.q_equal, f.elements),
                pct(s.s_equal, f.groups),
            ],
        );
    }
    doc.push(Block::Table(t));
    let best = f.best();
    let names: Vec<&str> = best.iter().take(NAMED).map(|s| s.label.as_str()).collect();
    let more = if best.len() > NAMED {
        format!(", … (+{} more)", best.len() - NAMED)
    } else {
        String::new()
    };
    line(&mut doc, String::new());
    doc.push(Block::Verdict(
        if f.reproduced() { Tone::Ok } else { Tone::Bad },
        format!(
            "best: {} variant{} {} {}: {}{more}",
            best.len(),
            if best.len() == 1 { "" } else { "s" },
            if best.len() == 1 {
                "reproduces"
            } else {
                "reproduce"
            },
            if f.reproduced() {
                "every group byte for byte".to_string()
            } else {
                format!(
                    "{} of {} groups (the most any variant does)",
                    best[0].exact, f.groups
                )
            },
            names.join("; ")
        ),
    ));
    let word = if f.reproduced() { "proven" } else { "best fit" };
    let decided: Vec<_> = f.axes.iter().filter(|a| a.values.len() == 1).collect();
    line(
        &mut doc,
        format!(
            "{word} (every best variant agrees):{}",
            if decided.is_empty() { " nothing" } else { "" }
        ),
    );
    for a in decided {
        let others: Vec<String> = a
            .alternatives
            .iter()
            .map(|(v, label, exact)| format!("{v} {} ({label})", pct(*exact, f.groups)))
            .collect();
        line(
            &mut doc,
            format!(
                "  {}={}{}",
                a.axis.name(),
                a.values[0],
                if others.is_empty() {
                    String::new()
                } else {
                    format!("; the best with {}: {}", a.axis.name(), others.join(", "))
                }
            ),
        );
    }
    let open: Vec<_> = f.axes.iter().filter(|a| a.values.len() > 1).collect();
    if !open.is_empty() {
        line(
            &mut doc,
            "undetermined by this data (the best variants disagree):".into(),
        );
        for a in open {
            line(
                &mut doc,
                format!(
                    "  {} ∈ {{{}}}: {}",
                    a.axis.name(),
                    a.values.join(", "),
                    a.reason.clone().unwrap_or_default()
                ),
            );
            if !a.alternatives.is_empty() {
                let others: Vec<String> = a
                    .alternatives
                    .iter()
                    .map(|(v, label, exact)| format!("{v} {} ({label})", pct(*exact, f.groups)))
                    .collect();
                line(&mut doc, format!("    ruled out: {}", others.join(", ")));
            }
        }
    }
    if f.padded {
        line(
            &mut doc,
            "note: K is not a multiple of the group; variants were scored with DeepGEMM's zero padding (only \
             DeepGEMM pads; the other sources reject such K)"
                .into(),
        );
    }
    if !f.reproduced() {
        line(
            &mut doc,
            "note: no variant reproduces every group. The dump may come from a rule outside these axes, e.g. \
             Triton's plain '/' (div.full.f32, up to 2 ulp, not IEEE: DeepSeek-V3 act_quant, vLLM/SGLang \
             Triton paths), which cannot be emulated bit for bit on the CPU"
                .into(),
        );
    }
    doc
}

/// One line for the GPU re-run of the best variants.
pub fn gpu_check_line(g: &GpuCheck) -> String {
    let mut s = format!(
        "GPU check ({}): {} best variants re-run on the GPU, {} reproduce the dump bit for bit (CPU: {})",
        g.device, g.checked, g.reproduce, g.cpu_reproduce
    );
    if !g.disagree.is_empty() {
        s.push_str(&format!(
            "; GPU and CPU DISAGREE on: {}",
            g.disagree.join(", ")
        ));
    }
    if !g.refused.is_empty() {
        s.push_str(&format!("; {} refused by the GPU path", g.refused.len()));
    }
    s
}

/// The `gpu_check` JSON object.
pub fn gpu_check_json(g: &GpuCheck) -> Value {
    json!({
        "device": g.device,
        "checked": g.checked,
        "reproduce": g.reproduce,
        "cpu_reproduce": g.cpu_reproduce,
        "disagree": g.disagree,
        "refused": g.refused.iter().map(|(v, r)| json!({"variant": v, "reason": r})).collect::<Vec<_>>(),
    })
}

impl Render for FingerprintReport {
    fn document(&self, _figures: bool) -> Doc {
        let mut doc = document(&self.fingerprint, &self.subject, self.top);
        if let Some(g) = &self.gpu {
            doc.push(Block::Line(gpu_check_line(g)));
        }
        crate::report::consistency::push(&self.consistency, &mut doc);
        doc
    }
    fn json(&self) -> Value {
        let mut j = to_json(&self.fingerprint, self.top);
        if let Some(g) = &self.gpu {
            j["gpu_check"] = gpu_check_json(g);
        }
        j["consistency"] = crate::report::consistency::to_json(&self.consistency);
        j
    }
}

fn scored_json(s: &Scored, f: &Fingerprint) -> Value {
    json!({
        "variant": s.label,
        "spec": s.spec.full(),
        "score": frac(s.exact, f.groups),
        "groups_exact": s.exact,
        "q_match": frac(s.q_equal, f.elements),
        "s_match": frac(s.s_equal, f.groups),
    })
}

/// The `--json` object.
pub fn to_json(f: &Fingerprint, top: usize) -> Value {
    let proven: serde_json::Map<String, Value> = f
        .axes
        .iter()
        .filter(|a| a.values.len() == 1)
        .map(|a| (a.axis.name().to_string(), json!(a.values[0])))
        .collect();
    let undetermined: serde_json::Map<String, Value> = f
        .axes
        .iter()
        .filter(|a| a.values.len() > 1)
        .map(|a| {
            (
                a.axis.name().to_string(),
                json!({"values": a.values, "reason": a.reason}),
            )
        })
        .collect();
    let alternatives: serde_json::Map<String, Value> = f
        .axes
        .iter()
        .filter(|a| !a.alternatives.is_empty())
        .map(|a| {
            (
                a.axis.name().to_string(),
                a.alternatives
                    .iter()
                    .map(|(v, label, exact)| {
                        json!({"value": v, "best_variant": label, "score": frac(*exact, f.groups)})
                    })
                    .collect::<Vec<_>>()
                    .into(),
            )
        })
        .collect();
    json!({
        "fp8": f.fmt.name(),
        "group": f.group,
        "groups": f.groups,
        "elements": f.elements,
        "variants": f.ranking.len(),
        "reproduced": f.reproduced(),
        "ranking": f.ranking.iter().take(top).map(|s| scored_json(s, f)).collect::<Vec<_>>(),
        "best": f.best().iter().map(|s| s.label.clone()).collect::<Vec<_>>(),
        "proven": proven,
        "undetermined": undetermined,
        "alternatives": alternatives,
        "padded": f.padded,
        "x_nonfinite": f.nonfinite,
    })
}
