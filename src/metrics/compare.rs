//! The comparison of a candidate `a` against a reference `b`: cos, rel, max_abs (+ where), calc_diff, ulp
//! distribution, byte and value equality, in one parallel pass.
//!
//! Definitions (design.md; numerics-spec §1.2, §3.2, §9.15):
//! - `cos` = Σab / (√Σa² · √Σb²), NaN when either norm is 0, never clamped (ATOM `cos_max`).
//! - `rel` = max|a−b| / max(max|b|, 1e-12) (b is the reference; ATOM `cos_max`).
//! - `calc_diff` = 1 − 2Σab / Σ(a²+b²), 0 when the denominator is 0 (DeepGEMM `calc_diff`).
//! - `byte_equal`: fraction of **elements** whose bytes are identical (so −0 ≠ +0 and NaN payloads count);
//!   `value_equal`: fraction of elements equal as numbers (−0 = +0, NaN = NaN).
//! - `ulp`: distance in a's format; where b has another dtype it is first rounded into a's (RNE).
//!   NaN in either side is counted apart and makes max_abs NaN, as torch's max would.

use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::formats::convert::{self, EncodeOptions};
use crate::formats::{DType, Overflow};
use crate::io::Tensor;
use crate::metrics::flag::{flag_for, Severity};
use crate::metrics::sum::Neumaier;
use crate::metrics::ulp::{ordered, UlpHistogram};

/// Elements per parallel chunk.
const CHUNK: usize = 1 << 15;

/// The result of [`compare`].
#[derive(Clone, Debug)]
pub struct Comparison {
    /// Elements compared.
    pub n: usize,
    pub cos: f64,
    pub rel: f64,
    pub max_abs: f64,
    /// Flat index of the largest |a−b| (first NaN if any), None for empty tensors.
    pub max_abs_flat: Option<usize>,
    /// Its coordinate in the shape.
    pub max_abs_at: Option<Vec<usize>>,
    /// a and b at that coordinate.
    pub max_abs_values: Option<(f64, f64)>,
    pub calc_diff: f64,
    /// Fraction of elements with identical bytes (None when the dtypes differ).
    pub byte_equal: Option<f64>,
    /// Fraction of elements equal as numbers.
    pub value_equal: f64,
    /// ulp distances in a's format (None for non-float or mixed-size integer data).
    pub ulp: Option<UlpHistogram>,
    pub nan_a: usize,
    pub nan_b: usize,
    /// max |b|.
    pub max_ref: f64,
}

impl Comparison {
    /// The seed's severity flag.
    pub fn severity(&self) -> Severity {
        flag_for(self.cos, self.rel)
    }
    /// 1 − cos.
    pub fn drift(&self) -> f64 {
        1.0 - self.cos
    }
    /// Whether every element's bytes are equal.
    pub fn bitwise_equal(&self) -> bool {
        self.byte_equal == Some(1.0) || (self.n == 0 && self.byte_equal.is_some())
    }
}

#[derive(Clone, Default)]
struct Partial {
    ab: Neumaier,
    aa: Neumaier,
    bb: Neumaier,
    max_abs: f64,
    max_at: Option<usize>,
    max_is_nan: bool,
    max_ref: f64,
    bytes_eq: usize,
    value_eq: usize,
    nan_a: usize,
    nan_b: usize,
    ulp: Option<UlpHistogram>,
}

impl Partial {
    fn merge(mut self, o: Partial) -> Partial {
        self.ab.merge(o.ab);
        self.aa.merge(o.aa);
        self.bb.merge(o.bb);
        // Earlier chunks come first in rayon's ordered reduce: keep the first NaN, else the largest
        // (first on ties).
        if !self.max_is_nan && (o.max_is_nan || o.max_abs > self.max_abs || self.max_at.is_none()) {
            if o.max_at.is_some() {
                self.max_abs = o.max_abs;
                self.max_at = o.max_at;
                self.max_is_nan = o.max_is_nan;
            }
        }
        self.max_ref = self.max_ref.max(o.max_ref);
        self.bytes_eq += o.bytes_eq;
        self.value_eq += o.value_eq;
        self.nan_a += o.nan_a;
        self.nan_b += o.nan_b;
        self.ulp = match (self.ulp, o.ulp) {
            (Some(mut a), Some(b)) => {
                a.merge(&b);
                Some(a)
            }
            (a, b) => a.or(b),
        };
        self
    }
}

/// Unravels a flat index into a coordinate of `shape`.
pub fn unravel(mut i: usize, shape: &[usize]) -> Vec<usize> {
    let mut c = vec![0; shape.len()];
    for d in (0..shape.len()).rev() {
        let s = shape[d].max(1);
        c[d] = i % s;
        i /= s;
    }
    c
}

/// Compares candidate `a` with reference `b`. They must have the same number of elements (shapes are the
/// caller's business: a leading size-1 dimension may differ); mismatched counts are an error, never a
/// silent truncation.
pub fn compare(a: &Tensor, b: &Tensor) -> Result<Comparison> {
    if a.numel() != b.numel() {
        return Err(Error::BadTensor(format!(
            "cannot compare '{}' {:?} with '{}' {:?}: element counts differ",
            a.name, a.shape, b.name, b.shape
        )));
    }
    for t in [a, b] {
        if !t.dtype.is_float()
            && !matches!(
                t.dtype,
                DType::I64
                    | DType::I32
                    | DType::I16
                    | DType::I8
                    | DType::U8
                    | DType::U16
                    | DType::U32
                    | DType::U64
                    | DType::Bool
            )
        {
            return Err(Error::BadTensor(format!(
                "tensor '{}': dtype {} cannot be compared",
                t.name, t.dtype
            )));
        }
    }
    let n = a.numel();
    let (da, db) = (a.dtype, b.dtype);
    let (ba, bb) = (a.bytes(), b.bytes());
    let same = da == db;
    let ulp_ok = da.is_float();
    let nchunks = n.div_ceil(CHUNK);
    let p = (0..nchunks)
        .into_par_iter()
        .map(|c| {
            let lo = c * CHUNK;
            let hi = (lo + CHUNK).min(n);
            let mut p = Partial {
                ulp: ulp_ok.then(UlpHistogram::default),
                ..Default::default()
            };
            let mut b_in_a = [0u8; 8];
            for i in lo..hi {
                let x = convert::element_f64(da, ba, i);
                let y = convert::element_f64(db, bb, i);
                p.ab.add(x * y);
                p.aa.add(x * x);
                p.bb.add(y * y);
                let d = (x - y).abs();
                if d.is_nan() {
                    if !p.max_is_nan {
                        p.max_is_nan = true;
                        p.max_abs = f64::NAN;
                        p.max_at = Some(i);
                    }
                } else if !p.max_is_nan && (p.max_at.is_none() || d > p.max_abs) {
                    p.max_abs = d;
                    p.max_at = Some(i);
                }
                p.max_ref = p.max_ref.max(y.abs());
                p.nan_a += x.is_nan() as usize;
                p.nan_b += y.is_nan() as usize;
                p.value_eq += (x == y || (x.is_nan() && y.is_nan())) as usize;
                if same {
                    let s = da.size();
                    p.bytes_eq += (ba[i * s..(i + 1) * s] == bb[i * s..(i + 1) * s]) as usize;
                }
                if let Some(h) = p.ulp.as_mut() {
                    let oa = ordered(da, ba, i);
                    let ob = if same {
                        ordered(db, bb, i)
                    } else {
                        let enc = convert::encode_f32(
                            &[y as f32],
                            da,
                            EncodeOptions {
                                overflow: Overflow::Saturate,
                                ..Default::default()
                            },
                        )
                        .ok();
                        enc.and_then(|e| {
                            b_in_a[..e.len()].copy_from_slice(&e);
                            ordered(da, &b_in_a[..e.len()], 0)
                        })
                    };
                    if let (Some(oa), Some(ob)) = (oa, ob) {
                        h.add(oa.abs_diff(ob));
                    }
                }
            }
            p
        })
        .reduce(Partial::default, Partial::merge);
    let (ab, aa, bb_) = (p.ab.value(), p.aa.value(), p.bb.value());
    let (na, nb) = (aa.sqrt(), bb_.sqrt());
    let cos = if na == 0.0 || nb == 0.0 {
        f64::NAN
    } else {
        ab / (na * nb)
    };
    let den = aa + bb_;
    let calc_diff = if den == 0.0 {
        0.0
    } else {
        1.0 - 2.0 * ab / den
    };
    let max_ref = if p.nan_b > 0 { f64::NAN } else { p.max_ref };
    let rel = p.max_abs / max_ref.max(1e-12);
    let max_abs_at = p.max_at.map(|i| unravel(i, &a.shape));
    let max_abs_values = p.max_at.map(|i| {
        (
            convert::element_f64(da, ba, i),
            convert::element_f64(db, bb, i),
        )
    });
    Ok(Comparison {
        n,
        cos,
        rel,
        max_abs: p.max_abs,
        max_abs_flat: p.max_at,
        max_abs_at,
        max_abs_values,
        calc_diff,
        byte_equal: same.then(|| {
            if n == 0 {
                1.0
            } else {
                p.bytes_eq as f64 / n as f64
            }
        }),
        value_equal: if n == 0 {
            1.0
        } else {
            p.value_eq as f64 / n as f64
        },
        ulp: p.ulp,
        nan_a: p.nan_a,
        nan_b: p.nan_b,
        max_ref,
    })
}

/// Compares two f32 arrays of the same shape (internal outputs such as emulated GEMM results).
pub fn compare_values(a: &[f32], b: &[f32], shape: &[usize]) -> Result<Comparison> {
    let ta = Tensor::from_f32("a", shape.to_vec(), a)?;
    let tb = Tensor::from_f32("b", shape.to_vec(), b)?;
    compare(&ta, &tb)
}
