//! The report of `isolate inspect`: one table per file (name, dtype, shape, min/max/mean, NaN/inf counts) and
//! the JSON list of rows.

use serde_json::Value;

use crate::experiment::inspect::FileRows;
use crate::report::doc::{Block, Doc, DocTable, Tone};
use crate::report::fmt::{fnum, fshape};
use crate::report::json::num;
use crate::report::Render;

/// `isolate inspect`'s result: the rows of every file.
pub struct InspectReport(pub Vec<FileRows>);

impl Render for InspectReport {
    fn document(&self, _figures: bool) -> Doc {
        let mut doc = Doc::new("isolate inspect");
        for f in &self.0 {
            doc.push(Block::Line(format!(
                "{} ({} tensors)",
                f.file,
                f.rows.len()
            )));
            let mut t =
                DocTable::new(["name", "dtype", "shape", "min", "max", "mean", "nan", "inf"])
                    .left(&[0, 1, 2]);
            for r in &f.rows {
                let s = r.summary.as_ref();
                t.row(
                    if s.is_some_and(|s| s.nan > 0) {
                        Tone::Nan
                    } else {
                        Tone::Neutral
                    },
                    vec![
                        r.name.clone(),
                        r.dtype.clone(),
                        fshape(&r.shape),
                        s.map(|s| fnum(s.min)).unwrap_or_default(),
                        s.map(|s| fnum(s.max)).unwrap_or_default(),
                        s.map(|s| fnum(s.mean)).unwrap_or_default(),
                        s.map(|s| s.nan.to_string()).unwrap_or_default(),
                        s.map(|s| s.inf.to_string()).unwrap_or_default(),
                    ],
                );
            }
            doc.push(Block::Table(t));
            for n in &f.notes {
                doc.push(Block::Line(format!("note: {n}")));
            }
            doc.push(Block::Line(String::new()));
        }
        doc
    }

    /// A list of {file, name, dtype, shape, min, max, mean, nan, inf}.
    fn json(&self) -> Value {
        Value::Array(
            self.0
                .iter()
                .flat_map(|f| f.rows.iter())
                .map(|r| {
                    let mut o = serde_json::json!({
                        "file": r.file, "name": r.name, "dtype": r.dtype, "shape": r.shape,
                    });
                    if let Some(s) = &r.summary {
                        o["min"] = num(s.min);
                        o["max"] = num(s.max);
                        o["mean"] = num(s.mean);
                        o["nan"] = s.nan.into();
                        o["inf"] = s.inf.into();
                    }
                    o
                })
                .collect(),
        )
    }
}
