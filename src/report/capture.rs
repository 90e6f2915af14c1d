//! The reports of `isolate capture ls|check|import`.

use serde_json::{json, Value};

use crate::experiment::capture::{CheckReport, ImportReport, Listing};
use crate::io::capture::Scale;
use crate::report::doc::{Block, Doc, DocTable, Tone};
use crate::report::fmt::fshape;
use crate::report::Render;

/// `granularity encoding stored_layout (source source_layout) pow2=all_pow2 [group G] [suggests P]`.
pub fn scale_words(s: &Scale) -> String {
    let o = |x: &Option<String>| x.clone().unwrap_or_else(|| "?".into());
    let mut w = format!(
        "{} {} stored {} (source {}) pow2={}",
        o(&s.granularity),
        o(&s.encoding),
        o(&s.stored_layout),
        o(&s.source_layout),
        s.all_pow2
            .map(|b| b.to_string())
            .unwrap_or_else(|| "n/a".into())
    );
    if let Some(r) = &s.pow2_rule {
        w += &format!(" rule={r}");
    }
    if let Some(p) = &s.suggested_preset {
        w += &format!(" suggests {p}");
    }
    w
}

impl Render for Listing {
    fn document(&self, _figures: bool) -> Doc {
        let m = &self.capture.manifest;
        let mut doc = Doc::new(format!("isolate capture ls {}", self.capture.dir.display()));
        let missing = self.files.iter().filter(|(_, ok)| !ok).count();
        doc.push(Block::Line(format!(
            "{} site(s), {} call(s), {} hidden-state file(s){}",
            m.sites.len(),
            m.sites.values().map(|s| s.calls.len()).sum::<usize>(),
            m.stages.len(),
            if missing > 0 {
                format!("; {missing} file(s) MISSING")
            } else {
                String::new()
            }
        )));
        let exists = |f: &str| self.files.iter().any(|(x, ok)| x == f && *ok);
        for (name, s) in &m.sites {
            doc.push(Block::Heading(format!(
                "{name}  [{}]  op={}  layer={}",
                s.kind,
                s.op.as_deref().unwrap_or("-"),
                s.layer.map(|l| l.to_string()).unwrap_or_else(|| "-".into())
            )));
            for c in &s.calls {
                doc.push(Block::Line(format!(
                    "call {} rank {}{}{}{}: {}{}",
                    c.call,
                    c.rank.global,
                    c.phase
                        .as_deref()
                        .map(|p| format!(" {p}"))
                        .unwrap_or_default(),
                    c.m.map(|m| format!(" m={m}")).unwrap_or_default(),
                    c.token_ids
                        .as_ref()
                        .map(|t| format!(" tokens {} ({})", t.sha256_16, t.count))
                        .unwrap_or_default(),
                    c.file,
                    if exists(&c.file) { "" } else { "  MISSING" }
                )));
                let mut t =
                    DocTable::new(["role", "dtype", "shape", "meaning"]).left(&[0, 1, 2, 3]);
                for (role, r) in &c.roles {
                    let meaning = match (&r.scale, &r.fp8) {
                        (Some(s), _) => scale_words(s),
                        (None, Some(f)) => format!(
                            "fp8 {f}{}",
                            r.fp8_max.map(|m| format!(" max {m}")).unwrap_or_default()
                        ),
                        _ => r
                            .linked_from
                            .as_deref()
                            .map(|l| format!("linked from {l}"))
                            .unwrap_or_default(),
                    };
                    let meaning = match &r.layout {
                        Some(l) => format!("{meaning} layout {l}"),
                        None => meaning,
                    };
                    t.row(
                        Tone::Neutral,
                        vec![role.clone(), r.dtype.clone(), fshape(&r.shape), meaning],
                    );
                }
                doc.push(Block::Table(t));
            }
        }
        if !m.stages.is_empty() {
            doc.push(Block::Heading("hidden states".into()));
            for st in &m.stages {
                doc.push(Block::Line(format!(
                    "call {} {} rank {}: {} stages -> {}{}",
                    st.call,
                    st.side.as_deref().unwrap_or("?"),
                    st.rank.global,
                    st.stages.len(),
                    st.file,
                    if exists(&st.file) { "" } else { "  MISSING" }
                )));
            }
        }
        doc
    }

    /// The manifest as read, plus `files`: {file: exists}.
    fn json(&self) -> Value {
        let mut v = self.capture.raw.clone();
        v["files"] = self
            .files
            .iter()
            .map(|(f, ok)| (f.clone(), Value::Bool(*ok)))
            .collect::<serde_json::Map<_, _>>()
            .into();
        v
    }
}

impl Render for CheckReport {
    fn document(&self, _figures: bool) -> Doc {
        let mut doc = Doc::new(format!("isolate capture check {}", self.dir));
        if !self.problems.is_empty() {
            let mut t = DocTable::new(["where", "problem"]).left(&[0, 1]);
            for p in &self.problems {
                let tone = if p.warning { Tone::Drift } else { Tone::Bad };
                let what = if p.warning {
                    format!("warning: {}", p.what)
                } else {
                    p.what.clone()
                };
                t.row(tone, vec![p.at.clone(), what]);
            }
            doc.push(Block::Table(t));
        }
        let incomplete = self.problems.iter().filter(|p| !p.warning).count();
        let line = format!(
            "{} sites, {} calls, {} files checked: {}",
            self.sites,
            self.calls,
            self.files,
            if incomplete == 0 {
                "complete".to_string()
            } else {
                format!("incomplete: {incomplete} problem(s)")
            }
        );
        doc.push(Block::Verdict(
            if incomplete == 0 { Tone::Ok } else { Tone::Bad },
            line,
        ));
        doc
    }

    fn json(&self) -> Value {
        json!({
            "dir": self.dir, "sites": self.sites, "calls": self.calls, "files": self.files,
            "complete": self.complete(),
            "problems": self.problems.iter().map(|p| json!({"at": p.at, "what": p.what, "warning": p.warning})).collect::<Vec<_>>(),
        })
    }
}

impl Render for ImportReport {
    fn document(&self, _figures: bool) -> Doc {
        let mut doc = Doc::new(format!(
            "isolate capture import sglang {} {}",
            self.src, self.dir
        ));
        doc.push(Block::Line(format!(
            "read {} dumper file(s); wrote {} site(s) and {} hidden-state file(s) into {}",
            self.files_read,
            self.sites.len(),
            self.stage_files,
            self.dir
        )));
        let mut t = DocTable::new(["site", "kind", "calls"]).left(&[0, 1]);
        for (s, k, n) in &self.sites {
            t.row(Tone::Neutral, vec![s.clone(), k.clone(), n.to_string()]);
        }
        doc.push(Block::Table(t));
        if !self.skipped.is_empty() {
            doc.push(Block::Heading("not imported".into()));
            doc.push(Block::List(self.skipped.clone()));
        }
        doc.push(Block::Line(format!(
            "next: isolate capture check {0}; isolate capture ls {0}",
            self.dir
        )));
        doc
    }

    fn json(&self) -> Value {
        json!({
            "src": self.src, "dir": self.dir, "files_read": self.files_read, "stage_files": self.stage_files,
            "sites": self.sites.iter().map(|(s, k, n)| json!({"site": s, "kind": k, "calls": n})).collect::<Vec<_>>(),
            "skipped": self.skipped,
        })
    }
}
