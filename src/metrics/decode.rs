//! Bulk decoders for the metric loops: a run of elements of one dtype into f64 values or ordered integers,
//! with the dtype dispatch hoisted out of the element loop.

use crate::formats::convert::element_f64;
use crate::formats::{e8m0, DType};
use crate::metrics::ulp::ordered;
use half::f16;

/// Decodes elements `lo..lo + out.len()` of `b` (dtype `d`) into `out`.
pub fn decode_f64(d: DType, b: &[u8], lo: usize, out: &mut [f64]) {
    let n = out.len();
    match d {
        DType::F32 => {
            for (o, c) in out.iter_mut().zip(b[lo * 4..(lo + n) * 4].chunks_exact(4)) {
                *o = f32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f64;
            }
        }
        DType::BF16 => {
            for (o, c) in out.iter_mut().zip(b[lo * 2..(lo + n) * 2].chunks_exact(2)) {
                *o = f32::from_bits((u16::from_le_bytes([c[0], c[1]]) as u32) << 16) as f64;
            }
        }
        DType::F16 => {
            for (o, c) in out.iter_mut().zip(b[lo * 2..(lo + n) * 2].chunks_exact(2)) {
                *o = f16::from_bits(u16::from_le_bytes([c[0], c[1]])).to_f64();
            }
        }
        DType::F8E4M3FN | DType::F8E4M3FNUZ | DType::F8E5M2 => {
            let t = d.fp8_format().unwrap().table();
            for (o, &c) in out.iter_mut().zip(&b[lo..lo + n]) {
                *o = t[c as usize] as f64;
            }
        }
        DType::F8E8M0 => {
            for (o, &c) in out.iter_mut().zip(&b[lo..lo + n]) {
                *o = e8m0::decode(c) as f64;
            }
        }
        _ => {
            for (i, o) in out.iter_mut().enumerate() {
                *o = element_f64(d, b, lo + i);
            }
        }
    }
}

/// Ordered integers (see [`ordered`]) of elements `lo..lo + out.len()`; NaN → `i64::MIN`.
pub fn decode_ordered(d: DType, b: &[u8], lo: usize, out: &mut [i64]) {
    let n = out.len();
    match d {
        DType::BF16 | DType::F16 => {
            let inf = if d == DType::BF16 { 0x7F80 } else { 0x7C00 };
            for (o, c) in out.iter_mut().zip(b[lo * 2..(lo + n) * 2].chunks_exact(2)) {
                let u = u16::from_le_bytes([c[0], c[1]]);
                let mag = (u & 0x7FFF) as i64;
                *o = if mag > inf {
                    i64::MIN
                } else if u >> 15 != 0 {
                    -mag
                } else {
                    mag
                };
            }
        }
        DType::F32 => {
            for (o, c) in out.iter_mut().zip(b[lo * 4..(lo + n) * 4].chunks_exact(4)) {
                let u = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
                let mag = (u & 0x7FFF_FFFF) as i64;
                *o = if mag > 0x7F80_0000 {
                    i64::MIN
                } else if u >> 31 != 0 {
                    -mag
                } else {
                    mag
                };
            }
        }
        _ => {
            for (i, o) in out.iter_mut().enumerate() {
                *o = ordered(d, b, lo + i).unwrap_or(i64::MIN);
            }
        }
    }
}
