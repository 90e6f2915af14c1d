//! JSON helpers: pretty printing, and numbers JSON cannot hold.

/// `value` pretty-printed (two-space indent, the layout `--json` has always had).
pub fn pretty(value: &serde_json::Value) -> String {
    serde_json::to_string_pretty(value).expect("a serde_json::Value always serialises")
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
