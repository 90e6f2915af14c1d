//! Drift: how far a tensor has moved from its reference, as 1 − cos (docs/numerics.md §9.9). The one
//! definition every experiment uses; callers decide only how a NaN ranks.

use crate::metrics::Comparison;

/// 1 − cos, never below 0 (a cosine that rounds to just above 1 is no drift); NaN when cos is NaN.
pub fn drift_of_cos(cos: f64) -> f64 {
    if cos.is_nan() {
        f64::NAN
    } else {
        (1.0 - cos).max(0.0)
    }
}

/// The drift of a comparison: exactly 0 when every value is equal (and neither side has a NaN), else
/// [`drift_of_cos`] (NaN when the cosine is).
pub fn drift(c: &Comparison) -> f64 {
    if c.value_equal == 1.0 && c.nan_a == 0 && c.nan_b == 0 {
        0.0
    } else {
        drift_of_cos(c.cos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clamps_and_keeps_nan() {
        assert_eq!(drift_of_cos(1.0 + f64::EPSILON), 0.0);
        assert_eq!(drift_of_cos(0.75), 0.25);
        assert!(drift_of_cos(f64::NAN).is_nan());
    }
}
