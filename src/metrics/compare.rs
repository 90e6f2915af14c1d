//! The comparison of a candidate `a` against a reference `b`: cos, rel, max_abs (+ where), calc_diff, ulp
//! distribution, byte and value equality, in one parallel pass.
//!
//! Definitions (docs/numerics.md §9.1–§9.7):
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
use crate::metrics::decode::{decode_f64, decode_ordered};
use crate::metrics::flag::{flag_for, Severity};
use crate::metrics::sum::Neumaier;
use crate::metrics::ulp::{ordered, UlpHistogram};

/// Elements per parallel chunk: the unit of the compensated sums (four lanes over its elements, [`LaneSums`]).
pub const CHUNK: usize = 1 << 12;
/// Chunks per parallel task (see `compare`: the tasks, not the threads, fix the order of the sums).
pub const TASK_CHUNKS: usize = 32;

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
    /// The severity flag (docs/numerics.md §9.8).
    pub fn severity(&self) -> Severity {
        flag_for(self.cos, self.rel)
    }
    /// [`crate::metrics::drift`] of this comparison.
    pub fn drift(&self) -> f64 {
        crate::metrics::drift(self)
    }
    /// Whether every element's bytes are equal.
    pub fn bitwise_equal(&self) -> bool {
        self.byte_equal == Some(1.0) || (self.n == 0 && self.byte_equal.is_some())
    }
}

/// Four-lane f64 accumulator with Knuth's branch-free TwoSum compensation per lane: lane l adds the terms
/// l, l + 4, l + 8, … of a chunk in order (a partial last chunk is padded with zero terms to a multiple of 4).
/// The GPU comparison computes these per chunk and hands them to [`comparison_of_parts`].
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LaneSums {
    /// The running sum of each lane.
    pub s: [f64; 4],
    /// The compensation of each lane.
    pub c: [f64; 4],
}

impl LaneSums {
    #[inline(always)]
    #[allow(clippy::needless_range_loop)] // four parallel lanes of three arrays
    fn add(&mut self, x: [f64; 4]) {
        for l in 0..4 {
            let t = self.s[l] + x[l];
            let bp = t - self.s[l];
            self.c[l] += (self.s[l] - (t - bp)) + (x[l] - bp);
            self.s[l] = t;
        }
    }
    #[allow(clippy::needless_range_loop)]
    fn total(&self) -> Neumaier {
        let mut n = Neumaier::default();
        for l in 0..4 {
            n.add(self.s[l]);
            n.add(self.c[l]);
        }
        n
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
    /// Adds one chunk's lane sums of Σab, Σa², Σb² (the only place a chunk's sums enter a task's).
    fn add_chunk_sums(&mut self, sums: &[LaneSums; 3]) {
        self.ab.merge(sums[0].total());
        self.aa.merge(sums[1].total());
        self.bb.merge(sums[2].total());
    }

    fn merge(mut self, o: Partial) -> Partial {
        self.ab.merge(o.ab);
        self.aa.merge(o.aa);
        self.bb.merge(o.bb);
        // `self` holds earlier elements than `o` (rayon reduces adjacent pieces in order): keep the first
        // NaN, else the largest difference, the first one on ties.
        let take = o.max_at.is_some()
            && (self.max_at.is_none()
                || (!self.max_is_nan && (o.max_is_nan || o.max_abs > self.max_abs)));
        if take {
            self.max_abs = o.max_abs;
            self.max_at = o.max_at;
            self.max_is_nan = o.max_is_nan;
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

/// Scratch buffers of one worker.
struct Scratch {
    xa: Vec<f64>,
    xb: Vec<f64>,
    oa: Vec<i64>,
    ob: Vec<i64>,
}

/// Accumulates elements `lo..hi` into `p`.
#[allow(clippy::too_many_arguments)]
fn accumulate(p: &mut Partial, s: &mut Scratch, a: &Tensor, b: &Tensor, lo: usize, hi: usize) {
    let (da, db) = (a.dtype, b.dtype);
    let (ba, bb) = (a.bytes(), b.bytes());
    let len = hi - lo;
    let padded = len.next_multiple_of(4);
    decode_f64(da, ba, lo, &mut s.xa[..len]);
    decode_f64(db, bb, lo, &mut s.xb[..len]);
    s.xa[len..padded].fill(0.0);
    s.xb[len..padded].fill(0.0);
    let (mut ab, mut aa, mut bbs) = (
        LaneSums::default(),
        LaneSums::default(),
        LaneSums::default(),
    );
    for (x, y) in s.xa[..padded]
        .chunks_exact(4)
        .zip(s.xb[..padded].chunks_exact(4))
    {
        ab.add([x[0] * y[0], x[1] * y[1], x[2] * y[2], x[3] * y[3]]);
        aa.add([x[0] * x[0], x[1] * x[1], x[2] * x[2], x[3] * x[3]]);
        bbs.add([y[0] * y[0], y[1] * y[1], y[2] * y[2], y[3] * y[3]]);
    }
    p.add_chunk_sums(&[ab, aa, bbs]);
    // Branch-free pass (vectorizable); the coordinate is looked up only when this chunk holds a new max.
    let (mut dmax, mut ymax) = (0.0f64, 0.0f64);
    let (mut na, mut nb, mut nd, mut veq) = (0usize, 0usize, 0usize, 0usize);
    for (&x, &y) in s.xa[..len].iter().zip(&s.xb[..len]) {
        let d = (x - y).abs();
        dmax = dmax.max(d);
        ymax = ymax.max(y.abs());
        na += x.is_nan() as usize;
        nb += y.is_nan() as usize;
        nd += d.is_nan() as usize;
        veq += ((x == y) | (x.is_nan() & y.is_nan())) as usize;
    }
    p.nan_a += na;
    p.nan_b += nb;
    p.value_eq += veq;
    p.max_ref = p.max_ref.max(ymax);
    let diff = |k: usize| (s.xa[k] - s.xb[k]).abs();
    if nd > 0 {
        if !p.max_is_nan {
            let k = (0..len).find(|&k| diff(k).is_nan()).unwrap();
            p.max_is_nan = true;
            p.max_abs = f64::NAN;
            p.max_at = Some(lo + k);
        }
    } else if len > 0 && !p.max_is_nan && (p.max_at.is_none() || dmax > p.max_abs) {
        let k = (0..len).find(|&k| diff(k) == dmax).unwrap();
        p.max_abs = dmax;
        p.max_at = Some(lo + k);
    }
    if da == db {
        p.bytes_eq += equal_elements(
            da.size(),
            &ba[lo * da.size()..hi * da.size()],
            &bb[lo * db.size()..hi * db.size()],
        );
    }
    if let Some(h) = p.ulp.as_mut() {
        decode_ordered(da, ba, lo, &mut s.oa[..len]);
        if da == db {
            decode_ordered(db, bb, lo, &mut s.ob[..len]);
        } else {
            // b rounded into a's format first (RNE, saturating), then ordered.
            let opts = EncodeOptions {
                overflow: Overflow::Saturate,
                ..Default::default()
            };
            for (k, o) in s.ob[..len].iter_mut().enumerate() {
                let enc = convert::encode_f32(&[s.xb[k] as f32], da, opts).ok();
                *o = enc.and_then(|e| ordered(da, &e, 0)).unwrap_or(i64::MIN);
            }
        }
        for (&x, &y) in s.oa[..len].iter().zip(&s.ob[..len]) {
            if x != i64::MIN && y != i64::MIN {
                h.add(x.abs_diff(y));
            }
        }
    }
}

/// Number of `w`-byte elements that are byte-identical in `x` and `y` (same length).
fn equal_elements(w: usize, x: &[u8], y: &[u8]) -> usize {
    fn count<const W: usize>(x: &[u8], y: &[u8]) -> usize {
        x.chunks_exact(W)
            .zip(y.chunks_exact(W))
            .map(|(p, q)| {
                (<[u8; W]>::try_from(p).unwrap() == <[u8; W]>::try_from(q).unwrap()) as usize
            })
            .sum()
    }
    match w {
        1 => x.iter().zip(y).map(|(p, q)| (p == q) as usize).sum(),
        2 => count::<2>(x, y),
        4 => count::<4>(x, y),
        8 => count::<8>(x, y),
        _ => x
            .chunks_exact(w)
            .zip(y.chunks_exact(w))
            .filter(|(p, q)| p == q)
            .count(),
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
    // Fixed tasks of TASK_CHUNKS chunks, each accumulated in order on whichever thread, then merged in task
    // order: the compensated sums see the same operations whatever the thread count, so every figure has the
    // same bits with 1 thread and with 16 (the ulp histogram and the counts are integers).
    let ntasks = n.div_ceil(CHUNK * TASK_CHUNKS);
    let parts: Vec<Partial> = (0..ntasks)
        .into_par_iter()
        .map_init(
            || Scratch {
                xa: vec![0.0; CHUNK],
                xb: vec![0.0; CHUNK],
                oa: vec![0; CHUNK],
                ob: vec![0; CHUNK],
            },
            |s, t| {
                let mut p = Partial {
                    ulp: ulp_ok.then(UlpHistogram::default),
                    ..Default::default()
                };
                let first = t * TASK_CHUNKS * CHUNK;
                for lo in (first..n.min(first + TASK_CHUNKS * CHUNK)).step_by(CHUNK) {
                    accumulate(&mut p, s, a, b, lo, (lo + CHUNK).min(n));
                }
                p
            },
        )
        .collect();
    let p = parts.into_iter().fold(Partial::default(), Partial::merge);
    let values_at = |i: usize| {
        (
            convert::element_f64(da, ba, i),
            convert::element_f64(db, bb, i),
        )
    };
    Ok(finish(p, n, same, &a.shape, values_at))
}

/// The figures of a comparison from its merged partial sums: cos, calc_diff, rel and where the largest
/// difference is (`values_at(i)` gives a and b at flat index i).
fn finish(
    p: Partial,
    n: usize,
    same_dtype: bool,
    shape: &[usize],
    values_at: impl FnOnce(usize) -> (f64, f64),
) -> Comparison {
    let (ab, aa, bb_) = (p.ab.value(), p.aa.value(), p.bb.value());
    let (na, nb) = (aa.sqrt(), bb_.sqrt());
    // √(Σa²·Σb²) when that product is representable: identical tensors then give exactly 1 (Σab = Σa² = Σb²),
    // where √Σa²·√Σb² (ATOM's form) can land an ulp off; ATOM's form on overflow or underflow of the product.
    let prod = aa * bb_;
    let norms = if prod.is_finite() && prod > 0.0 {
        prod.sqrt()
    } else {
        na * nb
    };
    let cos = if na == 0.0 || nb == 0.0 {
        f64::NAN
    } else {
        ab / norms
    };
    let den = aa + bb_;
    let calc_diff = if den == 0.0 {
        0.0
    } else {
        1.0 - 2.0 * ab / den
    };
    let max_ref = if p.nan_b > 0 { f64::NAN } else { p.max_ref };
    let rel = p.max_abs / max_ref.max(1e-12);
    let max_abs_at = p.max_at.map(|i| unravel(i, shape));
    let max_abs_values = p.max_at.map(values_at);
    Comparison {
        n,
        cos,
        rel,
        max_abs: p.max_abs,
        max_abs_flat: p.max_at,
        max_abs_at,
        max_abs_values,
        calc_diff,
        byte_equal: same_dtype.then(|| {
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
    }
}

/// A comparison computed elsewhere, in the units of [`compare`] (kernels/compare.cu on the GPU or the SIMT
/// executor): per chunk of [`CHUNK`] elements the lane sums of Σab, Σa², Σb², and the order-free totals.
/// [`comparison_of_parts`] merges the chunks in [`compare`]'s task order, so the figures are the CPU's bit for bit.
#[derive(Clone, Debug)]
pub struct ComparisonParts {
    /// Elements compared.
    pub n: usize,
    /// Whether a and b have the same dtype (byte equality is counted).
    pub same_dtype: bool,
    /// Σab, Σa², Σb² of each chunk, in chunk order.
    pub chunk_sums: Vec<[LaneSums; 3]>,
    pub nan_a: usize,
    pub nan_b: usize,
    pub value_eq: usize,
    pub bytes_eq: usize,
    /// max |b| over the non-NaN elements of b (0 when there are none).
    pub max_ref: f64,
    /// The first NaN difference: (index, NaN); else the largest difference and the first index where it is.
    pub max_diff: Option<(usize, f64)>,
    pub ulp: Option<UlpHistogram>,
}

/// The [`Comparison`] of parts computed elsewhere: the chunk sums merged as [`compare`] merges them (per task
/// of [`TASK_CHUNKS`] chunks, then the tasks in order), then the same figures. `shape` is a's shape, and
/// `values_at(i)` gives a and b at flat index i (asked once, for the largest difference).
pub fn comparison_of_parts(
    parts: ComparisonParts,
    shape: &[usize],
    values_at: impl FnOnce(usize) -> (f64, f64),
) -> Comparison {
    let tasks = parts.chunk_sums.chunks(TASK_CHUNKS).map(|task| {
        let mut p = Partial::default();
        for sums in task {
            p.add_chunk_sums(sums);
        }
        p
    });
    let mut p = tasks.fold(Partial::default(), Partial::merge);
    p.nan_a = parts.nan_a;
    p.nan_b = parts.nan_b;
    p.value_eq = parts.value_eq;
    p.bytes_eq = parts.bytes_eq;
    p.max_ref = parts.max_ref;
    if let Some((i, d)) = parts.max_diff {
        p.max_at = Some(i);
        p.max_abs = d;
        p.max_is_nan = d.is_nan();
    }
    p.ulp = parts.ulp;
    finish(p, parts.n, parts.same_dtype, shape, values_at)
}

/// Compares two f32 arrays of the same shape (internal outputs such as emulated GEMM results).
pub fn compare_values(a: &[f32], b: &[f32], shape: &[usize]) -> Result<Comparison> {
    let ta = Tensor::from_f32("a", shape.to_vec(), a)?;
    let tb = Tensor::from_f32("b", shape.to_vec(), b)?;
    compare(&ta, &tb)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn naive(a: &[f32], b: &[f32]) -> (f64, f64, f64, usize) {
        let (mut ab, mut aa, mut bb, mut mx, mut at, mut mb) = (0.0, 0.0, 0.0, -1.0, 0, 0.0f64);
        for i in 0..a.len() {
            let (x, y) = (a[i] as f64, b[i] as f64);
            ab += x * y;
            aa += x * x;
            bb += y * y;
            if (x - y).abs() > mx {
                mx = (x - y).abs();
                at = i;
            }
            mb = mb.max(y.abs());
        }
        (ab / (aa.sqrt() * bb.sqrt()), mx, mx / mb.max(1e-12), at)
    }

    #[test]
    fn matches_a_naive_f64_computation_across_chunk_edges() {
        let mut r = rand::rngs::StdRng::seed_from_u64(11);
        for n in [1, 3, 4, 5, CHUNK - 1, CHUNK, CHUNK + 3, 5 * CHUNK + 7] {
            let a: Vec<f32> = (0..n).map(|_| r.random_range(-3.0f32..3.0)).collect();
            let b: Vec<f32> = a
                .iter()
                .map(|v| v + r.random_range(-1e-3f32..1e-3))
                .collect();
            let c = compare_values(&a, &b, &[n]).unwrap();
            let (cos, mx, rel, at) = naive(&a, &b);
            assert!((c.cos - cos).abs() < 1e-13, "n={n} {} {cos}", c.cos);
            assert_eq!(c.max_abs, mx, "n={n}");
            assert_eq!(c.rel, rel, "n={n}");
            assert_eq!(c.max_abs_flat, Some(at), "n={n}");
            assert_eq!(c.value_equal, 0.0f64.max(c.value_equal));
        }
    }

    #[test]
    fn identical_tensors_have_cos_exactly_one() {
        let mut r = rand::rngs::StdRng::seed_from_u64(5);
        let a: Vec<f32> = (0..10_007).map(|_| r.random_range(-3.0f32..3.0)).collect();
        let c = compare_values(&a, &a, &[a.len()]).unwrap();
        assert_eq!(c.cos, 1.0);
        assert_eq!(c.calc_diff, 0.0);
        assert!(c.bitwise_equal());
    }

    #[test]
    fn nan_zero_signs_and_first_max() {
        let a = [1.0f32, -0.0, 2.0, f32::NAN, 5.0, 5.0];
        let b = [1.0f32, 0.0, 3.0, f32::NAN, 4.0, 6.0];
        let c = compare_values(&a, &b, &[2, 3]).unwrap();
        assert!(c.max_abs.is_nan());
        assert_eq!(c.max_abs_at, Some(vec![1, 0]));
        assert!(c.cos.is_nan());
        assert_eq!(c.byte_equal, Some(2.0 / 6.0)); // 1.0 and the identical NaNs; -0 != +0 bytewise
        assert_eq!(c.value_equal, 3.0 / 6.0); // 1.0, ±0, NaN=NaN
        assert_eq!((c.nan_a, c.nan_b), (1, 1));
        let a = [0.0f32, 2.0, 1.0, 2.0];
        let b = [0.0f32, 1.0, 0.0, 1.0];
        let c = compare_values(&a, &b, &[4]).unwrap();
        assert_eq!(c.max_abs_flat, Some(1)); // first of the ties
        assert_eq!(c.rel, 1.0);
        let h = c.ulp.unwrap();
        assert_eq!(h.max, 0x3F80_0000); // 1.0 vs 0.0: every f32 in between
        assert_eq!(h.quantile(0.5), Some(1 << 23)); // 2.0 vs 1.0: one binade of f32 apart
    }

    #[test]
    fn mixed_dtypes_measure_ulp_in_the_candidates_format() {
        let a = Tensor::new(
            "a",
            DType::BF16,
            vec![2],
            [1.0f32, 2.0]
                .iter()
                .flat_map(|&v| crate::formats::convert::f32_to_bf16_bits(v).to_le_bytes())
                .collect(),
        )
        .unwrap();
        let b = Tensor::from_f32("b", vec![2], &[1.0 + 2.0 / 128.0, 2.0]).unwrap();
        let c = compare(&a, &b).unwrap();
        assert_eq!(c.byte_equal, None);
        assert_eq!(c.ulp.unwrap().max, 2);
        assert!(compare(&a, &Tensor::from_f32("c", vec![3], &[0.0; 3]).unwrap()).is_err());
    }

    /// The sums are reduced in chunk order whatever the thread count, so every figure is the same bits with 1
    /// thread and with many (docs/contract.md §6.1: same input, same bytes).
    #[test]
    fn figures_do_not_depend_on_the_thread_count() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let n = 3 * CHUNK * 97 + 5;
        let a: Vec<f32> = (0..n)
            .map(|i| rng.random_range(-1.0f32..1.0) * 2f32.powi((i % 41) as i32 - 20))
            .collect();
        let b: Vec<f32> = a
            .iter()
            .map(|&x| x * (1.0 + rng.random_range(-1e-3f32..1e-3)))
            .collect();
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| compare_values(&a, &b, &[n]).unwrap())
        };
        let one = run(1);
        for threads in [2, 3, 8, 16] {
            let m = run(threads);
            assert_eq!(
                (m.cos.to_bits(), m.calc_diff.to_bits(), m.rel.to_bits()),
                (
                    one.cos.to_bits(),
                    one.calc_diff.to_bits(),
                    one.rel.to_bits()
                ),
                "{threads} threads"
            );
        }
    }
}
