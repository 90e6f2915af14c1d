//! The report of `isolate kernels`: one row per embedded artifact (module, target, kind, size, how it was
//! built), then the compilers.

use serde_json::{json, Value};

use crate::experiment::kernels::KernelsReport;
use crate::report::doc::{Block, Doc, DocTable, Tone};
use crate::report::Render;

impl Render for KernelsReport {
    fn document(&self, _figures: bool) -> Doc {
        let mut doc = Doc::new("isolate kernels");
        let mut t =
            DocTable::new(["module", "target", "kind", "bytes", "built with"]).left(&[0, 1, 2, 4]);
        for a in &self.artifacts {
            t.row(
                if a.built { Tone::Neutral } else { Tone::Drift },
                vec![
                    a.module.clone(),
                    a.target.clone(),
                    a.kind.clone(),
                    if a.built {
                        a.bytes.to_string()
                    } else {
                        "-".into()
                    },
                    a.how.clone(),
                ],
            );
        }
        doc.push(Block::Table(t));
        doc.push(Block::Fields(vec![
            ("nvcc".into(), self.nvcc.clone()),
            ("HIP compiler".into(), self.hip_compiler.clone()),
            (
                "simt-cpu C++ compiler".into(),
                match &self.simt_compiler {
                    Ok(p) => p.clone(),
                    Err(why) => why.clone(),
                },
            ),
            (
                "AMD hardware".into(),
                "no code object has run on AMD hardware yet".into(),
            ),
        ]));
        doc
    }

    /// `{artifacts: [{module, target, kind, bytes, built, how}], nvcc, hip_compiler, simt_compiler}`
    /// (`simt_compiler` null when there is none, with `simt_compiler_missing` saying why).
    fn json(&self) -> Value {
        json!({
            "artifacts": self.artifacts.iter().map(|a| json!({
                "module": a.module,
                "target": a.target,
                "kind": a.kind,
                "bytes": a.bytes,
                "built": a.built,
                "how": a.how,
            })).collect::<Vec<_>>(),
            "nvcc": self.nvcc,
            "hip_compiler": self.hip_compiler,
            "simt_compiler": self.simt_compiler.as_ref().ok(),
            "simt_compiler_missing": self.simt_compiler.as_ref().err(),
        })
    }
}
