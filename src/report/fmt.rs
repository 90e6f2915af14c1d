//! Number formats of the compare reports.

/// cos with 9 decimals (enough to see 1 − cos down to 1e-9; JSON keeps every digit).
pub fn fcos(c: f64) -> String {
    if c.is_nan() {
        "NaN".into()
    } else {
        format!("{c:.9}")
    }
}

/// A small positive quantity (rel, max_abs, 1 − cos) in scientific notation, exact zero as "0".
pub fn fsci(x: f64) -> String {
    if x == 0.0 {
        "0".into()
    } else if x.is_nan() {
        "NaN".into()
    } else if x.is_infinite() {
        if x > 0.0 {
            "inf".into()
        } else {
            "-inf".into()
        }
    } else {
        format!("{x:.3e}")
    }
}

/// A fraction as a percentage with 2 decimals, rounded down ("100%" only when it is exactly 1).
pub fn fpct(f: f64) -> String {
    if f == 1.0 {
        "100%".into()
    } else if f.is_nan() {
        "NaN".into()
    } else {
        format!("{:.2}%", (f * 10000.0).floor() / 100.0)
    }
}

/// A shape as `[a, b]`.
pub fn fshape(s: &[usize]) -> String {
    format!("{s:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(fcos(0.99931), "0.999310000");
        assert_eq!(fsci(0.0), "0");
        assert_eq!(fsci(1.5e-4), "1.500e-4");
        assert_eq!(fpct(1.0), "100%");
        assert_eq!(fpct(0.99999), "99.99%");
        assert_eq!(fpct(0.5), "50.00%");
    }
}
