//! The severity flag, following ATOM's code rather than the method's table (ATOM compare.py `flag_for`;
//! docs/numerics.md §9.8, docs/method.md §6): strict comparisons, rel only matters for ✓, `COS_BUG` never read.

/// ATOM `COS_BIT_EQUAL`.
pub const COS_BIT_EQUAL: f64 = 0.9999;
/// ATOM `COS_NUM_DRIFT`.
pub const COS_NUM_DRIFT: f64 = 0.999;
/// ATOM `COS_ALGO_DIFF`.
pub const COS_ALGO_DIFF: f64 = 0.99;

/// How bad a drift is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// cos > 0.9999 and rel < 0.01: "✓"
    Ok,
    /// cos > 0.999: "?"
    Drift,
    /// cos > 0.99: "✗"
    Bad,
    /// otherwise: "✗✗"
    VeryBad,
    /// cos is NaN: "??"
    Nan,
}

impl Severity {
    /// The flag's symbol, as ATOM prints it.
    pub fn symbol(self) -> &'static str {
        match self {
            Severity::Ok => "✓",
            Severity::Drift => "?",
            Severity::Bad => "✗",
            Severity::VeryBad => "✗✗",
            Severity::Nan => "??",
        }
    }
}

/// `flag_for(cos, rel)` of ATOM compare.py.
pub fn flag_for(cos: f64, rel: f64) -> Severity {
    if cos.is_nan() {
        Severity::Nan
    } else if cos > COS_BIT_EQUAL && rel < 0.01 {
        Severity::Ok
    } else if cos > COS_NUM_DRIFT {
        Severity::Drift
    } else if cos > COS_ALGO_DIFF {
        Severity::Bad
    } else {
        Severity::VeryBad
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_the_code_not_the_table() {
        assert_eq!(flag_for(f64::NAN, 0.0), Severity::Nan);
        assert_eq!(flag_for(0.99995, 0.005), Severity::Ok);
        assert_eq!(flag_for(0.99995, 0.01), Severity::Drift); // rel not < 0.01
        assert_eq!(flag_for(0.9999, 0.0), Severity::Drift); // strict >
        assert_eq!(flag_for(0.999, 0.0), Severity::Bad); // the table would say "?"
        assert_eq!(flag_for(0.995, 0.5), Severity::Bad);
        assert_eq!(flag_for(0.99, 0.0), Severity::VeryBad);
        assert_eq!(flag_for(0.5, 0.0), Severity::VeryBad); // COS_BUG (0.9) is never read
        assert_eq!(Severity::VeryBad.symbol(), "✗✗");
    }
}
