//! `inspect`: one row per tensor with its dtype, shape and value summary.

use crate::io::TensorFile;
use crate::metrics::{summarize, Summary};
use crate::report::json::num;
use crate::report::table::{fnum, Table};

/// One tensor's row.
pub struct Row {
    pub file: String,
    pub name: String,
    pub dtype: String,
    pub shape: Vec<usize>,
    pub summary: Option<Summary>,
}

/// Summarises every tensor of every file (floating tensors get min/max/mean/NaN).
pub fn inspect(files: &[TensorFile]) -> Vec<Row> {
    files
        .iter()
        .flat_map(|f| {
            f.tensors.iter().map(move |t| Row {
                file: f.path.display().to_string(),
                name: t.name.clone(),
                dtype: t.dtype.to_string(),
                shape: t.shape.clone(),
                summary: t.dtype.is_float().then(|| summarize(t)),
            })
        })
        .collect()
}

/// The terminal table, one block per file, with notes on skipped entries.
pub fn render(files: &[TensorFile], rows: &[Row]) -> String {
    let mut out = String::new();
    for f in files {
        let file = f.path.display().to_string();
        out.push_str(&format!("{file} ({} tensors)\n", f.tensors.len()));
        let mut t = Table::new(["name", "dtype", "shape", "min", "max", "mean", "nan", "inf"])
            .left_align(0)
            .left_align(1)
            .left_align(2);
        for r in rows.iter().filter(|r| r.file == file) {
            let s = r.summary.as_ref();
            t.row([
                r.name.clone(),
                r.dtype.clone(),
                format!("{:?}", r.shape),
                s.map(|s| fnum(s.min)).unwrap_or_default(),
                s.map(|s| fnum(s.max)).unwrap_or_default(),
                s.map(|s| fnum(s.mean)).unwrap_or_default(),
                s.map(|s| s.nan.to_string()).unwrap_or_default(),
                s.map(|s| s.inf.to_string()).unwrap_or_default(),
            ]);
        }
        out.push_str(&t.render());
        for n in &f.notes {
            out.push_str(&format!("note: {n}\n"));
        }
        out.push('\n');
    }
    out
}

/// JSON: a list of {file, name, dtype, shape, min, max, mean, nan, inf}.
pub fn to_json(rows: &[Row]) -> serde_json::Value {
    serde_json::Value::Array(
        rows.iter()
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
