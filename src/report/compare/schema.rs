//! Report of `compare schema`: names only in A / only in B, and the common parameters' table.

use crate::experiment::compare::schema::{SchemaReport, SideId, Status};
use crate::report::doc::{Block, Doc, DocTable, Tone};
use crate::report::fmt::{fcos, fpct, fsci, fshape};

/// The schema document.
pub fn schema_doc(s: &SchemaReport) -> Doc {
    let mut doc = Doc::new("isolate compare schema");
    let files = |v: &[std::path::PathBuf]| {
        v.iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    doc.push(Block::Line(format!("A: {}", files(&s.a_files))));
    doc.push(Block::Line(format!("B: {}", files(&s.b_files))));
    doc.push(Block::Line(format!(
        "prefixes stripped: {:?}{}{}",
        s.options.strip_prefixes,
        s.options
            .tp_dim
            .map(|d| format!("; tp shards concatenated along dim {d}"))
            .unwrap_or_default(),
        match s.options.unshuffle {
            Some(SideId::A) => "; A's 1-byte weights unshuffled (aiter16x16)",
            Some(SideId::B) => "; B's 1-byte weights unshuffled (aiter16x16)",
            None => "",
        }
    )));
    let bad = s.rows.iter().filter(|r| !r.status.ok()).count();
    let ok = s.exit_code() == 0;
    doc.push(Block::Verdict(
        if ok { Tone::Ok } else { Tone::Bad },
        format!(
            "only in A: {}, only in B: {}, common: {} ({} equal or ✓, {bad} not)",
            s.only_a.len(),
            s.only_b.len(),
            s.rows.len(),
            s.rows.len() - bad
        ),
    ));
    if !s.only_a.is_empty() {
        doc.push(Block::Heading(format!("Only in A ({})", s.only_a.len())));
        doc.push(Block::List(s.only_a.clone()));
    }
    if !s.only_b.is_empty() {
        doc.push(Block::Heading(format!("Only in B ({})", s.only_b.len())));
        doc.push(Block::List(s.only_b.clone()));
    }
    doc.push(Block::Heading(format!("Common ({})", s.rows.len())));
    let mut t = DocTable::new([
        "", "name", "A", "B", "bytes=", "values=", "cos", "rel", "max_abs", "notes",
    ])
    .left(&[0, 1, 2, 3, 9]);
    for r in &s.rows {
        let c = r.cmp.as_ref();
        let reason = match &r.status {
            Status::NotComparable(why) => vec![why.clone()],
            Status::ShapeMismatch => vec!["shape differs".to_string()],
            _ => vec![],
        };
        let mut notes = reason;
        if r.a_dtype != r.b_dtype {
            notes.push("dtype differs: compared as values".into());
        }
        notes.extend(r.notes.iter().cloned());
        t.row(
            Tone::of_flag(r.status.label()),
            vec![
                r.status.label().to_string(),
                r.name.clone(),
                format!("{} {}", r.a_dtype, fshape(&r.a_shape)),
                format!("{} {}", r.b_dtype, fshape(&r.b_shape)),
                c.and_then(|c| c.byte_equal).map(fpct).unwrap_or_default(),
                c.map(|c| fpct(c.value_equal)).unwrap_or_default(),
                c.map(|c| fcos(c.cos)).unwrap_or_default(),
                c.map(|c| fsci(c.rel)).unwrap_or_default(),
                c.map(|c| fsci(c.max_abs)).unwrap_or_default(),
                notes.join("; "),
            ],
        );
    }
    doc.push(Block::Table(t));
    for n in &s.notes {
        doc.push(Block::Line(format!("note: {n}")));
    }
    doc
}
