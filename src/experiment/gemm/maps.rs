//! Where two GEMM outputs differ, for the HTML report's plots: the distribution of per-element ulp distances
//! (in the output's own format, docs/numerics.md §9.5) and a map of output tiles with the fraction of elements that
//! differ in each, so that a structured error (one column block, every 32nd element) shows at a glance.

use crate::formats::DType;
use crate::io::Tensor;
use crate::metrics::decode::decode_f64;
use crate::metrics::ulp::ordered;

/// Upper bounds (inclusive) of the ulp-distance buckets; a last bucket holds everything larger.
const BUCKET_TOP: [u64; 8] = [0, 1, 2, 4, 8, 16, 64, 256];

/// Counts of per-element ulp distances between a path and the reference path.
#[derive(Clone, Debug, PartialEq)]
pub struct UlpSpread {
    /// The path compared (A, C1, C2).
    pub path: &'static str,
    /// The format the distances are counted in: the outputs' own, or f32 when their dtypes differ (every bf16
    /// value is an f32 value, so the count is still exact).
    pub unit: DType,
    /// (bucket label, count), from "0" to "> 256".
    pub buckets: Vec<(String, u64)>,
    /// Elements where either side is NaN.
    pub nan: u64,
}

/// The fraction of differing elements per output tile.
#[derive(Clone, Debug, PartialEq)]
pub struct DiffMap {
    /// Output shape [M, N].
    pub rows: usize,
    pub cols: usize,
    /// Tile shape (rows, cols) of one cell.
    pub tile: (usize, usize),
    /// Cells per column and per row of the map.
    pub grid: (usize, usize),
    /// Row-major fraction of elements that differ in each cell, in [0, 1].
    pub frac: Vec<f64>,
}

fn labels() -> Vec<String> {
    let mut v: Vec<String> = Vec::new();
    let mut lo = 0u64;
    for &hi in &BUCKET_TOP {
        v.push(if lo == hi {
            hi.to_string()
        } else {
            format!("{lo}–{hi}")
        });
        lo = hi + 1;
    }
    v.push(format!("> {}", BUCKET_TOP[BUCKET_TOP.len() - 1]));
    v
}

/// The elements of `t` in `unit`: its own bytes, or its values as f32 bytes.
fn in_unit(t: &Tensor, unit: DType) -> std::borrow::Cow<'_, [u8]> {
    if t.dtype == unit {
        return std::borrow::Cow::Borrowed(t.bytes());
    }
    let mut v = vec![0f64; t.numel()];
    decode_f64(t.dtype, t.bytes(), 0, &mut v);
    std::borrow::Cow::Owned(v.iter().flat_map(|&x| (x as f32).to_le_bytes()).collect())
}

/// The format two outputs are compared in: their dtype, or f32 when they differ.
fn unit_of(a: &Tensor, b: &Tensor) -> DType {
    if a.dtype == b.dtype {
        a.dtype
    } else {
        DType::F32
    }
}

/// The ulp-distance spread of `a` against `b` (same element count).
pub fn ulp_spread(path: &'static str, a: &Tensor, b: &Tensor) -> UlpSpread {
    let mut counts = vec![0u64; BUCKET_TOP.len() + 1];
    let mut nan = 0;
    let unit = unit_of(a, b);
    let (ab, bb) = (in_unit(a, unit), in_unit(b, unit));
    for i in 0..a.numel().min(b.numel()) {
        match (ordered(unit, &ab, i), ordered(unit, &bb, i)) {
            (Some(x), Some(y)) => {
                let d = x.abs_diff(y);
                let k = BUCKET_TOP
                    .iter()
                    .position(|&t| d <= t)
                    .unwrap_or(BUCKET_TOP.len());
                counts[k] += 1;
            }
            _ => nan += 1,
        }
    }
    UlpSpread {
        path,
        unit,
        buckets: labels().into_iter().zip(counts).collect(),
        nan,
    }
}

/// Cells of at most this many per side.
const MAX_CELLS: usize = 64;

/// The map of where `a` and `b` ([M, N]) differ (bytes of the same dtype, else values), in tiles of a
/// power-of-two size chosen so the map has at most 64×64 cells.
pub fn diff_map(a: &Tensor, b: &Tensor, rows: usize, cols: usize) -> DiffMap {
    let side = |n: usize| n.div_ceil(MAX_CELLS).max(1).next_power_of_two();
    let tile = (side(rows), side(cols));
    let grid = (rows.div_ceil(tile.0), cols.div_ceil(tile.1));
    let mut diff = vec![0u64; grid.0 * grid.1];
    let mut total = vec![0u64; grid.0 * grid.1];
    let unit = unit_of(a, b);
    let (ab, bb) = (in_unit(a, unit), in_unit(b, unit));
    let w = unit.size();
    for r in 0..rows {
        for c in 0..cols {
            let i = r * cols + c;
            let cell = (r / tile.0) * grid.1 + c / tile.1;
            total[cell] += 1;
            if ab[i * w..(i + 1) * w] != bb[i * w..(i + 1) * w] {
                diff[cell] += 1;
            }
        }
    }
    DiffMap {
        rows,
        cols,
        tile,
        grid,
        frac: diff
            .iter()
            .zip(&total)
            .map(|(&d, &t)| if t == 0 { 0.0 } else { d as f64 / t as f64 })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_column_block_shows_in_its_cells_only() {
        let (m, n) = (8, 256);
        let b: Vec<f32> = (0..m * n).map(|i| i as f32).collect();
        let mut a = b.clone();
        for r in 0..m {
            for c in 128..132 {
                a[r * n + c] += 1.0;
            }
        }
        let (ta, tb) = (
            Tensor::from_f32("A", vec![m, n], &a).unwrap(),
            Tensor::from_f32("B", vec![m, n], &b).unwrap(),
        );
        let map = diff_map(&ta, &tb, m, n);
        assert_eq!((map.tile, map.grid), ((1, 4), (8, 64)));
        for r in 0..8 {
            for c in 0..64 {
                let want = if c == 32 { 1.0 } else { 0.0 };
                assert_eq!(map.frac[r * 64 + c], want, "cell ({r}, {c})");
            }
        }
        let s = ulp_spread("A", &ta, &tb);
        assert_eq!(s.buckets[0], ("0".to_string(), (m * n - 32) as u64));
        assert_eq!(s.nan, 0);
        assert_eq!(s.buckets.iter().map(|b| b.1).sum::<u64>(), (m * n) as u64);
        assert_eq!(s.buckets.last().unwrap().0, "> 256");
        // A bf16 path against an f32 reference: counted in f32 units, values compared.
        let tb16 = Tensor::new(
            "A",
            DType::BF16,
            vec![m, n],
            b.iter()
                .flat_map(|&x| half::bf16::from_f32(x).to_bits().to_le_bytes())
                .collect(),
        )
        .unwrap();
        let s = ulp_spread("A", &tb16, &tb);
        assert_eq!(s.unit, DType::F32);
        // Values that bf16 holds exactly are at distance 0; the others round away by thousands of f32 ulps.
        let exact = b
            .iter()
            .filter(|&&x| half::bf16::from_f32(x).to_f32() == x)
            .count() as u64;
        assert!(exact < (m * n) as u64);
        assert_eq!(s.buckets[0].1, exact);
        assert_eq!(s.buckets.last().unwrap().1, (m * n) as u64 - exact);
        let map = diff_map(&tb16, &tb, m, n);
        assert!(map.frac[0] == 0.0 && map.frac.iter().any(|&f| f > 0.0));
    }
}
