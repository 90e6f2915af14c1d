//! JSON of the compare suite (`--json`). Every float goes through `json::num` (NaN/inf as strings).
//!
//! Per-element equality is `byte_equal` (fraction of elements with identical bytes) and `value_equal`
//! (equal as numbers); `byte_equal_bytes` is ATOM's `byte_equal_pct` (fraction of identical bytes).

use serde_json::{json, Map, Value};

use crate::experiment::compare::dumps::InputIds;
use crate::experiment::compare::layer_bisect::{Bisect, Classification};
use crate::experiment::compare::ref_vs_target::{Outcome, RefVsTarget};
use crate::experiment::compare::schema::{SchemaReport, Status};
use crate::experiment::compare::slots::SlotReport;
use crate::metrics::Comparison;
use crate::report::json::num;

/// The metrics of one comparison; `a`/`b` name the two sides in `nan_{a}` / `nan_{b}` and `max_abs_values`.
pub fn comparison(c: &Comparison, a: &str, b: &str) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("n".into(), json!(c.n));
    m.insert("cos".into(), num(c.cos));
    m.insert("rel".into(), num(c.rel));
    m.insert("max_abs".into(), num(c.max_abs));
    m.insert("max_abs_at".into(), json!(c.max_abs_at));
    m.insert(
        "max_abs_values".into(),
        c.max_abs_values
            .map(|(x, y)| json!({ a: num(x), b: num(y) }))
            .unwrap_or(Value::Null),
    );
    m.insert("calc_diff".into(), num(c.calc_diff));
    m.insert("flag".into(), json!(c.severity().symbol()));
    let ulp = c.ulp.as_ref().filter(|u| u.count > 0);
    m.insert("ulp_p50".into(), json!(ulp.and_then(|u| u.quantile(0.5))));
    m.insert("ulp_p99".into(), json!(ulp.and_then(|u| u.quantile(0.99))));
    m.insert("ulp_max".into(), json!(ulp.map(|u| u.max)));
    m.insert(
        "byte_equal".into(),
        c.byte_equal.map(num).unwrap_or(Value::Null),
    );
    m.insert("value_equal".into(), num(c.value_equal));
    m.insert(format!("nan_{a}"), json!(c.nan_a));
    m.insert(format!("nan_{b}"), json!(c.nan_b));
    m
}

fn input_ids(i: &InputIds) -> Value {
    match i {
        InputIds::Match(n) => json!({"status": "match", "n": n}),
        InputIds::Absent => json!({"status": "absent"}),
        InputIds::OnlyTarget => json!({"status": "only_target"}),
        InputIds::OnlyReference => json!({"status": "only_reference"}),
    }
}

/// `compare ref-vs-target --json`.
pub fn ref_vs_target(r: &RefVsTarget) -> Value {
    let stages: Vec<Value> = r
        .rows
        .iter()
        .map(|row| {
            let mut m = Map::new();
            m.insert("stage".into(), json!(row.stage));
            m.insert("layer".into(), json!(row.section.layer()));
            m.insert("target_shape".into(), json!(row.target_shape));
            m.insert("ref_shape".into(), json!(row.ref_shape));
            m.insert("target_dtype".into(), json!(row.target_dtype.to_string()));
            m.insert("ref_dtype".into(), json!(row.ref_dtype.to_string()));
            match &row.outcome {
                Outcome::Compared {
                    cmp,
                    byte_equal_bytes,
                } => {
                    m.insert("status".into(), json!("compared"));
                    m.extend(comparison(cmp, "target", "ref"));
                    m.insert("byte_equal_bytes".into(), num(*byte_equal_bytes));
                    m.insert(
                        "breach".into(),
                        json!(row.breach(&r.thresholds).map(|b| b.name())),
                    );
                }
                Outcome::ShapeMismatch => {
                    m.insert("status".into(), json!("shape_mismatch"));
                    m.insert("flag".into(), json!("shape"));
                }
                Outcome::NotComparable(why) => {
                    m.insert("status".into(), json!("not_comparable"));
                    m.insert("flag".into(), json!("n/a"));
                    m.insert("reason".into(), json!(why));
                }
            }
            Value::Object(m)
        })
        .collect();
    let first = r
        .first_breach()
        .map(|(row, b)| json!({"stage": row.stage, "why": b.name()}));
    json!({
        "command": "compare ref-vs-target",
        "target": r.target.display().to_string(),
        "reference": r.reference.display().to_string(),
        "input_ids": input_ids(&r.input_ids),
        "thresholds": {"cos": num(r.thresholds.cos), "rel": num(r.thresholds.rel)},
        "first_breach": first,
        "stages": stages,
        "only_target": r.only_target,
        "only_reference": r.only_reference,
        "notes": r.notes,
        "exit_code": r.exit_code(),
    })
}

fn classification(c: &Classification) -> Value {
    let mut v = match c {
        Classification::Clean => json!({}),
        Classification::BeforeLayers { stage } | Classification::AfterLayers { stage } => {
            json!({"stage": stage})
        }
        Classification::Sudden {
            layer,
            before,
            at,
            recovers,
        } => {
            json!({"layer": layer, "drift_before": num(*before), "drift_at": num(*at), "recovers": recovers})
        }
        Classification::Compounding {
            layer,
            from_layer,
            from_drift,
            at,
            growth,
        } => json!({
            "layer": layer, "from_layer": from_layer, "drift_from": num(*from_drift), "drift_at": num(*at),
            "growth_per_layer": num(*growth)
        }),
        Classification::Periodic { period, layers } => json!({"period": period, "layers": layers}),
        Classification::Intermittent { layers } => json!({"layers": layers}),
    };
    v["kind"] = json!(c.kind());
    v["text"] = json!(c.sentence());
    v
}

/// `compare layer-bisect --json`.
pub fn layer_bisect(b: &Bisect) -> Value {
    let mut v = ref_vs_target(&b.base);
    v["command"] = json!("compare layer-bisect");
    v["exit_code"] = json!(b.exit_code());
    v["first_bad"] = match b.first_bad_row() {
        Some(row) => {
            let c = row.comparison().unwrap();
            json!({"stage": row.stage, "layer": row.section.layer(), "why": b.first_bad.unwrap().1.name(),
                   "cos": num(c.cos), "rel": num(c.rel)})
        }
        None => Value::Null,
    };
    v["layers"] = b
        .layers
        .iter()
        .map(|p| {
            json!({"layer": p.layer, "output_stage": p.output_stage, "cos": num(p.output_cos),
                   "rel": num(p.output_rel), "worst_stage": p.worst_stage, "drift": num(p.drift),
                   "rel_max": num(p.rel), "breach": p.breach})
        })
        .collect();
    v["classification"] = classification(&b.classification);
    v
}

/// `compare slot-invariance --json`.
pub fn slots(s: &SlotReport) -> Value {
    let rows: Vec<Value> = s
        .rows
        .iter()
        .map(|r| {
            let slots: Vec<Value> = r
                .slots
                .iter()
                .map(|c| {
                    let mut m = comparison(&c.cmp, "slot0", "slot");
                    m.insert("slot".into(), json!(c.slot));
                    m.insert("bitwise".into(), json!(c.bitwise));
                    Value::Object(m)
                })
                .collect();
            json!({
                "layer": r.layer, "stage": r.stage, "call": r.call, "file": r.path.display().to_string(),
                "shape": r.shape, "tok_per_slot": r.tok_per_slot, "flag": r.flag.symbol(),
                "min_cos": num(r.min_cos), "max_rel": num(r.max_rel), "max_abs": num(r.max_abs),
                "bitwise_all": r.bitwise_all, "diverges": r.diverges, "odd_slots": r.odd_slots, "slots": slots,
            })
        })
        .collect();
    let first = s.first_divergence().map(
        |r| json!({"layer": r.layer, "stage": r.stage, "call": r.call, "odd_slots": r.odd_slots}),
    );
    json!({
        "command": "compare slot-invariance",
        "dir": s.dir.display().to_string(),
        "rank": s.rank,
        "n_slots": s.n_slots,
        "criterion": s.criterion.name(),
        "first_divergence": first,
        "rows": rows,
        "skipped": s.skipped.iter().map(|k| json!({"layer": k.layer, "stage": k.stage, "reason": k.reason}))
            .collect::<Vec<_>>(),
        "exit_code": s.exit_code(),
    })
}

fn status(s: &Status) -> Value {
    match s {
        Status::BytesEqual => json!("bytes_equal"),
        Status::ValuesEqual => json!("values_equal"),
        Status::Flag(f) => json!(f.symbol()),
        Status::ShapeMismatch => json!("shape_mismatch"),
        Status::NotComparable(_) => json!("not_comparable"),
    }
}

/// `compare schema --json`.
pub fn schema(s: &SchemaReport) -> Value {
    let common: Vec<Value> = s
        .rows
        .iter()
        .map(|r| {
            let mut m = Map::new();
            m.insert("name".into(), json!(r.name));
            m.insert("status".into(), status(&r.status));
            m.insert("ok".into(), json!(r.status.ok()));
            m.insert("a_dtype".into(), json!(r.a_dtype.to_string()));
            m.insert("a_shape".into(), json!(r.a_shape));
            m.insert("b_dtype".into(), json!(r.b_dtype.to_string()));
            m.insert("b_shape".into(), json!(r.b_shape));
            if let Status::NotComparable(why) = &r.status {
                m.insert("reason".into(), json!(why));
            }
            if let Some(c) = &r.cmp {
                m.extend(comparison(c, "a", "b"));
            }
            m.insert(
                "byte_equal_bytes".into(),
                r.byte_equal_bytes.map(num).unwrap_or(Value::Null),
            );
            m.insert("notes".into(), json!(r.notes));
            Value::Object(m)
        })
        .collect();
    let shape_diff: Vec<&str> = s
        .rows
        .iter()
        .filter(|r| r.a_shape != r.b_shape)
        .map(|r| r.name.as_str())
        .collect();
    let dtype_diff: Vec<&str> = s
        .rows
        .iter()
        .filter(|r| r.a_dtype != r.b_dtype)
        .map(|r| r.name.as_str())
        .collect();
    json!({
        "command": "compare schema",
        "a": s.a_files.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
        "b": s.b_files.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
        "strip_prefixes": s.options.strip_prefixes,
        "tp_dim": s.options.tp_dim,
        "only_a": s.only_a,
        "only_b": s.only_b,
        "shape_diff": shape_diff,
        "dtype_diff": dtype_diff,
        "common": common,
        "notes": s.notes,
        "exit_code": s.exit_code(),
    })
}
