//! `isolate bench quant|gemm`: GPU kernels timed with CUDA events (warm-up, median of many repetitions,
//! rotating inputs larger than L2), quoted against ceilings measured on the card in the same run.

pub mod gemm;
pub mod quant;
pub mod traffic;

use crate::report::table::Table;

/// One timed row.
#[derive(Clone, Debug)]
pub struct BenchRow {
    pub name: String,
    pub median_ms: f64,
    pub min_ms: f64,
    /// GB/s (quant) or TFLOP/s (GEMM).
    pub rate: f64,
    /// The rate as a fraction of the row's baseline.
    pub of_baseline: f64,
    /// What the baseline is (`D2D copy`, `cuBLASLt`, `FP32 FMA`, ...).
    pub baseline: String,
    /// Correctness note: "bit-exact", "rel 3e-6 vs blockwise", ...
    pub check: String,
}

/// Renders rows with the unit of `rate`.
pub fn table(rows: &[BenchRow], unit: &str) -> String {
    let mut t = Table::new([
        "kernel",
        "median ms",
        "min ms",
        unit,
        "% of",
        "baseline",
        "check",
    ])
    .left_align(0)
    .left_align(5)
    .left_align(6);
    for r in rows {
        t.row([
            r.name.clone(),
            format!("{:.4}", r.median_ms),
            format!("{:.4}", r.min_ms),
            format!("{:.1}", r.rate),
            format!("{:.1}", 100.0 * r.of_baseline),
            r.baseline.clone(),
            r.check.clone(),
        ]);
    }
    t.render()
}

/// ‖got − want‖₂ / ‖want‖₂ in f64 (NaN when either has a NaN).
pub fn rel_l2(got: &[f32], want: &[f32]) -> f64 {
    let (mut num, mut den) = (0f64, 0f64);
    for (&g, &w) in got.iter().zip(want) {
        let d = g as f64 - w as f64;
        num += d * d;
        den += w as f64 * w as f64;
    }
    (num / den.max(1e-300)).sqrt()
}
