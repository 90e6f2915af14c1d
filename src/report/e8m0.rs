//! The report of `isolate e8m0`: value, code (decimal and hex), decoded value.

use serde_json::Value;

use crate::experiment::e8m0::E8m0Row;
use crate::report::doc::{Block, Doc, DocTable, Tone};
use crate::report::json::num;
use crate::report::Render;

/// `isolate e8m0`'s rows.
pub struct E8m0Report(pub Vec<E8m0Row>);

impl Render for E8m0Report {
    fn document(&self, _figures: bool) -> Doc {
        let mut doc = Doc::new("isolate e8m0");
        let mut t = DocTable::new(["value", "code", "hex", "decoded"]);
        for r in &self.0 {
            t.row(
                Tone::Neutral,
                vec![
                    r.value.map(|v| format!("{v:e}")).unwrap_or_default(),
                    r.code.to_string(),
                    format!("0x{:02X}", r.code),
                    format!("{:e}", r.decoded),
                ],
            );
        }
        doc.push(Block::Table(t));
        doc
    }

    /// A list of {value, code, decoded}.
    fn json(&self) -> Value {
        Value::Array(
            self.0
                .iter()
                .map(|r| {
                    serde_json::json!({
                        "value": r.value.map(|v| num(v as f64)).unwrap_or(Value::Null),
                        "code": r.code,
                        "decoded": num(r.decoded as f64),
                    })
                })
                .collect(),
        )
    }
}
