//! `QuantSpec`: the axes of a quantizer (docs/numerics.md §5) and the spec strings
//! `preset[,axis=value]...` that name them.
//!
//! A spec is a preset ([`crate::quant::presets`]) plus overrides. Its [`Display`](std::fmt::Display) form is
//! canonical: the preset that needs the fewest overrides, then those overrides in axis order, counting only
//! axes that can change the result (e.g. `overflow` is moot when `clamp=yes` clamps to a value the format
//! holds), so two specs that quantize identically by definition print identically.

use std::fmt;

use crate::error::{Error, Result};
use crate::formats::{Fp8Format, Overflow};
pub use crate::quant::axis::Axis;
use crate::quant::presets::{self, PRESETS};
use crate::spec_syntax::tokenize;

/// Where the eps floor applies (docs/numerics.md §5.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EpsOn {
    /// amax = max(amax, eps) before the scale is formed (DeepSeek, DeepGEMM, vLLM, aiter HIP).
    Amax,
    /// s = max(amax/max, eps) before power-of-two rounding (ATOM v4_quant NOPE tiles).
    Scale,
    /// Both floors with the same eps: vLLM's CUDA ue8m0 path floors amax at eps and then the scale at
    /// 1e-10 (`exp2f(ceilf(log2f(fmaxf(fabsf(y_s), 1e-10f))))`, its eps being 1e-10 too).
    Both,
}

/// How the raw scale amax/max is formed (docs/numerics.md §5.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ScaleRule {
    /// IEEE `amax / max`.
    Div,
    /// `amax · fl32(1/max)` (0x3B124925 for 448, 0x3B888889 for 240): TileLang constants, aiter HIP, and
    /// every torch `cuda_tensor / 448.0` (docs/numerics.md §5.4, §11.1).
    Mul,
}

/// Power-of-two rounding of the scale (docs/numerics.md §5.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Pow2 {
    /// The scale stays an arbitrary f32.
    None,
    /// Bit-exact exponent ceil of s: exponent field + (mantissa ≠ 0), the result built as the f32 with
    /// that exponent field (DeepSeek V3.2 `fast_round_scale`, DeepGEMM `ceil_to_ue8m0`, aiter RoundUp).
    Ceil,
    /// `exp2f(ceilf(log2f(s)))` with CUDA's measured log2f ([`crate::formats::e8m0::float_ceil_pow2`]).
    FloatCeil,
    /// torch's `float → float8_e8m0fnu` cast of s (significand ≥ 1.5 rounds up), decoded back (legacy aiter
    /// `f32_to_e8m0` + `e8m0_to_f32`, ATOM `act_quant_inplace`).
    Nearest,
    /// aiter RoundDown / torchao FLOOR: from **amax**, not s: code = exponent field of amax / 2^emax_elem,
    /// emax_elem = floor(log2(format max)) = 8 (e4m3fn), 7 (e4m3fnuz), 15 (e5m2) (docs/numerics.md §5.5).
    Floor,
    /// aiter Even (torchao/Quark EVEN): amax rounded to the format's mantissa bits
    /// (`(bits + (1 << (22 − mbits))) & 0xFF800000`), then as `Floor`.
    Even,
}

/// How an element is divided by its scale (docs/numerics.md §5.7).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum QRule {
    /// IEEE `x / s`.
    Div,
    /// `x · fl32(1/s)` with a correctly rounded reciprocal.
    Mul,
}

/// What happens to NaN in x: defined by each source's arithmetic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NanRule {
    /// torch: `amax` propagates NaN, `clamp` propagates NaN; the NaN element casts to the NaN code.
    Propagate,
    /// CUDA `fmaxf`/`fminf`: amax skips NaN, and `fminf(fmaxf(v, −max), max)` turns a NaN into −max (vLLM).
    Ignore,
    /// The source's result for NaN/Inf input is not pinned down here: such input is an error (exit 2).
    Reject,
}

/// A quantizer: every axis of docs/numerics.md §5. Build one with [`QuantSpec::parse`] or from
/// [`presets::preset`]; change axes through the public fields.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct QuantSpec {
    /// The `none` preset: no quantization at all (values kept in their input dtype, scale 1).
    pub identity: bool,
    /// FP8 element format.
    pub fp8: Fp8Format,
    /// Clamp value override (`max=`); None = the format's largest finite value.
    pub max: Option<f32>,
    /// Floor (f32; 0 = none) on amax and/or the scale, per `eps_on`.
    pub eps: f32,
    pub eps_on: EpsOn,
    pub scale: ScaleRule,
    pub pow2: Pow2,
    /// Clamp the scale's e8m0 code to [1, 254] (DeepGEMM `ceil_to_ue8m0`): never 2^-127, never NaN/inf.
    pub code_clamp: bool,
    pub q: QRule,
    /// Clamp x/s to ±max before the cast.
    pub clamp: bool,
    /// The cast's rule for finite values beyond the format's max (and for ±inf).
    pub overflow: Overflow,
    pub nan: NanRule,
    /// Zero-pad K (and, for weights, N) to a multiple of the block (DeepGEMM); else it must divide.
    pub pad: bool,
    /// Activation group size G (1×G groups along K).
    pub group: usize,
}

impl std::str::FromStr for QuantSpec {
    type Err = String;
    /// [`QuantSpec::parse`], its error as one line.
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        QuantSpec::parse(s).map_err(|e| e.to_string())
    }
}

impl QuantSpec {
    /// Parses `preset[,axis=value]...`, e.g. `deepgemm-ue8m0,eps=1e-10`.
    pub fn parse(s: &str) -> Result<QuantSpec> {
        let tokens = tokenize::<Axis>("quant", s).map_err(Error::Usage)?;
        let name = tokens.preset;
        let mut spec = presets::preset(name).ok_or_else(|| {
            Error::Usage(format!(
                "unknown quant preset '{name}' in '{s}': expected one of {} (then optional ,axis=value overrides)",
                presets::names().join(", ")
            ))
        })?;
        if spec.identity && !tokens.overrides.is_empty() {
            return Err(Error::Usage(format!(
                "quant spec '{s}': the preset 'none' takes no overrides"
            )));
        }
        for (axis, v) in tokens.overrides {
            spec.set(axis, v)
                .map_err(|e| Error::Usage(format!("quant spec '{s}': {e}")))?;
        }
        Ok(spec)
    }

    /// Sets one axis from its spelling; a usage error naming the valid values otherwise.
    pub fn set(&mut self, axis: Axis, v: &str) -> Result<()> {
        self.set_value(axis, v).map_err(|_| {
            Error::Usage(format!(
                "bad value '{v}' for {}: expected {}",
                axis.name(),
                axis.valid()
            ))
        })
    }

    fn set_value(&mut self, axis: Axis, v: &str) -> std::result::Result<(), ()> {
        let yes_no = |v: &str| match v {
            "yes" | "true" | "on" => Ok(true),
            "no" | "false" | "off" => Ok(false),
            _ => Err(()),
        };
        match axis {
            Axis::Fp8 => self.fp8 = Fp8Format::parse(v).ok_or(())?,
            Axis::Max => {
                let m: f32 = v.parse().map_err(|_| ())?;
                if !(m.is_finite() && m > 0.0) {
                    return Err(());
                }
                self.max = Some(m);
            }
            Axis::Eps => {
                self.eps = if v == "none" {
                    0.0
                } else {
                    let e: f64 = v.parse().map_err(|_| ())?;
                    // Finite as the f32 it is used as: 1e39 is finite in f64 and inf in f32 (found by
                    // fuzz/fuzz_targets/quant_spec.rs: it printed as `eps=inf`, which does not parse).
                    if !(e.is_finite() && e >= 0.0 && (e as f32).is_finite()) {
                        return Err(());
                    }
                    e as f32
                }
            }
            Axis::EpsOn => {
                self.eps_on = match v {
                    "amax" => EpsOn::Amax,
                    "scale" => EpsOn::Scale,
                    "both" => EpsOn::Both,
                    _ => return Err(()),
                }
            }
            Axis::Scale => self.scale = parse_div_mul(v).map(|d| d.0)?,
            Axis::Pow2 => {
                self.pow2 = match v {
                    "none" => Pow2::None,
                    "ceil" => Pow2::Ceil,
                    "float-ceil" => Pow2::FloatCeil,
                    "nearest" => Pow2::Nearest,
                    "floor" => Pow2::Floor,
                    "even" => Pow2::Even,
                    _ => return Err(()),
                }
            }
            Axis::CodeClamp => self.code_clamp = yes_no(v)?,
            Axis::Q => self.q = parse_div_mul(v).map(|d| d.1)?,
            Axis::Clamp => self.clamp = yes_no(v)?,
            Axis::Overflow => self.overflow = Overflow::parse(v).ok_or(())?,
            Axis::Nan => {
                self.nan = match v {
                    "propagate" => NanRule::Propagate,
                    "ignore" => NanRule::Ignore,
                    "reject" => NanRule::Reject,
                    _ => return Err(()),
                }
            }
            Axis::Pad => self.pad = yes_no(v)?,
            Axis::Group => {
                let g: usize = v.parse().map_err(|_| ())?;
                if g == 0 {
                    return Err(());
                }
                self.group = g;
            }
        }
        Ok(())
    }

    /// The `none` preset (no quantization).
    pub fn is_none(&self) -> bool {
        self.identity
    }

    /// The clamp value: `max=` or the format's largest finite value.
    pub fn max_value(&self) -> f32 {
        self.max.unwrap_or_else(|| self.fp8.max_finite())
    }

    /// emax_elem of aiter/torchao: floor(log2(format max)) = 8, 7, 15 for e4m3fn, e4m3fnuz, e5m2.
    pub fn target_max_pow2(&self) -> i32 {
        match self.fp8 {
            Fp8Format::E4m3fn => 8,
            Fp8Format::E4m3fnuz => 7,
            Fp8Format::E5m2 => 15,
        }
    }

    /// Whether an axis can change this spec's output (on some input).
    pub fn relevant(&self, axis: Axis) -> bool {
        if self.identity {
            return false;
        }
        let from_amax = matches!(self.pow2, Pow2::Floor | Pow2::Even);
        match axis {
            Axis::EpsOn => self.eps > 0.0 && !from_amax,
            Axis::Scale => !from_amax,
            Axis::CodeClamp => self.pow2 != Pow2::None,
            Axis::Overflow => !self.clamp || self.max_value() > self.fp8.max_finite(),
            _ => true,
        }
    }

    /// The spec string: the closest preset plus the overrides of relevant axes not in `ignore`.
    pub fn describe(&self, ignore: &[Axis]) -> String {
        if self.identity {
            return "none".into();
        }
        let mut best: Option<(usize, &str, Vec<Axis>)> = None;
        for (name, p) in PRESETS.iter() {
            if p.identity {
                continue;
            }
            let diff: Vec<Axis> = Axis::ALL
                .into_iter()
                .filter(|a| !ignore.contains(a) && self.differs(p, *a))
                .collect();
            if best.as_ref().is_none_or(|b| diff.len() < b.0) {
                best = Some((diff.len(), name, diff));
            }
        }
        let (_, name, diff) = best.expect("the preset table is not empty");
        let mut s = name.to_string();
        for a in diff {
            s.push(',');
            s.push_str(a.name());
            s.push('=');
            s.push_str(&self.value(a));
        }
        s
    }

    /// Whether `self` and `other` differ on `axis` in a way that can change the output of `self`.
    pub fn differs(&self, other: &QuantSpec, axis: Axis) -> bool {
        if !self.relevant(axis) {
            return false;
        }
        match axis {
            // max follows fp8 unless overridden: what `other` plus an fp8 override would clamp at.
            Axis::Max => self.max_value() != other.max.unwrap_or_else(|| self.fp8.max_finite()),
            _ => self.value(axis) != other.value(axis),
        }
    }

    /// The spelling of one axis's value.
    pub fn value(&self, axis: Axis) -> String {
        let yn = |b: bool| if b { "yes" } else { "no" }.to_string();
        match axis {
            Axis::Fp8 => self.fp8.name().into(),
            Axis::Max => fmt_num(self.max_value()),
            Axis::Eps => {
                if self.eps == 0.0 {
                    "none".into()
                } else {
                    fmt_num(self.eps)
                }
            }
            Axis::EpsOn => match self.eps_on {
                EpsOn::Amax => "amax",
                EpsOn::Scale => "scale",
                EpsOn::Both => "both",
            }
            .into(),
            Axis::Scale => match self.scale {
                ScaleRule::Div => "div",
                ScaleRule::Mul => "mul",
            }
            .into(),
            Axis::Pow2 => match self.pow2 {
                Pow2::None => "none",
                Pow2::Ceil => "ceil",
                Pow2::FloatCeil => "float-ceil",
                Pow2::Nearest => "nearest",
                Pow2::Floor => "floor",
                Pow2::Even => "even",
            }
            .into(),
            Axis::CodeClamp => yn(self.code_clamp),
            Axis::Q => match self.q {
                QRule::Div => "div",
                QRule::Mul => "mul",
            }
            .into(),
            Axis::Clamp => yn(self.clamp),
            Axis::Overflow => self.overflow.name().into(),
            Axis::Nan => match self.nan {
                NanRule::Propagate => "propagate",
                NanRule::Ignore => "ignore",
                NanRule::Reject => "reject",
            }
            .into(),
            Axis::Pad => yn(self.pad),
            Axis::Group => self.group.to_string(),
        }
    }

    /// Every axis spelled out, e.g. for reports: `fp8=e4m3fn,max=448,eps=1e-4,...`.
    pub fn full(&self) -> String {
        if self.identity {
            return "none".into();
        }
        Axis::ALL
            .into_iter()
            .map(|a| format!("{}={}", a.name(), self.value(a)))
            .collect::<Vec<_>>()
            .join(",")
    }
}

impl fmt::Display for QuantSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe(&[]))
    }
}

fn parse_div_mul(v: &str) -> std::result::Result<(ScaleRule, QRule), ()> {
    match v {
        "div" => Ok((ScaleRule::Div, QRule::Div)),
        "mul" => Ok((ScaleRule::Mul, QRule::Mul)),
        _ => Err(()),
    }
}

/// Shortest text that parses back to the same f32 (`1e-4`, `448`, `1e-10`).
fn fmt_num(v: f32) -> String {
    if v == v.trunc() && v.abs() < 1e7 {
        format!("{v}")
    } else {
        format!("{v:e}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preset_prints_as_itself_and_round_trips() {
        for (name, p) in PRESETS.iter() {
            assert_eq!(p.to_string(), *name);
            assert_eq!(QuantSpec::parse(name).unwrap(), *p);
        }
    }

    #[test]
    fn an_eps_beyond_f32_is_refused_not_made_infinite() {
        // Fuzz finding: eps=1e39 parsed (finite in f64) to an f32 inf, printed as `eps=inf`, which the
        // parser refuses.
        let e = QuantSpec::parse("deepgemm-ue8m0,eps=1e39")
            .unwrap_err()
            .to_string();
        assert!(e.contains("bad value '1e39' for eps"), "{e}");
        let s = QuantSpec::parse("deepgemm-ue8m0,eps=3e38").unwrap();
        assert_eq!(QuantSpec::parse(&s.to_string()).unwrap(), s);
    }

    #[test]
    fn overrides_print_canonically_and_round_trip() {
        let s = QuantSpec::parse("deepgemm-ue8m0,eps=1e-10").unwrap();
        assert_eq!(s.eps, 1e-10f32);
        assert_eq!(s.to_string(), "deepgemm-ue8m0,eps=1e-10");
        assert_eq!(QuantSpec::parse(&s.to_string()).unwrap(), s);
        // The same quantizer reached from another preset prints as the closest preset.
        let t = QuantSpec::parse("deepgemm,pow2=ceil,code_clamp=yes").unwrap();
        assert_eq!(t.to_string(), "deepgemm-ue8m0");
        // Moot axes are not printed: overflow under a clamp the format holds.
        let u = QuantSpec::parse("vllm,overflow=nan").unwrap();
        assert_eq!(u.to_string(), "vllm");
        let v = QuantSpec::parse("vllm,overflow=nan,clamp=no").unwrap();
        assert_eq!(v.to_string(), "vllm,clamp=no,overflow=nan");
        let w = QuantSpec::parse("aiter,fp8=e4m3fnuz").unwrap();
        assert_eq!(w.to_string(), "aiter-fnuz");
        assert_eq!(w.max_value(), 240.0);
        let m = QuantSpec::parse("aiter-fnuz,max=224").unwrap();
        assert_eq!(m.to_string(), "aiter-fnuz,max=224");
        // max follows fp8 unless overridden, and prints only when overridden.
        let e = QuantSpec::parse("vllm,fp8=e5m2").unwrap();
        assert_eq!(e.to_string(), "vllm,fp8=e5m2");
        assert_eq!(e.max_value(), 57344.0);
        let f = QuantSpec::parse("torch-e8m0,eps=none,group=64").unwrap();
        assert_eq!(f.to_string(), "torch-e8m0,eps=none,group=64");
        assert_eq!(QuantSpec::parse(&f.to_string()).unwrap(), f);
    }

    #[test]
    fn bad_specs_name_what_is_valid() {
        let e = QuantSpec::parse("deepgem").unwrap_err().to_string();
        assert!(e.contains("deepgem") && e.contains("deepgemm-ue8m0"), "{e}");
        let e = QuantSpec::parse("vllm,rounding=ceil")
            .unwrap_err()
            .to_string();
        assert!(e.contains("rounding") && e.contains("pow2"), "{e}");
        let e = QuantSpec::parse("vllm,pow2=up").unwrap_err().to_string();
        assert!(e.contains("float-ceil") && e.contains("'up'"), "{e}");
        let e = QuantSpec::parse("vllm,eps").unwrap_err().to_string();
        assert!(e.contains("axis=value"), "{e}");
        let e = QuantSpec::parse("vllm,eps=1,eps=2")
            .unwrap_err()
            .to_string();
        assert!(e.contains("twice"), "{e}");
        assert!(QuantSpec::parse("vllm,group=0").is_err());
        assert!(QuantSpec::parse("vllm,max=-1").is_err());
        assert!(QuantSpec::parse("vllm,eps=nan").is_err());
        assert!(QuantSpec::parse("none,eps=1").is_err());
        assert!(QuantSpec::parse("none").unwrap().is_none());
        assert!(!QuantSpec::parse("vllm").unwrap().is_none());
    }

    #[test]
    fn relevance() {
        let s = QuantSpec::parse("deepgemm").unwrap();
        assert!(!s.relevant(Axis::CodeClamp));
        assert!(s.relevant(Axis::Overflow));
        let f = QuantSpec::parse("deepgemm,pow2=floor").unwrap();
        assert!(!f.relevant(Axis::Scale));
        let big = QuantSpec::parse("vllm,max=500").unwrap();
        assert!(big.relevant(Axis::Overflow));
        assert_eq!(
            QuantSpec::parse("deepgemm,pow2=floor,scale=div").unwrap(),
            QuantSpec::parse("deepgemm,scale=div,pow2=floor").unwrap()
        );
        assert_eq!(
            QuantSpec::parse("deepgemm,pow2=floor,scale=div")
                .unwrap()
                .to_string(),
            "deepgemm,pow2=floor"
        );
    }
}
