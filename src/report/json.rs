//! `--json PATH|-`: write a JSON value to a file or to stdout.

use std::path::Path;

use crate::error::{Error, Result};

/// Writes `value` pretty-printed to `dest` (`-` = stdout).
pub fn write_json(dest: &str, value: &serde_json::Value) -> Result<()> {
    let text = serde_json::to_string_pretty(value).expect("a serde_json::Value always serialises");
    if dest == "-" {
        println!("{text}");
        Ok(())
    } else {
        std::fs::write(Path::new(dest), text + "\n").map_err(|e| Error::io(dest, e))
    }
}

/// A finite f64 as a JSON number; NaN and ±inf (which JSON cannot hold) as the strings "NaN", "inf", "-inf".
pub fn num(x: f64) -> serde_json::Value {
    if x.is_finite() {
        serde_json::json!(x)
    } else if x.is_nan() {
        serde_json::json!("NaN")
    } else if x > 0.0 {
        serde_json::json!("inf")
    } else {
        serde_json::json!("-inf")
    }
}
