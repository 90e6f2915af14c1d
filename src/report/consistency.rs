//! Scale ↔ payload consistency of a dumped `x`, `xq`, `xs` (`isolate quant --candidate dumped`,
//! `isolate fingerprint`): lines for the document and the `consistency` JSON object.

use serde_json::{json, Value};

use crate::experiment::quant::consistency::Consistency;
use crate::experiment::quant::layout_search::{LayoutSearch, PackedLeak, Scored, Trigger};
use crate::report::doc::{Block, Doc, Tone};
use crate::report::fmt::fsci;
use crate::report::gemm::fratio;
use crate::report::json::num;

/// The `consistency` object.
pub fn to_json(c: &Consistency) -> Value {
    json!({
        "groups": c.groups,
        "consistent": c.consistent,
        "fraction": num(c.fraction()),
        "classes": c.classes.iter().map(|k| json!({
            "payload_scale": k.payload,
            "stored_scale": k.stored,
            "groups": k.groups,
            "max_factor": num(k.max_factor),
            "first": [k.first.0, k.first.1],
            "description": k.sentence(),
        })).collect::<Vec<_>>(),
        "unexplained": c.unexplained,
        "first_unexplained": c.first_unexplained.map(|(r, g)| json!([r, g])),
        "dequant_one_minus_cos": num(c.dequant_drift),
        "floor_one_minus_cos": num(c.floor_drift),
        "ratio": num(c.ratio),
        "layout": c.layout.as_ref().map(layout_json),
        "packed_leak": c.packed_leak.as_ref().map(leak_json),
    })
}

fn scored_json(s: &Scored) -> Value {
    json!({
        "layout": s.interp.layout.name(),
        "view": s.interp.view,
        "expert_stride_0": s.interp.expert_stride0,
        "fraction": num(s.fraction()),
        "consistent": s.consistent,
        "checked": s.checked,
    })
}

/// The `consistency.layout` object: the layout fingerprint (docs/contract.md §6.8).
pub fn layout_json(l: &LayoutSearch) -> Value {
    let (trigger, error) = match &l.trigger {
        Trigger::DoesNotFit(e) => ("declared_does_not_fit", Some(e.as_str())),
        Trigger::MostlyInconsistent => ("mostly_inconsistent", None),
    };
    json!({
        "trigger": trigger,
        "declared": {
            "layout": l.declared.layout.name(),
            "view": l.declared.view,
            "fits": l.declared_score.is_some(),
            "error": error,
            "fraction": l.declared_score.as_ref().map(|d| num(d.fraction())),
            "consistent": l.declared_score.as_ref().map(|d| d.consistent),
        },
        "best": l.best().map(scored_json),
        "finding": l.finding.key(),
        "declared_wrong": l.declared_wrong(),
        "description": l.sentence(),
        "groups": l.groups,
        "checked": l.checked,
        "sampled": l.sampled(),
        "experts": l.experts,
        "candidates": l.candidates.iter().map(scored_json).collect::<Vec<_>>(),
    })
}

/// The `consistency.packed_leak` object (docs/contract.md §6.8).
pub fn leak_json(p: &PackedLeak) -> Value {
    json!({
        "words": p.words,
        "checked": p.checked,
        "sampled": p.sampled(),
        "bad_words": p.bad_words,
        "patterns": {"ff_fill": p.ff_fill, "f32_bits": p.f32_bits, "other": p.other},
        "unknown_groups": p.unknown_groups,
        "example": p.example.as_ref().map(|e| json!({
            "row": e.row,
            "word": e.word,
            "got": format!("{:#010x}", e.got),
            "expected": format!("{:#010x}", e.expected),
            "pattern": e.pattern.key(),
        })),
        "description": p.sentence(),
    })
}

/// The consistency as document blocks.
pub fn push(c: &Consistency, doc: &mut Doc) {
    doc.push(Block::Heading("scale ↔ payload consistency".into()));
    let all = c.consistent == c.groups;
    doc.push(Block::Verdict(
        if all { Tone::Ok } else { Tone::Bad },
        format!(
            "{} of {} groups: xq is what the element rule gives with the stored scale",
            c.consistent, c.groups
        ),
    ));
    if let Some(l) = &c.layout {
        doc.push(Block::Verdict(
            if l.declared_wrong() {
                Tone::Bad
            } else {
                Tone::Neutral
            },
            format!("layout: {}", l.sentence()),
        ));
    }
    if let Some(s) = c.packed_leak.as_ref().and_then(PackedLeak::sentence) {
        doc.push(Block::Verdict(Tone::Bad, s));
    }
    for k in &c.classes {
        doc.push(Block::Line(format!(
            "{} (first: row {}, group {})",
            k.sentence(),
            k.first.0,
            k.first.1
        )));
    }
    if c.unexplained > 0 {
        doc.push(Block::Line(format!(
            "{} groups: no searched scale (f32 amax/max, amax·(1/max), ue8m0 ceil/nearest/floor, eps floors) \
             reproduces xq{}",
            c.unexplained,
            c.first_unexplained
                .map(|(r, g)| format!(" (first: row {r}, group {g})"))
                .unwrap_or_default()
        )));
    }
    if !all {
        doc.push(Block::Line(format!(
            "dequantized with the stored scales: 1 − cos(xq·xs, x) = {}, {}× the floor {} of the payload's own \
             scales",
            fsci(c.dequant_drift),
            fratio(c.ratio),
            fsci(c.floor_drift)
        )));
    }
}
