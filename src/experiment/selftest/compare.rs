//! The device comparison (kernels/compare.cu) against [`crate::metrics::compare`]: every figure bit for bit
//! (cos, rel, max_abs and where, calc_diff, the ulp histogram, equality fractions, NaN counts), for every pair
//! of sides `isolate gemm` compares (f32 and bf16 GEMM outputs, uploaded f32 and bf16 dumps), over lengths
//! around the chunk, lane and task boundaries, with and without NaN / ±inf / ±0.

use crate::backend::compare_abi::{differences, twin_case, Side};
use crate::error::Result;
use crate::experiment::selftest::Check;
use crate::metrics::Comparison;

/// The side pairs: a path output (f32, or f32 read as bf16) against another output or an uploaded dump.
const SIDES: [(Side, Side); 6] = [
    (Side::F32, Side::F32),
    (Side::F32, Side::Bf16),
    (Side::F32AsBf16, Side::Bf16),
    (Side::F32AsBf16, Side::F32AsBf16),
    (Side::F32AsBf16, Side::F32),
    (Side::Bf16, Side::F32),
];

/// A device comparison: `(a, b, sides, n, shape)` as stored bytes to the [`Comparison`].
pub type DeviceCompare<'a> =
    &'a dyn Fn(&[u8], &[u8], (Side, Side), usize, &[usize]) -> Result<Comparison>;

/// Runs the cases through `device(a, b, sides, n, shape)`.
pub fn checks(seed: u64, device: DeviceCompare) -> Result<Vec<Check>> {
    let lens = [1usize, 4097, 131_072 + 4096 * 3 + 5, 1_000_003];
    let mut out = Vec::new();
    for (k, &sides) in SIDES.iter().enumerate() {
        for (j, &n) in lens.iter().enumerate() {
            for specials in [false, true] {
                let case = seed ^ ((k * 16 + j * 2 + specials as usize) as u64);
                let (a, b, ta, tb) = twin_case(n, sides, case, specials);
                // A matrix shape, so the position of the largest difference is a coordinate.
                let shape = if n % 4097 == 0 {
                    vec![n / 4097, 4097]
                } else {
                    vec![1, n]
                };
                let got = device(&a, &b, sides, n, &shape)?;
                let ta = ta.reshaped(shape.clone())?;
                let want = crate::metrics::compare(&ta, &tb)?;
                let d = differences(&got, &want);
                out.push(Check {
                    name: format!(
                        "compare {:?} vs {:?}, n = {n}{}",
                        sides.0,
                        sides.1,
                        if specials { ", NaN/inf/±0" } else { "" }
                    ),
                    n,
                    mismatches: d.len(),
                    first: d.first().cloned(),
                });
            }
        }
    }
    Ok(out)
}
