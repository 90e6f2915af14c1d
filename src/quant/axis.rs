//! The axes of a quant spec (docs/numerics.md §5; spec strings: docs/contract.md §2): names, and the values
//! each accepts.

use crate::spec_syntax::SpecAxis;

/// One axis of a spec, for canonical printing and for the fingerprint's proven/undetermined report.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Axis {
    Fp8,
    Max,
    Eps,
    EpsOn,
    Scale,
    Pow2,
    CodeClamp,
    Q,
    Clamp,
    Overflow,
    Nan,
    Pad,
    Group,
}

impl Axis {
    /// Every axis in spec-string order.
    pub const ALL: [Axis; 13] = [
        Axis::Fp8,
        Axis::Max,
        Axis::Eps,
        Axis::EpsOn,
        Axis::Scale,
        Axis::Pow2,
        Axis::CodeClamp,
        Axis::Q,
        Axis::Clamp,
        Axis::Overflow,
        Axis::Nan,
        Axis::Pad,
        Axis::Group,
    ];

    /// The spelling in spec strings.
    pub fn name(self) -> &'static str {
        match self {
            Axis::Fp8 => "fp8",
            Axis::Max => "max",
            Axis::Eps => "eps",
            Axis::EpsOn => "eps_on",
            Axis::Scale => "scale",
            Axis::Pow2 => "pow2",
            Axis::CodeClamp => "code_clamp",
            Axis::Q => "q",
            Axis::Clamp => "clamp",
            Axis::Overflow => "overflow",
            Axis::Nan => "nan",
            Axis::Pad => "pad",
            Axis::Group => "group",
        }
    }

    /// The values the axis accepts, for error messages.
    pub fn valid(self) -> &'static str {
        match self {
            Axis::Fp8 => "e4m3fn | e4m3fnuz | e5m2",
            Axis::Max => "a positive number (the clamp value, e.g. 224)",
            Axis::Eps => "a number ≥ 0 (e.g. 1e-4, 1e-10) or none",
            Axis::EpsOn => "amax | scale | both",
            Axis::Scale => "div | mul",
            Axis::Pow2 => "none | ceil | float-ceil | nearest | floor | even",
            Axis::CodeClamp => "yes | no (clamp e8m0 codes to [1, 254] as DeepGEMM does)",
            Axis::Q => "div | mul",
            Axis::Clamp => "yes | no",
            Axis::Overflow => "saturate | nan",
            Axis::Nan => "propagate | ignore | reject",
            Axis::Pad => "yes | no (zero-pad K to a multiple of the group)",
            Axis::Group => "a positive integer (elements per activation group)",
        }
    }
}

impl SpecAxis for Axis {
    fn all() -> &'static [Axis] {
        &Axis::ALL
    }
    fn name(self) -> &'static str {
        Axis::name(self)
    }
}
