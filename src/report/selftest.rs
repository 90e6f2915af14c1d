//! The report of `isolate selftest`: one row per check (elements compared, mismatches, the first one).

use serde_json::{json, Value};

use crate::experiment::selftest::SelftestReport;
use crate::report::doc::{Block, Doc, DocTable, Tone};
use crate::report::Render;

impl Render for SelftestReport {
    fn document(&self, _figures: bool) -> Doc {
        let mut doc = Doc::new("isolate selftest");
        doc.push(Block::Line(format!("backend: {}", self.backend)));
        let mut t = DocTable::new(["check", "n", "mismatches", "", "first mismatch"]).left(&[0, 4]);
        for c in &self.checks {
            t.row(
                if c.passed() { Tone::Ok } else { Tone::VeryBad },
                vec![
                    c.name.clone(),
                    c.n.to_string(),
                    c.mismatches.to_string(),
                    if c.passed() { "✓" } else { "✗" }.to_string(),
                    c.first.clone().unwrap_or_default(),
                ],
            );
        }
        doc.push(Block::Table(t));
        doc.push(Block::Verdict(
            if self.failed() == 0 {
                Tone::Ok
            } else {
                Tone::VeryBad
            },
            format!("{} checks, {} failed", self.checks.len(), self.failed()),
        ));
        doc
    }

    fn json(&self) -> Value {
        json!({
            "backend": self.backend,
            "checks": self.checks.iter().map(|c| json!({
                "name": c.name, "n": c.n, "mismatches": c.mismatches, "passed": c.passed(), "first": c.first,
            })).collect::<Vec<_>>(),
            "failed": self.failed(),
        })
    }
}
