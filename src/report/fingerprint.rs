//! Presentation of `isolate fingerprint`: ranking table, the set tied at the top, proven and undetermined
//! axes; `--json` with `ranking` [{variant, q_match, s_match}] and `best`.

use serde_json::{json, Value};

use crate::experiment::fingerprint::{Fingerprint, Scored};
use crate::report::table::Table;

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

/// The terminal report; `header` describes the inputs (one line).
pub fn render(f: &Fingerprint, header: &str, top: usize) -> String {
    let mut out = format!(
        "{header}\n{} variants scored on {} groups of 1×{} ({} codes)\n\n",
        f.ranking.len(),
        f.groups,
        f.group,
        f.fmt.name()
    );
    let mut t = Table::new(["rank", "variant", "groups exact", "q_match", "s_match"]).left_align(1);
    for (i, s) in f.ranking.iter().take(top).enumerate() {
        t.row([
            (i + 1).to_string(),
            s.label.clone(),
            pct(s.exact, f.groups),
            pct(s.q_equal, f.elements),
            pct(s.s_equal, f.groups),
        ]);
    }
    out.push_str(&t.render());
    let best = f.best();
    let names: Vec<&str> = best.iter().take(NAMED).map(|s| s.label.as_str()).collect();
    let more = if best.len() > NAMED {
        format!(", … (+{} more)", best.len() - NAMED)
    } else {
        String::new()
    };
    out.push_str(&format!(
        "\nbest: {} variant{} {} {}: {}{more}\n",
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
    ));
    let word = if f.reproduced() { "proven" } else { "best fit" };
    let decided: Vec<_> = f.axes.iter().filter(|a| a.values.len() == 1).collect();
    out.push_str(&format!(
        "{word} (every best variant agrees):{}\n",
        if decided.is_empty() { " nothing" } else { "" }
    ));
    for a in decided {
        let others: Vec<String> = a
            .alternatives
            .iter()
            .map(|(v, label, exact)| format!("{v} {} ({label})", pct(*exact, f.groups)))
            .collect();
        out.push_str(&format!(
            "  {}={}{}\n",
            a.axis.name(),
            a.values[0],
            if others.is_empty() {
                String::new()
            } else {
                format!("; the best with {}: {}", a.axis.name(), others.join(", "))
            }
        ));
    }
    let open: Vec<_> = f.axes.iter().filter(|a| a.values.len() > 1).collect();
    if !open.is_empty() {
        out.push_str("undetermined by this data (the best variants disagree):\n");
        for a in open {
            out.push_str(&format!(
                "  {} ∈ {{{}}}: {}\n",
                a.axis.name(),
                a.values.join(", "),
                a.reason.clone().unwrap_or_default()
            ));
            if !a.alternatives.is_empty() {
                let others: Vec<String> = a
                    .alternatives
                    .iter()
                    .map(|(v, label, exact)| format!("{v} {} ({label})", pct(*exact, f.groups)))
                    .collect();
                out.push_str(&format!("    ruled out: {}\n", others.join(", ")));
            }
        }
    }
    if f.padded {
        out.push_str(
            "note: K is not a multiple of the group; variants were scored with DeepGEMM's zero padding (only \
             DeepGEMM pads; the other sources reject such K)\n",
        );
    }
    if !f.reproduced() {
        out.push_str(
            "note: no variant reproduces every group. The dump may come from a rule outside these axes, e.g. \
             Triton's plain '/' (div.full.f32, up to 2 ulp, not IEEE: DeepSeek-V3 act_quant, vLLM/SGLang \
             Triton paths), which cannot be emulated bit for bit on the CPU\n",
        );
    }
    out
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
