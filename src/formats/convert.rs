//! Element conversions between every floating dtype, on raw little-endian bytes: the one place where a
//! tensor's bytes become numbers and numbers become bytes.
//!
//! Wider-to-narrower conversions go through f32 first, as PyTorch's do (`c10::BFloat16(float)`,
//! `Float8_e4m3fn(float)`: an f64 tensor is first rounded to f32). bf16 and f16 round to nearest even
//! through `half` (matching `c10/util/BFloat16.h::round_to_nearest_even`, docs/numerics.md §4.1, except NaN
//! payloads, which torch canonicalises (§4.2): compare NaNs by class).

use crate::error::{Error, Result};
use crate::formats::dtype::DType;
use crate::formats::e8m0::{self, E8m0Round};
use crate::formats::fp8::Overflow;
use half::{bf16, f16};

/// How to round when encoding into a narrower float type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EncodeOptions {
    /// FP8 overflow policy.
    pub overflow: Overflow,
    /// E8M0 rounding.
    pub e8m0: E8m0Round,
}

impl Default for EncodeOptions {
    /// PyTorch 2.11 eager semantics: non-saturating FP8 casts, nearest (≥ 1.5) for e8m0.
    fn default() -> Self {
        EncodeOptions {
            overflow: Overflow::Nan,
            e8m0: E8m0Round::Nearest,
        }
    }
}

/// f32 → bf16 bits, round to nearest even.
pub fn f32_to_bf16_bits(x: f32) -> u16 {
    bf16::from_f32(x).to_bits()
}

/// f32 → f16 bits, round to nearest even (overflow → ±inf, subnormals kept).
pub fn f32_to_f16_bits(x: f32) -> u16 {
    f16::from_f32(x).to_bits()
}

/// Decodes element `i` of a little-endian buffer of floating `dtype` to f64 (exact for every type but f64
/// itself, which is returned as is).
#[inline]
pub fn element_f64(dtype: DType, bytes: &[u8], i: usize) -> f64 {
    match dtype {
        DType::F64 => f64::from_le_bytes(bytes[i * 8..i * 8 + 8].try_into().unwrap()),
        _ => element_f32(dtype, bytes, i) as f64,
    }
}

/// Decodes element `i` to f32 (f64 is rounded to nearest). Integer types convert by value.
#[inline]
pub fn element_f32(dtype: DType, b: &[u8], i: usize) -> f32 {
    match dtype {
        DType::F32 => f32::from_le_bytes(b[i * 4..i * 4 + 4].try_into().unwrap()),
        DType::BF16 => bf16::from_bits(u16::from_le_bytes([b[i * 2], b[i * 2 + 1]])).to_f32(),
        DType::F16 => f16::from_bits(u16::from_le_bytes([b[i * 2], b[i * 2 + 1]])).to_f32(),
        DType::F64 => f64::from_le_bytes(b[i * 8..i * 8 + 8].try_into().unwrap()) as f32,
        DType::F8E4M3FN | DType::F8E4M3FNUZ | DType::F8E5M2 => {
            dtype.fp8_format().unwrap().decode(b[i])
        }
        DType::F8E8M0 => e8m0::decode(b[i]),
        DType::U8 | DType::Bool => b[i] as f32,
        DType::I8 => b[i] as i8 as f32,
        DType::I16 => i16::from_le_bytes([b[i * 2], b[i * 2 + 1]]) as f32,
        DType::U16 => u16::from_le_bytes([b[i * 2], b[i * 2 + 1]]) as f32,
        DType::I32 => i32::from_le_bytes(b[i * 4..i * 4 + 4].try_into().unwrap()) as f32,
        DType::U32 => u32::from_le_bytes(b[i * 4..i * 4 + 4].try_into().unwrap()) as f32,
        DType::I64 => i64::from_le_bytes(b[i * 8..i * 8 + 8].try_into().unwrap()) as f32,
        DType::U64 => u64::from_le_bytes(b[i * 8..i * 8 + 8].try_into().unwrap()) as f32,
    }
}

/// Decodes a whole buffer to f32.
pub fn to_f32_vec(dtype: DType, bytes: &[u8]) -> Vec<f32> {
    let n = bytes.len() / dtype.size();
    match dtype {
        DType::F32 => bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect(),
        DType::BF16 => bytes
            .chunks_exact(2)
            .map(|c| bf16::from_bits(u16::from_le_bytes([c[0], c[1]])).to_f32())
            .collect(),
        DType::F8E4M3FN | DType::F8E4M3FNUZ | DType::F8E5M2 => {
            let t = dtype.fp8_format().unwrap().table();
            bytes.iter().map(|&c| t[c as usize]).collect()
        }
        _ => (0..n).map(|i| element_f32(dtype, bytes, i)).collect(),
    }
}

/// Encodes f32 values into the little-endian bytes of floating `dtype`.
pub fn encode_f32(values: &[f32], dtype: DType, opts: EncodeOptions) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(values.len() * dtype.size());
    match dtype {
        DType::F64 => values
            .iter()
            .for_each(|&v| out.extend_from_slice(&(v as f64).to_le_bytes())),
        DType::F32 => values
            .iter()
            .for_each(|&v| out.extend_from_slice(&v.to_le_bytes())),
        DType::BF16 => values
            .iter()
            .for_each(|&v| out.extend_from_slice(&f32_to_bf16_bits(v).to_le_bytes())),
        DType::F16 => values
            .iter()
            .for_each(|&v| out.extend_from_slice(&f32_to_f16_bits(v).to_le_bytes())),
        DType::F8E4M3FN | DType::F8E4M3FNUZ | DType::F8E5M2 => {
            let f = dtype.fp8_format().unwrap();
            out.extend(values.iter().map(|&v| f.encode(v, opts.overflow)));
        }
        DType::F8E8M0 => out.extend(values.iter().map(|&v| e8m0::encode(v, opts.e8m0))),
        other => {
            return Err(Error::Usage(format!(
                "cannot encode floating-point values as {other}: not a floating-point dtype"
            )))
        }
    }
    Ok(out)
}

/// Converts a buffer of floating `from` to floating `to`. f64 → f64 is a copy; f64 → f32 rounds once;
/// f64 → anything narrower goes through f32 first (PyTorch's path).
pub fn convert(bytes: &[u8], from: DType, to: DType, opts: EncodeOptions) -> Result<Vec<u8>> {
    if from == to {
        return Ok(bytes.to_vec());
    }
    if from == DType::F64 && to == DType::F64 {
        return Ok(bytes.to_vec());
    }
    if to == DType::F64 {
        let n = bytes.len() / from.size();
        let mut out = Vec::with_capacity(n * 8);
        for i in 0..n {
            out.extend_from_slice(&element_f64(from, bytes, i).to_le_bytes());
        }
        return Ok(out);
    }
    encode_f32(&to_f32_vec(from, bytes), to, opts)
}
