//! The one vocabulary every report writes numbers in (the terminal, Markdown and HTML renderings; JSON keeps
//! full precision).

/// A cosine with 9 decimals (enough to see 1 − cos down to 1e-9).
pub fn fcos(c: f64) -> String {
    if c.is_nan() {
        "NaN".into()
    } else {
        format!("{c:.9}")
    }
}

/// A magnitude (rel, max_abs, 1 − cos) in scientific notation with 4 significant digits, exact zero as "0".
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

/// A fraction as a percentage with 2 decimals, rounded down ("100%" only when it is exactly 1, "-" for NaN,
/// so that 99.999 % never reads as 100 %).
pub fn fpct(f: f64) -> String {
    if f == 1.0 {
        "100%".into()
    } else if f.is_nan() {
        "-".into()
    } else {
        format!("{:.2}%", (f * 10000.0).floor() / 100.0)
    }
}

/// `a` of `n` as a percentage ([`fpct`]); 0 of 0 is 100 %.
pub fn fpct_of(a: usize, n: usize) -> String {
    fpct(if n == 0 { 1.0 } else { a as f64 / n as f64 })
}

/// A value of a tensor (min, max, mean): 6 decimals below 100, else scientific (ATOM's `print_compare_table`,
/// docs/numerics.md §9.10).
pub fn fnum(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.abs() < 100.0 {
        format!("{v:.6}")
    } else {
        format!("{v:.4e}")
    }
}

/// An f32 element (an input, a decoded code, a scale) in its shortest exact form: plain between 1e-3 and 1e5,
/// scientific elsewhere.
pub fn fval(v: f32) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == 0.0 || (v.abs() >= 1e-3 && v.abs() < 1e5) {
        format!("{v}")
    } else {
        format!("{v:e}")
    }
}

/// A share of a drift (3 decimals), "undefined" when it is not finite.
pub fn fshare(x: f64) -> String {
    if x.is_finite() {
        format!("{x:.3}")
    } else {
        "undefined".into()
    }
}

/// A shape as `[a, b]`.
pub fn fshape(s: &[usize]) -> String {
    format!("{s:?}")
}

/// An optional count, "-" when absent.
pub fn fopt(u: Option<u64>) -> String {
    u.map(|u| u.to_string()).unwrap_or_else(|| "-".into())
}

/// yes / no.
pub fn fyes(b: bool) -> String {
    if b { "yes" } else { "no" }.into()
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
        assert_eq!(fpct(f64::NAN), "-");
        assert_eq!(fpct_of(0, 0), "100%");
        assert_eq!(fnum(123.0), "1.2300e2");
        assert_eq!(fval(0.5), "0.5");
        assert_eq!(fval(1e-5), "1e-5");
        assert_eq!(fshare(f64::NAN), "undefined");
    }
}
