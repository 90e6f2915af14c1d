//! Scale ↔ payload consistency of a dumped `x`, `xq`, `xs` (`isolate quant --candidate dumped`,
//! `isolate fingerprint`): lines for the document and the `consistency` JSON object.

use serde_json::{json, Value};

use crate::experiment::quant::consistency::Consistency;
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
