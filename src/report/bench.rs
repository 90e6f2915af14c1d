//! The reports of `isolate bench quant|gemm`: the device, the ceilings measured in the same run, and one row per
//! kernel (median and min time, rate, the rate as a fraction of its baseline, the output check).

use serde_json::{json, Value};

use crate::experiment::bench::gemm::GemmBenchReport;
use crate::experiment::bench::quant::QuantBenchReport;
use crate::experiment::bench::{BenchRow, Measured};
use crate::report::doc::{Block, Doc, DocTable, Tone};
use crate::report::json::num;
use crate::report::Render;

fn table(rows: &[BenchRow], unit: &str) -> DocTable {
    let mut t = DocTable::new([
        "kernel",
        "median ms",
        "min ms",
        unit,
        "% of",
        "baseline",
        "check",
    ])
    .left(&[0, 5, 6]);
    for r in rows {
        t.row(
            Tone::Neutral,
            vec![
                r.name.clone(),
                format!("{:.4}", r.median_ms),
                format!("{:.4}", r.min_ms),
                format!("{:.1}", r.rate),
                format!("{:.1}", 100.0 * r.of_baseline),
                r.baseline.clone(),
                r.check.clone(),
            ],
        );
    }
    t
}

fn rows_json(rows: &[BenchRow]) -> Value {
    rows.iter()
        .map(|r| {
            json!({
                "kernel": r.name, "median_ms": num(r.median_ms), "min_ms": num(r.min_ms), "rate": num(r.rate),
                "of_baseline": num(r.of_baseline), "baseline": r.baseline, "check": r.check,
            })
        })
        .collect()
}

impl Render for Measured<QuantBenchReport> {
    fn document(&self, _figures: bool) -> Doc {
        let r = &self.report;
        let mut doc = Doc::new("isolate bench quant");
        doc.push(Block::Line(format!("device: {}", self.device)));
        doc.push(Block::Line(format!(
            "{}; measured D2D copy {:.0} GB/s (read + write; {:.0} GB/s synchronized per rep); bytes = input + \
             codes + scales; every row's repetitions queued, events around each",
            self.shape, r.copy_gbs, r.copy_synced_gbs
        )));
        doc.push(Block::Table(table(&r.rows, "GB/s")));
        doc
    }
    fn json(&self) -> Value {
        let r = &self.report;
        json!({
            "device": self.device, "shape": self.shape, "copy_gbs": num(r.copy_gbs),
            "copy_synced_gbs": num(r.copy_synced_gbs), "all_equal": r.all_equal, "rows": rows_json(&r.rows),
        })
    }
}

impl Render for Measured<GemmBenchReport> {
    fn document(&self, _figures: bool) -> Doc {
        let r = &self.report;
        let mut doc = Doc::new("isolate bench gemm");
        doc.push(Block::Line(format!("device: {}", self.device)));
        doc.push(Block::Line(format!(
            "{}; measured peaks: FP32 FMA {:.1} TFLOP/s, FP64 MMA {:.1} TFLOP/s; cuBLASLt FP8 {:.1} TFLOP/s",
            self.shape, r.fp32_tflops, r.fp64_mma_tflops, r.cublaslt_tflops
        )));
        doc.push(Block::Table(table(&r.rows, "TFLOP/s")));
        doc
    }
    fn json(&self) -> Value {
        let r = &self.report;
        json!({
            "device": self.device, "shape": self.shape, "fp32_tflops": num(r.fp32_tflops),
            "fp64_mma_tflops": num(r.fp64_mma_tflops), "cublaslt_tflops": num(r.cublaslt_tflops),
            "user_equal": r.user_equal, "rows": rows_json(&r.rows),
        })
    }
}
