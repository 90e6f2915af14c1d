//! Element types of the tensors `isolate` reads and writes, with the names every tool spells them by.

use crate::error::{Error, Result};
use crate::formats::fp8::Fp8Format;

/// The element type of a tensor. The set is safetensors' (0.8), which covers every dtype a PyTorch dump holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DType {
    F64,
    F32,
    F16,
    BF16,
    /// OCP E4M3 with no infinities (`torch.float8_e4m3fn`).
    F8E4M3FN,
    /// AMD MI300's E4M3, bias 8, one NaN (`torch.float8_e4m3fnuz`).
    F8E4M3FNUZ,
    /// OCP E5M2 (`torch.float8_e5m2`).
    F8E5M2,
    /// OCP MX scale type: an exponent only (`torch.float8_e8m0fnu`).
    F8E8M0,
    I64,
    I32,
    I16,
    I8,
    U64,
    U32,
    U16,
    U8,
    Bool,
}

/// (dtype, short name used on our command line, safetensors' name, other accepted spellings).
const NAMES: &[(DType, &str, &str, &[&str])] = &[
    (DType::F64, "f64", "F64", &["float64", "double"]),
    (DType::F32, "f32", "F32", &["float32", "float"]),
    (DType::F16, "f16", "F16", &["float16", "half"]),
    (DType::BF16, "bf16", "BF16", &["bfloat16"]),
    (
        DType::F8E4M3FN,
        "e4m3fn",
        "F8_E4M3",
        &["float8_e4m3fn", "e4m3"],
    ),
    (
        DType::F8E4M3FNUZ,
        "e4m3fnuz",
        "F8_E4M3FNUZ",
        &["float8_e4m3fnuz"],
    ),
    (DType::F8E5M2, "e5m2", "F8_E5M2", &["float8_e5m2"]),
    (
        DType::F8E8M0,
        "e8m0",
        "F8_E8M0",
        &["float8_e8m0fnu", "e8m0fnu", "ue8m0"],
    ),
    (DType::I64, "i64", "I64", &["int64", "long"]),
    (DType::I32, "i32", "I32", &["int32", "int"]),
    (DType::I16, "i16", "I16", &["int16", "short"]),
    (DType::I8, "i8", "I8", &["int8"]),
    (DType::U64, "u64", "U64", &["uint64"]),
    (DType::U32, "u32", "U32", &["uint32"]),
    (DType::U16, "u16", "U16", &["uint16"]),
    (DType::U8, "u8", "U8", &["uint8", "byte"]),
    (DType::Bool, "bool", "BOOL", &[]),
];

impl DType {
    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            DType::F64 | DType::I64 | DType::U64 => 8,
            DType::F32 | DType::I32 | DType::U32 => 4,
            DType::F16 | DType::BF16 | DType::I16 | DType::U16 => 2,
            DType::F8E4M3FN
            | DType::F8E4M3FNUZ
            | DType::F8E5M2
            | DType::F8E8M0
            | DType::I8
            | DType::U8
            | DType::Bool => 1,
        }
    }

    fn entry(self) -> &'static (DType, &'static str, &'static str, &'static [&'static str]) {
        NAMES
            .iter()
            .find(|e| e.0 == self)
            .expect("every DType has a NAMES entry")
    }

    /// Our short name (`e4m3fn`, `bf16`, …), used on the command line and in reports.
    pub fn name(self) -> &'static str {
        self.entry().1
    }

    /// The dtype string of a safetensors header (`F8_E4M3`, `BF16`, …).
    pub fn safetensors_name(self) -> &'static str {
        self.entry().2
    }

    /// Parses a dtype name: our short names, safetensors' names and torch's names, case-insensitively.
    pub fn parse(s: &str) -> Result<DType> {
        let t = s.trim().trim_start_matches("torch.");
        for (d, short, st, other) in NAMES {
            if t.eq_ignore_ascii_case(short)
                || t.eq_ignore_ascii_case(st)
                || other.iter().any(|o| t.eq_ignore_ascii_case(o))
            {
                return Ok(*d);
            }
        }
        Err(Error::Usage(format!(
            "unknown dtype '{s}': expected one of {}",
            NAMES.iter().map(|e| e.1).collect::<Vec<_>>().join(" ")
        )))
    }

    /// Floating-point types, including the 8-bit ones and e8m0.
    pub fn is_float(self) -> bool {
        matches!(
            self,
            DType::F64
                | DType::F32
                | DType::F16
                | DType::BF16
                | DType::F8E4M3FN
                | DType::F8E4M3FNUZ
                | DType::F8E5M2
                | DType::F8E8M0
        )
    }

    /// The FP8 element format, for the three FP8 payload types.
    pub fn fp8_format(self) -> Option<Fp8Format> {
        match self {
            DType::F8E4M3FN => Some(Fp8Format::E4m3fn),
            DType::F8E4M3FNUZ => Some(Fp8Format::E4m3fnuz),
            DType::F8E5M2 => Some(Fp8Format::E5m2),
            _ => None,
        }
    }
}

impl std::fmt::Display for DType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_round_trips() {
        for (d, short, st, other) in NAMES {
            assert_eq!(DType::parse(short).unwrap(), *d);
            assert_eq!(DType::parse(st).unwrap(), *d);
            assert_eq!(DType::parse(&st.to_lowercase()).unwrap(), *d);
            for o in *other {
                assert_eq!(DType::parse(o).unwrap(), *d);
                assert_eq!(DType::parse(&format!("torch.{o}")).unwrap(), *d);
            }
        }
        assert!(DType::parse("f8").is_err());
        let msg = DType::parse("fp9").unwrap_err().to_string();
        assert!(msg.contains("fp9") && msg.contains("e4m3fnuz"), "{msg}");
    }
}
