//! Why two quantizations of a group differ: the classes `isolate quant` reports for mismatching groups.

use crate::quant::scale::e8m0_code_of;

/// Why a group differs (the most likely rule).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Cause {
    /// Scales differ by an exact power of two 2^k.
    ScalePow2(i32),
    /// Scales differ by a few ulps (≤ 4).
    ScaleUlps(u32),
    /// NaN on one side only.
    ScaleNan,
    /// Scales differ otherwise (eps floor, amax, clamp value).
    ScaleOther,
    /// A dumped E8M0 code where the reference scale is not a power of two.
    ScaleNotPow2,
    /// Equal scales; a differing element involves the top code, NaN or a value beyond ±max.
    TopCode,
    /// Equal scales; every differing element is one code apart.
    OneCode,
    /// Equal scales; some element differs by more than one code.
    ManyCodes,
}

impl Cause {
    /// The sentence printed for the class.
    pub fn describe(&self) -> String {
        match self {
            Cause::ScalePow2(k) if k.abs() == 1 => {
                "scale differs by 2×: power-of-two rounding (ceil vs float-ceil vs nearest vs floor)".into()
            }
            Cause::ScalePow2(k) => format!(
                "scale differs by 2^{}: power-of-two rounding or eps floor",
                k.abs()
            ),
            Cause::ScaleUlps(n) => format!(
                "scale differs by {n} ulp: amax/max vs amax·fl32(1/max) (scale formula)"
            ),
            Cause::ScaleNan => "scale is NaN on one side only: NaN input handling".into(),
            Cause::ScaleOther => "scale differs otherwise: eps floor, amax or max".into(),
            Cause::ScaleNotPow2 => {
                "dumped E8M0 code, but the reference scale is not a power of two".into()
            }
            Cause::TopCode => {
                "saturation/NaN at the top code with equal scales: clamp vs the cast's overflow rule".into()
            }
            Cause::OneCode => {
                "q differs by one code with equal scales: divide vs reciprocal or cast rounding".into()
            }
            Cause::ManyCodes => "q differs by more than one code with equal scales".into(),
        }
    }

    /// A short machine-readable name for JSON.
    pub fn key(&self) -> String {
        match self {
            Cause::ScalePow2(k) => format!("scale_pow2_{}", k.abs()),
            Cause::ScaleUlps(_) => "scale_ulps".into(),
            Cause::ScaleNan => "scale_nan".into(),
            Cause::ScaleOther => "scale_other".into(),
            Cause::ScaleNotPow2 => "scale_not_pow2".into(),
            Cause::TopCode => "top_code".into(),
            Cause::OneCode => "one_code".into(),
            Cause::ManyCodes => "many_codes".into(),
        }
    }
}

/// Position of a code in value order (sign-magnitude → a line), for "one code apart".
pub fn ordinal(code: u8) -> i32 {
    let m = (code & 0x7F) as i32;
    if code & 0x80 != 0 {
        -m
    } else {
        m
    }
}

/// Classifies two different scales.
pub fn scale_cause(rs: f32, cs: f32, dumped_codes: bool) -> Cause {
    if rs.is_nan() != cs.is_nan() {
        return Cause::ScaleNan;
    }
    if dumped_codes && e8m0_code_of(rs).is_none() {
        return Cause::ScaleNotPow2;
    }
    if rs > 0.0 && cs > 0.0 && rs.is_finite() && cs.is_finite() {
        let ratio = (cs as f64 / rs as f64).log2();
        if ratio == ratio.round() && ratio != 0.0 {
            return Cause::ScalePow2(ratio as i32);
        }
        let d = rs.to_bits().abs_diff(cs.to_bits());
        if d <= 4 {
            return Cause::ScaleUlps(d);
        }
    }
    Cause::ScaleOther
}
